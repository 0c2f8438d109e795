"""Admit: may this request start now? Rate limits, concurrency and quota reservations.

Seam. `Admission` is the shape the limiter and quota stages will fill: reserve at entry
(`__aenter__`, which yields the x-ratelimit-* headers to send), settle with real usage or release
at exit. Until they land, every request is admitted and no rate-limit headers are invented.
"""

from __future__ import annotations

from seawall.pipeline.context import RequestContext

_NO_HEADERS: dict[str, str] = {}


class Admission:
    """One per request. A plain class: a generator-based context manager costs more per call."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: RequestContext):
        self.ctx = ctx

    async def __aenter__(self) -> dict[str, str]:
        """Raise a SeawallError (rate_limit.*, quota.*) to refuse."""
        return _NO_HEADERS

    async def __aexit__(self, *exc_info: object) -> None:
        return None
