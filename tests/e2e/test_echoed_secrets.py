"""An upstream that repeats the request's Authorization in its errors (the simulator's echo_auth
fault, as some relays do) never gets the operator's provider key to a client, the gateway's log,
the request log or the alerts; and server.upstream_error_detail decides what of an upstream's
error a client sees while the request log keeps all of it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ADMIN_KEY, http, start_gateway, start_simulator

OPENAI_KEY = "sk-proj-UpstreamSecretOpenAI0123456789abcdefXYZ"
ANTHROPIC_KEY = "sk-ant-api03-UpstreamSecretAnthropic0123456789abcdef"
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def config(sim_port: int, detail: str) -> str:
    def dep(provider: str, model: str, env: str) -> str:
        return (f"      - provider: {provider}\n        base_url: http://127.0.0.1:{sim_port}/v1\n"
                f"        model: {model}\n        api_key_env: {env}\n"
                # the tests refuse the provider key on purpose: it must not take the deployment out
                "        circuit: {failures_to_open: 1000, take_out_refused: false}\n")

    return (f"server:\n  upstream_error_detail: {detail}\nrequest_log:\n  flush_interval_s: 0.1\n"
            "alerts:\n  enabled: true\n"
            f"models:\n  - name: gpt-4o-mini\n    deployments:\n{dep('openai', 'gpt-4o-mini', 'OPENAI_KEY')}"
            f"  - name: claude\n    deployments:\n{dep('anthropic', 'claude-sonnet-4-5', 'ANTHROPIC_KEY')}")


@pytest.fixture(scope="module")
def echo_sim(tmp_path_factory):
    # the simulator checks the keys it gets: a 401 comes from a fault only
    sim = start_simulator(tmp_path_factory, "echo-sim",
                          config=f"stream_interval_ms: 0\napi_keys: [{OPENAI_KEY}, {ANTHROPIC_KEY}]\n")
    yield sim
    sim.proc.stop()


def gateway_with(detail: str):
    @pytest.fixture(scope="module")
    def fixture(tmp_path_factory, echo_sim):
        gw = start_gateway(tmp_path_factory, config(echo_sim.port, detail), f"echo-{detail}",
                           env={"OPENAI_KEY": OPENAI_KEY, "ANTHROPIC_KEY": ANTHROPIC_KEY})
        yield gw
        gw.proc.stop()

    return fixture


full_gw = gateway_with("full")
hint_gw = gateway_with("category_and_hint")
generic_gw = gateway_with("generic")


@pytest.fixture
def sim(echo_sim):
    echo_sim.reset()
    yield echo_sim
    echo_sim.reset()


def echo_on(sim, status: int) -> None:
    sim.set_faults([{"match": {"model": "*"}, "fault": f"status={status};echo_auth"}])


def leaks(text: str) -> list[str]:
    """Any piece of a provider key long enough to matter."""
    return [key for key in (OPENAI_KEY, ANTHROPIC_KEY) for i in range(0, len(key) - 12) if key[i:i + 12] in text]


def chat(gw, model: str, path: str = "/v1/chat/completions", stream: bool = False) -> tuple[int, dict, bytes]:
    body = {"model": model, **CHAT, **({"stream": True} if stream else {})}
    if path == "/v1/messages":
        body["max_tokens"] = 20
    return http("POST", gw.url + path, body, {"authorization": f"Bearer {gw.key}"})


@pytest.mark.parametrize("status", [400, 401, 500])
@pytest.mark.parametrize("model,path", [("gpt-4o-mini", "/v1/chat/completions"), ("claude", "/v1/chat/completions"),
                                        ("gpt-4o-mini", "/v1/messages"), ("claude", "/v1/messages")])
def test_an_echoed_provider_key_reaches_no_client(full_gw, sim, status, model, path):
    echo_on(sim, status)
    got, headers, raw = chat(full_gw, model, path)
    assert got >= 400 and not leaks(raw.decode()), raw
    if status != 401:  # the upstream's own words are shown (full), with the key taken out
        assert "[redacted credential]" in raw.decode(), raw
    row = full_gw.log_row(headers["x-request-id"])
    assert not leaks(json.dumps(row)) and "[redacted credential]" in json.dumps(row["attempts_detail"])


def test_nor_a_streaming_client(full_gw, sim):
    echo_on(sim, 500)
    got, _, raw = chat(full_gw, "gpt-4o-mini", stream=True)
    assert got == 500 and not leaks(raw.decode())


def test_nor_the_gateways_log_nor_its_alerts(full_gw, sim):
    echo_on(sim, 500)
    for _ in range(5):
        chat(full_gw, "gpt-4o-mini")
    assert not leaks(full_gw.proc.output())
    status, _, alerts = http("GET", full_gw.url + "/admin/alerts", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert status == 200 and not leaks(alerts.decode())
    out = subprocess.run([sys.executable, "-m", "seawall", "logs", "--data-dir", full_gw.data_dir, "--status", "5xx"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and not leaks(out.stdout)


def test_category_and_hint_shows_seawalls_words_only(hint_gw, sim):
    echo_on(sim, 400)
    got, headers, raw = chat(hint_gw, "gpt-4o-mini")
    err = json.loads(raw)["error"]
    assert got == 400 and err["category"] == "request.invalid" and err["hint"]
    # what every SDK prints: Seawall's sentence, then the category's first check; no upstream words
    assert err["message"] == f"The upstream could not serve this request (request.invalid). {err['hint']}"
    assert err["code"] == "upstream_withheld" and err["param"] is None
    row = hint_gw.log_row(headers["x-request-id"])
    assert row["category"] == "request.invalid" and "request had" in row["attempts_detail"][0]["detail"]


def test_generic_shows_one_sentence_and_keeps_the_status_and_request_id(generic_gw, sim):
    sim.set_faults([{"match": {"model": "*"}, "fault": "status=429;error=insufficient_quota;echo_auth"}])
    got, headers, raw = chat(generic_gw, "gpt-4o-mini")
    err = json.loads(raw)["error"]
    assert got == 429 and err["message"].startswith("The upstream could not serve this request. ")
    assert err["message"] == f"The upstream could not serve this request. {err['hint']}"  # one generic next step
    assert err["category"] == "rate_limit.unspecified"  # what the status alone says: the quota is not told
    assert err["request_id"] == headers["x-request-id"] and "quota" not in raw.decode().lower()
    assert generic_gw.log_row(headers["x-request-id"])["category"] == "quota.exhausted"  # the log knows
    echo_on(sim, 500)
    got, _, raw = chat(generic_gw, "claude", "/v1/messages")  # Anthropic's envelope, the same sentence
    assert got == 500 and json.loads(raw)["error"]["message"] == f"The upstream could not serve this request. {err['hint']}"
