"""Upstream protection: may one more request go to a deployment now, wait in its queue, or must
it go elsewhere? Pure: the deployment's counters, the clock, the request's cost and how long it
may wait are arguments (pipeline/gate.py holds the state, the queue and the clock).

    decide(policy, in_flight, ahead, state, now_ns, cost, may_wait_ns) -> Go | Wait | Refuse
    learn(headers, now_ns, epoch_s) -> (requests Budget | None, tokens Budget | None)

Three limits, all per deployment (issue 6 item 5, issue 7 item 7):
- a concurrency cap with a bounded FIFO queue: a request never overtakes one queued before it;
- the operator's `rpm` / `tpm` for the deployment (the provider's limits), admitted with the
  same GCRA as the client limits (decide/gcra.py);
- budgets learned from the upstream's replies (`x-ratelimit-remaining-*` + `-reset-*`, OpenAI;
  `anthropic-ratelimit-*-remaining` + `-reset`, Anthropic): `left` more units until `until_ns`.
  A reply saying `remaining: 0` holds the deployment until the reset instead of letting the
  next requests provoke 429s. The hold lasts to the reset the provider names, which for OpenAI
  is when its bucket is *full* again (provider-errors.md §1.4), so it is conservative: one
  request would fit sooner, but when depends on the bucket's shape and period, which the headers
  don't say (a limit may be per minute or per day: OpenAI's RPM/RPD, TPM/TPD).

A rate wait is known in advance (GCRA and a learned reset say exactly when), so a request whose
rate wait exceeds what it may wait is refused at once: it can fall back to the next deployment
without sitting out its whole allowance first. A wait for a concurrency slot is not known (a
slot frees when some reply ends), so it is queued and refused only when its time is up.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from seawall.decide.classify import _until, parse_go_duration
from seawall.decide.gcra import NS, Rate, gcra

# Until a deployment has released a slot, how long a slot is assumed to be held (for the
# Retry-After of a full queue); then a moving average of the real hold times.
DEFAULT_HOLD_NS = 1 * NS


@dataclass(frozen=True, slots=True)
class GatePolicy:
    """A deployment's limits, from its config (config.py Deployment)."""

    max_concurrency: int | None = None
    max_queue: int = 100
    max_queue_wait_s: float = 5.0
    rpm: Rate | None = None
    tpm: Rate | None = None
    learn: bool = True

    @property
    def limited(self) -> bool:
        """False: only learned budgets can hold this deployment (the fast path)."""
        return self.max_concurrency is not None or self.rpm is not None or self.tpm is not None


class Budget(NamedTuple):
    """What the upstream said is left of one of its limits: `left` units until `until_ns`
    (monotonic), when its bucket resets. Past `until_ns` it says nothing any more."""

    left: int
    until_ns: int


@dataclass(slots=True)
class RateState:
    """The rate part of a deployment's state: GCRA states and learned budgets. Mutable, owned
    by the holder; decisions read it and return the values to commit."""

    rpm_tat: int = 0
    tpm_tat: int = 0
    requests: Budget | None = None
    tokens: Budget | None = None


class Go(NamedTuple):
    """Call the upstream now; commit these states."""

    rpm_tat: int
    tpm_tat: int
    requests: Budget | None
    tokens: Budget | None


class Wait(NamedTuple):
    """Queue (or stay queued). `rate_ns` > 0: look again after it (a rate wait); 0: wait for a
    concurrency slot or for the requests ahead to go."""

    rate_ns: int


class Refuse(NamedTuple):
    """Don't wait here: `why` is queue_full (no room in the queue), rate (the rate wait is
    longer than this request may wait), too_large (the request's tokens exceed the whole tpm:
    no wait helps) or timeout (its allowance ran out in the queue). `wait_ns` is the estimate
    for Retry-After."""

    why: str
    wait_ns: int


