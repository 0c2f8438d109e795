"""The quota ledger against a real SQLite store: holds, settlement, release, group defaults,
write-behind and read-back (what another gateway sharing the store spent)."""

import time

import pytest

from seawall.decide.quota import Shortfall
from seawall.keyring import key_record, new_key
from seawall.limits.quota import Hold, QuotaLedger
from seawall.store.base import GroupRecord

SECRET = b"s" * 32


async def add_key(store, **fields):
    record = key_record(SECRET, new_key(), f"k-{time.perf_counter_ns()}", **fields)
    await store.insert_key(record)
    return record


async def ledger_for(store) -> QuotaLedger:
    ledger = QuotaLedger(store)
    ledger.configure(await store.load_keys(), await store.load_groups())
    return ledger


async def test_a_key_without_quota_has_no_balance(store):
    k = await add_key(store)
    ledger = await ledger_for(store)
    assert ledger.hold(k.id, 10**9, 0.0) is None


async def test_concurrent_holds_never_exceed_the_quota(store):
    k = await add_key(store, quota_tokens=1000)
    ledger = await ledger_for(store)
    holds = [ledger.hold(k.id, 300, 0.0) for _ in range(4)]
    assert [isinstance(h, Hold) for h in holds] == [True, True, True, False]
    short = holds[3]
    assert isinstance(short, Shortfall) and short.held == 900 and short.wanted == 300
    for h in holds[:3]:
        ledger.settle(h, 250, 0.0)
    b = ledger.balance(k.id)
    assert (b.used_tokens, b.held_tokens, b.remaining_tokens) == (750, 0, 250)


async def test_release_gives_the_hold_back_and_settle_is_idempotent(store):
    k = await add_key(store, quota_tokens=100)
    ledger = await ledger_for(store)
    h = ledger.hold(k.id, 100, 0.0)
    ledger.release(h)
    ledger.release(h)  # twice: still one release
    assert ledger.balance(k.id).held_tokens == 0
    h = ledger.hold(k.id, 100, 0.0)
    first = ledger.settle(h, 40, 0.0)
    again = ledger.settle(h, 40, 0.0)
    assert (first.tokens, again.tokens) == (40, 0)
    assert ledger.balance(k.id).used_tokens == 40


async def test_usage_past_the_limit_is_capped_and_reported(store):
    k = await add_key(store, quota_tokens=100)
    ledger = await ledger_for(store)
    charged = ledger.settle(ledger.hold(k.id, 50, 0.0), 130, 0.0)
    assert (charged.tokens, charged.excess_tokens) == (100, 30)
    assert ledger.balance(k.id).remaining_tokens == 0
    assert isinstance(ledger.hold(k.id, 1, 0.0), Shortfall)


async def test_usd_quota_is_held_and_charged_like_tokens(store):
    k = await add_key(store, quota_usd=0.01)
    ledger = await ledger_for(store)
    h = ledger.hold(k.id, 0, 0.006)
    assert isinstance(ledger.hold(k.id, 0, 0.006), Shortfall)
    ledger.settle(h, 500, 0.004)
    b = ledger.balance(k.id)
    assert b.used_usd == pytest.approx(0.004) and b.limit_tokens is None
    assert isinstance(ledger.hold(k.id, 0, 0.006), Hold)


async def test_a_group_default_applies_unless_the_key_sets_its_own(store):
    await store.insert_group(GroupRecord("team", time.time(), quota_tokens=500))
    inherits = await add_key(store, group="team")
    narrows = await add_key(store, group="team", quota_tokens=50)
    ledger = await ledger_for(store)
    assert ledger.balance(inherits.id).limit_tokens == 500
    assert ledger.balance(inherits.id).source("tokens") == "the default of group team"
    assert ledger.balance(narrows.id).limit_tokens == 50
    assert ledger.balance(narrows.id).source("tokens") == "the key's own"


async def test_charges_are_written_behind_and_survive_a_restart(store):
    k = await add_key(store, quota_tokens=1000)
    ledger = await ledger_for(store)
    ledger.settle(ledger.hold(k.id, 100, 0.0), 70, 0.0)
    ledger.settle(ledger.hold(k.id, 100, 0.0), 30, 0.0)
    assert (await store.load_usage([k.id]))[k.id] == (0, 0.0)  # nothing written yet: no round trip per request
    await ledger.sync()
    assert (await store.load_usage([k.id]))[k.id] == (100, 0.0)
    restarted = await ledger_for(store)
    assert restarted.balance(k.id).used_tokens == 100


