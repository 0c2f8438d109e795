"""Google's Gemini API (generativelanguage.googleapis.com), spoken for OpenAI-shaped requests.

Config: `base_url` is the API version root, `https://generativelanguage.googleapis.com/v1beta`;
`model` the Gemini model id (`gemini-2.5-flash`, `gemini-embedding-001`). Requests go to
`{base_url}/models/{model}:generateContent`, streams to `:streamGenerateContent?alt=sse`,
embeddings to `:batchEmbedContents`, with the key in `x-goog-api-key` (provider-errors.md §4.5).

Request: roles user/assistant/tool → user/model/user (functionResponse), system and developer →
`systemInstruction`, image data URLs → `inlineData`, tools → `functionDeclarations`, the sampling
fields → `generationConfig`. A field Gemini can't express is refused with a 400 naming it
(`unsupported_parameter`), never dropped. Replies and stream chunks come back as OpenAI
`chat.completion` / `chat.completion.chunk` JSON, `model` = Gemini's `modelVersion`.
"""

from __future__ import annotations

import base64
import sys
import time
from array import array
from urllib.parse import quote

import orjson

from seawall.config import ResolvedDeployment
from seawall.decide.bodies import read_error_fields
from seawall.decide.classify import own_code
from seawall.errors import error
from seawall.providers import gemini_images, gemini_native
from seawall.providers.base import (
    ApiRequest,
    ErrorBody,
    MalformedReply,
    Reply,
    StreamEvent,
    UpstreamRequest,
    Usage,
    reply_json,
)
from seawall.providers.gemini_native import read_usage
from seawall.providers.sse import TERMINATOR, SSESplitter, data_of, error_of, json_event

# finishReason enum (google-genai types.FinishReason); the filter family is OpenAI's content_filter.
FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length", "MALFORMED_FUNCTION_CALL": "stop",
                  "FINISH_REASON_UNSPECIFIED": "stop", "OTHER": "stop", "LANGUAGE": "stop",
                  "UNEXPECTED_TOOL_CALL": "stop", "TOO_MANY_TOOL_CALLS": "stop"}
for _filtered in ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
                  "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"):
    FINISH_REASONS[_filtered] = "content_filter"

# OpenAI fields with no effect on Gemini's output: stream_options is the gateway's business
# (usage is always known), `user` an abuse-monitoring id, parallel_tool_calls Gemini's default.
_IGNORED = frozenset({"model", "messages", "stream", "stream_options", "user", "parallel_tool_calls"})
_CONFIG = {"temperature": "temperature", "top_p": "topP", "seed": "seed",
           "presence_penalty": "presencePenalty", "frequency_penalty": "frequencyPenalty"}
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
# reasoning_effort -> thinkingBudget, as Google's own OpenAI-compatible endpoint maps it
# (ai.google.dev/gemini-api/docs/openai, "Thinking").
_THINKING_BUDGETS = {"none": 0, "minimal": 0, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768,
                     "max": 32768}
# OpenAI's prompt-cache hints: Gemini caches by cachedContent, not by key. Refused by name, or
# dropped under translation: lossy.
_CACHE_HINTS = frozenset({"prompt_cache_key", "prompt_cache_retention"})


