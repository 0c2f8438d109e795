"""A quota's hold folded into the Redis limiter's admission, and its settlement into the finish
(limits/quota_redis.py admit_and_hold / finish_and_settle; admit.lua and finish.lua with
quota_hold.lua and quota_settle.lua prefixed), against the real Redis: one script call each, a
refusal by the limits holds nothing, a refusal by the quota spends no limit, and two gateways
admitting at once never hold past the quota."""

from __future__ import annotations

import asyncio

import pytest
import redis
from tcp_proxy import TcpProxy
from test_quota_ledger import add_key
from test_quota_redis import gateway  # noqa: F401 - fixture: ledgers whose balances are in Redis
from test_redis import REDIS_URL, make, prefix, redis_server  # noqa: F401 - fixtures: Redis, a prefix per test, limiters

from seawall.decide.quota import Shortfall
from seawall.limits.base import Admitted, LimiterUnavailable, Refused, scope_limits
from seawall.limits.quota import Hold
from seawall.limits.share import LOCAL


def held_in_redis(shared, key_id: str) -> tuple[int, int]:
    """(used, held) tokens of the key's balance, as Redis has them."""
    client = redis.Redis.from_url(REDIS_URL)
    ut, ht = client.hmget(shared.keys(key_id)[0], "ut", "ht")
    client.close()
    return int(ut), int(ht)


def no_separate_calls(ledger, monkeypatch) -> None:
    """The stand-alone hold and settlement go through limiter.run: folded, nothing may."""
    async def refuse(*args):
        raise AssertionError("a separate script call")
    monkeypatch.setattr(ledger.shared.limiter, "run", refuse)


async def test_one_call_admits_and_holds_one_call_finishes_and_settles(store, gateway, monkeypatch):
    k = await add_key(store, quota_tokens=1000)
    a = await gateway()
    no_separate_calls(a, monkeypatch)
    scopes = (scope_limits("key", k.id, rpm=10, tpm=None, max_concurrency=1),)
    admitted, hold = await a.shared.admit_and_hold(scopes, 100, k.id, 100, 0.0)
    assert isinstance(admitted, Admitted) and admitted.lease and isinstance(hold, Hold)
    assert admitted.requests.remaining == 9
    assert held_in_redis(a.shared, k.id) == (0, 100)
    charged = await a.shared.finish_and_settle(scopes, admitted.lease, -10, hold, 90, 0.0)
    assert charged.tokens == 90
    assert held_in_redis(a.shared, k.id) == (90, 0)
    assert (a.balance(k.id).used_tokens, a.balance(k.id).held_tokens) == (90, 0)
    again, hold = await a.shared.admit_and_hold(scopes, 100, k.id, 100, 0.0)  # the slot came back
    assert isinstance(again, Admitted) and isinstance(hold, Hold)


async def test_a_refusal_by_the_limits_holds_nothing(store, gateway):
    k = await add_key(store, quota_tokens=1000)
    a = await gateway()
    scopes = (scope_limits("key", k.id, rpm=10, tpm=None, max_concurrency=1),)
    first, hold = await a.shared.admit_and_hold(scopes, 100, k.id, 100, 0.0)
    assert isinstance(hold, Hold)
    refused, nothing = await a.shared.admit_and_hold(scopes, 100, k.id, 100, 0.0)
    assert isinstance(refused, Refused) and refused.kind == "concurrency" and nothing is None
    assert held_in_redis(a.shared, k.id) == (0, 100)  # the first request's hold only


