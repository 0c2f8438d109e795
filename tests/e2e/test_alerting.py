"""The gateway's own alerts end to end: real simulator and gateway processes, upstream 401s and
429s injected through the simulator's control API, the alert read at /admin/alerts, by
`seawall alerts` and by a real local webhook receiver, then resolved once traffic is healthy."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
from conftest import ADMIN_KEY, BOOTSTRAP_KEY, http, own_stack, start_gateway

HI = [{"role": "user", "content": "hi"}]
SIM_KEY = "sk-sim-upstream"  # the deployments' provider key (conftest's SIM_KEY environment variable)
HOOK_TOKEN = "T000/B000/s3cr3tWebhookToken"  # stands for a Slack token in a webhook's path


class Receiver:
    """A webhook receiver on loopback: keeps every POST (path, JSON body)."""

    def __init__(self):
        self.received: list[tuple[str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.received.append((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, path: str) -> list[dict]:
        return [body for p, body in self.received if p == path]


RECEIVER = Receiver()


def alerts_config(port: int) -> str:
    def route(name: str, model: str, circuit: int = 1000) -> str:
        return (f"  - name: {name}\n    deployments:\n      - provider: openai\n"
                f"        base_url: http://127.0.0.1:{port}/v1\n        model: {model}\n        api_key_env: SIM_KEY\n"
                f"        name: sim-{name}\n        circuit: {{failures_to_open: {circuit}, cooldown_s: 2, probe_s: 0.5, "
                f"max_probe_s: 0.5}}\n")

    quick = "window_s: 4, clear_for_s: 1, cooldown_s: 0"
    return ("request_log:\n  flush_interval_s: 0.1\n"
            "alerts:\n  interval_s: 0.2\n  bucket_s: 1\n  rules:\n"
            f"    upstream_auth: {{threshold: 2, {quick}}}\n"
            f"    upstream_rate_limited: {{threshold: 0.5, min_events: 3, for_s: 0, {quick}}}\n"
            f"    stream_interrupted: {{threshold: 0.5, min_events: 3, for_s: 0, {quick}}}\n"
            f"    upstream_errors: {{enabled: false}}\n"
            f"    gateway_errors: {{enabled: false}}\n"
            "  webhooks:\n"
            f"    - {{url: 'http://127.0.0.1:{RECEIVER.port}/json', format: json, retries: 0}}\n"
            f"    - {{url: 'http://127.0.0.1:{RECEIVER.port}/services/{HOOK_TOKEN}', format: slack}}\n"
            "models:\n" + route("keyed", "gpt-4o") + route("busy", "gpt-4.1-mini") + route("healthy", "gpt-4o-mini")
            + route("cut", "gpt-4o-2024-08-06") + route("fragile", "gpt-4.1-nano", circuit=1))


upstream, gw, sim, client = own_stack("alerts", alerts_config)


def view(gateway) -> dict:
    status, _, body = http("GET", gateway.url + "/admin/alerts", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert status == 200, body
    return json.loads(body)


def wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out")


def active(gateway, rule: str, subject: str) -> dict | None:
    return next((a for a in view(gateway)["active"] if a["rule"] == rule and a["subject"] == subject), None)


def assert_no_secrets(text: str) -> None:
    for secret in (SIM_KEY, BOOTSTRAP_KEY, ADMIN_KEY, "s3cr3tWebhookToken"):
        assert secret not in text


def test_a_refused_provider_key_fires_an_alert_delivered_to_webhooks_and_resolves_when_fixed(gw, sim, client):
    """The first 401 takes the deployment out of rotation (the next requests are answered without
    calling it) and the deployment_out alert fires; a probe brings it back once the key works."""
    sim.set_faults([{"match": {"model": "gpt-4o"}, "fault": "status=401"}])
    ids = []
    for _ in range(3):
        with pytest.raises(openai.APIStatusError) as e:
            client.chat.completions.create(model="keyed", messages=HI)
        ids.append(e.value.response.headers["x-request-id"])
    alert = wait_for(lambda: active(gw, "deployment_out", "sim-keyed"), timeout=5)
    assert alert["severity"] == "critical" and alert["subject_kind"] == "deployment" and alert["measure"] == "gauge"
    assert alert["value"] == 1 and alert["threshold"] == 1
    assert alert["category"].startswith("auth.") and "revoked, rotated" in alert["hint"]
    assert alert["example_request_ids"] == ids[:1]  # the request whose refusal took it out
    assert alert["first_seen"] and alert["fired_at"] and alert["resolved_at"] is None
    assert_no_secrets(json.dumps(view(gw)))

    fired = wait_for(lambda: [e for e in RECEIVER.events("/json")
                              if e["event"] == "fired" and e["alert"]["rule"] == "deployment_out"])
    assert fired[0]["source"] == "seawall" and fired[0]["alert"]["subject"] == "sim-keyed"
    slack = wait_for(lambda: [e for e in RECEIVER.events(f"/services/{HOOK_TOKEN}") if "deployment_out" in e["text"]])
    assert set(slack[0]) == {"text"} and "FIRING" in slack[0]["text"] and "sim-keyed" in slack[0]["text"]
    assert ids[0] in slack[0]["text"]  # the operator can pull the log row
    assert_no_secrets(json.dumps([body for _, body in RECEIVER.received]))

    cli = subprocess.run([sys.executable, "-m", "seawall", "alerts", "--json", "--url", gw.url,
                          "--admin-key", ADMIN_KEY], capture_output=True, text=True, timeout=30)
    assert cli.returncode == 0, cli.stderr
    assert any(a["rule"] == "deployment_out" for a in json.loads(cli.stdout)["active"])
    text = subprocess.run([sys.executable, "-m", "seawall", "alerts", "--url", gw.url, "--admin-key", ADMIN_KEY],
                          capture_output=True, text=True, timeout=30).stdout
    assert "[critical] deployment_out  deployment sim-keyed" in text and "check first:" in text

    sim.set_faults([])  # the key is fixed: the next probe (every 0.5 s here) brings the deployment back
    wait_for(lambda: active(gw, "deployment_out", "sim-keyed") is None)
    client.chat.completions.create(model="keyed", messages=HI)
    recent = view(gw)["recent"]
    assert any(r["change"] == "resolved" and r["rule"] == "deployment_out" for r in recent)
    wait_for(lambda: [e for e in RECEIVER.events("/json") if e["event"] == "resolved"
                      and e["alert"]["rule"] == "deployment_out" and e["alert"]["resolved_at"]])
    out = gw.proc.output()
    assert "alert firing: deployment_out [critical] sim-keyed" in out and "alert resolved: deployment_out" in out
    assert "deployment sim-keyed is out of rotation" in out and "deployment sim-keyed is back in rotation" in out
    assert_no_secrets(out)


def test_upstream_429s_fire_the_rate_limit_alert_per_deployment(gw, sim, client):
    sim.set_faults([{"match": {"model": "gpt-4.1-mini"}, "fault": "status=429;x_should_retry=false"}])
    for _ in range(3):
        with pytest.raises(openai.APIStatusError):
            client.chat.completions.create(model="busy", messages=HI)
        client.chat.completions.create(model="healthy", messages=HI)
    alert = wait_for(lambda: active(gw, "upstream_rate_limited", "sim-busy"), timeout=5)
    assert alert["measure"] == "ratio" and alert["value"] >= 0.5 and alert["bad"] >= 3
    assert alert["category"].startswith("rate_limit.") and alert["check_first"]
    assert active(gw, "upstream_rate_limited", "sim-healthy") is None  # its own deployment is fine
    sim.set_faults([])
    wait_for(lambda: active(gw, "upstream_rate_limited", "sim-busy") is None)


def test_streams_cut_mid_sentence_fire_the_stream_alert(gw, sim, client):
    sim.set_faults([{"match": {"model": "gpt-4o-2024-08-06"}, "fault": "cut_after=3"}])
    for _ in range(3):
        with pytest.raises(openai.APIError):
            for _chunk in client.chat.completions.create(model="cut", messages=HI, stream=True, max_tokens=50):
                pass
    alert = wait_for(lambda: active(gw, "stream_interrupted", "sim-cut"), timeout=5)
    assert alert["value"] == 1.0 and alert["category"] == "stream.interrupted" and len(alert["example_request_ids"]) == 3


def test_an_open_circuit_fires_and_resolves_once_the_deployment_answers_again(gw, sim, client):
    sim.set_faults([{"match": {"model": "gpt-4.1-nano", "first_n": 1}, "fault": "status=503"}])
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="fragile", messages=HI)  # one failure opens it (cooldown 2 s)
    alert = wait_for(lambda: active(gw, "circuit_open", "sim-fragile"), timeout=5)
    assert alert["measure"] == "gauge" and alert["category"] == "capacity.circuit_open"
    time.sleep(2)
    client.chat.completions.create(model="fragile", messages=HI)  # the probe succeeds: closed again
    wait_for(lambda: active(gw, "circuit_open", "sim-fragile") is None, timeout=5)


def test_the_admin_alerts_route_wants_the_admin_key(gw):
    status, _, body = http("GET", gw.url + "/admin/alerts", headers={"authorization": f"Bearer {BOOTSTRAP_KEY}"})
    assert status == 401 and b"s3cr3t" not in body
    status, _, _ = http("GET", gw.url + "/admin/alerts")
    assert status == 401


def test_alerts_switched_off_cost_nothing_and_say_so(tmp_path_factory, upstream):
    config = alerts_config(upstream.port).replace("alerts:\n  interval_s: 0.2", "alerts:\n  enabled: false", 1)
    off = start_gateway(tmp_path_factory, config, "alerts-off")
    try:
        status, _, _ = http("POST", off.url + "/v1/chat/completions", {"model": "healthy", "messages": HI},
                            {"authorization": f"Bearer {off.key}"})
        assert status == 200
        assert view(off) == {**view(off), "enabled": False, "active": [], "recent": []}
    finally:
        off.proc.stop()
