import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.config import Deployment, ResolvedDeployment
from seawall.providers.base import ApiRequest, MalformedReply
from seawall.providers.openai import OpenAIProvider

P = OpenAIProvider()
TARGET = ResolvedDeployment("chat", Deployment(provider="openai", base_url="https://up.test/v1", model="gpt-4o-mini-2024-07-18",
                                               api_key_env="K", headers={"x-extra": "1"}),
                            "https://up.test/v1", "sk-upstream")


def chat(stream=False, **body):
    return ApiRequest("chat", "gpt-4o-mini", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
                                                    "stream": stream, **body}, stream)


def test_build_request_swaps_model_and_sets_key():
    up = P.build_request(chat(temperature=0.2), TARGET)
    body = orjson.loads(up.body)
    assert up.url == "https://up.test/v1/chat/completions"
    assert body["model"] == "gpt-4o-mini-2024-07-18" and body["temperature"] == 0.2
    assert up.headers["authorization"] == "Bearer sk-upstream" and up.headers["x-extra"] == "1"


def test_stream_asks_upstream_for_usage_without_losing_client_options():
    up = P.build_request(chat(stream=True, stream_options={"include_obfuscation": False}), TARGET)
    assert orjson.loads(up.body)["stream_options"] == {"include_obfuscation": False, "include_usage": True}


def test_read_reply_passes_bytes_through_and_reads_usage():
    raw = b'{"id":"chatcmpl-1","object":"chat.completion","model":"m-1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}'
    reply = P.read_reply(chat(), raw)
    assert reply.body is raw and reply.model == "m-1"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (3, 5)


@pytest.mark.parametrize("raw", [b"<html>502</html>", b'{"id": "x"', b'{"object": "chat.completion"}', b"[]"])
def test_read_reply_refuses_what_is_not_a_completion(raw):
    with pytest.raises(MalformedReply):
        P.read_reply(chat(), raw)


def test_stream_decoder_reads_finish_usage_error_and_done():
    d = P.stream_decoder()
    evs = d.feed(b'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null,"model":"m-1"}\n\n'
                 b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n'
                 b'data: {"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}\n\n'
                 b"data: [DONE]\n\n")
    assert [e.finish_reason for e in evs[:2]] == [None, "stop"] and evs[0].model == "m-1"
    assert evs[2].usage_only and evs[2].usage.completion_tokens == 1
    assert evs[3].terminal and evs[3].data is None
    (err,) = d.feed(b'data: {"error": {"message": "boom", "type": "server_error"}}\n\n')
    assert err.error["message"] == "boom"


def test_stream_decoder_refuses_broken_json():
    with pytest.raises(MalformedReply):
        P.stream_decoder().feed(b'data: {"choices": [\n\n')


def test_read_error_takes_openai_fields_and_survives_html():
    e = P.read_error(400, b'{"error":{"message":"bad","type":"invalid_request_error","param":"messages","code":"x"}}')
    assert (e.message, e.type, e.code, e.param) == ("bad", "invalid_request_error", "x", "messages")
    assert P.read_error(502, b"<html><title>502 Bad Gateway</title></html>").message == "502 Bad Gateway"
    assert "empty body" in P.read_error(503, b"").message


