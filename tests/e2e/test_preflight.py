"""Pre-flight checks end to end: a simulator whose `tiny` model has a 200-token window, and a
gateway with one model per context policy in front of it. The simulator enforces its own window
(its own token count), so a 200 from it proves the repaired request really fit; its request
counter proves a refused request never left the gateway."""

import json
import re

import pytest
from conftest import http, start_gateway, start_simulator

CHAT = "/v1/chat/completions"
WINDOW = 200
SIM_CONFIG = f"""stream_interval_ms: 0
models:
  - gpt-4o
  - o4-mini
  - {{id: tiny, context_window: {WINDOW}, max_output: 100}}
"""


def gateway_config(sim_port: int) -> str:
    def route(name: str, model: str, extra: str = "", catalog: bool = True) -> str:
        window = (f"    catalog: {{context_window: {WINDOW}, max_output_tokens: 100, tokenizer: o200k_base}}\n"
                  if catalog else "")
        return (f"  - name: {name}\n{window}{extra}    deployments:\n"
                f"      - provider: openai\n        base_url: http://127.0.0.1:{sim_port}/v1\n"
                f"        model: {model}\n        api_key_env: SIM_KEY\n")

    return ("server:\n  max_body_bytes: 4194304\nrequest_log:\n  flush_interval_s: 0.1\nmodels:\n"
            + route("ctx-reject", "tiny")
            + route("ctx-fallback", "tiny", "    context_policy: fallback\n    fallback_model: ctx-roomy\n")
            + route("ctx-roomy", "gpt-4o", catalog=False)
            + route("ctx-trim", "tiny", "    context_policy: trim\n")
            + route("ctx-trim-pinned", "tiny", "    context_policy: trim\n    trim_keep_first: 1\n")
            + route("ctx-truncate", "tiny", "    context_policy: truncate_output\n")
            + route("thinker", "o4-mini", catalog=False)
            + route("mystery", "tiny", catalog=False)  # not in the catalog: no fit check
            + route("small-limits", "gpt-4o", "    request_limits: {max_messages: 5, max_images: 1, "
                                              "max_image_bytes: 1000}\n", catalog=False))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    sim = start_simulator(tmp_path_factory, "preflight-sim", config=SIM_CONFIG)
    gw = start_gateway(tmp_path_factory, gateway_config(sim.port), "preflight-gateway")
    yield sim, gw
    gw.proc.stop()
    sim.proc.stop()


def post(gw, body, path=CHAT):
    status, headers, raw = http("POST", gw.url + path, body, {"authorization": f"Bearer {gw.key}"}, timeout=30)
    return status, headers, json.loads(raw) if raw else None


def upstream_calls(sim) -> int:
    return sim.stats()["requests"]["total"]


def words(n: int, word: str = "apple") -> str:
    """n tokens both by o200k (" apple" is one token) and by the simulator's count (one per word)."""
    return " ".join([word] * n)


def sim_count(messages: list[dict]) -> int:
    """The simulator's documented prompt count (simulator/text.py): words and punctuation of each
    content, + 3 per message, + 3 for the reply."""
    return sum(len(re.findall(r"\w+|[^\w\s]", m.get("content") or "")) + 3 for m in messages) + 3


def conversation(turns: int, size: int = 20) -> list[dict]:
    history = [{"role": "system", "content": "Answer briefly."}]
    for i in range(turns):
        history.append({"role": "user" if i % 2 == 0 else "assistant", "content": words(size, f"w{i}")})
    history.append({"role": "user", "content": "And now?"})
    return history


def test_reject_says_both_numbers_and_what_to_cut(stack):
    sim, gw = stack
    sim.reset()
    status, headers, body = post(gw, {"model": "ctx-reject", "messages": conversation(12), "max_tokens": 50})
    assert status == 400, body
    err = body["error"]
    assert (err["code"], err["param"], err["category"], err["type"]) == (
        "context_length_exceeded", "messages", "request.context_length", "invalid_request_error")
    prompt = int(re.search(r"\((\d+) in the messages, 50 in the completion\)", err["message"]).group(1))
    assert f"maximum context length is {WINDOW} tokens" in err["message"]
    assert f"you requested {prompt + 50} tokens" in err["message"]
    assert f"Cut at least {prompt + 50 - WINDOW} tokens" in err["hint"]
    assert err["request_id"] == headers["x-request-id"]
    assert upstream_calls(sim) == 0  # refused before any upstream call


