"""The pass-through paths, pure: the client's bytes with only the model replaced, the headers that
go along, and the vendors' own replies and streams read (usage with its cache counts, the end,
in-stream errors) while their bytes go back untouched."""

import orjson
import pytest

from seawall.config import Deployment, ResolvedDeployment
from seawall.providers.anthropic import AnthropicProvider
from seawall.providers.base import ApiRequest, MalformedReply
from seawall.providers.gemini import GeminiProvider
from seawall.providers.passthrough import body_with_model, meaningful_headers, merged_headers

ANTHROPIC, GEMINI = AnthropicProvider(), GeminiProvider()


def target(provider: str, base: str, model: str, headers: dict | None = None) -> ResolvedDeployment:
    return ResolvedDeployment("route", Deployment(provider=provider, base_url=base, model=model, api_key_env="K",
                                                  headers=headers or {}), base, "upstream-secret")


def native(raw: bytes, dialect: str = "anthropic", operation: str = "chat", stream: bool = False,
           headers: dict | None = None) -> ApiRequest:
    return ApiRequest(operation, "route", orjson.loads(raw), stream, dialect, stream, shape=dialect, raw=raw,
                      headers=headers or {})


# -- the body ------------------------------------------------------------------------------------------

RAW = (b'{"max_tokens": 1024, "messages": [{"role": "user", "content": "hi"}], "model": "route", '
       b'"thinking": {"type": "enabled", "budget_tokens": 1024}, "future": [1.0, 2e3]}')


def test_the_same_model_sends_the_very_bytes():
    assert body_with_model(native(RAW), "route") is RAW


def test_another_model_replaces_only_its_value():
    assert body_with_model(native(RAW), "claude-sonnet-4-5") == RAW.replace(b'"model": "route"',
                                                                            b'"model":"claude-sonnet-4-5"')


def test_a_body_naming_model_twice_is_reserialized_with_the_same_meaning():
    raw = (b'{"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Agent", '
           b'"input": {"model": "haiku"}}]}], "model": "route", "max_tokens": 5}')
    sent = orjson.loads(body_with_model(native(raw), "claude-opus-4-8"))
    assert sent == {**orjson.loads(raw), "model": "claude-opus-4-8"}
    assert sent["messages"][0]["content"][0]["input"] == {"model": "haiku"}  # the tool's own field untouched


def test_a_tool_schemas_model_property_is_no_model_value():
    """Claude Code's Agent tool has a `model` property: an object, which the splice leaves alone."""
    raw = (b'{"model":"route","tools":[{"name":"Agent","input_schema":{"properties":{"model":{"type":"string"}}}}],'
           b'"max_tokens":5,"messages":[]}')
    assert body_with_model(native(raw), "claude-opus-4-8") == raw.replace(b'"route"', b'"claude-opus-4-8"')


def test_a_changed_body_is_serialized_from_the_dict():
    req = native(RAW)
    req.raw = None
    assert orjson.loads(body_with_model(req, "x")) == {**orjson.loads(RAW), "model": "x"}


def test_credentials_and_hop_by_hop_headers_never_go_along():
    client = {"anthropic-beta": "a", "x-api-key": "sk-sw-x", "authorization": "Bearer sk-sw-x",
              "connection": "close", "x-stainless-lang": "js"}
    assert meaningful_headers(client, ("anthropic-beta", "x-api-key", "authorization", "connection")) == \
        {"anthropic-beta": "a"}


def test_the_deployments_headers_win_except_betas_which_both_keep():
    merged = merged_headers({"x-api-key": "k"}, {"anthropic-beta": "a,b", "anthropic-version": "2023-06-01"},
                            {"Anthropic-Beta": "c", "anthropic-version": "2024-01-01"}, frozenset({"anthropic-beta"}))
    assert merged == {"x-api-key": "k", "anthropic-beta": "a,b,c", "anthropic-version": "2024-01-01"}


