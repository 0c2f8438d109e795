"""Anthropic's Messages API and the Gemini API served to their official SDKs (`anthropic`,
`google-genai`) with Seawall keys, the upstream an OpenAI-compatible simulator: replies, streams,
keep-alives while a model thinks, and every error class in the caller's own dialect."""

import json

import anthropic
import pytest
from admin_cli import new_key
from conftest import http
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

HI = [{"role": "user", "content": "hi"}]


def rule(fault: str, model: str = "*") -> dict:
    return {"match": {"model": model}, "fault": fault}


@pytest.fixture
def claude(gateway):
    with anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0, timeout=20) as c:
        yield c


def gemini_client(gateway, key: str | None = None) -> genai.Client:
    return genai.Client(api_key=key or gateway.key, http_options=types.HttpOptions(
        base_url=gateway.url, api_version="v1beta", timeout=20_000,
        retry_options=types.HttpRetryOptions(attempts=1)))


# -- Anthropic ---------------------------------------------------------------------------------------

def test_anthropic_sdk_gets_a_message(claude, gateway, sim):
    raw = claude.messages.with_raw_response.create(model="gpt-4o-mini", max_tokens=20, messages=HI,
                                                   system="Be brief.")
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason in ("end_turn", "max_tokens")
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert message.model.startswith("gpt-4o-mini")  # honest: the model that served
    row = gateway.log_row(raw.headers["x-request-id"])
    assert row["dialect"] == "anthropic" and row["prompt_tokens"] == message.usage.input_tokens


def test_anthropic_sdk_streams_a_message_with_usage(claude, sim):
    with claude.messages.stream(model="gpt-4o-mini", max_tokens=30, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].text == text
    assert final.stop_reason in ("end_turn", "max_tokens")
    assert final.usage.output_tokens > 0


def test_anthropic_stream_keeps_a_thinking_model_alive_with_ping_events(gateway, sim):
    sim.set_faults([rule("think_ms=1000", "o4-mini")])
    body = {"model": "thinker", "max_tokens": 20, "messages": HI, "stream": True}
    status, _, raw = http("POST", gateway.url + "/v1/messages", body, {"x-api-key": gateway.key}, timeout=20)
    events = [line[7:] for line in raw.decode().splitlines() if line.startswith("event: ")]
    assert status == 200 and events[0] == "ping" and events.count("ping") >= 2  # keepalive_s is 0.3
    assert events[-1] == "message_stop" and "message_start" in events and "error" not in events


def test_anthropic_stream_cut_midway_raises_in_the_sdk(claude, sim):
    sim.set_faults([rule("cut_after=4")])
    with pytest.raises(anthropic.APIStatusError) as e:
        with claude.messages.stream(model="gpt-4o-mini", max_tokens=50, messages=HI) as stream:
            for _ in stream.text_stream:
                pass
    assert "stream" in str(e.value).lower()


@pytest.mark.parametrize("headers,code,fragment", [
    ({}, "missing_api_key", "x-api-key"),
    ({"x-api-key": "sk-sw-nope"}, "key_truncated", ""),
    ({"x-api-key": "sk-proj-" + "a" * 48}, "wrong_platform_key", "OpenAI"),
    ({"x-api-key": "sk-sw-e2eBootstrapKey0000000000000000000000\\n"}, "key_whitespace", "escaped newline"),
])
def test_anthropic_key_problems_are_explained_in_anthropics_envelope(gateway, headers, code, fragment):
    status, got, raw = http("POST", gateway.url + "/v1/messages",
                            {"model": "gpt-4o-mini", "max_tokens": 5, "messages": HI}, headers)
    payload = json.loads(raw)
    assert status == 401 and payload["type"] == "error"
    assert payload["error"]["type"] == "authentication_error" and payload["error"]["code"] == code
    assert fragment in payload["error"]["message"] and payload["error"]["hint"]
    assert payload["request_id"] == got["x-request-id"]


