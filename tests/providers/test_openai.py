import orjson
import pytest

from seawall.config import Deployment, ResolvedDeployment
from seawall.providers.base import CanonicalRequest, MalformedReply
from seawall.providers.openai import OpenAIProvider

P = OpenAIProvider()
TARGET = ResolvedDeployment("chat", Deployment(provider="openai", base_url="https://up.test/v1", model="gpt-4o-mini-2024-07-18",
                                               api_key_env="K", headers={"x-extra": "1"}),
                            "https://up.test/v1", "sk-upstream")


def chat(stream=False, **body):
    return CanonicalRequest("chat", "gpt-4o-mini", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
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
