"""Same vendor in and out for google-genai: thinkingConfig and cachedContent reach a Gemini
deployment (the simulator playing generativelanguage.googleapis.com) byte for byte, under the
deployment's model in the URL; thought parts, thoughtSignature, thoughtsTokenCount and
cachedContentTokenCount come back, streamed and not; countTokens and embeddings are served too,
by the Gemini deployment or, for a model another vendor serves, counted locally and translated."""

import base64
import json

import httpx2
import pytest
from conftest import http, own_stack
from google import genai
from google.genai import errors as genai_errors
from google.genai import types


def config(sim_port: int) -> str:
    def dep(provider: str, model: str, name: str, base: str) -> str:
        return (f"      - provider: {provider}\n        base_url: http://127.0.0.1:{sim_port}{base}\n"
                f"        model: {model}\n        api_key_env: SIM_KEY\n        name: {name}\n"
                f"        timeouts: {{connect_s: 2, read_s: 30}}\n        circuit: {{failures_to_open: 1000}}\n")

    return ("request_log:\n  flush_interval_s: 0.1\n"
            "models:\n"
            f"  - name: flash\n    deployments:\n{dep('gemini', 'gemini-2.5-flash', 'gem-flash', '/v1beta')}"
            f"  - name: gemini-embedding-001\n    deployments:\n"
            f"{dep('gemini', 'gemini-embedding-001', 'gem-embed', '/v1beta')}"
            f"  - name: text-embedding-3-small\n    deployments:\n"
            f"{dep('openai', 'text-embedding-3-small', 'oai-embed', '/v1')}"
            f"  - name: gpt-4o-mini\n    deployments:\n{dep('openai', 'gpt-4o-mini', 'oai-mini', '/v1')}")


upstream, gw, sim, _ = own_stack("passthrough-gemini", config)


@pytest.fixture
def sent():
    return []


@pytest.fixture
def client(gw, sent):
    return genai.Client(api_key=gw.key, http_options=types.HttpOptions(
        base_url=gw.url, api_version="v1beta", timeout=30_000, retry_options=types.HttpRetryOptions(attempts=1),
        httpx_client=httpx2.Client(event_hooks={"request": [sent.append]}, timeout=30)))


def received(sim, method: str) -> list[dict]:
    return [r for r in json.loads(http("GET", sim.url + "/_sim/requests")[2])["requests"] if r["path"].endswith(":" + method)]


def body_of(record: dict) -> bytes:
    return base64.b64decode(record["body_b64"])


THINKING = types.GenerateContentConfig(
    thinking_config=types.ThinkingConfig(thinking_budget=1024, include_thoughts=True),
    cached_content="cachedContents/review-guide-42", max_output_tokens=200)


