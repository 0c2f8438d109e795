"""Anthropic's Messages API for clients: `POST /v1/messages` and `/v1/messages/count_tokens`, so
the official `anthropic` SDK (and Claude Code) works against Seawall with a Seawall key in
`x-api-key`, whichever upstream serves the model.

To an Anthropic deployment the request passes through as the client sent it (thinking,
cache_control, betas, fields newer than this code), with its `anthropic-version` and
`anthropic-beta` headers: `parse` checks only what the gateway reads (model, max_tokens,
messages, stream). To another vendor it is translated to the canonical form:

    Messages request                          canonical (OpenAI chat)
    system (string or text blocks)        ->  a system message
    text / image blocks                   ->  content parts (base64 images -> data: URLs)
    document blocks (base64 PDF, text)    ->  file parts (data: URLs), text
    assistant tool_use blocks             ->  tool_calls;  user tool_result blocks -> tool messages
    tools (input_schema), tool_choice     ->  tools (parameters), tool_choice auto/none/required/function
    max_tokens (required here)            ->  max_completion_tokens (what every OpenAI chat model
                                              takes, reasoning ones included);  stop_sequences -> stop;
                                              metadata.user_id -> user
    thinking {budget_tokens}              ->  reasoning_effort (low / medium / high by budget)
    top_k                                 ->  top_k (carried: Anthropic upstreams take it, others refuse it)
    thinking / redacted_thinking blocks   ->  left out: their signatures are valid at Anthropic only,
      of earlier assistant turns              and Anthropic itself ignores earlier turns' thinking

Prompt-caching hints (`cache_control` on any block or tool) and `context_management` have no
counterpart: a 400 naming the field, unless the model's `translation: lossy` lets them drop.
What else has no canonical form (documents by URL, server tools, MCP) is a 400 naming the field, never
dropped. Replies, streams (message_start … message_stop, with `ping` while a model thinks) and
errors (`{"type": "error", "error": {...}}`) come back in Anthropic's shapes.
"""

from __future__ import annotations

import orjson

from seawall.decide.keys import KeyProblem
from seawall.dialects.anthropic_reply import MessagesStream, event, to_message
from seawall.dialects.base import key_from
from seawall.errors import SeawallError, error
from seawall.pipeline.ingress import json_kind, parse_json_object
from seawall.providers.base import ApiRequest
from seawall.providers.passthrough import meaningful_headers

ENDPOINT = "POST /v1/messages"
ENDPOINTS = {"chat": ENDPOINT, "count_tokens": "POST /v1/messages/count_tokens"}
# Client headers that go upstream with a pass-through (the API version and beta features it asks for).
FORWARDED = ("anthropic-version", "anthropic-beta")

# Error types by status, as Anthropic's API and SDKs use them (provider-errors.md §3).
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               502: "api_error", 503: "api_error", 504: "timeout_error", 529: "overloaded_error"}

_PASSED = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "stop_sequences": "stop"}
_KNOWN = frozenset({"model", "max_tokens", "messages", "system", "stream", "tools", "tool_choice", "metadata",
                    "service_tier", "thinking", *_PASSED})
# Hints that change what a request costs or keeps, not its answer: refused across vendors
# unless the model's translation is lossy, then dropped.
_LOSSY = frozenset({"context_management", "cache_control"})
# thinking.budget_tokens -> reasoning_effort: the nearest of the budgets Google's OpenAI-compatible
# endpoint maps low / medium / high to (1024, 8192, 24576; ai.google.dev/gemini-api/docs/openai),
# split at their geometric means.
_EFFORTS = ((2896, "low"), (14189, "medium"))


