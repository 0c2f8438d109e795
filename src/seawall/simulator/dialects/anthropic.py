"""Anthropic's Messages API on the simulator: ``POST /v1/messages`` and ``/v1/messages/count_tokens``
(reference/provider-errors.md §3), with extended thinking and prompt caching (anthropic_features.py).

Bodies and headers as api.anthropic.com sends them: errors in ``{"type": "error", "error":
{type, message}, "request_id"}``; ``request-id`` and RFC 3339 ``anthropic-ratelimit-*`` headers
from the simulator's own buckets; streams as ``event:`` + ``data:`` pairs with ``ping`` events,
ending with ``message_stop``; in-stream ``event: error`` at HTTP 200. The key comes in
``x-api-key`` (or ``Authorization: Bearer``, as the 2.x SDK sends it) and ``anthropic-version`` is
required. The request path follows app.py's order (fault, latency, edge faults, key, injected
status, validation, rate limit, reply), with Anthropic's wording at every step. The fault machinery is the shared one: on this
route ``status=`` / ``error=`` pick from this module's table whatever ``dialect=`` says
(``status=529`` is ``overloaded_error``), and ``stream_error=overloaded_error`` sends Anthropic's
error event.
Wording marked [rec] is recorded in the reference; the rest is [unverified] but shaped alike.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import string
import time
from collections.abc import Callable

import orjson

from seawall.simulator import wire
from seawall.simulator.chat import json_pieces, value_for
from seawall.simulator.config import ModelSpec
from seawall.simulator.dialects.anthropic_errors import (
    VARIANTS,
    error_reply,
    fault_error,
    invalid,
    rate_limited,
)
from seawall.simulator.dialects.anthropic_features import (
    check_signatures,
    plan_thinking,
    use_cache,
)
from seawall.simulator.dialects.anthropic_render import (
    MessagesPlan,
    render_events,
    render_message,
    with_stream_error,
)
from seawall.simulator.dialects.base import (
    ErrorContext,
    ErrorReply,
    Headers,
    UnknownVariant,
)
from seawall.simulator.exchange import Exchange, take_fault
from seawall.simulator.faults import NO_FAULT
from seawall.simulator.headers import new_cf_ray, retry_headers
from seawall.simulator.text import compose, count_tokens, seed_of

PATH = "/v1/messages"
COUNT_PATH = "/v1/messages/count_tokens"
PATHS = (PATH, COUNT_PATH)
_ALNUM = string.ascii_letters + string.digits
_ids = random.Random()

# Claude models served on this route besides the configured ones; aliases answer with the dated
# id, as Anthropic's do (the models released from 2026 on have no dated id). Limits from
# provider-errors.md §8, and for the 2026 models Claude Code 2.1.332's bundled catalog.
_CURRENT = (("claude-sonnet-4-6", 200_000), ("claude-sonnet-5", 1_000_000), ("claude-sonnet-5-5", 1_000_000),
            ("claude-opus-4-6", 200_000), ("claude-opus-4-7", 1_000_000), ("claude-opus-4-8", 1_000_000),
            ("claude-opus-5", 1_000_000), ("claude-opus-5-5", 1_000_000), ("claude-haiku-5-5", 1_000_000))
CLAUDE_MODELS = {spec.id: spec for spec in (
    *(ModelSpec(id=name, context_window=window, max_output=128_000, owned_by="anthropic") for name, window in _CURRENT),
    ModelSpec(id="claude-sonnet-4-5", reports_as="claude-sonnet-4-5-20250929", context_window=200_000,
              max_output=64_000, owned_by="anthropic"),
    ModelSpec(id="claude-haiku-4-5", reports_as="claude-haiku-4-5-20251001", context_window=200_000,
              max_output=64_000, owned_by="anthropic"),
    ModelSpec(id="claude-opus-4-1", reports_as="claude-opus-4-1-20250805", context_window=200_000,
              max_output=32_000, owned_by="anthropic"),
    ModelSpec(id="claude-3-5-haiku-latest", reports_as="claude-3-5-haiku-20241022", context_window=200_000,
              max_output=8_192, owned_by="anthropic"),
)}
CLAUDE_MODELS.update({spec.reported: spec for spec in list(CLAUDE_MODELS.values())})

# Fields the Messages API takes; anything else is "Extra inputs are not permitted", as Anthropic
# answers, so a gateway leaking OpenAI fields (stream_options, n, …) is caught by its tests.
KNOWN_FIELDS = frozenset({"model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature",
                          "top_p", "top_k", "tools", "tool_choice", "metadata", "thinking", "service_tier",
                          "container", "mcp_servers", "context_management", "output_config"})
BLOCK_TYPES = ("text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking")


def new_request_id() -> str:
    """Anthropic's ids look like ``req_011CYK5n67SytMUxm8WMZUWY`` [rec]."""
    return "req_011C" + "".join(_ids.choices(_ALNUM, k=20))


