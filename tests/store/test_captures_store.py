"""Captured bodies, keyset pages and chart statistics of the request log (migration 009), the
same in SQLite and PostgreSQL (`any_store` runs each test against both)."""

import time

import pytest
from seawall.store.base import LATENCY_BOUNDS_MS, CaptureRecord, LogQuery, RequestRecord


def row(request_id: str, status: int, ts: float, latency_ms: float = 1.5, **kw) -> RequestRecord:
    return RequestRecord(request_id=request_id, ts=ts, method="POST", path="/v1/chat/completions", status=status,
                         latency_ms=latency_ms, **kw)


async def test_captures_round_trip_replace_and_prune(any_store):
    await any_store.write_captures([CaptureRecord("req_old", 100.0, "key_a", '{"v": 1, "old": true}'),
                                    CaptureRecord("req_new", 200.0, None, '{"v": 1, "\\u0000": "nul"}')])
    got = await any_store.get_capture("req_new")
    assert got == CaptureRecord("req_new", 200.0, None, '{"v": 1, "\\u0000": "nul"}')
    await any_store.write_captures([CaptureRecord("req_old", 100.0, "key_a", '{"v": 2}')])  # a retried batch
    assert (await any_store.get_capture("req_old")).data == '{"v": 2}'
    assert await any_store.prune_captures(150.0) == 1
    assert await any_store.get_capture("req_old") is None and await any_store.get_capture("req_nope") is None
    assert (await any_store.get_capture("req_new")).key_id is None


async def test_pages_are_keyset_newest_first_and_filters_combine(any_store):
    rows = [row(f"req_{i:03d}", 200 if i % 3 else 502, ts=1000.0 + i // 2, key_id="key_a" if i % 2 else "key_b",
                tenant="acme" if i < 10 else None, category=None if i % 3 else "upstream.server_error",
                model_requested="m1" if i < 20 else "m2") for i in range(30)]
    rows.append(row("req_rl", 429, ts=2000.0, category="rate_limit.tokens", key_id="key_a"))
    await any_store.write_requests(rows)
    seen, before = [], None
    while True:  # ts ties (two rows per second) are broken by request_id, so no row is lost or repeated
        page = await any_store.query_requests(LogQuery(limit=4, before=before))
        seen += [r.request_id for r in page]
        if len(page) < 4:
            break
        before = (page[-1].ts, page[-1].request_id)
    assert seen == ["req_rl"] + [f"req_{i:03d}" for i in reversed(range(30))]

    async def ids(**kw):
        return [r.request_id for r in await any_store.query_requests(LogQuery(limit=100, **kw))]

    assert await ids(key_id="key_a", tenant="acme") == ["req_009", "req_007", "req_005", "req_003", "req_001"]
    assert await ids(category="upstream") == [f"req_{i:03d}" for i in (27, 24, 21, 18, 15, 12, 9, 6, 3, 0)]
    assert await ids(category="rate_limit") == await ids(category="rate_limit.tokens") == ["req_rl"]
    assert await ids(category="rate_limit.requests") == []
    assert await ids(since=1005.0, until=1007.0, model="m1") == ["req_013", "req_012", "req_011", "req_010"]
    assert await ids(status="5xx", key_id="key_b", until=1003.0) == ["req_000"]


async def test_stats_group_by_bucket_with_latency_histograms(any_store):
    now = time.time()
    start = now - 120
    await any_store.write_requests([
        row("req_1", 200, start + 1, latency_ms=3.0, prompt_tokens=10, completion_tokens=5, cost_usd=0.5, key_id="k1"),
        row("req_2", 200, start + 2, latency_ms=700.0, streamed=True, ttfb_ms=40.0, key_id="k2"),
        row("req_3", 429, start + 3, latency_ms=1.0, category="rate_limit.requests", key_id="k1"),
        row("req_4", 502, start + 70, latency_ms=20.0, category="upstream.bad_gateway", prompt_tokens=1,
            completion_tokens=0, key_id="k1"),
        row("req_out", 200, start - 5),  # before the window
    ])
    first, second = await any_store.request_stats(start, now, 60)
    assert (first.start, first.requests, first.errors) == (start, 3, {"rate_limit.requests": 1})
    assert (first.prompt_tokens, first.completion_tokens, first.cost_usd) == (10, 5, 0.5)
    assert first.latency == {0: 2, LATENCY_BOUNDS_MS.index(1000): 1} and first.ttfb == {LATENCY_BOUNDS_MS.index(50): 1}
    assert (second.start, second.requests, second.errors) == (start + 60, 1, {"upstream.bad_gateway": 1})
    mine = await any_store.request_stats(start, now, 60, key_id="k2")
    assert [(b.requests, b.ttfb) for b in mine] == [(1, {LATENCY_BOUNDS_MS.index(50): 1})]
    assert await any_store.request_stats(now + 10, now + 20, 60) == []


@pytest.mark.parametrize("bad", ["bad", "12x"])
async def test_a_bad_status_filter_is_refused(any_store, bad):
    with pytest.raises(ValueError, match="use a code"):
        await any_store.query_requests(LogQuery(status=bad))
