"""Two gateways on one PostgreSQL database, as real processes: a key made through one works on
the other, a revocation made on one reaches the other within its auth refresh interval, and both
write the one request log. A database that can't be used refuses the start with what to check.

The database is the real PostgreSQL at 127.0.0.1:5432 (started if down, never skipped); this
module works in a database of its own, dropped at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

import asyncpg
import openai
import pytest
from admin_cli import cli_json, new_key
from conftest import ADMIN_KEY, BOOTSTRAP_KEY, Gateway, Proc, free_port, http

SERVER = "postgresql://postgres@127.0.0.1:5432"
REFRESH_S = 0.5
HELLO = [{"role": "user", "content": "hi"}]


# -- the database ---------------------------------------------------------------------------------

async def _admin(sql: str) -> bool:
    try:
        conn = await asyncpg.connect(f"{SERVER}/test", timeout=2)
    except (OSError, TimeoutError, asyncpg.PostgresError):
        return False
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
    return True


def _ensure_postgres() -> None:
    """Start the local cluster when nothing answers (as .ci/run does)."""
    if asyncio.run(_admin("SELECT 1")):
        return
    version = min(os.listdir("/etc/postgresql"))
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False)
    deadline = time.monotonic() + 30
    while not asyncio.run(_admin("SELECT 1")):
        assert time.monotonic() < deadline, "PostgreSQL did not come up after pg_ctlcluster start"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def database_url():
    _ensure_postgres()
    name = f"seawall_e2e_{uuid.uuid4().hex[:12]}"
    assert asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    yield f"{SERVER}/{name}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- the gateways ---------------------------------------------------------------------------------

def config(sim_port: int, store: str = "") -> str:
    return (f"{store}request_log:\n  flush_interval_s: 0.1\nauth:\n  refresh_interval_s: {REFRESH_S}\n"
            "models:\n  - name: gpt-4o-mini\n    deployments:\n"
            f"      - provider: openai\n        base_url: http://127.0.0.1:{sim_port}/v1\n"
            "        model: gpt-4o-mini\n        api_key_env: SIM_KEY\n        name: sim-shared\n")


def gateway_proc(folder, name: str, config_text: str, env: dict | None = None) -> tuple[Proc, int]:
    """A `seawall serve` process (not started), configured like conftest.start_gateway's."""
    (folder / "seawall.yaml").write_text(config_text)
    port = free_port()
    proc = Proc(name, ["serve", "--config", str(folder / "seawall.yaml"), "--port", str(port),
                       "--data-dir", str(folder / "data")], str(folder / "out.log"),
                env={"SEAWALL_BOOTSTRAP_KEY": BOOTSTRAP_KEY, "SIM_KEY": "sk-sim-upstream",
                     "SEAWALL_ADMIN_KEY": ADMIN_KEY, **(env or {})})
    return proc, port


@pytest.fixture(scope="module")
def gateways(tmp_path_factory, simulator, database_url):
    """A finds the database in its config (store.url), B in SEAWALL_DATABASE_URL; both start at
    once on the empty database, so they race to migrate, claim the secret and provision."""
    dir_a, dir_b = tmp_path_factory.mktemp("pg-a"), tmp_path_factory.mktemp("pg-b")
    a, port_a = gateway_proc(dir_a, "gateway-a", config(simulator.port, f"store:\n  url: {database_url}\n"))
    b, port_b = gateway_proc(dir_b, "gateway-b", config(simulator.port), env={"SEAWALL_DATABASE_URL": database_url})
    a.start(), b.start()
    try:
        a.wait_http(f"http://127.0.0.1:{port_a}/readyz")
        b.wait_http(f"http://127.0.0.1:{port_b}/readyz")
        yield Gateway(a, port_a, str(dir_a / "data")), Gateway(b, port_b, str(dir_b / "data"))
    finally:
        a.stop()
        b.stop()


def sdk(gateway: Gateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=20)


