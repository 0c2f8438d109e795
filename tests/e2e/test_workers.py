"""`seawall serve --workers 2`, end to end: two worker processes serve one port under a
supervisor; a worker killed with SIGKILL under load fails only what it held and comes back; SIGTERM
drains them all and exits 0; a worker whose event loop is blocked is killed (its heartbeat stopped)
and replaced; a worker stopped alone by SIGTERM leaves its last counts in /metrics; a key's rpm
holds across both workers (Redis); /metrics counts the whole gateway; more than one worker without
Redis is refused with the fix.

Which worker answered is read from /readyz's pid, asked first on the same keep-alive connection
as the request that follows it: the kernel picks a worker per connection (SO_REUSEPORT).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection, HTTPException

import pytest
from admin_cli import new_key
from conftest import BOOTSTRAP_KEY, free_port, http, start_gateway, start_simulator
from test_redis_limits import RedisServer

WORKERS_LINE = re.compile(r"^Workers: 2 processes \(pids (\d+), (\d+)\)", re.M)
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    sim = start_simulator(tmp_path_factory, "workers-sim")
    yield sim
    sim.proc.stop()


@pytest.fixture(scope="module")
def redis_url():
    server = RedisServer().start()
    yield server.url
    server.stop()


def config(sim_port: int, extra: str = "", server: str = "") -> str:
    return (extra + "server:\n  drain_timeout_s: 3\n" + server + "auth:\n  refresh_interval_s: 0.2\n"
            "request_log:\n  flush_interval_s: 0.1\n"
            "models:\n  - name: gpt-4o-mini\n    deployments:\n"
            f"      - provider: openai\n        base_url: http://127.0.0.1:{sim_port}/v1\n"
            "        model: gpt-4o-mini\n        api_key_env: SIM_KEY\n"
            "        circuit: {failures_to_open: 1000, take_out_refused: false}\n")


def start_workers(tmp_path_factory, upstream, redis_url: str, name: str, extra: str = "", server: str = "",
                  env: dict | None = None):
    gw = start_gateway(tmp_path_factory, config(upstream.port, extra, server), name, env=env,
                       args=("--workers", "2", "--redis", redis_url, "--console-port", "0"))
    deadline = time.monotonic() + 30
    while not (found := WORKERS_LINE.search(gw.proc.output())) and time.monotonic() < deadline:
        time.sleep(0.05)  # the supervisor prints its banner once both workers serve
    assert found, gw.proc.output()
    return gw, {int(found.group(1)), int(found.group(2))}


def worker_then_call(port: int, key: str, timeout: float = 20, seen=None) -> tuple[int | None, int | None]:
    """On one new connection: which worker holds it (/readyz's pid), then a chat call's status.
    (pid, None) or (None, None) when the connection broke before an answer."""
    conn = HTTPConnection("127.0.0.1", port, timeout=timeout)
    pid = None
    try:
        conn.request("GET", "/readyz")
        pid = json.loads(conn.getresponse().read())["pid"]
        if seen is not None:
            seen(pid)
        conn.request("POST", "/v1/chat/completions", json.dumps(CHAT),
                     {"authorization": f"Bearer {key}", "content-type": "application/json"})
        reply = conn.getresponse()
        reply.read()
        return pid, reply.status
    except (OSError, HTTPException, ValueError):
        return pid, None
    finally:
        conn.close()


def limited_key(gw, pids: set[int], rpm: int) -> str:
    """A key made through the admin API (one worker), once every worker knows it: the others
    load it within auth.refresh_interval_s, as other gateways on one store do."""
    key = new_key(gw, "--rpm", str(rpm))["key"]
    known: set[int] = set()
    deadline = time.monotonic() + 10
    while known != pids and time.monotonic() < deadline:
        conn = HTTPConnection("127.0.0.1", gw.port, timeout=5)
        try:
            conn.request("GET", "/readyz")
            pid = json.loads(conn.getresponse().read())["pid"]
            conn.request("GET", "/v1/models", headers={"authorization": f"Bearer {key}"})
            reply = conn.getresponse()
            reply.read()
            if reply.status == 200:
                known.add(pid)
        finally:
            conn.close()
    assert known == pids
    return key


def at_once(count: int, call) -> list:
    results: list = [None] * count
    gate = threading.Barrier(count)

    def one(i: int) -> None:
        gate.wait()
        results[i] = call()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ")[1][0] != "Z"


def requests_counted(gw) -> float:
    _, _, body = http("GET", gw.url + "/metrics")
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.decode().splitlines()
               if line.startswith("seawall_requests_total{") and 'model="gpt-4o-mini"' in line)


def test_two_workers_serve_one_port_and_one_rpm_limit(tmp_path_factory, upstream, redis_url):
    gw, pids = start_workers(tmp_path_factory, upstream, redis_url, "workers-rpm")
    try:
        key = limited_key(gw, pids, 20)
        results = at_once(80, lambda: worker_then_call(gw.port, key))
        assert {pid for pid, _ in results} == pids  # both workers answered, on one port
        statuses = [status for _, status in results]
        assert statuses.count(200) == 20 and statuses.count(429) == 60, statuses
        by_worker = {pid: [s for p, s in results if p == pid] for pid in pids}
        assert all(statuses for statuses in by_worker.values())
        # /metrics, wherever the scrape lands, counts both workers' requests
        deadline = time.monotonic() + 20
        while requests_counted(gw) < 80 and time.monotonic() < deadline:
            time.sleep(0.2)  # another worker's counts reach the scrape within METRICS_COPY_S (5 s)
        assert requests_counted(gw) == 80
        # the console, on its own port, is served by worker 1 (the supervisor holds its socket)
        console = re.search(r"^Console: (\S+)", gw.proc.output(), re.M).group(1)
        status, _, page = http("GET", console)
        assert status == 200 and b"<form" in page
        # both workers write one SQLite request log
        deadline = time.monotonic() + 10
        while len(rows := gw.logs("--model", "gpt-4o-mini", "--limit", "200")) < 80 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sorted(r["status"] for r in rows).count(429) == 60 and len(rows) == 80
    finally:
        gw.proc.stop()


def test_a_killed_worker_fails_only_what_it_held_and_comes_back(tmp_path_factory, upstream, redis_url):
    upstream.set_faults([{"match": {"model": "gpt-4o-mini"}, "fault": "latency_ms=300"}])
    gw, pids = start_workers(tmp_path_factory, upstream, redis_url, "workers-kill")
    try:
        victim = min(pids)
        survivor = max(pids)
        results: list[tuple[float, int | None, int | None]] = []
        killed_at: list[float] = []
        stop = threading.Event()

        def client() -> None:
            while not stop.is_set():
                pid, status = worker_then_call(gw.port, BOOTSTRAP_KEY)
                results.append((time.monotonic(), pid, status))

        clients = [threading.Thread(target=client) for _ in range(16)]
        for t in clients:
            t.start()
        deadline = time.monotonic() + 30
        while sum(1 for _, pid, _ in results if pid == victim) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)  # the load reaches both workers
        killed_at.append(time.monotonic())
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        back = None
        while back is None and time.monotonic() < deadline:
            back = next((pid for _, pid, status in results[-50:] if pid not in pids and status == 200), None)
            time.sleep(0.1)
        stop.set()
        for t in clients:
            t.join(30)
        assert back is not None, gw.proc.output()  # a new worker process took the dead one's place
        failed = [(pid, status) for _, pid, status in results if status != 200]
        # only what the killed worker held: its requests in flight (16 clients: at most 16), and a
        # connection a client made again while the kill was under way, still landing in the dying
        # worker's accept queue (no pid): at most one more per client
        assert failed and len(failed) <= 2 * len(clients), failed
        assert all(pid in (victim, None) for pid, _ in failed), failed
        after = [(pid, status) for t, pid, status in results if t > killed_at[0] and pid == survivor]
        assert after and all(status == 200 for _, status in after)  # the other worker kept serving
        assert re.search(r"\[supervisor\] seawall: worker \d \(pid %d\) was killed by SIGKILL" % victim,
                         gw.proc.output())
        assert re.search(r"\[worker [12]\] ", gw.proc.output())  # each worker's lines say which it is
    finally:
        upstream.reset()
        gw.proc.stop()


def test_sigterm_drains_every_worker_and_exits_0(tmp_path_factory, upstream, redis_url):
    upstream.set_faults([{"match": {"model": "gpt-4o-mini"}, "fault": "latency_ms=1500"}])
    gw, pids = start_workers(tmp_path_factory, upstream, redis_url, "workers-term")
    try:
        held: list[int] = []
        results: list = []
        callers = [threading.Thread(target=lambda: results.append(worker_then_call(gw.port, BOOTSTRAP_KEY,
                                                                                   seen=held.append)))
                   for _ in range(12)]
        for t in callers:
            t.start()
        deadline = time.monotonic() + 10
        while upstream.stats()["in_flight"] < 12 and time.monotonic() < deadline:
            time.sleep(0.02)  # every call is upstream, held by a worker
        assert set(held) == pids
        gw.proc.popen.send_signal(signal.SIGTERM)
        assert gw.proc.popen.wait(30) == 0
        for t in callers:
            t.join(10)
        assert [status for _, status in results] == [200] * 12  # in flight when it came: finished
        assert not any(alive(pid) for pid in pids)
        assert gw.proc.output().count("stopping: no new connections") == 2
    finally:
        upstream.reset()
        gw.proc.stop()


def pid_serving(port: int) -> int:
    conn = HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/readyz")
        return json.loads(conn.getresponse().read())["pid"]
    finally:
        conn.close()


def replaced(gw, pids: set[int]) -> int | None:
    """A worker pid not among `pids` serving, within 30 s (the kernel picks one per connection)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, HTTPException, ValueError):
            if (pid := pid_serving(gw.port)) not in pids:
                return pid
        time.sleep(0.05)
    return None


