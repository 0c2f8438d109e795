"""decide/gate.py: the deployment gate's decisions, with a fake clock (plain nanoseconds)."""

import datetime as dt

import pytest

from seawall.decide.gate import (
    Budget,
    GatePolicy,
    Go,
    RateState,
    Refuse,
    Wait,
    after_refusal,
    concurrency_wait_ns,
    decide,
    hold_average,
    learn,
)
from seawall.decide.gcra import NS, Rate

S = NS  # one second on the fake clock
FREE = GatePolicy()
CAP2 = GatePolicy(max_concurrency=2, max_queue=3, max_queue_wait_s=5)


def go(policy, state, now, cost=0, in_flight=0):
    """Admit at `now` and commit, as the holder does; the decision must be Go."""
    d = decide(policy, in_flight, 0, state, now, cost, 5 * S)
    assert isinstance(d, Go), d
    state.rpm_tat, state.tpm_tat, state.requests, state.tokens = d
    return state


# -- concurrency and the queue -------------------------------------------------------------------

CONCURRENCY = [  # id, policy, in_flight, ahead, expected
    ("no limits: go", FREE, 500, 0, Go),
    ("a free slot: go", CAP2, 1, 0, Go),
    ("every slot taken: queue", CAP2, 2, 0, Wait(0)),
    ("FIFO: a free slot does not let a newcomer overtake the queue", CAP2, 0, 1, Wait(0)),
    ("the queue has room: queue behind the others", CAP2, 2, 2, Wait(0)),
    ("the queue is full: refuse at once", CAP2, 2, 3, Refuse("queue_full", 2 * S)),
    ("max_queue 0: never queue", GatePolicy(max_concurrency=1, max_queue=0), 1, 0, Refuse("queue_full", S)),
]


@pytest.mark.parametrize("policy,in_flight,ahead,expected", [c[1:] for c in CONCURRENCY],
                         ids=[c[0] for c in CONCURRENCY])
def test_concurrency(policy, in_flight, ahead, expected):
    d = decide(policy, in_flight, ahead, RateState(), now_ns=100 * S, cost=0, may_wait_ns=5 * S, hold_ns=S)
    assert (type(d) is Go) if expected is Go else d == expected


