"""Golden translation tests for the Gemini adapter: OpenAI chat <-> Gemini API, no I/O."""

import orjson
import pytest

from seawall.config import Deployment, ResolvedDeployment
from seawall.errors import SeawallError
from seawall.providers.base import ApiRequest, MalformedReply
from seawall.providers.gemini import GeminiProvider, GeminiStreamDecoder

P = GeminiProvider()
BASE = "https://generativelanguage.googleapis.com/v1beta"
TARGET = ResolvedDeployment("chat", Deployment(provider="gemini", base_url=BASE, model="gemini-2.5-flash",
                                               api_key_env="K", name="gem"), BASE, "AIzaSyUpstream")


def chat(messages=None, stream=False, **body):
    messages = messages or [{"role": "user", "content": "hi"}]
    return ApiRequest("chat", "gemini-chat", {"model": "gemini-chat", "messages": messages, "stream": stream,
                                                    **body}, stream)


def sent(req: ApiRequest) -> dict:
    return orjson.loads(P.build_request(req, TARGET).body)


# --- request ---------------------------------------------------------------------------------------

def test_urls_and_key_header():
    plain = P.build_request(chat(), TARGET)
    assert plain.url == BASE + "/models/gemini-2.5-flash:generateContent"
    assert plain.headers["x-goog-api-key"] == "AIzaSyUpstream" and "authorization" not in plain.headers
    streamed = P.build_request(chat(stream=True, stream_options={"include_usage": True}), TARGET)
    assert streamed.url == BASE + "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert streamed.headers["accept"] == "text/event-stream"
    assert "stream_options" not in orjson.loads(streamed.body)  # Gemini always reports usage


