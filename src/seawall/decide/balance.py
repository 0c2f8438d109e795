"""Balancing: the order in which one model's deployments are tried for one request. Pure: their
weights, health, loads and the random draw are all arguments.

    choose(balance, standings, rand) -> [index, …]   (every deployment, each once)

- `ordered`: the config's order, as it is written (the default; no state is read).
- `weighted`: the first is drawn among the healthy ones with probability weight / total; the
  rest follow in the config's order, which is the operator's order of preference.
- `least_in_flight`: the healthy ones by load (requests in flight or queued at the gateway),
  ties broken by the larger weight, then by the config's order.

Deployments that are not healthy (an open circuit, a half-open one whose probe is out) come
last, in the config's order: the attempt loop skips them as before, and when every circuit is
open it still waits for the first to reopen or answers 503 circuit_open. A weight of 0 makes a
standby, never drawn first while another is healthy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Balance = Literal["ordered", "weighted", "least_in_flight"]


@dataclass(frozen=True, slots=True)
class Standing:
    """One deployment as the balancer sees it, at this instant."""

    weight: float = 1.0
    healthy: bool = True  # its circuit breaker lets a request through now
    load: int = 0  # requests in flight to it, or queued for one of its slots, at this gateway


def choose(balance: Balance, standings: Sequence[Standing], rand: float) -> list[int]:
    """Indexes into `standings`, in the order to try them; `rand` is a uniform draw in [0, 1)."""
    order = list(range(len(standings)))
    if balance == "ordered":
        return order
    healthy = [i for i in order if standings[i].healthy]
    resting = [i for i in order if not standings[i].healthy]
    if balance == "least_in_flight":
        healthy.sort(key=lambda i: (standings[i].load, -standings[i].weight, i))
        return healthy + resting
    first = draw([standings[i].weight for i in healthy], rand)
    if first is None:  # none healthy, or every healthy one a standby: the config's order
        return healthy + resting
    return [healthy[first], *healthy[:first], *healthy[first + 1:], *resting]


def draw(weights: Sequence[float], rand: float) -> int | None:
    """The index whose share of the total weight `rand` falls in; None when the total is 0. A
    weight-0 entry has an empty share: never drawn."""
    total = sum(weights)
    if total <= 0:
        return None
    point = rand * total
    last = 0
    for i, weight in enumerate(weights):
        if point < weight:
            return i
        point -= weight
        if weight > 0:
            last = i
    return last  # rand * total rounded up to the total itself
