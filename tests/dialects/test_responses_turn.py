"""One translated Responses request end to end through the pure pieces: parse, reply or stream,
errors in the client's terms, and the conversation kept for the next turn."""

from __future__ import annotations

import orjson
from openai.types.responses import Response

from seawall.decide.ownership import Owner
from seawall.dialects.responses_turn import ResponsesTurn
from seawall.errors import error

KEY_1 = Owner("key_1", None, None)

CALL_CHAT = {"model": "claude-sonnet-4-5", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
    "role": "assistant", "content": None, "tool_calls": [
        {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]}}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14}}
TEXT_CHAT = {"model": "claude-sonnet-4-5", "choices": [{"index": 0, "finish_reason": "stop", "message": {
    "role": "assistant", "content": "Sunny in Oslo."}}], "usage": {"prompt_tokens": 20, "completion_tokens": 4}}
TOOLS = [{"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {}}}]


def test_a_tool_round_trip_across_two_turns():
    first = ResponsesTurn.start({"model": "claude-sonnet-4-5", "input": "Weather in Oslo?", "tools": TOOLS}, now=100)
    reply = Response.model_validate(orjson.loads(first.reply(orjson.dumps(CALL_CHAT), "req_1")))
    assert reply.id == first.shell.id and reply.output[0].call_id == "toolu_1"
    kept = first.record(KEY_1, 30, now=100)
    assert [i["type"] for i in kept.items] == ["message", "function_call"] and kept.input_start == 0
    second = ResponsesTurn.start({"model": "claude-sonnet-4-5", "previous_response_id": reply.id, "tools": TOOLS,
                                  "input": [{"type": "function_call_output", "call_id": "toolu_1",
                                             "output": "sunny"}]}, kept.items)
    assert [m["role"] for m in second.canonical.body["messages"]] == ["user", "assistant", "tool"]
    final = Response.model_validate(orjson.loads(second.reply(orjson.dumps(TEXT_CHAT), "req_2")))
    assert final.output_text == "Sunny in Oslo." and final.previous_response_id == reply.id
    again = second.record(KEY_1, 30)
    assert [i["type"] for i in again.items] == ["message", "function_call", "function_call_output", "message"]
    assert again.input_items == second.request.input_items
    assert again.output_items == second.response["output"] and again.response["id"] == final.id


def test_nothing_kept_for_store_false_or_a_failed_stream():
    unstored = ResponsesTurn.start({"model": "m", "input": "x", "store": False})
    unstored.reply(orjson.dumps(TEXT_CHAT), "req_1")
    assert unstored.record(KEY_1, 30) is None
    streamed = ResponsesTurn.start({"model": "m", "input": "x", "stream": True})
    translator = streamed.stream("req_2", "m")
    translator.feed(b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n')
    translator.error_event(error("stream_interrupted", deployment="d", detail="cut"), "req_2")
    assert streamed.record(KEY_1, 30) is None
    done = ResponsesTurn.start({"model": "m", "input": "x", "stream": True})
    translator = done.stream("req_3", "m")
    translator.feed(b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"Hi"},'
                    b'"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')
    assert done.record(KEY_1, 30).output_items[0]["content"][0]["text"] == "Hi"


def test_errors_name_the_clients_field():
    turn = ResponsesTurn.start({"model": "claude-sonnet-4-5", "input": "x",
                                "text": {"format": {"type": "json_object"}}})
    refused = error("unsupported_parameter", param="response_format", deployment="anthropic/claude",
                    detail="Anthropic has no JSON mode")
    status, body = turn.error_body(refused, "req_9")
    payload = orjson.loads(body)["error"]
    assert status == 400 and payload["param"] == "text.format" and "'text.format'" in payload["message"]
    assert payload["request_id"] == "req_9" and payload["hint"]