def rate_wait_ns(policy: GatePolicy, state: RateState, ahead: int, now_ns: int, cost: int) -> int:
    """How long until the rate limits let this request go, with `ahead` requests queued before
    it; -1 when its tokens exceed the deployment's whole tpm (it never fits)."""
    wait = 0
    if policy.rpm is not None:
        rate, n = policy.rpm, ahead + 1  # this request and each one ahead take one unit
        if n <= rate.limit:
            wait = gcra(state.rpm_tat, now_ns, n, rate).retry_after_ns
        else:  # a whole burst first, then one every period / limit
            wait = gcra(state.rpm_tat, now_ns, rate.limit, rate).retry_after_ns + \
                (n - rate.limit) * -(-rate.period_ns // rate.limit)
    if policy.tpm is not None and cost > 0:
        d = gcra(state.tpm_tat, now_ns, cost, policy.tpm)
        if d.retry_after_ns < 0:
            return -1
        wait = max(wait, d.retry_after_ns)  # a lower bound: the costs of those ahead are unknown
    requests, tokens = state.requests, state.tokens
    if requests is not None and now_ns < requests.until_ns and requests.left <= ahead:
        wait = max(wait, requests.until_ns - now_ns)
    if tokens is not None and now_ns < tokens.until_ns and tokens.left < cost:
        wait = max(wait, tokens.until_ns - now_ns)
    return wait


def concurrency_wait_ns(policy: GatePolicy, in_flight: int, ahead: int, hold_ns: int) -> int:
    """An estimate of the wait for a slot: the requests ahead go `max_concurrency` at a time,
    each batch after about one slot-hold time."""
    cap = policy.max_concurrency
    if cap is None or (in_flight < cap and ahead == 0):
        return 0
    return (ahead // cap + 1) * hold_ns


def decide(policy: GatePolicy, in_flight: int, ahead: int, state: RateState, now_ns: int, cost: int,
           may_wait_ns: int, hold_ns: int = DEFAULT_HOLD_NS) -> Go | Wait | Refuse:
    """A request arrives with `ahead` requests queued before it (0: it is at the queue's head, or
    the queue is empty). `cost`: its token estimate (0 when no token limit applies)."""
    rate = rate_wait_ns(policy, state, ahead, now_ns, cost)
    if rate < 0:
        return Refuse("too_large", 0)
    if ahead == 0 and rate == 0 and (policy.max_concurrency is None or in_flight < policy.max_concurrency):
        return Go(*_spend(policy, state, now_ns, cost))
    if ahead >= policy.max_queue:  # max_queue 0: never wait here
        return Refuse("queue_full", max(rate, concurrency_wait_ns(policy, in_flight, ahead, hold_ns)))
    if rate > may_wait_ns:
        return Refuse("rate", rate)
    return Wait(rate)


def _spend(policy: GatePolicy, state: RateState, now_ns: int, cost: int) -> tuple:
    rpm_tat = gcra(state.rpm_tat, now_ns, 1, policy.rpm).state if policy.rpm is not None else state.rpm_tat
    tpm_tat = state.tpm_tat
    if policy.tpm is not None and cost > 0:
        tpm_tat = gcra(tpm_tat, now_ns, cost, policy.tpm).state
    requests, tokens = state.requests, state.tokens
    if requests is not None:
        requests = Budget(requests.left - 1, requests.until_ns) if now_ns < requests.until_ns else None
    if tokens is not None:
        tokens = Budget(tokens.left - cost, tokens.until_ns) if now_ns < tokens.until_ns else None
    return rpm_tat, tpm_tat, requests, tokens


def hold_average(previous_ns: int, held_ns: int) -> int:
    """Moving average of how long a slot is held (weight 1/5 for the newest: a few replies
    move it, one outlier doesn't)."""
    return (previous_ns * 4 + held_ns) // 5


# -- learning from the upstream's replies ---------------------------------------------------------

_ANTHROPIC_TOKENS = ("tokens", "input-tokens", "output-tokens")


def learn(headers: Mapping[str, str], now_ns: int, epoch_s: float) -> tuple[Budget | None, Budget | None]:
    """The request and token budgets a reply's headers state (None: not stated). `now_ns` is
    the monotonic clock the budgets are kept on; `epoch_s` turns Anthropic's RFC 3339 resets
    into waits. Of Anthropic's token buckets, the one with the least left."""
    requests = _budget(headers.get("x-ratelimit-remaining-requests"),
                       _go(headers.get("x-ratelimit-reset-requests")), now_ns)
    tokens = _budget(headers.get("x-ratelimit-remaining-tokens"),
                     _go(headers.get("x-ratelimit-reset-tokens")), now_ns)
    if requests is None and tokens is None and "anthropic-ratelimit-requests-remaining" in headers:
        requests = _budget(headers.get("anthropic-ratelimit-requests-remaining"),
                           _until(headers.get("anthropic-ratelimit-requests-reset"), epoch_s), now_ns)
        for bucket in _ANTHROPIC_TOKENS:
            found = _budget(headers.get(f"anthropic-ratelimit-{bucket}-remaining"),
                            _until(headers.get(f"anthropic-ratelimit-{bucket}-reset"), epoch_s), now_ns)
            if found is not None and (tokens is None or found.left < tokens.left):
                tokens = found
    return requests, tokens


def _go(text: str | None) -> float | None:
    return _go_cached(text) if text else None


# Every reply carries these; the same few values ("6ms", "1s", "8.64s") recur, and the regex is
# most of learn()'s cost (measured: ~9.8 us per reply uncached, ~1.5 us cached).
_go_cached = functools.lru_cache(maxsize=4096)(parse_go_duration)


def _budget(remaining: str | None, reset_s: float | None, now_ns: int) -> Budget | None:
    if remaining is None or reset_s is None:
        return None
    try:
        left = int(remaining)
    except ValueError:
        return None
    return Budget(max(left, 0), now_ns + int(reset_s * NS))


# -- a deployment's limits shared through Redis (pipeline/gate_shared.py) --------------------------

def after_refusal(kind: str, retry_after_ns: int, left_ns: int, poll_ns: int, may_queue: bool) -> Wait | Refuse:
    """The shared count refused the head of this gateway's line: what next? `kind` is the
    limiter's (requests | tokens | concurrency | too_large); `left_ns`: what the request may
    still wait. A slot freed in another gateway wakes nobody here, so a concurrency refusal is
    asked again after `poll_ns`; a rate refusal names its wait exactly."""
    if kind == "too_large":
        return Refuse("too_large", 0)
    if kind == "concurrency":
        return Wait(poll_ns) if may_queue else Refuse("queue_full", poll_ns)
    if retry_after_ns > left_ns:
        return Refuse("rate", retry_after_ns)
    return Wait(max(retry_after_ns, 1))
