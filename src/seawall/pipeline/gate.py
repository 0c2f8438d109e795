"""The deployment gates: per deployment, the requests in flight, the FIFO wait queue, the rate
states and what the upstream's replies taught (decide/gate.py decides; this holds the state and
the clock). The attempt loop enters a deployment's gate before calling it and releases its
ticket when the attempt ends; a stream's ticket is released by egress when the stream ends.

One per process, shared by every request; one event loop, no locks: between a decision and its
commit there is no await.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections import deque
from collections.abc import Callable, Mapping

import orjson

from seawall.config import Deployment, ResolvedDeployment
from seawall.decide.gate import (
    DEFAULT_HOLD_NS,
    GatePolicy,
    Go,
    RateState,
    Refuse,
    decide,
    hold_average,
    learn,
)
from seawall.decide.gcra import NS, Rate, settle
from seawall.errors import SeawallError
from seawall.pipeline.admit import estimate_tokens
from seawall.pipeline.context import RequestContext
from seawall.providers.base import ApiRequest, Usage

_WHY = {
    "queue_full": "{deployment} already has {queued} requests waiting (max_queue {max_queue})",
    "timeout": "no slot of {deployment} (max_concurrency {max_concurrency}) freed within the {waited:g} s "
               "this request could wait",
    "rate": "{deployment} is at its rate limit for the next {wait:g} s, longer than this request may wait "
            "({may_wait:g} s)",
    "too_large": "this request's token estimate is more than {deployment} admits per minute (tpm {tpm})",
}


class GateRefused(Exception):
    """This deployment can't take the request in time; the attempt loop falls back or answers
    with `error`."""

    def __init__(self, error: SeawallError, detail: str):
        self.error, self.detail = error, detail


class Ticket:
    """One admitted attempt. `release` gives the slot back and settles the token estimate;
    exactly once, whatever calls it first (the attempt's end, a stream's end, a cancellation)."""

    __slots__ = ("_at", "_cost", "_gate", "gate", "lease")

    def __init__(self, gate: Gate, cost: int, at: int, lease: str | None = None):
        self.gate: Gate = gate
        self._gate: Gate | None = gate  # None once released
        self._cost, self._at = cost, at
        self.lease = lease  # its slot in Redis (pipeline/gate_shared.py)

    def learn(self, headers: Mapping[str, str]) -> None:
        self.gate.learn(headers)

    def release(self, usage: Usage | None = None, delivered: bool = False) -> None:
        """`usage`: what the upstream said the attempt cost; without it, the estimate stays
        charged if a reply was `delivered` (the provider counted it), else it is refunded."""
        gate = self._gate
        if gate is None:
            return
        self._gate = None
        used = usage.total_tokens if usage is not None else self._cost if delivered else 0
        gate.leave(self._at, used - self._cost, self.lease)

    def release_stream(self, ctx: RequestContext) -> None:
        self.release(ctx.usage, delivered=True)


class Gate:
    """One deployment's state: its requests in flight, its queue (one Event per waiter, the head
    first), its GCRA states and learned budgets, and the average time a slot is held."""

    __slots__ = ("clock", "hold_ns", "in_flight", "label", "policy", "queue", "rates")

    def __init__(self, label: str, policy: GatePolicy, clock: Callable[[], int]):
        self.label, self.policy, self.clock = label, policy, clock
        self.in_flight = 0
        self.queue: deque[asyncio.Event] = deque()
        self.rates = RateState()
        self.hold_ns = DEFAULT_HOLD_NS

    def learn(self, headers: Mapping[str, str]) -> None:
        """Keep what the reply says is left: the provider's count, the freshest there is (it may
        not yet count requests still on their way to it)."""
        if not self.policy.learn:
            return
        requests, tokens = learn(headers, self.clock(), time.time())
        if requests is not None:
            self.rates.requests = requests
        if tokens is not None:
            self.rates.tokens = tokens
        if (requests is not None or tokens is not None) and self.queue:
            self.queue[0].set()  # the head may go sooner (or must wait longer)

    def free(self) -> bool:
        """Nothing can hold a request here: no limit, no queue, no learned budget in force."""
        rates = self.rates
        return not self.policy.limited and not self.queue and rates.requests is None and rates.tokens is None

    async def enter(self, cost_of: Callable[[], int], may_wait_s: float) -> Ticket:
        now = self.clock()
        cost = cost_of() if self._counts_tokens(now) else 0
        may_wait_ns = int(max(may_wait_s, 0.0) * NS)
        d = decide(self.policy, self.in_flight, len(self.queue), self.rates, now, cost, may_wait_ns, self.hold_ns)
        if isinstance(d, Go):
            return self._go(d, cost, now)
        if isinstance(d, Refuse):
            raise self._refused(d, may_wait_ns)
        me = asyncio.Event()
        self.queue.append(me)
        deadline = now + may_wait_ns
        try:
            while True:
                now = self.clock()
                if self.queue[0] is me:
                    d = decide(self.policy, self.in_flight, 0, self.rates, now, cost, max(deadline - now, 0),
                               self.hold_ns)
                    if isinstance(d, Go):
                        self.queue.popleft()
                        self._wake_head()  # another slot may be free for the next one
                        return self._go(d, cost, now)
                    if isinstance(d, Refuse):
                        raise self._refused(d, may_wait_ns)
                    sleep_ns = min(d.rate_ns or deadline - now, deadline - now)
                else:
                    sleep_ns = deadline - now
                await self._nap(me, sleep_ns, may_wait_ns)
        finally:
            self._quit(me)

    async def _nap(self, me: asyncio.Event, sleep_ns: int, may_wait_ns: int) -> None:
        """Wait in line until woken or `sleep_ns` passed; refuse when no time is left."""
        if sleep_ns <= 0:
            raise self._refused(Refuse("timeout", self.hold_ns), may_wait_ns)
        me.clear()
        try:
            # a hair past a rate wait: asyncio's timers may fire up to the clock's resolution early
            async with asyncio.timeout(sleep_ns / NS + 0.001):
                await me.wait()
        except TimeoutError:
            pass

    def _quit(self, me: asyncio.Event) -> None:
        if me in self.queue:  # refused, timed out or cancelled (the client left) while queued
            was_head = self.queue[0] is me
            self.queue.remove(me)
            if was_head:
                self._wake_head()

    def _counts_tokens(self, now: int) -> bool:
        """Is a token limit in force? Also forgets expired budgets, so the deployment is free()
        again (OpenAI's token resets are milliseconds away: most budgets expire before use)."""
        rates = self.rates
        if rates.requests is not None and rates.requests.until_ns <= now:
            rates.requests = None
        if rates.tokens is not None and rates.tokens.until_ns <= now:
            rates.tokens = None
        return self.policy.tpm is not None or rates.tokens is not None

    def _go(self, d: Go, cost: int, now: int) -> Ticket:
        rates = self.rates
        rates.rpm_tat, rates.tpm_tat, rates.requests, rates.tokens = d
        self.in_flight += 1
        return Ticket(self, cost, now)

    def leave(self, started_ns: int, token_delta: int, lease: str | None = None) -> None:
        self.in_flight -= 1
        now = self.clock()
        self.hold_ns = hold_average(self.hold_ns, now - started_ns)
        if token_delta and self.policy.tpm is not None:
            self.rates.tpm_tat = settle(self.rates.tpm_tat, now, token_delta, self.policy.tpm)
        self._wake_head()

    def _wake_head(self) -> None:
        if self.queue:
            self.queue[0].set()

    def _refused(self, d: Refuse, may_wait_ns: int) -> GateRefused:
        p = self.policy
        wait_s = d.wait_ns / NS
        detail = _WHY[d.why].format(deployment=self.label, queued=len(self.queue), max_queue=p.max_queue,
                                    max_concurrency=p.max_concurrency, waited=may_wait_ns / NS, wait=round(wait_s, 2),
                                    may_wait=round(may_wait_ns / NS, 2), tpm=p.tpm.limit if p.tpm else None)
        return GateRefused(queue_full(detail, wait_s, retry=d.why != "too_large"), detail)

    def snapshot(self, now_ns: int) -> dict:
        rates = self.rates
        held = [b.until_ns - now_ns for b in (rates.requests, rates.tokens)
                if b is not None and b.left <= 0 and b.until_ns > now_ns]
        return {"in_flight": self.in_flight, "queued": len(self.queue),
                "max_concurrency": self.policy.max_concurrency,
                "held_for_s": round(max(held) / NS, 3) if held else 0.0}


def queue_full(detail: str, wait_s: float, retry: bool = True) -> SeawallError:
    """503, not 429, for every gate refusal: the client broke none of its own limits, the
    gateway's upstream is out of capacity for now. A 429 would point the client at its key's
    limits (and at x-ratelimit-* headers that say it has room); a 503 with Retry-After is
    "temporarily unavailable, come back then", which the official SDKs retry the same way."""
    headers = {"x-should-retry": "false"}  # too_large: no wait makes it fit
    if retry:
        seconds = max(1, math.ceil(wait_s))
        headers = {"retry-after": str(seconds), "retry-after-ms": str(max(1, math.ceil(wait_s * 1000)))}
    return SeawallError("queue_full", {"detail": detail, "seconds": headers.get("retry-after", "-")},
                        headers=headers)


class DeploymentGates:
    """Every deployment's gate, made at its first request (keyed by label, like the breakers:
    two routes naming one upstream account share its limits)."""

    def __init__(self, clock: Callable[[], int] = time.monotonic_ns):
        self.clock = clock
        self._gates: dict[str, Gate] = {}
        self.make: Callable[[str, GatePolicy, Callable[[], int]], Gate] = Gate  # pipeline/gate_shared.py: in Redis

    def gate(self, target: ResolvedDeployment) -> Gate:
        found = self._gates.get(target.label)
        if found is None:
            found = self._gates[target.label] = self.make(target.label, policy_of(target.spec), self.clock)
        return found

    async def enter(self, target: ResolvedDeployment, ctx: RequestContext, req: ApiRequest,
                    may_wait_s: float) -> Ticket:
        gate = self.gate(target)
        if gate.free():  # the fast path: count it, nothing to decide
            gate.in_flight += 1
            return Ticket(gate, 0, gate.clock())
        return await gate.enter(functools.partial(token_cost, ctx, req), min(gate.policy.max_queue_wait_s, may_wait_s))

    def load(self, label: str) -> int:
        """Requests in flight to the deployment or queued for one of its slots, for balancing
        (decide/balance.py): a dict lookup, cheap enough to ask per request."""
        found = self._gates.get(label)
        return found.in_flight + len(found.queue) if found is not None else 0

    def view(self, label: str) -> dict:
        """One deployment's gate for the admin API: in flight, queued, its limits and what the
        upstream's headers taught (requests / tokens left, for how many seconds more)."""
        gate = self._gates.get(label)
        if gate is None:
            return {"in_flight": 0, "queued": 0, "held_for_s": 0.0, "learned": {}}
        now = self.clock()
        learned = {name: {"left": b.left, "for_s": round((b.until_ns - now) / NS, 3)}
                   for name, b in (("requests", gate.rates.requests), ("tokens", gate.rates.tokens))
                   if b is not None and b.until_ns > now}
        return {**gate.snapshot(now), "learned": learned}

    def snapshot(self) -> dict[str, dict]:
        """For /readyz: deployments with limits, requests in flight or a learned hold."""
        now = self.clock()
        out = {}
        for label, gate in self._gates.items():
            entry = gate.snapshot(now)
            if gate.policy.limited or entry["in_flight"] or entry["queued"] or entry["held_for_s"]:
                out[label] = entry
        return out


def token_cost(ctx: RequestContext, req: ApiRequest) -> int:
    """The token estimate admission uses (prompt bytes / 4 + the completion's maximum); asked
    only when a token limit is in force, since serializing the body is its one cost."""
    return estimate_tokens(ctx, len(req.raw) if req.raw is not None else len(orjson.dumps(req.body)))


def policy_of(spec: Deployment) -> GatePolicy:
    return GatePolicy(spec.max_concurrency, spec.max_queue, spec.max_queue_wait_s,
                      Rate(spec.rpm) if spec.rpm else None, Rate(spec.tpm) if spec.tpm else None,
                      spec.learn_limits)
