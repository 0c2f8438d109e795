"""Tenant scopes and per-second limits through Redis (a real Redis on 127.0.0.1:6379, started by
test_redis.py's fixture when none runs): a tenant's limits are one set of buckets shared by every
limiter pointing at the Redis, as by several gateway processes; rps is the same script with a
one-second period."""

from __future__ import annotations

import asyncio

from test_redis import make, prefix, redis_server  # noqa: F401 - fixtures: Redis, a prefix per test, limiters

from seawall.decide.gcra import NS
from seawall.limits.base import Admitted, Refused, scope_limits
from seawall.pipeline.admit import refusal

NOW_US = 10**15 // 1000


def at(us: int):
    return lambda: us


async def test_a_tenant_limit_is_one_budget_for_two_limiters_and_its_refusal_names_the_tenant(make):  # noqa: F811
    tenant = scope_limits("tenant", "acme", rpm=4, tpm=None, max_concurrency=None)
    key_a = scope_limits("key", "key_a", rpm=100, tpm=None, max_concurrency=None)
    key_b = scope_limits("key", "key_b", rpm=100, tpm=None, max_concurrency=None)
    one, two = make(clock_us=at(NOW_US)), make(clock_us=at(NOW_US))  # two gateways' limiters
    admitted = [await lim.admit((key, tenant), 1) for lim, key in ((one, key_a), (two, key_b), (one, key_a),
                                                                  (two, key_b))]
    assert all(isinstance(a, Admitted) for a in admitted)
    assert [a.requests.remaining for a in admitted] == [3, 2, 1, 0]  # one tenant bucket across both
    refused = await two.admit((key_b, tenant), 1)
    assert isinstance(refused, Refused) and refused.scope.scope == "tenant" and refused.limit == 4
    assert refused.retry_after_ns == 15 * NS
    assert "(tenant acme)" in refusal(refused, 1).hint
    other = scope_limits("tenant", "globex", rpm=4, tpm=None, max_concurrency=None)
    assert isinstance(await one.admit((other,), 1), Admitted)  # another tenant has its own budget


async def test_tenant_concurrency_is_shared_through_redis_and_freed_by_finish(make):  # noqa: F811
    tenant = scope_limits("tenant", "acme", rpm=None, tpm=None, max_concurrency=2)
    one, two = make(), make()
    held = await asyncio.gather(one.admit((tenant,), 1), two.admit((tenant,), 1))
    assert all(isinstance(h, Admitted) for h in held)
    refused = await one.admit((tenant,), 1)
    assert refused.kind == "concurrency" and refused.scope.id == "acme"
    await two.finish((tenant,), held[1].lease, 0)
    assert isinstance(await one.admit((tenant,), 1), Admitted)


async def test_rps_through_redis_matches_the_in_process_arithmetic(make):  # noqa: F811
    s = scope_limits("key", "k", rpm=600, tpm=None, max_concurrency=None, rps=2)
    lim = make(clock_us=at(NOW_US))
    first = await lim.admit((s,), 1)
    assert (first.requests.limit, first.requests.remaining) == (2, 1)  # the tighter window: rps
    assert isinstance(await lim.admit((s,), 1), Admitted)
    refused = await lim.admit((s,), 1)
    assert (refused.kind, refused.limit, refused.period_ns, refused.retry_after_ns) == ("requests", 2, NS, NS // 2)
    assert refusal(refused, 1).values["unit"] == "rps"
    later = make(clock_us=at(NOW_US + 500_000))  # half a second on: one more fits
    assert isinstance(await later.admit((s,), 1), Admitted)
    assert isinstance(await later.admit((s,), 1), Refused)