async def test_two_gateways_on_one_store_see_each_others_spending_after_a_sync(store):
    k = await add_key(store, quota_tokens=1000)
    a, b = await ledger_for(store), await ledger_for(store)
    a.settle(a.hold(k.id, 300, 0.0), 300, 0.0)
    b.settle(b.hold(k.id, 200, 0.0), 200, 0.0)
    await a.sync()
    await b.sync()
    await a.sync()
    assert a.balance(k.id).used_tokens == b.balance(k.id).used_tokens == 500


async def test_a_failing_store_keeps_the_charges_and_counts_them_once_when_it_recovers(store):
    k = await add_key(store, quota_tokens=1000)
    ledger = await ledger_for(store)
    real_add = store.add_usage
    calls = []

    async def broken(rows):
        calls.append(rows)
        raise OSError("disk full")

    store.add_usage = broken
    ledger.settle(ledger.hold(k.id, 100, 0.0), 60, 0.0)
    await ledger.sync()
    ledger.settle(ledger.hold(k.id, 100, 0.0), 40, 0.0)
    await ledger.sync()
    assert len(calls) == 2 and ledger.balance(k.id).used_tokens == 100
    store.add_usage = real_add
    await ledger.sync()
    assert (await store.load_usage([k.id]))[k.id] == (100, 0.0)
    assert ledger.balance(k.id).used_tokens == 100


async def test_a_charge_made_while_a_flush_is_writing_is_neither_lost_nor_counted_twice(store):
    k = await add_key(store, quota_tokens=10_000)
    ledger = await ledger_for(store)
    real_add = store.add_usage

    async def slow_add(rows):
        ledger.settle(ledger.hold(k.id, 10, 0.0), 7, 0.0)  # lands while the batch is being written
        await real_add(rows)

    ledger.settle(ledger.hold(k.id, 10, 0.0), 5, 0.0)
    store.add_usage = slow_add
    await ledger.sync()
    assert ledger.balance(k.id).used_tokens == 12
    store.add_usage = real_add
    await ledger.sync()
    assert (await store.load_usage([k.id]))[k.id] == (12, 0.0)
    assert ledger.balance(k.id).used_tokens == 12


async def test_a_raised_quota_applies_at_the_next_load_and_keeps_what_was_spent(store):
    import dataclasses

    k = await add_key(store, quota_tokens=100)
    ledger = await ledger_for(store)
    ledger.settle(ledger.hold(k.id, 100, 0.0), 100, 0.0)
    assert isinstance(ledger.hold(k.id, 1, 0.0), Shortfall)
    await store.update_key(dataclasses.replace(k, quota_tokens=300))
    ledger.configure(await store.load_keys(), await store.load_groups())
    b = ledger.balance(k.id)
    assert (b.limit_tokens, b.used_tokens) == (300, 100)
    assert isinstance(ledger.hold(k.id, 200, 0.0), Hold)


# The same ledger against PostgreSQL: several gateways share one there, so the increments and the
# read-back must hold on it too.
async def test_both_stores_keep_usage_as_increments_apart_from_key_updates(any_store):
    import dataclasses

    k = await add_key(any_store, quota_tokens=1000)
    a, b = await ledger_for(any_store), await ledger_for(any_store)
    a.settle(a.hold(k.id, 300, 0.0), 250, 0.0)
    b.settle(b.hold(k.id, 300, 0.0), 100, 0.0)
    await any_store.update_key(dataclasses.replace(k, quota_tokens=2000))  # an admin edit meanwhile
    await a.sync()
    await b.sync()
    assert (await any_store.load_usage([k.id]))[k.id] == (350, 0.0)
    assert [key.used_tokens for key in await any_store.load_keys() if key.id == k.id] == [350]
    b.configure(await any_store.load_keys(), await any_store.load_groups())
    assert b.balance(k.id).limit_tokens == 2000 and b.balance(k.id).used_tokens == 350