# --- errors ------------------------------------------------------------------------------------

def _texts(content: object) -> list[str]:
    if isinstance(content, str):
        return [content]
    out = []
    for block in content if isinstance(content, list) else ():
        if isinstance(block, dict):
            for key in ("text", "content"):
                if isinstance(block.get(key), str):
                    out.append(block[key])
            if block.get("type") == "tool_use":
                out.append(json.dumps(block.get("input")))
    return out


def _check_messages(messages: object, ctx: ErrorContext) -> ErrorReply | list[str]:
    if not isinstance(messages, list):
        return invalid("messages: Input should be a valid list", ctx)
    if not messages:
        return invalid("messages: at least one message is required", ctx)
    texts: list[str] = []
    tool_uses: set[str] = set()
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            return invalid(f"messages.{i}: Input should be a valid dictionary", ctx)
        # "system" turns between the others: the 2026 API's per-turn instructions (Claude Code
        # 2.1.x sends them with anthropic-beta per-turn-control-2026-07-01) [unverified wording]
        if m.get("role") not in ("user", "assistant", "system"):
            return invalid(f"messages.{i}.role: Input should be 'user', 'assistant' or 'system'", ctx)
        content = m.get("content")
        if content is None:
            return invalid(f"messages.{i}.content: Field required", ctx)
        blocks = content if isinstance(content, list) else []
        answered = set()
        for j, b in enumerate(blocks):
            kind = b.get("type") if isinstance(b, dict) else None
            if kind not in BLOCK_TYPES:
                expected = ", ".join(f"'{t}'" for t in BLOCK_TYPES)
                return invalid(f"messages.{i}.content.{j}: Input tag '{kind}' found using 'type' does not match "
                               f"any of the expected tags: {expected}", ctx)
            if kind == "tool_result":
                answered.add(b.get("tool_use_id"))
        if answered - tool_uses:  # [rec wording, from SDK issue reports]
            missing = ", ".join(sorted(str(x) for x in answered - tool_uses))
            return invalid(f"messages.{i}.content.0: unexpected `tool_use_id` found in `tool_result` blocks: "
                           f"{missing}. Each `tool_result` block must have a corresponding `tool_use` block in "
                           "the previous message.", ctx)
        tool_uses = {b.get("id") for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"}
        texts.extend(_texts(content))
    return texts


def _forced_tool(body: dict) -> dict | None:
    """The tool_use block to answer with when tool_choice is ``any`` or names a tool: its
    string properties filled with a word, so the input matches the schema's shape."""
    choice, tools = body.get("tool_choice"), body.get("tools")
    if not isinstance(choice, dict) or choice.get("type") not in ("any", "tool") or not tools:
        return None
    tool = next((t for t in tools if t.get("name") == choice.get("name")), tools[0])
    props = (tool.get("input_schema") or {}).get("properties") or {}
    tool_input = {k: "gateways" for k, v in props.items() if isinstance(v, dict) and v.get("type") == "string"}
    return {"type": "tool_use", "id": "toolu_01" + "".join(_ids.choices(_ALNUM, k=22)), "name": tool.get("name"),
            "input": tool_input}


def _output_format(body: dict, ctx: ErrorContext) -> dict | ErrorReply | None:
    """output_config.format (structured outputs): the JSON schema the answer must match."""
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    if fmt is None:
        return None
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return invalid("output_config.format.type: Input should be 'json_schema'", ctx)
    if not isinstance(fmt.get("schema"), dict):
        return invalid("output_config.format.schema: Input should be a valid dictionary", ctx)
    return fmt


def _check_tools(tools: object, ctx: ErrorContext) -> ErrorReply | None:
    for i, tool in enumerate(tools if isinstance(tools, list) else ()):
        if isinstance(tool, dict) and "strict" in tool and not isinstance(tool["strict"], bool):
            return invalid(f"tools.{i}.custom.strict: Input should be a valid boolean", ctx)
    return None


def plan_messages(body: object, find: Callable[[str], ModelSpec | None], ctx: ErrorContext,
                  reply_tokens: int | None = None) -> MessagesPlan | ErrorReply:
    """Validate the way Anthropic does (field errors as ``path: problem``) and decide the reply."""
    if not isinstance(body, dict):
        return invalid("There was an issue with the request body: it is not a JSON object.", ctx)
    for field in body:
        if field not in KNOWN_FIELDS:
            return invalid(f"{field}: Extra inputs are not permitted", ctx)
    for required in ("model", "messages", "max_tokens"):
        if required not in body:
            return invalid(f"{required}: Field required", ctx)
    max_tokens = body["max_tokens"]
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        return invalid("max_tokens: Input should be a valid integer greater than or equal to 1", ctx)
    spec = find(str(body["model"]))
    if spec is None:
        return error_reply(404, "not_found_error", f"model: {body['model']}", ctx.request_id)  # [rec]
    if max_tokens > spec.max_output:
        return invalid(f"max_tokens: {max_tokens} > {spec.max_output}, which is the maximum allowed number of output "
                       f"tokens for {spec.reported}", ctx)
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)) and not 0 <= temperature <= 1:
        return invalid("temperature: range: 0..1", ctx)
    texts = _check_messages(body["messages"], ctx)
    if isinstance(texts, ErrorReply):
        return texts
    bad_tool = _check_tools(body.get("tools"), ctx)
    if bad_tool is not None:
        return bad_tool
    fmt = _output_format(body, ctx)
    if isinstance(fmt, ErrorReply):
        return fmt
    texts += _texts(body.get("system"))
    input_tokens = prompt_tokens(body, texts)
    if input_tokens + max_tokens > spec.context_window:
        return invalid(f"prompt is too long: {input_tokens} tokens > {spec.context_window - max_tokens} maximum", ctx)
    unsigned = check_signatures(body["messages"], ctx)
    if unsigned is not None:
        return unsigned
    seed = seed_of("\n".join(texts))
    thinking = plan_thinking(body, max_tokens, seed, ctx)
    if isinstance(thinking, ErrorReply):
        return thinking
    room = max_tokens - (thinking.tokens if thinking else 0)
    tool = _forced_tool(body)
    length = None if reply_tokens is None else min(reply_tokens, room + 1)
    pieces = () if tool else json_pieces(value_for(fmt["schema"])) if fmt else compose(seed, length)
    stop_reason = "tool_use" if tool else "end_turn"
    if len(pieces) > room:
        pieces, stop_reason = pieces[:max(room, 0)], "max_tokens"
    output = len(pieces) + (count_tokens(json.dumps(tool["input"])) + 10 if tool else 0) + \
        (thinking.tokens if thinking else 0)
    return MessagesPlan(spec, body.get("stream") is True, pieces, tool, stop_reason, input_tokens, output, thinking)


