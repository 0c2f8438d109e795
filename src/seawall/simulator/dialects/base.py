"""What every dialect table takes and returns."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
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


def pick_error(dialect: str, status: int | None, variant: str | None, ctx: ErrorContext,
               variants: Mapping[str, Callable[[ErrorContext], ErrorReply]], default_variant: Mapping[int, str],
               otherwise: Callable[[int], ErrorReply], also_known: Iterable[str] = ()) -> ErrorReply:
    """A fault's error reply from a dialect's table: ``variant`` alone implies its status, with
    ``status`` too it is sent with that status (a variant answering 200, such as a failed task,
    keeps its 200); ``status`` alone picks its default variant, else ``otherwise(status)``.
    ``also_known``: variant names the dialect handles elsewhere, listed when one is unknown."""
    if variant is not None:
        if variant not in variants:
            known = ", ".join([*variants, *also_known])
            raise UnknownVariant(f"unknown error variant {variant!r} for dialect {dialect} (known: {known})")
        reply = variants[variant](ctx)
        return reply if status is None or reply.status == 200 else dataclasses.replace(reply, status=status)
    assert status is not None
    if status in default_variant:
        return variants[default_variant[status]](ctx)
    return otherwise(status)
