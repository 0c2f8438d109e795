"""The front of a simulated provider other than OpenAI (Gemini, Azure): the request as the
provider's own Exchange, and app.py's steps 1-5 (the fault, latency, edge faults, the provider's
key check, an injected error in the provider's dialect)."""

from __future__ import annotations

import time
from collections.abc import Callable

from seawall.simulator.dialects.base import ErrorContext, ErrorReply, UnknownVariant
from seawall.simulator.exchange import Exchange, take_fault


def adopt(exchange: Exchange, scope: dict, cls: type[Exchange]) -> Exchange:
    """The same request as a provider's own Exchange subclass (its response headers)."""
    mine = cls(exchange.state, scope, exchange.receive, exchange.send)
    mine.request_id = exchange.request_id
    return mine


def context(exchange, model: str, key: str) -> ErrorContext:
    fault, settings = exchange.fault, exchange.state.settings
    retry_after = fault.retry_after if fault.retry_after is not None else (
        fault.retry_after_ms / 1000 if fault.retry_after_ms is not None else None)
    return ErrorContext(request_id=exchange.request_id, organization=settings.organization, project=settings.project,
                        model=model, method=exchange.method, path=exchange.path, key=key, retry_after=retry_after,
                        now=time.time())


async def admit(exchange, model: str, key_problem: Callable[[], ErrorReply | None],
                render: Callable[[int | None, str | None, ErrorContext], ErrorReply],
                invalid_fault: Callable[[str], ErrorReply], key: str, replies: frozenset[str] = frozenset()) -> bool:
    """app.py's steps 1-5 for a provider other than OpenAI: the fault, latency, edge faults, the
    provider's own key check, an injected error in the provider's dialect (``error=`` variants in
    ``replies`` shape the reply instead). False: answered."""
    if not await take_fault(exchange, model, invalid_fault):
        return False
    fault = exchange.fault
    problem = key_problem()
    if problem is not None:
        await exchange.reply_error(problem)
        return False
    if fault.status is not None or (fault.error is not None and fault.error not in replies):
        try:
            reply = render(fault.status, fault.error, context(exchange, model, key))
        except UnknownVariant as exc:
            reply = invalid_fault(str(exc))
        await exchange.reply_error(reply)
        return False
    return True
