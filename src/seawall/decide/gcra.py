"""Rate-limit arithmetic: GCRA (the generic cell rate algorithm) and the concurrency counter.

Pure: state, clock and cost are arguments; the backends (limits/memory.py, later Redis in one Lua
script) hold the states and read the clock.

GCRA keeps one number per bucket, the theoretical arrival time (TAT): when the bucket would be
empty again if nothing more came. A rate of `limit` units per `period` spends `period / limit`
of TAT per unit, and a request is admitted while TAT stays within one `period` of now, so a
full bucket admits a burst of `limit` and then exactly one unit every `period / limit`. There
are no windows, so no double burst at a window boundary (a fixed window admits 2 x limit around
its edge). What it bounds: at most `limit + W x limit / period` admissions in any span of W. What
it does not: a client idle for a period may take its burst and then the steady rate, so a
sliding 60 s can hold up to 2 x limit - 1 (tests/decide/test_gcra.py shows both); "never more
than limit in any sliding minute" would take a sliding log, O(limit) memory per bucket.

Exactness: the state is TAT x limit in integer nanoseconds ("scaled"), so one unit costs exactly
`period_ns` and nothing is rounded until a wait is reported (rounded up: a client told to come
back after `retry_after_ns` is admitted then, never refused by a nanosecond). A state belongs to
one Rate: a changed limit starts a fresh bucket (the backend keys states by rate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

NS = 1_000_000_000
MINUTE_NS = 60 * NS


@dataclass(frozen=True, slots=True)
class Rate:
    limit: int  # units (requests or tokens) per period, >= 1
    period_ns: int = MINUTE_NS


class Decision(NamedTuple):  # a NamedTuple: built on every check, 4x cheaper than a frozen dataclass
    allowed: bool
    state: int  # the bucket's state after this decision (unchanged when refused)
    retry_after_ns: int  # 0 when allowed; -1 when the cost can never fit (cost > limit)
    remaining: int  # units that could be admitted right now, after this decision
    reset_ns: int  # until the bucket is full again (OpenAI's x-ratelimit-reset-*: not "wait this long")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def gcra(state: int, now_ns: int, cost: int, rate: Rate) -> Decision:
    """Admit `cost` units at `now_ns` or say how long until they fit. `state` 0 = a full bucket."""
    limit, period = rate.limit, rate.period_ns
    now = now_ns * limit
    tat = max(now, state)  # an idle bucket does not bank more than one burst
    new_tat = tat + cost * period
    horizon = now + period * limit  # TAT may run at most one period (scaled) ahead of now
    if new_tat <= horizon:
        return Decision(True, new_tat, 0, (horizon - new_tat) // period, _ceil_div(new_tat - now, limit))
    wait = -1 if cost > limit else _ceil_div(new_tat - horizon, limit)
    return Decision(False, state, wait, max(0, (horizon - tat) // period), _ceil_div(tat - now, limit))


def settle(state: int, now_ns: int, delta: int, rate: Rate) -> int:
    """Correct a bucket by `delta` units after the fact: negative refunds an overestimate (never
    past a full bucket), positive charges usage beyond the estimate (may leave the bucket in
    debt, which later requests wait out)."""
    now = now_ns * rate.limit
    tat = max(now, state)
    return max(now, tat + delta * rate.period_ns)


def peek(state: int, now_ns: int, rate: Rate) -> Decision:
    """The bucket as it stands, without spending anything (for headers)."""
    return gcra(state, now_ns, 0, rate)


def take_slot(in_flight: int, limit: int) -> bool:
    """Concurrency: may one more request run while `in_flight` already do?"""
    return in_flight < limit