def test_a_worker_whose_event_loop_is_blocked_is_killed_and_replaced(tmp_path_factory, upstream, redis_url):
    gw, pids = start_workers(tmp_path_factory, upstream, redis_url, "workers-hang", server="  worker_timeout_s: 2\n",
                             env={"SEAWALL_TEST_HANG_ON_SIGUSR1": "1"})
    try:
        victim = min(pids)
        os.kill(victim, signal.SIGUSR1)  # its event loop sleeps: alive, and answering no one
        new = replaced(gw, pids)
        assert new is not None, gw.proc.output()
        assert not alive(victim)
        out = gw.proc.output()
        assert re.search(r"\[supervisor\] seawall: worker \d \(pid %d\) sent no heartbeat for [\d.]+ s "
                         r"\(server.worker_timeout_s: 2\): its event loop is blocked; killing it" % victim, out), out
        assert re.search(r"worker \d \(pid %d\) was killed by SIGKILL" % victim, out)
        assert worker_then_call(gw.port, BOOTSTRAP_KEY)[1] == 200
    finally:
        gw.proc.stop()


def test_a_worker_stuck_in_its_start_is_killed_and_started_again(tmp_path_factory, upstream, redis_url):
    flag = tmp_path_factory.mktemp("workers-stuck") / "hang"
    gw, pids = start_workers(tmp_path_factory, upstream, redis_url, "workers-stuck",
                             server="  worker_start_timeout_s: 2\n", env={"SEAWALL_TEST_HANG_AT_START": str(flag)})
    try:
        flag.touch()  # from now on a starting worker blocks before it serves
        victim = min(pids)
        os.kill(victim, signal.SIGKILL)
        out = ""
        deadline = time.monotonic() + 30
        while not (stuck := re.search(r"\[supervisor\] seawall: worker \d \(pid (\d+)\) was not serving [\d.]+ s after "
                                      r"it started \(server.worker_start_timeout_s: 2\): its start is stuck.*; killing it",
                                      out)) and time.monotonic() < deadline:
            time.sleep(0.1)
            out = gw.proc.output()
        assert stuck, out
        assert int(stuck.group(1)) not in pids
        flag.unlink()  # the next start goes through
        assert replaced(gw, pids - {victim} | {int(stuck.group(1))}) is not None, gw.proc.output()
        assert not alive(int(stuck.group(1)))
        assert worker_then_call(gw.port, BOOTSTRAP_KEY)[1] == 200
    finally:
        gw.proc.stop()


