"""Google's Gemini API (generativelanguage): error bodies, requests, replies and streams.

Served at ``POST /v1beta/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``,
``:countTokens``, ``:embedContent`` and ``:batchEmbedContents`` (thinking and cached content:
gemini_features.py), Imagen's ``:predict`` (gemini_images.py), and the same under ``/v1/`` (the path
google-genai 3.x calls by default). Wording and shapes are reference/provider-errors.md
§4 ([rec] recorded, [unverified] plausible). Errors are a
google.rpc.Status, pretty-printed with a 2-space indent as Google's front end writes them::

    {"error": {"code": 429, "message": ..., "status": "RESOURCE_EXHAUSTED", "details": [...]}}

The key comes in ``x-goog-api-key`` or ``?key=``; a bad key is a **400** ``API_KEY_INVALID``.
Faults on this route are rendered in Gemini's dialect whatever their ``dialect=`` says: the
route names the provider (``error=`` takes the VARIANTS below: ``resource_exhausted``,
``quota_per_day``, ``service_disabled``, ``location_unsupported``, ``unavailable``, …;
``retry_after`` becomes RetryInfo's ``retryDelay``; ``stream_error=<variant>`` an in-stream
``{"error": …}`` chunk). Gemini sends no rate-limit headers, so the simulator's OpenAI buckets
are not charged here.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from seawall.simulator import wire
from seawall.simulator.dialects.base import (
    ErrorReply,
    Headers,
)
from seawall.simulator.dialects.front import admit, adopt, context
from seawall.simulator.dialects.gemini_errors import (
    api_key_invalid,
    bearer_key,
    fault_error,
    google_error,
    invalid_argument,
    missing_key,
    model_not_found,
    sim_fault_invalid,
    stream_error_event,
    unknown_name,
)
from seawall.simulator.dialects.gemini_images import plan_predict, render_predictions
from seawall.simulator.dialects.gemini_features import Extras, check_signatures, decorate, plan_extras
from seawall.simulator.embeddings import vector
from seawall.simulator.exchange import Exchange
from seawall.simulator.faults import DEFAULT_AFTER
from seawall.simulator.text import (
    REPLY_PRIMER_TOKENS,
    TOKENS_PER_MESSAGE,
    compose,
    count_tokens,
    seed_of,
)

PREFIXES = ("/v1beta/models/", "/v1/models/")
ROUTE = "/v1beta/models/{model}:generateContent"
# (context window, max output) from Google's model pages (ai.google.dev/gemini-api/docs/models).
MODELS = {"gemini-2.5-flash": (1_048_576, 65_536), "gemini-2.5-pro": (1_048_576, 65_536),
          "gemini-2.5-flash-lite": (1_048_576, 65_536), "gemini-2.0-flash": (1_048_576, 8_192)}
EMBEDDING_MODELS = {"gemini-embedding-001": 3072, "text-embedding-004": 768}  # default dimensions
PIECES_PER_CHUNK = 6  # Gemini streams a few words per event, not one token


_FIELDS = {"contents", "systemInstruction", "tools", "toolConfig", "safetySettings", "generationConfig",
           "cachedContent", "labels"}
_CONFIG_FIELDS = {"stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "candidateCount",
                  "maxOutputTokens", "temperature", "topP", "topK", "seed", "presencePenalty", "frequencyPenalty",
                  "responseLogprobs", "logprobs", "responseModalities", "thinkingConfig", "mediaResolution",
                  "speechConfig", "enableEnhancedCivicAnswers", "imageConfig"}


def _camel(name: str) -> str:
    """The protobuf JSON parser takes field names in lowerCamelCase or as in the proto."""
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


@dataclass(frozen=True, slots=True)
class GeminiPlan:
    model: str
    candidates: tuple[tuple[tuple[str, ...], str], ...]  # (pieces, finishReason)
    call: str | None  # a function the model calls (toolConfig mode ANY) instead of text
    prompt_tokens: int  # the cached content's included
    extras: Extras = Extras()  # thinking and cached content (gemini_features.py)

    @property
    def completion_tokens(self) -> int:
        """The answer's tokens (candidatesTokenCount); thoughts are counted apart."""
        return sum(len(p) for p, _ in self.candidates) + (5 * len(self.candidates) if self.call else 0)


