"""What a client dialect is: the gateway's face toward one family of SDKs.

`parse` reads the client's request in its own shape, checking only what the gateway itself reads
(the model, whether it streams, what it counts); the body is kept as it came, so a deployment of
the same vendor gets it untouched (providers/base.py NativeProvider). Only for a deployment of
another vendor does `translate` turn it into the canonical (OpenAI chat) form, once, and then the
dialect renders the canonical reply (`reply`) and stream (`stream`, a per-request translator of
canonical SSE bytes into the dialect's events) back. Errors (`error_body`, and `error_event` for a
stream that fails after its first byte) are in the shape the dialect's SDK raises on, with the
request ID and the hint, whichever way the request went. OpenAI's dialect is the canonical form
itself: its `translate`, `reply` and `stream` are the identity.
"""

from __future__ import annotations

from typing import Protocol

import orjson

from seawall.decide.keys import KeyProblem, bearer_token
from seawall.errors import SeawallError
from seawall.providers.base import ApiRequest
from seawall.providers.sse import SSESplitter, data_of, error_of


class StreamTranslator(Protocol):
    def feed(self, canonical_sse: bytes) -> bytes:
        """Canonical (OpenAI) SSE bytes, whole events only, -> the dialect's bytes to send."""


class CanonicalTranslator:
    """The front half every translator of the canonical stream shares: split the SSE bytes into
    events, skip comments and keep-alives (a translator sends its own), and hand each event to
    `_done` ([DONE]), `_failed` (an in-stream error) or `_chunk`; their bytes go out joined. A
    subclass renders its dialect's events. One per request, not thread-safe."""

    __slots__ = ("_split",)

    def __init__(self) -> None:
        self._split = SSESplitter()

    def feed(self, canonical_sse: bytes) -> bytes:
        out: list[bytes] = []
        for block in self._split.feed(canonical_sse):
            data = data_of(block).strip()
            if not data or self._over():
                continue
            if data == b"[DONE]":
                out.append(self._done())
                continue
            chunk = orjson.loads(data)  # canonical events: the upstream adapter has checked them
            err = error_of(chunk)
            out.append(self._chunk(chunk) if err is None else self._failed(err))
        return b"".join(out)

    def _over(self) -> bool:
        """The dialect's stream has ended: later events are dropped."""
        return False

    def _done(self) -> bytes:
        raise NotImplementedError

    def _failed(self, err: dict) -> bytes:
        raise NotImplementedError

    def _chunk(self, chunk: dict) -> bytes:
        raise NotImplementedError


class ClientDialect(Protocol):
    name: str
    keepalive: bytes  # sent while a stream's first event is slow: a form the dialect's SDK ignores
    key_how: str  # how a key is sent, for the "no key" message

    def credential(self, headers: dict[str, str]) -> tuple[str | None, KeyProblem | None]: ...

    def parse(self, operation: str, body: bytes, headers: dict[str, str], path_model: str | None) -> ApiRequest:
        """The request in the dialect's own shape (`shape` == the dialect), or a 400 naming the
        field the gateway reads that is missing or of the wrong type."""

    def translate(self, req: ApiRequest, lossy: bool = False) -> ApiRequest:
        """The canonical form of a request parsed by `parse`, or a 400 naming the first field
        the canonical form can't carry. `lossy`: hints that change cost, not the answer (prompt
        caching), are dropped instead (models[].translation: lossy)."""

    def reply(self, req: ApiRequest, canonical: bytes, request_id: str) -> bytes: ...

    def stream(self, request_id: str, model: str) -> StreamTranslator | None: ...

    def error_body(self, err: SeawallError, request_id: str) -> tuple[int, bytes]: ...

    def error_event(self, err: SeawallError, request_id: str) -> bytes:
        """The terminal event of a stream that failed after its first byte."""


def key_from(headers: dict[str, str], header: str) -> tuple[str | None, KeyProblem | None]:
    """The key from a dialect's own header (x-api-key, x-goog-api-key), else a Bearer token
    (which the SDKs also send, e.g. anthropic's auth_token)."""
    key = headers.get(header)
    if key is not None and key.strip():
        return key, None
    if "authorization" in headers:
        return bearer_token(headers["authorization"])
    return None, KeyProblem("missing_api_key")