class GeminiProvider:
    name = "gemini"
    family = "gemini"
    supports = frozenset({"chat", "embeddings", "images"})  # images: Imagen models (gemini_images.py)
    native_operations = gemini_native.NATIVE_OPERATIONS

    # -- pass-through (providers/gemini_native.py) ----------------------------------------------
    def build_native(self, req: ApiRequest, target: ResolvedDeployment, ask_usage: bool = True) -> UpstreamRequest:
        return gemini_native.build_native(req, target)

    def read_native_reply(self, req: ApiRequest, body: bytes) -> Reply:
        return gemini_native.read_native_reply(req, body)

    def native_stream_decoder(self, req: ApiRequest) -> gemini_native.GeminiNativeDecoder:
        return gemini_native.GeminiNativeDecoder()

    # -- translated (OpenAI-shaped requests) ----------------------------------------------------

    def build_request(self, req: ApiRequest, target: ResolvedDeployment,
                      ask_usage: bool = True) -> UpstreamRequest:
        if req.operation == "images":
            return gemini_images.build_imagen(req, target)
        if req.operation == "embeddings":
            body, method = to_gemini_embeddings(req.body, target.spec.model, target.label), "batchEmbedContents"
        else:
            lossy = target.model_route is not None and target.model_route.translation == "lossy"
            body = to_gemini(req.body, target.label, lossy)
            method = "streamGenerateContent?alt=sse" if req.stream else "generateContent"
        url = f"{target.base_url}/models/{quote(target.spec.model, safe='')}:{method}"
        headers = {"content-type": "application/json",
                   "accept": "text/event-stream" if req.stream else "application/json"}
        if target.api_key:
            headers["x-goog-api-key"] = target.api_key
        headers.update(target.spec.headers)
        return UpstreamRequest("POST", url, headers, orjson.dumps(body))

    def read_reply(self, req: ApiRequest, body: bytes) -> Reply:
        if req.operation == "images":
            return gemini_images.read_imagen(req, body)
        data = reply_json(body)
        if req.operation == "embeddings":
            if not isinstance(data, dict) or not isinstance(data.get("embeddings"), list):
                raise MalformedReply(f"a 2xx reply without 'embeddings': {body[:120]!r}")
            reply = to_embeddings(data, req.body.get("model", ""), req.body.get("encoding_format"))
            return Reply(orjson.dumps(reply), Usage(reply["usage"]["prompt_tokens"], 0), None)
        if not isinstance(data, dict) or not ("candidates" in data or "promptFeedback" in data):
            raise MalformedReply(f"a 2xx reply without 'candidates': {body[:120]!r}")
        completion = to_completion(data, req.body.get("model", ""), int(time.time()))
        return Reply(orjson.dumps(completion), read_usage(data.get("usageMetadata")), completion["model"])

    def stream_decoder(self) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(int(time.time()))

    def read_error(self, status: int, body: bytes) -> ErrorBody:
        f = read_error_fields(body)
        message = f.message or f"HTTP {status} with {'an empty body' if f.is_empty else 'no error message'}"
        return ErrorBody(message, f.status_name or None, own_code(f) or None, None, body)


# -- request: OpenAI chat -> GenerateContentRequest ----------------------------------------------

def to_gemini(body: dict, deployment: str, lossy: bool = False) -> dict:
    """The GenerateContentRequest for an OpenAI chat body; raises the catalog's
    unsupported_parameter (400) for what Gemini can't express."""
    def refuse(param: str, detail: str):
        return error("unsupported_parameter", param, deployment=deployment, detail=detail)

    out: dict = {}
    config: dict = {}
    for name, value in body.items():
        if name in _IGNORED or value is None or (lossy and name in _CACHE_HINTS):
            continue
        if name in _CONFIG:
            config[_CONFIG[name]] = value
        elif name in ("max_tokens", "max_completion_tokens"):
            config["maxOutputTokens"] = value
        elif name == "n":
            config["candidateCount"] = value
        elif name == "stop":
            config["stopSequences"] = [value] if isinstance(value, str) else value
        elif name == "response_format":
            config.update(_response_format(value, refuse))
        elif name == "reasoning_effort" and value in _THINKING_BUDGETS:
            config["thinkingConfig"] = {"thinkingBudget": _THINKING_BUDGETS[value]}
        elif name == "tools":
            out["tools"] = [{"functionDeclarations": [_declaration(t, i, refuse) for i, t in enumerate(value)]}]
        elif name == "tool_choice":
            out["toolConfig"] = {"functionCallingConfig": _tool_choice(value, refuse)}
        elif name == "safety_settings":  # a Gemini client's own filters (dialects/gemini.py), sent as given
            out["safetySettings"] = value
        else:
            raise refuse(name, "Gemini's generateContent has no such parameter")
    system, contents = _contents(body.get("messages") or [], refuse)
    out["contents"] = contents
    if system:
        out["systemInstruction"] = {"parts": system}
    if config:
        out["generationConfig"] = config
    return out


