"""What an endpoint module needs from the app that routes to it (app.py's ``Simulator``): the
shared state, the front half of every request (fault, latency, key, injected status), the rate
limits, the stream pace, and JSON bodies read the one way."""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from seawall.simulator.config import ModelSpec
from seawall.simulator.exchange import Exchange
from seawall.simulator.state import SimState

UNPARSABLE = object()  # a body that is not JSON: each endpoint answers it in its own words


class Host(Protocol):
    state: SimState

    async def admit(self, exchange: Exchange, model_name: str | None) -> bool:
        """The fault, latency, edge faults, key and injected status. False: answered."""

    async def charge(self, exchange: Exchange, spec: ModelSpec, cost: int) -> bool:
        """The rate limits. False: answered with a 429."""

    def stream_interval(self, exchange: Exchange) -> float: ...


def parse_json(raw: bytes) -> tuple[Any, str | None]:
    """The body and its string ``model``; the body is ``UNPARSABLE`` when it is not JSON."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return UNPARSABLE, None
    model = body.get("model") if isinstance(body, dict) else None
    return body, model if isinstance(model, str) else None