def test_thinking_and_cached_content_reach_gemini_byte_for_byte_and_come_back(client, gw, sim, sent):
    reply = client.models.generate_content(model="flash", contents="Review PR 42.", config=THINKING)
    [got] = received(sim, "generateContent")
    assert got["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"  # the deployment's model, in the URL
    assert body_of(got) == sent[-1].content
    assert got["headers"]["x-goog-api-key"] == "sk-sim-upstream"
    thought, answer = reply.candidates[0].content.parts
    assert thought.thought and thought.text and answer.thought_signature and answer.text
    usage = reply.usage_metadata
    assert usage.thoughts_token_count > 0 and usage.cached_content_token_count == 2048
    row = gw.log_row(reply.sdk_http_response.headers["x-request-id"])
    assert row["prompt_tokens"] == usage.prompt_token_count
    assert row["completion_tokens"] == usage.candidates_token_count + usage.thoughts_token_count
    fresh = usage.prompt_token_count - usage.cached_content_token_count
    expected = (fresh * 0.30 + 2048 * 0.03 + row["completion_tokens"] * 2.50) / 1e6
    assert row["cost_usd"] == pytest.approx(expected)


def test_a_stream_passes_the_thought_signature_and_usage_through(client, gw, sim):
    chunks = list(client.models.generate_content_stream(model="flash", contents="Review PR 42.", config=THINKING))
    parts = [p for c in chunks for p in c.candidates[0].content.parts]
    assert parts[0].thought and any(p.thought_signature for p in parts)
    last = chunks[-1]
    assert last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata.thoughts_token_count > 0 and last.usage_metadata.cached_content_token_count == 2048
    [got] = received(sim, "streamGenerateContent")
    assert got["query"] == "alt=sse"


def test_a_thought_signature_sent_back_is_the_upstreams_to_check(client, sim):
    first = client.models.generate_content(model="flash", contents="hi", config=THINKING)
    history = [types.Content(role="user", parts=[types.Part(text="hi")]), first.candidates[0].content,
               types.Content(role="user", parts=[types.Part(text="and?")])]
    assert client.models.generate_content(model="flash", contents=history).text  # its own signature: accepted
    forged = [history[0], types.Content(role="model", parts=[types.Part(text="x", thought_signature=b"forged")]),
              history[2]]
    with pytest.raises(genai_errors.ClientError) as e:
        client.models.generate_content(model="flash", contents=forged)
    assert e.value.code == 400 and "Thought signature is not valid" in e.value.message


def test_an_unknown_field_reaches_gemini_whose_400_comes_back_in_googles_envelope(gw, sim):
    status, _, raw = http("POST", gw.url + "/v1beta/models/flash:generateContent",
                          {"contents": [{"parts": [{"text": "hi"}]}], "brandNewField": True},
                          {"x-goog-api-key": gw.key})
    error = json.loads(raw)["error"]
    assert status == 400 and error["status"] == "INVALID_ARGUMENT" and "brandNewField" in error["message"]
    assert error["details"][0]["metadata"]["hint"]
    [got] = received(sim, "generateContent")
    assert json.loads(body_of(got))["brandNewField"] is True


def test_count_tokens_is_served_by_the_gemini_deployment(client, sim):
    counted = client.models.count_tokens(model="flash", contents="Review PR 42, please.")
    [got] = received(sim, "countTokens")
    assert got["path"] == "/v1beta/models/gemini-2.5-flash:countTokens" and counted.total_tokens > 3


def test_count_tokens_for_another_vendors_model_is_counted_locally(gw, sim):
    status, headers, raw = http("POST", gw.url + "/v1beta/models/gpt-4o-mini:countTokens",
                                {"contents": [{"role": "user", "parts": [{"text": "Say hello to the team"}]}]},
                                {"x-goog-api-key": gw.key})
    assert status == 200 and json.loads(raw)["totalTokens"] > 5
    assert headers["x-seawall-token-count"] == "exact:o200k_base" and received(sim, "countTokens") == []


def test_embeddings_pass_through_to_gemini_and_translate_to_openai(client, sim):
    native = client.models.embed_content(model="gemini-embedding-001", contents=["first", "second"])
    assert len(native.embeddings) == 2 and len(native.embeddings[0].values) == 3072
    [got] = received(sim, "batchEmbedContents")
    assert got["path"] == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    translated = client.models.embed_content(model="text-embedding-3-small", contents=["first", "second"])
    assert len(translated.embeddings) == 2 and len(translated.embeddings[0].values) == 1536


def test_cached_content_to_another_vendor_is_refused_by_name(client):
    with pytest.raises(genai_errors.ClientError) as e:
        client.models.generate_content(model="gpt-4o-mini", contents="hi",
                                       config=types.GenerateContentConfig(cached_content="cachedContents/x"))
    assert e.value.code == 400 and "cachedContent" in e.value.message


def test_embed_content_passes_through_and_translates(gw, sim):
    body = {"content": {"parts": [{"text": "one"}]}, "outputDimensionality": 8}
    headers = {"x-goog-api-key": gw.key}
    status, _, raw = http("POST", gw.url + "/v1beta/models/gemini-embedding-001:embedContent", body, headers)
    assert status == 200 and len(json.loads(raw)["embedding"]["values"]) == 8
    [got] = received(sim, "embedContent")
    assert json.loads(body_of(got)) == body
    status, _, raw = http("POST", gw.url + "/v1beta/models/text-embedding-3-small:embedContent",
                          {"content": {"parts": [{"text": "one"}]}}, headers)
    assert status == 200 and len(json.loads(raw)["embedding"]["values"]) == 1536


def test_a_thinking_budget_for_a_model_that_does_not_reason_is_refused_by_its_gemini_name(client):
    with pytest.raises(genai_errors.ClientError) as e:
        client.models.generate_content(model="gpt-4o-mini", contents="hi", config=types.GenerateContentConfig(
            thinking_config=types.ThinkingConfig(thinking_budget=2048)))
    assert e.value.code == 400 and "generationConfig.thinkingConfig" in e.value.message
