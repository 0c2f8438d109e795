import pytest

from seawall.simulator.ratelimit import Bucket, Limits, RateLimiter, admit, level, snapshot, wait_for

LIMITS = Limits(rpm=3, tpm=1000)


def test_level_refills_continuously():
    bucket = Bucket(used=3, at=100.0)
    assert level(bucket, 3, 100.0) == 3
    assert level(bucket, 3, 120.0) == pytest.approx(2)  # 3 per minute: one back every 20 s
    assert level(bucket, 3, 1000.0) == 0


def test_wait_for_matches_openai_example():
    # "Limit 3, Used 3, Requested 1. Please try again in 20s."
    assert wait_for(3, 1, 3) == pytest.approx(20)
    assert wait_for(0, 1, 3) == 0


def test_admit_takes_one_request_and_the_tokens():
    verdict, requests, tokens = admit(Bucket(at=0), Bucket(at=0), 100, LIMITS, now=0.0)
    assert verdict.allowed
    assert (requests.used, tokens.used) == (1, 100)


def test_fourth_request_in_a_minute_is_refused_on_requests():
    requests, tokens = Bucket(at=0), Bucket(at=0)
    for _ in range(3):
        verdict, requests, tokens = admit(requests, tokens, 10, LIMITS, now=0.0)
        assert verdict.allowed
    verdict, requests2, tokens2 = admit(requests, tokens, 10, LIMITS, now=0.0)
    assert not verdict.allowed and verdict.kind == "requests"
    assert (verdict.limit, round(verdict.used), verdict.requested) == (3, 3, 1)
    assert verdict.wait == pytest.approx(20)
    assert (requests2, tokens2) == (requests, tokens)  # a refused request consumes nothing


def test_tokens_limit_and_its_wait():
    verdict, requests, tokens = admit(Bucket(at=0), Bucket(used=900, at=0), 200, LIMITS, now=0.0)
    assert not verdict.allowed and verdict.kind == "tokens"
    assert verdict.wait == pytest.approx(100 * 60 / 1000)


def test_request_bigger_than_the_whole_tpm_is_too_large():
    verdict, _, _ = admit(Bucket(at=0), Bucket(at=0), 1001, LIMITS, now=0.0)
    assert not verdict.allowed and verdict.kind == "request_too_large"
    assert verdict.requested == 1001 and verdict.limit == 1000


def test_snapshot_reports_remaining_and_time_to_full():
    snap = snapshot(Bucket(used=1, at=0), Bucket(used=500, at=0), Limits(60, 6000), now=0.0)
    assert (snap.limit_requests, snap.remaining_requests, snap.reset_requests) == (60, 59, pytest.approx(1))
    assert (snap.limit_tokens, snap.remaining_tokens, snap.reset_tokens) == (6000, 5500, pytest.approx(5))


def test_limiter_keeps_models_apart_and_clears():
    limiter = RateLimiter()
    for _ in range(3):
        assert limiter.admit("gpt-4o", 1, LIMITS, now=0.0).allowed
    assert not limiter.admit("gpt-4o", 1, LIMITS, now=0.0).allowed
    assert limiter.admit("gpt-4o-mini", 1, LIMITS, now=0.0).allowed
    assert limiter.snapshot("gpt-4o", LIMITS, now=0.0).remaining_requests == 0
    assert limiter.snapshot(None, LIMITS, now=0.0).remaining_requests == 3
    limiter.clear()
    assert limiter.snapshot("gpt-4o", LIMITS, now=0.0).remaining_requests == 3
