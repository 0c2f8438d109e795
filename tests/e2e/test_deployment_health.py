"""Deployment health end to end: a provider key refused (or an account out of credit) takes its
deployment out of rotation within one request, the alert fires, and a probe brings it back once
the key works: on its schedule, or at once from `seawall deployments test`. Real simulator and
gateway processes; the CLI through the admin API."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import openai
import pytest
from conftest import ADMIN_KEY, http, own_stack

HI = [{"role": "user", "content": "hi"}]


def dep(port: int, model: str, name: str, probe_s: float = 60) -> str:
    return (f"      - provider: openai\n        base_url: http://127.0.0.1:{port}/v1\n        model: {model}\n"
            f"        api_key_env: SIM_KEY\n        name: {name}\n"
            f"        circuit: {{failures_to_open: 1000, probe_s: {probe_s}, max_probe_s: {probe_s}}}\n")


def health_config(port: int) -> str:
    return ("request_log:\n  flush_interval_s: 0.1\nalerts:\n  interval_s: 0.2\n  bucket_s: 1\nmodels:\n"
            f"  - name: guarded\n    deployments:\n{dep(port, 'gpt-4o', 'key-a')}{dep(port, 'gpt-4o-mini', 'key-b')}"
            f"  - name: solo\n    deployments:\n{dep(port, 'gpt-4.1-mini', 'solo-key', probe_s=0.5)}"
            f"  - name: broke\n    deployments:\n{dep(port, 'gpt-4.1-nano', 'broke-key')}"
            f"{dep(port, 'gpt-4o-2024-08-06', 'broke-backup')}"
            f"  - name: manual\n    deployments:\n{dep(port, 'o4-mini', 'manual-a')}"
            f"{dep(port, 'gpt-4o-mini-2024-07-18', 'manual-b')}"
            f"  - name: text-embedding-3-small\n    deployments:\n{dep(port, 'text-embedding-3-small', 'embed-key')}")


upstream, gw, sim, client = own_stack("health", health_config)


def cli(gateway, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "seawall", "deployments", *args, "--json", "--url", gateway.url,
                          "--admin-key", ADMIN_KEY], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def cli_text(gateway, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "seawall", "deployments", *args, "--url", gateway.url,
                          "--admin-key", ADMIN_KEY], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def served_by(gateway, request_id: str) -> list[str]:
    return [a["deployment"] for a in gateway.log_row(request_id)["attempts_detail"]]


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := predicate():
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_a_revoked_key_is_out_within_one_request_and_a_test_brings_it_back(gw, sim, client):
    sim.set_faults([{"match": {"model": "gpt-4o"}, "fault": "status=401"}])
    first = client.chat.completions.with_raw_response.create(model="guarded", messages=HI)
    first_id = first.headers["x-request-id"]
    assert served_by(gw, first_id) == ["key-a", "key-b"]  # refused, then the fallback served
    later = [client.chat.completions.with_raw_response.create(model="guarded", messages=HI).headers["x-request-id"]
             for _ in range(3)]
    assert all(served_by(gw, rid) == ["key-b"] for rid in later)  # not tried again

    shown = cli(gw, "show", "key-a")
    assert shown["state"] == "out" and shown["out"]["by"] == "gateway"
    assert shown["out"]["category"].startswith("auth.") and shown["out"]["request_id"] == first_id
    assert shown["out"]["next_probe_at"] and shown["last_errors"][0]["status"] == 401
    assert shown["proxy"] == "direct" and shown["base_url"].startswith("http://127.0.0.1:")
    listed = {d["name"]: d for d in cli(gw, "list")["data"]}
    assert listed["key-a"]["state"] == "out" and listed["key-b"]["state"] == "in_rotation"
    ready = json.loads(http("GET", gw.url + "/readyz")[2])
    assert ready["out_of_rotation"]["key-a"]["by"] == "gateway"
    alert = wait_for(lambda: [a for a in json.loads(http("GET", gw.url + "/admin/alerts", headers={
        "authorization": f"Bearer {ADMIN_KEY}"})[2])["active"] if a["rule"] == "deployment_out"])
    assert alert[0]["subject"] == "key-a" and alert[0]["example_request_ids"] == [first_id]

    refused = cli(gw, "test", "key-a")  # still refused: stays out, the probe counted
    assert refused["ok"] is False and refused["status"] == 401 and refused["deployment_state"]["state"] == "out"
    sim.set_faults([])  # the key is fixed
    result = cli(gw, "test", "key-a")
    assert result["ok"] is True and result["kind"] == "chat" and result["deployment_state"]["state"] == "in_rotation"
    again = client.chat.completions.with_raw_response.create(model="guarded", messages=HI)
    assert served_by(gw, again.headers["x-request-id"]) == ["key-a"]


def test_a_scheduled_probe_brings_a_lone_deployment_back(gw, sim, client):
    sim.set_faults([{"match": {"model": "gpt-4.1-mini"}, "fault": "status=401"}])
    with pytest.raises(openai.APIStatusError) as first:
        client.chat.completions.create(model="solo", messages=HI)
    assert first.value.status_code == 502 and "rejected the gateway's provider key" in first.value.body["message"]
    with pytest.raises(openai.APIStatusError) as second:  # answered without calling the upstream
        client.chat.completions.create(model="solo", messages=HI)
    err = second.value.body
    assert second.value.status_code == 503 and err["code"] == "deployments_out"
    assert err["category"].startswith("auth.") and "solo-key" in err["message"]
    assert "seawall deployments show solo-key" in err["hint"]
    assert int(second.value.response.headers["retry-after"]) >= 1
    sim.set_faults([])
    wait_for(lambda: "solo-key" not in json.loads(http("GET", gw.url + "/readyz")[2])["out_of_rotation"])
    assert client.chat.completions.create(model="solo", messages=HI).choices[0].message.content
    assert "deployment solo-key is back in rotation" in gw.proc.output()


def test_an_account_out_of_credit_is_out_of_rotation_too(gw, sim, client):
    sim.set_faults([{"match": {"model": "gpt-4.1-nano"}, "fault": "error=insufficient_quota;status=429"}])
    rid = client.chat.completions.with_raw_response.create(model="broke", messages=HI).headers["x-request-id"]
    assert served_by(gw, rid) == ["broke-key", "broke-backup"]
    shown = cli(gw, "show", "broke-key")
    assert shown["state"] == "out" and shown["out"]["category"] == "quota.exhausted"
    assert "broke-key" in cli_text(gw, "list") and "quota.exhausted" in cli_text(gw, "show", "broke-key")


def test_disable_by_hand_holds_until_enabled(gw, sim, client):
    off = cli(gw, "disable", "manual-a", "--reason", "rotating its key")
    assert off["state"] == "disabled" and off["out"] == {**off["out"], "by": "operator", "reason": "rotating its key"}
    rid = client.chat.completions.with_raw_response.create(model="manual", messages=HI).headers["x-request-id"]
    assert served_by(gw, rid) == ["manual-b"]
    assert cli(gw, "test", "manual-a")["deployment_state"]["state"] == "disabled"  # a probe does not undo it
    assert cli(gw, "enable", "manual-a")["state"] == "in_rotation"
    rid = client.chat.completions.with_raw_response.create(model="manual", messages=HI).headers["x-request-id"]
    assert served_by(gw, rid) == ["manual-a"]


def test_an_embedding_deployment_is_probed_with_an_embedding(gw):
    result = cli(gw, "test", "embed-key")
    assert result["ok"] is True and result["kind"] == "embeddings"


def test_unknown_deployment_and_missing_reason_are_explained(gw):
    status, _, body = http("GET", gw.url + "/admin/deployments/nope", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert status == 404 and "seawall deployments list" in json.loads(body)["error"]["hint"]
    status, _, body = http("POST", gw.url + "/admin/deployments/key-b/disable", {},
                           headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert status == 400 and json.loads(body)["error"]["param"] == "reason"
