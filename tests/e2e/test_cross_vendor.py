"""Across vendors, both ways: a model whose deployments are OpenAI-compatible, Claude and Gemini
(the simulator playing each), called through each client dialect with its official SDK. When
the first vendor is overloaded the next serves, and the client sees one consistent response in
its own dialect."""

import anthropic
import openai
import pytest
from conftest import start_gateway, start_simulator
from google import genai
from google.genai import types

HI = [{"role": "user", "content": "Say hello"}]
GPT, CLAUDE, GEMINI = "gpt-4o-2024-08-06", "claude-haiku-4-5-20251001", "gemini-2.0-flash"


def _config(port: int) -> str:
    def dep(provider: str, base: str, model: str) -> str:
        return (f"      - provider: {provider}\n        base_url: {base}\n        model: {model}\n"
                f"        api_key_env: {provider.upper()}_KEY\n        name: {provider}-dep\n"
                f"        timeouts: {{connect_s: 2, read_s: 10}}\n        circuit: {{failures_to_open: 1000, take_out_refused: false}}\n")

    base = f"http://127.0.0.1:{port}"
    everyone = (dep("openai", base + "/v1", GPT) + dep("anthropic", base + "/v1", CLAUDE)
                + dep("gemini", base + "/v1beta", GEMINI))
    return ("request_log:\n  flush_interval_s: 0.1\n"
            f"models:\n  - name: any-vendor\n    deployments:\n{everyone}"
            f"  - name: claude-only\n    deployments:\n{dep('anthropic', base + '/v1', 'claude-sonnet-4-5')}"
            f"  - name: gemini-only\n    deployments:\n{dep('gemini', base + '/v1beta', 'gemini-2.5-flash')}")


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    sim = start_simulator(tmp_path_factory, name="cross-vendor-sim")
    yield sim
    sim.proc.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, upstream):
    gw = start_gateway(tmp_path_factory, _config(upstream.port), name="cross-vendor-gateway",
                       env={"OPENAI_KEY": "sk-sim-openai", "ANTHROPIC_KEY": "sk-ant-sim",
                            "GEMINI_KEY": "AIzaSyGeminiUpstreamKey0000000000000000"})
    yield gw
    gw.proc.stop()


@pytest.fixture
def faults(upstream):
    upstream.reset()
    yield upstream.set_faults
    upstream.reset()


def overloaded(*models: str) -> list[dict]:
    return [{"match": {"model": m}, "fault": "status=503"} for m in models]


def test_openai_client_served_by_claude_when_the_openai_deployment_is_overloaded(gateway, faults):
    faults(overloaded(GPT))
    with openai.OpenAI(base_url=gateway.base_url, api_key=gateway.key, max_retries=0, timeout=20) as client:
        raw = client.chat.completions.with_raw_response.create(model="any-vendor", messages=HI, max_tokens=20)
        reply = raw.parse()
        chunks = list(client.chat.completions.create(model="any-vendor", messages=HI, max_tokens=20, stream=True,
                                                     stream_options={"include_usage": True}))
    assert reply.object == "chat.completion" and reply.model.startswith("claude-haiku-4-5")
    assert reply.choices[0].message.content and reply.usage.total_tokens > 0
    assert chunks[-1].usage.total_tokens > 0 and chunks[-1].model.startswith("claude-haiku-4-5")
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    row = gateway.log_row(raw.headers["x-request-id"])
    assert [a["deployment"] for a in row["attempts_detail"]][-2:] == ["openai-dep", "anthropic-dep"]


def test_anthropic_client_served_by_gemini_when_openai_and_claude_are_overloaded(gateway, faults):
    faults(overloaded(GPT, CLAUDE))
    with anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0, timeout=20) as client:
        message = client.messages.create(model="any-vendor", max_tokens=30, messages=HI)
        with client.messages.stream(model="any-vendor", max_tokens=30, messages=HI) as stream:
            text = "".join(stream.text_stream)
            final = stream.get_final_message()
    assert message.model.startswith("gemini-2.0-flash") and message.content[0].text
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert text and final.model.startswith("gemini-2.0-flash") and final.usage.output_tokens > 0


def test_gemini_client_served_by_claude(gateway, faults):
    client = genai.Client(api_key=gateway.key, http_options=types.HttpOptions(
        base_url=gateway.url, api_version="v1beta", retry_options=types.HttpRetryOptions(attempts=1)))
    reply = client.models.generate_content(model="claude-only", contents="Say hello")
    chunks = list(client.models.generate_content_stream(model="claude-only", contents="Say hello"))
    assert reply.text and reply.model_version.startswith("claude-sonnet-4-5")
    assert reply.usage_metadata.total_token_count > 0
    assert "".join(c.text or "" for c in chunks) and chunks[-1].usage_metadata.total_token_count > 0


def test_anthropic_client_served_by_claude_keeps_stop_reason_and_usage(gateway, faults):
    with anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0, timeout=20) as client:
        message = client.messages.create(model="claude-only", max_tokens=5, messages=HI)
    assert message.model.startswith("claude-sonnet-4-5") and message.stop_reason in ("max_tokens", "end_turn")
    assert message.usage.output_tokens <= 5


def test_a_vendor_error_reaches_each_sdk_as_its_own_class(gateway, faults):
    faults([{"match": {"model": "*"}, "fault": "status=429;retry_after=40"}])
    with anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0, timeout=20) as client:
        with pytest.raises(anthropic.RateLimitError) as e:
            client.messages.create(model="gemini-only", max_tokens=5, messages=HI)
    assert e.value.response.headers["retry-after"] == "40"
    client = genai.Client(api_key=gateway.key, http_options=types.HttpOptions(
        base_url=gateway.url, api_version="v1beta", retry_options=types.HttpRetryOptions(attempts=1)))
    with pytest.raises(genai.errors.ClientError) as g:
        client.models.generate_content(model="claude-only", contents="hi")
    assert g.value.code == 429 and g.value.status == "RESOURCE_EXHAUSTED"


def test_gemini_safety_settings_reach_a_gemini_upstream_and_are_refused_by_name_elsewhere(gateway, faults):
    client = genai.Client(api_key=gateway.key, http_options=types.HttpOptions(
        base_url=gateway.url, api_version="v1beta", retry_options=types.HttpRetryOptions(attempts=1)))
    config = types.GenerateContentConfig(safety_settings=[types.SafetySetting(
        category=types.HarmCategory.HARM_CATEGORY_HATE_SPEECH, threshold=types.HarmBlockThreshold.BLOCK_NONE)])
    assert client.models.generate_content(model="gemini-only", contents="hi", config=config).text
    with pytest.raises(genai.errors.ClientError) as e:
        client.models.generate_content(model="claude-only", contents="hi", config=config)
    assert e.value.code == 400 and "safety_settings" in e.value.message  # never dropped silently