def test_a_full_queue_estimates_its_wait_from_the_slot_hold_time():
    # 7 ahead, 2 at a time, each slot held ~0.5 s: this request goes in the 4th batch
    assert concurrency_wait_ns(CAP2, 2, 7, S // 2) == 2 * S
    assert concurrency_wait_ns(CAP2, 1, 0, S // 2) == 0


def test_the_slot_hold_average_moves_with_the_replies_but_not_to_one_outlier():
    assert hold_average(S, S) == S
    assert hold_average(S, 6 * S) == 2 * S


# -- operator-set rpm / tpm (GCRA) ---------------------------------------------------------------

RPM2 = GatePolicy(rpm=Rate(2))  # a burst of 2, then one every 30 s


def test_rpm_admits_its_burst_then_says_exactly_how_long_to_wait():
    state = go(RPM2, go(RPM2, RateState(), 0), 0)
    assert decide(RPM2, 0, 0, state, 0, 0, may_wait_ns=60 * S) == Wait(30 * S)
    assert decide(RPM2, 0, 0, state, 10 * S, 0, may_wait_ns=60 * S) == Wait(20 * S)
    assert isinstance(decide(RPM2, 0, 0, state, 30 * S, 0, may_wait_ns=0), Go)


def test_a_rate_wait_longer_than_the_request_may_wait_is_refused_at_once():
    state = go(RPM2, go(RPM2, RateState(), 0), 0)
    # may_wait is min(max_queue_wait_s, the request's remaining deadline): the caller's cap
    assert decide(RPM2, 0, 0, state, 0, 0, may_wait_ns=29 * S) == Refuse("rate", 30 * S)


def test_rpm_counts_the_requests_queued_ahead():
    rpm60 = GatePolicy(rpm=Rate(60))
    assert decide(rpm60, 0, 59, RateState(), 0, 0, 5 * S) == Wait(0)  # a fresh bucket's burst covers them
    assert decide(rpm60, 0, 61, RateState(), 0, 0, 5 * S) == Wait(2 * S)  # then one a second


def test_tpm_admits_by_the_token_estimate():
    tpm = GatePolicy(tpm=Rate(1000))
    state = go(tpm, RateState(), 0, cost=600)
    assert decide(tpm, 0, 0, state, 0, 600, 60 * S) == Wait(12 * S)  # 200 tokens over, at 1000 / 60 s
    assert decide(tpm, 0, 0, state, 0, 1001, 60 * S) == Refuse("too_large", 0)


# -- limits learned from the upstream's headers --------------------------------------------------

def test_openai_remaining_zero_holds_the_deployment_until_the_reset():
    requests, tokens = learn({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1.5s",
                              "x-ratelimit-remaining-tokens": "149984", "x-ratelimit-reset-tokens": "6ms"},
                             now_ns=10 * S, epoch_s=0)
    assert requests == Budget(0, 10 * S + 1500 * S // 1000)
    assert tokens == Budget(149984, 10 * S + 6 * S // 1000)
    state = RateState(requests=requests, tokens=tokens)
    assert decide(FREE, 0, 0, state, 10 * S, 0, 5 * S) == Wait(1500 * S // 1000)
    assert decide(FREE, 0, 0, state, 10 * S, 0, S) == Refuse("rate", 1500 * S // 1000)  # may not wait that long
    assert isinstance(decide(FREE, 0, 0, state, 11500 * S // 1000, 0, 0), Go)  # the reset has come


def test_a_learned_budget_lets_exactly_what_is_left_through_before_the_reset():
    state = RateState(requests=Budget(2, 60 * S))
    go(FREE, go(FREE, state, 0), S)
    assert state.requests == Budget(0, 60 * S)
    assert decide(FREE, 0, 0, state, 2 * S, 0, 120 * S) == Wait(58 * S)
    assert decide(FREE, 0, 1, RateState(requests=Budget(1, 60 * S)), 0, 0, 120 * S) == Wait(60 * S)  # one ahead


def test_a_learned_token_budget_holds_a_request_that_would_not_fit():
    state = RateState(tokens=Budget(100, 4 * S))
    assert isinstance(decide(FREE, 0, 0, state, 0, 100, 5 * S), Go)
    assert decide(FREE, 0, 0, state, 0, 101, 5 * S) == Wait(4 * S)


def test_anthropic_rfc3339_resets_are_read_and_the_tightest_token_bucket_counts():
    epoch = 1_750_000_000.0
    at = dt.datetime.fromtimestamp(epoch + 2, dt.UTC).isoformat().replace("+00:00", "Z")
    later = dt.datetime.fromtimestamp(epoch + 40, dt.UTC).isoformat().replace("+00:00", "Z")
    headers = {"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": at,
               "anthropic-ratelimit-tokens-remaining": "5000", "anthropic-ratelimit-tokens-reset": later,
               "anthropic-ratelimit-output-tokens-remaining": "70", "anthropic-ratelimit-output-tokens-reset": at}
    requests, tokens = learn(headers, now_ns=0, epoch_s=epoch)
    assert requests == Budget(0, 2 * S)
    assert tokens == Budget(70, 2 * S)


@pytest.mark.parametrize("headers", [
    {},
    {"x-ratelimit-remaining-requests": "0"},  # no reset: no idea how long, so no hold
    {"x-ratelimit-remaining-requests": "zero", "x-ratelimit-reset-requests": "1s"},
    {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "soon"},
    {"anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": "tomorrow"},
], ids=["none", "no reset", "bad count", "bad duration", "bad timestamp"])
def test_headers_that_say_nothing_usable_teach_nothing(headers):
    assert learn(headers, now_ns=0, epoch_s=0) == (None, None)


def test_the_longest_wait_of_every_limit_decides():
    policy = GatePolicy(max_concurrency=4, rpm=Rate(2))
    state = go(policy, go(policy, RateState(requests=Budget(5, 45 * S)), 0), 0)
    state.requests = Budget(0, 45 * S)
    assert decide(policy, 0, 0, state, 0, 0, 60 * S) == Wait(45 * S)  # the reset beats rpm's 30 s


POLL = 20_000_000


@pytest.mark.parametrize("kind,retry_after,left,may_queue,expected", [
    ("concurrency", 1 * NS, 5 * NS, True, Wait(POLL)),  # a slot may free in any gateway: ask again soon
    ("concurrency", 1 * NS, 5 * NS, False, Refuse("queue_full", POLL)),  # max_queue 0: never wait
    ("requests", 2 * NS, 5 * NS, True, Wait(2 * NS)),  # the shared rate names its wait exactly
    ("tokens", 6 * NS, 5 * NS, True, Refuse("rate", 6 * NS)),  # longer than it may wait: fall back now
    ("requests", 0, 5 * NS, True, Wait(1)),
    ("too_large", -1, 5 * NS, True, Refuse("too_large", 0)),
], ids=["full: poll", "full, no queue", "rate wait fits", "rate wait too long", "no wait", "too large"])
def test_after_a_shared_refusal(kind, retry_after, left, may_queue, expected):
    assert after_refusal(kind, retry_after, left, POLL, may_queue) == expected
