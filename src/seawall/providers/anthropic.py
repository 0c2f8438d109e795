"""Anthropic's Messages API (reference/provider-errors.md §3) behind an OpenAI chat request.

A deployment's base_url may be written either way people copy it: `https://api.anthropic.com/v1`
(with the version, as OpenAI base URLs are written; the request goes to `{base_url}/messages`) or
`https://api.anthropic.com` (as Anthropic's SDKs take it; the request goes to
`{base_url}/v1/messages`). Requests are translated field by field; what Messages can't express is refused with a
400 naming the field (`unsupported_parameter`), never dropped. Replies and stream events come back
as OpenAI's `chat.completion` / `chat.completion.chunk`, so an OpenAI client sees one dialect
whichever deployment served. Embeddings: Anthropic has none.

    OpenAI chat                         Anthropic Messages
    system / developer messages     ->  system
    user / assistant content parts  ->  text and image blocks (data: URLs -> base64 source);
                                        file parts (base64 file_data) -> document blocks
    assistant tool_calls            ->  tool_use blocks;  tool messages -> tool_result blocks
    tools, tool_choice              ->  tools (input_schema; function.strict -> strict), tool_choice
                                        auto/none/any/tool
    response_format json_schema     ->  output_config.format (json_object has no counterpart: refused)
    max_completion_tokens | max_tokens | DEFAULT_MAX_TOKENS  ->  max_tokens (required there)
    stop -> stop_sequences;  user -> metadata.user_id;  parallel_tool_calls: false ->
    tool_choice.disable_parallel_tool_use
    reasoning_effort low / medium / high  ->  thinking {type: enabled, budget_tokens 1024 / 8192 /
                                              24576}, within max_tokens (OpenAI's max_completion_tokens
                                              counts reasoning too, as max_tokens counts thinking)

Not sent, on purpose: OpenAI account features that don't change the answer (`store`, `metadata`,
`service_tier`, …, see _ACCOUNT_ONLY) and a message's `name` (Messages has no per-turn author).
OpenAI's prompt-cache hints (`prompt_cache_key`, `prompt_cache_retention`) have no counterpart:
refused by name unless the model's `translation: lossy` lets them drop. The thinking blocks of a
reply have no place in a chat completion and stay out of it (OpenAI's own reasoning models
return no reasoning either).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson

from seawall.config import ResolvedDeployment
from seawall.decide.classify import read_error_fields
from seawall.errors import SeawallError, error
from seawall.providers import anthropic_native
from seawall.providers.anthropic_native import ANTHROPIC_VERSION, read_usage
from seawall.providers.anthropic_reply import AnthropicStreamDecoder, to_chat_completion
from seawall.providers.base import (
    ApiRequest,
    ErrorBody,
    MalformedReply,
    Reply,
    UpstreamRequest,
    reply_json,
)

# Messages requires max_tokens, OpenAI doesn't. 4096 is the smallest max output of any Claude
# model (claude-3-haiku, -opus; provider-errors.md §8), so the default is valid for every model.
DEFAULT_MAX_TOKENS = 4096


# Chat fields Messages has no counterpart for: refused, with the reason, unless set to their
# neutral value(s).
_NEUTRAL: dict[str, tuple[tuple[object, ...], str]] = {
    "n": ((None, 1), "Messages returns one choice per request"),
    "logprobs": ((None, False), "Messages returns no log probabilities"),
    "top_logprobs": ((None,), "Messages returns no log probabilities"),
    "logit_bias": ((None, {}), "Messages has no token biasing"),
    "presence_penalty": ((None, 0), "Messages has no repetition penalties"),
    "frequency_penalty": ((None, 0), "Messages has no repetition penalties"),
    "seed": ((None,), "Messages has no seeded sampling"),
    "audio": ((None,), "Messages answers in text only"),
    "modalities": ((None, ["text"]), "Messages answers in text only"),
    "prediction": ((None,), "Messages has no predicted outputs"),
    "verbosity": ((None,), "Messages has no verbosity setting"),
    "web_search_options": ((None,), "Anthropic's web search is a server tool, not translated"),
    "functions": ((None,), "the deprecated functions API is not translated; send tools"),
    "function_call": ((None,), "the deprecated functions API is not translated; send tool_choice"),
}
# OpenAI account features (stored completions, billing tier, prompt-cache routing, abuse ids):
# they change nothing in the answer, so they are not sent and not refused.
_ACCOUNT_ONLY = frozenset({"store", "metadata", "service_tier",
                           "safety_identifier"})
_TRANSLATED = frozenset({"model", "messages", "max_tokens", "max_completion_tokens", "stop", "stream",
                         "stream_options", "temperature", "top_p", "tools", "tool_choice", "parallel_tool_calls",
                         "user", "response_format"})
_NATIVE = frozenset({"top_k"})  # Anthropic's own sampling field, sent through the SDKs' extra_body
# Cache hints with no counterpart here: a 400 naming them, or dropped under translation: lossy.
_CACHE_HINTS = frozenset({"prompt_cache_key", "prompt_cache_retention"})
# reasoning_effort -> thinking.budget_tokens, as Google's OpenAI-compatible endpoint maps effort to
# its own thinking budgets (ai.google.dev/gemini-api/docs/openai); 1,024 is Anthropic's minimum.
THINKING_BUDGETS = {"low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768, "max": 32768}
MIN_THINKING_BUDGET = 1024


class AnthropicProvider:
    name = "anthropic"
    family = "anthropic"
    supports = frozenset({"chat"})
    native_operations = anthropic_native.NATIVE_OPERATIONS

    def __init__(self, clock: Callable[[], float] = time.time):
        self._clock = clock  # the `created` of replies; fixed in tests

    def build_request(self, req: ApiRequest, target: ResolvedDeployment,
                      ask_usage: bool = True) -> UpstreamRequest:
        lossy = target.model_route is not None and target.model_route.translation == "lossy"
        body = to_messages_request(req.body, target.spec.model, target.label, lossy)
        if req.stream:
            body["stream"] = True  # usage always comes in the stream: ask_usage has nothing to add
        headers = {"content-type": "application/json", "accept": "text/event-stream" if req.stream
                   else "application/json", "anthropic-version": ANTHROPIC_VERSION}
        if target.api_key:
            headers["x-api-key"] = target.api_key
        headers.update(target.spec.headers)
        return UpstreamRequest("POST", messages_url(target.base_url), headers, orjson.dumps(body))

    def read_reply(self, req: ApiRequest, body: bytes) -> Reply:
        message = reply_json(body)
        if not isinstance(message, dict) or not isinstance(message.get("content"), list):
            raise MalformedReply(f"a 2xx reply without 'content': {body[:120]!r}")
        chat = to_chat_completion(message, int(self._clock()))
        return Reply(orjson.dumps(chat), read_usage(message.get("usage")), message.get("model"))

    def stream_decoder(self) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(int(self._clock()))

    def read_error(self, status: int, body: bytes) -> ErrorBody:
        f = read_error_fields(body)
        message = f.message or f"HTTP {status} with {'an empty body' if f.is_empty else 'no error message'}"
        return ErrorBody(message, f.type or None, f.detail_code or f.type or None, None, body)

    # -- pass-through (providers/anthropic_native.py) ----------------------------------------------
    def build_native(self, req: ApiRequest, target: ResolvedDeployment, ask_usage: bool = True) -> UpstreamRequest:
        return anthropic_native.build_native(req, target)

    def read_native_reply(self, req: ApiRequest, body: bytes) -> Reply:
        return anthropic_native.read_native_reply(req, body)

    def native_stream_decoder(self, req: ApiRequest) -> anthropic_native.AnthropicNativeDecoder:
        return anthropic_native.AnthropicNativeDecoder()


# -- request ---------------------------------------------------------------------------------------

def messages_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    return base + ("/messages" if base.endswith("/v1") else "/v1/messages")


def refuse(param: str, deployment: str, detail: str) -> SeawallError:
    return error("unsupported_parameter", param=param, deployment=deployment, detail=detail)


def invalid(param: str, expected: str, got: object) -> SeawallError:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
             dict: "an object", type(None): "null"}
    return error("invalid_field", param=param, expected=expected, got=kinds.get(type(got), type(got).__name__))


def to_messages_request(chat: dict, model: str, deployment: str, lossy: bool = False) -> dict:
    """An OpenAI chat body -> a Messages body, or a SeawallError naming the first field that
    Messages can't carry."""
    for field, value in chat.items():
        if field in _NEUTRAL:
            neutral, reason = _NEUTRAL[field]
            if value not in neutral:
                raise refuse(field, deployment, reason)
        elif field in _CACHE_HINTS:
            if not lossy:
                raise refuse(field, deployment, "Anthropic caches by cache_control blocks, not by key; the model's "
                                                "gateway config may set translation: lossy to drop such hints")
        elif field not in _TRANSLATED and field not in _ACCOUNT_ONLY and field not in _NATIVE \
                and field != "reasoning_effort":
            raise refuse(field, deployment, "it is not a chat completions parameter Seawall can translate")
    output_format = _output_format(chat.get("response_format"), deployment)
    system, messages = _messages(chat.get("messages"), deployment)
    body: dict = {"model": model, "messages": messages, "max_tokens": _max_tokens(chat)}
    if system:
        body["system"] = system
    stop = chat.get("stop")
    if stop is not None:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else stop
    temperature = chat.get("temperature")
    if temperature is not None:
        if isinstance(temperature, (int, float)) and temperature > 1:
            raise refuse("temperature", deployment, f"Anthropic accepts 0 to 1, got {temperature}")
        body["temperature"] = temperature
    for same in ("top_p", "top_k"):
        if chat.get(same) is not None:
            body[same] = chat[same]
    if chat.get("tools"):
        body["tools"] = [_tool(t, i, deployment) for i, t in enumerate(chat["tools"])]
        choice = _tool_choice(chat.get("tool_choice"), chat.get("parallel_tool_calls"), deployment)
        if choice is not None:
            body["tool_choice"] = choice
    if isinstance(chat.get("user"), str):
        body["metadata"] = {"user_id": chat["user"]}
    if output_format is not None:
        body["output_config"] = {"format": output_format}
    thinking = _thinking(chat.get("reasoning_effort"), body["max_tokens"], deployment)
    if thinking is not None:
        if body.get("temperature") not in (None, 1):
            raise refuse("temperature", deployment, "Anthropic thinks (reasoning_effort) only at temperature 1")
        body["thinking"] = thinking
    return body


