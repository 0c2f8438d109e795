"""Chat completions: validate a request the way OpenAI does, plan the reply, render it.

Everything here is pure: ``plan_chat`` turns the parsed JSON body into a ``ChatPlan`` (or the
``ApiError`` OpenAI would send), and ``render_reply`` / ``render_events`` turn a plan into
the exact bytes of a ``chat.completion`` body or of the ``text/event-stream`` events.

A function tool is called (as the Responses face calls one, responses.py) when ``tool_choice``
is ``required`` or names it, or (``auto``) when the last user message names the tool; after a
tool's result the model answers in text. Its arguments fill the tool's schema.
"""

from __future__ import annotations

import functools
import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson

from seawall.simulator.catalog import Catalog
from seawall.simulator.config import ModelSpec
from seawall.simulator.dialects import openai as oai
from seawall.simulator.text import (
    REPLY_PRIMER_TOKENS,
    TOKENS_PER_MESSAGE,
    compose,
    count_tokens,
    reasoning_tokens,
    seed_of,
)

# Request fields the Chat Completions API accepts (2025); anything else is "Unrecognized
# request argument supplied", as OpenAI answers, so a gateway that leaks its own fields upstream
# is caught by its tests.
KNOWN_FIELDS = frozenset({
    "model", "messages", "audio", "frequency_penalty", "function_call", "functions", "logit_bias",
    "logprobs", "max_completion_tokens", "max_tokens", "metadata", "modalities", "n",
    "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key",
    "prompt_cache_retention", "reasoning_effort", "response_format", "safety_identifier", "seed",
    "service_tier", "stop", "store", "stream", "stream_options", "temperature", "tool_choice",
    "tools", "top_logprobs", "top_p", "user", "verbosity", "web_search_options",
})
CHAT_KINDS = ("chat", "reasoning")  # the model kinds chat completions and Responses serve
ROLES = ("system", "assistant", "user", "function", "tool", "developer")
MAX_N = 128


@dataclass(frozen=True, slots=True)
class ChatPlan:
    model: ModelSpec
    stream: bool
    include_usage: bool
    include_obfuscation: bool
    choices: tuple[tuple[tuple[str, ...], str], ...]  # (pieces, finish_reason) per choice
    prompt_tokens: int
    reasoning_tokens: int
    completion_tokens: int  # visible pieces of every choice plus reasoning
    cached_tokens: int = 0  # of prompt_tokens, served by the automatic prompt cache (cached_prefix)
    call: tuple[str, str, str] | None = None  # (id, name, arguments) of the function the model calls

    @property
    def cost(self) -> int:
        """Tokens charged against the TPM limit: prompt plus completion, both known up front."""
        return self.prompt_tokens + self.completion_tokens


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict)
                        and isinstance(part.get("text"), str))
    return ""


def _check_messages(messages: Any) -> oai.ApiError | list[str]:
    if not isinstance(messages, list):
        return oai.invalid_type("messages", "an array", messages)
    if not messages:
        return oai.ApiError(
            400, "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
            "empty array instead.", param="messages", code="empty_array",
        )
    texts = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            return oai.invalid_type(where, "an object", message)
        role = message.get("role")
        if role is None:
            return oai.missing_parameter(f"{where}.role")
        if role not in ROLES:
            return oai.invalid_value(f"{where}.role", role, ROLES)
        if role in ("system", "developer", "user", "tool") and "content" not in message:
            return oai.missing_parameter(f"{where}.content")
        name = message.get("name")
        texts.append(_message_text(message) + (" " + name if isinstance(name, str) else ""))
    return texts


def check_int(body: dict[str, Any], name: str, low: int, high: int | None) -> oai.ApiError | int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return oai.invalid_type(name, "an integer", value)
    if value < low or (high is not None and value > high):
        return oai.integer_out_of_range(name, value, low, high)
    return value


