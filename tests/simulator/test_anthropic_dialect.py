"""The simulator's Anthropic dialect (POST /v1/messages): the official anthropic SDK and raw HTTP
against a real simulator, plus the pure tables (reference/provider-errors.md §3)."""

from __future__ import annotations

import json
import re

import aiohttp
import anthropic
import httpx2
import pytest

from seawall.simulator.config import SimulatorSettings
from seawall.simulator.dialects import anthropic as dialect
from seawall.simulator.dialects.base import ErrorContext

HI = [{"role": "user", "content": "Say something about gateways."}]
MODEL = "claude-haiku-4-5"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
async def claude(base_url):
    async with anthropic.AsyncAnthropic(base_url=base_url, api_key="sk-ant-api03-test", max_retries=0) as sdk:
        yield sdk


def fault(spec: str) -> dict:
    return {"extra_headers": {"x-sim-fault": spec}}


async def post(base_url: str, body: dict | bytes, headers: dict | None = None) -> tuple[int, dict, bytes]:
    headers = {"x-api-key": "sk-ant-api03-test", "anthropic-version": "2023-06-01", **(headers or {})}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with aiohttp.ClientSession() as session, session.post(base_url + "/v1/messages", data=data,
                                                                headers=headers) as r:
        return r.status, dict(r.headers), await r.read()


# -- success -------------------------------------------------------------------------------------

async def test_a_message_with_the_dated_model_usage_and_anthropics_headers(claude):
    raw = await claude.messages.with_raw_response.create(model=MODEL, max_tokens=100, messages=HI,
                                                         system="Be brief.")
    message = await raw.parse()
    assert message.model == "claude-haiku-4-5-20251001" and message.stop_reason == "end_turn"
    assert message.content[0].type == "text" and message.content[0].text
    assert message.usage.input_tokens > 0 and 0 < message.usage.output_tokens <= 100
    assert message.id.startswith("msg_01")
    headers = raw.headers
    assert headers["request-id"].startswith("req_011C") and "x-request-id" not in headers
    for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
        assert headers[f"anthropic-ratelimit-{kind}-limit"].isdigit()
        assert headers[f"anthropic-ratelimit-{kind}-remaining"].isdigit()
        assert RFC3339.match(headers[f"anthropic-ratelimit-{kind}-reset"])
    assert not any(h.startswith(("x-ratelimit-", "openai-")) for h in headers)


async def test_max_tokens_cuts_the_reply_with_stop_reason_max_tokens(claude):
    message = await claude.messages.create(model=MODEL, max_tokens=3, messages=HI, **fault("tokens=50"))
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 3


async def test_a_stream_in_anthropics_event_format_with_a_ping(base_url, claude):
    status, headers, body = await post(base_url, {"model": MODEL, "max_tokens": 50, "messages": HI, "stream": True})
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    names = re.findall(rb"^event: (\w+)$", body, re.MULTILINE)
    assert names[:3] == [b"message_start", b"content_block_start", b"ping"]
    assert names[-3:] == [b"content_block_stop", b"message_delta", b"message_stop"]
    async with claude.messages.stream(model=MODEL, max_tokens=50, messages=HI) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text and final.content[0].text == text and final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 1