# -- Anthropic -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("base,operation,url", [
    ("https://api.anthropic.com/v1", "chat", "https://api.anthropic.com/v1/messages"),
    ("https://api.anthropic.com", "chat", "https://api.anthropic.com/v1/messages"),
    ("https://api.anthropic.com", "count_tokens", "https://api.anthropic.com/v1/messages/count_tokens"),
])
def test_anthropic_native_request(base, operation, url):
    req = native(RAW, operation=operation, headers={"anthropic-beta": "interleaved-thinking-2025-05-14",
                                                     "anthropic-version": "2023-06-01"})
    up = ANTHROPIC.build_native(req, target("anthropic", base, "claude-sonnet-4-5", {"anthropic-beta": "ops-1"}))
    assert up.url == url and up.headers["x-api-key"] == "upstream-secret"
    assert up.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14,ops-1"
    assert up.body == RAW.replace(b'"model": "route"', b'"model":"claude-sonnet-4-5"')


def test_anthropic_native_reply_is_kept_and_read_with_its_cache_counts():
    body = orjson.dumps({"id": "msg_1", "type": "message", "model": "claude-sonnet-4-5-20250929", "content": [
        {"type": "thinking", "thinking": "", "signature": "sig"}, {"type": "text", "text": "Hi"}],
        "usage": {"input_tokens": 10, "cache_creation_input_tokens": 200, "cache_read_input_tokens": 3000,
                  "output_tokens": 7}})
    reply = ANTHROPIC.read_native_reply(native(RAW), body)
    assert reply.body is body and reply.shape == "anthropic" and reply.model == "claude-sonnet-4-5-20250929"
    u = reply.usage
    assert (u.prompt_tokens, u.completion_tokens, u.cache_read_tokens, u.cache_write_tokens) == (3210, 7, 3000, 200)
    counted = ANTHROPIC.read_native_reply(native(RAW, operation="count_tokens"), b'{"input_tokens": 42}')
    assert counted.usage.total_tokens == 0  # counting is free
    with pytest.raises(MalformedReply):
        ANTHROPIC.read_native_reply(native(RAW), b"<html>502</html>")


def ev(name: str, data: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


START = ev("message_start", {"type": "message_start", "message": {
    "id": "msg_1", "model": "claude-sonnet-4-5-20250929", "content": [], "usage": {
        "input_tokens": 5, "cache_read_input_tokens": 1500, "cache_creation_input_tokens": 0, "output_tokens": 1}}})
STREAM = (START + ev("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
    "type": "thinking", "thinking": "", "signature": ""}}) + ev("ping", {"type": "ping"})
    + ev("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta",
                                                                                      "thinking": "Hm."}})
    + ev("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta",
                                                                                      "signature": "EqQB"}})
    + ev("content_block_stop", {"type": "content_block_stop", "index": 0})
    + ev("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 42}})
    + ev("message_stop", {"type": "message_stop"}))


@pytest.mark.parametrize("size", [1, 7, 64, len(STREAM)])
def test_an_anthropic_stream_is_relayed_byte_for_byte_whatever_its_chunks(size):
    decoder = ANTHROPIC.native_stream_decoder(native(RAW, stream=True))
    events = [e for i in range(0, len(STREAM), size) for e in decoder.feed(STREAM[i:i + size])]
    assert b"".join(e.raw for e in events) == STREAM
    assert [e.terminal for e in events].count(True) == 1 and events[-1].terminal
    [usage] = [e.usage for e in events if e.usage is not None]
    assert (usage.prompt_tokens, usage.completion_tokens, usage.cache_read_tokens) == (1505, 42, 1500)
    assert next(e.model for e in events if e.model) == "claude-sonnet-4-5-20250929"


