"""bench/report.py: the harness's rows in, Seawall's ratios and checklist out. No processes, no sockets."""
import importlib.util
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("bench_report", Path(__file__).parents[2] / "bench" / "report.py")
report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)


def row(target, mode, conns, rps, p50_us=1000, p99_us=2000, rss=None, errors=0):
    r = {"target": target, "mode": mode, "conns": conns, "rps": rps, "lat_p50_us": p50_us, "lat_p99_us": p99_us,
         "err_connect": 0, "err_read": 0, "err_write": 0, "err_status": errors, "err_timeout": 0}
    if rss is not None:
        r.update(cpu_pct=99.0, rss_mib=rss)
    return r


def rows(seawall_rps=(2000, 2000), seawall_rss=60.0, seawall_c1_p50=300):
    """direct, nginx, the minimal proxy and seawall in both modes at 1/32/128 connections."""
    out = []
    for mode in ("chat", "stream"):
        out += [row("direct", mode, 1, 40000, p50_us=20), row("direct", mode, 32, 50000),
                row("direct", mode, 128, 50000)]
        out += [row("nginx", mode, c, 40000, p50_us=60, rss=15.0) for c in (1, 32, 128)]
        out += [row(report.MINIMAL, mode, 1, 3000, p50_us=300, rss=45.0), row(report.MINIMAL, mode, 32, 4000, rss=45.0),
                row(report.MINIMAL, mode, 128, 3800, rss=46.0)]
        out += [row("seawall", mode, 1, 2000, p50_us=seawall_c1_p50, rss=seawall_rss),
                row("seawall", mode, 32, seawall_rps[0], rss=seawall_rss),
                row("seawall", mode, 128, seawall_rps[1], rss=seawall_rss)]
    return {"started": "20260101T000000Z", "args": {"warmup": 1, "duration": 3}, "versions": {}, "rows": out}


def by_name(summary):
    return {c["check"]: c for c in summary["checks"]}


def test_ratios_against_minimal_nginx_direct():
    s = report.summarize(rows())
    cell = s["targets"]["seawall"]["cells"]["chat@32"]
    assert (cell["rps_vs_minimal"], cell["rps_vs_nginx"], cell["rps_vs_direct"]) == (0.5, 0.05, 0.04)
    assert s["targets"]["seawall"]["added_p50_us"] == {"chat": 280, "stream": 280}
    assert s["targets"][report.MINIMAL]["rps_128_over_32"]["chat"] == 0.95
    assert list(s["targets"])[0] == "seawall"


CASES = [  # id, rows, check name, expected pass
    ("half the minimal proxy passes", rows(seawall_rps=(2000, 2000)), "chat RPS @c=32 vs uvicorn-asgi-aiohttp", True),
    ("below half fails", rows(seawall_rps=(1999, 1999)), "stream RPS @c=32 vs uvicorn-asgi-aiohttp", False),
    ("drop to 89 % at c=128 fails", rows(seawall_rps=(2000, 1780)), "chat RPS c=128 / c=32", False),
    ("90 % at c=128 passes", rows(seawall_rps=(2000, 1800)), "stream RPS c=128 / c=32", True),
    ("500 µs added passes", rows(seawall_c1_p50=520), "chat added p50 @c=1 over direct (µs)", True),
    ("501 µs added fails", rows(seawall_c1_p50=521), "stream added p50 @c=1 over direct (µs)", False),
    ("100 MiB fails", rows(seawall_rss=100.0), "peak RSS @c=128 (MiB)", False),
]


@pytest.mark.parametrize("results,name,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_checks(results, name, expected):
    assert by_name(report.summarize(results))[name]["passed"] is expected


def test_failed_and_empty_cells_fail_the_run_check():
    r = rows()
    r["rows"] = [x for x in r["rows"] if not (x["target"] == "seawall" and x["conns"] == 128)]
    r["rows"] += [{"target": "seawall", "mode": "chat", "conns": 128, "error": "HTTP 502"},
                  row("seawall", "stream", 128, 0)]
    s = report.summarize(r)
    assert s["targets"]["seawall"]["cells"]["chat@128"] == {"failed": "HTTP 502"}
    assert by_name(s)["every cell ran, no wrk errors"]["passed"] is False
    assert by_name(s)["chat RPS c=128 / c=32"]["passed"] is None  # n/a, not a pass
    assert "FAILED: HTTP 502" in report.markdown(s)


def test_wrk_skipped_still_reports_ttfb():
    ttfb = {"summary": {"baseline": "direct", "targets": {
        "direct": {"gap_mean_ms": 20.0},
        "seawall": {"gap_mean_ms": 20.4, "first_transit_p50_ms": 0.6,
                    "vs_baseline": {"first_chunk_diff_p50_ms": 1.6}}}}}
    s = report.summarize({"rows": []}, ttfb=ttfb)
    checks = by_name(s)
    assert checks["wrk phase: seawall measured"]["passed"] is None
    assert checks[report.FIRST_CHUNK_CHECK]["passed"] is True
    assert checks[report.FIRST_CHUNK_CHECK]["value"] == 0.6
    assert checks["mean chunk gap through gateway / direct (no buffering)"]["value"] == 1.02


def test_ttfb_missing_is_not_a_pass():
    s = report.summarize(rows(), ttfb={"error": "simulator did not start"})
    assert by_name(s)[report.FIRST_CHUNK_CHECK] == {
        "check": report.FIRST_CHUNK_CHECK, "goal": "<= 1.0", "value": "simulator did not start",
        "passed": None, "minimal_proxy": None}
    assert "**n/a**" in report.markdown(s)


@pytest.mark.parametrize("transit, passed", [(1.2, False), (None, None)])
def test_first_chunk_is_timed_from_the_upstream(transit, passed):
    """A slow transit fails; an upstream that stamps nothing is not measured (n/a), never a pass."""
    ttfb = {"summary": {"baseline": "direct", "targets": {
        "direct": {"gap_mean_ms": 20.0, "first_transit_p50_ms": 0.1},
        "seawall": {"gap_mean_ms": 20.0, "first_transit_p50_ms": transit,
                    "vs_baseline": {"first_chunk_diff_p50_ms": 0.5}}}}}
    assert by_name(report.summarize(rows(), ttfb=ttfb))[report.FIRST_CHUNK_CHECK]["passed"] is passed


def test_idle_nginx_warns_of_a_busy_machine():
    r = rows()
    for x in r["rows"]:
        if x["target"] == "nginx" and x["conns"] == 32 and x["mode"] == "chat":
            x["cpu_pct"] = 50.0
    assert report.machine_warnings(report.summarize(r)) == [
        "nginx chat @c=32 ran at 50.0 % CPU (93-97 % on a quiet machine): something else probably used core 0 or 1 "
        "during this run; treat its figures with suspicion and run again."]
    assert report.machine_warnings(report.summarize(rows())) == []


def test_slow_nginx_at_c1_warns_of_a_busy_host():
    r = rows()
    for x in r["rows"]:
        if x["target"] == "nginx" and x["conns"] == 1 and x["mode"] == "stream":
            x["lat_p50_us"] = 700  # direct's is 20: nginx added 680 µs
    warnings = report.machine_warnings(report.summarize(r))
    assert len(warnings) == 1 and warnings[0].startswith("nginx added 680 µs p50 to stream @c=1")
