from seawall.decide.breaker import CLOSED, Breaker, BreakerPolicy, after, may_try, reopens_in

P = BreakerPolicy(failures_to_open=3, cooldown_s=10.0, max_cooldown_s=60.0)


def run(events, start=CLOSED):
    """events: (category or None, now, wait) -> the state after each."""
    b = start
    for category, now, wait in events:
        b = after(b, category, now, P, wait)
    return b


def test_opens_after_consecutive_health_failures_only():
    b = run([("upstream.server_error", 0, None), ("network.connect", 1, None)])
    assert b.state == "closed" and b.failures == 2
    b = run([("upstream.overloaded", 2, None)], b)
    assert b.state == "open" and b.open_until == 12.0


def test_a_success_or_a_request_refusal_closes_and_resets():
    b = run([("upstream.server_error", 0, None), ("upstream.server_error", 1, None), (None, 2, None)])
    assert b == CLOSED
    b = run([("upstream.server_error", 0, None), ("request.invalid", 1, None), ("auth.key_invalid", 2, None)])
    assert b == CLOSED


def test_open_refuses_until_the_cooldown_then_lets_one_probe():
    b = run([("upstream.timeout", t, None) for t in range(3)])
    assert may_try(b, 5.0, P) == (False, b) and reopens_in(b, 5.0) == 7.0
    ok, probing = may_try(b, 12.0, P)
    assert ok and probing.state == "half_open"
    assert may_try(probing, 12.5, P)[0] is False  # one probe at a time


def test_a_failed_probe_doubles_the_cooldown_up_to_the_cap():
    b = run([("upstream.timeout", t, None) for t in range(3)])
    _, probing = may_try(b, 12.0, P)
    again = after(probing, "upstream.timeout", 12.0, P)
    assert again.state == "open" and again.cooldown_s == 20.0
    _, probing = may_try(again, 40.0, P)
    assert after(probing, "upstream.timeout", 40.0, P).cooldown_s == 40.0
    big = Breaker("half_open", 0, 0.0, 50.0, 0.0)
    assert after(big, "upstream.timeout", 0.0, P).cooldown_s == 60.0


def test_a_probe_that_never_reports_back_is_replaced_after_a_cooldown():
    _, probing = may_try(run([("upstream.timeout", t, None) for t in range(3)]), 12.0, P)
    assert may_try(probing, 21.0, P)[0] is False
    assert may_try(probing, 22.0, P)[0] is True


def test_a_429_wait_sets_the_cooldown():
    b = run([("rate_limit.requests", t, 30.0) for t in range(3)])
    assert b.state == "open" and b.cooldown_s == 30.0
    assert run([("rate_limit.request_too_large", t, None) for t in range(3)]) == CLOSED
