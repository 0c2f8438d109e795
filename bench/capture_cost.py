#!/usr/bin/env python3
"""What request capture costs: gateways differing only in request_log.capture (off, failed, all),
in front of one simulator, driven in turns with the same load; each gateway's own CPU time
(/proc/PID/stat, user + system) divided by the requests it served.

    .venv/bin/python bench/capture_cost.py [--rounds 6] [--requests 2000] [--concurrency 8] [--fail-every 0]

Every request succeeds unless --fail-every N makes every Nth one ask for an unknown model (a 404,
which capture: failed keeps). Chat and streamed chat take turns too. The load generator's CPU is
not counted, and taking turns spreads a busy neighbour over every gateway alike: compare the
ratios, not the absolute figures. Every process started here is stopped by its PID.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from processes import free_port, start_simulator, wait_http

KEY = "sk-sw-benchCaptureCostKey000000000000000000"
MODES = ("off", "failed", "all")




def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def drive(port: int, total: int, concurrency: int, stream: bool, fail_every: int) -> int:
    """Send `total` requests over `concurrency` keep-alive connections; the number that succeeded."""
    ok = [0]
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            model = "nope" if fail_every and i % fail_every == 0 else "gpt-4o-mini"
            body = json.dumps({"model": model, "stream": stream, "max_tokens": 16,
                               "messages": [{"role": "user", "content": "Say hello in a few words"}]})
            conn.request("POST", "/v1/chat/completions", body, {"authorization": f"Bearer {KEY}",
                                                                "content-type": "application/json"})
            reply = conn.getresponse()
            reply.read()
            if reply.status == 200:
                with lock:
                    ok[0] += 1
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ok[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=2000, help="per gateway, per round, per kind")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--fail-every", type=int, default=0)
    parser.add_argument("--core", default="0", help="taskset core list for the gateways ('' to not pin)")
    a = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="seawall-capture-cost-")
    procs: list[subprocess.Popen] = []
    try:
        sim_port = start_simulator(tmp, procs)
        gateways = {}
        for mode in MODES:
            port = free_port()
            cfg = os.path.join(tmp, f"{mode}.yaml")
            with open(cfg, "w") as f:
                f.write(f"request_log:\n  capture: {mode}\nconsole:\n  enabled: false\nalerts:\n  enabled: true\n"
                        f"models:\n  - name: gpt-4o-mini\n    deployments:\n      - provider: openai\n"
                        f"        base_url: http://127.0.0.1:{sim_port}/v1\n        model: gpt-4o-mini\n"
                        f"        api_key_env: SIM_KEY\n")
            pin = ["taskset", "-c", a.core] if a.core else []
            proc = subprocess.Popen([*pin, sys.executable, "-m", "seawall", "serve", "--config", cfg, "--port",
                                     str(port), "--data-dir", os.path.join(tmp, mode)],
                                    env={**os.environ, "SEAWALL_BOOTSTRAP_KEY": KEY, "SIM_KEY": "sk-sim"},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(proc)
            wait_http(f"http://127.0.0.1:{port}/readyz", proc)
            gateways[mode] = (port, proc)
        for mode, (port, _) in gateways.items():  # warm-up: caches, pools, the JIT-free but cold paths
            drive(port, 500, a.concurrency, False, a.fail_every)
            drive(port, 500, a.concurrency, True, a.fail_every)
        totals = {(mode, kind): [0.0, 0] for mode in MODES for kind in ("chat", "stream")}
        for _ in range(a.rounds):
            for kind in ("chat", "stream"):
                for mode, (port, proc) in gateways.items():
                    before = cpu_seconds(proc.pid)
                    drive(port, a.requests, a.concurrency, kind == "stream", a.fail_every)
                    time.sleep(0.6)  # the request log's flush (0.5 s) lands in this turn, not the next
                    totals[(mode, kind)][0] += cpu_seconds(proc.pid) - before
                    totals[(mode, kind)][1] += a.requests
        print(f"CPU per request (gateway process, {a.rounds} rounds x {a.requests} requests, c={a.concurrency}"
              + (f", every {a.fail_every}th a 404" if a.fail_every else ", all successes") + ")")
        for kind in ("chat", "stream"):
            base = totals[("off", kind)][0] / totals[("off", kind)][1]
            cells = []
            for mode in MODES:
                cpu, n = totals[(mode, kind)]
                per = cpu / n
                cells.append(f"{mode} {per * 1e6:7.1f} µs ({per / base:.3f}x)")
            print(f"  {kind:<7} " + "   ".join(cells))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    main()
