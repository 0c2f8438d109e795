"""The provider protocol: a translation table between Seawall's canonical form and a dialect.

Canonical form is OpenAI's chat/embeddings shape (the lingua franca every client SDK and most
upstreams already speak), carried as plain dicts plus a few typed fields. An adapter does no I/O:
it builds the upstream HTTP request, reads a reply, decodes stream events and reads error bodies.
The shared transport (transport.py) does the HTTP. A new provider is one module plus its entry in
registry.py; what it can't do is declared in `supports`, so routing refuses early instead of
calling a stub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from seawall.config import ResolvedDeployment


@dataclass(slots=True)
class CanonicalRequest:
    operation: str  # "chat" | "embeddings"
    model: str  # the model name the client asked for (a configured route)
    body: dict  # OpenAI-shaped request body, as the client sent it
    stream: bool = False
    dialect: str = "openai"  # the client's dialect, for egress
    client_wants_usage: bool = False  # stream_options.include_usage as the client sent it


@dataclass(slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class Reply:
    """A complete (non-streamed) upstream answer, already in canonical form."""

    body: bytes  # canonical JSON to send to an OpenAI-dialect client
    usage: Usage | None
    model: str | None  # the model that served, as the upstream reported it


@dataclass(slots=True)
class StreamEvent:
    """One decoded upstream stream event.

    `raw` is the event exactly as received (relayed untouched to a client of the same dialect);
    `data` the parsed canonical chunk (None for a terminal sentinel such as `[DONE]`).
    """

    raw: bytes
    data: dict | None = None
    terminal: bool = False
    error: dict | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    usage_only: bool = False  # OpenAI's include_usage chunk: `choices: []` + usage
    model: str | None = None


@dataclass(slots=True)
class ErrorBody:
    """An upstream error reply, read: what to show the client and what classify() needs."""

    message: str
    type: str | None = None
    code: str | None = None
    param: str | None = None
    raw: bytes = b""


class StreamDecoder(Protocol):
    """Per request, not shared: holds the partial bytes between network reads."""

    def feed(self, data: bytes) -> list[StreamEvent]: ...


class Provider(Protocol):
    name: str
    supports: frozenset[str]  # operations: "chat", "embeddings"

    def build_request(self, req: CanonicalRequest, target: ResolvedDeployment,
                      ask_usage: bool = True) -> UpstreamRequest:
        """`ask_usage`: request the stream's usage even if the client didn't (off for upstreams
        known to refuse the extra field)."""

    def read_reply(self, req: CanonicalRequest, body: bytes) -> Reply: ...

    def stream_decoder(self) -> StreamDecoder: ...

    def read_error(self, status: int, body: bytes) -> ErrorBody: ...


class MalformedReply(Exception):
    """The upstream answered 2xx with a body that can't be read (truncated JSON, HTML, …)."""


@dataclass(slots=True)
class AttemptRecord:
    """What one upstream attempt did; the request log keeps them all."""

    deployment: str
    status: int | None = None  # None: no HTTP reply at all
    category: str | None = None
    latency_ms: float = 0.0
    upstream_request_id: str | None = None
    detail: str = ""
    # References kept for a captured request (observe/capture.py); never copied on the request's path.
    request: UpstreamRequest | None = None  # as sent, credentials included: redacted when captured
    reply_headers: object = None  # the upstream reply's headers (a case-insensitive mapping)
    reply_body: bytes | None = None  # an error reply's body, read to classify it