def test_fallback_serves_a_long_prompt_with_the_larger_model(stack):
    sim, gw = stack
    sim.reset()
    status, headers, body = post(gw, {"model": "ctx-fallback", "messages": conversation(12)})
    assert status == 200, body
    assert headers["x-seawall-fallback-model"] == "ctx-roomy"
    assert body["model"] == "gpt-4o-2024-08-06"  # honest: the model that served
    row = gw.log_row(headers["x-request-id"])
    assert row["model_requested"] == "ctx-fallback"
    assert "gpt-4o" in row["deployment"]


def test_fallback_not_taken_when_it_fits(stack):
    _, gw = stack
    status, headers, body = post(gw, {"model": "ctx-fallback", "messages": conversation(2)})
    assert status == 200, body
    assert "x-seawall-fallback-model" not in headers
    assert body["model"] == "tiny"


def test_trim_drops_the_oldest_turns_and_keeps_the_system_prompt(stack):
    _, gw = stack
    messages = conversation(12)
    assert sim_count(messages) > WINDOW  # the simulator would refuse it whole
    status, headers, body = post(gw, {"model": "ctx-trim", "messages": messages})
    assert status == 200, body
    dropped = int(headers["x-seawall-trimmed-messages"])
    assert dropped > 0
    kept = [messages[0], *messages[1 + dropped:]]  # system prompt + the newest turns
    assert body["usage"]["prompt_tokens"] == sim_count(kept)


def test_trim_keeps_pinned_messages(stack):
    _, gw = stack
    messages = conversation(12)
    status, headers, body = post(gw, {"model": "ctx-trim-pinned", "messages": messages})
    assert status == 200, body
    dropped = int(headers["x-seawall-trimmed-messages"])
    kept = [messages[0], messages[1], *messages[2 + dropped:]]  # the first turn is pinned
    assert body["usage"]["prompt_tokens"] == sim_count(kept)


def test_trim_keeps_a_tool_call_with_its_result(stack):
    _, gw = stack
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]}
    result = {"role": "tool", "tool_call_id": "call_1", "content": words(40, "result")}
    messages = [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": words(60, "old")},
                call, result, {"role": "user", "content": words(60, "mid")}, {"role": "user", "content": "Now?"}]
    status, headers, body = post(gw, {"model": "ctx-trim", "messages": messages,
                                      "tools": [{"type": "function", "function": {"name": "lookup"}}]})
    assert status == 200, body
    dropped = int(headers["x-seawall-trimmed-messages"])
    # the old turn goes first; the call and its result go together or not at all
    assert dropped in (1, 3)


def test_trim_cannot_help_a_single_huge_turn(stack):
    sim, gw = stack
    sim.reset()
    status, _, body = post(gw, {"model": "ctx-trim", "messages": [{"role": "user", "content": words(400)}]})
    assert status == 400 and body["error"]["code"] == "context_length_exceeded"
    assert upstream_calls(sim) == 0


def test_truncate_output_lowers_max_tokens_to_what_fits(stack):
    _, gw = stack
    messages = [{"role": "user", "content": words(120)}]
    request = {"model": "ctx-truncate", "messages": messages, "max_tokens": 100}
    status, _, _ = post(gw, {**request, "model": "ctx-reject"})
    assert status == 400  # as asked, it does not fit
    status, headers, body = post(gw, request)
    assert status == 200, body
    lowered = int(headers["x-seawall-max-tokens"])
    assert 0 < lowered < 100
    assert body["usage"]["completion_tokens"] <= lowered


def test_unknown_model_gets_no_fit_check(stack):
    sim, gw = stack
    sim.reset()
    status, _, body = post(gw, {"model": "mystery", "messages": [{"role": "user", "content": words(400)}]})
    # the gateway let it through; the upstream refused it with its own context error
    assert status == 400 and "Cut at least" not in body["error"]["hint"]
    assert upstream_calls(sim) == 1


SCHEMA_CASES = [  # id, body, status, code, param
    ("unknown role", {"messages": [{"role": "user", "content": "hi"}, {"role": "bot", "content": "x"}]},
     400, "invalid_value", "messages[1].role"),
    ("temperature as a string", {"temperature": "0.7"}, 400, "invalid_field", "temperature"),
    ("null message", {"messages": [None]}, 400, "invalid_field", "messages[0]"),
    ("n out of range", {"n": 500}, 400, "invalid_value", "n"),
]


@pytest.mark.parametrize("extra,status,code,param", [c[1:] for c in SCHEMA_CASES], ids=[c[0] for c in SCHEMA_CASES])
def test_schema_errors_name_the_field(stack, extra, status, code, param):
    sim, gw = stack
    sim.reset()
    got, _, body = post(gw, {"model": "ctx-roomy", "messages": [{"role": "user", "content": "hi"}], **extra})
    assert (got, body["error"]["code"], body["error"]["param"]) == (status, code, param)
    assert param in body["error"]["message"] and body["error"]["hint"]
    assert upstream_calls(sim) == 0


