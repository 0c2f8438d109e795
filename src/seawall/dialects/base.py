"""What a client dialect is: the gateway's face toward one family of SDKs.

The pipeline works in the canonical (OpenAI chat) form; a dialect translates at the two edges:
its request in (`parse`), and out the reply (`reply`), the stream (`stream`, a per-request
translator of canonical SSE bytes into the dialect's events) and errors (`error_body`: status and
body in the shape the dialect's SDK raises on, still with the request ID and the hint). OpenAI's
dialect is the identity, and the hot path never calls it for a reply or a stream.
"""

from __future__ import annotations

from typing import Protocol

from seawall.decide.keys import KeyProblem, bearer_token
from seawall.errors import SeawallError
from seawall.providers.base import CanonicalRequest


class StreamTranslator(Protocol):
    def feed(self, canonical_sse: bytes) -> bytes:
        """Canonical (OpenAI) SSE bytes, whole events only, -> the dialect's bytes to send."""

    def error_event(self, err: SeawallError, request_id: str) -> bytes:
        """The terminal event of a stream that failed after its first byte."""


class ClientDialect(Protocol):
    name: str
    keepalive: bytes  # sent while a stream's first event is slow: a form the dialect's SDK ignores
    key_how: str  # how a key is sent, for the "no key" message

    def credential(self, headers: dict[str, str]) -> tuple[str | None, KeyProblem | None]: ...

    def parse(self, operation: str, body: bytes, headers: dict[str, str], path_model: str | None) -> CanonicalRequest:
        ...

    def reply(self, canonical: bytes, request_id: str) -> bytes: ...

    def stream(self, request_id: str, model: str) -> StreamTranslator | None: ...

    def error_body(self, err: SeawallError, request_id: str) -> tuple[int, bytes]: ...


def key_from(headers: dict[str, str], header: str) -> tuple[str | None, KeyProblem | None]:
    """The key from a dialect's own header (x-api-key, x-goog-api-key), else a Bearer token
    (which the SDKs also send, e.g. anthropic's auth_token)."""
    key = headers.get(header)
    if key is not None and key.strip():
        return key, None
    if "authorization" in headers:
        return bearer_token(headers["authorization"])
    return None, KeyProblem("missing_api_key")
