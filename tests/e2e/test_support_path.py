"""The support path end to end: a failed request's capture, `seawall bundle` of a cut Claude stream
(its last chunk, no secret anywhere), `seawall replay` through the pipeline and straight to a
deployment, and the paged admin API; a real gateway in front of the simulator."""

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import ADMIN_KEY, BOOTSTRAP_KEY, http, start_gateway

PROVIDER_KEY = "sk-ant-api03-e2eProviderSecretValue0123456789"  # the deployments' key: must never leave
PASTED_KEY = "sk-proj-PastedByMistakeIntoAPrompt0123456789"  # a client pasted a key into its prompt


def support_config(sim_port: int) -> str:
    def dep(provider: str, model: str, name: str) -> str:
        return (f"      - provider: {provider}\n        base_url: http://127.0.0.1:{sim_port}/v1\n"
                f"        model: {model}\n        api_key_env: SIM_KEY\n        name: {name}\n"
                f"        timeouts: {{connect_s: 2, read_s: 30}}\n        circuit: {{failures_to_open: 1000}}\n")

    return ("request_log:\n  flush_interval_s: 0.1\n  capture_redact_paths: [metadata.email]\n"
            "models:\n"
            f"  - name: claude\n    deployments:\n{dep('anthropic', 'claude-sonnet-4-5', 'anth-main')}"
            f"  - name: gpt-4o-mini\n    deployments:\n{dep('openai', 'gpt-4o-mini', 'oai-main')}"
            f"  - name: gpt-4o\n    deployments:\n{dep('openai', 'gpt-4o', 'oai-4o')}")


@pytest.fixture(scope="module")
def gw(tmp_path_factory, simulator):
    gateway = start_gateway(tmp_path_factory, support_config(simulator.port), "support-gateway",
                            env={"SIM_KEY": PROVIDER_KEY})
    yield gateway
    gateway.proc.stop()


def admin(gw, method: str, path: str, body=None) -> tuple[int, dict]:
    status, _, raw = http(method, gw.url + path, body, {"authorization": f"Bearer {ADMIN_KEY}"})
    return status, json.loads(raw)