def prompt_tokens(body: dict, texts: list[str]) -> int:
    """The prompt's tokens as the simulator counts them: its texts, 4 per message, the tools' JSON."""
    tools = body.get("tools")
    return sum(count_tokens(t) for t in texts) + 4 * len(body["messages"]) + \
        (count_tokens(json.dumps(tools)) if isinstance(tools, list) else 0)


# --- HTTP ----------------------------------------------------------------------------------------

def _rfc3339(epoch: float) -> bytes:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(math.ceil(epoch))).encode()


class AnthropicExchange(Exchange):
    """An exchange on the Anthropic route: Anthropic's key header, request ids and response
    headers; everything else (faults, streams, cuts) is the shared Exchange."""

    __slots__ = ("api_key", "version")

    def __init__(self, state, scope: dict, receive: wire.Receive, send: wire.Send) -> None:
        super().__init__(state, scope, receive, send)
        self.request_id = new_request_id()
        self.host = "api.anthropic.com" if self.host == "api.openai.com" else self.host
        headers = dict(scope["headers"])
        self.version = headers.get(b"anthropic-version")
        # x-api-key is the documented header; the official SDK (2.x) sends the same key as
        # `Authorization: Bearer`, which the API accepts too.
        key = headers.get(b"x-api-key")
        scheme, _, token = (self.authorization or "").partition(" ")
        if key is None and scheme.lower() == "bearer":
            key = token.strip().encode("latin-1")
        self.api_key = key.decode("latin-1") if key else None

    def headers(self, content_type: bytes, length: int | None, extra: Headers = ()) -> list[tuple[bytes, bytes]]:
        state = self.state
        out = [(b"content-type", content_type)]
        if length is not None:
            out.append((b"content-length", b"%d" % length))
        out += [(b"request-id", self.request_id.encode()),
                (b"anthropic-organization-id", state.settings.organization.encode())]
        snap = state.limiter.snapshot(self.model.id if self.model else None, state.limits_for(self.model),
                                      time.monotonic())
        now = time.time()
        # The simulator keeps one token bucket; input and output tokens report it too.
        for name, limit, remaining, reset in (
                (b"requests", snap.limit_requests, snap.remaining_requests, snap.reset_requests),
                (b"tokens", snap.limit_tokens, snap.remaining_tokens, snap.reset_tokens),
                (b"input-tokens", snap.limit_tokens, snap.remaining_tokens, snap.reset_tokens),
                (b"output-tokens", snap.limit_tokens, snap.remaining_tokens, snap.reset_tokens)):
            prefix = b"anthropic-ratelimit-" + name
            out += [(prefix + b"-limit", b"%d" % limit), (prefix + b"-remaining", b"%d" % remaining),
                    (prefix + b"-reset", _rfc3339(now + reset))]
        if self.fault is not NO_FAULT:
            out.extend(retry_headers(self.fault))
        out.extend(extra)
        out += [(b"server", b"cloudflare"), (b"cf-ray", new_cf_ray().encode())]
        return out

    def context(self) -> ErrorContext:
        spec, settings = self.model, self.state.settings
        limits = self.state.limits_for(spec)
        fault = self.fault
        wait = fault.retry_after if fault.retry_after is not None else (
            fault.retry_after_ms / 1000 if fault.retry_after_ms is not None else None)
        return ErrorContext(request_id=self.request_id, organization=settings.organization, project=settings.project,
                            model=spec.reported if spec else "", method=self.method, path=self.path,
                            key=self.api_key or "", rpm=limits.rpm, tpm=limits.tpm,
                            context_window=spec.context_window if spec else 200_000, retry_after=wait, now=time.time())