def test_conversation_with_system_image_tools_and_tool_results():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is in this picture, and the weather?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "time", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"celsius": 4}'},
        {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
        {"role": "assistant", "content": "A cat; 4 °C at noon."},
        {"role": "user", "content": "Thanks"},
    ]
    tools = [{"type": "function", "function": {"name": "weather", "description": "Weather by city",
                                               "parameters": {"type": "object", "additionalProperties": False,
                                                              "properties": {"city": {"type": "string"}}}}},
             {"type": "function", "function": {"name": "time"}}]
    body = sent(chat(messages, tools=tools, tool_choice="auto", temperature=0.3, top_p=0.9, max_tokens=100,
                     stop="END", n=2, seed=7, user="u-1"))
    assert body == {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "What is in this picture, and the weather?"},
                                       {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}}]},
            {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Oslo"}}},
                                        {"functionCall": {"name": "time", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "weather", "response": {"celsius": 4}}},
                                       {"functionResponse": {"name": "time", "response": {"content": "noon"}}}]},
            {"role": "model", "parts": [{"text": "A cat; 4 °C at noon."}]},
            {"role": "user", "parts": [{"text": "Thanks"}]},
        ],
        "tools": [{"functionDeclarations": [
            {"name": "weather", "description": "Weather by city",
             "parametersJsonSchema": {"type": "object", "additionalProperties": False,
                                      "properties": {"city": {"type": "string"}}}},
            {"name": "time"}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {"temperature": 0.3, "topP": 0.9, "maxOutputTokens": 100, "stopSequences": ["END"],
                             "candidateCount": 2, "seed": 7},
    }


@pytest.mark.parametrize("given,expected", [
    ({"response_format": {"type": "json_object"}}, {"generationConfig": {"responseMimeType": "application/json"}}),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}},
     {"generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}}}),
    ({"response_format": {"type": "text"}}, {}),
    ({"max_completion_tokens": 9, "stop": ["a", "b"]}, {"generationConfig": {"maxOutputTokens": 9,
                                                                             "stopSequences": ["a", "b"]}}),
    ({"tool_choice": "required"}, {"toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}),
    ({"tool_choice": "none"}, {"toolConfig": {"functionCallingConfig": {"mode": "NONE"}}}),
    ({"tool_choice": {"type": "function", "function": {"name": "f"}}},
     {"toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}}),
    ({"reasoning_effort": "low"}, {"generationConfig": {"thinkingConfig": {"thinkingBudget": 1024}}}),
], ids=["json_object", "json_schema", "text", "max_completion_tokens", "required", "none", "named", "reasoning"])
def test_options(given, expected):
    body = sent(chat(**given))
    del body["contents"]
    assert body == expected


@pytest.mark.parametrize("change,param", [
    ({"logprobs": True}, "logprobs"),
    ({"logit_bias": {"1": 2}}, "logit_bias"),
    ({"reasoning_effort": "extreme"}, "reasoning_effort"),
    ({"prompt_cache_key": "user-42"}, "prompt_cache_key"),
    ({"response_format": {"type": "grammar"}}, "response_format"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ({"tool_choice": "sometimes"}, "tool_choice"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/cat.png"}}]}]},
     "messages[0].content[0].image_url"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
     "messages[0].content[0].type"),
    ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}, "messages[0].tool_call_id"),
    ({"messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{not json"}}]}]},
     "messages[0].tool_calls[0].function.arguments"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_what_gemini_cannot_express_is_a_400_naming_the_field(change, param):
    change = dict(change)
    messages = change.pop("messages", None)
    with pytest.raises(SeawallError) as e:
        P.build_request(chat(messages, **change), TARGET)
    err = e.value
    assert (err.code, err.status, err.param, err.category) == ("unsupported_parameter", 400, param, "request.invalid")
    assert param in err.message and "gem" in err.message and err.hint


# --- reply -----------------------------------------------------------------------------------------

REPLY = {"candidates": [{"content": {"parts": [{"text": "Let me think", "thought": True}, {"text": "Hello"},
                                               {"text": " world"}], "role": "model"},
                         "finishReason": "STOP", "index": 0}],
         "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "thoughtsTokenCount": 10,
                           "totalTokenCount": 17},
         "modelVersion": "gemini-2.5-flash-001", "responseId": "abc"}


def test_reply_becomes_a_chat_completion():
    reply = P.read_reply(chat(), orjson.dumps(REPLY))
    body = orjson.loads(reply.body)
    assert reply.model == body["model"] == "gemini-2.5-flash-001"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (5, 12)  # thinking is output
    assert body["object"] == "chat.completion" and body["id"] == "chatcmpl-abc"
    assert body["choices"] == [{"index": 0, "message": {"role": "assistant", "content": "Hello world"},
                                "logprobs": None, "finish_reason": "stop"}]
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 12, "total_tokens": 17,
                             "completion_tokens_details": {"reasoning_tokens": 10}}


def test_reply_without_model_version_names_the_requested_model():
    data = {**REPLY, "modelVersion": None}
    assert P.read_reply(chat(), orjson.dumps(data)).model == "gemini-chat"


def test_function_call_reply_has_tool_calls():
    data = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "weather", "args": {"city": "Oslo"}}}],
                                        "role": "model"}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 3}}
    choice = orjson.loads(P.read_reply(chat(), orjson.dumps(data)).body)["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [{"id": "call_0", "type": "function", "function": {
        "name": "weather", "arguments": '{"city":"Oslo"}'}}]


@pytest.mark.parametrize("reason,expected", [("STOP", "stop"), ("MAX_TOKENS", "length"),
                                             ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
                                             ("PROHIBITED_CONTENT", "content_filter"), ("OTHER", "stop")])
def test_finish_reasons(reason, expected):
    data = {"candidates": [{"content": {"parts": [{"text": "x"}], "role": "model"}, "finishReason": reason}]}
    assert orjson.loads(P.read_reply(chat(), orjson.dumps(data)).body)["choices"][0]["finish_reason"] == expected