def test_an_anthropic_stream_failing_before_content_starts_with_its_error():
    overloaded = ev("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    decoder = ANTHROPIC.native_stream_decoder(native(RAW, stream=True))
    events = decoder.feed(START + ev("content_block_start", {"type": "content_block_start", "index": 0,
                                                            "content_block": {"type": "text", "text": ""}})
                          + overloaded)
    assert [e.raw for e in events] == [overloaded] and events[0].error["type"] == "overloaded_error"


# -- Gemini --------------------------------------------------------------------------------------------

G_RAW = b'{"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"thinkingConfig": {"thinkingBudget": 1024}}}'
G_TARGET = target("gemini", "https://generativelanguage.googleapis.com/v1beta", "gemini-2.5-flash")


def test_gemini_native_request_names_the_deployments_model_in_the_url():
    up = GEMINI.build_native(native(G_RAW, "gemini", stream=True), G_TARGET)
    assert up.url.endswith("/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
    assert up.body is G_RAW and up.headers["x-goog-api-key"] == "upstream-secret"
    counted = GEMINI.build_native(native(G_RAW, "gemini", "count_tokens"), G_TARGET)
    assert counted.url.endswith("/models/gemini-2.5-flash:countTokens")


def test_gemini_batch_embeddings_name_the_deployments_model_inside_too():
    raw = b'{"requests": [{"model": "models/route", "content": {"parts": [{"text": "a"}]}}]}'
    up = GEMINI.build_native(native(raw, "gemini", "batch_embed"), G_TARGET)
    assert orjson.loads(up.body)["requests"][0]["model"] == "models/gemini-2.5-flash"


def test_a_gemini_stream_ends_with_the_chunk_finishing_every_candidate():
    first = b'data: {"candidates": [{"content": {"parts": [{"text": "Hel", "thoughtSignature": "c2ln"}]}, "index": 0}]}\r\n\r\n'
    last = (b'data: {"candidates": [{"content": {"parts": [{"text": "lo"}]}, "finishReason": "STOP", "index": 0}],'
            b' "usageMetadata": {"promptTokenCount": 2100, "candidatesTokenCount": 2, "thoughtsTokenCount": 30,'
            b' "cachedContentTokenCount": 2048}, "modelVersion": "gemini-2.5-flash"}\r\n\r\n')
    decoder = GEMINI.native_stream_decoder(native(G_RAW, "gemini", stream=True))
    events = decoder.feed(first + last[:50]) + decoder.feed(last[50:])
    assert b"".join(e.raw for e in events) == first + last
    assert [e.terminal for e in events] == [False, True]
    u = events[-1].usage
    assert (u.prompt_tokens, u.completion_tokens, u.cache_read_tokens) == (2100, 32, 2048)
    failed = GEMINI.native_stream_decoder(native(G_RAW, "gemini", stream=True)).feed(
        b'data: {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}\r\n\r\n')
    assert failed[0].error["status"] == "UNAVAILABLE"


# -- documents across vendors ---------------------------------------------------------------------------

PDF = "JVBERi0xLjQK"


def test_a_document_travels_between_anthropic_gemini_and_the_canonical_file_part():
    from seawall.dialects.anthropic import AnthropicDialect
    from seawall.dialects.gemini import GeminiDialect

    anthropic_client = AnthropicDialect()
    messages = {"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": [
        {"type": "document", "title": "q3.pdf", "source": {"type": "base64", "media_type": "application/pdf",
                                                            "data": PDF}},
        {"type": "text", "text": "Summarize."}]}]}
    canonical = anthropic_client.translate(anthropic_client.parse("chat", orjson.dumps(messages), {}, None))
    file_part = canonical.body["messages"][0]["content"][0]
    assert file_part == {"type": "file", "file": {"filename": "q3.pdf", "file_data": f"data:application/pdf;base64,{PDF}"}}
    to_gemini = orjson.loads(GEMINI.build_request(canonical, G_TARGET).body)
    assert to_gemini["contents"][0]["parts"][0] == {"inlineData": {"mimeType": "application/pdf", "data": PDF}}
    gemini_client = GeminiDialect()
    g = gemini_client.translate(gemini_client.parse("chat", orjson.dumps(to_gemini), {}, "m:generateContent"))
    back = orjson.loads(ANTHROPIC.build_request(g, target("anthropic", "https://api.anthropic.com", "claude")).body)
    assert back["messages"][0]["content"][0] == {"type": "document", "title": "document.pdf", "source": {
        "type": "base64", "media_type": "application/pdf", "data": PDF}}