# What count_tokens takes (docs.anthropic.com "Count Message tokens"); anything else is refused.
COUNT_FIELDS = frozenset({"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers",
                          "context_management", "output_config"})


async def _front(exchange: AnthropicExchange) -> tuple[object, ErrorContext, Callable[[str], ModelSpec | None]] | None:
    """Both routes' first steps: the body, the fault, the key and version headers, an injected
    error. None: answered."""
    state = exchange.state
    raw = await wire.read_body(exchange.receive)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    model_name = body.get("model") if isinstance(body, dict) and isinstance(body.get("model"), str) else None

    def find(name: str) -> ModelSpec | None:
        return state.catalog.find(name) or CLAUDE_MODELS.get(name)

    exchange.model = find(model_name) if model_name else None
    if not await take_fault(exchange, model_name, lambda message: invalid(f"x-sim-fault: {message}",
                                                                          exchange.context())):
        return None
    fault = exchange.fault
    ctx = exchange.context()
    key = exchange.api_key
    if not key:
        return await exchange.reply_error(VARIANTS["missing_api_key"][1](ctx))
    if state.settings.api_keys is not None and key not in state.settings.api_keys:
        return await exchange.reply_error(VARIANTS["authentication_error"][1](ctx))
    if not exchange.version:
        return await exchange.reply_error(invalid("anthropic-version: header is required", ctx))
    if fault.status is not None or fault.error is not None:
        try:
            reply = fault_error(fault.status, fault.error, ctx)
        except UnknownVariant as exc:
            reply = invalid(f"x-sim-fault: {exc}", ctx)
        return await exchange.reply_error(reply)
    if body is None:
        return await exchange.reply_error(invalid("There was an issue with the request body: it is not valid JSON.",
                                                  ctx))
    return body, ctx, find