def test_blocked_prompt_is_a_content_filter_finish():
    data = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 4}}
    choice = orjson.loads(P.read_reply(chat(), orjson.dumps(data)).body)["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["message"]["content"] is None


@pytest.mark.parametrize("raw", [b"<html>502</html>", b'{"candidates": [', b'{"error": 1}', b"[]"])
def test_unreadable_replies(raw):
    with pytest.raises(MalformedReply):
        P.read_reply(chat(), raw)


# --- stream ----------------------------------------------------------------------------------------

# Recorded shape (provider-errors.md §4.4): CRLF framing, no [DONE], finishReason on the last chunk.
RECORDED = (
    b'data: {"candidates": [{"content": {"parts": [{"text": "Hello"}],"role": "model"},"index": 0}],'
    b'"usageMetadata": {"promptTokenCount": 5,"totalTokenCount": 5},"modelVersion": "gemini-2.5-flash",'
    b'"responseId": "abc"}\r\n\r\n'
    b'data: {"candidates": [{"content": {"parts": [{"text": " world"}],"role": "model"},"finishReason": "STOP",'
    b'"index": 0}],"usageMetadata": {"promptTokenCount": 5,"candidatesTokenCount": 2,"totalTokenCount": 7},'
    b'"modelVersion": "gemini-2.5-flash","responseId": "abc"}\r\n\r\n'
)


def relay(decoder, data: bytes, step: int):
    events = []
    for i in range(0, len(data), step):
        events += decoder.feed(data[i:i + step])
    return events


@pytest.mark.parametrize("step", [len(RECORDED), 7, 1])
def test_stream_becomes_openai_chunks_then_usage_then_done(step):
    events = relay(GeminiStreamDecoder(created=1700000000), RECORDED, step)
    head = (b'data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1700000000,'
            b'"model":"gemini-2.5-flash",')
    assert [e.raw for e in events] == [
        head + b'"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"logprobs":null,'
               b'"finish_reason":null}]}\n\n',
        head + b'"choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":"stop"}]}\n\n',
        head + b'"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,'
               b'"completion_tokens_details":{"reasoning_tokens":0}}}\n\n',
        b"data: [DONE]\n\n",
    ]
    assert [e.terminal for e in events] == [False, False, False, True]
    assert events[1].finish_reason == "stop" and events[0].model == "gemini-2.5-flash"
    assert events[2].usage_only and (events[2].usage.prompt_tokens, events[2].usage.completion_tokens) == (5, 2)


def test_a_cut_stream_has_no_terminal_event():
    first = RECORDED[:RECORDED.index(b"\r\n\r\n") + 4]
    decoder = GeminiStreamDecoder(created=1)
    events = decoder.feed(first + RECORDED[len(first):len(first) + 40])
    assert len(events) == 1 and not any(e.terminal for e in events)
    assert decoder.pending  # the half-received event is what the cut left


def test_stream_completes_only_when_every_candidate_finished():
    def chunk(*cands):
        return b"data: " + orjson.dumps({"candidates": list(cands)}) + b"\n\n"

    def cand(i, finish=None):
        c = {"content": {"parts": [{"text": str(i)}], "role": "model"}, "index": i}
        return {**c, "finishReason": finish} if finish else c

    decoder = GeminiStreamDecoder(created=1)
    assert not any(e.terminal for e in decoder.feed(chunk(cand(0), cand(1)) + chunk(cand(0, "STOP"), cand(1))))
    assert decoder.feed(chunk(cand(1, "MAX_TOKENS")))[-1].terminal


def test_function_call_chunks_carry_tool_calls_and_finish_tool_calls():
    data = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}], "role": "model"},
                            "finishReason": "STOP", "index": 0}]}
    first = GeminiStreamDecoder(created=1).feed(b"data: " + orjson.dumps(data) + b"\n\n")[0]
    choice = first.data["choices"][0]
    assert choice["finish_reason"] == "tool_calls" == first.finish_reason
    assert choice["delta"]["tool_calls"] == [{"index": 0, "id": "call_0", "type": "function",
                                              "function": {"name": "f", "arguments": '{"a":1}'}}]


