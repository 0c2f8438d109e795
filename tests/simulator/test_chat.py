import orjson
import pytest

from seawall.simulator.catalog import Catalog
from seawall.simulator.chat import plan_chat, render_events, render_reply
from seawall.simulator.config import DEFAULT_MODELS
from seawall.simulator.dialects.openai import ApiError
from seawall.simulator.text import count_tokens

CATALOG = Catalog(DEFAULT_MODELS)
MESSAGES = [{"role": "user", "content": "Tell me about rivers."}]
PADDING = (b"ab", b"cde")


def body(**extra):
    return {"model": "gpt-4o-mini", "messages": MESSAGES, **extra}


ERRORS = [  # id, body, status, code, message fragment
    ("not an object", [1, 2], 400, None, "could not parse the JSON body"),
    ("no model", {"messages": MESSAGES}, 400, None, "you must provide a model parameter"),
    ("unknown field", body(foo=1), 400, None, "Unrecognized request argument supplied: foo"),
    ("no messages", {"model": "gpt-4o-mini"}, 400, "missing_required_parameter", "'messages'"),
    ("empty messages", body(messages=[]), 400, "empty_array", "empty array"),
    ("messages not array", body(messages="hi"), 400, "invalid_type", "expected an array, but got a string"),
    ("no role", body(messages=[{"content": "x"}]), 400, "missing_required_parameter", "messages[0].role"),
    ("bad role", body(messages=[{"role": "robot", "content": "x"}]), 400, "invalid_value",
     "Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'."),
    ("unknown model", body(model="gpt-5x"), 404, "model_not_found", "The model `gpt-5x` does not exist"),
    ("embedding model", body(model="text-embedding-3-small"), 404, None, "not a chat model"),
    ("n too big", body(n=129), 400, "integer_above_max_value", "Expected a value <= 128, but got 129"),
    ("n zero", body(n=0), 400, "integer_below_min_value", "Expected a value >= 1, but got 0"),
    ("n string", body(n="2"), 400, "invalid_type", "expected an integer"),
    ("max_tokens too big", body(max_tokens=100000), 400, "invalid_value",
     "max_tokens is too large: 100000. This model supports at most 16384 completion tokens"),
    ("o-series max_tokens", body(model="o4-mini", max_tokens=10), 400, "unsupported_parameter",
     "Use 'max_completion_tokens' instead."),
    ("stream_options without stream", body(stream_options={"include_usage": True}), 400, None,
     "only allowed when 'stream' is enabled"),
    ("stream not bool", body(stream="yes"), 400, "invalid_type", "expected a boolean"),
    ("context length", body(model="gpt-4o", max_tokens=16000,
                            messages=[{"role": "user", "content": "word " * 120_000}]), 400,
     "context_length_exceeded", "maximum context length is 128000 tokens. However, you requested"),
]