def to_gemini_embeddings(body: dict, model: str, deployment: str) -> dict:
    """A BatchEmbedContentsRequest for an OpenAI embeddings body, one request per input."""
    for name, value in body.items():
        if name not in ("model", "input", "dimensions", "encoding_format", "user") and value is not None:
            raise error("unsupported_parameter", name, deployment=deployment,
                        detail="Gemini's batchEmbedContents has no such parameter")
    texts = body.get("input")
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise error("unsupported_parameter", "input", deployment=deployment,
                    detail="Gemini embeds text: send a string or a list of strings, not token ids")
    extra = {"outputDimensionality": body["dimensions"]} if body.get("dimensions") else {}
    return {"requests": [{"model": f"models/{model}", "content": {"parts": [{"text": t}]}, **extra} for t in texts]}


def to_embeddings(data: dict, model: str, encoding: str | None) -> dict:
    """OpenAI's embeddings list; `base64` is little-endian float32, as the openai SDK decodes it
    (and asks for by default). Gemini reports no token counts for embeddings: usage is 0 unless
    the reply has usageMetadata."""
    items = []
    for i, emb in enumerate(data["embeddings"]):
        values = (emb.get("values") or []) if isinstance(emb, dict) else []
        if encoding == "base64":
            packed = array("f", values)
            if sys.byteorder == "big":
                packed.byteswap()
            values = base64.b64encode(packed.tobytes()).decode()
        items.append({"object": "embedding", "index": i, "embedding": values})
    tokens = (data.get("usageMetadata") or {}).get("promptTokenCount") or 0
    return {"object": "list", "data": items, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def _response_format(value: object, refuse) -> dict:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema" and isinstance(value.get("json_schema"), dict) and "schema" in value["json_schema"]:
        return {"responseMimeType": "application/json", "responseJsonSchema": value["json_schema"]["schema"]}
    raise refuse("response_format", f"type {kind!r} has no Gemini equivalent (text, json_object, json_schema)")


def _declaration(tool: object, i: int, refuse) -> dict:
    if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
        raise refuse(f"tools[{i}].type", "only function tools translate to Gemini's functionDeclarations")
    fn = tool["function"]
    decl = {"name": fn.get("name")}
    if fn.get("description"):
        decl["description"] = fn["description"]
    if fn.get("parameters"):
        # parametersJsonSchema takes JSON Schema as OpenAI clients write it; `parameters` would
        # refuse common keywords (additionalProperties, $ref) as an OpenAPI subset.
        decl["parametersJsonSchema"] = fn["parameters"]
    return decl


def _tool_choice(value: object, refuse) -> dict:
    if isinstance(value, str) and value in _TOOL_MODES:
        return {"mode": _TOOL_MODES[value]}
    if isinstance(value, dict) and value.get("type") == "function" and isinstance(value.get("function"), dict):
        return {"mode": "ANY", "allowedFunctionNames": [value["function"].get("name")]}
    raise refuse("tool_choice", "Gemini takes auto, none, required or one named function")


def _contents(messages: list, refuse) -> tuple[list[dict], list[dict]]:
    system: list[dict] = []
    contents: list[dict] = []
    call_names: dict[str, str] = {}  # tool_call_id -> function name: functionResponse needs the name
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        role = m.get("role") if isinstance(m, dict) else None
        if role in ("system", "developer"):
            system += _parts(m.get("content"), where, refuse)
        elif role == "user":
            contents.append({"role": "user", "parts": _parts(m.get("content"), where, refuse)})
        elif role == "assistant":
            parts = _parts(m.get("content"), where, refuse) if m.get("content") else []
            for j, call in enumerate(m.get("tool_calls") or []):
                fn = call.get("function") or {}
                try:
                    args = orjson.loads(fn.get("arguments") or "{}")
                except orjson.JSONDecodeError:
                    raise refuse(f"{where}.tool_calls[{j}].function.arguments", "the arguments are not JSON") from None
                call_names[call.get("id", "")] = fn.get("name", "")
                parts.append({"functionCall": {"name": fn.get("name"), "args": args}})
            contents.append({"role": "model", "parts": parts})
        elif role == "tool":
            name = call_names.get(m.get("tool_call_id", ""))
            if name is None:
                raise refuse(f"{where}.tool_call_id", "it names no tool call of an earlier assistant message")
            text = _text_of(m.get("content"))
            try:
                result = orjson.loads(text)
            except orjson.JSONDecodeError:
                result = None
            part = {"functionResponse": {"name": name,
                                         "response": result if isinstance(result, dict) else {"content": text}}}
            if contents and contents[-1]["role"] == "user" and "functionResponse" in contents[-1]["parts"][-1]:
                contents[-1]["parts"].append(part)  # one turn answers all of a turn's calls
            else:
                contents.append({"role": "user", "parts": [part]})
        else:
            raise refuse(f"{where}.role", f"role {role!r} has no Gemini equivalent (system, user, assistant, tool)")
    return system, contents


def _text_of(content: object) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _parts(content: object, where: str, refuse) -> list[dict]:
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        raise refuse(f"{where}.content", "content must be a string or a list of content parts")
    parts = []
    for j, p in enumerate(content):
        kind = p.get("type") if isinstance(p, dict) else None
        if kind == "text":
            parts.append({"text": p.get("text", "")})
        elif kind == "image_url":
            url = (p.get("image_url") or {}).get("url", "")
            head, sep, data = url.partition(",")
            if not (url.startswith("data:") and head.endswith(";base64") and sep):
                raise refuse(f"{where}.content[{j}].image_url",
                             "Gemini takes images inline: send a data:image/...;base64, URL")
            parts.append({"inlineData": {"mimeType": head[5:-7], "data": data}})
        elif kind == "file":  # a document sent with its data
            data_url = (p.get("file") or {}).get("file_data", "")
            head, sep, data = data_url.partition(",") if isinstance(data_url, str) else ("", "", "")
            if not (head.startswith("data:") and head.endswith(";base64") and sep):
                raise refuse(f"{where}.content[{j}].file", "Gemini takes files inline: send base64 file_data")
            parts.append({"inlineData": {"mimeType": head[5:-7], "data": data}})
        else:
            raise refuse(f"{where}.content[{j}].type", f"content part {kind!r} has no Gemini equivalent")
    return parts


# -- reply: GenerateContentResponse -> OpenAI ------------------------------------------------------

def usage_json(meta: dict) -> dict:
    usage = read_usage(meta) or Usage()
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
            "completion_tokens_details": {"reasoning_tokens": meta.get("thoughtsTokenCount") or 0}}


