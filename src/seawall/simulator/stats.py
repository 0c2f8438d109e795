"""Counters for ``GET /_sim/stats``: requests by route and by outcome, and requests in flight.

Routes are the served paths (``/v1/models/{model}`` for one model; ``(unknown)`` for any
path the simulator answers with OpenAI's ``Invalid URL`` 404).

Outcomes: ``ok`` (a complete 2xx reply or stream), the status as a string for error replies
(``"429"``), ``fault:<kind>`` for connection-level faults (``fault:reset``, ``fault:hang``,
``fault:cut``, ``fault:stall``, ``fault:stream_error``, ``fault:malformed``, ``fault:html``),
``disconnected`` when the client left first, ``error`` if the simulator itself failed.
``peak_in_flight``: the most requests in flight at once since the last reset.
"""

from __future__ import annotations

from collections import Counter
from typing import Any


class Stats:
    """One per app; single event loop, so plain counters suffice."""

    def __init__(self) -> None:
        self.by_path: Counter[str] = Counter()
        self.by_outcome: Counter[str] = Counter()
        self.in_flight = 0
        self.peak_in_flight = 0  # the most at once since the last clear: what a concurrency cap is judged by

    def begin(self, path: str) -> None:
        self.by_path[path] += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def end(self, outcome: str) -> None:
        self.by_outcome[outcome] += 1
        self.in_flight -= 1

    def clear(self) -> None:
        """Forget the history; requests still in flight stay counted."""
        self.by_path.clear()
        self.by_outcome.clear()
        self.peak_in_flight = self.in_flight

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": {
                "total": sum(self.by_path.values()),
                "by_path": dict(self.by_path),
                "by_outcome": dict(self.by_outcome),
            },
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
        }
