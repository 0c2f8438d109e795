"""bench/ttfb.py's pure parts: HTTP head, SSE splitting, percentiles, paired stream comparison."""
import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("bench_ttfb", Path(__file__).parents[2] / "bench" / "ttfb.py")
ttfb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ttfb)


def test_parse_head():
    status, headers = ttfb.parse_head(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                      b"Transfer-Encoding: chunked\r\n\r\n")
    assert status == 200
    assert headers == {"content-type": "text/event-stream", "transfer-encoding": "chunked"}


def test_sse_events_split_across_reads_and_crlf():
    ev = ttfb.SseEvents()
    assert ev.feed(b'data: {"a":1}\n\ndata: {"b"') == ['{"a":1}']
    assert ev.feed(b':2}\r\n\r\n: comment\n\nevent: x\ndata: [DONE]\n\n') == ['{"b":2}', "[DONE]"]


def test_percentile_interpolates():
    assert ttfb.percentile([1, 2, 3, 4], 50) == 2.5
    assert ttfb.percentile([5], 99) == 5
    assert ttfb.percentile([], 50) is None


def stream(arrivals, status=200, transits=()):
    return {"status": status, "arrivals_s": arrivals, "done": True, "total_s": arrivals[-1] if arrivals else 0,
            "transits_s": list(transits)}


def test_streaming_gateway_adds_a_constant():
    direct = [stream([0.001, 0.021, 0.041]), stream([0.001, 0.021, 0.041])]
    gw = [stream([0.0015, 0.0215, 0.0415]), stream([0.002, 0.022, 0.042])]
    s = ttfb.summarize(["direct", "seawall"], {"direct": direct, "seawall": gw})
    vs = s["targets"]["seawall"]["vs_baseline"]
    assert (vs["pairs"], vs["first_chunk_diff_p50_ms"], vs["chunk_lag_p50_ms"]) == (2, 0.75, 0.75)
    assert s["targets"]["seawall"]["gap_mean_ms"] == s["targets"]["direct"]["gap_mean_ms"] == 20.0
    assert s["targets"]["seawall"]["bunched_gaps_pct"] == 0


def test_buffering_gateway_shows_bunched_gaps():
    direct = [stream([0.001, 0.021, 0.041])]
    gw = [stream([0.0415, 0.0416, 0.0417])]  # everything at the end
    s = ttfb.summarize(["direct", "seawall"], {"direct": direct, "seawall": gw})
    assert s["targets"]["seawall"]["bunched_gaps_pct"] == 100
    assert s["targets"]["seawall"]["vs_baseline"]["first_chunk_diff_p50_ms"] == 40.5


def test_failed_streams_are_left_out_of_pairs():
    direct = [stream([0.001, 0.021]), stream([0.001, 0.021])]
    gw = [stream([], status=502), stream([0.002, 0.022])]
    s = ttfb.summarize(["direct", "seawall"], {"direct": direct, "seawall": gw})
    assert s["targets"]["seawall"]["ok"] == 1
    assert s["targets"]["seawall"]["vs_baseline"]["pairs"] == 1


def test_transit_from_the_upstreams_stamp():
    """The first chunk's upstream-to-client time, per target, from stamped events only."""
    direct = [stream([0.001, 0.021], transits=[0.0001, 0.0002]), stream([0.001, 0.021], transits=[0.0003, 0.0001])]
    gw = [stream([0.002, 0.022], transits=[0.0006, 0.0005]), stream([0.002, 0.022])]  # the second: no stamps
    s = ttfb.summarize(["direct", "seawall"], {"direct": direct, "seawall": gw})["targets"]
    assert (s["direct"]["stamped_streams"], s["direct"]["first_transit_p50_ms"]) == (2, 0.2)
    assert (s["seawall"]["stamped_streams"], s["seawall"]["first_transit_p50_ms"]) == (1, 0.6)
    assert s["seawall"]["transit_p50_ms"] == 0.55


def test_stamp_is_read_from_an_event():
    assert ttfb.SENT_STAMP.search('{"x_sim_sent_ns":123456789,"id":"c"}').group(1) == "123456789"
