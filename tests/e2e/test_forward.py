"""Files and batches through the opt-in pass-through (`passthrough:`), with the official openai
SDK: the caller's Seawall key checked (and its permission), the deployment's key sent instead,
bodies streamed both ways unchanged, requests limited and logged; a path no rule names keeps its
explained 404."""

import hashlib
import json

import openai
import pytest
from conftest import http, own_stack


def config(port: int) -> str:
    return ("request_log:\n  flush_interval_s: 0.1\n"
            "models:\n  - name: gpt-4o-mini\n    deployments:\n      - provider: openai\n"
            f"        base_url: http://127.0.0.1:{port}/v1\n        model: gpt-4o-mini\n"
            "        api_key_env: SIM_KEY\n        name: openai-main\n"
            "passthrough:\n  - name: openai-files\n    paths: [\"/v1/files*\", \"/v1/batches*\"]\n"
            "    deployment: openai-main\n")


upstream, gw, sim, client = own_stack("forward", config)
LINES = b"".join(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                             "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}})
                 .encode() + b"\n" for i in range(3))


def key(gw, **fields) -> openai.OpenAI:
    status, _, body = http("POST", gw.url + "/admin/keys", {"name": f"k-{len(json.dumps(fields))}-{id(fields)}",
                                                           **fields}, {"authorization": f"Bearer {gw.admin_key}"})
    assert status == 201, body
    return openai.OpenAI(base_url=gw.base_url, api_key=json.loads(body)["key"], max_retries=0)


def requests(sim) -> list[dict]:
    return json.loads(http("GET", sim.url + "/_sim/requests")[2])["requests"]


def test_a_file_upload_and_a_batch_through_the_pass_through(gw, sim, client):
    uploaded = client.files.create(file=("batch.jsonl", LINES, "application/jsonl"), purpose="batch")
    assert uploaded.id.startswith("file-") and uploaded.bytes == len(LINES)
    sent = [r for r in requests(sim) if r["path"] == "/v1/files"][0]
    assert sent["headers"]["authorization"] == "Bearer sk-sim-upstream"  # the deployment's key, not the caller's
    assert LINES.decode() in sent["body"]
    assert client.files.content(uploaded.id).read() == LINES  # streamed back, unchanged
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                  completion_window="24h")
    assert batch.object == "batch" and client.batches.retrieve(batch.id).id == batch.id
    assert any(b.id == batch.id for b in client.batches.list())
    row = gw.log_row(batch._request_id)
    assert (row["model_requested"], row["deployment"], row["status"], row["operation"]) == \
        ("openai-files", "openai-main", 200, "passthrough")
    assert client.files.delete(uploaded.id).deleted


def test_a_large_upload_arrives_byte_for_byte(gw, sim, client):
    data = bytes(range(256)) * (8 * 1024 * 4)  # 8 MB
    uploaded = client.files.create(file=("big.jsonl", data), purpose="user_data")
    sent = [r for r in requests(sim) if r["path"] == "/v1/files"][-1]
    assert sent["body_bytes"] > len(data) and uploaded.bytes == len(data)
    assert hashlib.sha256(client.files.content(uploaded.id).read()).digest() == hashlib.sha256(data).digest()


def test_which_keys_may_use_it(gw, sim):
    narrow = key(gw, models=["gpt-4o*"])
    with pytest.raises(openai.PermissionDeniedError) as e:
        narrow.files.list()
    assert e.value.body["code"] == "model_not_permitted" and "openai-files" in e.value.message
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=gw.base_url, api_key="sk-sw-" + "x" * 40, max_retries=0).files.list()
    assert requests(sim) == []  # neither reached the upstream
    assert key(gw, models=["gpt-4o*", "openai-files"]).files.list().data is not None
    assert len(requests(sim)) == 1


def test_limited_like_any_request(gw, sim):
    limited = key(gw, rpm=2)
    limited.files.list()
    limited.files.list()
    with pytest.raises(openai.RateLimitError) as e:
        limited.files.list()
    assert e.value.response.headers["x-ratelimit-limit-requests"] == "2"


def test_an_upstream_refusal_comes_back_explained(gw, sim, client):
    with pytest.raises(openai.NotFoundError) as e:
        client.files.retrieve("file-does-not-exist")
    assert e.value.body["request_id"] and e.value.body["hint"]
    assert "file-does-not-exist" in e.value.message


def test_a_path_no_rule_names_keeps_its_404(gw, sim, client):
    with pytest.raises(openai.NotFoundError) as e:
        client.fine_tuning.jobs.list()
    assert e.value.body["code"] == "route_not_found" and "passthrough:" in e.value.message
