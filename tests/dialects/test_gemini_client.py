"""Gemini API <-> canonical, pure: requests in, replies and streams out."""

import orjson
import pytest

from seawall.dialects.gemini import GeminiDialect, error_payload
from seawall.dialects.gemini_reply import GeminiStream, to_response
from seawall.errors import SeawallError

DIALECT = GeminiDialect()


def to_canonical(body: dict, model: str, stream: bool, lossy: bool = False):
    """What the gateway does with a Gemini body bound for another vendor: parse, then translate."""
    method = "streamGenerateContent" if stream else "generateContent"
    return DIALECT.translate(DIALECT.parse("chat", orjson.dumps(body), {}, f"{model}:{method}"), lossy)


def sse(*chunks) -> bytes:
    return b"".join(b"data: " + (c if isinstance(c, bytes) else orjson.dumps(c)) + b"\n\n" for c in chunks)


def chunks(raw: bytes) -> list[dict]:
    return [orjson.loads(b[6:]) for b in raw.split(b"\r\n\r\n") if b]


def test_contents_system_config_and_function_calls_translate():
    req = to_canonical({
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.3, "maxOutputTokens": 50, "stopSequences": ["x"],
                             "responseMimeType": "application/json"},
        "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object"}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
        "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}],
        "contents": [
            {"role": "user", "parts": [{"text": "Look"}, {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"ok": True}}}]},
        ]}, "gemini-2.5-flash", stream=False)
    body = req.body
    assert body["max_completion_tokens"] == 50 and body["temperature"] == 0.3 and body["stop"] == ["x"]
    assert body["response_format"] == {"type": "json_object"}
    assert body["safety_settings"] == [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    system, user, model, tool = body["messages"]
    assert system == {"role": "system", "content": "Be brief."}
    assert user["content"][1]["image_url"]["url"] == "data:image/png;base64,AAAA"
    call_id = model["tool_calls"][0]["id"]
    assert model["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}
    assert tool == {"role": "tool", "tool_call_id": call_id, "content": '{"ok":true}'}  # matched by name


@pytest.mark.parametrize("body,param", [
    ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0].role"),
    ({}, "contents"),
    ({"contents": [{"parts": [{"executableCode": {}}]}]}, "contents[0].parts[0].executableCode"),
    ({"contents": [{"parts": [{"text": "x"}]}], "tools": [{"googleSearch": {}}]}, "tools[0].googleSearch"),
    ({"contents": [{"parts": [{"inlineData": {"mimeType": "audio/wav", "data": "x"}}]}]},
     "contents[0].parts[0].inlineData.mimeType"),
    # wrong types anywhere are a 400 naming the field, never a crash
    ({"contents": [{"parts": [{"inlineData": 5}]}]}, "contents[0].parts[0].inlineData"),
    ({"contents": [{"role": "model", "parts": [{"functionCall": 5}]}]}, "contents[0].parts[0].functionCall"),
    ({"contents": [{"parts": [{"functionResponse": "x"}]}]}, "contents[0].parts[0].functionResponse"),
    ({"contents": [{"parts": [{"text": "x"}]}], "tools": [5]}, "tools[0]"),
    ({"contents": [{"parts": [{"text": "x"}]}], "tools": [{"functionDeclarations": 5}]},
     "tools[0].functionDeclarations"),
    ({"contents": [{"parts": [{"text": "x"}]}], "tools": [{"functionDeclarations": [5]}]},
     "tools[0].functionDeclarations[0]"),
])
def test_mistakes_name_the_field(body, param):
    with pytest.raises(SeawallError) as e:
        to_canonical(body, "m", stream=False)
    assert e.value.param == param


def test_a_reply_becomes_a_generate_content_response():
    out = to_response({"id": "chatcmpl-1", "model": "gpt-4o", "choices": [
        {"index": 0, "message": {"content": "Hi"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}})
    assert out["candidates"][0] == {"content": {"role": "model", "parts": [{"text": "Hi"}]},
                                    "finishReason": "MAX_TOKENS", "index": 0}
    assert out["usageMetadata"] == {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7}
    assert out["modelVersion"] == "gpt-4o"


def test_a_stream_ends_with_finish_and_usage_on_one_chunk_and_whole_function_calls():
    s = GeminiStream("m")
    raw = s.feed(sse({"id": "c", "model": "gpt-4o", "choices": [{"delta": {"content": "Hi"}}]},
                     {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "k", "function": {"name": "f", "arguments": '{"a"'}}]}}]},
                     {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": ':1}'}}]}}]},
                     {"choices": [{"delta": {}, "finish_reason": "tool_calls"}]},
                     {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
                     b"[DONE]"))
    got = chunks(raw)
    assert got[0]["candidates"][0]["content"]["parts"] == [{"text": "Hi"}]
    last = got[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["candidates"][0]["content"]["parts"] == [{"functionCall": {"name": "f", "args": {"a": 1}, "id": "k"}}]
    assert last["usageMetadata"]["totalTokenCount"] == 5 and len(got) == 2


def test_an_error_mid_stream_is_an_error_object_first_so_google_genai_raises():
    raw = GeminiStream("m").feed(sse({"error": {"message": "boom"}}))
    assert raw.startswith(b'data: {"error":')


def test_errors_carry_the_request_id_and_the_wait():
    err = SeawallError("rate_limit_requests", {"scope": "key", "id": "k", "limit": 1, "requested": 1, "wait": "1s"},
                       headers={"retry-after": "2"})
    body = error_payload(err, "req_1")["error"]
    assert body["code"] == 429 and body["status"] == "RESOURCE_EXHAUSTED"
    assert body["details"][0]["metadata"]["request_id"] == "req_1"
    assert body["details"][1] == {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}


@pytest.mark.parametrize("config,effort", [({"thinkingBudget": 1024}, "low"), ({"thinking_budget": 8192}, "medium"),
                                           ({"thinkingBudget": 24576}, "high"), ({"thinkingBudget": 0}, "minimal"),
                                           ({"thinkingBudget": -1}, None), ({"thinkingLevel": "high"}, "high")])
def test_a_thinking_budget_becomes_a_reasoning_effort(config, effort):
    req = to_canonical({"contents": [{"parts": [{"text": "hi"}]}], "generationConfig": {"thinkingConfig": config}},
                       "m", stream=False)
    assert req.body.get("reasoning_effort") == effort


def test_thought_summaries_and_cached_content_have_no_counterpart_unless_lossy_drops_the_cache():
    with pytest.raises(SeawallError) as thoughts:
        to_canonical({"contents": [{"parts": [{"text": "hi"}]}],
                      "generationConfig": {"thinkingConfig": {"include_thoughts": True}}}, "m", stream=False)
    assert thoughts.value.param == "generationConfig.thinkingConfig.includeThoughts"
    body = {"contents": [{"parts": [{"text": "hi"}]}], "cachedContent": "cachedContents/abc"}
    with pytest.raises(SeawallError) as strict:
        to_canonical(body, "m", stream=False)
    assert strict.value.param == "cachedContent" and "lossy" in strict.value.message
    assert "cachedContent" not in to_canonical(body, "m", stream=False, lossy=True).body


def test_a_thought_signature_from_google_is_left_out_of_the_translation():
    req = to_canonical({"contents": [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [{"text": "thinking", "thought": True}, {"text": "Hello", "thoughtSignature": "c2ln"}]},
        {"role": "user", "parts": [{"text": "again"}]}]}, "m", stream=False)
    assert req.body["messages"][1] == {"role": "assistant", "content": "Hello"}


def test_embeddings_translate_both_ways():
    req = DIALECT.parse("batch_embed", orjson.dumps({"requests": [
        {"model": "models/e", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 8},
        {"model": "models/e", "content": {"parts": [{"text": "b"}, {"text": "c"}]}, "outputDimensionality": 8}]}),
        {}, "e:batchEmbedContents")
    canonical = DIALECT.translate(req)
    assert (canonical.operation, canonical.body) == ("embeddings", {"model": "e", "input": ["a", "bc"], "dimensions": 8})
    reply = orjson.loads(DIALECT.reply(req, orjson.dumps({"data": [{"embedding": [0.1]}, {"embedding": [0.2]}]}), "r"))
    assert reply == {"embeddings": [{"values": [0.1]}, {"values": [0.2]}]}