def test_a_worker_stopped_by_sigterm_leaves_its_last_counts_in_metrics(tmp_path_factory, upstream, redis_url):
    gw, pids = start_workers(tmp_path_factory, upstream, redis_url, "workers-last-counts")
    try:
        victim = min(pids)
        calls = 0
        while calls == 0:  # calls on a connection the victim holds (no scrape: one would copy its counts)
            conn = HTTPConnection("127.0.0.1", gw.port, timeout=10)
            conn.request("GET", "/readyz")
            if json.loads(conn.getresponse().read())["pid"] == victim:
                for _ in range(5):
                    conn.request("POST", "/v1/chat/completions", json.dumps(CHAT),
                                 {"authorization": f"Bearer {BOOTSTRAP_KEY}", "content-type": "application/json"})
                    reply = conn.getresponse()
                    reply.read()
                    assert reply.status == 200
                    calls += 1
            conn.close()
        os.kill(victim, signal.SIGTERM)  # drains it, well within its 5 s between copies
        assert replaced(gw, pids) is not None, gw.proc.output()
        assert not alive(victim)
        assert requests_counted(gw) == calls  # its calls are still counted after its restart
    finally:
        gw.proc.stop()


@contextlib.contextmanager
def redis_down(tmp_path_factory, upstream, name: str, limits: str, rpm: int, calls: int):
    """Two workers whose Redis never answers, and `calls` calls of a key with `rpm`, each on a new
    connection (so both workers take some): yields the gateway, its worker pids and (pid, status)s."""
    dead = f"redis://127.0.0.1:{free_port()}/0"
    gw, pids = start_workers(tmp_path_factory, upstream, dead, name, f"limits:\n  {limits}\n")
    try:
        key = limited_key(gw, pids, rpm)
        results = [worker_then_call(gw.port, key) for _ in range(calls)]
        assert {pid for pid, _ in results} == pids
        yield gw, pids, results
    finally:
        gw.proc.stop()