def eventually(check, timeout: float = 10.0):
    """Poll until `check` stops raising AssertionError (a bound for a slow machine, not a claim)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def logs(database_url: str, *args: str) -> list[dict]:
    out = subprocess.run([sys.executable, "-m", "seawall", "logs", "--json", "--database-url", database_url, *args],
                         capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


# -- tests ----------------------------------------------------------------------------------------

def test_both_gateways_serve_the_bootstrap_key_once(gateways, sim, database_url):
    a, b = gateways
    for gw in gateways:
        with sdk(gw, BOOTSTRAP_KEY) as client:
            assert client.chat.completions.create(model="gpt-4o-mini", messages=HELLO).choices[0].message.content
    keys = sorted(cli_json(a, "keys", "list"), key=lambda k: k["id"])
    assert [k["name"] for k in keys if k["name"] == "bootstrap"] == ["bootstrap"]  # provisioned once
    assert sorted(cli_json(b, "keys", "list"), key=lambda k: k["id"]) == keys


def test_a_key_made_on_a_works_on_b_and_its_revocation_on_a_reaches_b(gateways, sim):
    a, b = gateways
    made = new_key(a)
    assert cli_json(b, "keys", "show", made["id"])["name"] == made["name"]  # admin reads the shared store
    with sdk(b, made["key"]) as on_b:
        def served():
            try:
                return on_b.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
            except openai.AuthenticationError as e:
                raise AssertionError(f"B does not know the key yet: {e.code}") from None

        assert eventually(served).choices[0].message.content  # same secret: B hashes the key as A did
        cli_json(a, "keys", "revoke", made["id"])
        revoked_at = time.monotonic()

        def refused():
            try:
                on_b.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
            except openai.AuthenticationError as e:
                return e
            raise AssertionError("B still accepts the key revoked on A")

        err = eventually(refused)
        waited = time.monotonic() - revoked_at
    assert err.code == "key_revoked" and err.body["category"] == "auth.key_revoked"
    assert made["key"] not in err.body["message"]
    print(f"revocation on A refused on B after {waited:.2f}s (auth.refresh_interval_s = {REFRESH_S})")


def test_both_gateways_write_the_one_request_log(gateways, sim, database_url):
    ids = {}
    for gw, name in zip(gateways, "ab"):
        status, headers, _ = http("POST", gw.base_url + "/chat/completions",
                                  {"model": "gpt-4o-mini", "messages": HELLO},
                                  headers={"authorization": f"Bearer {BOOTSTRAP_KEY}"})
        assert status == 200
        ids[name] = headers["x-request-id"]

    def both_logged():
        rows = {r["request_id"]: r for r in logs(database_url, "--since", "10m", "--limit", "1000")}
        assert set(ids.values()) <= set(rows), "not flushed yet"
        return rows

    rows = eventually(both_logged)
    for request_id in ids.values():
        row = rows[request_id]
        assert row["status"] == 200 and row["deployment"] == "sim-shared" and row["attempts"] == 1
        assert row["model_requested"] == "gpt-4o-mini" and row["latency_ms"] > 0
    (one,) = logs(database_url, "--request-id", ids["b"])
    assert one["request_id"] == ids["b"]


def test_a_failed_request_on_a_is_captured_and_bundled_from_b(gateways, sim):
    """Captures live in the shared database: gateway B serves A's capture, its bundle and replay."""
    a, b = gateways
    status, headers, _ = http("POST", a.base_url + "/chat/completions", {"model": "nope", "messages": HELLO},
                              headers={"authorization": f"Bearer {BOOTSTRAP_KEY}"})
    assert status == 404
    request_id = headers["x-request-id"]
    auth = {"authorization": f"Bearer {ADMIN_KEY}"}

    def captured_on_b():
        status, _, body = http("GET", f"{b.url}/admin/requests/{request_id}", headers=auth)
        view = json.loads(body)
        assert status == 200 and view["capture"] is not None, view
        return view

    view = eventually(captured_on_b)
    assert view["capture"]["reply"]["status"] == 404 and view["category"] == "model.not_found"
    assert ["authorization", "Bearer [redacted]"] in view["capture"]["request"]["headers"]
    status, _, body = http("GET", f"{b.url}/admin/requests/{request_id}/bundle", headers=auth)
    assert status == 200 and BOOTSTRAP_KEY.encode() not in body and ADMIN_KEY.encode() not in body
    status, _, body = http("GET", f"{b.url}/admin/requests?status=404&limit=1", headers=auth)
    assert status == 200 and json.loads(body)["data"][0]["request_id"] == request_id


@pytest.mark.parametrize("how,expect", [
    ("flag", "--database-url: cannot connect to PostgreSQL at postgresql://gw:***@127.0.0.1:{port}/gw"),
    ("env", "SEAWALL_DATABASE_URL: cannot connect to PostgreSQL at postgresql://gw:***@127.0.0.1:{port}/gw"),
    ("config", "store.url: cannot connect to PostgreSQL at postgresql://gw:***@127.0.0.1:{port}/gw"),
    ("demo", "--database-url: cannot connect to PostgreSQL at postgresql://gw:***@127.0.0.1:{port}/gw"),
])
def test_an_unreachable_database_refuses_the_start_with_what_to_check(tmp_path, simulator, how, expect):
    dead = free_port()
    url = f"postgresql://gw:hunter2@127.0.0.1:{dead}/gw"
    proc, _ = gateway_proc(tmp_path, "refused", config(simulator.port, f"store:\n  url: {url}\n" if how == "config" else ""),
                           {"SEAWALL_DATABASE_URL": url} if how == "env" else None)
    if how == "demo":  # no config: the embedded default, whose simulator must not be left half-started
        proc.args = ["serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data")]
    if how in ("flag", "demo"):
        proc.args += ["--database-url", url]
    proc.start()
    assert proc.popen.wait(30) == 2
    proc.stop()
    out = proc.output()
    assert expect.format(port=dead) in out and f"pg_isready -h 127.0.0.1 -p {dead}" in out
    assert "Traceback" not in out and "hunter2" not in out


def test_a_malformed_database_url_is_named_before_anything_starts(tmp_path, simulator):
    proc, _ = gateway_proc(tmp_path, "malformed", config(simulator.port), {"SEAWALL_DATABASE_URL": "mysql://db/x"})
    proc.start()
    assert proc.popen.wait(30) != 0
    proc.stop()
    out = proc.output()
    assert "SEAWALL_DATABASE_URL: must start with postgresql://" in out and "Traceback" not in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(config(simulator.port, "store:\n  url: postgresql://db:notaport/x\n"))
    check = subprocess.run([sys.executable, "-m", "seawall", "config", "check", str(bad)], capture_output=True,
                           text=True, timeout=30, check=False)
    assert check.returncode == 1 and "store.url: not a valid URL" in check.stderr
