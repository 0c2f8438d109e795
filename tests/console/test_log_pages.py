"""A log filter that matches a million rows is paged like any other: each page is 50 rows, found
in milliseconds whatever the filter (SQLite's plan is checked to walk an index, never to sort a
million rows), and the cursor walks on without repeating or skipping a row."""

import sqlite3
import time

import pytest

from seawall.console.support import Support
from seawall.decide.ownership import ADMIN, Viewer
from seawall.store.sqlite import SQLiteStore, _log_query
from seawall.store.base import LogQuery

MILLION = 1_000_000


@pytest.fixture(scope="module")
def million(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("million") / "seawall.db")
    import asyncio

    async def migrate():
        store = SQLiteStore(path)
        await store.open()
        await store.close()

    asyncio.run(migrate())
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")  # a fixture: durability is not the point
    # Made inside SQLite (a recursive CTE), not bound from Python row by row.
    db.execute(f"""WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {MILLION - 1})
        INSERT INTO request_log (request_id, ts, method, path, status, latency_ms, key_id, category, model_requested)
        SELECT printf('req_%012d', i), 1e9 + i / 2, 'POST', '/v1/chat/completions', 500 + i % 4, 1.0,
               CASE i % 2 WHEN 0 THEN 'key_b' ELSE 'key_a' END, 'upstream.server_error', 'gpt-4o-mini' FROM n""")
    db.commit()
    db.close()
    return path


FILTERS = [{}, {"status": "5xx"}, {"status": "error"}, {"status": "503"}, {"category": "upstream"},
           {"category": "upstream.server_error"}, {"model": "gpt-4o-mini"}, {"since": "0", "until": "2e9"}]


@pytest.mark.parametrize("params", FILTERS, ids=[str(f) for f in FILTERS])
async def test_a_million_matches_are_paged(million, params):
    store = SQLiteStore(million)
    await store.open()
    try:
        support = Support(store, None, None, {}, None, None, None)
        seen: list[str] = []
        page = {"next_cursor": None}
        for _ in range(3):
            cursor = {"cursor": page["next_cursor"]} if page["next_cursor"] else {}
            started = time.perf_counter()
            page = await support.list_requests({**params, **cursor}, ADMIN)
            assert time.perf_counter() - started < 2.0  # milliseconds when idle; generous for a loaded CI host
            assert len(page["data"]) == 50 and page["has_more"]
            seen += [r["request_id"] for r in page["data"]]
        assert len(set(seen)) == 150 and seen == sorted(seen, reverse=True)
    finally:
        await store.close()


async def test_a_key_owner_pages_only_its_own_rows(million):
    store = SQLiteStore(million)
    await store.open()
    try:
        page = await Support(store, None, None, {}, None, None, None).list_requests(
            {"key": "key_b", "limit": "200"}, Viewer("key_a"))  # the key parameter can't widen an owner's view
        assert len(page["data"]) == 200 and {r["key_id"] for r in page["data"]} == {"key_a"}
    finally:
        await store.close()


@pytest.mark.parametrize("params", [{"status": "5xx"}, {"category": "upstream"}])
def test_dense_range_filters_walk_the_time_index(million, params):
    db = sqlite3.connect(million)
    query = LogQuery(limit=51, before=(1e9 + 400000, "req_000000800000"), status=params.get("status"),
                     category=params.get("category"))
    sql, args = _log_query(query, dense=True)
    plan = " ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, args))
    assert "request_log_ts" in plan and "B-TREE FOR ORDER BY" not in plan  # ties only: "FOR RIGHT PART OF"
    db.close()
