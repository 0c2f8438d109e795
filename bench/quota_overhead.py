"""What a quota shared through Redis costs the chat path: one `seawall serve` with limits.redis_url,
in front of the simulator, and two keys taking turns round by round in the same run: one with a
rate limit only (Redis limits: one script call per request, the admission; an rpm needs no
release), one with the same rate limit and a token quota (Redis limits + quota: two, the hold
riding in the admission's call and the settlement in the release's). Reported per mode: the
gateway process's CPU per request (user + system, from /proc) and the latency p50 / p99 at the
client, then quota / limits-only ratios. Read the ratios: the machine is shared.

With --baseline DIR (a source tree, e.g. `git archive main src | tar -x -C DIR`), a second gateway
serves DIR/src on the same Redis, store and simulator, and its rounds alternate with this one's:
before and after a change, in the same run.

    .venv/bin/python bench/quota_overhead.py [--rounds 6] [--requests 1500] [--concurrency 8] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from quota_kill import BOOTSTRAP_KEY, Client, create_key, deployment, start_gateway, start_stack


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def phase(port: int, key: str, n: int, concurrency: int) -> list[float]:
    latencies: list[float] = []
    left = [n]

    async def worker() -> None:
        c = Client(port, key)
        while left[0] > 0:
            left[0] -= 1
            started = time.perf_counter()
            usage = await c.chat()
            assert usage is not None, "a request was refused: raise the limits"
            latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000)[int(p * 10) - 1] if len(values) > 1 else values[0]


def wait_until_known(port: int, key: str) -> None:
    """A key made through one gateway reaches another with its key-cache refresh."""
    for _ in range(300):
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models", headers={"authorization": f"Bearer {key}"})
        try:
            urllib.request.urlopen(req).read()
            return
        except urllib.error.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the baseline gateway never learned the bench's keys")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=1500, help="per key per round")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--baseline", help="a source tree whose src/ a second gateway serves, for before/after")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="seawall-quota-bench-")
    procs: list[subprocess.Popen] = []
    try:
        redis_port, sim_port = start_stack(folder, procs)
        port = start_gateway(folder, "gateway", deployment(sim_port), redis_port, procs)
        gateways = {"": (port, procs[-1])}
        if args.baseline:
            config = "auth:\n  refresh_interval_s: 0.2\n" + deployment(sim_port)
            base_port = start_gateway(folder, "baseline", config, redis_port, procs,
                                      env={"PYTHONPATH": os.path.join(os.path.abspath(args.baseline), "src")})
            gateways["baseline: "] = (base_port, procs[-1])

        def key(**fields) -> str:
            return create_key(port, **fields)["key"]

        keys = {"redis limits": key(rpm=10**8), "redis limits + quota": key(rpm=10**8, quota_tokens=10**12)}
        modes = {g + m: (p, proc, k) for g, (p, proc) in gateways.items() for m, k in keys.items()}
        for p, _, k in modes.values():
            wait_until_known(p, k)
        lat: dict[str, list[float]] = {m: [] for m in modes}
        cpu: dict[str, float] = dict.fromkeys(modes, 0.0)
        for p, _ in gateways.values():
            asyncio.run(phase(p, keys["redis limits"], 300, args.concurrency))  # warm up
        for _ in range(args.rounds):
            for mode, (p, proc, k) in modes.items():
                before = cpu_s(proc.pid)
                lat[mode] += asyncio.run(phase(p, k, args.requests, args.concurrency))
                cpu[mode] += cpu_s(proc.pid) - before
        out = {}
        for mode in modes:
            n = len(lat[mode])
            out[mode] = {"requests": n, "cpu_us_per_request": round(cpu[mode] / n * 1e6, 1),
                         "p50_ms": round(percentile(lat[mode], 50) * 1000, 3),
                         "p99_ms": round(percentile(lat[mode], 99) * 1000, 3)}

        def ratio(a: str, b: str) -> dict:
            return {k: round(out[a][k] / out[b][k], 3) for k in ("cpu_us_per_request", "p50_ms", "p99_ms")}

        for g in gateways:
            out[f"{g}ratio quota / limits only"] = ratio(f"{g}redis limits + quota", f"{g}redis limits")
        if args.baseline:
            for m in keys:
                out[f"ratio {m}: this / baseline"] = ratio(m, f"baseline: {m}")
        print(json.dumps(out, indent=2))
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
