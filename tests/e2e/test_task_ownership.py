"""Midjourney tasks belong to the key that submitted them (decide/ownership.py), end to end: a key
of tenant globex gets the same 404 for tenant acme's task as for an id never handed out, in fetch,
action and list-by-condition (left out); with `server.share_within: tenant` a tenant's keys share
their tasks and still see no other tenant's."""

from __future__ import annotations

import json
import time

import pytest
from admin_cli import new_key
from conftest import http, own_stack, start_gateway

SECRET = "mj-upstream-secret-0002"


def _config(port: int, share_within: str = "key") -> str:
    return (f"server:\n  share_within: {share_within}\n"
            "models:\n  - name: midjourney\n    deployments:\n"
            f"      - provider: midjourney\n        base_url: http://127.0.0.1:{port}\n        model: midjourney\n"
            "        api_key_env: MJ_SECRET\n")


upstream, gw, sim, client = own_stack("mj-owners", _config, f"api_keys: [{SECRET}]\n", env={"MJ_SECRET": SECRET})


@pytest.fixture(scope="module")
def tenant_gw(tmp_path_factory, upstream):
    gateway = start_gateway(tmp_path_factory, _config(upstream.port, "tenant"), "mj-owners-tenant",
                            env={"MJ_SECRET": SECRET})
    yield gateway
    gateway.proc.stop()


def mj(gw, method: str, path: str, key: str, body: dict | None = None) -> tuple[int, dict]:
    status, _, raw = http(method, gw.url + path, body, {"mj-api-secret": key})
    return status, json.loads(raw)


def finished(gw, key: str, task_id: str) -> dict:
    for _ in range(300):
        status, task = mj(gw, "GET", f"/mj/task/{task_id}/fetch", key)
        assert status == 200, task
        if task["status"] in ("SUCCESS", "FAILURE"):
            return task
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} never finished")


def same_as_unknown(gw, key: str, task_id: str) -> None:
    """Another's task answers exactly as an id never handed out (but for the id and request id)."""
    status, theirs = mj(gw, "GET", f"/mj/task/{task_id}/fetch", key)
    unknown_id = str(int(task_id) + 7_000_000)
    status_unknown, unknown = mj(gw, "GET", f"/mj/task/{unknown_id}/fetch", key)
    assert status == status_unknown == 404
    strip = ("request_id",)
    assert {k: v for k, v in theirs.items() if k not in strip} == \
        {k: (v.replace(unknown_id, task_id) if isinstance(v, str) else v)
         for k, v in unknown.items() if k not in strip}


def test_a_task_of_one_tenant_is_unknown_to_another_tenants_key(gw, sim):
    acme, globex = new_key(gw, "--tenant", "acme")["key"], new_key(gw, "--tenant", "globex")["key"]
    status, submitted = mj(gw, "POST", "/mj/submit/imagine", acme, {"prompt": "acme's secret product"})
    assert status == 200
    task_id = submitted["result"]
    task = finished(gw, acme, task_id)
    assert task["prompt"] == "acme's secret product" and task["imageUrl"]

    same_as_unknown(gw, globex, task_id)
    status, listed = mj(gw, "POST", "/mj/task/list-by-condition", globex, {"ids": [task_id]})
    assert status == 200 and listed == []
    upscale = next(b["customId"] for b in task["buttons"] if b["label"] == "U1")
    status, refused = mj(gw, "POST", "/mj/submit/action", globex, {"taskId": task_id, "customId": upscale})
    assert status == 404 and refused["param"] == "taskId" and "acme" not in json.dumps(refused)
    # a second key of the same tenant is someone else too, by default
    acme_too = new_key(gw, "--tenant", "acme")["key"]
    same_as_unknown(gw, acme_too, task_id)
    # the owner still sees, lists and acts on it
    status, listed = mj(gw, "POST", "/mj/task/list-by-condition", acme, {"ids": [task_id]})
    assert status == 200 and [t["id"] for t in listed] == [task_id]
    status, child = mj(gw, "POST", "/mj/submit/action", acme, {"taskId": task_id, "customId": upscale})
    assert status == 200 and child["code"] == 1


def test_share_within_tenant_lets_a_tenants_keys_share_tasks_and_no_one_else(tenant_gw, sim):
    acme, acme_too = new_key(tenant_gw, "--tenant", "acme")["key"], new_key(tenant_gw, "--tenant", "acme")["key"]
    globex = new_key(tenant_gw, "--tenant", "globex")["key"]
    no_tenant = new_key(tenant_gw)["key"]
    _, submitted = mj(tenant_gw, "POST", "/mj/submit/imagine", acme, {"prompt": "shared within acme"})
    task = finished(tenant_gw, acme_too, submitted["result"])
    assert task["prompt"] == "shared within acme"
    same_as_unknown(tenant_gw, globex, submitted["result"])
    same_as_unknown(tenant_gw, no_tenant, submitted["result"])
    status, listed = mj(tenant_gw, "POST", "/mj/task/list-by-condition", globex, {"ids": [submitted["result"]]})
    assert listed == []