class AnthropicDialect:
    name = "anthropic"
    keepalive = b'event: ping\ndata: {"type": "ping"}\n\n'
    key_how = "'x-api-key: sk-sw-...'"

    def credential(self, headers: dict[str, str]) -> tuple[str | None, KeyProblem | None]:
        return key_from(headers, "x-api-key")

    def parse(self, operation: str, body: bytes, headers: dict[str, str], path_model: str | None) -> ApiRequest:
        m = parse_json_object(body, headers)
        endpoint = ENDPOINTS[operation]
        model = _required(m, "model", str, "a string such as \"claude-sonnet-4-5\"", endpoint)
        if operation == "chat":
            max_tokens = _required(m, "max_tokens", int, "an integer (the most tokens the reply may have)", endpoint)
            if isinstance(max_tokens, bool) or max_tokens < 1:
                raise error("invalid_field", param="max_tokens", expected="an integer of 1 or more",
                            got=repr(max_tokens))
        _required(m, "messages", list, "an array of message objects", endpoint)
        stream = m.get("stream")
        if stream is not None and not isinstance(stream, bool):
            raise error("invalid_field", param="stream", expected="a boolean", got=json_kind(stream))
        stream = stream is True and operation == "chat"
        return ApiRequest(operation, model, m, stream, "anthropic", stream, shape="anthropic", raw=body,
                          headers=meaningful_headers(headers, FORWARDED))

    def translate(self, req: ApiRequest, lossy: bool = False) -> ApiRequest:
        if req.shape != "anthropic":
            return req
        if req.operation != "chat":
            raise error("operation_not_supported", param="model", model=req.model, operation=ENDPOINTS[req.operation])
        return to_canonical(req.body, lossy)

    def reply(self, req: ApiRequest, canonical: bytes, request_id: str) -> bytes:
        return orjson.dumps(to_message(orjson.loads(canonical)))

    def stream(self, request_id: str, model: str) -> MessagesStream:
        return MessagesStream(model)

    def error_body(self, err: SeawallError, request_id: str) -> tuple[int, bytes]:
        return err.status, orjson.dumps(error_payload(err, request_id))

    def error_event(self, err: SeawallError, request_id: str) -> bytes:
        return event("error", error_payload(err, request_id))


def error_payload(err: SeawallError, request_id: str) -> dict:
    kind = ERROR_TYPES.get(err.status) or ("api_error" if err.status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": err.sdk_message, "code": err.provider_code or err.code,
                                       "param": err.param, "hint": err.hint, "category": err.category},
            "request_id": request_id}


# -- request ---------------------------------------------------------------------------------------

def to_canonical(m: dict, lossy: bool = False) -> ApiRequest:
    """A Messages body (checked by `parse`) as an OpenAI chat request, or the 400 naming the
    first field that has no counterpart."""
    for name in m:
        if name in _LOSSY:
            _hint(name, lossy)
        elif name not in _KNOWN:
            raise error("unsupported_parameter", param=name, deployment="a deployment of another vendor",
                        detail="Seawall translates Messages for it to a common form that has no such field")
    model, max_tokens, turns = m["model"], m["max_tokens"], m["messages"]
    messages: list[dict] = []
    system = m.get("system")
    if system is not None:
        messages.append({"role": "system", "content": _text_of(system, "system", lossy)})
    for i, turn in enumerate(turns):
        messages.extend(_turn(turn, f"messages.{i}", lossy))
    chat: dict = {"model": model, "messages": messages, "max_completion_tokens": max_tokens}
    for theirs, ours in _PASSED.items():
        if m.get(theirs) is not None:
            chat[ours] = m[theirs]
    effort = _reasoning_effort(m.get("thinking"))
    if effort is not None:
        chat["reasoning_effort"] = effort
    if m.get("tools"):
        chat["tools"] = [_tool(t, f"tools.{i}", lossy) for i, t in enumerate(_list(m["tools"], "tools"))]
    if m.get("tool_choice") is not None:
        chat.update(_tool_choice(m["tool_choice"]))
    metadata = m.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise error("invalid_field", param="metadata", expected="an object such as {\"user_id\": \"…\"}",
                    got=json_kind(metadata))
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        chat["user"] = metadata["user_id"]
    stream = m.get("stream") is True
    if stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # message_delta carries the usage
    return ApiRequest("chat", model, chat, stream, "anthropic", stream)


def _hint(param: str, lossy: bool) -> None:
    """A cost hint with no counterpart: refused (strict) or let drop (lossy)."""
    if not lossy:
        raise error("unsupported_parameter", param=param, deployment="a deployment of another vendor",
                    detail="it has no counterpart there; the model's gateway config may set translation: lossy "
                           "to drop such hints")


