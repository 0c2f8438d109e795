"""What sharing a deployment's `max_concurrency` through Redis costs when it is full: a slot freed in
one gateway is taken by a request waiting in another only when that gateway's line head asks Redis
again (every pipeline/gate_shared.py POLL_S). Two `seawall serve` processes on one Redis in front
of the simulator (each reply held `--latency-ms`), a deployment with `max_concurrency: 4`, and
clients on both gateways keeping it full for `--seconds`. The ideal is 4 / latency requests a
second; reported: requests/s reached, its share of the ideal, the simulator's peak in flight
(never above 4), and the script calls Redis ran per second (INFO commandstats).

    .venv/bin/python bench/gate_handoff.py [--seconds 10] [--clients 8] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request

import redis
from quota_kill import BOOTSTRAP_KEY, Client, deployment, start_gateway, start_stack

CAP = 4


def script_calls(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(v["calls"] for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8, help="per gateway")
    parser.add_argument("--latency-ms", type=int, default=100)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="seawall-gate-bench-")
    procs: list[subprocess.Popen] = []
    try:
        redis_port, sim_port = start_stack(folder, procs)
        rules = json.dumps([{"match": {"model": "gpt-4o-mini"}, "fault": f"latency_ms={args.latency_ms}"}]).encode()
        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{sim_port}/_sim/faults", rules, method="PUT",
                                                      headers={"content-type": "application/json"}))
        config = "limits:\n  redis_timeout_ms: 2000\n" + deployment(
            sim_port, f"        max_concurrency: {CAP}\n        max_queue: 1000\n        max_queue_wait_s: 60\n")
        ports = [start_gateway(folder, name, config, redis_port, procs) for name in ("a", "b")]
        r = redis.Redis(port=redis_port)
        done = [0]

        async def drive() -> None:
            until = time.monotonic() + args.seconds

            async def one(port: int) -> None:
                c = Client(port, BOOTSTRAP_KEY)
                while time.monotonic() < until:
                    assert await c.chat() is not None
                    done[0] += 1

            await asyncio.gather(*(one(p) for p in ports for _ in range(args.clients)))

        urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{sim_port}/_sim/reset", b"", method="POST"))
        calls, started = script_calls(r), time.monotonic()
        asyncio.run(drive())
        elapsed = time.monotonic() - started
        calls = script_calls(r) - calls
        stats = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{sim_port}/_sim/stats").read())
        ideal = CAP / (args.latency_ms / 1000)
        print(json.dumps({"requests_per_s": round(done[0] / elapsed, 1), "ideal_per_s": ideal,
                          "share_of_ideal": round(done[0] / elapsed / ideal, 3),
                          "peak_in_flight": stats["peak_in_flight"],
                          "redis_script_calls_per_s": round(calls / elapsed, 1),
                          "script_calls_per_request": round(calls / max(done[0], 1), 2)}, indent=2))
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
