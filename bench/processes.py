"""What the bench scripts share to start the processes they measure: a free loopback port, and
waiting for a started server to answer."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    """Until `url` answers 200; fails at once if `proc` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


def start_simulator(folder: str, procs: list[subprocess.Popen]) -> int:
    """The simulator with instant streams, added to `procs` (the caller stops them); its port."""
    port = free_port()
    config = os.path.join(folder, "sim.yaml")
    with open(config, "w") as f:
        f.write("stream_interval_ms: 0\n")
    sim = subprocess.Popen([sys.executable, "-m", "seawall", "simulate", "--port", str(port), "--config", config],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(sim)
    wait_http(f"http://127.0.0.1:{port}/_sim/health", sim)
    return port
