"""The in-process limiter: every scope checked before any is spent, slots given back, settling."""

from seawall.decide.gcra import NS
from seawall.limits.base import Admitted, Refused, scope_limits
from seawall.limits.memory import CONCURRENCY_RETRY_NS, MemoryLimiter

KEY = scope_limits("key", "key_a", rpm=3, tpm=1000, max_concurrency=None)
GROUP = scope_limits("group", "team", rpm=5, tpm=None, max_concurrency=2)


def test_no_limits_means_no_scope():
    assert scope_limits("key", "k", None, None, None) is None


def test_a_burst_of_exactly_rpm_then_a_refusal_naming_the_key():
    lim = MemoryLimiter()
    for left in (2, 1, 0):
        got = lim.admit((KEY,), 10, 0)
        assert isinstance(got, Admitted) and got.requests.remaining == left
        lim.release((KEY,))
    refused = lim.admit((KEY,), 10, 0)
    assert isinstance(refused, Refused)
    assert (refused.kind, refused.scope.scope, refused.limit, refused.retry_after_ns) == ("requests", "key", 3, 20 * NS)


def test_a_refusal_spends_nothing_in_any_scope():
    lim = MemoryLimiter()
    assert isinstance(lim.admit((KEY, GROUP), 990, 0), Admitted)
    refused = lim.admit((KEY, GROUP), 500, 0)  # tokens refuse; requests would have passed
    assert refused.kind == "tokens" and refused.scope is KEY
    assert lim.window(KEY, "requests", 0).remaining == 2  # the refused request was not counted
    assert lim.window(GROUP, "requests", 0).remaining == 4
    assert lim.in_flight(GROUP) == 1


def test_headers_follow_the_most_restrictive_scope():
    lim = MemoryLimiter()
    got = lim.admit((KEY, GROUP), 10, 0)
    assert got.requests.limit == 3 and got.requests.remaining == 2  # the key's 3, not the group's 5
    assert got.tokens.limit == 1000 and got.tokens.remaining == 990


def test_a_group_is_shared_by_its_keys():
    other = scope_limits("key", "key_b", rpm=100, tpm=None, max_concurrency=None)
    lim = MemoryLimiter()
    for _ in range(5):
        assert isinstance(lim.admit((other, GROUP), 1, 0), Admitted)
        lim.release((other, GROUP))
    refused = lim.admit((KEY, GROUP), 1, 0)
    assert (refused.kind, refused.scope.scope, refused.limit) == ("requests", "group", 5)


def test_concurrency_slots_are_held_until_released():
    lim = MemoryLimiter()
    conc = scope_limits("group", "g", None, None, max_concurrency=2)
    assert isinstance(lim.admit((conc,), 0, 0), Admitted)
    assert isinstance(lim.admit((conc,), 0, 0), Admitted)
    refused = lim.admit((conc,), 0, 0)
    assert (refused.kind, refused.limit, refused.retry_after_ns) == ("concurrency", 2, CONCURRENCY_RETRY_NS)
    lim.release((conc,))
    assert isinstance(lim.admit((conc,), 0, 0), Admitted)
    lim.release((conc,))
    lim.release((conc,))
    assert lim.in_flight(conc) == 0 and lim._in_flight == {}  # idle scopes hold no memory


def test_too_large_is_reported_before_any_wait():
    lim = MemoryLimiter()
    lim.admit((KEY,), 1, 0)
    lim.admit((KEY,), 1, 0)
    lim.admit((KEY,), 1, 0)
    refused = lim.admit((KEY,), 5000, 0)  # both rpm (wait 20 s) and tpm (never) refuse
    assert refused.kind == "too_large" and refused.limit == 1000


def test_settle_refunds_the_estimate():
    lim = MemoryLimiter()
    lim.admit((KEY,), 900, 0)
    assert lim.admit((KEY,), 500, 0).kind == "tokens"
    lim.settle((KEY,), 50 - 900, 0)
    assert isinstance(lim.admit((KEY,), 500, 0), Admitted)


def test_a_changed_limit_starts_a_fresh_bucket():
    lim = MemoryLimiter()
    for _ in range(3):
        lim.admit((KEY,), 1, 0)
    raised = scope_limits("key", "key_a", rpm=4, tpm=1000, max_concurrency=None)
    assert isinstance(lim.admit((raised,), 1, 0), Admitted)
