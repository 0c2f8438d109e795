"""The log's query parameters, cursors and chart numbers (console/log_query.py): table-driven."""

import pytest

from seawall.console.log_query import (
    MAX_BUCKETS,
    bucket_view,
    decode_cursor,
    encode_cursor,
    log_query,
    parse_time,
    percentile,
    stats_window,
)
from seawall.errors import SeawallError
from seawall.store.base import LATENCY_BOUNDS_MS, StatsBucket

NOW = 1_800_000_000.0
TIMES = [("15m", NOW - 900), ("2h", NOW - 7200), ("7d", NOW - 7 * 86400), ("1700000000", 1_700_000_000.0),
         ("2026-01-01T00:00:00Z", 1767225600.0), ("2026-01-01T01:00:00+01:00", 1767225600.0),
         ("2026-01-01T00:00:00", 1767225600.0)]


@pytest.mark.parametrize("text,expected", TIMES)
def test_times(text, expected):
    assert parse_time("since", text, NOW) == expected


def test_cursors_round_trip_and_garbage_is_named():
    assert decode_cursor(encode_cursor(1.5, "req_x")) == (1.5, "req_x")
    for bad in ("garbage", encode_cursor(1.5, "x")[:-3], "W1sxXV0"):
        with pytest.raises(SeawallError) as e:
            decode_cursor(bad)
        assert e.value.param == "cursor"


BAD = [({"limit": "0"}, "limit"), ({"limit": "201"}, "limit"), ({"limit": "ten"}, "limit"),
       ({"status": "5xy"}, "status"), ({"since": "yesterday"}, "since"), ({"until": "soon"}, "until"),
       ({"sort": "asc"}, "sort"), ({"cursor": "%%%"}, "cursor")]


@pytest.mark.parametrize("params,param", BAD, ids=[p for _, p in BAD])
def test_bad_parameters_are_refused_by_name(params, param):
    with pytest.raises(SeawallError) as e:
        log_query(params, NOW)
    assert e.value.param == param and e.value.status == 400


def test_a_query_from_parameters():
    q = log_query({"since": "1h", "status": "5xx", "category": "rate_limit", "model": "m", "tenant": "t",
                   "request_id": "", "limit": "10"}, NOW, key_id="key_a")
    assert (q.since, q.status, q.category, q.model, q.tenant, q.key_id, q.limit, q.request_id) == (
        NOW - 3600, "5xx", "rate_limit", "m", "t", "key_a", 10, None)


def test_stats_windows_are_bounded():
    assert stats_window({}, NOW) == (NOW - 3600, NOW, 60)
    since, until, bucket = stats_window({"since": "31d"}, NOW)
    assert (until - since) / bucket <= MAX_BUCKETS
    with pytest.raises(SeawallError):
        stats_window({"since": "60d"}, NOW)
    with pytest.raises(SeawallError):
        stats_window({"since": "1h", "until": "2h"}, NOW)


def test_percentiles_from_histograms():
    index = LATENCY_BOUNDS_MS.index
    assert percentile({}, 0.5) is None
    histogram = {index(10): 98, index(1000): 1, len(LATENCY_BOUNDS_MS): 1}
    assert percentile(histogram, 0.5) == 10.0 and percentile(histogram, 0.99) == 1000.0
    assert percentile(histogram, 1.0) == float(LATENCY_BOUNDS_MS[-1])  # past the last bound: the last bound
    view = bucket_view(StatsBucket(start=0, requests=3, errors={"a.b": 2}, latency={0: 3}))
    assert view["error_count"] == 2 and view["p50_ms"] == LATENCY_BOUNDS_MS[0] and view["ttft_p50_ms"] is None