@pytest.mark.parametrize("request_body,status,code,fragment", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_plan_chat_errors(request_body, status, code, fragment):
    error = plan_chat(request_body, CATALOG)
    assert isinstance(error, ApiError)
    assert (error.status, error.code) == (status, code)
    assert fragment in error.message


def test_plan_counts_prompt_tokens_the_documented_way():
    plan = plan_chat(body(messages=[{"role": "system", "content": "Be brief."},
                                    {"role": "user", "content": "Hi, you!"}]), CATALOG)
    assert plan.prompt_tokens == (3 + 3) + (4 + 3) + 3


def test_content_parts_are_counted():
    parts = [{"type": "text", "text": "one two"}, {"type": "image_url", "image_url": {"url": "x"}}]
    plan = plan_chat(body(messages=[{"role": "user", "content": parts}]), CATALOG)
    assert plan.prompt_tokens == 2 + 3 + 3


def test_max_tokens_cuts_with_length_and_is_deterministic():
    full = plan_chat(body(), CATALOG)
    cut = plan_chat(body(max_tokens=3), CATALOG)
    assert full.choices[0][1] == "stop" and cut.choices[0][1] == "length"
    assert cut.choices[0][0] == full.choices[0][0][:3]
    assert plan_chat(body(), CATALOG) == full


def test_forced_length_and_n():
    plan = plan_chat(body(n=3), CATALOG, reply_tokens=50)
    assert [len(pieces) for pieces, _ in plan.choices] == [50, 50, 50]
    assert len({pieces for pieces, _ in plan.choices}) == 3
    assert plan.completion_tokens == 150


def test_forced_length_is_capped_by_the_models_max_output():
    plan = plan_chat(body(model="gpt-4o"), CATALOG, reply_tokens=20_000)
    assert len(plan.choices[0][0]) == 16_384 and plan.choices[0][1] == "length"


def test_reasoning_model_spends_hidden_tokens_first():
    plan = plan_chat(body(model="o4-mini"), CATALOG)
    assert plan.reasoning_tokens >= 64
    assert plan.completion_tokens == plan.reasoning_tokens + len(plan.choices[0][0])
    starved = plan_chat(body(model="o4-mini", max_completion_tokens=10), CATALOG)
    assert starved.choices[0] == ((), "length") and starved.reasoning_tokens == 10


def test_render_reply_shape():
    plan = plan_chat(body(), CATALOG)
    reply = orjson.loads(render_reply(plan, "chatcmpl-" + "a" * 29, 1700000000))
    assert list(reply) == ["id", "object", "created", "model", "choices", "usage", "service_tier",
                           "system_fingerprint"]
    assert reply["object"] == "chat.completion" and reply["model"] == "gpt-4o-mini-2024-07-18"
    choice = reply["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["message"]["refusal"] is None
    assert choice["logprobs"] is None and choice["finish_reason"] == "stop"
    usage = reply["usage"]
    assert usage["completion_tokens"] == count_tokens(choice["message"]["content"])
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert set(usage["completion_tokens_details"]) == {"reasoning_tokens", "audio_tokens",
                                                       "accepted_prediction_tokens", "rejected_prediction_tokens"}
    assert reply["system_fingerprint"].startswith("fp_") and len(reply["system_fingerprint"]) == 13


def _decode(events):
    assert all(event.startswith(b"data: ") and event.endswith(b"\n\n") for event in events)
    assert events[-1] == b"data: [DONE]\n\n"
    return [orjson.loads(event[6:]) for event in events[:-1]]


def test_events_with_usage():
    plan = plan_chat(body(stream=True, stream_options={"include_usage": True}, max_tokens=4), CATALOG)
    chunks = _decode(render_events(plan, "chatcmpl-x", 1, PADDING))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    tokens = chunks[1:5]
    assert ["".join(c["choices"][0]["delta"]["content"] for c in tokens)] == ["".join(plan.choices[0][0])]
    assert chunks[5]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "length"}
    assert chunks[6]["choices"] == [] and chunks[6]["usage"]["completion_tokens"] == 4
    assert all(c["usage"] is None for c in chunks[:6])
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-x" for c in chunks)
    assert all("obfuscation" in c for c in chunks)


def test_events_without_usage_or_obfuscation():
    plan = plan_chat(body(stream=True, stream_options={"include_obfuscation": False}), CATALOG)
    chunks = _decode(render_events(plan, "chatcmpl-x", 1, PADDING))
    assert all("usage" not in c and "obfuscation" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_events_interleave_choices():
    plan = plan_chat(body(stream=True, n=2), CATALOG, reply_tokens=2)
    chunks = _decode(render_events(plan, "c", 1, PADDING))
    assert [c["choices"][0]["index"] for c in chunks] == [0, 1, 0, 1, 0, 1, 0, 1]


def test_a_function_is_called_when_required_named_or_asked_for_and_answered_after_its_result():
    catalog = CATALOG
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}}}]
    ask = [{"role": "user", "content": "What's the weather?"}]
    for choice in ("required", {"type": "function", "function": {"name": "get_weather"}}):
        plan = plan_chat({"model": "gpt-4o-mini", "messages": ask, "tools": tools, "tool_choice": choice}, catalog)
        reply = orjson.loads(render_reply(plan, "chatcmpl-1", 1))["choices"][0]
        assert reply["finish_reason"] == "tool_calls" and reply["message"]["content"] is None
        call = reply["message"]["tool_calls"][0]
        assert call["function"]["name"] == "get_weather"
        assert orjson.loads(call["function"]["arguments"]) == {"city": "gateways", "days": 42}
    named = plan_chat({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "call get_weather"}],
                       "tools": tools}, catalog)
    assert named.call is not None
    assert plan_chat({"model": "gpt-4o-mini", "messages": ask, "tools": tools}, catalog).call is None  # auto: not asked
    answered = plan_chat({"model": "gpt-4o-mini", "tools": tools, "tool_choice": "required", "messages": [
        *ask, {"role": "assistant", "content": None, "tool_calls": [named_call(named)]},
        {"role": "tool", "tool_call_id": named.call[0], "content": "sunny"}]}, catalog)
    assert answered.call is None and answered.choices[0][1] == "stop"
    stream = plan_chat({"model": "gpt-4o-mini", "messages": ask, "tools": tools, "tool_choice": "required",
                        "stream": True}, catalog)
    chunks = [orjson.loads(e[6:]) for e in render_events(stream, "chatcmpl-2", 1, (b"x",)) if e != b"data: [DONE]\n\n"]
    arguments = "".join(c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"] for c in chunks
                        if c["choices"] and c["choices"][0]["delta"].get("tool_calls"))
    assert orjson.loads(arguments) == {"city": "gateways", "days": 42}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def named_call(plan) -> dict:
    call_id, name, arguments = plan.call
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