def plan_chat(body: Any, catalog: Catalog, reply_tokens: int | None = None) -> ChatPlan | oai.ApiError:
    """Validate ``body`` (the parsed JSON) and decide the reply. ``reply_tokens`` forces the
    visible completion length (the ``tokens=`` fault option), still bounded by max tokens."""
    model_name = oai.check_request(body, KNOWN_FIELDS, "messages")
    if isinstance(model_name, oai.ApiError):
        return model_name
    texts = _check_messages(body["messages"])
    if isinstance(texts, oai.ApiError):
        return texts
    stream = body.get("stream", False)
    if stream is not None and not isinstance(stream, bool):
        return oai.invalid_type("stream", "a boolean", stream)
    options = body.get("stream_options")
    if options is not None:
        if not stream:
            return oai.stream_options_without_stream()
        if not isinstance(options, dict):
            return oai.invalid_type("stream_options", "an object", options)
    spec = catalog.find(model_name)
    if spec is None:
        return oai.model_not_found(model_name)
    if spec.kind not in CHAT_KINDS:
        return oai.not_a_chat_model()
    if spec.kind == "reasoning" and body.get("max_tokens") is not None:
        return oai.unsupported_parameter("max_tokens", "max_completion_tokens")
    n, max_completion, max_tokens = (
        check_int(body, "n", 1, MAX_N), check_int(body, "max_completion_tokens", 1, None),
        check_int(body, "max_tokens", 1, None),
    )
    for value in (n, max_completion, max_tokens):
        if isinstance(value, oai.ApiError):
            return value
    limit_name = "max_completion_tokens" if max_completion is not None else "max_tokens"
    limit = max_completion if max_completion is not None else max_tokens
    if limit is not None and limit > spec.max_output:
        return oai.too_many_tokens(limit_name, limit, spec.max_output)

    prompt_tokens = sum(count_tokens(text) + TOKENS_PER_MESSAGE for text in texts) + REPLY_PRIMER_TOKENS
    if prompt_tokens + (limit or 0) > spec.context_window:
        return oai.context_length(spec.context_window, prompt_tokens, limit)

    seed = seed_of("\n".join(texts)) ^ (body["seed"] if isinstance(body.get("seed"), int) else 0)
    hidden = reasoning_tokens(seed) if spec.kind == "reasoning" else 0
    # Without max tokens the model's own output cap still applies (it matters for tokens=N).
    budget = limit if limit is not None else spec.max_output
    hidden = min(hidden, budget)  # reasoning comes first and can eat the whole budget
    visible_limit = budget - hidden
    # A forced length is composed only one past the budget: enough to know it was cut.
    length = None if reply_tokens is None else min(reply_tokens, visible_limit + 1)
    choices = []
    for index in range(n or 1):
        pieces = compose(seed + index, length)
        finish = "stop"
        if len(pieces) > visible_limit:
            pieces, finish = pieces[:visible_limit], "length"
        choices.append((pieces, finish))
    options = options or {}
    reasoning = hidden * len(choices)
    call = _call(body, texts, seed)
    if call is not None:
        choices = [((), "tool_calls")]
    return ChatPlan(
        model=spec,
        stream=bool(stream),
        include_usage=options.get("include_usage") is True,
        include_obfuscation=options.get("include_obfuscation") is not False,
        choices=tuple(choices),
        prompt_tokens=prompt_tokens,
        reasoning_tokens=reasoning,
        completion_tokens=sum(len(p) for p, _ in choices) + reasoning + (CALL_TOKENS if call else 0),
        call=call,
    )


def value_for(schema: Any) -> Any:
    """A value of the schema's shape: what a well-behaved model fills a tool call or a JSON
    answer with."""
    if not isinstance(schema, dict):
        return "gateways"
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: value_for(sub) for name, sub in props.items()}
    return {"integer": 42, "number": 4.2, "boolean": True, "array": [], "null": None}.get(kind, "gateways")


JSON_PIECE = 8  # characters per streamed delta of a JSON answer


def json_pieces(value: Any) -> tuple[str, ...]:
    """A JSON answer as the deltas a stream carries it in."""
    text = orjson.dumps(value).decode()
    return tuple(text[i:i + JSON_PIECE] for i in range(0, len(text), JSON_PIECE))


CALL_TOKENS = 12  # a tool call's name and arguments, as counted


def _call(body: dict[str, Any], texts: list[str], seed: int) -> tuple[str, str, str] | None:
    """The function the model calls, or None: it answers in text."""
    tools = [t.get("function") for t in body.get("tools") or ()
             if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("function"), dict)]
    choice = body.get("tool_choice") or "auto"
    last = body["messages"][-1]
    if not tools or choice == "none" or (isinstance(last, dict) and last.get("role") == "tool"):
        return None
    if isinstance(choice, dict):
        chosen = next((t for t in tools if t.get("name") == (choice.get("function") or {}).get("name")), None)
    else:
        named = [t for t in tools if isinstance(t.get("name"), str) and t["name"] in texts[-1]]
        chosen = (named or tools)[0] if choice == "required" else (named[0] if named else None)
    if chosen is None:
        return None
    call_id = "call_" + hashlib.blake2b(b"%d" % seed, digest_size=12).hexdigest()[:24]
    return call_id, str(chosen.get("name")), orjson.dumps(value_for(chosen.get("parameters") or {})).decode()


def fingerprint(spec: ModelSpec) -> str:
    """A stable per-model ``system_fingerprint`` (``fp_`` + 10 hex, like OpenAI's)."""
    return _fingerprint(spec.reported)


@functools.lru_cache(maxsize=256)
def _fingerprint(name: str) -> str:
    return "fp_" + hashlib.blake2b(name.encode(), digest_size=5).hexdigest()