def test_in_stream_error_keeps_googles_error_and_relays_openais_shape():
    err = {"error": {"code": 503, "message": "The model is overloaded. Please try again later.",
                     "status": "UNAVAILABLE"}}
    events = GeminiStreamDecoder(created=1).feed(RECORDED[:RECORDED.index(b"\r\n\r\n") + 4]
                                                 + b"data: " + orjson.dumps(err) + b"\r\n\r\n")
    assert events[-1].error == err["error"] and not events[-1].terminal
    assert orjson.loads(events[-1].raw[6:]) == {"error": {"message": "The model is overloaded. Please try again later.",
                                                          "type": "UNAVAILABLE", "param": None, "code": "UNAVAILABLE"}}


def test_a_stream_event_that_is_not_json_is_malformed():
    with pytest.raises(MalformedReply):
        GeminiStreamDecoder(created=1).feed(b'data: {"candidates": [\r\n\r\n')


# --- errors ----------------------------------------------------------------------------------------

QUOTA_429 = orjson.dumps({"error": {"code": 429, "message": "You exceeded your current quota.",
                                    "status": "RESOURCE_EXHAUSTED", "details": [
                                        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"}]}})
BAD_KEY = orjson.dumps({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                                  "status": "INVALID_ARGUMENT", "details": [
                                      {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                                       "domain": "googleapis.com"}]}})


@pytest.mark.parametrize("status,body,expected", [
    (429, QUOTA_429, ("You exceeded your current quota.", "RESOURCE_EXHAUSTED", "RESOURCE_EXHAUSTED")),
    (400, BAD_KEY, ("API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT", "API_KEY_INVALID")),
    (503, b"", ("HTTP 503 with an empty body", None, None)),
])
def test_read_error(status, body, expected):
    err = P.read_error(status, body)
    assert (err.message, err.type, err.code) == expected and err.raw == body


# --- embeddings ------------------------------------------------------------------------------------

EMBED_TARGET = ResolvedDeployment("emb", Deployment(provider="gemini", base_url=BASE, model="gemini-embedding-001",
                                                    api_key_env="K", name="gem-emb"), BASE, "AIzaSyUpstream")


def embed(**body):
    return ApiRequest("embeddings", "emb", {"model": "emb", **body})


def test_embeddings_request_is_a_batch_with_one_request_per_input():
    up = P.build_request(embed(input=["one", "two"], dimensions=8, encoding_format="float", user="u"), EMBED_TARGET)
    assert up.url == BASE + "/models/gemini-embedding-001:batchEmbedContents"
    assert orjson.loads(up.body) == {"requests": [
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "one"}]}, "outputDimensionality": 8},
        {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "two"}]}, "outputDimensionality": 8}]}
    assert orjson.loads(P.build_request(embed(input="solo"), EMBED_TARGET).body)["requests"][0] == {
        "model": "models/gemini-embedding-001", "content": {"parts": [{"text": "solo"}]}}


@pytest.mark.parametrize("body,param", [({"input": [1, 2, 3]}, "input"), ({"input": "x", "extra": 1}, "extra")])
def test_embeddings_gemini_cannot_express(body, param):
    with pytest.raises(SeawallError) as e:
        P.build_request(embed(**body), EMBED_TARGET)
    assert e.value.code == "unsupported_parameter" and e.value.param == param


def test_embeddings_reply_floats_and_base64():
    raw = orjson.dumps({"embeddings": [{"values": [0.5, -0.25]}, {"values": [1.0, 0.0]}]})
    floats = P.read_reply(embed(input=["a", "b"], encoding_format="float"), raw)
    assert orjson.loads(floats.body) == {"object": "list", "model": "emb",
                                         "usage": {"prompt_tokens": 0, "total_tokens": 0},
                                         "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]},
                                                  {"object": "embedding", "index": 1, "embedding": [1.0, 0.0]}]}
    packed = orjson.loads(P.read_reply(embed(input=["a", "b"], encoding_format="base64"), raw).body)
    assert packed["data"][0]["embedding"] == "AAAAPwAAgL4="  # little-endian float32 0.5, -0.25
    with pytest.raises(MalformedReply):
        P.read_reply(embed(input="a"), b'{"embedding": {"values": []}}')
