"""A gateway's share of a limit, counted in its own process while the shared Redis is down.

With limits.on_redis_error: open, an admission Redis can't decide used to pass uncounted; now it
is counted here against this gateway's share of each limit: the limit divided by the number of
gateways (limits.instances, or as learned from the gateways' presence in Redis while it answered,
limits/redis.py), rounded down and at least 1. N gateways then admit at most the limit between
them (plus 1 per gateway for limits below N), however the outage splits the traffic.
"""

from __future__ import annotations

from seawall.limits.base import Admitted, Refused, ScopeLimits, scope_limits
from seawall.limits.memory import MemoryLimiter

LOCAL = "local"  # the lease of an admission counted here: finish() gives it back here


def _part(value: int | None, n: int) -> int | None:
    return None if value is None else max(1, value // n)


def share(scope: ScopeLimits, n: int) -> ScopeLimits:
    """One gateway's share of `scope`'s limits when `n` gateways share them."""
    if n <= 1:
        return scope
    found = scope_limits(scope.scope, scope.id, _part(scope.rpm.limit if scope.rpm else None, n),
                         _part(scope.tpm.limit if scope.tpm else None, n), _part(scope.max_concurrency, n),
                         _part(scope.rps.limit if scope.rps else None, n))
    assert found is not None  # a scope with a limit keeps one
    return found


class LocalShare:
    """This process's count while Redis is down. One per RedisLimiter; one event loop."""

    def __init__(self, instances: int = 1):
        self.instances = instances
        self._limiter = MemoryLimiter()
        self._shares: dict[tuple[tuple[ScopeLimits, ...], int], tuple[ScopeLimits, ...]] = {}

    def _scopes(self, scopes: tuple[ScopeLimits, ...]) -> tuple[ScopeLimits, ...]:
        key = (scopes, self.instances)
        found = self._shares.get(key)
        if found is None:
            if len(self._shares) > 10_000:
                self._shares.clear()
            found = self._shares[key] = tuple(share(s, self.instances) for s in scopes)
        return found

    def admit(self, scopes: tuple[ScopeLimits, ...], tokens: int) -> Admitted | Refused:
        outcome = self._limiter.admit(self._scopes(scopes), tokens, self._limiter.clock())
        return Admitted(outcome.requests, outcome.tokens, LOCAL) if isinstance(outcome, Admitted) else outcome

    def finish(self, scopes: tuple[ScopeLimits, ...], token_delta: int) -> None:
        shared = self._scopes(scopes)
        self._limiter.release(shared)
        self._limiter.settle(shared, token_delta, self._limiter.clock())