def captured(gw, request_id: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, view = admin(gw, "GET", f"/admin/requests/{request_id}")
        if status == 200 and view["capture"] is not None:
            return view
        time.sleep(0.1)
    raise AssertionError(f"no capture for {request_id}")


def fail_twice(gw, sim, model: str, status: int, key: str) -> str:
    """A request whose attempt and retry both get `status`, captured; the upstream is healthy after."""
    sim.set_faults([{"match": {"model": model, "first_n": 2}, "fault": f"status={status}"}])
    got, headers, _ = http("POST", gw.base_url + "/chat/completions",
                           {"model": model, "messages": [{"role": "user", "content": "Say hello"}]},
                           {"authorization": f"Bearer {key}"})
    assert got == status
    captured(gw, headers["x-request-id"])
    return headers["x-request-id"]


def cli(gw, *args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "SEAWALL_URL": gw.url, "SEAWALL_ADMIN_KEY": ADMIN_KEY}
    return subprocess.run([sys.executable, "-m", "seawall", *args], capture_output=True, text=True, timeout=120,
                          env=env, cwd=cwd)


def secrets_in(text: str) -> list[str]:
    return [s for s in (PROVIDER_KEY, BOOTSTRAP_KEY, ADMIN_KEY, PASTED_KEY, "a@b.example") if s in text]


def test_a_cut_claude_stream_is_captured_and_bundled_with_its_last_chunk_and_no_secret(gw, sim, tmp_path):
    sim.set_faults([{"match": {"model": "claude-sonnet-4-5"}, "fault": "cut_after=6"}])
    body = {"model": "claude", "max_tokens": 300, "stream": True, "metadata": {"email": "a@b.example"},
            "messages": [{"role": "user", "content": f"Tell me a story. My other key is {PASTED_KEY}"}]}
    status, headers, raw = http("POST", gw.url + "/v1/messages", body,
                                {"x-api-key": BOOTSTRAP_KEY, "anthropic-version": "2023-06-01"}, timeout=20)
    request_id = headers["x-request-id"]
    assert status == 200 and b"event: error" in raw  # the Anthropic SDK raises on it

    view = captured(gw, request_id)
    assert view["stream_end"] == "interrupted" and view["category"] == "stream.interrupted"
    capture = view["capture"]
    assert ["x-api-key", "[redacted]"] in capture["request"]["headers"]
    assert capture["stream"]["last_event"].startswith("event: error")
    assert not secrets_in(json.dumps(view))

    out = cli(gw, "bundle", request_id, "-o", str(tmp_path / "bundle.json"))
    assert out.returncode == 0, out.stderr
    assert "stream.interrupted" in out.stdout
    raw = (tmp_path / "bundle.json").read_text()
    assert secrets_in(raw) == []
    bundle = json.loads(raw)
    assert bundle["format"] == "seawall.bundle/1" and bundle["request"]["request_id"] == request_id
    assert bundle["request"]["time_utc"].endswith("Z") and bundle["generated_at"].endswith("Z")
    assert bundle["stream"]["end"] == "interrupted"
    last_chunk = bundle["stream"]["upstream_last_chunk"]["text"]
    assert "content_block_delta" in last_chunk  # the upstream's last bytes before the cut
    assert bundle["explain"]["category"] == "stream.interrupted"
    (attempt,) = bundle["attempts"]
    assert attempt["deployment"] == "anth-main" and attempt["status"] == 200
    assert dict(attempt["reply_headers"])["content-type"].startswith("text/event-stream")
    sent = bundle["request_as_sent_upstream"]
    assert sent["url"].endswith("/v1/messages") and ["x-api-key", "[redacted]"] in sent["headers"]
    assert "key is [redacted]" in sent["body"]["text"]  # the pasted key
    assert json.loads(bundle["client_request"]["body"]["text"])["metadata"]["email"] == "[redacted]"
    assert bundle["gateway"]["config_digest"].startswith("sha256:")
    assert [m["name"] for m in bundle["gateway"]["config"]] == ["claude"]
    (path,) = bundle["network"]
    assert path["deployment"] == "anth-main" and "127.0.0.1" in path["resolved"] and path["proxy"] is None

    # straight to the deployment, the Anthropic body read as the client sent it: the cut is still there
    direct = json.loads(cli(gw, "replay", request_id, "--deployment", "anth-main", "--json").stdout)
    assert direct["replay"]["status"] == 200 and direct["replay"]["stream_end"] == "interrupted", direct
    assert direct["replay"]["category"] == "stream.interrupted" and direct["replay"]["answer"]  # the text so far


def test_replay_shows_what_changed_through_the_pipeline_and_straight_to_a_deployment(gw, sim):
    request_id = fail_twice(gw, sim, "gpt-4o-mini", 503, BOOTSTRAP_KEY)

    out = cli(gw, "replay", request_id)  # the fault is spent: the pipeline answers now
    assert out.returncode == 0, out.stderr
    assert "changed: status, category, answer" in out.stdout and "503" in out.stdout
    result = json.loads(cli(gw, "replay", request_id, "--json").stdout)
    assert result["original"]["status"] == 503 and result["replay"]["status"] == 200
    assert result["replay"]["via"].startswith("pipeline, as key")
    new_id = result["replay"]["request_id"]
    assert gw.log_row(new_id)["status"] == 200  # a replay is a request like any other in the log

    direct = json.loads(cli(gw, "replay", request_id, "--deployment", "oai-4o", "--json").stdout)
    assert direct["replay"]["status"] == 200 and direct["replay"]["via"] == "deployment oai-4o"
    other = json.loads(cli(gw, "replay", request_id, "--model", "gpt-4o", "--json").stdout)
    assert other["replay"]["status"] == 200

    missing = cli(gw, "replay", "req_000000000000000000000000")
    assert missing.returncode == 1 and "No request `req_000000000000000000000000`" in missing.stderr
    wrong = cli(gw, "replay", request_id, "--deployment", "nope")
    assert wrong.returncode == 1 and "No deployment named 'nope'" in wrong.stderr and "oai-main" in wrong.stderr


def test_a_success_is_not_captured_under_failed_and_cannot_be_replayed(gw, sim):
    status, headers, _ = http("POST", gw.base_url + "/chat/completions",
                              {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                              {"authorization": f"Bearer {BOOTSTRAP_KEY}"})
    assert status == 200
    request_id = headers["x-request-id"]
    gw.log_row(request_id)
    time.sleep(0.3)
    assert admin(gw, "GET", f"/admin/requests/{request_id}")[1]["capture"] is None
    status, body = admin(gw, "POST", f"/admin/requests/{request_id}/replay", {})
    assert status == 409 and body["error"]["code"] == "replay_not_captured"


def test_the_log_api_pages_filters_and_refuses_bad_input(gw, sim):
    ids = []
    for _ in range(5):
        _, headers, _ = http("POST", gw.base_url + "/chat/completions", {"model": "nope", "messages": [
            {"role": "user", "content": "x"}]}, {"authorization": f"Bearer {BOOTSTRAP_KEY}"})
        ids.append(headers["x-request-id"])
    gw.log_row(ids[-1])
    seen, cursor = [], None
    while True:
        status, page = admin(gw, "GET", "/admin/requests?category=model.not_found&limit=2"
                             + (f"&cursor={cursor}" if cursor else ""))
        assert status == 200 and len(page["data"]) <= 2
        seen += [r["request_id"] for r in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert seen[:5] == list(reversed(ids))
    status, page = admin(gw, "GET", "/admin/requests?key=bootstrap&status=404&since=10m&limit=1")
    assert status == 200 and page["data"][0]["request_id"] == ids[-1] and page["has_more"]
    for query, param in (("limit=100000", "limit"), ("cursor=garbage", "cursor"), ("status=abc", "status"),
                         ("since=yesterday", "since"), ("colour=red", "colour")):
        status, body = admin(gw, "GET", f"/admin/requests?{query}")
        assert status == 400 and body["error"]["param"] == param, (query, body)
    status, stats = admin(gw, "GET", "/admin/stats?since=1h")
    assert status == 200 and sum(b["requests"] for b in stats["buckets"]) >= 5
    assert sum(b["errors"].get("model.not_found", 0) for b in stats["buckets"]) >= 5
    status, body = http("GET", gw.url + "/admin/requests", headers={"authorization": "Bearer sw-admin-wrong"})[::2]
    assert status == 401 and b"requests" not in body.split(b'"message"')[0]


def test_a_revoked_keys_request_is_replayed_as_the_admin(gw, sim):
    status, made = admin(gw, "POST", "/admin/keys", {"name": "short-lived"})
    assert status == 201
    request_id = fail_twice(gw, sim, "gpt-4o", 500, made["key"])
    assert admin(gw, "POST", f"/admin/keys/{made['id']}/revoke")[0] == 200
    status, result = admin(gw, "POST", f"/admin/requests/{request_id}/replay", {})
    assert status == 200 and result["replay"]["status"] == 200
    assert result["replay"]["via"] == "pipeline, as the admin (no live key)"
    assert made["key"] not in json.dumps(result)
