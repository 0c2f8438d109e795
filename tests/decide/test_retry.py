import pytest

from seawall.decide.retry import (Failure, Fallback, GiveUp, Retry, RetryBudget, RetryPolicy, backoff,
                                  falls_back, floor_share, next_attempt)

POLICY = RetryPolicy(attempts_per_deployment=2, backoff_base_s=0.25, backoff_cap_s=4.0, max_wait_s=10.0,
                     deadline_s=60.0)


def f(category: str, deployment: int = 0, wait: float | None = None) -> Failure:
    return Failure(deployment, category, wait)


CASES = [  # id, history, deployments left, now, expected
    ("bad request never retries", [f("request.invalid")], 1, 1.0, GiveUp),
    ("request too large for the TPM limit", [f("rate_limit.request_too_large")], 1, 1.0, GiveUp),
    ("5xx with another deployment: fall back at once", [f("upstream.server_error")], 1, 1.0, Fallback()),
    ("quota with another deployment: fall back", [f("quota.exhausted")], 2, 1.0, Fallback()),
    ("quota on the last deployment: give up", [f("quota.exhausted")], 0, 1.0, GiveUp),
    ("5xx on the last deployment: backoff retry", [f("upstream.server_error")], 0, 1.0, Retry(0.125)),
    ("429 honours retry-after", [f("rate_limit.requests", wait=2.0)], 0, 1.0, Retry(2.0)),
    ("retry-after beyond the cap: give up with the wait", [f("rate_limit.tokens", wait=30.0)], 0, 1.0, GiveUp),
    ("retry-after beyond the deadline", [f("rate_limit.requests", wait=5.0)], 0, 57.0, GiveUp),
    ("second failure on the same deployment: give up",
     [f("upstream.overloaded"), f("upstream.overloaded")], 0, 2.0, GiveUp),
    ("fell back, the fallback fails: retry it once",
     [f("upstream.overloaded", 0), f("network.connect", 1)], 0, 2.0, Retry(0.125)),
]


@pytest.mark.parametrize("history,left,now,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_next_attempt(history, left, now, expected):
    got = next_attempt(history, left, POLICY, True, elapsed=now, rand=0.5)
    if isinstance(expected, type):
        assert isinstance(got, expected)
    else:
        assert got == expected


def test_a_wait_too_long_is_handed_back():
    got = next_attempt([f("rate_limit.tokens", wait=30.0)], 0, POLICY, True, elapsed=1.0, rand=0.5)
    assert got == GiveUp("the provider's wait is longer than this request may wait", 30.0)


@pytest.mark.parametrize("n,rand,expected", [(0, 1.0, 0.25), (1, 1.0, 0.5), (4, 1.0, 4.0), (10, 1.0, 4.0),
                                             (3, 0.0, 0.0), (2, 0.5, 0.5)])
def test_full_jitter_backoff(n, rand, expected):
    assert backoff(n, POLICY, rand) == pytest.approx(expected)


def test_budget_caps_retries_at_a_tenth_of_requests_with_a_floor():
    budget = RetryBudget(ratio=0.1, floor=3, window_s=10.0)
    for i in range(100):
        budget.record_request(now=i * 0.01)
    granted = 0
    for _ in range(50):
        if budget.allows(now=1.0):
            budget.record_retry(now=1.0)
            granted += 1
    assert granted == 10  # 10 % of 100 (the floor of 3 is a minimum, not an addition)


def test_budget_floor_lets_a_quiet_deployment_retry():
    budget = RetryBudget(ratio=0.1, floor=3, window_s=10.0)
    budget.record_request(now=0.0)
    granted = 0
    while budget.allows(now=1.0):
        budget.record_retry(now=1.0)
        granted += 1
    assert granted == 3


def test_budget_window_slides():
    budget = RetryBudget(ratio=0.0, floor=1, window_s=10.0)
    budget.record_retry(now=0.0)
    assert not budget.allows(now=5.0)
    assert budget.allows(now=10.5)


def test_spent_budget_gives_up():
    got = next_attempt([f("upstream.server_error")], 0, POLICY, False, elapsed=1.0, rand=0.5)
    assert isinstance(got, GiveUp) and "budget" in got.reason


def test_falls_back():
    assert falls_back("upstream.timeout") and falls_back("permission.model")
    assert not falls_back("request.context_length")


def test_budget_memory_stays_bounded_while_nothing_fails():
    """A deployment that never fails never asks `allows`: recording alone must not grow the state."""
    budget = RetryBudget(ratio=0.1, floor=3, window_s=10.0)
    for i in range(200_000):
        budget.record_request(now=i * 0.001)  # 200 s of traffic at 1,000 requests/s
    assert len(budget.counts) <= budget.slots
    assert budget.allows(now=200.0)


def test_budget_forgets_requests_that_left_the_window():
    budget = RetryBudget(ratio=0.5, floor=0, window_s=10.0)
    for i in range(10):
        budget.record_request(now=float(i) / 10)
    assert budget.allows(now=1.0)  # 10 requests: 5 retries allowed
    for _ in range(5):
        budget.record_retry(now=1.0)
    assert not budget.allows(now=1.0)
    budget.record_request(now=12.0)  # the first ten left the window; the retries at 1.0 too
    assert budget.allows(now=12.0)
    budget.record_retry(now=12.0)
    assert not budget.allows(now=12.0)  # one request now: half a retry allowed, one taken


@pytest.mark.parametrize("floor,instances,share", [(3, 1, 3), (3, 2, 1), (3, 3, 1), (3, 10, 1), (10, 3, 3), (3, 0, 3)])
def test_the_floor_is_divided_among_gateways_but_never_below_one(floor, instances, share):
    assert floor_share(floor, instances) == share


def test_two_gateways_on_a_quiet_deployment_retry_no_more_than_one_did():
    gateways = [RetryBudget(), RetryBudget()]  # floor 3 each, ratio 0.1; no request succeeded meanwhile
    retried = 0
    for budget in gateways:
        budget.record_request(0.0)
        while budget.allows(0.0, instances=2):
            budget.record_retry(0.0)
            retried += 1
    assert retried == 2  # floor 3 // 2 each: at most the one gateway's floor, not 2 x 3


def test_the_ratio_part_is_each_gateways_own_and_needs_no_dividing():
    budget = RetryBudget(ratio=0.1, floor=3)
    for _ in range(100):
        budget.record_request(0.0)
    retries = 0
    while budget.allows(0.0, instances=4):
        budget.record_retry(0.0)
        retries += 1
    assert retries == 10  # 0.1 of this gateway's 100 requests, above the divided floor