def _thinking(effort: object, max_tokens: int, deployment: str) -> dict | None:
    """reasoning_effort -> a thinking budget that fits under max_tokens; none for "minimal" / "none"."""
    if effort is None or effort in ("none", "minimal"):
        return None
    if effort not in THINKING_BUDGETS:
        raise refuse("reasoning_effort", deployment, f"{effort!r} is not an effort Seawall maps to a thinking budget")
    budget = min(THINKING_BUDGETS[effort], max_tokens - 1)
    if budget < MIN_THINKING_BUDGET:
        raise refuse("reasoning_effort", deployment, f"thinking needs max_completion_tokens above {MIN_THINKING_BUDGET} "
                                                     f"at Anthropic (got {max_tokens})")
    return {"type": "enabled", "budget_tokens": budget}


def _max_tokens(chat: dict) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = chat.get(name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int):
                raise invalid(name, "an integer", value)
            return value
    return DEFAULT_MAX_TOKENS


def _messages(messages: object, deployment: str) -> tuple[str, list[dict]]:
    if not isinstance(messages, list):
        raise invalid("messages", "an array", messages)
    system: list[str] = []
    out: list[dict] = []
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise invalid(where, "an object", m)
        role = m.get("role")
        if role in ("system", "developer"):
            # Messages has one system prompt, outside the turns: every system message goes there, in order.
            system.append(_plain_text(m.get("content"), where, deployment))
            continue
        if role == "user":
            turn = ("user", _content(m.get("content"), where, deployment))
        elif role == "assistant":
            turn = ("assistant", _assistant(m, where, deployment))
        elif role == "tool":
            turn = ("user", [{"type": "tool_result", "tool_use_id": m.get("tool_call_id"),
                              "content": _tool_result(m.get("content"), where, deployment)}])
        else:
            raise refuse(f"{where}.role", deployment, f"role {role!r} has no Messages counterpart")
        _append(out, *turn)
    return "\n\n".join(system), out