async def test_a_refusal_by_the_quota_spends_no_limit(store, gateway):
    k = await add_key(store, quota_tokens=150)
    a = await gateway()
    scopes = (scope_limits("key", k.id, rpm=3, tpm=10_000, max_concurrency=2),)
    first, hold = await a.shared.admit_and_hold(scopes, 100, k.id, 100, 0.0)
    assert isinstance(hold, Hold)
    for _ in range(3):  # more refusals than rpm and concurrency would allow, had they spent
        admitted, short = await a.shared.admit_and_hold(scopes, 100, k.id, 100, 0.0)
        assert isinstance(short, Shortfall) and (short.unit, short.held, short.limit) == ("tokens", 100, 150)
        assert isinstance(admitted, Admitted) and admitted.lease is None  # nothing to finish
    limiter = a.shared.limiter
    after = await limiter.admit(scopes, 100)  # the second request and token spend of the window
    assert isinstance(after, Admitted)
    assert (after.requests.remaining, after.tokens.remaining) == (1, 10_000 - 200)
    assert held_in_redis(a.shared, k.id) == (0, 100)


async def test_two_gateways_admitting_and_holding_at_once_never_hold_past_the_quota(store, gateway):
    k = await add_key(store, quota_tokens=1000)
    a, b = await gateway(), await gateway()
    scopes = (scope_limits("key", k.id, rpm=1000, tpm=None, max_concurrency=None),)
    outcomes = await asyncio.gather(*(g.shared.admit_and_hold(scopes, 100, k.id, 100, 0.0) for g in (a, b) * 20))
    holds = [h for _, h in outcomes if isinstance(h, Hold)]
    assert len(holds) == 10  # 1000 tokens held in 100s, across both
    assert all(isinstance(h, Shortfall) for _, h in outcomes if not isinstance(h, Hold))
    admitted = await a.shared.limiter.admit(scopes, 0)
    assert admitted.requests.remaining == 1000 - 10 - 1  # only the 10 that held spent a request
    for (outcome, h) in outcomes:
        if isinstance(h, Hold):
            g = a if h.balance is a.balance(k.id) else b
            await g.shared.finish_and_settle(scopes, outcome.lease, 0, h, 100, 0.0)
    assert held_in_redis(a.shared, k.id) == (1000, 0)


async def test_redis_down_and_open_admits_and_holds_on_this_gateways_share(store, gateway):
    k = await add_key(store, quota_tokens=1000)
    proxy = TcpProxy(("127.0.0.1", 6379)).start()
    try:
        a = await gateway(url=f"redis://127.0.0.1:{proxy.port}/0")
        a.shared.limiter.local.instances = 2
        scopes = (scope_limits("key", k.id, rpm=1000, tpm=None, max_concurrency=1),)
        proxy.cut()
        outcome, hold = await a.shared.admit_and_hold(scopes, 400, k.id, 400, 0.0)
        assert outcome.lease == LOCAL and isinstance(hold, Hold) and hold.lease is None  # half of 1000: 500
        refused, nothing = await a.shared.admit_and_hold(scopes, 400, k.id, 400, 0.0)
        assert isinstance(refused, Refused) and refused.kind == "concurrency" and nothing is None
        charged = await a.shared.finish_and_settle(scopes, outcome.lease, 0, hold, 300, 0.0)
        assert charged.tokens == 300  # charged here, for the store and for Redis once it answers
        outcome, short = await a.shared.admit_and_hold(scopes, 400, k.id, 400, 0.0)
        assert isinstance(short, Shortfall) and short.used == 300  # 200 of the share left
        again, hold = await a.shared.admit_and_hold(scopes, 100, k.id, 100, 0.0)
        assert isinstance(hold, Hold)  # the refused one gave its slot back
    finally:
        proxy.close()


async def test_redis_down_and_closed_refuses_without_holding_or_counting(store, gateway):
    k = await add_key(store, quota_tokens=1000)
    proxy = TcpProxy(("127.0.0.1", 6379)).start()
    try:
        a = await gateway(url=f"redis://127.0.0.1:{proxy.port}/0", on_error="closed")
        scopes = (scope_limits("key", k.id, rpm=1000, tpm=None, max_concurrency=1),)
        proxy.cut()
        with pytest.raises(LimiterUnavailable):
            await a.shared.admit_and_hold(scopes, 100, k.id, 100, 0.0)
        assert a.balance(k.id).held_tokens == 0 and not a.shared._held
    finally:
        proxy.close()
