"""A stranger's first run, as real processes: the README's snippets run as written against the
embedded default, the demo key survives a restart, a lost admin key is recovered with
`seawall admin reset-key`, and the banner's suggested call works for the configured models."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest
from conftest import http, start_embedded, start_gateway
from pg_server import fresh_database

from seawall.keyring import key_record, load_or_create_secret, new_key
from seawall.store.sqlite import SQLiteStore

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
ADMIN_KEY_LINE = re.compile(r"^Admin key \(.*\): (sw-admin-\S+)$", re.M)
HI = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def calling_it_snippets() -> list[tuple[str, str]]:
    """The README's ```sh and ```python blocks under "Calling it": what a newcomer pastes."""
    section = README.read_text().split("\n## Calling it", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(sh|python)\n(.+?)\n```", section, re.S)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    gw = start_embedded(tmp_path_factory, "first-run")
    yield gw
    gw.proc.stop()


def run_snippet(language: str, code: str, gateway) -> subprocess.CompletedProcess:
    code = code.replace("127.0.0.1:8100", f"127.0.0.1:{gateway.port}")
    code = code.replace("export SEAWALL_KEY=sk-sw-...", f"export SEAWALL_KEY={gateway.key}")
    command = ["bash", "-euo", "pipefail", "-c", code] if language == "sh" else [sys.executable, "-c", code]
    # The shell's own PATH plus the venv's (where the README has the SDKs installed).
    env = {**os.environ, "SEAWALL_KEY": gateway.key,
           "PATH": f"{pathlib.Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, check=False)


def test_the_readmes_snippets_run_as_written(embedded):
    snippets = calling_it_snippets()
    assert [language for language, _ in snippets].count("python") >= 2 and ("sh", snippets[0][1]) in snippets
    for language, code in snippets:
        out = run_snippet(language, code, embedded)
        assert out.returncode == 0, f"{language} snippet failed:\n{code}\n{out.stderr}"
        printed = [line for line in out.stdout.splitlines() if line.strip()]
        if language == "sh":
            assert json.loads(out.stdout)["choices"][0]["message"]["content"], out.stdout
        else:  # every print() of the snippet printed text: a reply, a story, Claude's and Gemini's answers
            assert len(printed) == code.count("\nprint(") + code.startswith("print("), (code, out.stdout)


def test_the_demo_key_survives_a_restart_and_an_old_one_is_told_which_to_use(tmp_path_factory, tmp_path):
    data_dir = str(tmp_path / "data")
    earlier = new_key()  # an earlier version's random demo key, in the same data dir

    async def plant() -> None:
        store = SQLiteStore(os.path.join(data_dir, "seawall.db"))
        await store.open()
        await store.insert_key(key_record(load_or_create_secret(data_dir), earlier, "demo"))
        await store.close()

    asyncio.run(plant())
    first = start_embedded(tmp_path_factory, "demo-1", data_dir=data_dir)
    try:
        status, _, raw = http("POST", first.base_url + "/chat/completions", HI,
                              {"authorization": f"Bearer {earlier}"})
        error = json.loads(raw)["error"]
        assert status == 401 and error["code"] == "demo_key_replaced" and error["category"] == "auth.key_revoked"
        assert "Use the demo key `seawall serve` printed at its start" in error["message"]
    finally:
        first.proc.stop()
    second = start_embedded(tmp_path_factory, "demo-2", data_dir=data_dir)
    try:
        assert second.key == first.key
        status, _, _ = http("POST", second.base_url + "/chat/completions", HI, {"authorization": f"Bearer {first.key}"})
        assert status == 200
        assert ADMIN_KEY_LINE.search(first.proc.output()) and not ADMIN_KEY_LINE.search(second.proc.output())
        assert f"Admin key: the one printed at the first start (lost it? seawall admin reset-key --data-dir " \
               f"{data_dir})" in second.proc.output()
    finally:
        second.proc.stop()
    assert first.key.encode() not in pathlib.Path(data_dir, "seawall.db").read_bytes()  # only its hash is kept


def reset_key(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("SEAWALL_ADMIN_KEY", "SEAWALL_DATABASE_URL")}
    return subprocess.run([sys.executable, "-m", "seawall", "admin", "reset-key", *args], capture_output=True,
                          text=True, timeout=30, env=env, check=False)


def admin_status(gateway, admin_key: str) -> int:
    return http("GET", gateway.url + "/admin/keys", headers={"authorization": f"Bearer {admin_key}"})[0]


def eventually_accepted(gateway, admin_key: str, timeout: float = 5) -> None:
    """The running gateway re-reads the admin hash at most once a second."""
    deadline = time.monotonic() + timeout
    while admin_status(gateway, admin_key) != 200:
        assert time.monotonic() < deadline, "the running gateway never accepted the reset admin key"
        time.sleep(0.2)


def printed_admin_key(gateway) -> str:
    deadline = time.monotonic() + 10
    while not (found := ADMIN_KEY_LINE.search(gateway.proc.output())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert found, gateway.proc.output()
    return found.group(1)


def test_a_lost_admin_key_is_reset_from_the_data_dir_without_a_restart(embedded):
    first = printed_admin_key(embedded)
    assert admin_status(embedded, first) == 200
    out = reset_key("--data-dir", embedded.data_dir)
    assert out.returncode == 0, out.stderr
    new = re.search(r"New admin key \(shown only once: store it now\): (sw-admin-\S+)", out.stdout).group(1)
    eventually_accepted(embedded, new)
    assert admin_status(embedded, first) == 401


def test_reset_key_refuses_a_dir_without_a_gateway(tmp_path):
    out = reset_key("--data-dir", str(tmp_path / "nothing"))
    assert out.returncode == 1 and "no gateway data in" in out.stderr and "Traceback" not in out.stderr


def test_a_lost_admin_key_is_reset_in_postgresql(tmp_path_factory, simulator):
    config = (f"models:\n  - name: gpt-4o-mini\n    deployments:\n      - provider: openai\n"
              f"        base_url: http://127.0.0.1:{simulator.port}/v1\n        model: gpt-4o-mini\n"
              f"        api_key_env: SIM_KEY\n")
    with fresh_database("seawall_reset") as url:
        gw = start_gateway(tmp_path_factory, config, "pg-reset", env={"SEAWALL_ADMIN_KEY": "",
                                                                      "SEAWALL_DATABASE_URL": url})
        try:
            first = printed_admin_key(gw)
            out = reset_key("--database-url", url)
            assert out.returncode == 0, out.stderr
            new = re.search(r": (sw-admin-\S+)", out.stdout).group(1)
            eventually_accepted(gw, new)
            assert admin_status(gw, first) == 401
        finally:
            gw.proc.stop()


def _embeddings_only(sim_port: int) -> str:
    return (f"models:\n  - name: text-embedding-3-small\n    deployments:\n      - provider: openai\n"
            f"        base_url: http://127.0.0.1:{sim_port}/v1\n        model: text-embedding-3-small\n"
            f"        api_key_env: SIM_KEY\n")


def _midjourney_only(sim_port: int) -> str:
    return (f"models:\n  - name: midjourney\n    deployments:\n      - provider: midjourney\n"
            f"        base_url: http://127.0.0.1:{sim_port}\n        model: midjourney\n        api_key_env: SIM_KEY\n")


@pytest.mark.parametrize(("config", "works"), [
    (_embeddings_only, lambda reply: len(reply["data"][0]["embedding"]) > 0),
    (_midjourney_only, lambda reply: reply["code"] == 1 and reply["result"]),
], ids=["embeddings-only", "midjourney-only"])
def test_the_banner_suggests_a_call_that_works_for_the_models(tmp_path_factory, simulator, config, works):
    gw = start_gateway(tmp_path_factory, config(simulator.port), "banner", env={"SEAWALL_BOOTSTRAP_KEY": ""})
    try:
        deadline = time.monotonic() + 10
        while "Request log:" not in gw.proc.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        banner = gw.proc.output().split("Try it:\n", 1)[1]
        first_call = re.search(r"^  (curl .+?[^\\])$", banner, re.S | re.M).group(1)
        assert "chat/completions" not in banner
        out = subprocess.run(["bash", "-c", first_call], capture_output=True, text=True, timeout=30, check=False)
        assert out.returncode == 0 and works(json.loads(out.stdout)), (first_call, out.stdout, out.stderr)
    finally:
        gw.proc.stop()