def _append(out: list[dict], role: str, blocks: list[dict]) -> None:
    """Consecutive turns of one role become one (tool results then sit in a single user turn,
    as Messages requires after a turn with several tool_use blocks)."""
    if out and out[-1]["role"] == role:
        out[-1]["content"].extend(blocks)
    else:
        out.append({"role": role, "content": blocks})


def _content(content: object, where: str, deployment: str) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise invalid(f"{where}.content", "a string or an array of content parts", content)
    return [_part(p, f"{where}.content[{j}]", deployment) for j, p in enumerate(content)]


def _part(part: object, where: str, deployment: str) -> dict:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "text":
        return {"type": "text", "text": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise invalid(f"{where}.image_url.url", "a string", url)
        if url.startswith("data:"):
            head, _, data = url.partition(",")
            media_type, _, encoding = head[5:].partition(";")
            if encoding != "base64" or not data:
                raise refuse(f"{where}.image_url.url", deployment, "a data: URL must be base64-encoded")
            return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
        return {"type": "image", "source": {"type": "url", "url": url}}
    if kind == "refusal":
        return {"type": "text", "text": part.get("refusal", "")}
    if kind == "file":
        return _document(part.get("file"), where, deployment)
    raise refuse(f"{where}.type", deployment, f"content part {kind!r} has no Messages counterpart")


def _document(file: object, where: str, deployment: str) -> dict:
    """A chat file part with its data (a base64 data: URL) -> a document block; a file id lives
    at OpenAI only."""
    data = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data, str) or not data.startswith("data:") or ";base64," not in data:
        raise refuse(f"{where}.file", deployment, "only a file sent as base64 file_data has a Messages counterpart")
    head, _, payload = data.partition(",")
    document = {"type": "document", "source": {"type": "base64", "media_type": head[5:].partition(";")[0],
                                               "data": payload}}
    if isinstance(file.get("filename"), str):
        document["title"] = file["filename"]
    return document


