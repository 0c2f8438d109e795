"""Stopping: SIGTERM drains within server.drain_timeout_s, then ends what is still in flight in its
dialect (a stream's error event, a 503 with Retry-After) and logs it as cut by shutdown; kill -9
loses at most about one request_log.flush_interval_s of request-log rows and quota spending,
and never counts anything twice."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time

import pytest
from admin_cli import new_key
from conftest import http, start_gateway, start_simulator

DRAIN_S = 2
FLUSH_S = 0.5


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    sim = start_simulator(tmp_path_factory, "shutdown-sim")
    yield sim
    sim.proc.stop()


def config(sim_port: int) -> str:
    dep = (f"      - provider: openai\n        base_url: http://127.0.0.1:{sim_port}/v1\n        model: {{m}}\n"
           "        api_key_env: SIM_KEY\n        timeouts: {{read_s: 60, keepalive_s: 0.5}}\n")
    # a slow key-cache refresh must not slow the quota's writes (they once shared its interval)
    return (f"server:\n  drain_timeout_s: {DRAIN_S}\nrequest_log:\n  flush_interval_s: {FLUSH_S}\n"
            "auth:\n  refresh_interval_s: 5\n"
            f"models:\n  - name: gpt-4o-mini\n    deployments:\n{dep.format(m='gpt-4o-mini')}"
            f"  - name: gpt-4o\n    deployments:\n{dep.format(m='gpt-4o')}")


def test_sigterm_drains_then_ends_streams_with_an_error_event(tmp_path_factory, upstream):
    upstream.set_faults([{"match": {"model": "gpt-4o-mini"}, "fault": "think_ms=20000"},  # a 20 s first token
                         {"match": {"model": "gpt-4o"}, "fault": "latency_ms=20000"}])
    gw = start_gateway(tmp_path_factory, config(upstream.port), "shutdown-gateway")
    try:
        got: dict[str, tuple[int, dict, bytes]] = {}

        def call(name: str, model: str, stream: bool) -> None:
            got[name] = http("POST", gw.base_url + "/chat/completions",
                             {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]},
                             {"authorization": f"Bearer {gw.key}"}, timeout=30)

        threads = [threading.Thread(target=call, args=("stream", "gpt-4o-mini", True)),
                   threading.Thread(target=call, args=("plain", "gpt-4o", False))]
        for t in threads:
            t.start()
        time.sleep(1)  # both in flight, the stream already sending keep-alives
        started = time.monotonic()
        gw.proc.popen.send_signal(signal.SIGTERM)
        gw.proc.popen.wait(DRAIN_S + 10)
        took = time.monotonic() - started
        for t in threads:
            t.join(5)
        assert DRAIN_S - 0.5 < took < DRAIN_S + 6, took  # waited for the drain, not for the 20 s answers
        status, _, body = got["stream"]
        assert status == 200
        last = [line for line in body.decode().splitlines() if line.startswith("data:")][-1]
        error = json.loads(last.removeprefix("data:"))["error"]
        assert error["code"] == "stream_shutdown" and error["category"] == "stream.interrupted"
        status, headers, body = got["plain"]
        assert status == 503 and headers["retry-after"] == "1"
        assert json.loads(body)["error"]["code"] == "not_ready"
        rows = gw.logs()
        assert {r["stream_end"] for r in rows if r["streamed"]} == {"shutdown"}
        assert any(r["status"] == 503 and r["model_requested"] == "gpt-4o" for r in rows)
        assert "ended 2 request(s) still in flight after server.drain_timeout_s" in gw.proc.output()
    finally:
        upstream.reset()
        gw.proc.stop()


def test_sigterm_with_nothing_in_flight_stops_at_once(tmp_path_factory, upstream):
    gw = start_gateway(tmp_path_factory, config(upstream.port), "shutdown-idle-gateway")
    assert http("POST", gw.base_url + "/chat/completions",
                {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                {"authorization": f"Bearer {gw.key}"})[0] == 200
    started = time.monotonic()
    gw.proc.stop()
    assert time.monotonic() - started < DRAIN_S and len(gw.logs()) == 1  # the last rows were written


def test_kill_9_loses_at_most_about_one_flush_interval(tmp_path_factory, upstream):
    gw = start_gateway(tmp_path_factory, config(upstream.port), "kill9-gateway")
    made = new_key(gw, "--quota-tokens", "100000000")
    done: list[tuple[float, str, int]] = []  # (when answered, request id, tokens charged)
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            try:
                status, headers, body = http("POST", gw.base_url + "/chat/completions",
                                             {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                                             {"authorization": f"Bearer {made['key']}"})
            except OSError:
                return  # killed
            if status == 200:
                done.append((time.monotonic(), headers["x-request-id"], json.loads(body)["usage"]["total_tokens"]))

    workers = [threading.Thread(target=traffic) for _ in range(4)]
    for w in workers:
        w.start()
    time.sleep(3)
    killed_at = time.monotonic()
    gw.proc.popen.send_signal(signal.SIGKILL)
    gw.proc.popen.wait(10)
    stop.set()
    for w in workers:
        w.join(10)
    db = sqlite3.connect(f"{gw.data_dir}/seawall.db")
    logged = {row[0] for row in db.execute("SELECT request_id FROM request_log")}
    used = db.execute("SELECT used_tokens FROM api_keys WHERE id = ?", (made["id"],)).fetchone()[0]
    db.close()
    # one interval to wait for, one for the write under way, and one of slack for a loaded machine
    settled = [(rid, tokens) for t, rid, tokens in done if t < killed_at - 3 * FLUSH_S]
    lost = [rid for rid, _ in settled if rid not in logged]
    assert settled and not lost, f"{len(lost)} of {len(settled)} rows answered before the bound were lost"
    assert sum(tokens for _, tokens in settled) <= used <= sum(tokens for _, _, tokens in done)
    print(f"kill -9 after {len(done)} requests: {len(done) - len(logged & {r for _, r, _ in done})} rows "
          f"and {sum(t for _, _, t in done) - used} tokens of spending lost")
    gw.proc.stop()