def test_redis_down_fail_open_each_worker_counts_its_share(tmp_path_factory, upstream):
    with redis_down(tmp_path_factory, upstream, "workers-open", "instances: 1", rpm=4, calls=40) as (gw, pids, results):
        for pid in pids:  # rpm 4 over 1 machine of 2 workers: each admits 2
            statuses = [status for p, status in results if p == pid]
            assert statuses.count(200) == 2 and statuses.count(429) == len(statuses) - 2, statuses
        assert gw.proc.output().count("against its share (1/2) of each limit") == 2  # said by each worker


def test_redis_down_fail_closed_every_worker_refuses(tmp_path_factory, upstream):
    with redis_down(tmp_path_factory, upstream, "workers-closed", "on_redis_error: closed", rpm=100,
                    calls=20) as (gw, pids, results):
        assert {status for _, status in results} == {503}
        # a key without limits never asks Redis: both workers serve it
        results = [worker_then_call(gw.port, BOOTSTRAP_KEY) for _ in range(20)]
        assert {pid for pid, _ in results} == pids and {status for _, status in results} == {200}


def test_workers_without_redis_are_refused_with_the_reason(tmp_path):
    out = subprocess.run([sys.executable, "-m", "seawall", "serve", "--workers", "2", "--port", str(free_port()),
                          "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if k != "SEAWALL_REDIS_URL"})
    assert out.returncode == 2
    assert "2 workers need Redis for exact limits: set limits.redis_url" in out.stderr
    assert "or run --workers 1" in out.stderr


def test_a_worker_that_cannot_start_fails_the_start_with_its_reason(tmp_path, redis_url):
    """A problem only a worker meets (here a CA file that holds no certificate: read when the
    gateway builds its transport) stops the whole start with the worker's reason, once."""
    (tmp_path / "bad.pem").write_text("not a certificate\n")
    (tmp_path / "seawall.yaml").write_text(f"network:\n  tls: {{ca_file: {tmp_path / 'bad.pem'}}}\n"
                                           "models:\n  - name: m\n    deployments: [{provider: simulator, "
                                           "model: gpt-4o-mini}]\n")
    out = subprocess.run([sys.executable, "-m", "seawall", "serve", "--config", str(tmp_path / "seawall.yaml"),
                          "--workers", "2", "--redis", redis_url, "--port", str(free_port()), "--console-port", "0",
                          "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert re.search(r"seawall: worker [12] exited with status 2 before it served", out.stderr), out.stderr
    assert re.search(r"ERROR \[worker [12]\] seawall: TLS settings: tls.ca_file .* holds no usable CA", out.stderr)
    assert "Seawall is listening" not in out.stdout


def test_a_worker_stuck_in_its_first_start_fails_the_start_with_the_reason(tmp_path, redis_url):
    (tmp_path / "hang").touch()
    (tmp_path / "seawall.yaml").write_text("server:\n  worker_start_timeout_s: 2\nmodels:\n  - name: m\n"
                                           "    deployments: [{provider: simulator, model: gpt-4o-mini}]\n")
    out = subprocess.run([sys.executable, "-m", "seawall", "serve", "--config", str(tmp_path / "seawall.yaml"),
                          "--workers", "2", "--redis", redis_url, "--port", str(free_port()), "--console-port", "0",
                          "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "SEAWALL_TEST_HANG_AT_START": str(tmp_path / "hang")})
    assert out.returncode == 2
    assert re.search(r"seawall: worker [12] was killed by SIGKILL \(it was not serving [\d.]+ s after it started "
                     r"\(server.worker_start_timeout_s: 2\): its start is stuck .*\) before it served", out.stderr), \
        out.stderr
    assert "Seawall is listening" not in out.stdout