def _message(candidate: dict, call_base: int = 0) -> tuple[str | None, list[dict]]:
    """A candidate's visible text and its function calls as OpenAI tool_calls (thought parts
    are summaries of the model's reasoning, not the answer, and stay out)."""
    texts, calls = [], []
    for part in (candidate.get("content") or {}).get("parts") or []:
        if part.get("thought"):
            continue
        if "text" in part:
            texts.append(part["text"])
        elif "functionCall" in part:
            fc = part["functionCall"]
            calls.append({"index": call_base + len(calls), "id": fc.get("id") or f"call_{call_base + len(calls)}",
                          "type": "function", "function": {"name": fc.get("name", ""),
                                                           "arguments": orjson.dumps(fc.get("args") or {}).decode()}})
    return ("".join(texts) if texts else None), calls


def finish_reason(candidate: dict, has_calls: bool) -> str | None:
    reason = candidate.get("finishReason")
    if reason is None:
        return None
    mapped = FINISH_REASONS.get(reason, "stop")
    return "tool_calls" if has_calls and mapped == "stop" else mapped


def to_completion(data: dict, fallback_model: str, created: int) -> dict:
    choices = []
    for i, cand in enumerate(data.get("candidates") or []):
        text, calls = _message(cand)
        message: dict = {"role": "assistant", "content": text}
        if calls:
            message["tool_calls"] = [{k: v for k, v in c.items() if k != "index"} for c in calls]
        choices.append({"index": cand.get("index", i), "message": message, "logprobs": None,
                        "finish_reason": finish_reason(cand, bool(calls)) or "stop"})
    if not choices and (data.get("promptFeedback") or {}).get("blockReason"):
        # The prompt itself was blocked (HTTP 200, no candidates): OpenAI's way to say so.
        choices.append({"index": 0, "message": {"role": "assistant", "content": None}, "logprobs": None,
                        "finish_reason": "content_filter"})
    return {"id": "chatcmpl-" + str(data.get("responseId") or created), "object": "chat.completion",
            "created": created, "model": data.get("modelVersion") or fallback_model, "choices": choices,
            "usage": usage_json(data.get("usageMetadata") or {})}


