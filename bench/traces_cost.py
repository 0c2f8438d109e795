#!/usr/bin/env python3
"""What traces cost a request: gateways differing only in `traces:`, in front of one simulator,
driven in turns with the same load (bench/capture_cost.py's method); each gateway's own CPU time
divided by the requests it served.

    .venv/bin/python bench/traces_cost.py [--rounds 6] [--requests 2000] [--before REV]

Gateways: `off` (the default), `on` (every request sampled, exported over OTLP/HTTP to a sink in
this process that answers and discards: the exporter's encoding and sending are the gateway's
CPU, the receiver's are not), `on-10%` (sample_ratio: 0.1; the others' spans are made, not
recorded, and their traceparent still goes upstream) and, with --before REV, the code of that git revision (its src/
extracted to a temp dir and put first on PYTHONPATH) with its default config: "no measurable cost
when off" is `off` against `before`. Compare the ratios, not the absolute figures.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from capture_cost import KEY, cpu_seconds, drive
from processes import free_port, start_simulator, wait_http

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=2000, help="per gateway, per round, per kind")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--before", help="a git revision to measure as `before` (e.g. the commit before traces)")
    parser.add_argument("--core", default="0", help="taskset core list for the gateways ('' to not pin)")
    a = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="seawall-traces-cost-")
    sink = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    procs: list[subprocess.Popen] = []
    on = f"traces:\n  enabled: true\n  endpoint: http://127.0.0.1:{sink.server_address[1]}/v1/traces\n" \
         "  batch_delay_s: 1\n"
    variants = {"off": ("", None), "on": (on, None), "on-10%": (on + "  sample_ratio: 0.1\n", None)}
    if a.before:
        src = os.path.join(tmp, "before")
        os.makedirs(src)
        archive = subprocess.run(["git", "-C", REPO, "archive", a.before, "src"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", src], input=archive.stdout, check=True)
        variants = {"before": ("", os.path.join(src, "src")), **variants}
    try:
        sim_port = start_simulator(tmp, procs)
        gateways = {}
        for name, (section, pythonpath) in variants.items():
            port = free_port()
            cfg = os.path.join(tmp, f"{name}.yaml")
            with open(cfg, "w") as f:
                f.write(f"{section}console:\n  enabled: false\n"
                        f"models:\n  - name: gpt-4o-mini\n    deployments:\n      - provider: openai\n"
                        f"        base_url: http://127.0.0.1:{sim_port}/v1\n        model: gpt-4o-mini\n"
                        f"        api_key_env: SIM_KEY\n")
            env = {**os.environ, "SEAWALL_BOOTSTRAP_KEY": KEY, "SIM_KEY": "sk-sim"}
            if pythonpath:
                env["PYTHONPATH"] = pythonpath
            pin = ["taskset", "-c", a.core] if a.core else []
            proc = subprocess.Popen([*pin, sys.executable, "-m", "seawall", "serve", "--config", cfg, "--port",
                                     str(port), "--data-dir", os.path.join(tmp, name)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(proc)
            wait_http(f"http://127.0.0.1:{port}/readyz", proc)
            gateways[name] = (port, proc)
        for port, _ in gateways.values():  # warm-up
            drive(port, 500, a.concurrency, False, 0)
            drive(port, 500, a.concurrency, True, 0)
        totals = {(name, kind): [0.0, 0] for name in gateways for kind in ("chat", "stream")}
        for r in range(a.rounds):
            order = list(gateways) if r % 2 == 0 else list(reversed(gateways))
            for kind in ("chat", "stream"):
                for name in order:
                    port, proc = gateways[name]
                    before = cpu_seconds(proc.pid)
                    drive(port, a.requests, a.concurrency, kind == "stream", 0)
                    time.sleep(1.2)  # the request log's flush and the spans' export land in this turn
                    totals[(name, kind)][0] += cpu_seconds(proc.pid) - before
                    totals[(name, kind)][1] += a.requests
        base_name = "before" if a.before else "off"
        print(f"CPU per request (gateway process, {a.rounds} rounds x {a.requests} requests, c={a.concurrency}), "
              f"ratios to {base_name}")
        for kind in ("chat", "stream"):
            base = totals[(base_name, kind)][0] / totals[(base_name, kind)][1]
            cells = [f"{name} {cpu / n * 1e6:7.1f} µs ({cpu / n / base:.3f}x)"
                     for (name, k), (cpu, n) in totals.items() if k == kind]
            print(f"  {kind:<7} " + "   ".join(cells))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        sink.shutdown()


if __name__ == "__main__":
    main()
