"""Golden translation tests for the Anthropic adapter: OpenAI chat <-> Messages, no I/O."""

import orjson
import pytest

from seawall.config import Deployment, ModelRoute, ResolvedDeployment
from seawall.errors import SeawallError
from seawall.providers.anthropic import (
    DEFAULT_MAX_TOKENS,
    AnthropicProvider,
    messages_url,
)
from seawall.providers.base import ApiRequest, MalformedReply

P = AnthropicProvider(clock=lambda: 1_700_000_000)
TARGET = ResolvedDeployment("claude", Deployment(provider="anthropic", base_url="https://api.anthropic.com/v1",
                                                 model="claude-sonnet-4-5", api_key_env="K", name="anth",
                                                 headers={"anthropic-beta": "x-1"}),
                            "https://api.anthropic.com/v1", "sk-ant-api03-secret")
HI = [{"role": "user", "content": "hi"}]


def chat(messages=HI, stream=False, **body):
    return ApiRequest("chat", "claude", {"model": "claude", "messages": messages, **body}, stream)


def built(**kw):
    return orjson.loads(P.build_request(chat(**kw), TARGET).body)


# -- request -----------------------------------------------------------------------------------

def test_request_url_headers_and_required_max_tokens():
    up = P.build_request(chat(), TARGET)
    assert up.url == "https://api.anthropic.com/v1/messages"
    assert up.headers["x-api-key"] == "sk-ant-api03-secret" and "authorization" not in up.headers
    assert up.headers["anthropic-version"] == "2023-06-01" and up.headers["anthropic-beta"] == "x-1"
    assert orjson.loads(up.body) == {"model": "claude-sonnet-4-5", "max_tokens": DEFAULT_MAX_TOKENS,
                                     "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}


@pytest.mark.parametrize("base,url", [("https://api.anthropic.com/v1", "https://api.anthropic.com/v1/messages"),
                                      ("https://api.anthropic.com", "https://api.anthropic.com/v1/messages"),
                                      ("https://proxy.example/anthropic/", "https://proxy.example/anthropic/v1/messages")])
def test_base_url_with_or_without_the_version(base, url):
    assert messages_url(base) == url


def test_max_completion_tokens_wins_over_max_tokens():
    assert built(max_tokens=50)["max_tokens"] == 50
    assert built(max_tokens=50, max_completion_tokens=70)["max_tokens"] == 70


def test_system_messages_go_to_system_and_turns_alternate():
    body = built(messages=[
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
        {"role": "user", "content": "Bonjour"},
        {"role": "assistant", "content": "Salut !"},
        {"role": "user", "content": "Ça va ?"}], stop="\n\n", temperature=0.3, top_p=0.9, user="u-1")
    assert body["system"] == "Be brief.\n\nAnswer in French."
    assert [(m["role"], m["content"][0]["text"]) for m in body["messages"]] == [
        ("user", "Bonjour"), ("assistant", "Salut !"), ("user", "Ça va ?")]
    assert body["stop_sequences"] == ["\n\n"] and body["temperature"] == 0.3 and body["top_p"] == 0.9
    assert body["metadata"] == {"user_id": "u-1"}


def test_images_data_urls_become_base64_blocks_and_http_urls_url_blocks():
    body = built(messages=[{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}}]}])
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}]


def test_tools_tool_calls_and_tool_results():
    tools = [{"type": "function", "function": {"name": "weather", "description": "Weather now",
                                               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    body = built(tools=tools, tool_choice={"type": "function", "function": {"name": "weather"}},
                 parallel_tool_calls=False, messages=[
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18 C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "21 C"}]}])
    assert body["tools"] == [{"name": "weather", "description": "Weather now",
                              "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
    assert body["tool_choice"] == {"type": "tool", "name": "weather", "disable_parallel_tool_use": True}
    assert body["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome"}}]}
    # both results in one user turn, right after the tool_use turn
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "18 C"},
        {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "21 C"}]}]}


@pytest.mark.parametrize("choice,expected", [("auto", {"type": "auto"}), ("none", {"type": "none"}),
                                             ("required", {"type": "any"})])
def test_tool_choice_words(choice, expected):
    tools = [{"type": "function", "function": {"name": "f"}}]
    body = built(tools=tools, tool_choice=choice)
    assert body["tool_choice"] == expected
    assert body["tools"][0]["input_schema"] == {"type": "object", "properties": {}}


def test_stream_flag_and_no_stream_options_upstream():
    up = P.build_request(chat(stream=True, stream_options={"include_usage": True}), TARGET)
    body = orjson.loads(up.body)
    assert body["stream"] is True and "stream_options" not in body
    assert up.headers["accept"] == "text/event-stream"


def test_account_only_fields_are_not_sent():
    body = built(store=True, service_tier="auto", metadata={"a": "b"}, n=1, response_format={"type": "text"})
    assert set(body) == {"model", "max_tokens", "messages"}


