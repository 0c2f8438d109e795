"""What a `kill -9` of a gateway loses of a shared quota's spending (issue 21: at most one flush
interval's worth). Two `seawall serve` processes on one SQLite store and one Redis (a
redis-server of its own), in front of the simulator; one key with a large token quota; clients
send chat requests through both; gateway A is killed with SIGKILL halfway, B keeps serving, then
stops cleanly. Compared:

- `reported`: the usage the upstream reported in the replies clients received (both gateways);
- `redis`: the balance every gateway admits against;
- `stored`: what the store holds once B has stopped (each gateway writes its own charges);
- `lost`: reported - stored, against A's spending in its last flush interval before the kill
  (what it could not have written yet).

    .venv/bin/python bench/quota_kill.py [--seconds 6] [--clients 8] [--flush 0.5] [--runs 3]

Prints JSON, one object per run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

import redis
from processes import free_port, wait_http

ADMIN_KEY = "sw-admin-benchAdminKey00000000000000000000000"
BOOTSTRAP_KEY = "sk-sw-benchBootstrapKey000000000000000000000"
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20}).encode()




def seawall(*args: str, log: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "seawall", *args], stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})


def start_stack(folder: str, procs: list[subprocess.Popen]) -> tuple[int, int]:
    """A redis-server and a simulator of this run's own: (Redis's port, the simulator's)."""
    redis_port, sim_port = free_port(), free_port()
    procs.append(subprocess.Popen([shutil.which("redis-server"), "--port", str(redis_port), "--save", "",
                                   "--appendonly", "no"], stdout=subprocess.DEVNULL))
    sim = seawall("simulate", "--port", str(sim_port), log=f"{folder}/sim.log")
    procs.append(sim)
    wait_http(f"http://127.0.0.1:{sim_port}/_sim/health", sim)
    return redis_port, sim_port


def start_gateway(folder: str, name: str, config: str, redis_port: int, procs: list[subprocess.Popen],
                  env: dict | None = None) -> int:
    """`seawall serve` with `config` on the run's data dir and Redis; its port. `env`: more
    environment (a PYTHONPATH to serve another version of the code)."""
    with open(f"{folder}/{name}.yaml", "w") as f:
        f.write("console:\n  enabled: false\n" + config)
    port = free_port()
    p = seawall("serve", "--config", f"{folder}/{name}.yaml", "--port", str(port), "--data-dir", f"{folder}/data",
                "--redis", f"redis://127.0.0.1:{redis_port}/0", log=f"{folder}/{name}.log",
                env={"SEAWALL_BOOTSTRAP_KEY": BOOTSTRAP_KEY, "SEAWALL_ADMIN_KEY": ADMIN_KEY, "SIM_KEY": "sk-sim",
                     **(env or {})})
    procs.append(p)
    wait_http(f"http://127.0.0.1:{port}/readyz", p)
    return port


def deployment(sim_port: int, extra: str = "") -> str:
    return ("models:\n  - name: gpt-4o-mini\n    deployments:\n"
            f"      - provider: openai\n        base_url: http://127.0.0.1:{sim_port}/v1\n"
            f"        model: gpt-4o-mini\n        api_key_env: SIM_KEY\n{extra}")


def create_key(port: int, **fields) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/admin/keys", method="POST",
                                 data=json.dumps({"name": f"bench-{time.time_ns()}", **fields}).encode(),
                                 headers={"authorization": f"Bearer {ADMIN_KEY}", "content-type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())


class Client:
    """Keep-alive HTTP/1.1 over asyncio streams: one connection per client, like an SDK's pool."""

    def __init__(self, port: int, key: str):
        self.port, self.key = port, key
        self.reader = self.writer = None

    async def chat(self) -> dict | None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = (f"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {self.key}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(BODY)}\r\n\r\n").encode()
        self.writer.write(head + BODY)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        body = json.loads(await self.reader.readexactly(length))
        return body.get("usage") if b" 200 " in status_line else None


async def load(port: int, key: str, clients: int, until: float, log: list, name: str) -> None:
    async def one() -> None:
        c = Client(port, key)
        while time.monotonic() < until:
            try:
                usage = await c.chat()
            except (OSError, asyncio.IncompleteReadError, ConnectionError):
                return  # the gateway died: this client's request in flight is lost
            if usage is not None:
                log.append((name, time.monotonic(), usage["total_tokens"]))

    await asyncio.gather(*(one() for _ in range(clients)))


def run_once(seconds: float, clients: int, flush_s: float) -> dict:
    folder = tempfile.mkdtemp(prefix="seawall-quota-kill-")
    procs: list[subprocess.Popen] = []
    try:
        redis_port, sim_port = start_stack(folder, procs)
        config = (f"auth:\n  refresh_interval_s: 0.2\nrequest_log:\n  flush_interval_s: {flush_s}\n"
                  "limits:\n  redis_timeout_ms: 2000\n" + deployment(sim_port))
        gateways = []
        for name in ("a", "b"):
            port = start_gateway(folder, name, config, redis_port, procs)
            gateways.append((procs[-1], port))
        made = create_key(gateways[0][1], quota_tokens=10**9)
        time.sleep(1)  # B's key cache learns the key

        log: list = []
        started = time.monotonic()

        async def drive() -> float:
            tasks = [asyncio.create_task(load(port, made["key"], clients, started + seconds, log, name))
                     for (_, port), name in zip(gateways, "ab", strict=True)]
            await asyncio.sleep(seconds / 2)
            killed_at = time.monotonic()
            gateways[0][0].send_signal(signal.SIGKILL)
            await asyncio.gather(*tasks)
            return killed_at

        killed_at = asyncio.run(drive())
        gateways[1][0].send_signal(signal.SIGTERM)
        gateways[1][0].wait(30)
        with sqlite3.connect(f"{folder}/data/seawall.db") as db:
            stored = db.execute("SELECT used_tokens FROM api_keys WHERE id = ?", (made["id"],)).fetchone()[0]
        in_redis = int(redis.Redis(port=redis_port).hget(f"seawall:q:key:{made['id']}", "ut") or 0)
        reported = sum(t for _, _, t in log)
        by_a = sum(t for n, _, t in log if n == "a")
        last_interval = sum(t for n, at, t in log if n == "a" and killed_at - flush_s <= at <= killed_at)
        return {"flush_interval_s": flush_s, "requests": len(log), "reported": reported, "redis": in_redis,
                "stored": stored, "lost": reported - stored, "spent_through_a": by_a,
                "a_last_interval": last_interval,
                "lost_over_last_interval": round((reported - stored) / last_interval, 3) if last_interval else None}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("KEEP"):
            print(folder, file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--clients", type=int, default=8, help="per gateway")
    parser.add_argument("--flush", type=float, default=0.5, help="request_log.flush_interval_s (the default)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for _ in range(args.runs):
        print(json.dumps(run_once(args.seconds, args.clients, args.flush)), flush=True)


if __name__ == "__main__":
    main()
