"""Canonical chat replies and streams rendered as the Responses API (dialects/responses_reply.py),
checked against the openai SDK's own types and its stream helper: the canonical streams are real
ones, made by the simulator's chat renderer and by the Anthropic adapter's decoder reading the
simulator's Anthropic stream."""

from __future__ import annotations

import json

import httpx2
import openai
import orjson
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from seawall.dialects.responses import read_request
from seawall.dialects.responses_reply import ResponseShell, ResponsesStream, to_response
from seawall.errors import error
from seawall.providers.anthropic import AnthropicStreamDecoder
from seawall.simulator.catalog import Catalog
from seawall.simulator.chat import plan_chat, render_events, render_reply
from seawall.simulator.config import DEFAULT_MODELS
from seawall.simulator.dialects.anthropic import CLAUDE_MODELS, plan_messages
from seawall.simulator.dialects.anthropic import render_events as anthropic_events
from seawall.simulator.dialects.base import ErrorContext
from seawall.simulator.headers import padding_pool

CATALOG = Catalog(DEFAULT_MODELS)
EVENTS = TypeAdapter(ResponseStreamEvent)
WEATHER = {"type": "function", "name": "get_weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}


def shell(**fields) -> ResponseShell:
    request = read_request({"model": "claude-sonnet-4-5", "input": "hi", **fields})
    return ResponseShell("resp_0123", 1_700_000_000, "claude-sonnet-4-5", request.echo)


def chat_stream(tokens: int = 5) -> bytes:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}], "stream": True,
            "stream_options": {"include_usage": True}}
    return b"".join(render_events(plan_chat(body, CATALOG, tokens), "chatcmpl-1", 1, padding_pool()))


def tool_stream() -> bytes:
    """The canonical stream the Anthropic adapter makes of a forced tool_use."""
    body = {"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "x"}],
            "tools": [{"name": "get_weather", "input_schema": WEATHER["parameters"]}],
            "tool_choice": {"type": "tool", "name": "get_weather"}, "stream": True}
    plan = plan_messages(body, CLAUDE_MODELS.get, ErrorContext("req_1", "org", "proj"))
    decoder = AnthropicStreamDecoder(1)
    return b"".join(event.raw for raw in anthropic_events(plan, "msg_1") for event in decoder.feed(raw))


def parse(raw: bytes) -> list[dict]:
    out = []
    for block in raw.split(b"\n\n"):
        if block:
            head, data = block.split(b"\ndata: ")
            payload = orjson.loads(data)
            assert head == b"event: " + payload["type"].encode()
            out.append(payload)
    return out


def translate(canonical: bytes, step: int = 7, **fields) -> tuple[list[dict], ResponsesStream]:
    """Fed in small uneven pieces, as the network delivers it."""
    stream = ResponsesStream(shell(**fields), clock=lambda: 1_700_000_005.0)
    out = b"".join(stream.feed(canonical[i:i + step]) for i in range(0, len(canonical), step))
    return parse(out), stream


def test_a_reply_becomes_a_response():
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}
    chat = orjson.loads(render_reply(plan_chat(body, CATALOG), "chatcmpl-1", 1))
    got = to_response(chat, shell(instructions="Be brief", metadata={"a": "b"}), now=1_700_000_001.0)
    parsed = Response.model_validate(got)
    assert parsed.output_text == chat["choices"][0]["message"]["content"] and parsed.status == "completed"
    assert parsed.model == "gpt-4o-mini-2024-07-18" and parsed.instructions == "Be brief"
    assert parsed.metadata == {"a": "b"} and parsed.id == "resp_0123"
    assert (parsed.usage.input_tokens, parsed.usage.output_tokens) == (chat["usage"]["prompt_tokens"],
                                                                      chat["usage"]["completion_tokens"])


def test_tool_calls_and_a_cut_reply():
    chat = {"model": "claude-sonnet-4-5", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "Let me check.", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}},
            {"id": "toolu_2", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30,
                  "completion_tokens_details": {"reasoning_tokens": 4}}}
    got = Response.model_validate(to_response(chat, shell(tools=[WEATHER]), now=1.0))
    assert [i.type for i in got.output] == ["message", "function_call", "function_call"]
    assert [(i.call_id, i.arguments) for i in got.output[1:]] == [("toolu_1", '{"city":"Oslo"}'),
                                                                 ("toolu_2", '{"city":"Rome"}')]
    assert got.usage.output_tokens_details.reasoning_tokens == 4 and got.status == "completed"
    cut = {"model": "m", "choices": [{"index": 0, "finish_reason": "length", "message": {"content": "Part"}}]}
    incomplete = Response.model_validate(to_response(cut, shell(), now=1.0))
    assert incomplete.status == "incomplete" and incomplete.incomplete_details.reason == "max_output_tokens"
    assert incomplete.output[0].status == "incomplete"