class GeminiStreamDecoder:
    """`data: {GenerateContentResponse}` events (LF or CRLF framed), re-encoded as OpenAI chunks.

    Gemini sends no end sentinel: the stream is complete with the chunk in which every candidate
    has a finishReason (or the prompt was blocked). That chunk is followed by a usage-only chunk
    and `data: [DONE]`; a stream cut before it has no terminal event, so egress reports it as
    interrupted. An `{"error": …}` chunk is an in-stream failure (§4.4). One per request."""

    __slots__ = ("_calls", "_created", "_open", "_role_sent", "_split")

    def __init__(self, created: int) -> None:
        self._split = SSESplitter()
        self._created = created
        self._open: set[int] = set()  # candidates seen without their finishReason yet
        self._calls: dict[int, int] = {}  # tool calls emitted so far, per candidate
        self._role_sent = False

    def feed(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for block in self._split.feed(data):
            payload = data_of(block).strip()
            if payload:
                out += self._events(payload)
        return out

    def _events(self, payload: bytes) -> list[StreamEvent]:
        chunk = json_event(payload)
        err = error_of(chunk)
        if err is not None:
            relayed = {"error": {"message": err.get("message", "upstream stream error"), "type": err.get("status"),
                                 "param": None, "code": err.get("status")}}
            return [StreamEvent(b"data: " + orjson.dumps(relayed) + TERMINATOR, chunk, error=err)]
        model = chunk.get("modelVersion")
        head = {"id": "chatcmpl-" + str(chunk.get("responseId") or self._created), "object": "chat.completion.chunk",
                "created": self._created, "model": model or ""}
        choices, finish = [], None
        for i, cand in enumerate(chunk.get("candidates") or []):
            index = cand.get("index", i)
            text, calls = _message(cand, self._calls.get(index, 0))
            self._calls[index] = self._calls.get(index, 0) + len(calls)
            delta: dict = {}
            if not self._role_sent:
                delta["role"] = "assistant"
            if text is not None:
                delta["content"] = text
            if calls:
                delta["tool_calls"] = calls
            reason = finish_reason(cand, self._calls[index] > 0)
            if reason is None:
                self._open.add(index)
            else:
                self._open.discard(index)
                finish = reason
            choices.append({"index": index, "delta": delta, "logprobs": None, "finish_reason": reason})
        blocked = not choices and (chunk.get("promptFeedback") or {}).get("blockReason")
        if blocked:
            finish = "content_filter"
            choices.append({"index": 0, "delta": {"role": "assistant"}, "logprobs": None,
                            "finish_reason": finish})
        self._role_sent = self._role_sent or bool(choices)
        usage = read_usage(chunk.get("usageMetadata"))
        body = {**head, "choices": choices}
        events = [StreamEvent(b"data: " + orjson.dumps(body) + TERMINATOR, body, finish_reason=finish, model=model)]
        if finish is not None and not self._open:
            tail = {**head, "choices": [], "usage": usage_json(chunk.get("usageMetadata") or {})}
            events.append(StreamEvent(b"data: " + orjson.dumps(tail) + TERMINATOR, tail, usage=usage or Usage(),
                                      usage_only=True, model=model))
            events.append(StreamEvent(b"data: [DONE]" + TERMINATOR, terminal=True))
        return events

    @property
    def pending(self) -> bytes:
        return self._split.pending
