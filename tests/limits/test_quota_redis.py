"""Quota balances shared through Redis (limits/quota_redis.py), against the real Redis and a real
SQLite store: two ledgers, each with its own limiter (as two gateway processes have), hold and
settle against one balance, so together they never hold past the quota; each writes only what
it charged; a crashed gateway's holds come back once their lease ends; an admin's new limit
applies at the next hold; and Redis down follows limits.on_redis_error."""

from __future__ import annotations

import asyncio
import time

import pytest
from tcp_proxy import TcpProxy
from test_quota_ledger import add_key
from test_redis import REDIS_URL, make, prefix, redis_server  # noqa: F401 - fixtures: Redis, a prefix per test, limiters

from seawall.decide.quota import Shortfall
from seawall.limits.base import LimiterUnavailable
from seawall.limits.quota import Hold, QuotaLedger
from seawall.limits.quota_redis import SharedBalances


@pytest.fixture
async def gateway(store, make, prefix):
    """gateway(**limiter options) -> a QuotaLedger on the test's store whose balances are in Redis."""
    made: list[QuotaLedger] = []

    async def build(url: str = REDIS_URL, on_error: str = "open", lease_s: float = 30.0) -> QuotaLedger:
        limiter = make(url=url, on_error=on_error, lease_s=lease_s)
        await limiter.ping()
        ledger = QuotaLedger(store)
        ledger.shared = SharedBalances(ledger, limiter, limiter.fails_closed("key"), prefix=prefix + "q:")
        ledger.configure(await store.load_keys(), await store.load_groups())
        made.append(ledger)
        return ledger

    yield build
    for ledger in made:
        await ledger.shared.close()


async def test_two_gateways_hold_one_balance_and_write_each_charge_once(store, gateway):
    k = await add_key(store, quota_tokens=1000)
    a, b = await gateway(), await gateway()
    holds = await asyncio.gather(*(g.shared.hold(k.id, 100, 0.0) for g in (a, b) * 20))
    taken = [h for h in holds if isinstance(h, Hold)]
    assert len(taken) == 10  # 40 asked at once through two gateways: 1000 tokens held in 100s, not 2000
    assert all(isinstance(h, Shortfall) and h.unit == "tokens" for h in holds if not isinstance(h, Hold))
    for h in taken:
        await (a if h.balance is a.balance(k.id) else b).shared.settle(h, 90, 0.0)
    await a.sync()
    await b.sync()
    assert (await store.load_usage([k.id]))[k.id][0] == 900  # each gateway wrote what it charged, once
    assert a.balance(k.id).used_tokens == b.balance(k.id).used_tokens == 900  # both read Redis's total
    assert a.balance(k.id).held_tokens == 0
    refused = await b.shared.hold(k.id, 101, 0.0)
    assert isinstance(refused, Shortfall) and (refused.used, refused.held, refused.limit) == (900, 0, 1000)


async def test_a_charge_past_the_estimate_is_capped_at_the_quota_and_the_excess_reported(store, gateway):
    k = await add_key(store, quota_tokens=300)
    a, b = await gateway(), await gateway()
    first, second = await a.shared.hold(k.id, 100, 0.0), await b.shared.hold(k.id, 100, 0.0)
    assert (await a.shared.settle(first, 250, 0.0)).excess_tokens == 0
    charged = await b.shared.settle(second, 120, 0.0)
    assert (charged.tokens, charged.excess_tokens) == (50, 70)  # 250 + 50 = the quota, never past it
    assert await b.shared.settle(second, 120, 0.0) == type(charged)(0, 0.0, 0, 0.0)  # a second settle charges nothing


async def test_a_usd_quota_is_shared_too(store, gateway):
    k = await add_key(store, quota_usd=0.01)
    a, b = await gateway(), await gateway()
    assert isinstance(await a.shared.hold(k.id, 0, 0.006), Hold)
    short = await b.shared.hold(k.id, 0, 0.006)
    assert isinstance(short, Shortfall) and short.unit == "usd" and short.held == pytest.approx(0.006)


async def test_a_crashed_gateways_holds_come_back_when_their_lease_ends(store, gateway):
    k = await add_key(store, quota_tokens=1000)
    crashed, live = await gateway(lease_s=1.0), await gateway(lease_s=1.0)
    assert isinstance(await crashed.shared.hold(k.id, 900, 0.0), Hold)
    await crashed.shared.close()  # it stops renewing, as a killed process does, and never settles
    assert isinstance(await live.shared.hold(k.id, 500, 0.0), Shortfall)
    deadline = time.monotonic() + 10
    while not isinstance(got := await live.shared.hold(k.id, 500, 0.0), Hold):
        assert time.monotonic() < deadline, "the crashed gateway's hold never expired"
        await asyncio.sleep(0.1)
    assert live.balance(k.id).held_tokens == 500  # the 900 given back, counted once


