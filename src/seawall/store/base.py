"""The store interface: keys and the request log. SQLite (sqlite.py) is the embedded default; a
PostgreSQL implementation for many instances shares this interface.

Nothing on the request hot path calls the store: keys are served from an in-memory cache
(pipeline/auth.py) and log rows go through a batched writer (observe/log.py). The Responses
conversations (migration 010) have their own record and writer in conversations.py; both SQL
stores implement its ConversationRows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Protocol, TypeVar


@dataclass(slots=True)
class KeyRecord:
    id: str
    name: str
    key_hash: str
    key_prefix: str
    last4: str
    created_at: float
    tenant: str | None = None
    group: str | None = None
    enabled: bool = True
    expires_at: float | None = None
    revoked_at: float | None = None
    metadata: dict = field(default_factory=dict)
    models: list[str] = field(default_factory=list)  # glob patterns; empty = whatever the group allows
    ip_allowlist: list[str] = field(default_factory=list)  # CIDRs; empty = any address
    quota_tokens: int | None = None  # a total for the key's life; None = its group's default, or none
    quota_usd: float | None = None
    updated_at: float | None = None
    rpm: int | None = None  # rate limits (None = none); the group's apply as well
    tpm: int | None = None
    max_concurrency: int | None = None
    used_tokens: int = 0  # spent against the quota (limits/quota.py writes it behind)
    used_usd: float = 0.0
    rps: int | None = None  # requests per second (migration 005)
    # Pre-flight overrides (migration 007; None = the group's, else the model's): decide/key_policy.py
    context_policy: str | None = None  # reject | fallback | trim | truncate_output
    max_messages: int | None = None
    max_images: int | None = None
    max_image_bytes: int | None = None
    max_body_bytes: int | None = None  # only lowers server.max_body_bytes


@dataclass(slots=True)
class GroupRecord:
    """Keys in a group may use only the group's models (a key's own list narrows it further)."""

    name: str
    created_at: float
    models: list[str] = field(default_factory=list)  # glob patterns; empty = every model
    quota_tokens: int | None = None  # default limits for the group's keys
    quota_usd: float | None = None
    metadata: dict = field(default_factory=dict)
    updated_at: float | None = None
    rpm: int | None = None  # limits for all the group's keys together, on top of each key's own
    tpm: int | None = None
    max_concurrency: int | None = None
    rps: int | None = None  # requests per second (migration 005)
    context_policy: str | None = None  # pre-flight defaults for the group's keys (migration 007)
    max_messages: int | None = None
    max_images: int | None = None
    max_image_bytes: int | None = None
    max_body_bytes: int | None = None


@dataclass(slots=True)
class TenantRecord:
    """A tenant's rate limits, for all the keys naming it together (migration 006). Keys name a
    tenant without it having a record; the record only holds limits set through the admin API."""

    name: str
    updated_at: float
    rps: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None


@dataclass(slots=True)
class RequestRecord:
    """One row of the request log: one per client request, whatever its outcome."""

    request_id: str
    ts: float
    method: str
    path: str
    status: int
    latency_ms: float
    dialect: str | None = None
    operation: str | None = None
    key_id: str | None = None
    tenant: str | None = None
    model_requested: str | None = None
    model_served: str | None = None
    deployment: str | None = None
    category: str | None = None
    error_code: str | None = None
    attempts: int = 0
    attempts_detail: list[dict] = field(default_factory=list)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttfb_ms: float | None = None
    streamed: bool = False
    stream_end: str | None = None
    client_ip: str | None = None
    upstream_request_id: str | None = None
    cost_usd: float | None = None  # tokens x the catalog's prices (migration 008); None: usage or price unknown


@dataclass(slots=True)
class CaptureRecord:
    """A request's captured bodies (migration 009): `data` is the JSON document observe/capture.py
    builds, already redacted. Kept capture_retention_days, then pruned."""

    request_id: str
    ts: float
    key_id: str | None
    data: str  # JSON text


@dataclass(frozen=True, slots=True)
class LogQuery:
    since: float | None = None  # epoch seconds
    status: str | None = None  # "429", "4xx", "5xx", "error" (any >= 400), "ok"
    request_id: str | None = None
    model: str | None = None
    limit: int = 100
    until: float | None = None  # epoch seconds, exclusive
    category: str | None = None  # a taxonomy category, or a family ("rate_limit" matches rate_limit.*)
    key_id: str | None = None
    tenant: str | None = None
    # Keyset pagination: only rows older than this (ts, request_id), the last row of the previous
    # page. Pages never OFFSET: page 1000 costs what page 1 does.
    before: tuple[float, str] | None = None


@dataclass(slots=True)
class StatsBucket:
    """One time bucket of the request log, for the console's charts (admin API /admin/stats)."""

    start: float
    requests: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # category -> count
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency: dict[int, int] = field(default_factory=dict)  # histogram: LATENCY_BOUNDS index -> count
    ttfb: dict[int, int] = field(default_factory=dict)  # the same for streams' time to first byte