async def serve_count_tokens(exchange: AnthropicExchange) -> None:
    front = await _front(exchange)
    if front is None:
        return
    body, ctx, find = front
    if not isinstance(body, dict):
        return await exchange.reply_error(invalid("There was an issue with the request body: it is not a JSON "
                                                  "object.", ctx))
    for field in body:
        if field not in COUNT_FIELDS:
            return await exchange.reply_error(invalid(f"{field}: Extra inputs are not permitted", ctx))
    for required in ("model", "messages"):
        if required not in body:
            return await exchange.reply_error(invalid(f"{required}: Field required", ctx))
    spec = find(str(body["model"]))
    if spec is None:
        return await exchange.reply_error(error_reply(404, "not_found_error", f"model: {body['model']}",
                                                      ctx.request_id))
    texts = _check_messages(body["messages"], ctx)
    if isinstance(texts, ErrorReply):
        return await exchange.reply_error(texts)
    await exchange.reply(orjson.dumps({"input_tokens": prompt_tokens(body, texts + _texts(body.get("system")))}))


async def serve_messages(exchange: AnthropicExchange) -> None:
    state = exchange.state
    front = await _front(exchange)
    if front is None:
        return
    body, ctx, find = front
    fault = exchange.fault
    plan = plan_messages(body, find, ctx, fault.tokens)
    if isinstance(plan, ErrorReply):
        return await exchange.reply_error(plan)
    plan = dataclasses.replace(plan, cache=use_cache(state.prompt_cache, body))
    exchange.model = plan.model
    verdict = state.limiter.admit(plan.model.id, plan.input_tokens + plan.output_tokens,
                                  state.limits_for(plan.model), time.monotonic())
    if not verdict.allowed:
        unit = "requests per minute" if verdict.kind == "requests" else "tokens per minute"
        return await exchange.reply_error(rate_limited(ctx, unit, verdict.limit, verdict.wait))
    message_id = "msg_01" + "".join(_ids.choices(_ALNUM, k=22))
    if not plan.stream:
        return await exchange.reply(render_message(plan, message_id))
    events = render_events(plan, message_id)
    if fault.stream_error is not None:
        # The shared exchange would write OpenAI's error event: end the stream here instead.
        events = with_stream_error(events, fault.stream_error, fault.after)
        exchange.fault = dataclasses.replace(fault, stream_error=None)
    interval_ms = fault.interval_ms if fault.interval_ms is not None else state.settings.stream_interval_ms
    await exchange.stream(events, interval_ms / 1000)
    if fault.stream_error is not None and exchange.outcome == "ok":
        exchange.outcome = "fault:stream_error"