def test_plain_content_chunks_skip_parsing_but_everything_that_matters_is_read():
    d = P.stream_decoder()
    first, plain, spaced, final = d.feed(
        b'data: {"model":"m-1","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}],"usage":null}\n\n'
        b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":null}],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\n')
    assert first.model == "m-1" and first.data is not None
    assert plain.data is None and plain.raw.startswith(b"data: ") and plain.finish_reason is None
    assert spaced.finish_reason == "length"  # another server's spacing: parsed, not skipped
    assert final.usage.completion_tokens == 2  # usage on a chunk with finish_reason null: parsed


PLAIN = b'data: {"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}],"usage":null}\n\n'
FIRST = b'data: {"model":"m-1","choices":[{"index":0,"delta":{"role":"assistant"},"finish_reason":null}]}\n\n'


def test_a_run_of_plain_events_is_relayed_as_one_event_byte_for_byte():
    d = P.stream_decoder()
    body = FIRST + b"".join(PLAIN % w for w in (b"a", b"b", b"c"))
    first, run = d.feed(body)
    assert first.model == "m-1" and run.data is None and run.raw == body[len(FIRST):]


@pytest.mark.parametrize("special, check", [
    (b'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n', lambda e: e.error["message"] == "overloaded"),
    (b'data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":3}}\n\n',
     lambda e: e.usage_only and e.usage.completion_tokens == 3),
    (b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n',
     lambda e: e.finish_reason == "stop"),
    (b"data: [DONE]\n\n", lambda e: e.terminal),
    (b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": null}]}\n\n', lambda e: e.data is not None),
])
def test_whatever_matters_between_plain_events_is_read_and_nothing_is_lost(special, check):
    d = P.stream_decoder()
    body = FIRST + PLAIN % b"a" + PLAIN % b"b" + special + PLAIN % b"c"
    events = d.feed(body)
    assert b"".join(e.raw for e in events) == body  # every byte relayed, in order
    assert [e.raw for e in events[1:]] == [PLAIN % b"a" + PLAIN % b"b", special, PLAIN % b"c"]
    assert check(events[2])


def test_comments_and_other_fields_between_events_are_relayed_and_content_words_are_not_markers():
    d = P.stream_decoder()
    d.feed(FIRST)
    body = (PLAIN % b"error" + b": keep-alive\n\n" + b"id: 7\n" + PLAIN % b"usage" + PLAIN % b"x")
    events = d.feed(body)
    assert b"".join(e.raw for e in events) == body
    assert not any(e.error or e.usage or e.terminal for e in events)


def test_a_plain_run_split_across_reads_keeps_the_partial_event_for_the_next():
    d = P.stream_decoder()
    d.feed(FIRST)
    body = PLAIN % b"a" + PLAIN % b"b"
    (run,) = d.feed(body[:len(PLAIN % b"a") + 20])
    assert run.raw == PLAIN % b"a" and d.pending == body[len(PLAIN % b"a"):len(PLAIN % b"a") + 20]
    (rest,) = d.feed(body[len(PLAIN % b"a") + 20:] + b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}\n\n')[:1]
    assert rest.raw == PLAIN % b"b"


_KINDS = {
    "plain": PLAIN % b"w",
    "word_error": PLAIN % b"error",  # a content word is not a key
    "padded": PLAIN.replace(b"null}\n", b'null,"obfuscation":"Zq9"}\n') % b"p",  # OpenAI's default padding
    "padded_finish": b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"obfuscation":"k"}\n\n',
    "spaced": b'data: {"choices": [{"index": 0, "delta": {"content": "s"}, "finish_reason": null}]}\n\n',
    "finish": b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n',
    "usage": b'data: {"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":3}}\n\n',
    "error": b'data: {"error":{"message":"overloaded","type":"server_error"}}\n\n',
    "comment": b": keep-alive\n\n",
    "named": b'event: x\ndata: {"choices":[]}\n\n',
    "done": b"data: [DONE]\n\n",
}


@settings(max_examples=300, deadline=None)
@given(kinds=st.lists(st.sampled_from(sorted(_KINDS)), max_size=12), cuts=st.lists(st.integers(0, 2000), max_size=4))
def test_the_decoder_reads_every_event_that_matters_however_the_stream_is_cut(kinds, cuts):
    """Against the plain rule: every event's bytes relayed in order, and exactly the events that carry
    an error, usage, a finish reason or the end come back read, wherever the reads split the stream."""
    body = FIRST + b"".join(_KINDS[k] for k in kinds)
    d, events, at = P.stream_decoder(), [], 0
    for cut in sorted(cuts) + [len(body)]:
        events += d.feed(body[at:max(at, cut)])
        at = max(at, cut)
    assert b"".join(e.raw for e in events) == body and d.pending == b""
    assert [k for k in kinds if k in ("error", "usage", "done")] == \
        ["error" if e.error else "usage" if e.usage_only else "done" for e in events if e.error or e.usage_only or e.terminal]
    assert sum(e.finish_reason == "stop" for e in events) == kinds.count("finish") + kinds.count("padded_finish")
    assert not any(e.data for e in events if b'"content":"' in e.raw)  # content, padded or not, is never parsed