# OpenAI caches prompts automatically (platform.openai.com/docs/guides/prompt-caching): a prefix
# of 1,024 tokens or more seen recently is served from cache, counted in 128-token steps, for
# 5-10 minutes. The simulator takes every message but the last as the prefix.
MIN_CACHED, CACHE_STEP, CACHE_TTL_S = 1024, 128, 300.0


def cached_prefix(cache: dict[str, float], body: dict, model: str) -> int:
    """The prompt tokens the automatic cache serves for this request; remembers its prefix."""
    prefix = body["messages"][:-1]
    tokens = sum(count_tokens(_message_text(m)) + TOKENS_PER_MESSAGE for m in prefix if isinstance(m, dict))
    if tokens < MIN_CACHED:
        return 0
    key = "oai:" + hashlib.blake2b(model.encode() + orjson.dumps(prefix), digest_size=16).hexdigest()
    now = time.monotonic()
    hit = cache.get(key, 0.0) > now
    cache[key] = now + CACHE_TTL_S
    return tokens - tokens % CACHE_STEP if hit else 0


def usage(plan: ChatPlan) -> dict[str, Any]:
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": plan.completion_tokens,
        "total_tokens": plan.prompt_tokens + plan.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": plan.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": plan.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def render_reply(plan: ChatPlan, completion_id: str, created: int) -> bytes:
    return orjson.dumps({
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": plan.model.reported,
        "choices": [
            {
                "index": index,
                "message": _message(plan, pieces),
                "logprobs": None,
                "finish_reason": finish,
            }
            for index, (pieces, finish) in enumerate(plan.choices)
        ],
        "usage": usage(plan),
        "service_tier": "default",
        "system_fingerprint": fingerprint(plan.model),
    })


def _message(plan: ChatPlan, pieces: tuple[str, ...]) -> dict[str, Any]:
    if plan.call is None:
        return {"role": "assistant", "content": "".join(pieces), "refusal": None, "annotations": []}
    call_id, name, arguments = plan.call
    return {"role": "assistant", "content": None, "refusal": None, "annotations": [], "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}]}


def render_events(plan: ChatPlan, completion_id: str, created: int, padding: tuple[bytes, ...]) -> list[bytes]:
    """Every SSE event of the stream, ``data: [DONE]`` last. Chunk order follows OpenAI: a role
    chunk, one chunk per token (choices interleaved when ``n`` > 1), a finish chunk per choice,
    the usage chunk when asked for. ``padding`` feeds the ``obfuscation`` field in turn."""
    head = (
        b'data: {"id":"' + completion_id.encode() + b'","object":"chat.completion.chunk","created":'
        + str(created).encode() + b',"model":' + orjson.dumps(plan.model.reported)
        + b',"service_tier":"default","system_fingerprint":"' + fingerprint(plan.model).encode() + b'","choices":['
    )
    usage_null = b',"usage":null' if plan.include_usage else b""
    events: list[bytes] = []

    def add(choice: bytes) -> None:
        tail = b"]" + usage_null
        if plan.include_obfuscation:
            tail += b',"obfuscation":"' + padding[len(events) % len(padding)] + b'"'
        events.append(head + choice + tail + b"}\n\n")

    for index in range(len(plan.choices)):
        add(b'{"index":%d,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,'
            b'"finish_reason":null}' % index)
    if plan.call is not None:  # the call's head, then its arguments in two pieces
        call_id, name, arguments = plan.call
        half = len(arguments) // 2
        add(b'{"index":0,"delta":{"tool_calls":[{"index":0,"id":"%s","type":"function","function":{"name":%s,'
            b'"arguments":""}}]},"logprobs":null,"finish_reason":null}' % (call_id.encode(), orjson.dumps(name)))
        for piece in (arguments[:half], arguments[half:]):
            add(b'{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":%s}}]},"logprobs":null,'
                b'"finish_reason":null}' % orjson.dumps(piece))
    longest = max(len(pieces) for pieces, _ in plan.choices)
    for position in range(longest):
        for index, (pieces, _) in enumerate(plan.choices):
            if position < len(pieces):
                add(b'{"index":%d,"delta":{"content":%s},"logprobs":null,"finish_reason":null}'
                    % (index, orjson.dumps(pieces[position])))
    for index, (_, finish) in enumerate(plan.choices):
        add(b'{"index":%d,"delta":{},"logprobs":null,"finish_reason":"%s"}' % (index, finish.encode()))
    if plan.include_usage:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                "model": plan.model.reported, "service_tier": "default",
                "system_fingerprint": fingerprint(plan.model), "choices": [], "usage": usage(plan)}
        if plan.include_obfuscation:
            body["obfuscation"] = padding[len(events) % len(padding)].decode()
        events.append(b"data: " + orjson.dumps(body) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events
