"""A Responses request translated to the canonical chat form: field by field, and refused, naming
the field, where the canonical form has no counterpart (dialects/responses.py)."""

from __future__ import annotations

import pytest

from seawall.dialects.responses import previous_response_id, read_request
from seawall.errors import SeawallError

WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": True}
CALL = {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Oslo"}'}
OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": "sunny"}

TRANSLATED = [  # id, request fields (model added), the canonical chat body expected (model added)
    ("a string input", {"input": "Hello"},
     {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]}),
    ("instructions first", {"instructions": "Be brief", "input": "Hi"},
     {"messages": [{"role": "system", "content": "Be brief"},
                   {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]}),
    ("easy messages, developer as system", {"input": [{"role": "developer", "content": "Rules"},
                                                      {"role": "user", "content": "Q"},
                                                      {"role": "assistant", "content": "A"}]},
     {"messages": [{"role": "system", "content": "Rules"}, {"role": "user", "content": "Q"},
                   {"role": "assistant", "content": "A"}]}),
    ("content parts", {"input": [{"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "What is this?"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAA", "detail": "low"},
        {"type": "input_file", "file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}]}]},
     {"messages": [{"role": "user", "content": [
         {"type": "text", "text": "What is this?"},
         {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA", "detail": "low"}},
         {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}}]}]}),
    ("assistant output items, refusals", {"input": [{"type": "message", "role": "assistant", "content": [
        {"type": "output_text", "text": "Sure", "annotations": []}, {"type": "refusal", "refusal": "not that"}]}]},
     {"messages": [{"role": "assistant", "content": "Sure", "refusal": "not that"}]}),
    ("a tool round trip", {"input": [{"role": "user", "content": "Weather?"}, CALL, OUTPUT], "tools": [WEATHER],
                           "tool_choice": "required", "parallel_tool_calls": False},
     {"messages": [{"role": "user", "content": "Weather?"},
                   {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "call_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]},
                   {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}],
      "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                                  "parameters": WEATHER["parameters"], "strict": True}}],
      "tool_choice": "required", "parallel_tool_calls": False}),
    ("parallel calls after text: one assistant turn", {"input": [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking"}]},
        CALL, {**CALL, "call_id": "call_2"}, OUTPUT, {**OUTPUT, "call_id": "call_2", "output": [
            {"type": "input_text", "text": "rain"}]}]},
     {"messages": [{"role": "assistant", "content": "Checking", "tool_calls": [
         {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}},
         {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]},
         {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
         {"role": "tool", "tool_call_id": "call_2", "content": "rain"}]}),
    ("reasoning items are dropped", {"input": [{"type": "reasoning", "id": "rs_1", "summary": []},
                                               {"role": "user", "content": "Go on"}]},
     {"messages": [{"role": "user", "content": "Go on"}]}),
    ("named tool choice", {"input": "x", "tools": [WEATHER], "tool_choice": {"type": "function",
                                                                             "name": "get_weather"}},
     {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
      "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                                  "parameters": WEATHER["parameters"], "strict": True}}],
      "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
    ("settings", {"input": "x", "reasoning": {"effort": "low"}, "max_output_tokens": 300, "temperature": 0.2,
                  "top_p": 0.9, "safety_identifier": "u-1", "store": True, "metadata": {"a": "b"},
                  "text": {"format": {"type": "json_schema", "name": "person", "strict": True,
                                      "schema": {"type": "object"}}, "verbosity": "low"}},
     {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}], "reasoning_effort": "low",
      "max_completion_tokens": 300, "temperature": 0.2, "top_p": 0.9, "user": "u-1", "verbosity": "low",
      "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": {"type": "object"},
                                                                 "strict": True}}}),
    ("json mode", {"input": "x", "text": {"format": {"type": "json_object"}}},
     {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
      "response_format": {"type": "json_object"}}),
    ("streamed: usage asked for", {"input": "x", "stream": True},
     {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}], "stream": True,
      "stream_options": {"include_usage": True}}),
]


@pytest.mark.parametrize("fields,expected", [c[1:] for c in TRANSLATED], ids=[c[0] for c in TRANSLATED])
def test_translated(fields, expected):
    got = read_request({"model": "claude-sonnet-4-5", **fields})
    assert got.canonical.body == {"model": "claude-sonnet-4-5", **expected}
    assert got.canonical.operation == "chat" and got.canonical.dialect == "responses"
    assert got.canonical.stream is bool(fields.get("stream"))


REFUSED = [  # id, request fields, the field named, the error code
    ("a built-in tool", {"input": "x", "tools": [WEATHER, {"type": "web_search"}]}, "tools[1].type",
     "unsupported_parameter"),
    ("file_search", {"input": "x", "tools": [{"type": "file_search", "vector_store_ids": ["vs"]}]}, "tools[0].type",
     "unsupported_parameter"),
    ("an item reference", {"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type",
     "unsupported_parameter"),
    ("a hosted tool's call", {"input": [{"type": "web_search_call", "id": "ws", "status": "completed"}]},
     "input[0].type", "unsupported_parameter"),
    ("an image by file id", {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]},
     "input[0].content[0].file_id", "unsupported_parameter"),
    ("a file by URL", {"input": [{"role": "user", "content": [{"type": "input_file", "file_url": "https://x"}]}]},
     "input[0].content[0].file_url", "unsupported_parameter"),
    ("an image in a system message", {"input": [{"role": "system", "content": [
        {"type": "input_image", "image_url": "https://x/a.png"}]}]}, "input[0].content", "unsupported_parameter"),
    ("an image in a tool's output", {"input": [CALL, {**OUTPUT, "output": [
        {"type": "input_image", "image_url": "https://x"}]}]}, "input[1].output[0].type", "unsupported_parameter"),
    ("reasoning summaries", {"input": "x", "reasoning": {"effort": "low", "summary": "auto"}}, "reasoning.summary",
     "unsupported_parameter"),
    ("allowed_tools", {"input": "x", "tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []}},
     "tool_choice", "unsupported_parameter"),
    ("background", {"input": "x", "background": True}, "background", "unsupported_parameter"),
    ("a stored prompt", {"prompt": {"id": "pmpt_1"}}, "prompt", "unsupported_parameter"),
    ("a conversation", {"input": "x", "conversation": "conv_1"}, "conversation", "unsupported_parameter"),
    ("logprobs", {"input": "x", "top_logprobs": 3}, "top_logprobs", "unsupported_parameter"),
    ("an unknown field", {"input": "x", "frobnicate": 1}, "frobnicate", "unsupported_parameter"),
    ("no input at all", {}, "input", "missing_field"),
    ("input a number", {"input": 3}, "input", "invalid_field"),
    ("a call without its id", {"input": [{"type": "function_call", "name": "f", "arguments": "{}"}]},
     "input[0].call_id", "invalid_field"),
    ("a bad role", {"input": [{"role": "tool", "content": "x"}]}, "input[0].role", "invalid_field"),
    ("a bad format", {"input": "x", "text": {"format": {"type": "xml"}}}, "text.format.type", "invalid_field"),
    ("no model", {"model": None, "input": "x"}, "model", "missing_field"),
]


@pytest.mark.parametrize("fields,param,code", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_refused_naming_the_field(fields, param, code):
    with pytest.raises(SeawallError) as info:
        read_request({"model": "claude-sonnet-4-5", **fields})
    err = info.value
    assert (err.param, err.code, err.status) == (param, code, 400)
    assert param in err.message and "request_id" not in err.message


def test_neutral_values_of_refused_fields_are_accepted():
    got = read_request({"model": "m", "input": "x", "background": False, "top_logprobs": 0, "conversation": None,
                        "include": ["reasoning.encrypted_content"], "truncation": "disabled", "service_tier": "auto"})
    assert set(got.canonical.body) == {"model", "messages"}


def test_previous_conversation_is_prepended_after_the_instructions():
    earlier = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather?"}]}, CALL]
    got = read_request({"model": "m", "instructions": "Be brief", "previous_response_id": "resp_1",
                        "input": [OUTPUT]}, earlier)
    roles = [m["role"] for m in got.canonical.body["messages"]]
    assert roles == ["system", "user", "assistant", "tool"]
    assert got.previous_response_id == "resp_1" and got.input_items == [OUTPUT] and got.store is True
    assert got.sources == ["instructions", "previous_response_id", "previous_response_id", "input[0]"]
    assert got.client_param("messages[3].content") == "input[0].content"
    assert got.client_param("response_format") == "text.format"
    assert got.client_param("max_completion_tokens") == "max_output_tokens"
    assert got.client_param("temperature") == "temperature"
    assert previous_response_id({"previous_response_id": "resp_9"}) == "resp_9"
    with pytest.raises(SeawallError):
        previous_response_id({"previous_response_id": 9})


def test_store_false_and_the_echo():
    got = read_request({"model": "m", "input": "x", "store": False, "instructions": "I", "tools": [WEATHER],
                        "metadata": {"k": "v"}})
    assert got.store is False
    assert got.echo["instructions"] == "I" and got.echo["tools"] == [WEATHER] and got.echo["metadata"] == {"k": "v"}
    assert got.echo["tool_choice"] == "auto" and got.echo["store"] is False
