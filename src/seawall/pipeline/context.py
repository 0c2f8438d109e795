"""What one request carries through the pipeline; the record stage turns it into a log row.

One per request, owned by the task serving it: not shared, not thread-safe.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from seawall.decide.access import Network, SeenAddress
from seawall.decide.key_policy import KeyPolicy
from seawall.dialects.base import ClientDialect, StreamTranslator
from seawall.limits.base import ScopeLimits
from seawall.providers.base import ApiRequest, AttemptRecord, Usage

if TYPE_CHECKING:  # only for the annotation: traces off, OpenTelemetry is never imported
    from seawall.observe.traces import RequestTrace


@dataclass(slots=True)
class Principal:
    """Who is calling: the key that authenticated, as the auth cache holds it."""

    key_id: str
    name: str
    tenant: str | None = None
    group: str | None = None
    expires_at: float | None = None  # checked per request: a key may expire between cache reloads
    # Built when the cache loads, so access is a set lookup and a few network tests per request:
    models: frozenset[str] | None = None  # configured models this key may use; None = all
    catalog: frozenset[str] = frozenset()  # every configured model (shared): tells forbidden from unknown
    networks: tuple[Network, ...] = ()  # the IP allowlist, parsed; () = any address
    limits: tuple[ScopeLimits, ...] = ()  # the key's own, then its group's; () = unlimited (the fast path)
    # Context policy and size limits set on the key or its group; None = the model's (the fast path)
    request_policy: KeyPolicy | None = None


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
    request: ApiRequest | None = None
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
    chunks: int = 0  # stream events relayed to the client (what a cut stream is charged for)
    translator: StreamTranslator | None = None  # canonical events -> a non-OpenAI client's dialect
    face: ClientDialect | None = None  # the client's dialect made for this request (Responses), over the shared one
    upstream_request_id: str | None = None
    peer: str | None = None  # the connection's address (client_ip may come from X-Forwarded-For)
    seen: SeenAddress | None = None  # how client_ip was found, when an X-Forwarded-For came
    finished: bool = False  # the response is complete: a disconnect now is no longer news
    client_gone: bool = False
    limited_by: str | None = None  # the scope (key, group, tenant) of the gateway's own limit that refused it
    query: bytes = b""  # the query string, read by the few routes that take one (model lists)
    model_asked: str | None = None  # the model named before the request was understood (path, or a refused body)
    # References for a captured request (observe/capture.py): set as the request passes, never
    # copied; the request-log writer reads them only for the requests request_log.capture selects.
    body: bytes | None = None  # the client's body, as read
    reply_headers: list[tuple[bytes, bytes]] | None = None  # the response's headers, as sent
    reply_body: bytes | None = None  # a JSON response's body (success or error envelope)
    last_sent: bytes | None = None  # a stream's last write to the client, and the one before it
    prev_sent: bytes | None = None
    upstream_last: bytes | None = None  # the upstream's last chunk before the stream ended
    stream_log: list[bytes] | None = None  # every write of a stream, only with capture: all
    error_detail: str = "full"  # server.upstream_error_detail: what of an upstream's error the client sees
    trace: RequestTrace | None = None  # its spans, when traces are on (observe/traces.py)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000


# Request IDs need to be unique and sortable, not secret. They start with the time in ms (like
# ULID / UUIDv7), so the request log's key index grows at its right edge instead of at random
# pages (measured: random IDs made each log insert ~7x dearer once the table outgrew the cache),
# then 48 random bits from a PRNG seeded once from the OS (a getrandom() syscall per ID cost
# 5.6 % of a request's CPU).
_ids = random.Random(os.urandom(32))


def new_request_id() -> str:
    return f"req_{int(time.time() * 1000):012x}{_ids.getrandbits(48):012x}"


def read_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    # ASGI servers lower-case header names already (uvicorn does); latin-1 is HTTP's byte mapping.
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in raw}
