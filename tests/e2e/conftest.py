"""End-to-end fixtures: the simulator and the gateway as real processes on loopback ports.

Each process is `python -m seawall …` from this checkout, its output kept in a log file that a
failing test prints. Faults are set per test through the simulator's control API and cleared
after it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import pytest

BOOTSTRAP_KEY = "sk-sw-e2eBootstrapKey0000000000000000000000"
ADMIN_KEY = "sw-admin-e2eAdminKey000000000000000000000000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: bytes | dict | list | None = None, headers: dict | None = None,
         timeout: float = 10) -> tuple[int, dict, bytes]:
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if isinstance(body, (dict, list)):
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


@dataclass
class Proc:
    name: str
    args: list[str]
    log_path: str
    env: dict = field(default_factory=dict)
    popen: subprocess.Popen | None = None

    def start(self) -> Proc:
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen([sys.executable, "-m", "seawall", *self.args], stdout=self._log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env={**os.environ, **self.env})
        return self

    def wait_http(self, url: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.output()}")
            try:
                status, _, _ = http("GET", url, timeout=1)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} not ready after {timeout}s:\n{self.output()}")

    def output(self) -> str:
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()


@dataclass
class Simulator:
    proc: Proc
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_faults(self, rules: list[dict]) -> None:
        status, _, body = http("PUT", self.url + "/_sim/faults", rules)
        assert status == 200, body

    def stats(self) -> dict:
        return json.loads(http("GET", self.url + "/_sim/stats")[2])

    def reset(self) -> None:
        self.set_faults([])
        http("POST", self.url + "/_sim/reset")


def start_simulator(tmp_path_factory, name: str = "simulator", port: int | None = None,
                    config: str = "stream_interval_ms: 0\n") -> Simulator:
    folder = tmp_path_factory.mktemp(name)
    cfg = folder / "sim.yaml"
    cfg.write_text(config)
    port = port or free_port()
    proc = Proc(name, ["simulate", "--port", str(port), "--config", str(cfg)], str(folder / "out.log")).start()
    proc.wait_http(f"http://127.0.0.1:{port}/_sim/health")
    return Simulator(proc, port)


@dataclass
class Gateway:
    proc: Proc
    port: int
    data_dir: str
    key: str = BOOTSTRAP_KEY
    admin_key: str = ADMIN_KEY

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def logs(self, *args: str) -> list[dict]:
        out = subprocess.run([sys.executable, "-m", "seawall", "logs", "--json", "--data-dir", self.data_dir, *args],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def log_row(self, request_id: str, timeout: float = 5) -> dict:
        """The request's log row, once the batched writer has flushed it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.logs("--request-id", request_id)
            if rows:
                return rows[0]
            time.sleep(0.2)
        raise AssertionError(f"no log row for {request_id}")


def start_gateway(tmp_path_factory, config: str, name: str = "gateway", env: dict | None = None,
                  args: tuple[str, ...] = ()) -> Gateway:
    folder = tmp_path_factory.mktemp(name)
    cfg = folder / "seawall.yaml"
    cfg.write_text(config)
    port = free_port()
    data_dir = str(folder / "data")
    proc = Proc(name, ["serve", "--config", str(cfg), "--port", str(port), "--data-dir", data_dir, *args],
                str(folder / "out.log"), env={"SEAWALL_BOOTSTRAP_KEY": BOOTSTRAP_KEY, "SIM_KEY": "sk-sim-upstream",
                                              "SEAWALL_ADMIN_KEY": ADMIN_KEY, **(env or {})}).start()
    proc.wait_http(f"http://127.0.0.1:{port}/readyz")
    return Gateway(proc, port, data_dir)


DEMO_KEY_LINE = re.compile(r"^API key \(.*demo key.*\): (sk-sw-\S+)$", re.M)


def start_embedded(tmp_path_factory, name: str = "embedded", data_dir: str | None = None,
                   args: tuple[str, ...] = (), env: dict | None = None) -> Gateway:
    """`seawall serve` with no config, as the README starts it: the key is the demo key it prints."""
    folder = tmp_path_factory.mktemp(name)
    port = free_port()
    data_dir = data_dir or str(folder / "data")
    proc = Proc(name, ["serve", "--port", str(port), "--data-dir", data_dir, *args], str(folder / "out.log"),
                env=env or {}).start()
    proc.wait_http(f"http://127.0.0.1:{port}/readyz")
    deadline = time.monotonic() + 10
    while not (found := DEMO_KEY_LINE.search(proc.output())) and time.monotonic() < deadline:
        time.sleep(0.05)  # the banner follows the server's start by a moment
    assert found, f"no demo key in the banner:\n{proc.output()}"
    return Gateway(proc, port, data_dir, key=found.group(1), admin_key="")


