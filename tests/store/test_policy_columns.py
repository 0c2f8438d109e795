"""Migration 007: keys' and groups' context policy and size limits, stored and read back alike by
the SQLite and the PostgreSQL store (a real server, as in test_postgres.py), beside the columns
before them."""

import dataclasses

from seawall.keyring import key_record, new_key
from seawall.store.base import GroupRecord
from seawall.store.postgres import migrations as postgres_migrations
from seawall.store.sqlite import migrations as sqlite_migrations


def test_both_stores_have_migration_007():
    assert 7 in dict(sqlite_migrations()) and 7 in dict(postgres_migrations())


async def test_a_keys_policy_round_trips_beside_its_limits_and_usage(any_store):
    record = key_record(b"s" * 32, new_key(), "trimmer", rps=5, rpm=60, context_policy="trim", max_messages=100,
                        max_images=0, max_image_bytes=2048, max_body_bytes=65536)
    await any_store.insert_key(record)
    assert await any_store.load_keys() == [record]
    await any_store.add_usage([(record.id, 7, 0.5)])
    loaded = (await any_store.load_keys())[0]
    assert (loaded.rps, loaded.used_tokens, loaded.context_policy, loaded.max_images) == (5, 7, "trim", 0)
    await any_store.update_key(dataclasses.replace(loaded, context_policy=None, max_messages=5, max_body_bytes=None))
    again = (await any_store.load_keys())[0]
    assert (again.context_policy, again.max_messages, again.max_body_bytes, again.rpm) == (None, 5, None, 60)


async def test_a_groups_policy_round_trips(any_store):
    group = GroupRecord(name="team", created_at=1.0, rpm=5, context_policy="truncate_output", max_messages=20)
    await any_store.insert_group(group)
    assert await any_store.load_groups() == [group]
    await any_store.update_group(dataclasses.replace(group, max_body_bytes=1024, context_policy=None))
    loaded = (await any_store.load_groups())[0]
    assert (loaded.context_policy, loaded.max_messages, loaded.max_body_bytes, loaded.rpm) == (None, 20, 1024, 5)


async def test_a_key_created_without_them_reads_them_as_unset(any_store):
    await any_store.insert_key(key_record(b"s" * 32, new_key(), "old"))
    loaded = (await any_store.load_keys())[0]
    assert [loaded.context_policy, loaded.max_messages, loaded.max_images, loaded.max_image_bytes,
            loaded.max_body_bytes] == [None] * 5
