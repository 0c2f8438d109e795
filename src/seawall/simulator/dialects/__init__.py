"""Error bodies per wire dialect, one table per module.

``render_fault(dialect, status, variant, ctx)`` turns a fault's ``status`` / ``error`` into the
exact body that provider (or gateway) sends. A new dialect is a module with a
``fault_error(status, variant, ctx) -> ErrorReply`` function and one line in ``_TABLES``.
"""

from __future__ import annotations

from collections.abc import Callable

from seawall.simulator.dialects import oneapi, openai
from seawall.simulator.dialects.base import ErrorContext, ErrorReply, UnknownVariant

_TABLES: dict[str, Callable[[int | None, str | None, ErrorContext], ErrorReply]] = {
    "openai": openai.fault_error,
    "oneapi": oneapi.oneapi_fault_error,
    "newapi": oneapi.newapi_fault_error,
}

DIALECTS = tuple(_TABLES)

__all__ = ["DIALECTS", "ErrorContext", "ErrorReply", "UnknownVariant", "render_fault"]


def render_fault(dialect: str, status: int | None, variant: str | None, ctx: ErrorContext) -> ErrorReply:
    """Raises ``UnknownVariant`` (a ``ValueError``) for a variant the dialect lacks."""
    return _TABLES[dialect](status, variant, ctx)
