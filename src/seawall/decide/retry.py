"""What to do after a failed upstream attempt: retry the same deployment, fall back to the next,
or give up. Pure: the history, policy, budget state, clock and jitter are all arguments.

    next_attempt(history, deployments_left, policy, retry_allowed, elapsed, rand) -> Retry | Fallback | GiveUp

Rules, in order (provider-errors.md §7 and the seeds: "retry with exponential backoff, respect
Retry-After, cap attempts; retry storms cause more outages than the original failure").
`retry_allowed` is the deployment's RetryBudget answer, asked by the caller, which owns it:
1. A request the upstream refused *as a request* (`request.*`, a single request over the TPM
   limit) fails the same way everywhere: give up.
2. Another deployment is left: fall back at once. A healthy alternative beats waiting, and it
   costs the failing deployment nothing.
3. The category is retryable (advice wait/backoff) and this deployment has attempts left: retry
   after the provider's own wait when it names one, else exponential backoff with full jitter;
   but only if the wait fits the request's deadline and the cap, and the retry budget allows.
   A wait that is too long gives up at once, with that wait in the error.
4. Otherwise give up.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from seawall.decide.classify import ADVICE

NEVER_FALL_BACK = ("request.", "rate_limit.request_too_large")


def falls_back(category: str) -> bool:
    return not category.startswith(NEVER_FALL_BACK)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts_per_deployment: int = 2  # the first try and one retry
    backoff_base_s: float = 0.25
    backoff_cap_s: float = 4.0
    max_wait_s: float = 10.0  # a provider wait beyond this is returned to the client, not slept
    # When every circuit is open, one reopening within this is waited for; later ones get a fast
    # 503 with Retry-After (in an outage, clients hear at once, not after a cooldown's wait).
    circuit_wait_s: float = 2.0
    deadline_s: float = 60.0  # from the request's start to its first byte


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed attempt, as the attempt loop saw it."""

    deployment: int  # index in the request's candidate list
    category: str
    wait_s: float | None = None  # the wait the reply named (Retry-After, …)


@dataclass(frozen=True, slots=True)
class Retry:
    wait_s: float


@dataclass(frozen=True, slots=True)
class Fallback:
    pass


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str
    wait_s: float | None = None  # when the provider named a wait too long to sleep here


@dataclass(slots=True)
class RetryBudget:
    """Retries allowed per deployment over a sliding window: `ratio` of the requests it was sent
    (first attempts only: retries must not grow their own allowance), and at least `floor` so a
    quiet deployment can still ride out a blip. In a full outage upstream traffic therefore stays
    within 1 + ratio times client traffic (the gRPC / Finagle retry-budget idea). Mutated by the
    attempt loop; decisions only read its answer. Per process, not shared: with N gateways each
    keeps its own, its floor divided among them (floor_share), so the total stays within bound
    without a Redis round trip per request.

    Counted in `slots` time slots per window, not one timestamp per request: memory stays at a
    dozen entries at any request rate (a deque of timestamps held ~70k floats per deployment at
    7k requests/s, and grew without end while nothing failed, as only `allows` trimmed it)."""

    ratio: float = 0.1
    floor: int = 3
    window_s: float = 10.0
    slots: int = 10
    counts: deque[list[int]] = field(default_factory=deque)  # [slot, requests, retries], oldest first
    _until: float = float("-inf")  # when the newest slot ends: before then, no slot arithmetic

    def _current(self, now: float) -> list[int]:
        counts = self.counts
        if now < self._until:
            return counts[-1]
        width = self.window_s / self.slots
        slot = int(now // width)
        self._until = (slot + 1) * width
        while counts and counts[0][0] <= slot - self.slots:
            counts.popleft()
        if not counts or counts[-1][0] != slot:
            counts.append([slot, 0, 0])
        return counts[-1]

    def allows(self, now: float, instances: int = 1) -> bool:
        """`instances`: the gateways sending to this deployment, each with a budget of its own."""
        self._current(now)  # drops the slots that left the window
        requests = retries = 0
        for _, n, r in self.counts:
            requests += n
            retries += r
        return retries < max(floor_share(self.floor, instances), self.ratio * requests)

    def record_request(self, now: float) -> None:
        self._current(now)[1] += 1

    def record_retry(self, now: float) -> None:
        self._current(now)[2] += 1


def floor_share(floor: int, instances: int) -> int:
    """One gateway's part of the retry budget's floor when `instances` gateways each keep their
    own budget: the ratio part needs no dividing (each gateway's is `ratio` of its own requests,
    so their sum is `ratio` of all), the floor does, or N gateways would retry a quiet deployment
    N x floor times. At least 1, so every gateway can still ride out a blip."""
    return max(1, floor // max(instances, 1))


def backoff(retry_number: int, policy: RetryPolicy, rand: float) -> float:
    """Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): uniform in
    [0, min(cap, base * 2^n)); `rand` is a uniform draw in [0, 1)."""
    return rand * min(policy.backoff_cap_s, policy.backoff_base_s * 2 ** retry_number)


def next_attempt(history: list[Failure], deployments_left: int, policy: RetryPolicy, retry_allowed: bool,
                 elapsed: float, rand: float) -> Retry | Fallback | GiveUp:
    """`elapsed`: seconds since the request started (its deadline counts from there)."""
    last = history[-1]
    if not falls_back(last.category):
        return GiveUp(f"{last.category}: the same request fails everywhere")
    if deployments_left > 0:
        return Fallback()
    if ADVICE.get(last.category) not in ("wait", "backoff"):
        return GiveUp(f"{last.category}: retrying will not help")
    tries_here = sum(1 for f in history if f.deployment == last.deployment)
    if tries_here >= policy.attempts_per_deployment:
        return GiveUp(f"{tries_here} attempts on this deployment")
    remaining = policy.deadline_s - elapsed
    if last.wait_s is not None:
        if last.wait_s > policy.max_wait_s or last.wait_s > remaining:
            return GiveUp("the provider's wait is longer than this request may wait", last.wait_s)
        wait = last.wait_s
    else:
        wait = backoff(tries_here - 1, policy, rand)
        if wait > remaining:
            return GiveUp("no time left before the request's deadline")
    if not retry_allowed:
        return GiveUp("the retry budget of this deployment is spent (an outage, not a blip)")
    return Retry(wait)