def _reasoning_effort(thinking: object) -> str | None:
    if thinking is None:
        return None
    if not isinstance(thinking, dict):
        raise error("invalid_field", param="thinking", expected="an object such as {\"type\": \"enabled\", "
                    "\"budget_tokens\": 2048}", got=json_kind(thinking))
    if thinking.get("type") != "enabled":
        return None  # disabled, or adaptive: the model's own default
    budget = thinking.get("budget_tokens")
    if budget is None:
        raise error("missing_field", param="thinking.budget_tokens", endpoint=ENDPOINT)
    if not isinstance(budget, int) or isinstance(budget, bool):
        raise error("invalid_field", param="thinking.budget_tokens", expected="an integer", got=json_kind(budget))
    return next((effort for limit, effort in _EFFORTS if budget < limit), "high")


def _required(m: dict, name: str, kind: type, expected: str, endpoint: str = ENDPOINT):
    value = m.get(name)
    if value is None:
        raise error("missing_field", param=name, endpoint=endpoint)
    if not isinstance(value, kind):
        raise error("invalid_field", param=name, expected=expected, got=json_kind(value))
    return value


def _list(value: object, where: str) -> list:
    if not isinstance(value, list):
        raise error("invalid_field", param=where, expected="an array", got=json_kind(value))
    return value


def _string(block: dict, name: str, where: str) -> str:
    value = block.get(name)
    if not isinstance(value, str) or not value:
        raise error("invalid_field", param=f"{where}.{name}", expected="a non-empty string", got=json_kind(value))
    return value


def _blocks(content: object, where: str, lossy: bool) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks = _list(content, where)
    for j, b in enumerate(blocks):
        if not isinstance(b, dict) or not isinstance(b.get("type"), str):
            raise error("invalid_field", param=f"{where}.{j}", expected="a content block with a 'type'",
                        got=json_kind(b))
        if "cache_control" in b:
            _hint(f"{where}.{j}.cache_control", lossy)
    return blocks


def _text_of(content: object, where: str, lossy: bool) -> str:
    parts = []
    for j, b in enumerate(_blocks(content, where, lossy)):
        if b["type"] != "text":
            raise error("invalid_field", param=f"{where}.{j}.type", expected="'text' (a system prompt holds text)",
                        got=repr(b["type"]))
        parts.append(str(b.get("text", "")))
    return "\n".join(parts)


def _turn(turn: object, where: str, lossy: bool) -> list[dict]:
    if not isinstance(turn, dict):
        raise error("invalid_field", param=where, expected="a message object", got=json_kind(turn))
    role = turn.get("role")
    if role == "system":  # a system turn between the others (the 2026 API's per-turn instructions)
        return [{"role": "system", "content": _text_of(turn.get("content"), f"{where}.content", lossy)}]
    if role not in ("user", "assistant"):
        raise error("invalid_field", param=f"{where}.role", expected="'user', 'assistant' or 'system'",
                    got=repr(role))
    blocks = _blocks(turn.get("content"), f"{where}.content", lossy)
    if role == "assistant":
        return [_assistant(blocks, f"{where}.content")]
    out: list[dict] = []
    parts: list[dict] = []
    for j, b in enumerate(blocks):
        here = f"{where}.content.{j}"
        if b["type"] == "tool_result":  # tool messages must follow the assistant's tool_calls at once
            out.append({"role": "tool", "tool_call_id": _string(b, "tool_use_id", here),
                        "content": _tool_result(b.get("content"), here, b.get("is_error") is True, lossy)})
        else:
            parts.append(_part(b, here))
    if parts:
        only_text = all(p["type"] == "text" for p in parts)
        out.append({"role": "user",
                    "content": "\n".join(p["text"] for p in parts) if only_text and len(parts) == 1 else parts})
    return out


def _part(b: dict, where: str) -> dict:
    if b["type"] == "text":
        return {"type": "text", "text": str(b.get("text", ""))}
    if b["type"] == "image":
        source = b.get("source")
        if not isinstance(source, dict):
            raise error("invalid_field", param=f"{where}.source", expected="an object", got=json_kind(source))
        if source.get("type") == "base64":
            return {"type": "image_url",
                    "image_url": {"url": f"data:{source.get('media_type')};base64,{source.get('data', '')}"}}
        if source.get("type") == "url":
            return {"type": "image_url", "image_url": {"url": source.get("url")}}
        raise error("invalid_field", param=f"{where}.source.type", expected="'base64' or 'url'",
                    got=repr(source.get("type")))
    if b["type"] == "document":
        return _document(b, where)
    raise _no_counterpart(f"{where}.type", b["type"])


