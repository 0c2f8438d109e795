"""Where the gateway keeps its keys, usage and request log (store), and how the log is written
(request_log)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from seawall.config.base import _Strict


class StoreSettings(_Strict):
    data_dir: str = "./seawall-data"  # SQLite file and the server secret live here
    # PostgreSQL shared by several gateways (postgresql://user:password@host:5432/db); None = SQLite
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _database_url(cls, v: str | None) -> str | None:
        problem = database_url_problem(v) if v is not None else None
        if problem:
            raise ValueError(problem)
        return v


def database_url_problem(url: str) -> str | None:
    """What is wrong with a PostgreSQL URL's shape, or None (reaching it is checked at start)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError as e:
        return f"not a valid URL ({e}); write it as postgresql://user:password@host:5432/database"
    if parts.scheme not in ("postgresql", "postgres"):
        return (f"must start with postgresql:// (got {parts.scheme + '://' if parts.scheme else 'no scheme'}); "
                "write it as postgresql://user:password@host:5432/database")
    return None


class RequestLogSettings(_Strict):
    flush_interval_s: float = Field(0.5, gt=0)
    # Rows per store write, and how many pending wake the writer. Small on purpose: a write takes
    # the event loop (building the rows) and, on SQLite, the GIL and a turn of the core for its
    # length, and a request that arrives meanwhile waits; 500 rows held it ~2.5 ms, 50 ~0.4 ms
    # (one request at a time, p99 2.0-2.6 ms -> 1.0-1.7 ms), with no difference in CPU per
    # request measurable at 128 connections (bench: docs/benchmark.md "Smaller log writes").
    batch_size: int = Field(50, gt=0)
    max_pending: int = Field(100_000, gt=0)  # rows held in memory while the store is unavailable
    # Captured bodies (observe/capture.py): none, the failed requests' (status >= 400 or a stream
    # that did not complete), or every request's. Redacted and cut at capture_max_body_bytes.
    capture: Literal["off", "failed", "all"] = "failed"
    capture_max_body_bytes: int = Field(64 * 1024, ge=256)
    capture_retention_days: float = Field(7.0, gt=0)
    # JSON paths whose values are replaced by "[redacted]" in captured bodies and stream events,
    # e.g. messages[*].content, metadata.email; credentials are redacted whatever this says.
    capture_redact_paths: list[str] = Field(default_factory=list)

    @field_validator("capture", mode="before")
    @classmethod
    def _capture(cls, v: object) -> object:
        # YAML 1.1 reads a bare `off` as false: that is what the operator wrote.
        if v is False:
            return "off"
        if v is True:
            raise ValueError("write off, failed or all (a bare on/true/yes says none of them)")
        return v

    @field_validator("capture_redact_paths")
    @classmethod
    def _paths(cls, v: list[str]) -> list[str]:
        from seawall.decide.redact import path_problem

        for path in v:
            problem = path_problem(path)
            if problem:
                raise ValueError(f"{path!r}: {problem}")
        return v
