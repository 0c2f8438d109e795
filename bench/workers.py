#!/usr/bin/env python3
"""Requests/s and CPU per request of `seawall serve --workers 1` and `--workers 2`, on one host in one
run, taking turns round by round, with everything (gateway, wrk, the fake upstream) sharing the same
cores, as on a 2-core machine where the load generator can't go elsewhere.

    .venv/bin/python bench/workers.py [--cores 0,1] [--seconds 10] [--connections 64] [--rounds 2]
                                      [--redis redis://127.0.0.1:6379/15]

The upstream is the peer harness's nginx with canned answers (bench/peers/conf, on a port of its
own), the load wrk with bench/peers/wrk/chat.lua (2 threads), non-streaming chat. Both runs use the
same Redis (required for 2 workers); the key has no limits, so no request calls it. CPU is the
gateway's process tree (supervisor and workers), wrk's and nginx's, from /proc: 100 % is one core.
Prints a markdown table and writes bench/results/workers-<stamp>.json.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.machinery
import importlib.util
import json
import os
import pathlib
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time
from processes import free_port

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
KEY = "sk-sw-benchWorkersKey000000000000000000000000"


def load_peers():
    """bench/peers/run's process helpers (start, stop, Monitor, wait_ready): it is a script, not a module."""
    loader = importlib.machinery.SourceFileLoader("peers_run", str(HERE / "peers" / "run"))
    spec = importlib.util.spec_from_loader("peers_run", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module



def upstream_conf(peers, folder: str, port: int) -> str:
    """The harness's nginx upstream, on its own port and files (another bench may run the harness's)."""
    subprocess.run([sys.executable, str(HERE / "peers" / "conf" / "gen_upstream.py")], check=True, capture_output=True)
    text = (HERE / "peers" / "conf" / "nginx-upstream.conf").read_text()
    text = text.replace("127.0.0.1:18080", f"127.0.0.1:{port}").replace("/tmp/peerbench-nginx-upstream",
                                                                         f"{folder}/nginx-upstream")
    path = os.path.join(folder, "nginx-upstream.conf")
    pathlib.Path(path).write_text(text)
    return path


def gateway_config(upstream_port: int) -> str:
    return ("models:\n  - name: gpt-4o-mini\n    deployments:\n"
            f"      - provider: openai\n        base_url: http://127.0.0.1:{upstream_port}/v1\n"
            "        model: gpt-4o-mini\n        api_key_env: BENCH_UPSTREAM_KEY\n"
            "console:\n  enabled: false\n")


def wrk(url: str, cores: str, connections: int, seconds: float) -> dict:
    cmd = ["taskset", "-c", cores, "wrk", "-t2", f"-c{connections}", f"-d{round(seconds)}s", "--timeout", "10s",
           "-s", str(HERE / "peers" / "wrk" / "chat.lua"), url]
    env = dict(os.environ, WRK_AUTH=f"Bearer {KEY}")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc


def wrk_summary(proc) -> dict:
    out = proc.communicate(timeout=120)[0]
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[8:])
    raise RuntimeError("wrk printed no summary:\n" + out[-2000:])


def measure(peers, args, folder: str, workers: int, upstream) -> dict:
    port = free_port()
    config = os.path.join(folder, "seawall.yaml")
    cmd = [sys.executable, "-m", "seawall", "serve", "--config", config, "--port", str(port), "--data-dir",
           os.path.join(folder, f"data-{workers}"), "--workers", str(workers), "--redis", args.redis]
    log = os.path.join(folder, f"gateway-{workers}.log")
    gateway = peers.start(cmd, args.cores, log, env={"SEAWALL_BOOTSTRAP_KEY": KEY, "BENCH_UPSTREAM_KEY": "x"})
    try:
        mode = peers.model_modes(f"http://127.0.0.1:{port}", auth=f"Bearer {KEY}")["chat"]
        ok, info, _ = peers.wait_ready(mode, gateway, 60)
        if not ok:
            raise RuntimeError(f"gateway ({workers} workers) did not start: {info}\n{pathlib.Path(log).read_text()}")
        while workers > 1 and not re.search(r"^Workers: ", pathlib.Path(log).read_text(), re.M):
            time.sleep(0.1)  # every worker serving
        url = mode["url"]
        wrk_summary(wrk(url, args.cores, args.connections, 2))  # warm-up: pools, caches, the JIT-less first calls
        before = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk's, once it is waited for
        load = wrk(url, args.cores, args.connections, args.seconds)
        with peers.Monitor(gateway.pid) as gw_cpu, peers.Monitor(upstream.pid) as up_cpu:
            summary = wrk_summary(load)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        wrk_cpu_pct = 100 * (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / args.seconds
        requests = summary["requests"]
        errors = sum(v for k, v in summary.items() if k.startswith("err_"))
        return {"workers": workers, "rps": round(summary["rps"], 1), "requests": requests, "errors": errors,
                "p50_ms": summary["lat_p50_us"] / 1000, "p99_ms": summary["lat_p99_us"] / 1000,
                "gateway_cpu_pct": gw_cpu.cpu_pct, "wrk_cpu_pct": round(wrk_cpu_pct, 1),
                "upstream_cpu_pct": up_cpu.cpu_pct,
                "gateway_cpu_us_per_request": round(gw_cpu.cpu_pct / 100 * summary["duration_us"] / requests, 1)}
    finally:
        peers.stop(gateway)


def table(rows: list[dict]) -> str:
    out = ["| round | workers | RPS | p50 ms | p99 ms | errors | gateway CPU % | CPU µs/request | wrk CPU % | "
           "nginx CPU % |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['round']} | {r['workers']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                   f"{r['errors']} | {r['gateway_cpu_pct']} | {r['gateway_cpu_us_per_request']} | {r['wrk_cpu_pct']} | "
                   f"{r['upstream_cpu_pct']} |")
    return "\n".join(out)


def ratios(rows: list[dict]) -> str:
    lines = []
    for rnd in sorted({r["round"] for r in rows}):
        one, two = (next(r for r in rows if r["round"] == rnd and r["workers"] == n) for n in (1, 2))
        lines.append(f"round {rnd}: 2 workers / 1 worker: RPS x{two['rps'] / one['rps']:.2f}, CPU per request "
                     f"x{two['gateway_cpu_us_per_request'] / one['gateway_cpu_us_per_request']:.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", default="0,1", help="the cores everything runs on (taskset -c)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2, help="1 then 2 workers, this many times")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()
    peers = load_peers()
    rows = []
    with tempfile.TemporaryDirectory(prefix="seawall-bench-workers-") as folder:
        upstream_port = free_port()
        conf = upstream_conf(peers, folder, upstream_port)
        upstream = peers.start(["nginx", "-p", folder, "-e", f"{folder}/nginx.err", "-c", conf], args.cores,
                               os.path.join(folder, "nginx.log"))
        try:
            pathlib.Path(folder, "seawall.yaml").write_text(gateway_config(upstream_port))
            for rnd in range(1, args.rounds + 1):
                for workers in (1, 2):
                    row = measure(peers, args, folder, workers, upstream)
                    row["round"] = rnd
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            peers.stop(upstream)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"workers-{stamp}.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    print(f"\nseawall serve --workers 1 and 2, cores {args.cores} shared with wrk and nginx, "
          f"{args.connections} connections, {args.seconds:g} s per cell\n")
    print(table(rows))
    print()
    print(ratios(rows))


if __name__ == "__main__":
    main()
