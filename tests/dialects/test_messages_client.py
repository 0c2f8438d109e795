"""Anthropic Messages <-> canonical, pure: requests in, replies and streams out."""

import orjson
import pytest

from seawall.dialects.anthropic import AnthropicDialect
from seawall.dialects.anthropic_reply import STOP_REASONS, MessagesStream, to_message
from seawall.errors import SeawallError
from seawall.providers.anthropic_reply import FINISH_REASONS

DIALECT = AnthropicDialect()


def to_canonical(body: dict, lossy: bool = False):
    """What the gateway does with a Messages body bound for another vendor: parse, then translate."""
    return DIALECT.translate(DIALECT.parse("chat", orjson.dumps(body), {}, None), lossy)


def sse(*chunks) -> bytes:
    return b"".join(b"data: " + (c if isinstance(c, bytes) else orjson.dumps(c)) + b"\n\n" for c in chunks)


def events(raw: bytes) -> list[tuple[str, dict]]:
    out = []
    for block in raw.split(b"\n\n"):
        if block:
            head, data = block.split(b"\n", 1)
            out.append((head[7:].decode(), orjson.loads(data[6:])))
    return out


def test_stop_reasons_invert_the_upstream_adapters_table():
    for finish, stop in STOP_REASONS.items():
        if finish != "function_call":
            assert FINISH_REASONS[stop] == finish


def test_a_conversation_with_system_images_and_tools_translates_field_by_field():
    req = to_canonical({
        "model": "claude-x", "max_tokens": 100, "system": [{"type": "text", "text": "Be brief."}],
        "stop_sequences": ["END"], "temperature": 0.2, "top_k": 5, "metadata": {"user_id": "u1"},
        "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Look:"},
                                         {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                      "data": "AAAA"}}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                                              {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                               "input": {"city": "Oslo"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "4 C"},
                                         {"type": "text", "text": "And tomorrow?"}]},
        ]})
    body = req.body
    assert (req.model, req.dialect, req.stream) == ("claude-x", "anthropic", False)
    assert body["max_completion_tokens"] == 100 and body["stop"] == ["END"] and body["top_k"] == 5
    assert body["user"] == "u1" and body["parallel_tool_calls"] is False
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["tools"][0]["function"] == {"name": "get_weather", "parameters": {"type": "object"},
                                            "description": "Weather"}
    system, user, assistant, tool, follow_up = body["messages"]
    assert system == {"role": "system", "content": "Be brief."}
    assert user["content"][1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    assert assistant["content"] == "Checking."
    assert assistant["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"Oslo"}'}
    assert tool == {"role": "tool", "tool_call_id": "toolu_1", "content": "4 C"}  # right after the call
    assert follow_up == {"role": "user", "content": "And tomorrow?"}


def test_a_stream_request_asks_for_usage():
    req = to_canonical({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}],
                        "stream": True})
    assert req.stream and req.body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("body,param", [
    ({"model": "m", "messages": []}, "max_tokens"),
    ({"max_tokens": 5, "messages": []}, "model"),
    ({"model": "m", "max_tokens": 0, "messages": []}, "max_tokens"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "tool", "content": "x"}]}, "messages.0.role"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document"}]}]},
     "messages.0.content.0.source.type"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "search_result"}]}]},
     "messages.0.content.0.type"),
    ({"model": "m", "max_tokens": 5, "messages": [], "tools": [{"type": "web_search_20250305", "name": "w"}]},
     "tools.0.type"),
    ({"model": "m", "max_tokens": 5, "messages": [], "thinking": "on"}, "thinking"),
    ({"model": "m", "max_tokens": 5, "messages": [], "context_management": {"edits": []}}, "context_management"),
    ({"model": "m", "max_tokens": 5, "messages": [],
      "system": [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]}, "system.0.cache_control"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}]}]}, "messages.0.content.0.cache_control"),
    ({"model": "m", "max_tokens": 5, "messages": [],
      "tools": [{"name": "f", "input_schema": {}, "cache_control": {"type": "ephemeral"}}]}, "tools.0.cache_control"),
    ({"model": "m", "max_tokens": 5, "messages": [], "stream": "yes"}, "stream"),
    ({"model": "m", "max_tokens": 5, "messages": {}}, "messages"),
    ({"model": "m", "max_tokens": 5, "messages": [], "future_field": 1}, "future_field"),
    ({"model": "m", "max_tokens": 5, "system": 5, "messages": []}, "system"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_result"}]}]},
     "messages.0.content.0.tool_use_id"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": [
        {"type": "tool_use", "id": "t1", "name": "f", "input": "x"}]}]}, "messages.0.content.0.input"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": [
        {"type": "tool_use", "id": "t1", "input": {}}]}]}, "messages.0.content.0.name"),
    ({"model": "m", "max_tokens": 5, "messages": [], "tool_choice": {"type": "tool"}}, "tool_choice.name"),
    ({"model": "m", "max_tokens": 5, "messages": [], "metadata": "x"}, "metadata"),
    ({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": "x"}]}]},
     "messages.0.content.0.source"),
])
def test_mistakes_and_untranslatable_fields_name_the_field(body, param):
    with pytest.raises(SeawallError) as e:
        to_canonical(body)
    assert e.value.param == param and e.value.status == 400