def _texts(content: Any, where: str) -> list[str] | ErrorReply:
    if not isinstance(content, dict):
        return invalid_argument(f"Invalid value at '{where}', must be an object.", where)
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        return invalid_argument(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.\n",
                                f"{where}.parts")
    return [p["text"] if isinstance(p.get("text"), str) else json.dumps(p) for p in parts if isinstance(p, dict)]


def plan_generate(body: Any, model: str, reply_tokens: int | None = None,
                  version: str = "v1beta") -> GeminiPlan | ErrorReply:
    """Validate a GenerateContentRequest the way the API does and decide the reply."""
    if model not in MODELS:
        return model_not_found(model, version)
    if not isinstance(body, dict):
        return invalid_argument("Invalid JSON payload received. Unexpected token.")
    for name in body:
        if _camel(name) not in _FIELDS:
            return unknown_name(name)
    body = {_camel(k): v for k, v in body.items()}
    config = body.get("generationConfig") or {}
    for name in config:
        if _camel(name) not in _CONFIG_FIELDS:
            return unknown_name(name, "generation_config")
    config = {_camel(k): v for k, v in config.items()}
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return invalid_argument("* GenerateContentRequest.contents: contents is not specified\n", "contents")
    texts: list[str] = []
    for i, content in enumerate(contents):
        if isinstance(content, dict) and content.get("role", "user") not in ("user", "model"):
            return invalid_argument("Please use a valid role: user, model.", f"contents[{i}].role")
        found = _texts(content, f"contents[{i}]")
        if isinstance(found, ErrorReply):
            return found
        texts += found
    if "systemInstruction" in body:
        found = _texts(body["systemInstruction"], "system_instruction")
        if isinstance(found, ErrorReply):
            return found
        texts = found + texts
    window, max_output = MODELS[model]
    prompt = sum(count_tokens(t) + TOKENS_PER_MESSAGE for t in texts) + REPLY_PRIMER_TOKENS
    if prompt > window:
        return invalid_argument(f"The input token count ({prompt}) exceeds the maximum number of tokens allowed "
                                f"({window}).")
    unsigned = check_signatures(contents)
    if unsigned is not None:
        return unsigned
    extras = plan_extras(body, config, model, seed_of("\n".join(texts)))
    if isinstance(extras, ErrorReply):
        return extras
    prompt += extras.cached
    count = config.get("candidateCount") or 1
    if not isinstance(count, int) or not 1 <= count <= 8:
        return invalid_argument("Only values between 1 and 8 are supported for candidateCount.",
                                "generation_config.candidate_count")
    limit = min(config.get("maxOutputTokens") or max_output, max_output)
    seed = seed_of("\n".join(texts)) ^ (config["seed"] if isinstance(config.get("seed"), int) else 0)
    length = None if reply_tokens is None else min(reply_tokens, limit + 1)
    candidates = []
    for index in range(count):
        pieces = compose(seed + index, length)
        candidates.append((pieces[:limit], "MAX_TOKENS") if len(pieces) > limit else (pieces, "STOP"))
    return GeminiPlan(model, tuple(candidates), _forced_call(body), prompt, extras)


def plan_count(body: Any, model: str, version: str = "v1beta") -> int | ErrorReply:
    """countTokens: `contents`, or a whole `generateContentRequest`, counted as generateContent
    would count its prompt."""
    if not isinstance(body, dict):
        return invalid_argument("Invalid JSON payload received. Unexpected token.")
    inner = body.get("generateContentRequest", body.get("generate_content_request"))
    if isinstance(inner, dict):
        request = {k: v for k, v in inner.items() if k != "model"}
    else:
        for name in body:
            if _camel(name) != "contents":
                return unknown_name(name)
        request = body
    plan = plan_generate(request, model, 1, version)
    return plan if isinstance(plan, ErrorReply) else plan.prompt_tokens


def plan_embed(body: Any, model: str, method: str, version: str = "v1beta") -> list[tuple[str, int]] | ErrorReply:
    """(text, dimensions) per embedding asked, by ``embedContent`` or ``batchEmbedContents``."""
    if model not in EMBEDDING_MODELS:
        return model_not_found(model, version, method)
    if not isinstance(body, dict):
        return invalid_argument("Invalid JSON payload received. Unexpected token.")
    requests = [body] if method == "embedContent" else body.get("requests")
    if not isinstance(requests, list) or not requests:
        return invalid_argument("* BatchEmbedContentsRequest.requests: requests is not specified\n", "requests")
    out = []
    for i, request in enumerate(requests):
        where = "content" if method == "embedContent" else f"requests[{i}].content"
        texts = _texts(request.get("content") if isinstance(request, dict) else None, where)
        if isinstance(texts, ErrorReply):
            return texts
        out.append(("\n".join(texts), request.get("outputDimensionality") or EMBEDDING_MODELS[model]))
    return out