def _plain_text(content: object, where: str, deployment: str) -> str:
    blocks = _content(content, where, deployment)
    if any(b["type"] != "text" for b in blocks):
        raise refuse(f"{where}.content", deployment, "a system prompt can only hold text")
    return "\n".join(b["text"] for b in blocks)


def _assistant(m: dict, where: str, deployment: str) -> list[dict]:
    content = m.get("content")
    blocks = [] if content is None or content == "" else _content(content, where, deployment)
    for k, call in enumerate(m.get("tool_calls") or ()):
        here = f"{where}.tool_calls[{k}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or call.get("type", "function") != "function":
            raise refuse(f"{here}.type", deployment, "only function tool calls have a Messages counterpart")
        try:
            arguments = orjson.loads(fn.get("arguments") or "{}")
        except (orjson.JSONDecodeError, TypeError):
            raise invalid(f"{here}.function.arguments", "a JSON object in a string", fn.get("arguments")) from None
        blocks.append({"type": "tool_use", "id": call.get("id"), "name": fn.get("name"), "input": arguments})
    return blocks


def _tool_result(content: object, where: str, deployment: str) -> str | list[dict]:
    return content if isinstance(content, str) else _content(content, where, deployment)


def _tool(tool: object, i: int, deployment: str) -> dict:
    fn = tool.get("function") if isinstance(tool, dict) else None
    if not isinstance(fn, dict) or tool.get("type") != "function":
        raise refuse(f"tools[{i}].type", deployment, "only function tools have a Messages counterpart")
    out = {"name": fn.get("name"), "input_schema": fn.get("parameters") or {"type": "object", "properties": {}}}
    if fn.get("description"):
        out["description"] = fn["description"]
    if fn.get("strict"):
        out["strict"] = True  # Messages validates the tool's input against its schema too (structured outputs)
    return out


def _output_format(fmt: object, deployment: str) -> dict | None:
    """response_format -> Messages' output_config.format: a JSON schema has its counterpart; JSON
    mode without a schema has none (Anthropic constrains output only to a schema)."""
    if fmt is None or (isinstance(fmt, dict) and fmt.get("type") == "text"):
        return None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise invalid("response_format.json_schema.schema", "an object", None if not isinstance(spec, dict)
                          else spec.get("schema"))
        return {"type": "json_schema", "schema": spec["schema"]}
    raise refuse("response_format", deployment, "Anthropic constrains output only to a JSON schema: send "
                                                "response_format type json_schema, or ask for JSON in the prompt")


def _tool_choice(choice: object, parallel: object, deployment: str) -> dict | None:
    if choice is None and parallel is not False:
        return None
    if isinstance(choice, dict) and choice.get("type") == "function":
        out = {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    elif choice in (None, "auto", "none", "required"):
        out = {"type": {"none": "none", "required": "any"}.get(choice, "auto")}
    else:
        raise refuse("tool_choice", deployment, "only auto, none, required or a function have a Messages counterpart")
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out
