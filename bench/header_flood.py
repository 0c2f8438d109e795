"""Header flood: a normal client's latency and the gateway's memory while clients send huge header
blocks (issue #23's bar: RSS under 150 MiB with 8 clients sending 64 MiB blocks, the normal
client's p99 under 100 ms).

Starts `seawall serve` (the embedded default) from this checkout, measures a normal client's
`GET /v1/models` latency alone (baseline), then again while FLOODERS connections each send a
64 MiB header block as fast as the gateway takes it (each reconnecting after it is cut, until
the measurement ends), sampling the gateway's RSS from /proc. Prints JSON.

    .venv/bin/python bench/header_flood.py [--flooders 8] [--seconds 10] [--block-mib 64]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from processes import free_port



def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def request(port: int, key: str) -> float:
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                  "Connection: close\r\n\r\n".encode())
        reply = b""
        while chunk := s.recv(65536):
            reply += chunk
    if not reply.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(reply[:200])
    return time.perf_counter() - started


def flood(port: int, block: int, stop: threading.Event, cut: list) -> None:
    chunk = b"a" * (1 << 20)
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Flood: ")
                sent = 0
                while sent < block and not stop.is_set():
                    s.sendall(chunk)
                    sent += len(chunk)
        except OSError:
            cut.append(1)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def measure(port: int, key: str, seconds: float) -> list[float]:
    out, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        out.append(request(port, key))
        time.sleep(0.01)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flooders", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--block-mib", type=int, default=64)
    args = ap.parse_args()
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="seawall-flood-")
    proc = subprocess.Popen([sys.executable, "-m", "seawall", "serve", "--port", str(port), "--data-dir", data_dir],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ})
    try:
        key = wait_for_key(proc)
        baseline = measure(port, key, 2)
        idle_rss = rss_mib(proc.pid)
        stop, cut = threading.Event(), []
        floods = [threading.Thread(target=flood, args=(port, args.block_mib << 20, stop, cut), daemon=True)
                  for _ in range(args.flooders)]
        for t in floods:
            t.start()
        peak = [idle_rss]

        def sample() -> None:
            while not stop.is_set():
                peak.append(rss_mib(proc.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        during = measure(port, key, args.seconds)
        stop.set()
        for t in [*floods, sampler]:
            t.join(10)
        result = {
            "flooders": args.flooders, "block_mib": args.block_mib, "seconds": args.seconds,
            "baseline_ms": {"p50": round(statistics.median(baseline) * 1000, 2),
                            "p99": round(percentile(baseline, 0.99) * 1000, 2)},
            "during_ms": {"p50": round(statistics.median(during) * 1000, 2),
                          "p99": round(percentile(during, 0.99) * 1000, 2),
                          "max": round(max(during) * 1000, 2), "requests": len(during)},
            "rss_mib": {"idle": round(idle_rss, 1), "peak": round(max(peak), 1),
                        "after": round(rss_mib(proc.pid), 1)},
            "flood_connections_cut": len(cut),
            "pass": percentile(during, 0.99) < 0.1 and max(peak) < 150,
        }
        print(json.dumps(result, indent=2))
        return 0 if result["pass"] else 1
    finally:
        proc.terminate()
        proc.wait(15)


def wait_for_key(proc: subprocess.Popen) -> str:
    """The demo key from the banner `seawall serve` prints once it listens."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline().decode()
        found = re.search(r"(sk-sw-[A-Za-z0-9]+)", line)
        if found:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
            return found.group(1)
    raise RuntimeError("the gateway did not start")


if __name__ == "__main__":
    sys.exit(main())