async def test_a_forced_tool_answers_with_a_tool_use_block_and_takes_its_result(claude):
    tools = [{"name": "search", "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}}}]
    first = await claude.messages.create(model=MODEL, max_tokens=100, messages=HI, tools=tools,
                                         tool_choice={"type": "any"})
    use = first.content[0]
    assert first.stop_reason == "tool_use" and use.type == "tool_use" and use.input == {"query": "gateways"}
    second = await claude.messages.create(model=MODEL, max_tokens=100, tools=tools, messages=[
        *HI, {"role": "assistant", "content": [use.model_dump()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "3 results"}]}])
    assert second.stop_reason == "end_turn"


# -- validation, in Anthropic's words --------------------------------------------------------------

VALIDATION = [  # id, body, status, error type, message
    ("missing max_tokens", {"model": MODEL, "messages": HI}, 400, "invalid_request_error", "max_tokens: Field required"),
    ("an OpenAI field", {"model": MODEL, "max_tokens": 5, "messages": HI, "stream_options": {"include_usage": True}},
     400, "invalid_request_error", "stream_options: Extra inputs are not permitted"),
    ("a system role", {"model": MODEL, "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]},
     400, "invalid_request_error", "messages.0.role: Input should be 'user' or 'assistant'"),
    ("an OpenAI image part", {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://x"}}]}]}, 400, "invalid_request_error",
     "messages.0.content.0: Input tag 'image_url' found using 'type'"),
    ("an orphan tool_result", {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_x", "content": "r"}]}]}, 400, "invalid_request_error",
     "unexpected `tool_use_id` found in `tool_result` blocks: toolu_x"),
    ("too many output tokens", {"model": MODEL, "max_tokens": 100_000, "messages": HI}, 400, "invalid_request_error",
     "max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens for claude-haiku-4-5-20251001"),
    ("unknown model", {"model": "claude-5-ultra", "max_tokens": 5, "messages": HI}, 404, "not_found_error",
     "model: claude-5-ultra"),
]


@pytest.mark.parametrize("body,status,type_,message", [c[1:] for c in VALIDATION], ids=[c[0] for c in VALIDATION])
async def test_validation_errors(base_url, body, status, type_, message):
    got_status, headers, raw = await post(base_url, body)
    reply = json.loads(raw)
    assert got_status == status and reply["type"] == "error" and reply["error"]["type"] == type_
    assert message in reply["error"]["message"]
    assert reply["request_id"] == headers["request-id"]


async def test_not_json_and_no_version_header(base_url):
    status, _, raw = await post(base_url, b"{nope")
    assert status == 400 and json.loads(raw)["error"]["type"] == "invalid_request_error"
    status, _, raw = await post(base_url, {"model": MODEL, "max_tokens": 5, "messages": HI},
                                headers={"anthropic-version": ""})
    assert status == 400 and json.loads(raw)["error"]["message"] == "anthropic-version: header is required"


async def test_missing_and_wrong_keys_get_anthropics_401(start_simulator):
    url = await start_simulator(SimulatorSettings(api_keys=("sk-ant-good",)))
    status, _, raw = await post(url, {"model": MODEL, "max_tokens": 5, "messages": HI}, headers={"x-api-key": ""})
    assert status == 401 and json.loads(raw)["error"] == {"type": "authentication_error",
                                                          "message": "x-api-key header is required"}
    async with anthropic.AsyncAnthropic(base_url=url, api_key="sk-ant-bad", max_retries=0) as sdk:
        with pytest.raises(anthropic.AuthenticationError) as e:
            await sdk.messages.create(model=MODEL, max_tokens=5, messages=HI)
    assert e.value.body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}
    status, _, _ = await post(url, {"model": MODEL, "max_tokens": 5, "messages": HI}, headers={"x-api-key": "sk-ant-good"})
    assert status == 200


# -- faults ----------------------------------------------------------------------------------------

FAULTS = [  # header, SDK exception, status, error type
    ("status=529", anthropic.OverloadedError, 529, "overloaded_error"),
    ("status=429", anthropic.RateLimitError, 429, "rate_limit_error"),
    ("status=500", anthropic.InternalServerError, 500, "api_error"),
    ("status=504", anthropic.InternalServerError, 504, "timeout_error"),
    ("status=401", anthropic.AuthenticationError, 401, "authentication_error"),
    ("status=404", anthropic.NotFoundError, 404, "not_found_error"),
    ("error=credit_balance_too_low", anthropic.BadRequestError, 400, "invalid_request_error"),
    ("error=prompt_too_long", anthropic.BadRequestError, 400, "invalid_request_error"),
]


@pytest.mark.parametrize("spec,exc,status,type_", FAULTS, ids=[f[0] for f in FAULTS])
async def test_status_faults_in_anthropics_dialect(claude, spec, exc, status, type_):
    with pytest.raises(exc) as e:
        await claude.messages.create(model=MODEL, max_tokens=5, messages=HI, **fault(spec))
    assert e.value.status_code == status and e.value.body["error"]["type"] == type_
    assert e.value.request_id.startswith("req_011C")
    assert e.value.response.headers["anthropic-ratelimit-requests-limit"].isdigit()


async def test_429_carries_retry_after_and_the_spend_cap_does_not(claude):
    with pytest.raises(anthropic.RateLimitError) as e:
        await claude.messages.create(model=MODEL, max_tokens=5, messages=HI, **fault("status=429"))
    assert e.value.response.headers["retry-after"].isdigit()
    assert "would exceed the rate limit for your organization" in e.value.message
    with pytest.raises(anthropic.RateLimitError) as e:
        await claude.messages.create(model=MODEL, max_tokens=5, messages=HI, **fault("status=429;retry_after=7"))
    assert e.value.response.headers.get_list("retry-after") == ["7"]
    with pytest.raises(anthropic.RateLimitError) as e:
        await claude.messages.create(model=MODEL, max_tokens=5, messages=HI,
                                     **fault("error=enforced_spend_limit_reached"))
    assert "retry-after" not in e.value.response.headers
    assert e.value.body["error"]["details"] == {"error_code": "enforced_spend_limit_reached"}


async def test_scripted_faults_match_claude_models(base_url, claude):
    async with aiohttp.ClientSession() as session:
        rules = [{"match": {"model": "claude-haiku-*", "first_n": 1}, "fault": "status=529"}]
        async with session.put(base_url + "/_sim/faults", json=rules) as r:
            assert r.status == 200
    with pytest.raises(anthropic.OverloadedError):
        await claude.messages.create(model=MODEL, max_tokens=5, messages=HI)
    assert (await claude.messages.create(model=MODEL, max_tokens=5, messages=HI)).stop_reason


async def test_in_stream_error_event_mid_stream(claude):
    text = []
    with pytest.raises(anthropic.APIStatusError) as e:
        async with claude.messages.stream(model=MODEL, max_tokens=50, messages=HI,
                                          **fault("stream_error=overloaded_error")) as stream:
            async for piece in stream.text_stream:
                text.append(piece)
    assert text  # mid-stream: some text came first
    assert e.value.status_code == 200 and e.value.body["error"] == {"type": "overloaded_error",
                                                                     "message": "Overloaded"}


async def test_a_cut_stream_ends_without_message_stop(base_url, claude):
    with pytest.raises(aiohttp.ClientPayloadError):
        await post(base_url, {"model": MODEL, "max_tokens": 50, "messages": HI, "stream": True},
                   headers={"x-sim-fault": "cut_after=4"})
    # The SDK raises, never ends short. Its documented contract for a broken connection is
    # APIConnectionError (anthropic 2.17+ wraps the transport's error in it; older releases let the
    # transport's RemoteProtocolError through): either, as long as the cause is the cut body.
    with pytest.raises((anthropic.APIConnectionError, httpx2.RemoteProtocolError)) as raised:
        async with claude.messages.stream(model=MODEL, max_tokens=50, messages=HI, **fault("cut_after=4")) as s:
            async for _ in s:
                pass
    assert any("incomplete" in str(e) for e in causes(raised.value))


def causes(exc: BaseException | None):
    while exc is not None:
        yield exc
        exc = exc.__cause__ or exc.__context__


async def test_a_thinking_model_sends_headers_then_its_first_event_later(base_url):
    status, _, body = await post(base_url, {"model": MODEL, "max_tokens": 5, "messages": HI, "stream": True},
                                 headers={"x-sim-fault": "think_ms=200"})
    assert status == 200 and body.rstrip().endswith(b'{"type":"message_stop"}')


# -- pure tables -----------------------------------------------------------------------------------

CTX = ErrorContext(request_id="req_011Cx", organization="org-1", project="p", model="claude-haiku-4-5-20251001")


@pytest.mark.parametrize("status,type_", [(400, "invalid_request_error"), (401, "authentication_error"),
                                          (402, "billing_error"), (403, "permission_error"), (404, "not_found_error"),
                                          (413, "request_too_large"), (429, "rate_limit_error"), (500, "api_error"),
                                          (503, "api_error"), (504, "timeout_error"), (529, "overloaded_error"),
                                          (409, "invalid_request_error")])
def test_each_status_has_anthropics_error_type(status, type_):
    reply = dialect.fault_error(status, None, CTX)
    body = json.loads(reply.body)
    assert reply.status == status and body["type"] == "error" and body["error"]["type"] == type_
    assert body["request_id"] == "req_011Cx"


def test_an_unknown_variant_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="overloaded_error"):
        dialect.fault_error(None, "nope", CTX)


def test_the_in_stream_error_event():
    assert dialect.stream_error_event("overloaded") == (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n')
