"""What every dialect table takes and returns."""

from __future__ import annotations

from dataclasses import dataclass

Headers = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """Facts an error message may quote. ``key`` is the API key as sent (for masking)."""

    request_id: str
    organization: str
    project: str
    model: str = ""
    method: str = "POST"
    path: str = "/v1/chat/completions"
    key: str = ""
    rpm: int = 10_000
    tpm: int = 10_000_000
    context_window: int = 128_000
    retry_after: float | None = None
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """A complete error response body; the app adds the provider headers."""

    status: int
    body: bytes
    content_type: bytes = b"application/json"
    headers: Headers = ()


class UnknownVariant(ValueError):
    """``error=<variant>`` names nothing in the chosen dialect's table."""
