"""Deployment gates shared by every gateway on one Redis (limits.redis_url): a deployment's
`max_concurrency`, `rpm` and `tpm` hold in total, not per process. They are counted by the
limiter's own admission script (limits/redis.py) under a scope of the deployment's
(`deployment:<label>`): a slot is a lease the live gateway renews, freed within limits.lease_s
after a crash; the rates are GCRA buckets on Redis's clock. Redis down: the limiter's policy
(limits.on_redis_error): open counts this gateway's share (each limit over N gateways,
limits/share.py), closed refuses (503 limits_unavailable, and the attempt loop falls back).

Per process, stated: the FIFO wait queue (a request waits in its own gateway's line; only the
line's head asks Redis, so a gateway has at most one ask in flight per deployment), and the
budgets learned from the upstream's x-ratelimit-* headers. Those are the provider's own count,
which includes every gateway's requests already; a gateway that has not yet seen a "0 left" sends
at most the requests it has in flight into the provider's 429, then learns it too.

Waking: a slot freed in this gateway wakes its line's head once Redis has it back; a slot freed
in another gateway (or by a crashed one's lease expiring) is found by asking again every POLL_S
while the deployment is full.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

from seawall.decide.gate import GatePolicy, Go, Refuse, after_refusal, concurrency_wait_ns, decide, hold_average
from seawall.decide.gcra import NS
from seawall.limits.base import Admitted, LimiterUnavailable, Refused, scope_limits
from seawall.limits.redis import RedisLimiter
from seawall.pipeline.admit import unavailable
from seawall.pipeline.gate import Gate, GateRefused, Ticket

# How often the head of a full deployment's line asks Redis again: one script call per 20 ms per
# waiting deployment per gateway, and a slot freed elsewhere is taken 10 ms later on average.
POLL_S = 0.02
_POLL_NS = int(POLL_S * NS)


class SharedGate(Gate):
    __slots__ = ("_giving_back", "limiter", "local", "scopes")

    def __init__(self, limiter: RedisLimiter, label: str, policy: GatePolicy, clock: Callable[[], int]):
        super().__init__(label, policy, clock)
        self.limiter = limiter
        # What this gateway decides alone: its line, its own in-flight cap (never above the
        # total) and learned budgets; the rates are Redis's.
        self.local = dataclasses.replace(policy, rpm=None, tpm=None)
        scope = scope_limits("deployment", label, policy.rpm.limit if policy.rpm else None,
                             policy.tpm.limit if policy.tpm else None, policy.max_concurrency)
        assert scope is not None  # a shared gate has a limit
        self.scopes = (scope,)
        self._giving_back: set[asyncio.Task] = set()

    async def enter(self, cost_of: Callable[[], int], may_wait_s: float) -> Ticket:
        now = self.clock()
        cost = cost_of() if self._counts_tokens(now) else 0
        may_wait_ns = int(max(may_wait_s, 0.0) * NS)
        if self.queue and len(self.queue) >= self.policy.max_queue:
            wait = concurrency_wait_ns(self.policy, self.in_flight, len(self.queue), self.hold_ns)
            raise self._refused(Refuse("queue_full", wait), may_wait_ns)
        deadline = now + may_wait_ns
        me = asyncio.Event()
        self.queue.append(me)  # even alone: while the head asks Redis, the next ones line up behind
        try:
            while True:
                now = self.clock()
                sleep_ns = deadline - now
                if self.queue[0] is me:
                    d = decide(self.local, self.in_flight, 0, self.rates, now, cost, max(sleep_ns, 0), self.hold_ns)
                    if isinstance(d, Refuse):
                        raise self._refused(d, may_wait_ns)
                    if isinstance(d, Go):
                        outcome = await self._ask(cost)
                        if isinstance(outcome, Admitted):
                            self.queue.popleft()
                            self._wake_head()
                            return self._admitted(cost, outcome.lease)
                        left = deadline - self.clock()
                        step = after_refusal(outcome.kind, outcome.retry_after_ns, left, _POLL_NS,
                                             self.policy.max_queue > 0)
                        if isinstance(step, Refuse):
                            raise self._refused(step, may_wait_ns)
                        sleep_ns = min(step.rate_ns, left)
                    else:
                        sleep_ns = min(d.rate_ns or sleep_ns, sleep_ns)
                await self._nap(me, sleep_ns, may_wait_ns)
        finally:
            self._quit(me)

    async def _ask(self, cost: int) -> Admitted | Refused:
        try:
            return await self.limiter.admit(self.scopes, cost)
        except LimiterUnavailable as e:
            raise GateRefused(unavailable(e), f"{self.label}'s shared limits can't be counted: Redis is not "
                                              "answering (limits.on_redis_error: closed)") from None

    def _admitted(self, cost: int, lease: str | None) -> Ticket:
        now = self.clock()  # learned budgets may have moved while Redis was asked: decide on them now
        d = decide(self.local, self.in_flight, 0, self.rates, now, cost, 0, self.hold_ns)
        if isinstance(d, Go):
            ticket = self._go(d, cost, now)
        else:  # Redis gave the slot; a budget learned meanwhile can't take it back
            self.in_flight += 1
            ticket = Ticket(self, cost, now)
        ticket.lease = lease
        return ticket

    def leave(self, started_ns: int, token_delta: int, lease: str | None = None) -> None:
        self.in_flight -= 1
        self.hold_ns = hold_average(self.hold_ns, self.clock() - started_ns)
        task = asyncio.create_task(self._give_back(lease, token_delta), name="gate-slot")
        self._giving_back.add(task)
        task.add_done_callback(self._giving_back.discard)

    async def _give_back(self, lease: str | None, token_delta: int) -> None:
        """The slot to Redis, then the line's head: asked before, it would find the slot taken."""
        try:
            await self.limiter.finish(self.scopes, lease, token_delta)
        finally:
            self._wake_head()


def shared_gates(limiter: RedisLimiter) -> Callable[[str, GatePolicy, Callable[[], int]], Gate]:
    """DeploymentGates.make for gateways sharing `limiter`'s Redis: a deployment with a limit of
    its own is counted there; one without stays free (only learned budgets can hold it)."""
    def make(label: str, policy: GatePolicy, clock: Callable[[], int]) -> Gate:
        return SharedGate(limiter, label, policy, clock) if policy.limited else Gate(label, policy, clock)
    return make