def test_anthropic_sdk_raises_its_own_classes(gateway, sim):
    with anthropic.Anthropic(base_url=gateway.url, api_key="sk-sw-" + "x" * 40, max_retries=0) as wrong:
        with pytest.raises(anthropic.AuthenticationError):
            wrong.messages.create(model="gpt-4o-mini", max_tokens=5, messages=HI)
    narrow = new_key(gateway, "--models", "text-embedding-*")
    with anthropic.Anthropic(base_url=gateway.url, api_key=narrow["key"], max_retries=0) as client:
        with pytest.raises(anthropic.PermissionDeniedError) as e:
            client.messages.create(model="gpt-4o-mini", max_tokens=5, messages=HI)
        assert e.value.body["error"]["code"] == "model_not_permitted"
        with pytest.raises(anthropic.NotFoundError):
            client.messages.create(model="no-such-model", max_tokens=5, messages=HI)
    sim.set_faults([rule("status=429;retry_after=30")])
    with anthropic.Anthropic(base_url=gateway.url, api_key=gateway.key, max_retries=0) as client:
        with pytest.raises(anthropic.RateLimitError) as limited:
            client.messages.create(model="gpt-4o-mini", max_tokens=5, messages=HI)
    assert limited.value.response.headers["retry-after"] == "30"


