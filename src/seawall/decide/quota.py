"""Quota arithmetic: may a request hold its estimate against a key's balance, and what does it
cost once its real usage is known. Pure: numbers in, numbers out (the ledger in
limits/quota.py keeps the state).

A quota is a total, not a rate: `limit` tokens (or USD) for the key's life, of which `used` is
spent and `held` is reserved by requests in flight. A request may start only if its estimate
fits in what is neither spent nor held, so concurrent requests can't together overspend; once
it ends, its hold is replaced by what it really cost. Real usage can exceed the estimate (a reply
longer than the default completion estimate when the client set no max_tokens): the charge is
then capped at the limit, so a balance never goes negative, and the excess is reported.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Why a hold was refused: which quota, its limit, what is spent, held and wanted."""

    unit: str  # "tokens" | "usd"
    limit: float
    used: float
    held: float
    wanted: float

    @property
    def spent(self) -> bool:
        """Nothing left at all (as opposed to: not enough left for this request)."""
        return self.used >= self.limit


def shortfall(unit: str, limit: float | None, used: float, held: float, wanted: float) -> Shortfall | None:
    """None when `wanted` fits in the balance (or there is no limit)."""
    if limit is None or used + held + wanted <= limit:
        return None
    return Shortfall(unit, limit, used, held, wanted)


def charge(limit: float | None, used: float, cost: float) -> tuple[float, float]:
    """(what to charge, the excess not charged): the charge never takes `used` past `limit`."""
    cost = max(cost, 0)
    if limit is None:
        return cost, 0
    room = max(limit - used, 0)
    return (cost, 0) if cost <= room else (room, cost - room)


def share_of(limit: float | None, used: float, held: float, gateways: int) -> float | None:
    """The limit one of `gateways` gateways spends against on its own while the balance they
    share can't be reached (Redis down, limits.on_redis_error: open): what it last saw spent,
    plus its part of what was neither spent nor held. Together they spend at most what was left
    as each last saw it, so N gateways overspend by at most what the others spent since the one
    that heard from Redis longest ago last did."""
    return None if limit is None else used + max(limit - used - held, 0) / max(gateways, 1)