def test_unknown_parameters_pass_through(stack):
    _, gw = stack
    status, _, body = post(gw, {"model": "ctx-roomy", "messages": [{"role": "user", "content": "hi"}],
                                "metadata": {"team": "a"}})
    assert status == 200, body


@pytest.mark.parametrize("extra,param,code", [
    ({"max_tokens": 50}, "max_tokens", "model_unsupported_parameter"),
    ({"temperature": 0.2}, "temperature", "model_unsupported_value"),
    ({"top_p": 0.5}, "top_p", "model_unsupported_value"),
])
def test_reasoning_model_rules(stack, extra, param, code):
    _, gw = stack
    status, _, body = post(gw, {"model": "thinker", "messages": [{"role": "user", "content": "hi"}], **extra})
    assert (status, body["error"]["code"], body["error"]["param"]) == (400, code, param)
    if param == "max_tokens":
        assert "max_completion_tokens" in body["error"]["message"]
    status, _, body = post(gw, {"model": "thinker", "messages": [{"role": "user", "content": "hi"}],
                                "max_completion_tokens": 500, "temperature": 1})
    assert status == 200, body


def image(size: int) -> dict:
    return {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * size}}


@pytest.mark.parametrize("messages,code,param", [
    ([{"role": "user", "content": "hi"}] * 6, "too_many_messages", "messages"),
    ([{"role": "user", "content": [image(100), image(100)]}], "too_many_images", "messages[0].content[1]"),
    ([{"role": "user", "content": [{"type": "text", "text": "see"}, image(4000)]}], "image_too_large",
     "messages[0].content[1].image_url.url"),
])
def test_size_limits_are_413s(stack, messages, code, param):
    _, gw = stack
    status, _, body = post(gw, {"model": "small-limits", "messages": messages})
    assert (status, body["error"]["code"], body["error"]["param"]) == (413, code, param)
    assert body["error"]["category"] == "request.too_large"


def test_thousands_of_messages(stack):
    _, gw = stack
    status, _, body = post(gw, {"model": "ctx-roomy", "messages": [{"role": "user", "content": "hi"}] * 5000})
    assert (status, body["error"]["code"]) == (413, "too_many_messages")
    assert "at most 2048" in body["error"]["message"]


def test_deeply_nested_json_is_a_400(stack):
    _, gw = stack
    raw = (b'{"model": "ctx-roomy", "messages": [{"role": "user", "content": "hi"}], "x": '
           + b"[" * 100_000 + b"]" * 100_000 + b"}")
    status, _, body = http("POST", gw.url + CHAT, raw, {"authorization": f"Bearer {gw.key}",
                                                         "content-type": "application/json"})
    error = json.loads(body)["error"]
    assert status == 400 and error["code"] == "json_too_deep" and "more than 1024 levels" in error["message"]


def test_a_huge_prompt_is_estimated_and_refused(stack):
    sim, gw = stack
    sim.reset()
    huge = words(300_000)  # ~1.8 MB: past MAX_COUNT_BYTES, estimated (bytes / 4) instead of tokenized
    status, _, body = post(gw, {"model": "ctx-reject", "messages": [{"role": "user", "content": huge}]})
    assert status == 400 and body["error"]["code"] == "context_length_exceeded"
    # the text by bytes / 4, + "user" (1) + 3 per message + 3 for the reply
    assert f"({-(-len(huge.encode()) // 4) + 7} in the messages, 0 in the completion)" in body["error"]["message"]
    assert upstream_calls(sim) == 0


def test_embeddings_schema(stack):
    _, gw = stack
    status, _, body = post(gw, {"model": "ctx-roomy", "input": []}, "/v1/embeddings")
    assert (status, body["error"]["param"]) == (400, "input")


def test_trim_header_on_a_stream(stack):
    _, gw = stack
    status, headers, raw = http("POST", gw.url + CHAT, {"model": "ctx-trim", "messages": conversation(12),
                                                        "stream": True},
                                {"authorization": f"Bearer {gw.key}"}, timeout=30)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert int(headers["x-seawall-trimmed-messages"]) > 0
    assert raw.rstrip().endswith(b"data: [DONE]")


def test_sdk_sees_the_context_error(stack):
    from openai import BadRequestError, OpenAI

    _, gw = stack
    with OpenAI(base_url=gw.base_url, api_key=gw.key, max_retries=0, timeout=20) as client, \
            pytest.raises(BadRequestError) as e:
        client.chat.completions.create(model="ctx-reject", messages=conversation(12))
    assert e.value.code == "context_length_exceeded" and e.value.param == "messages"
