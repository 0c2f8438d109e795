"""The provider protocol: how one vendor's API is called, read and translated.

A request reaches an adapter in one of two shapes. When the client speaks the deployment's own
dialect (an Anthropic SDK calling an Anthropic deployment), the client's body passes through: the
adapter's native path (`NativeProvider`) rewrites only the model and the credentials, and reads
usage, the model that served and how a stream ended from the vendor's own replies, which go back
to the client untouched. Across vendors the meeting point is the canonical form, OpenAI's
chat/embeddings shape (the lingua franca most SDKs and upstreams already speak), carried as plain
dicts: the adapter translates it to its vendor's request and the reply back to it.

An adapter does no I/O: it builds the upstream HTTP request, reads a reply, decodes stream events
and reads error bodies. The shared transport (transport.py) does the HTTP. A new provider is one
module plus its entry in registry.py; what it can't do is declared in `supports`, so routing
refuses early instead of calling a stub.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from seawall.config import ResolvedDeployment

NO_HEADERS: Mapping[str, str] = {}


class Upload(Protocol):
    """An upload's body as an adapter sends it (pipeline/multipart.py's Upload)."""

    content_type: str  # the client's, its boundary with it
    started: bool

    def body(self, replace: Mapping[str, str] | None = None) -> AsyncIterable[bytes]: ...

    def content_length(self, replace: Mapping[str, str] | None = None) -> int | None: ...


@dataclass(slots=True)
class ApiRequest:
    """One client request as the pipeline carries it. `body` follows the schema `shape` names:
    the client's own dialect while it passes through untouched (`native`), or "openai", the
    canonical form, once translated (always, for an OpenAI client, whose dialect it is)."""

    operation: str  # "chat" | "embeddings" | "count_tokens" | "embed" | "batch_embed" (a dialect's own)
    model: str  # the model name the client asked for (a configured route)
    body: dict  # the request body, in `shape`'s schema
    stream: bool = False
    dialect: str = "openai"  # the client's dialect, for egress
    client_wants_usage: bool = False  # stream_options.include_usage as the client sent it
    shape: str = "openai"  # whose schema `body` follows: "openai" (canonical) or the client's dialect
    # The client's bytes while `body` is exactly what they say: a pass-through sends them with
    # only the model replaced (providers/passthrough.py). None once the gateway changed the body.
    raw: bytes | None = None
    # The client's headers that carry meaning upstream (anthropic-beta, OpenAI-Beta, idempotency
    # keys), lower-case; never credentials or hop-by-hop ones (dialects pick them).
    headers: Mapping[str, str] = field(default_factory=lambda: NO_HEADERS)
    # A multipart upload relayed as it arrives (pipeline/multipart.py's Upload): `body` then holds
    # its text fields; the adapter streams the form itself upstream, once.
    upload: Upload | None = None

    @property
    def replayable(self) -> bool:
        """Can it be sent again (a retry, a fallback)? Not an upload whose body has begun to go."""
        return self.upload is None or not self.upload.started

    @property
    def native(self) -> bool:
        """The body is still in the client's own dialect (it passes through to its vendor)."""
        return self.shape == self.dialect