# Histogram bounds in ms for latency percentiles computed from SQL counts (both stores group by
# them: a page never loads one row per request). Roughly x2 steps, like Prometheus' defaults.
LATENCY_BOUNDS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 120000, 300000)


def latency_bin_sql(column: str) -> str:
    """A CASE expression giving the LATENCY_BOUNDS_MS index a value falls in (len: above all)."""
    arms = " ".join(f"WHEN {column} <= {b} THEN {i}" for i, b in enumerate(LATENCY_BOUNDS_MS))
    return f"CASE {arms} ELSE {len(LATENCY_BOUNDS_MS)} END"


def stats_buckets(since: float, bucket_s: int, counts, latency, ttfb) -> list[StatsBucket]:
    """The stores' three grouped results as buckets, oldest first: `counts` rows are (bucket,
    category, requests, prompt tokens, completion tokens, cost), `latency` and `ttfb` rows
    (bucket, histogram bin, requests)."""
    out: dict[int, StatsBucket] = {}

    def at(index: int) -> StatsBucket:
        found = out.get(index)
        if found is None:
            found = out[index] = StatsBucket(start=since + index * bucket_s)
        return found

    for b, category, n, prompt, completion, cost in counts:
        s = at(b)
        s.requests += n
        s.prompt_tokens += prompt or 0
        s.completion_tokens += completion or 0
        s.cost_usd += cost or 0.0
        if category is not None:
            s.errors[category] = s.errors.get(category, 0) + n
    for b, bin_, n in latency:
        at(b).latency[bin_] = n
    for b, bin_, n in ttfb:
        at(b).ttfb[bin_] = n
    return [out[k] for k in sorted(out)]


def category_range(category: str) -> tuple[str, str | None]:
    """(value, None) for an exact category; (low, high) bounds for a family ("rate_limit": every
    "rate_limit.*"), as a range an index can serve ('/' sorts right after '.')."""
    return (category, None) if "." in category else (category + ".", category + "/")


def store_outage(exc: BaseException) -> bool:
    """Whether `exc` says the store can't be reached or used right now (an outage to report as
    such: 503, one log line per incident), rather than a bug."""
    import sqlite3

    import asyncpg

    return isinstance(exc, (OSError, TimeoutError, sqlite3.OperationalError, asyncpg.PostgresConnectionError,
                            asyncpg.CannotConnectNowError, asyncpg.InterfaceError, asyncpg.TooManyConnectionsError))


def store_name(store: object) -> tuple[str, str]:
    """(which store, where) for messages: ("PostgreSQL", its URL without the password) or ("SQLite", its file)."""
    url = getattr(store, "url", None)
    if url is not None:
        from seawall.store.postgres import redact_url

        return "PostgreSQL", redact_url(url)
    return "SQLite", str(getattr(store, "path", "the data directory"))


