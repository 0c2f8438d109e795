"""Migrations 005 and 006: keys' and groups' requests-per-second limit and tenants' limits, stored
and read back alike by the SQLite and the PostgreSQL store (a real server, as in test_postgres.py)."""

import dataclasses

from seawall.keyring import key_record, new_key
from seawall.store.base import GroupRecord, TenantRecord
from seawall.store.postgres import migrations as postgres_migrations
from seawall.store.sqlite import migrations as sqlite_migrations


def test_both_stores_have_migrations_005_and_006():
    for version in (5, 6):
        assert version in dict(sqlite_migrations()) and version in dict(postgres_migrations())


async def test_rps_round_trips_beside_the_other_limits(any_store):
    record = key_record(b"s" * 32, new_key(), "fast", rps=5, rpm=60, tpm=1000, max_concurrency=2)
    await any_store.insert_key(record)
    assert await any_store.load_keys() == [record]
    await any_store.add_usage([(record.id, 7, 0.5)])  # the usage columns still read back in place
    loaded = (await any_store.load_keys())[0]
    assert (loaded.rps, loaded.rpm, loaded.used_tokens, loaded.used_usd) == (5, 60, 7, 0.5)
    await any_store.update_key(dataclasses.replace(loaded, rps=None))
    assert (await any_store.load_keys())[0].rps is None
    group = GroupRecord(name="team", created_at=1.0, rps=3, rpm=5)
    await any_store.insert_group(group)
    assert await any_store.load_groups() == [group]
    await any_store.update_group(dataclasses.replace(group, rps=10))
    assert (await any_store.load_groups())[0].rps == 10


async def test_tenant_limits_round_trip_and_put_replaces(any_store):
    assert await any_store.load_tenants() == []
    acme = TenantRecord(name="acme", updated_at=1.0, rps=2, rpm=1000, tpm=2_000_000, max_concurrency=50)
    await any_store.put_tenant(acme)
    await any_store.put_tenant(TenantRecord(name="beta", updated_at=2.0))
    assert await any_store.load_tenants() == [acme, TenantRecord(name="beta", updated_at=2.0)]
    replaced = TenantRecord(name="acme", updated_at=3.0, rpm=10)
    await any_store.put_tenant(replaced)
    assert (await any_store.load_tenants())[0] == replaced