def test_a_strict_tool_and_a_json_schema_keep_their_constraint():
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
              "additionalProperties": False}
    body = built(tools=[{"type": "function", "function": {"name": "f", "parameters": schema, "strict": True}}],
                 response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema, "strict": True}})
    assert body["tools"][0] == {"name": "f", "input_schema": schema, "strict": True}
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    assert "strict" not in built(tools=[{"type": "function", "function": {"name": "f"}}])["tools"][0]


def test_a_json_schema_without_its_schema_is_named():
    with pytest.raises(SeawallError) as e:
        built(response_format={"type": "json_schema", "json_schema": {"name": "x"}})
    assert e.value.param == "response_format.json_schema.schema"


REFUSED = [  # id, extra body, the field named
    ("n>1", {"n": 2}, "n"),
    ("logprobs", {"logprobs": True}, "logprobs"),
    ("top_logprobs", {"top_logprobs": 3}, "top_logprobs"),
    ("json_object", {"response_format": {"type": "json_object"}}, "response_format"),
    ("seed", {"seed": 7}, "seed"),
    ("penalty", {"presence_penalty": 0.5}, "presence_penalty"),
    ("temperature above 1", {"temperature": 1.5}, "temperature"),
    ("unknown field", {"frobnicate": 1}, "frobnicate"),
    ("non-function tool", {"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
    ("audio part", {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
     "messages[0].content[0].type"),
    ("custom tool_choice", {"tools": [{"type": "function", "function": {"name": "x"}}],
                            "tool_choice": {"type": "allowed_tools", "allowed_tools": {}}}, "tool_choice"),
    ("function role", {"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0].role"),
    ("a cache key, strict", {"prompt_cache_key": "user-42"}, "prompt_cache_key"),
    ("effort too big for max tokens", {"reasoning_effort": "low", "max_completion_tokens": 800}, "reasoning_effort"),
    ("effort with a temperature", {"reasoning_effort": "low", "max_completion_tokens": 4000, "temperature": 0.3},
     "temperature"),
]


@pytest.mark.parametrize("extra,param", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_what_messages_cannot_express_is_refused_naming_the_field(extra, param):
    body = {"messages": HI, **extra}
    with pytest.raises(SeawallError) as e:
        P.build_request(chat(**body), TARGET)
    assert e.value.code == "unsupported_parameter" and e.value.status == 400
    assert e.value.param == param and f"'{param}'" in e.value.message and "anth" in e.value.message
    assert e.value.category == "request.invalid" and e.value.hint
    assert "sk-ant" not in e.value.message + e.value.hint


@pytest.mark.parametrize("effort,max_tokens,thinking", [
    ("low", 4000, {"type": "enabled", "budget_tokens": 1024}),
    ("medium", 20000, {"type": "enabled", "budget_tokens": 8192}),
    ("high", 10000, {"type": "enabled", "budget_tokens": 9999}),  # within max_tokens, which counts thinking
    ("minimal", 4000, None),
])
def test_reasoning_effort_becomes_a_thinking_budget(effort, max_tokens, thinking):
    body = built(reasoning_effort=effort, max_completion_tokens=max_tokens)
    assert body.get("thinking") == thinking and body["max_tokens"] == max_tokens


def test_a_cache_key_drops_under_lossy_translation():
    lossy = ResolvedDeployment("claude", TARGET.spec, TARGET.base_url, TARGET.api_key,
                               ModelRoute(name="claude", deployments=[TARGET.spec], translation="lossy"))
    body = orjson.loads(P.build_request(chat(prompt_cache_key="user-42", prompt_cache_retention="24h"), lossy).body)
    assert "prompt_cache_key" not in body and "prompt_cache_retention" not in body


def test_bad_tool_call_arguments_are_a_400_naming_the_field():
    with pytest.raises(SeawallError) as e:
        built(messages=[{"role": "assistant", "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}])
    assert e.value.param == "messages[0].tool_calls[0].function.arguments"


# -- reply -------------------------------------------------------------------------------------

MESSAGE = {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
           "content": [{"type": "text", "text": "Let me check. "},
                       {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}],
           "stop_reason": "tool_use", "stop_sequence": None,
           "usage": {"input_tokens": 20, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0,
                     "output_tokens": 12}}


def test_reply_becomes_a_chat_completion():
    reply = P.read_reply(chat(), orjson.dumps(MESSAGE))
    assert orjson.loads(reply.body) == {
        "id": "msg_01", "object": "chat.completion", "created": 1_700_000_000, "model": "claude-sonnet-4-5-20250929",
        "choices": [{"index": 0, "logprobs": None, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": "Let me check. ", "refusal": None, "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}]}}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 12, "total_tokens": 132,
                  "prompt_tokens_details": {"cached_tokens": 100}}}
    assert reply.model == "claude-sonnet-4-5-20250929"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (120, 12)


@pytest.mark.parametrize("stop,finish", [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
                                         ("tool_use", "tool_calls"), ("refusal", "content_filter")])
def test_stop_reasons_map_to_finish_reasons(stop, finish):
    message = {**MESSAGE, "content": [{"type": "text", "text": "x"}], "stop_reason": stop}
    assert orjson.loads(P.read_reply(chat(), orjson.dumps(message)).body)["choices"][0]["finish_reason"] == finish


@pytest.mark.parametrize("raw", [b"<html>502</html>", b'{"id": "x"', b'{"type": "message"}', b"[]"])
def test_read_reply_refuses_what_is_not_a_message(raw):
    with pytest.raises(MalformedReply):
        P.read_reply(chat(), raw)


# -- stream ------------------------------------------------------------------------------------

# A recorded-shape stream (provider-errors.md §3.5): padding spaces after the JSON, a ping.
RECORDED = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant",'
    b'"model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":'
    b'{"input_tokens":28,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}}   \n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},'
    b'"usage":{"output_tokens":106}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def decode(stream: bytes, step: int | None = None):
    decoder = P.stream_decoder()
    if step is None:
        return decoder.feed(stream)
    return [e for i in range(0, len(stream), step) for e in decoder.feed(stream[i:i + step])]


def test_stream_becomes_openai_chunks_ending_in_usage_and_done():
    events = decode(RECORDED)
    raws = [e.raw for e in events]
    assert all(r.startswith(b"data: ") and r.endswith(b"\n\n") for r in raws)
    chunks = [orjson.loads(r[6:]) for r in raws[:-1]]
    assert [c["choices"][0]["delta"] if c["choices"] else None for c in chunks] == [
        {"role": "assistant", "content": ""}, {"content": "Hi"}, {"content": " there"}, {}, None]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert {(c["id"], c["model"], c["created"]) for c in chunks} == {("msg_01", "claude-sonnet-4-5-20250929",
                                                                      1_700_000_000)}
    assert events[0].model == "claude-sonnet-4-5-20250929"
    assert [e.finish_reason for e in events] == [None, None, None, "stop", None, None]
    usage_event = events[-2]
    assert usage_event.usage_only and (usage_event.usage.prompt_tokens, usage_event.usage.completion_tokens) == (28, 106)
    assert chunks[-1]["usage"] == {"prompt_tokens": 28, "completion_tokens": 106, "total_tokens": 134,
                                   "prompt_tokens_details": {"cached_tokens": 0}}
    assert events[-1].terminal and events[-1].raw == b"data: [DONE]\n\n"


def test_stream_split_anywhere_decodes_the_same():
    whole = [e.raw for e in decode(RECORDED)]
    for step in (1, 7, 64):
        assert [e.raw for e in decode(RECORDED, step)] == whole


def test_tool_use_stream_becomes_tool_call_deltas():
    stream = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_2","model":"m","usage":{"input_tokens":5,"output_tokens":1}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_9","name":"weather","input":{}}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"city\\":"}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\\"Rome\\"}"}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":30}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    deltas = [e.data["choices"][0]["delta"] for e in decode(stream) if e.data and e.data["choices"]]
    assert deltas[2:5] == [
        {"tool_calls": [{"index": 0, "id": "toolu_9", "type": "function", "function": {"name": "weather", "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"Rome"}'}}]}]
    assert [e.finish_reason for e in decode(stream) if e.finish_reason] == ["tool_calls"]


def test_in_stream_error_event_becomes_an_openai_error_event():
    cut = RECORDED.split(b"event: content_block_stop")[0]
    events = decode(cut + b'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
                          b'"message": "Overloaded"}}\n\n')
    last = events[-1]
    assert last.error == {"message": "Overloaded", "type": "overloaded_error", "param": None, "code": "overloaded_error"}
    assert orjson.loads(last.raw[6:]) == {"error": last.error} and not last.terminal
    assert not any(e.terminal for e in events)


def test_an_error_before_any_content_comes_first_so_the_gateway_can_fall_back():
    start = RECORDED.split(b"event: ping")[0]  # message_start and content_block_start only
    events = decode(start + b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
                            b'"message":"Overloaded"}}\n\n')
    assert len(events) == 1 and events[0].error["type"] == "overloaded_error"


def test_ping_alone_yields_nothing_and_garbage_is_malformed():
    assert decode(b'event: ping\ndata: {"type": "ping"}\n\n') == []
    with pytest.raises(MalformedReply):
        decode(b"event: content_block_delta\ndata: {\"type\":\"content_blo\n\n")


# -- errors ------------------------------------------------------------------------------------

def test_read_error_reads_anthropics_envelope():
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011C"}'
    err = P.read_error(529, body)
    assert (err.message, err.type, err.code, err.param) == ("Overloaded", "overloaded_error", "overloaded_error", None)


def test_read_error_keeps_the_spend_cap_code():
    body = orjson.dumps({"type": "error", "error": {"type": "rate_limit_error", "message": "limit",
                                                    "details": {"error_code": "enforced_spend_limit_reached"}}})
    assert P.read_error(429, body).code == "enforced_spend_limit_reached"


def test_read_error_of_an_empty_body_says_so():
    assert P.read_error(502, b"").message == "HTTP 502 with an empty body"


def test_supports_chat_only():
    assert P.supports == frozenset({"chat"})
