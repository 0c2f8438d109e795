"""Admit: may this request start now? Rate limits, concurrency and quota reservations.

Seam. `admission` is the shape the limiter and quota stages will fill: reserve at entry, settle
with real usage at exit, release on failure. Until they land, every request is admitted and no
x-ratelimit-* headers are invented.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from seawall.pipeline.context import RequestContext


@asynccontextmanager
async def admission(ctx: RequestContext) -> AsyncIterator[dict[str, str]]:
    """Yield the rate-limit headers to send; raise a SeawallError (rate_limit.*, quota.*) to refuse."""
    yield {}
