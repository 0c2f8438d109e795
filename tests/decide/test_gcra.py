"""GCRA with a fake clock: bursts, window boundaries, token costs, refunds and exact waits."""

import pytest

from seawall.decide.gcra import NS, Rate, gcra, peek, settle, take_slot

RPM3 = Rate(3)  # one request every 20 s, bursts of 3
TPM1000 = Rate(1000)  # one token every 60 ms, bursts of 1000


def run(rate: Rate, events: list[tuple[float, int]], state: int = 0) -> tuple[list[tuple[bool, float]], int]:
    """Feed (time in s, cost) events in order; (allowed, retry_after in s) for each, and the final state."""
    out = []
    for t, cost in events:
        d = gcra(state, round(t * NS), cost, rate)
        state = d.state
        out.append((d.allowed, d.retry_after_ns / NS))
    return out, state


OK = (True, 0.0)

CASES = [  # id, rate, events, expected
    ("a full bucket admits exactly the limit in a burst, then says when",
     RPM3, [(0, 1)] * 4, [OK, OK, OK, (False, 20.0)]),
    ("retry_after is exact: a nanosecond early is refused, on time is admitted",
     RPM3, [(0, 1)] * 3 + [(20 - 1e-9, 1), (20, 1)], [OK, OK, OK, (False, 1e-9), OK]),
    ("no double burst at a minute's edge: a burst at 59.9 s leaves nothing at 60 s",
     RPM3, [(59.9, 1)] * 3 + [(60.0, 1), (60.1, 1)], [OK, OK, OK, (False, 19.9), (False, 19.8)]),
    ("steady traffic at the rate is always admitted",
     RPM3, [(20 * i, 1) for i in range(10)], [OK] * 10),
    ("idle time banks one burst, never more",
     RPM3, [(600, 1)] * 4, [OK, OK, OK, (False, 20.0)]),
    ("after a burst, one more every 20 s",
     RPM3, [(0, 1)] * 3 + [(20, 1), (21, 1), (40, 1)], [OK, OK, OK, OK, (False, 19.0), OK]),
    ("tokens cost more than one: the wait is for the missing tokens only",
     TPM1000, [(0, 600), (0, 500)], [OK, (False, 6.0)]),  # 100 tokens short at 60 ms a token
    ("a cost larger than the whole limit can never fit",
     TPM1000, [(0, 1001)], [(False, -1e-9)]),
    ("a cost of exactly the limit fits a full bucket",
     TPM1000, [(0, 1000), (0, 1)], [OK, (False, 0.06)]),
]


@pytest.mark.parametrize("rate,events,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_gcra(rate, events, expected):
    got, _ = run(rate, events)
    assert [(a, pytest.approx(w, abs=1e-12)) for a, w in got] == expected


def test_remaining_and_reset_follow_the_bucket():
    d1 = gcra(0, 0, 1, RPM3)
    assert (d1.remaining, d1.reset_ns) == (2, 20 * NS)  # reset: until the bucket is full again
    d3 = gcra(gcra(d1.state, 0, 1, RPM3).state, 0, 1, RPM3)
    assert (d3.remaining, d3.reset_ns) == (0, 60 * NS)
    refused = gcra(d3.state, 0, 1, RPM3)
    assert (refused.allowed, refused.state, refused.remaining) == (False, d3.state, 0)  # refusal spends nothing
    later = peek(d3.state, 30 * NS, RPM3)
    assert (later.remaining, later.reset_ns) == (1, 30 * NS)


def test_refund_returns_an_overestimate():
    _, state = run(TPM1000, [(0, 900)])
    assert not gcra(state, 0, 500, TPM1000).allowed
    state = settle(state, 0, -800, TPM1000)  # the reply used 100 of the 900 estimated
    d = gcra(state, 0, 500, TPM1000)
    assert d.allowed and d.remaining == 400


def test_refund_never_fills_past_a_full_bucket():
    _, state = run(TPM1000, [(0, 100)])
    state = settle(state, 0, -5000, TPM1000)
    assert peek(state, 0, TPM1000).remaining == 1000
    assert run(TPM1000, [(0, 1000), (0, 1)], state)[0] == [OK, (False, 0.06)]


def test_usage_beyond_the_estimate_is_owed():
    _, state = run(TPM1000, [(0, 900)])
    state = settle(state, 0, 600, TPM1000)  # used 1500: 500 over the bucket
    d = gcra(state, 0, 1, TPM1000)
    assert not d.allowed and d.remaining == 0
    assert d.retry_after_ns == 30 * NS + 60_000_000  # 501 tokens at 60 ms each
    assert gcra(state, d.retry_after_ns, 1, TPM1000).allowed


def test_settle_later_counts_from_now_not_from_an_old_state():
    _, state = run(RPM3, [(0, 1)])
    state = settle(state, 600 * NS, -1, RPM3)
    assert peek(state, 600 * NS, RPM3).remaining == 3


def test_any_period_admits_at_most_one_burst_plus_the_rate():
    """Hammering every 100 ms for 3 minutes: a burst of 3, then exactly one per 20 s."""
    got, _ = run(RPM3, [(i / 10, 1) for i in range(1800)])
    times = [i / 10 for i, (ok, _) in enumerate(got) if ok]
    assert times == [0, 0.1, 0.2, 20.0, 40.0, 60.0, 80.0, 100.0, 120.0, 140.0, 160.0]
    for start in times:  # no 20 s span ever holds more than the burst
        assert sum(start <= t < start + 20 for t in times) <= 3
    # The bound is burst + rate, not a sliding-minute cap: the first minute after idling holds
    # 2 x limit - 1 (see the module docstring).
    assert sum(t < 60 for t in times) == 5


@pytest.mark.parametrize("in_flight,limit,expected", [(0, 1, True), (1, 1, False), (2, 3, True), (3, 3, False)])
def test_take_slot(in_flight, limit, expected):
    assert take_slot(in_flight, limit) is expected