async def test_a_live_gateway_keeps_its_holds_past_the_lease(store, gateway):
    k = await add_key(store, quota_tokens=1000)
    a, b = await gateway(lease_s=1.0), await gateway(lease_s=1.0)
    hold = await a.shared.hold(k.id, 900, 0.0)
    await asyncio.sleep(1.5)  # renewed every third of the lease meanwhile
    assert isinstance(await b.shared.hold(k.id, 500, 0.0), Shortfall)
    await a.shared.settle(hold, 900, 0.0)
    assert b.balance(k.id).held_tokens == 900 and (await b.shared.hold(k.id, 100, 0.0)).tokens == 100


async def test_a_new_limit_applies_at_the_next_hold_and_a_new_balance_starts_from_the_store(store, gateway):
    k = await add_key(store, quota_tokens=500)
    await store.add_usage([(k.id, 400, 0.0)])  # spent before Redis knew the key
    a = await gateway()
    assert isinstance(await a.shared.hold(k.id, 200, 0.0), Shortfall)  # 400 of 500 spent, from the store
    k.quota_tokens = 1000  # an admin's top-up, as the key cache's next load brings it
    k.used_tokens = 400
    a.configure([k], [])
    assert isinstance(await a.shared.hold(k.id, 200, 0.0), Hold)


async def test_redis_down_and_closed_refuses_quotad_requests(store, gateway):
    k = await add_key(store, quota_tokens=1000)
    proxy = TcpProxy(("127.0.0.1", 6379)).start()
    try:
        a = await gateway(url=f"redis://127.0.0.1:{proxy.port}/0", on_error="closed")
        assert isinstance(await a.shared.hold(k.id, 10, 0.0), Hold)
        proxy.cut()
        with pytest.raises(LimiterUnavailable):
            await a.shared.hold(k.id, 10, 0.0)
    finally:
        proxy.close()


async def test_redis_down_and_open_spends_each_gateways_share_then_tells_redis(store, gateway):
    k = await add_key(store, quota_tokens=1000)
    proxy = TcpProxy(("127.0.0.1", 6379)).start()
    try:
        url = f"redis://127.0.0.1:{proxy.port}/0"
        a, b = await gateway(url=url), await gateway(url=url)
        await asyncio.sleep(0.1)  # each learns from the presence set that two gateways share
        for g in (a, b):
            g.shared._limiter.local.instances = 2
        spent = await a.shared.hold(k.id, 200, 0.0)
        await a.shared.settle(spent, 200, 0.0)  # 800 left, as both will have last seen it
        await b.sync()
        proxy.cut()
        shares = []
        for g in (a, b):  # each may spend half of the 800 left: 400, in 100s
            held = [await g.shared.hold(k.id, 100, 0.0) for _ in range(6)]
            taken = [h for h in held if isinstance(h, Hold)]
            shares.append(len(taken))
            for h in taken:
                await g.shared.settle(h, 100, 0.0)
        assert shares == [4, 4]  # 200 + 800: the quota, not more
        proxy.restore()
        await asyncio.sleep(0.2)  # the outage's next probe (0.1 s after it began)
        for g in (a, b):
            while g.shared._limiter.outage.down_since is not None:  # a request probes and ends it
                await g.shared.hold(k.id, 0, 0.0)
                await asyncio.sleep(0.05)
            await g.sync()  # writes the charges to the store and adds them to Redis
        assert (await store.load_usage([k.id]))[k.id][0] == 1000
        await a.sync()  # and reads the total both added
        assert a.balance(k.id).used_tokens == 1000 and isinstance(await b.shared.hold(k.id, 1, 0.0), Shortfall)
    finally:
        proxy.close()


async def test_each_refresh_reads_the_keys_used_and_the_next_slice_of_the_others(store, gateway, monkeypatch):
    monkeypatch.setattr("seawall.limits.quota_redis.READ_EACH_TIME", 2)
    keys = [await add_key(store, quota_tokens=1000) for _ in range(5)]
    a, b = await gateway(), await gateway()
    for k in keys:  # b spends 10 on each key; a never serves them
        await b.shared.settle(await b.shared.hold(k.id, 10, 0.0), 10, 0.0)
    await a.shared.hold(keys[4].id, 1, 0.0)  # a uses the last one
    order = list(a.balances)
    seen = [set(a.shared._to_read()) for _ in range(3)]
    assert seen[0] == {order[0], order[1], keys[4].id}  # the used one, then two others in turn
    assert seen[1] == {order[2], order[3]} and seen[2] == {order[4], order[0]}
    for _ in range(3):
        await a.sync()
    assert all(a.balance(k.id).used_tokens == 10 for k in keys)  # every view caught up within a few intervals