@pytest.mark.parametrize("body,param", [
    ({"model": "gpt-4o-mini", "messages": HI}, "max_tokens"),
    ({"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
    ({"model": "gpt-4o-mini", "max_tokens": 5, "messages": HI, "thinking": {"type": "enabled"}},
     "thinking.budget_tokens"),
    # gpt-4o-mini reasons not: thinking has no counterpart there (translation: strict)
    ({"model": "gpt-4o-mini", "max_tokens": 5000, "messages": HI,
      "thinking": {"type": "enabled", "budget_tokens": 2048}}, "thinking"),
])
def test_anthropic_request_mistakes_name_the_field(gateway, body, param):
    status, _, raw = http("POST", gateway.url + "/v1/messages", body, {"x-api-key": gateway.key})
    payload = json.loads(raw)
    assert status == 400 and payload["error"]["type"] == "invalid_request_error"
    assert payload["error"]["param"] == param and param in payload["error"]["message"] + payload["error"]["hint"]


# -- Gemini ------------------------------------------------------------------------------------------

def test_google_genai_sdk_generates_content(gateway, sim):
    client = gemini_client(gateway)
    reply = client.models.generate_content(model="gpt-4o-mini", contents="hi",
                                           config=types.GenerateContentConfig(max_output_tokens=20,
                                                                              system_instruction="Be brief."))
    assert reply.text
    assert reply.candidates[0].finish_reason in (types.FinishReason.STOP, types.FinishReason.MAX_TOKENS)
    assert reply.usage_metadata.prompt_token_count > 0 and reply.usage_metadata.candidates_token_count > 0
    assert reply.model_version.startswith("gpt-4o-mini")


def test_google_genai_sdk_streams_content_with_usage_on_the_last_chunk(gateway, sim):
    client = gemini_client(gateway)  # held: a client collected mid-stream closes its connection
    chunks = list(client.models.generate_content_stream(
        model="gpt-4o-mini", contents="hi", config=types.GenerateContentConfig(max_output_tokens=30)))
    assert "".join(c.text or "" for c in chunks)
    assert chunks[-1].candidates[0].finish_reason is not None
    assert chunks[-1].usage_metadata.total_token_count > 0


def test_google_genai_stream_survives_a_thinking_model(gateway, sim):
    """google-genai fails on SSE comments: the keep-alives are blank lines, which it skips."""
    sim.set_faults([rule("think_ms=1000", "o4-mini")])
    client = gemini_client(gateway)
    chunks = list(client.models.generate_content_stream(model="thinker", contents="hi"))
    assert "".join(c.text or "" for c in chunks)


def test_google_genai_stream_cut_midway_raises(gateway, sim):
    sim.set_faults([rule("cut_after=4")])
    client = gemini_client(gateway)
    with pytest.raises(genai_errors.APIError) as e:
        for _ in client.models.generate_content_stream(model="gpt-4o-mini", contents="hi"):
            pass
    assert e.value.code >= 500


def test_google_genai_sdk_raises_on_a_bad_key_with_the_reason(gateway):
    client = gemini_client(gateway, key="AIza" + "x" * 35)
    with pytest.raises(genai_errors.ClientError) as e:
        client.models.generate_content(model="gpt-4o-mini", contents="hi")
    assert e.value.code == 401 and e.value.status == "UNAUTHENTICATED"
    assert "Google" in e.value.message


def test_gemini_key_in_the_query_string_works(gateway, sim):
    body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    status, _, raw = http("POST", f"{gateway.url}/v1beta/models/gpt-4o-mini:generateContent?key={gateway.key}", body)
    assert status == 200 and json.loads(raw)["candidates"][0]["content"]["parts"][0]["text"]


@pytest.mark.parametrize("path,body,status,param", [
    ("/v1beta/models/gpt-4o-mini:generateContent",
     {"contents": [{"role": "assistant", "parts": [{"text": "hi"}]}]}, 400, "contents[0].role"),
    ("/v1beta/models/:generateContent", {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, 400, "model"),
    ("/v1beta/models/gpt-4o-mini:generateContent", {}, 400, "contents"),
    ("/v1beta/models/gpt-4o-mini:streamGenerateContent", {"contents": [{"parts": [{"text": "hi"}]}]}, 400, "alt"),
    ("/v1beta/models/gpt-4o-mini:predictLongRunning", {"contents": []}, 404, None),
])
def test_gemini_request_mistakes_get_googles_envelope(gateway, path, body, status, param):
    got_status, headers, raw = http("POST", gateway.url + path, body, {"x-goog-api-key": gateway.key})
    error = json.loads(raw)["error"]
    assert got_status == status and error["code"] == status and error["status"] in ("INVALID_ARGUMENT", "NOT_FOUND")
    info = error["details"][0]
    assert info["metadata"]["request_id"] == headers["x-request-id"] and info["metadata"]["hint"]
    if param:
        assert info["metadata"]["param"] == param


def test_anthropic_sdk_raises_bad_request_and_server_errors(claude, sim):
    with pytest.raises(anthropic.BadRequestError) as bad:
        claude.messages.create(model="gpt-4o-mini", max_tokens=5, messages=[{"role": "tool", "content": "x"}])
    assert bad.value.body["error"]["param"] == "messages.0.role"
    sim.set_faults([rule("status=503", "gpt-4o")])
    with pytest.raises(anthropic.InternalServerError) as down:
        claude.messages.create(model="strict", max_tokens=5, messages=HI)
    assert down.value.status_code == 503 and down.value.response.headers["retry-after"]
    assert down.value.body["error"]["type"] == "api_error" and down.value.body["request_id"]


def test_google_genai_sdk_raises_server_errors(gateway, sim):
    sim.set_faults([rule("status=503", "gpt-4o")])
    client = gemini_client(gateway)
    with pytest.raises(genai_errors.ServerError) as e:
        client.models.generate_content(model="strict", contents="hi")
    assert e.value.code == 503 and e.value.status == "UNAVAILABLE"


def test_anthropic_sdk_streams_through_a_thinking_models_pings(claude, sim):
    sim.set_faults([rule("think_ms=1000", "o4-mini")])
    with claude.messages.stream(model="thinker", max_tokens=300, messages=HI) as stream:
        text = "".join(stream.text_stream)
    assert text and stream.get_final_message().usage.output_tokens > 0


def test_each_sdk_lists_the_models_its_key_may_use(claude, gateway):
    assert "gpt-4o-mini" in [m.id for m in claude.models.list()]
    client = gemini_client(gateway)
    assert "gpt-4o-mini" in [m.name.removeprefix("models/") for m in client.models.list()]
    narrow = new_key(gateway, "--models", "text-embedding-*")
    status, _, raw = http("GET", f"{gateway.url}/v1beta/models?key={narrow['key']}")
    assert status == 200 and [m["name"] for m in json.loads(raw)["models"]] == ["models/text-embedding-3-small"]