def test_a_text_stream():
    canonical = chat_stream(5)
    events, stream = translate(canonical)
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        *["response.output_text.delta"] * 5, "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for e in events:
        EVENTS.validate_python(e)
    final = events[-1]["response"]
    assert final["id"] == events[0]["response"]["id"] == "resp_0123"
    assert final["output"][0]["content"][0]["text"] == events[-4]["text"]
    assert final["usage"]["output_tokens"] == 5 and final["completed_at"] == 1_700_000_005
    assert stream.output == final["output"]


def test_a_tool_call_stream_from_anthropic():
    events, stream = translate(tool_stream(), step=11, tools=[WEATHER])
    kinds = [e["type"] for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-3:] == ["response.function_call_arguments.done", "response.output_item.done", "response.completed"]
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    done = events[-3]
    assert json.loads(deltas) == json.loads(done["arguments"]) == {"city": "gateways"}
    assert done["name"] == "get_weather" and stream.output[0]["call_id"].startswith("toolu_")
    for e in events:
        EVENTS.validate_python(e)


def test_failures_end_with_response_failed():
    canonical = chat_stream(5)
    head = canonical[:canonical.index(b"\n\n", 600) + 2]  # a few chunks, then the upstream stops
    stream = ResponsesStream(shell())
    out = parse(stream.feed(head) + stream.error_event(
        error("stream_interrupted", deployment="anthropic/claude", detail="the connection closed"), "req_abc"))
    assert [e["type"] for e in out[-2:]] == ["error", "response.failed"]
    failed = out[-1]["response"]
    assert failed["id"] == out[0]["response"]["id"] and failed["status"] == "failed"
    assert failed["error"]["code"] == "server_error" and failed["error"]["seawall_code"] == "stream_interrupted"
    assert failed["error"]["request_id"] == "req_abc" and failed["output"][0]["type"] == "message"
    assert out[-2]["code"] == "stream_interrupted"
    for e in out:
        EVENTS.validate_python(e)
    assert stream.error_event(error("internal_error"), "req_abc") == b""  # one end only
    limited = ResponsesStream(shell())
    before_anything = parse(limited.error_event(error("rate_limit_requests", scope="key", id="k", per_name="RPM",
                                                      limit=1, wait="1s"), "req_1"))
    assert [e["type"] for e in before_anything] == ["response.created", "response.in_progress", "error",
                                                    "response.failed"]
    assert before_anything[-1]["response"]["error"]["code"] == "rate_limit_exceeded"
    upstream = ResponsesStream(shell())
    mid = parse(upstream.feed(head + b'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n'))
    assert mid[-1]["type"] == "response.failed" and mid[-1]["response"]["error"]["message"] == "overloaded"


async def _sdk_stream(raw: bytes):
    def handler(request):
        return httpx2.Response(200, content=raw, headers={"content-type": "text/event-stream"})

    async with openai.AsyncOpenAI(api_key="k", base_url="http://gateway/v1",
                                  http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(handler))) as client:
        async with client.responses.stream(model="claude-sonnet-4-5", input="hi", tools=[WEATHER]) as stream:
            seen = [event.type async for event in stream]
            return seen, await stream.get_final_response()


async def test_the_sdk_stream_helper_reads_it():
    text_stream = ResponsesStream(shell())
    seen, final = await _sdk_stream(text_stream.feed(chat_stream(4)))
    assert seen[-1] == "response.completed" and final.output_text and final.usage.output_tokens == 4
    tool = ResponsesStream(shell(tools=[WEATHER]))
    seen, final = await _sdk_stream(tool.feed(tool_stream()))
    assert final.output[0].type == "function_call" and final.output[0].arguments == '{"city": "gateways"}'


async def test_the_sdk_sees_a_failed_stream():
    broken = ResponsesStream(shell())
    canonical = chat_stream(5)
    raw = broken.feed(canonical[:canonical.index(b"\n\n", 600) + 2]) + broken.error_event(
        error("upstream_timeout", deployment="anthropic/claude", seconds=30), "req_x")
    # The SDK's helper: no response.completed, so no final response.
    with pytest.raises(RuntimeError, match="response.completed"):
        await _sdk_stream(raw)