@dataclass(slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | AsyncIterable[bytes]  # an iterable: sent as it yields (an upload relayed as it arrives)
    length: int | None = None  # a streamed body's size, when known (else it is sent chunked)


@dataclass(slots=True)
class Usage:
    """Tokens as the provider billed them. `prompt_tokens` counts every input token, those read
    from or written to the provider's prompt cache included (OpenAI's sense); the cache counts say
    how many of them were, since providers price them apart (pipeline/quota.py `priced`)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0  # Anthropic cache_read_input_tokens, OpenAI cached_tokens, Gemini cachedContentTokenCount
    cache_write_tokens: int = 0  # Anthropic cache_creation_input_tokens (no other vendor bills writes)
    # What is billed per unit rather than per token: images made (of `image_kind`, "[quality ]size"),
    # seconds of audio transcribed, characters spoken.
    images: int = 0
    image_kind: str = ""
    audio_seconds: float = 0.0
    characters: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


# How OpenAI's APIs name a usage's fields: chat completions (the canonical form's), and the
# Responses API's, GPT Image's and the GPT-4o transcription models'.
CHAT_USAGE = ("prompt_tokens", "completion_tokens", "prompt_tokens_details")
IO_USAGE = ("input_tokens", "output_tokens", "input_tokens_details")


def read_usage(usage: object, names: tuple[str, str, str] = CHAT_USAGE) -> Usage | None:
    """The input count includes the cached tokens; its details' cached_tokens says how many."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get(names[0]), usage.get(names[1])
    details = usage.get(names[2])
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(prompt if isinstance(prompt, int) else 0, completion if isinstance(completion, int) else 0,
                 cache_read_tokens=cached if isinstance(cached, int) else 0)


@dataclass(slots=True)
class Reply:
    """A complete (non-streamed) upstream answer: canonical JSON, or the vendor's own for a
    pass-through (`shape` says which; egress translates only when it is not the client's)."""

    body: bytes
    usage: Usage | None
    model: str | None  # the model that served, as the upstream reported it
    shape: str = "openai"
    ref: str | None = None  # the id the upstream gave the answer, when later calls name it (a Responses response)


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
    family: str  # the client dialect it speaks natively: "openai", "anthropic", "gemini"
    supports: frozenset[str]  # operations reachable from the canonical form: "chat", "embeddings"

    def build_request(self, req: ApiRequest, target: ResolvedDeployment,
                      ask_usage: bool = True) -> UpstreamRequest:
        """`ask_usage`: request the stream's usage even if the client didn't (off for upstreams
        known to refuse the extra field)."""

    def read_reply(self, req: ApiRequest, body: bytes) -> Reply: ...

    def stream_decoder(self) -> StreamDecoder: ...

    def read_error(self, status: int, body: bytes) -> ErrorBody: ...


class NativeProvider(Protocol):
    """The pass-through path: a request in the provider's own dialect (`req.shape == family`)."""

    native_operations: frozenset[str]  # what its own dialect's clients can ask of it

    def build_native(self, req: ApiRequest, target: ResolvedDeployment, ask_usage: bool = True) -> UpstreamRequest:
        """The client's body with the deployment's model (and the client's meaningful headers),
        the deployment's credentials and headers. `ask_usage` as for build_request (vendors whose
        streams always carry their usage ignore it)."""

    def read_native_reply(self, req: ApiRequest, body: bytes) -> Reply:
        """Usage and model read from the vendor's reply, which goes back as it came."""

    def native_stream_decoder(self, req: ApiRequest) -> StreamDecoder:
        """Events relayed as they came (`raw`), with usage, errors and the end event read."""


class MalformedReply(Exception):
    """The upstream answered 2xx with a body that can't be read (truncated JSON, HTML, …)."""


def reply_json(body: bytes) -> object:
    """A 2xx reply's JSON, or MalformedReply saying what came instead."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise MalformedReply(f"not JSON ({e.msg} at byte {e.pos}): {body[:80]!r}") from None


@dataclass(slots=True)
class AttemptRecord:
    """What one upstream attempt did; the request log keeps them all."""

    deployment: str
    status: int | None = None  # None: no HTTP reply at all
    category: str | None = None
    latency_ms: float = 0.0
    upstream_request_id: str | None = None
    detail: str = ""
    proxy: str | None = None  # the proxy it went through, shown without password
    # References kept for a captured request (observe/capture.py); never copied on the request's path.
    request: UpstreamRequest | None = None  # as sent, credentials included: redacted when captured
    reply_headers: object = None  # the upstream reply's headers (a case-insensitive mapping)
    reply_body: bytes | None = None  # an error reply's body, read to classify it