class Store(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def load_keys(self) -> list[KeyRecord]: ...

    async def insert_key(self, key: KeyRecord) -> None: ...

    async def revoke_keys_named(self, name: str, when: float) -> int: ...

    async def update_key(self, key: KeyRecord) -> None: ...

    async def load_groups(self) -> list[GroupRecord]: ...

    async def insert_group(self, group: GroupRecord) -> None: ...

    async def update_group(self, group: GroupRecord) -> None: ...

    async def load_tenants(self) -> list[TenantRecord]: ...

    async def put_tenant(self, tenant: TenantRecord) -> None:
        """Insert or replace the tenant's limits."""

    async def get_meta(self, name: str) -> str | None: ...

    async def set_meta(self, name: str, value: str) -> None: ...

    async def add_usage(self, rows: list[tuple[str, int, float]]) -> None:
        """Add (key id, tokens, usd) to each key's spent totals, in one transaction."""

    async def load_usage(self, key_ids: list[str]) -> dict[str, tuple[int, float]]: ...

    async def write_requests(self, rows: list[RequestRecord]) -> None: ...

    async def query_requests(self, query: LogQuery) -> list[RequestRecord]:
        """Newest first (ts, then request_id, descending), at most query.limit rows."""

    async def request_stats(self, since: float, until: float, bucket_s: int,
                            key_id: str | None = None) -> list[StatsBucket]:
        """The log between since and until in buckets of bucket_s seconds (only non-empty ones)."""

    async def write_captures(self, rows: list[CaptureRecord]) -> None: ...

    async def get_capture(self, request_id: str) -> CaptureRecord | None: ...

    async def prune_captures(self, before: float) -> int:
        """Delete captures older than `before` (epoch seconds); how many went."""


# Migration 007's columns, the same on api_keys and key_groups; the stores read and write them
# after their other columns, by name, so a column added elsewhere never shifts them.
R = TypeVar("R", KeyRecord, GroupRecord)
POLICY_COLUMNS = ("context_policy", "max_messages", "max_images", "max_image_bytes", "max_body_bytes")


def policy_values(record: KeyRecord | GroupRecord) -> tuple:
    return tuple(getattr(record, c) for c in POLICY_COLUMNS)


def with_policy(record: R, values: Sequence[object]) -> R:
    """The record read with its policy columns set from `values` (in POLICY_COLUMNS order)."""
    for column, value in zip(POLICY_COLUMNS, values):
        setattr(record, column, value)
    return record


def read_migrations(kind: str) -> list[tuple[int, str]]:
    """(version, sql) pairs shipped with the package for one database kind (sqlite, postgres),
    in order. Files are named NNN_what.sql, one folder per kind, the same versions in each."""
    folder = resources.files("seawall.store").joinpath("migrations", kind)
    return sorted((int(p.name.split("_", 1)[0]), p.read_text(encoding="utf-8"))
                  for p in folder.iterdir() if p.name.endswith(".sql"))

# Column orders shared by the SQL stores (sqlite.py, postgres.py): the schema is the same in both.
KEY_COLUMNS = ("id", "name", "key_hash", "key_prefix", "last4", "created_at", "tenant", "grp", "enabled",
               "expires_at", "revoked_at", "metadata", "models", "ip_allowlist", "quota_tokens", "quota_usd",
               "updated_at", "rpm", "tpm", "max_concurrency", "rps")
# Read with the key, never written by insert/update: only add_usage changes them.
USAGE_COLUMNS = ("used_tokens", "used_usd")
CONVERSATION_COLUMNS = ("response_id", "key_id", "model", "created_at", "expires_at", "input_start", "output_start",
                        "items", "response", "tenant", "grp")
GROUP_COLUMNS = ("name", "created_at", "models", "quota_tokens", "quota_usd", "metadata", "updated_at", "rpm", "tpm",
                 "max_concurrency", "rps")
