"""Same vendor in and out for the openai SDK: fields the gateway reads nothing of (reasoning_effort,
service_tier, store, metadata, prediction, parallel_tool_calls, modalities, audio,
web_search_options, and any field newer than this code) reach an OpenAI-compatible deployment
intact, byte for byte; OpenAI-Beta and Idempotency-Key go along; an upstream's refusal comes back
in OpenAI's envelope, explained."""

import base64
import json

import openai
import pytest
from conftest import http, own_stack


def config(sim_port: int) -> str:
    def dep(model: str, name: str) -> str:
        return (f"      - provider: openai\n        base_url: http://127.0.0.1:{sim_port}/v1\n"
                f"        model: {model}\n        api_key_env: SIM_KEY\n        name: {name}\n"
                f"        timeouts: {{connect_s: 2, read_s: 30}}\n        circuit: {{failures_to_open: 1000}}\n")

    return ("request_log:\n  flush_interval_s: 0.1\n"
            "models:\n"
            f"  - name: gpt-4o-mini\n    deployments:\n{dep('gpt-4o-mini', 'oai-mini')}"
            f"  - name: thinker\n    deployments:\n{dep('o4-mini', 'oai-o4')}")


upstream, gw, sim, _ = own_stack("passthrough-openai", config)


@pytest.fixture
def sent():
    requests = []
    return requests


@pytest.fixture
def client(gw, sent):
    http_client = openai.DefaultHttpxClient(event_hooks={"request": [sent.append]})
    with openai.OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=30, http_client=http_client) as c:
        yield c


def received(sim) -> list[dict]:
    return [r for r in json.loads(http("GET", sim.url + "/_sim/requests")[2])["requests"] if r["path"] == "/v1/chat/completions"]


HI = [{"role": "user", "content": "Say hello"}]


def test_fields_the_gateway_does_not_read_reach_openai_untouched(client, sim, sent):
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=HI, service_tier="default", store=True, metadata={"team": "payments"},
        prediction={"type": "content", "content": "Hello"}, parallel_tool_calls=False, modalities=["text"],
        web_search_options={}, extra_headers={"OpenAI-Beta": "assistants=v2", "Idempotency-Key": "req-42"},
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    assert reply.choices[0].message is not None
    [got] = received(sim)
    assert base64.b64decode(got["body_b64"]) == sent[-1].content  # byte for byte
    assert got["headers"]["openai-beta"] == "assistants=v2" and got["headers"]["idempotency-key"] == "req-42"
    assert got["headers"]["authorization"] == "Bearer sk-sim-upstream"


def test_reasoning_effort_reaches_a_reasoning_model(client, sim, sent):
    client.chat.completions.create(model="thinker", messages=HI, reasoning_effort="high", max_completion_tokens=500)
    [got] = received(sim)
    body = json.loads(base64.b64decode(got["body_b64"]))
    assert body["reasoning_effort"] == "high" and body["model"] == "o4-mini"


def test_a_field_newer_than_the_gateway_is_the_upstreams_to_judge(client, sim):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI, extra_body={"brand_new_knob": {"x": 1}})
    assert "Unrecognized request argument supplied: brand_new_knob" in e.value.message
    assert e.value.body["request_id"] and e.value.body["hint"] and e.value.body["category"] == "request.invalid"
    [got] = received(sim)
    assert json.loads(base64.b64decode(got["body_b64"]))["brand_new_knob"] == {"x": 1}


def test_a_stream_that_asks_for_its_usage_goes_as_sent(client, sim, sent):
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True,
                                                 stream_options={"include_usage": True}, store=False))
    assert chunks[-1].usage.total_tokens > 0
    [got] = received(sim)
    assert base64.b64decode(got["body_b64"]) == sent[-1].content


def test_audio_output_fields_reach_openai_untouched(client, sim, sent):
    client.chat.completions.create(model="gpt-4o-mini", messages=HI, modalities=["text", "audio"],
                                   audio={"voice": "alloy", "format": "wav"})
    [got] = received(sim)
    assert base64.b64decode(got["body_b64"]) == sent[-1].content


def test_openais_cached_input_is_read_from_usage_and_priced_at_the_cached_price(client, gw, sim):
    system = {"role": "system", "content": "You review pull requests for a payments team. " * 150}
    client.chat.completions.create(model="gpt-4o-mini", messages=[system, *HI])
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=[system, *HI])
    usage = raw.parse().usage
    cached = usage.prompt_tokens_details.cached_tokens
    assert cached >= 1024 and cached % 128 == 0
    row = gw.log_row(raw.headers["x-request-id"])
    # gpt-4o-mini: input 0.15, cached input 0.075, output 0.60 USD per 1M tokens
    expected = ((usage.prompt_tokens - cached) * 0.15 + cached * 0.075 + usage.completion_tokens * 0.60) / 1e6
    assert row["cost_usd"] == pytest.approx(expected)