def gateway_config(sim_port: int, victim_port: int, dead_port: int) -> str:
    def dep(port: int, model: str = "gpt-4o-mini", name: str | None = None, read_s: float = 30,
            keepalive_s: float = 15, failures_to_open: int = 1000, cooldown_s: float = 10) -> str:
        # Circuits of the shared deployments never open, nor does a refused key take one out of
        # rotation: many tests fail them on purpose, and one test's failures must not skip another's
        # deployment. Breaker and health tests use their own.
        label = f"\n        name: {name}" if name else ""
        return (f"      - provider: openai\n        base_url: http://127.0.0.1:{port}/v1\n        model: {model}\n"
                f"        api_key_env: SIM_KEY{label}\n"
                f"        timeouts: {{connect_s: 2, read_s: {read_s}, keepalive_s: {keepalive_s}}}\n"
                f"        circuit: {{failures_to_open: {failures_to_open}, cooldown_s: {cooldown_s}, "
                f"take_out_refused: false}}\n")

    return (
        "server:\n  body_timeout_s: 2\n  max_body_bytes: 1048576\n"
        "  cors_allowed_origins: [\"https://chat.example.com\"]\n"
        "request_log:\n  flush_interval_s: 0.1\n"
        "models:\n"
        f"  - name: gpt-4o-mini\n    deployments:\n{dep(sim_port, name='sim-primary')}"
        f"  - name: text-embedding-3-small\n    deployments:\n{dep(sim_port, 'text-embedding-3-small')}"
        f"  - name: with-fallback\n    deployments:\n{dep(dead_port, name='dead')}{dep(sim_port, name='sim-backup')}"
        f"  - name: all-down\n    deployments:\n{dep(dead_port, name='dead')}"
        f"  - name: victim\n    deployments:\n{dep(victim_port, name='victim-sim')}"
        f"  - name: slow\n    deployments:\n{dep(sim_port, name='sim-slow', read_s=1)}"
        f"  - name: two-sims\n    deployments:\n{dep(sim_port, 'gpt-4.1-mini', 'sim-a')}{dep(sim_port, 'gpt-4o', 'sim-b')}"
        # its own deployment, so its retry budget is not spent by other tests' failures
        f"  - name: retryable\n    deployments:\n{dep(sim_port, 'gpt-4.1-nano', 'sim-retry')}"
        # its own too: the outage test's retry budget must count only its own requests
        f"  - name: outage\n    deployments:\n{dep(sim_port, 'gpt-4o-mini', 'sim-outage')}"
        f"  - name: strict\n    deployments:\n{dep(sim_port, 'gpt-4o', 'sim-strict')}"
        f"  - name: thinker\n    deployments:\n{dep(sim_port, 'o4-mini', 'sim-thinker', keepalive_s=0.3)}"
        # breaker tests: dated model ids keep their fault rules apart from every other test's
        f"  - name: fragile\n    deployments:\n"
        f"{dep(sim_port, 'gpt-4o-mini-2024-07-18', 'sim-fragile', failures_to_open=2, cooldown_s=30)}"
        f"  - name: fragile-pair\n    deployments:\n"
        f"{dep(sim_port, 'gpt-4.1-mini-2025-04-14', 'sim-fragile-a', failures_to_open=1, cooldown_s=30)}"
        f"{dep(sim_port, 'gpt-4o-mini', 'sim-steady')}"
        f"  - name: blip\n    deployments:\n"
        f"{dep(sim_port, 'gpt-4.1-nano-2025-04-14', 'sim-blip', failures_to_open=1, cooldown_s=1)}"
    )


def own_stack(name: str, config, sim_config: str = "stream_interval_ms: 0\n", env: dict | None = None):
    """Fixtures for a test file with a simulator and a gateway of its own: `upstream` and `gw`
    (module-scoped processes), `sim` (the upstream, its faults cleared around each test) and
    `client` (an openai SDK client, no retries). `config(sim_port) -> str` writes the gateway's
    config. Use: `upstream, gw, sim, client = own_stack("gate", gate_config)`."""

    @pytest.fixture(scope="module")
    def upstream(tmp_path_factory):
        sim = start_simulator(tmp_path_factory, f"{name}-sim", config=sim_config)
        yield sim
        sim.proc.stop()

    @pytest.fixture(scope="module")
    def gw(tmp_path_factory, upstream):
        gateway = start_gateway(tmp_path_factory, config(upstream.port), f"{name}-gateway", env=env)
        yield gateway
        gateway.proc.stop()

    @pytest.fixture
    def sim(upstream):
        upstream.reset()
        yield upstream
        upstream.reset()

    @pytest.fixture
    def client(gw):
        from openai import OpenAI

        with OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=30) as c:
            yield c

    return upstream, gw, sim, client


@pytest.fixture(scope="session")
def simulator(tmp_path_factory):
    sim = start_simulator(tmp_path_factory)
    yield sim
    sim.proc.stop()


@pytest.fixture(scope="session")
def victim_port():
    return free_port()


@pytest.fixture(scope="session")
def gateway(tmp_path_factory, simulator, victim_port):
    gw = start_gateway(tmp_path_factory, gateway_config(simulator.port, victim_port, free_port()))
    yield gw
    gw.proc.stop()


@pytest.fixture
def sim(simulator):
    """The shared simulator, with no faults before and after the test."""
    simulator.reset()
    yield simulator
    simulator.reset()


@pytest.fixture
def client(gateway):
    from openai import OpenAI

    with OpenAI(base_url=gateway.base_url, api_key=gateway.key, max_retries=0, timeout=20) as c:
        yield c


@pytest.fixture
async def aclient(gateway):
    from openai import AsyncOpenAI

    async with AsyncOpenAI(base_url=gateway.base_url, api_key=gateway.key, max_retries=0, timeout=20) as c:
        yield c
