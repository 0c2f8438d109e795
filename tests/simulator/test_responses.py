"""The simulator's Responses API, decided without I/O: validation in OpenAI's words, the model's
deterministic choices, and replies and events shaped as the published spec and the SDK read them."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from seawall.simulator.catalog import Catalog
from seawall.simulator.config import DEFAULT_MODELS
from seawall.simulator.dialects import openai as oai
from seawall.simulator.responses import (
    KNOWN_FIELDS,
    ResponseIds,
    failure,
    final_status,
    output_items,
    plan_responses,
    render_events,
    response_object,
)

CATALOG = Catalog(DEFAULT_MODELS)
SCHEMAS = json.loads((Path(__file__).parent.parent / "data" / "openai_schemas.json").read_text())
IDS = ResponseIds("resp_1", "msg_1", "fc_1", "call_1", "rs_1", 1_700_000_000)
WEATHER = {"type": "function", "name": "get_weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                          "required": ["city"]}}
EVENTS = TypeAdapter(ResponseStreamEvent)


def nothing_stored(response_id: str):
    return None


def plan(body, earlier=nothing_stored, tokens=None):
    return plan_responses({"model": "gpt-4o-mini", **body}, CATALOG, earlier, tokens)


def test_every_spec_request_field_is_known():
    assert set(SCHEMAS["CreateResponse"]["properties"]) <= KNOWN_FIELDS


ERRORS = [  # id, body, status, param, code, message fragment
    ("unknown field", {"input": "hi", "foo": 1}, 400, "foo", "unknown_parameter", "Unknown parameter: 'foo'."),
    ("no input", {}, 400, "input", "missing_required_parameter", "Missing required parameter: 'input'."),
    ("input a number", {"input": 3}, 400, "input", "invalid_type", "expected a string or an array"),
    ("empty input", {"input": []}, 400, "input", "empty_array", "empty array"),
    ("unknown item type", {"input": [{"type": "web_search_call"}]}, 400, "input[0].type", "invalid_value",
     "Invalid value: 'web_search_call'"),
    ("message without content", {"input": [{"role": "user"}]}, 400, "input[0].content",
     "missing_required_parameter", None),
    ("bad role", {"input": [{"role": "robot", "content": "x"}]}, 400, "input[0].role", "invalid_value", None),
    ("bad part", {"input": [{"role": "user", "content": [{"type": "output_audio"}]}]}, 400,
     "input[0].content[0].type", "invalid_value", None),
    ("orphan tool output", {"input": [{"type": "function_call_output", "call_id": "call_x", "output": "1"}]}, 400,
     "input", None, "No tool call found for function call output with call_id call_x."),
    ("max_output_tokens below 16", {"input": "hi", "max_output_tokens": 5}, 400, "max_output_tokens",
     "integer_below_min_value", "Expected a value >= 16"),
    ("reasoning on a chat model", {"input": "hi", "reasoning": {"effort": "low"}}, 400, "reasoning.effort",
     "unsupported_parameter", None),
    ("tool_choice names no tool", {"input": "hi", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "x"}},
     400, "tool_choice", None, "not found in 'tools'"),
    ("json_schema without schema", {"input": "hi", "text": {"format": {"type": "json_schema", "name": "a"}}}, 400,
     "text.format.schema", "missing_required_parameter", None),
    ("unknown previous response", {"input": "hi", "previous_response_id": "resp_x"}, 404, "previous_response_id",
     "previous_response_not_found", "Previous response with id 'resp_x' not found."),
]


@pytest.mark.parametrize("body,status,param,code,fragment", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_errors_as_openai_sends_them(body, status, param, code, fragment):
    got = plan(body)
    assert isinstance(got, oai.ApiError)
    assert (got.status, got.param, got.code) == (status, param, code)
    assert fragment is None or fragment in got.message


def test_a_model_that_does_not_answer_responses():
    for model in ("text-embedding-3-small", "whisper-1"):
        got = plan_responses({"model": model, "input": "hi"}, CATALOG, nothing_stored)
        assert isinstance(got, oai.ApiError) and got.param == "model"
    missing = plan_responses({"model": "gpt-9", "input": "hi"}, CATALOG, nothing_stored)
    assert isinstance(missing, oai.ApiError) and missing.code == "model_not_found"


CHOICES = [  # id, body, expects a call
    ("no tools: text", {"input": "use get_weather"}, False),
    ("auto, the prompt names the tool", {"input": "use get_weather please", "tools": [WEATHER]}, True),
    ("auto, the prompt does not", {"input": "hello", "tools": [WEATHER]}, False),
    ("required", {"input": "hello", "tools": [WEATHER], "tool_choice": "required"}, True),
    ("named", {"input": "hello", "tools": [WEATHER], "tool_choice": {"type": "function", "name": "get_weather"}}, True),
    ("none", {"input": "use get_weather", "tools": [WEATHER], "tool_choice": "none"}, False),
    ("after the tool's output: text", {"tools": [WEATHER], "tool_choice": "required", "input": [
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"}]}, False),
]


@pytest.mark.parametrize("body,calls", [c[1:] for c in CHOICES], ids=[c[0] for c in CHOICES])
def test_the_model_calls_a_function_deterministically(body, calls):
    got = plan(body)
    assert (got.call is not None) == calls
    if calls:
        assert got.call["name"] == "get_weather" and json.loads(got.call["arguments"]) == {"city": "gateways",
                                                                                          "days": 42}
        assert got.pieces == ()
    else:
        assert got.pieces


def test_previous_response_conversation_is_read():
    earlier = ({"type": "function_call", "call_id": "c9", "name": "get_weather", "arguments": "{}"},)
    got = plan({"previous_response_id": "resp_a", "input": [{"type": "function_call_output", "call_id": "c9",
                                                             "output": "rain"}]},
               earlier=lambda rid: earlier if rid == "resp_a" else None)
    assert got.earlier == earlier and got.call is None
    assert got.input_items[0]["type"] == "function_call_output" and got.input_items[0]["id"].startswith("fco_")


def test_same_input_same_answer_and_json_schema_answers_its_shape():
    assert plan({"input": "a question"}).pieces == plan({"input": "a question"}).pieces
    schema = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}}
    got = plan({"input": "x", "text": {"format": {"type": "json_schema", "name": "person", "schema": schema}}})
    assert json.loads("".join(got.pieces)) == {"name": "gateways", "age": 42}


def test_max_output_tokens_cuts_and_reasoning_spends_first():
    short = plan({"input": "x", "max_output_tokens": 16}, tokens=40)
    assert short.incomplete and len(short.pieces) == 16 and final_status(short) == "incomplete"
    thinking = plan_responses({"model": "o4-mini", "input": "x", "max_output_tokens": 2000}, CATALOG, nothing_stored)
    assert thinking.reasoning_tokens >= 64
    assert thinking.output_tokens == thinking.reasoning_tokens + len(thinking.pieces)
    assert [i["type"] for i in output_items(thinking, IDS)] == ["reasoning", "message"]


def _has_required(obj: dict, schema: str) -> None:
    missing = set(SCHEMAS[schema]["required"]) - set(obj)
    assert not missing, f"{schema} lacks {missing}"


def test_response_object_has_the_spec_fields_and_parses():
    got = plan({"input": "hello", "instructions": "be brief", "metadata": {"a": "b"}})
    body = response_object(got, IDS, "completed", output_items(got, IDS), completed_at=1.0)
    _has_required(body, "Response")
    _has_required(body["usage"], "ResponseUsage")
    _has_required(body["output"][0], "OutputMessage")
    _has_required(body["output"][0]["content"][0], "OutputTextContent")
    parsed = Response.model_validate(body)
    assert parsed.output_text == "".join(got.pieces) and parsed.instructions == "be brief"
    assert parsed.usage.total_tokens == got.input_tokens + got.output_tokens


def _events(raw: list[bytes]) -> list[dict]:
    out = []
    for block in raw:
        head, data = block.split(b"\ndata: ")
        payload = orjson.loads(data)
        assert head == b"event: " + payload["type"].encode()
        out.append(payload)
    return out


def test_stream_events_in_order_with_sequence_numbers():
    got = plan({"input": "hello"}, tokens=3)
    events = _events(render_events(got, IDS, 1.0))
    assert [e["type"] for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    schema_of = {"response.created": "ResponseCreatedEvent", "response.output_text.delta": "ResponseTextDeltaEvent",
                 "response.output_text.done": "ResponseTextDoneEvent", "response.completed": "ResponseCompletedEvent",
                 "response.content_part.added": "ResponseContentPartAddedEvent"}
    for e in events:
        if e["type"] in schema_of:
            _has_required(e, schema_of[e["type"]])
        EVENTS.validate_python(e)
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "".join(
        e["delta"] for e in events if e["type"] == "response.output_text.delta")


def test_function_call_stream_and_failure_events():
    got = plan({"input": "hi", "tools": [WEATHER], "tool_choice": "required"})
    events = _events(render_events(got, IDS, 1.0))
    kinds = [e["type"] for e in events]
    assert kinds[2:6] == ["response.output_item.added", "response.function_call_arguments.delta",
                          "response.function_call_arguments.delta", "response.function_call_arguments.done"]
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    assert deltas == events[5]["arguments"] == got.call["arguments"]
    failed = _events([failure(got, IDS, "server_error", 7, as_error_event=False)])[0]
    assert failed["type"] == "response.failed" and failed["sequence_number"] == 7
    assert failed["response"]["status"] == "failed" and failed["response"]["error"]["code"] == "server_error"
    error = _events([failure(got, IDS, "rate_limit_exceeded", 3, as_error_event=True)])[0]
    _has_required(error, "ResponseErrorEvent")
    for e in (failed, error):
        EVENTS.validate_python(e)
