import os
import sqlite3
import threading
import time

import pytest

from seawall.keyring import hash_key, key_record, new_key
from seawall.store.base import LogQuery, RequestRecord
from seawall.store.sqlite import migrations


def row(request_id: str, status: int = 200, ts: float | None = None, **kw) -> RequestRecord:
    return RequestRecord(request_id=request_id, ts=ts or time.time(), method="POST", path="/v1/chat/completions",
                         status=status, latency_ms=1.5, **kw)


async def test_migrations_apply_once_and_use_wal(tmp_path, store):
    assert await store.migrate() == []  # already applied at open
    db = sqlite3.connect(tmp_path / "seawall.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    versions = [v for (v,) in db.execute("SELECT version FROM schema_migrations")]
    assert versions == [v for v, _ in migrations()]


async def test_keys_are_stored_as_hashes_only(tmp_path, store):
    secret, key = b"s" * 32, new_key()
    await store.insert_key(key_record(secret, key, "ci", tenant="acme"))
    (k,) = await store.load_keys()
    assert k.key_hash == hash_key(secret, key) and k.tenant == "acme" and k.last4 == key[-4:]
    dump = (tmp_path / "seawall.db").read_bytes() + (tmp_path / "seawall.db-wal").read_bytes()
    assert key.encode() not in dump and key[10:].encode() not in dump


async def test_revoke_by_name(store):
    secret = b"s" * 32
    await store.insert_key(key_record(secret, new_key(), "demo"))
    await store.insert_key(key_record(secret, new_key(), "other"))
    assert await store.revoke_keys_named("demo", 123.0) == 1
    revoked = {k.name: k.revoked_at for k in await store.load_keys()}
    assert revoked == {"demo": 123.0, "other": None}


async def test_key_fields_groups_and_meta_round_trip(store):
    import dataclasses

    from seawall.store.base import GroupRecord

    secret = b"s" * 32
    record = key_record(secret, new_key(), "svc", group="team", models=["gpt-4o*"], ip_allowlist=["10.0.0.0/8"],
                        quota_tokens=100, quota_usd=1.5, metadata={"owner": "ana"})
    await store.insert_key(record)
    assert await store.load_keys() == [record]
    changed = dataclasses.replace(record, models=[], enabled=False, revoked_at=5.0, updated_at=6.0)
    await store.update_key(changed)
    assert await store.load_keys() == [changed]
    group = GroupRecord(name="team", created_at=1.0, models=["gpt-*"], quota_tokens=10, metadata={"a": 1})
    await store.insert_group(group)
    await store.update_group(dataclasses.replace(group, quota_usd=2.0))
    assert await store.load_groups() == [dataclasses.replace(group, quota_usd=2.0)]
    assert await store.get_meta("admin_key_hash") is None
    await store.set_meta("admin_key_hash", "abc")
    await store.set_meta("admin_key_hash", "def")
    assert await store.get_meta("admin_key_hash") == "def"


async def test_request_log_round_trip_and_filters(store):
    now = time.time()
    await store.write_requests([
        row("req_a", 200, now - 3600, attempts=2, attempts_detail=[{"deployment": "d1", "status": 503}, {"deployment": "d2"}],
            streamed=True, stream_end="completed", model_requested="gpt-4o-mini"),
        row("req_b", 429, now - 10, category="rate_limit.requests", model_requested="gpt-4o"),
        row("req_c", 502, now - 5, category="upstream.bad_gateway", model_requested="gpt-4o"),
    ])
    (a,) = await store.query_requests(LogQuery(request_id="req_a"))
    assert a.attempts_detail[0]["status"] == 503 and a.streamed is True and a.stream_end == "completed"
    assert [r.request_id for r in await store.query_requests(LogQuery())] == ["req_c", "req_b", "req_a"]
    assert [r.request_id for r in await store.query_requests(LogQuery(status="4xx"))] == ["req_b"]
    assert [r.request_id for r in await store.query_requests(LogQuery(status="error"))] == ["req_c", "req_b"]
    assert [r.request_id for r in await store.query_requests(LogQuery(status="502"))] == ["req_c"]
    assert [r.request_id for r in await store.query_requests(LogQuery(since=now - 60, model="gpt-4o"))] == ["req_c", "req_b"]
    with pytest.raises(ValueError, match="use a code"):
        await store.query_requests(LogQuery(status="bad"))




async def test_request_cost_round_trips_and_unknown_stays_null(store):
    await store.write_requests([row("req_priced", 200, 1.0, cost_usd=0.000123456789), row("req_free", 200, 2.0)])
    (free, priced) = await store.query_requests(LogQuery())
    assert priced.cost_usd == pytest.approx(0.000123456789, rel=1e-12) and free.cost_usd is None


async def test_batches_across_insert_chunks_are_written_whole(store):
    rows = [row(f"req_{i:04d}", 200 + i % 3, ts=1000.0 + i) for i in range(150)]  # 64 + 64 + 22
    await store.write_requests(rows)
    got = await store.query_requests(LogQuery(limit=1000))
    assert len(got) == 150 and got[0].request_id == "req_0149" and got[-1].request_id == "req_0000"
    assert {r.status for r in got} == {200, 201, 202}


def test_batches_use_a_fixed_set_of_statement_sizes():
    from seawall.store.sqlite import _chunks

    assert _chunks(537) == [100] * 5 + [20, 5, 5, 5, 1, 1]
    assert all(sum(_chunks(n)) == n for n in range(0, 2000, 7))
    assert {size for n in range(1, 1200) for size in _chunks(n)} == {100, 20, 5, 1}


async def test_rate_limits_round_trip(store):
    import dataclasses

    from seawall.store.base import GroupRecord

    record = key_record(b"s" * 32, new_key(), "limited", rpm=60, tpm=10_000, max_concurrency=4)
    await store.insert_key(record)
    assert await store.load_keys() == [record]
    await store.update_key(dataclasses.replace(record, rpm=None))
    assert (await store.load_keys())[0].rpm is None
    group = GroupRecord(name="team", created_at=1.0, rpm=5, tpm=None, max_concurrency=2)
    await store.insert_group(group)
    assert await store.load_groups() == [group]


async def test_the_writer_thread_yields_the_cpu_to_the_event_loop(tmp_path):
    """Its batches must not take turns with the loop on a busy core (store/sqlite.py WRITER_NICENESS)."""
    from seawall.store.sqlite import WRITER_NICENESS, SQLiteStore

    store = SQLiteStore(str(tmp_path / "seawall.db"))
    await store.open()
    try:
        mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        writer = await store._run(lambda db: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    finally:
        await store.close()
    assert writer == min(mine + WRITER_NICENESS, 19)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the loop's own is untouched