def _document(b: dict, where: str) -> dict:
    """A PDF (base64) becomes a chat file part; a plain-text document, its text. A document by URL
    or by file id has no counterpart (chat file parts carry their data)."""
    source = b.get("source")
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64":
        return {"type": "file", "file": {"filename": str(b.get("title") or "document.pdf"),
                                         "file_data": f"data:{source.get('media_type')};base64,{source.get('data', '')}"}}
    if kind == "text":
        return {"type": "text", "text": str(source.get("data", ""))}
    raise error("unsupported_parameter", param=f"{where}.source.type", deployment="a deployment of another vendor",
                detail=f"a document's {kind!r} source has no counterpart there: send it as base64 or text")


def _no_counterpart(param: str, kind: str) -> SeawallError:
    return error("unsupported_parameter", param=param, deployment="a deployment of another vendor",
                 detail=f"a {kind!r} block has no counterpart in the common form Seawall translates to")


def _tool_result(content: object, where: str, is_error: bool, lossy: bool) -> str:
    text = content if isinstance(content, str) or content is None else \
        "\n".join(str(p["text"]) for p in (_part(b, f"{where}.content.{j}") for j, b in
                                           enumerate(_blocks(content, f"{where}.content", lossy)))
                  if p["type"] == "text")
    text = text or ""
    return f"Error: {text}" if is_error else text  # chat tool messages have no error flag


def _assistant(blocks: list[dict], where: str) -> dict:
    text: list[str] = []
    calls: list[dict] = []
    for j, b in enumerate(blocks):
        if b["type"] == "text":
            text.append(str(b.get("text", "")))
        elif b["type"] == "tool_use":
            here = f"{where}.{j}"
            given = b.get("input", {})
            if not isinstance(given, dict):
                raise error("invalid_field", param=f"{here}.input", expected="an object", got=json_kind(given))
            calls.append({"id": _string(b, "id", here), "type": "function",
                          "function": {"name": _string(b, "name", here), "arguments": orjson.dumps(given).decode()}})
        elif b["type"] not in ("thinking", "redacted_thinking"):  # signed for Anthropic only: left out
            raise _no_counterpart(f"{where}.{j}.type", b["type"])
    out: dict = {"role": "assistant", "content": "".join(text) if text else None}
    if calls:
        out["tool_calls"] = calls
    return out


def _tool(t: object, where: str, lossy: bool) -> dict:
    if not isinstance(t, dict):
        raise error("invalid_field", param=where, expected="a tool object", got=json_kind(t))
    if "cache_control" in t:
        _hint(f"{where}.cache_control", lossy)
    if t.get("type") not in (None, "custom"):  # server tools (web search, code execution, …)
        raise error("unsupported_parameter", param=f"{where}.type", deployment="a deployment of another vendor",
                    detail=f"server tool {t.get('type')!r} runs only on Anthropic's own API")
    fn = {"name": t.get("name"), "parameters": t.get("input_schema") or {"type": "object", "properties": {}}}
    if t.get("description"):
        fn["description"] = t["description"]
    return {"type": "function", "function": fn}


def _tool_choice(choice: object) -> dict:
    if not isinstance(choice, dict):
        raise error("invalid_field", param="tool_choice", expected="an object such as {\"type\": \"auto\"}",
                    got=json_kind(choice))
    kind = choice.get("type")
    mapped = {"auto": "auto", "any": "required", "none": "none"}.get(kind) if isinstance(kind, str) else None
    if kind == "tool":
        out: dict = {"tool_choice": {"type": "function", "function": {"name": _string(choice, "name", "tool_choice")}}}
    elif mapped is not None:
        out = {"tool_choice": mapped}
    else:
        raise error("invalid_field", param="tool_choice.type", expected="'auto', 'any', 'tool' or 'none'",
                    got=repr(kind))
    if choice.get("disable_parallel_tool_use") is True:
        out["parallel_tool_calls"] = False
    return out