@pytest.mark.parametrize("budget,effort", [(1024, "low"), (2895, "low"), (2896, "medium"), (8192, "medium"),
                                           (14189, "high"), (31999, "high")])
def test_a_thinking_budget_becomes_the_nearest_reasoning_effort(budget, effort):
    req = to_canonical({"model": "m", "max_tokens": 40000, "messages": [{"role": "user", "content": "hi"}],
                        "thinking": {"type": "enabled", "budget_tokens": budget}})
    assert req.body["reasoning_effort"] == effort


def test_adaptive_or_disabled_thinking_leaves_the_targets_default():
    for thinking in ({"type": "adaptive"}, {"type": "disabled"}):
        req = to_canonical({"model": "m", "max_tokens": 5, "messages": [], "thinking": thinking})
        assert "reasoning_effort" not in req.body


def test_lossy_translation_drops_cache_hints_and_earlier_thinking_blocks_everywhere():
    """Claude Code's shape: cache_control on system, message and tool blocks, context_management,
    and an earlier assistant turn with a signed thinking block (valid at Anthropic only)."""
    body = {"model": "m", "max_tokens": 5, "context_management": {"edits": [{"type": "clear_thinking_20251015"}]},
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]},
                         {"role": "assistant", "content": [
                             {"type": "thinking", "thinking": "Greet back.", "signature": "EqQBCkYIBxgCKkB"},
                             {"type": "redacted_thinking", "data": "EmwKAhgB"},
                             {"type": "text", "text": "Hello!"}]},
                         {"role": "user", "content": "again"}]}
    with pytest.raises(SeawallError) as strict:
        to_canonical(body)
    assert strict.value.param == "context_management" and "lossy" in strict.value.message
    req = to_canonical(body, lossy=True)
    assert req.body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                                    {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "again"}]
    assert req.body["tools"] == [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    assert b"cache_control" not in orjson.dumps(req.body) and b"signature" not in orjson.dumps(req.body)


def test_parse_keeps_the_body_and_bytes_as_sent_and_only_the_headers_that_carry_meaning():
    raw = b'{"max_tokens": 5, "messages": [], "model": "m", "thinking": {"type": "enabled", "budget_tokens": 2048}}'
    req = DIALECT.parse("chat", raw, {"anthropic-beta": "interleaved-thinking-2025-05-14", "x-api-key": "sk-sw-x",
                                      "anthropic-version": "2023-06-01", "x-app": "cli"}, None)
    assert (req.shape, req.native, req.raw) == ("anthropic", True, raw)
    assert req.body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    assert dict(req.headers) == {"anthropic-version": "2023-06-01", "anthropic-beta": "interleaved-thinking-2025-05-14"}


def test_a_reply_becomes_a_message():
    message = to_message({"id": "chatcmpl-abc", "model": "gpt-4o", "choices": [{"message": {
        "content": "Hi", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": '{"a":1}'}}]},
        "finish_reason": "tool_calls"}], "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
    assert message["id"] == "msg_abc" and message["model"] == "gpt-4o" and message["stop_reason"] == "tool_use"
    assert message["content"] == [{"type": "text", "text": "Hi"},
                                  {"type": "tool_use", "id": "c1", "name": "f", "input": {"a": 1}}]
    assert message["usage"] == {"input_tokens": 7, "output_tokens": 3}


def test_a_stream_becomes_messages_events_with_usage_at_the_end():
    s = MessagesStream("m")
    raw = s.feed(sse({"id": "chatcmpl-1", "model": "gpt-4o", "choices": [{"delta": {"role": "assistant", "content": ""}}]},
                     {"choices": [{"delta": {"content": "Hel"}}]}))
    raw += s.feed(sse({"choices": [{"delta": {"content": "lo"}}]},
                      {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": ""}}]}}]},
                      {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}}]},
                      {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": '1}'}}]}}]},
                      {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
                      {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}, b"[DONE]"))
    got = events(raw)
    kinds = [k for k, _ in got]
    assert kinds == ["message_start", "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_stop", "content_block_start", "content_block_delta", "content_block_delta",
                     "content_block_stop", "message_delta", "message_stop"]
    assert got[0][1]["message"]["id"] == "msg_1" and got[0][1]["message"]["model"] == "gpt-4o"
    assert got[5][1]["content_block"] == {"type": "tool_use", "id": "c1", "name": "f", "input": {}}
    assert got[6][1]["index"] == 1 and got[6][1]["delta"] == {"type": "input_json_delta", "partial_json": '{"a":'}
    assert got[9][1]["delta"]["stop_reason"] == "tool_use"
    assert got[9][1]["usage"] == {"input_tokens": 9, "output_tokens": 4}


def test_an_upstream_error_mid_stream_becomes_an_error_event_and_no_message_stop():
    s = MessagesStream("m")
    raw = s.feed(sse({"choices": [{"delta": {"content": "Hi"}}]},
                     {"error": {"message": "overloaded", "type": "overloaded_error"}}))
    kinds = [k for k, _ in events(raw)]
    assert kinds[-1] == "error" and "message_stop" not in kinds
    assert events(raw)[-1][1]["error"]["type"] == "overloaded_error"
