"""OpenAI's endpoints beyond chat, embeddings and models: which handler serves a method and a
path. A handler is ``async (host, exchange, **path_params)``; ``find`` binds the path's
parameters and names the route for the stats (``/v1/responses/{id}``), so ids never grow the
counters."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from seawall.simulator import routes_responses as responses

Handler = Callable[..., Awaitable[None]]

_TABLE: tuple[tuple[str, str, Handler], ...] = (
    ("POST", "/v1/responses", responses.create),
    ("GET", "/v1/responses/{response_id}", responses.retrieve),
    ("DELETE", "/v1/responses/{response_id}", responses.delete),
    ("POST", "/v1/responses/{response_id}/cancel", responses.cancel),
    ("GET", "/v1/responses/{response_id}/input_items", responses.input_items),
)
_EXACT = {(method, pattern): handler for method, pattern, handler in _TABLE if "{" not in pattern}
_PATTERNS = [(method, pattern.split("/"), pattern, handler) for method, pattern, handler in _TABLE if "{" in pattern]


def find(method: str, path: str) -> tuple[Handler, str] | None:
    """The handler (its path parameters bound) and the route's name, or None."""
    handler = _EXACT.get((method, path))
    if handler is not None:
        return handler, path
    parts = path.split("/")
    for wanted, pattern_parts, pattern, candidate in _PATTERNS:
        if wanted != method or len(parts) != len(pattern_parts):
            continue
        params = {}
        for part, expected in zip(parts, pattern_parts):
            if expected.startswith("{"):
                if not part:
                    break
                params[expected[1:-1]] = part
            elif part != expected:
                break
        else:
            return functools.partial(candidate, **params), pattern
    return None
