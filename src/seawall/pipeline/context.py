"""What one request carries through the pipeline; the record stage turns it into a log row.

One per request, owned by the task serving it: not shared, not thread-safe.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from seawall.providers.base import AttemptRecord, CanonicalRequest, Usage


@dataclass(slots=True)
class Principal:
    """Who is calling: the key that authenticated, as the auth cache holds it."""

    key_id: str
    name: str
    tenant: str | None = None
    group: str | None = None


@dataclass(slots=True)
class RequestContext:
    request_id: str
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    client_ip: str | None
    received_at: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.perf_counter)
    dialect: str = "openai"
    principal: Principal | None = None
    request: CanonicalRequest | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    deployment: str | None = None
    model_served: str | None = None
    usage: Usage | None = None
    status: int = 0
    category: str | None = None
    error_code: str | None = None
    ttfb_ms: float | None = None
    streamed: bool = False
    stream_end: str | None = None
    upstream_request_id: str | None = None
    finished: bool = False  # the response is complete: a disconnect now is no longer news
    client_gone: bool = False

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000


def new_request_id() -> str:
    return "req_" + os.urandom(12).hex()


def read_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    # ASGI servers lower-case header names already (uvicorn does); latin-1 is HTTP's byte mapping.
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in raw}