def render_embeddings(items: list[tuple[str, int]], method: str) -> bytes:
    embeddings = [{"values": vector(text.encode(), dimensions)} for text, dimensions in items]
    body = {"embedding": embeddings[0]} if method == "embedContent" else {"embeddings": embeddings}
    return (json.dumps(body, indent=2) + "\n").encode()


def _forced_call(body: dict) -> str | None:
    """With function calling mode ANY the model must call a function: the first one allowed."""
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if calling.get("mode") != "ANY":
        return None
    allowed = calling.get("allowedFunctionNames") or []
    declared = [d.get("name") for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
    return (allowed or declared or [None])[0]


def _usage(plan: GeminiPlan, completion: int | None) -> dict:
    extras = plan.extras
    thoughts = extras.thoughts if completion is not None else 0
    usage = {"promptTokenCount": plan.prompt_tokens,
             "totalTokenCount": plan.prompt_tokens + (completion or 0) + thoughts,
             "promptTokensDetails": [{"modality": "TEXT", "tokenCount": plan.prompt_tokens}]}
    if completion is not None:
        usage["candidatesTokenCount"] = completion
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if extras.cached:
        usage["cachedContentTokenCount"] = extras.cached
    return usage


def _candidate(index: int, text: str, finish: str | None, call: str | None = None) -> dict:
    parts = [{"functionCall": {"name": call, "args": {}}}] if call else [{"text": text}]
    cand: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish:
        cand["finishReason"] = finish
    cand["index"] = index
    return cand


def render_reply(plan: GeminiPlan, response_id: str) -> bytes:
    body = {"candidates": [decorate(_candidate(i, "".join(p), f, plan.call), plan.extras, True)
                           for i, (p, f) in enumerate(plan.candidates)],
            "usageMetadata": _usage(plan, plan.completion_tokens), "modelVersion": plan.model,
            "responseId": response_id}
    return (json.dumps(body, indent=2) + "\n").encode()


def render_events(plan: GeminiPlan, response_id: str) -> list[bytes]:
    """``data: {GenerateContentResponse}`` events, CRLF-framed, no sentinel: the last carries
    every candidate's finishReason and the full usage (§4.4)."""
    def event(candidates: list[dict], completion: int | None) -> bytes:
        body = {"candidates": candidates, "usageMetadata": _usage(plan, completion), "modelVersion": plan.model,
                "responseId": response_id}
        return b"data: " + json.dumps(body, separators=(",", ": ")).encode() + b"\r\n\r\n"

    if plan.call:
        return [event([decorate(_candidate(i, "", "STOP", plan.call), plan.extras, True)
                       for i in range(len(plan.candidates))], plan.completion_tokens)]
    steps = max(1, max(-(-len(p) // PIECES_PER_CHUNK) for p, _ in plan.candidates))
    events = []
    for step in range(steps):
        last = step == steps - 1
        cands = [decorate(_candidate(i, "".join(p[step * PIECES_PER_CHUNK:(step + 1) * PIECES_PER_CHUNK]),
                                     f if last else None), plan.extras, step == 0)
                 for i, (p, f) in enumerate(plan.candidates) if last or step * PIECES_PER_CHUNK < len(p)]
        events.append(event(cands, plan.completion_tokens if last else None))
    return events


# --- the endpoint ----------------------------------------------------------------------------------

class GeminiExchange(Exchange):
    """An exchange answered with Google's front-end headers: no request-id or rate-limit headers
    (§4.3: the only wait Gemini names is RetryInfo in the body). Faults, streams and cuts are
    the shared Exchange's."""

    __slots__ = ()

    def headers(self, content_type: bytes, length: int | None, extra: Headers = ()) -> list[tuple[bytes, bytes]]:
        out = [(b"content-type", content_type.replace(b"; charset=utf-8", b"") if b"event-stream" in content_type
                else content_type + b"; charset=UTF-8")]
        if length is not None:
            out.append((b"content-length", b"%d" % length))
        elapsed = int((time.monotonic() - self.started) * 1000)
        out += [(b"vary", b"Origin, X-Origin, Referer"), (b"server", b"scaffolding on HTTPServer2"),
                (b"x-xss-protection", b"0"), (b"x-frame-options", b"SAMEORIGIN"),
                (b"x-content-type-options", b"nosniff"), (b"server-timing", b"gfet4t7; dur=%d" % elapsed), *extra]
        return out


def parse_path(path: str) -> tuple[str, str, str] | None:
    """``/v1beta/models/gemini-2.5-flash:generateContent`` → (version, model, method)."""
    for prefix in PREFIXES:
        if path.startswith(prefix):
            model, sep, method = path[len(prefix):].rpartition(":")
            if sep:
                return prefix.split("/")[1], model, method
    return None


def key_of(scope: dict) -> tuple[str, str]:
    """(the Gemini key from x-goog-api-key or ?key=, the Authorization header)."""
    key = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("key", [""])[0]
    authorization = ""
    for name, value in scope["headers"]:
        if name == b"x-goog-api-key":
            key = value.decode("latin-1")
        elif name == b"authorization":
            authorization = value.decode("latin-1")
    return key.strip(), authorization


async def handle(outer: Exchange, scope: dict, version: str, model: str, method: str) -> None:
    """``POST /{version}/models/{model}:{method}``: (stream)generateContent, (batch)embedContent(s)."""
    exchange = adopt(outer, scope, GeminiExchange)
    try:
        await _generate(exchange, scope, version, model, method)
    finally:
        outer.outcome = exchange.outcome  # the app counts outcomes on the exchange it made


async def _generate(exchange: Exchange, scope: dict, version: str, model: str, method: str) -> None:
    raw = await wire.read_body(exchange.receive)
    key, authorization = key_of(scope)
    allowed = exchange.state.settings.api_keys

    def key_problem() -> ErrorReply | None:
        if not key:
            return bearer_key() if authorization.lower().startswith("bearer ") else missing_key()
        return api_key_invalid() if allowed is not None and key not in allowed else None

    if not await admit(exchange, model, key_problem, fault_error, sim_fault_invalid, key):
        return
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if method == "predict":  # Imagen (gemini_images.py)
        images = plan_predict(body, model, version)
        await (exchange.reply_error(images) if isinstance(images, ErrorReply)
               else exchange.reply(render_predictions(images)))
        return
    if method in ("embedContent", "batchEmbedContents"):
        items = plan_embed(body, model, method, version)
        await (exchange.reply_error(items) if isinstance(items, ErrorReply)
               else exchange.reply(render_embeddings(items, method)))
        return
    if method == "countTokens":
        total = plan_count(body, model, version)
        await (exchange.reply_error(total) if isinstance(total, ErrorReply) else exchange.reply(
            (json.dumps({"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]},
                        indent=2) + "\n").encode()))
        return
    if method not in ("generateContent", "streamGenerateContent"):
        await exchange.reply_error(google_error(404, "NOT_FOUND", f"Method {method} is not served here."))
        return
    plan = plan_generate(body, model, exchange.fault.tokens, version)
    if isinstance(plan, ErrorReply):
        await exchange.reply_error(plan)
        return
    response_id = exchange.request_id[4:26]
    if method == "generateContent":
        await exchange.reply(render_reply(plan, response_id))
        return
    events = render_events(plan, response_id)
    if parse_qs(scope.get("query_string", b"").decode("latin-1")).get("alt") != ["sse"]:
        # Without alt=sse the API streams one JSON array of the same responses (§4.4).
        chunks = [e[len(b"data: "):].rstrip() for e in events]
        await exchange.reply(b"[" + b",\r\n".join(chunks) + b"]")
        return
    fault = exchange.fault
    if fault.stream_error is not None:  # Gemini's error chunk, not the OpenAI one Exchange would send
        at = min(fault.after if fault.after is not None else DEFAULT_AFTER, len(events) - 1)
        events = events[:at] + [stream_error_event(fault.stream_error, context(exchange, model, key))]
        exchange.fault = dataclasses.replace(fault, stream_error=None)
    interval = fault.interval_ms if fault.interval_ms is not None else exchange.state.settings.stream_interval_ms
    await exchange.stream(events, interval / 1000)
