"""What the pipeline reads from a request body, in each shape it may be carried in: OpenAI's (the
canonical form), Anthropic's Messages and Gemini's GenerateContentRequest, for pre-flight
(pipeline/validate.py) and admission (pipeline/admit.py) without translating a body that passes
through to its own vendor.

    turns(req)                 the conversation's messages (messages / contents)
    output_limit(req)          the output ceiling the client set: (its field's name, value or None)
    with_output_limit(req, n)  the request with that ceiling lowered (context policy truncate_output)
    prompt(req, tokenizer)     per-message tokens and the rest, for decide/fit.py
    without_turns(req, drop)   the request with those messages dropped (context policy trim)
    ceiling(req, body_bytes)   a bound no count can exceed (decide/fit.py surely_fits)

Native bodies are counted with the catalog's tokenizer for the model (Claude's and Gemini's are
"estimate": UTF-8 bytes / 3, which over-counts English by about a third); media are counted at a
fixed cost each (IMAGE_TOKENS_ANTHROPIC, GEMINI_MEDIA_TOKENS), not from their base64 size.
Changing a body drops the client's raw bytes: what goes upstream is then re-serialized.
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from seawall.catalog.tokens import (
    CEILING_SLACK,
    REPLY_PRIMER,
    TOKENS_PER_MESSAGE,
    chat_tokens,
    count_text,
    token_ceiling,
)
from seawall.decide.fit import Prompt
from seawall.providers.base import ApiRequest

# Anthropic: an image costs about width * height / 750 tokens, at most ~1,600 (images are scaled
# to 1.15 megapixels; docs.anthropic.com "Vision"). A PDF page costs 1,500-3,000 tokens of text
# and image; a document block is counted at the upper figure once, the text it carries on top.
IMAGE_TOKENS_ANTHROPIC = 1600
DOCUMENT_TOKENS = 3000
# Gemini: 258 tokens per image tile of 768x768, a few tiles for a large one (ai.google.dev
# "Image understanding"); counted at five tiles.
GEMINI_MEDIA_TOKENS = 1290


def turns(req: ApiRequest) -> list:
    found = req.body.get("contents" if req.shape == "gemini" else "messages")
    return found if isinstance(found, list) else []


def output_limit(req: ApiRequest) -> tuple[str, int | None]:
    body = req.body
    if req.shape == "anthropic":
        return "max_tokens", _int(body.get("max_tokens"))
    if req.shape == "gemini":
        config = _generation_config(body)
        value = config.get("maxOutputTokens", config.get("max_output_tokens"))
        return "generationConfig.maxOutputTokens", _int(value)
    if req.shape == "responses":
        return "max_output_tokens", _int(body.get("max_output_tokens"))
    if body.get("max_completion_tokens") is not None:
        return "max_completion_tokens", _int(body["max_completion_tokens"])
    return "max_tokens", _int(body.get("max_tokens"))


def with_output_limit(req: ApiRequest, limit: int) -> ApiRequest:
    body = dict(req.body)
    if req.shape == "gemini":
        # the REST API takes both spellings: keep the client's
        key = "generation_config" if "generation_config" in body and "generationConfig" not in body \
            else "generationConfig"
        config = dict(body.get(key) or {})
        config["max_output_tokens" if "max_output_tokens" in config else "maxOutputTokens"] = limit
        body[key] = config
    else:
        body[output_limit(req)[0]] = limit
    return replace(req, body=body, raw=None)


def without_turns(req: ApiRequest, drop: set[int]) -> ApiRequest:
    key = "contents" if req.shape == "gemini" else "messages"
    kept = [m for i, m in enumerate(turns(req)) if i not in drop]
    if req.shape != "openai":  # Messages and Gemini both open with a user turn that is no tool result
        roles = _roles(req.shape, kept)
        start = 0
        while start < len(kept) - 1 and roles[start] != "user":
            start += 1
        kept = kept[start:]
    return replace(req, body={**req.body, key: kept}, raw=None)


def ceiling(req: ApiRequest, body_bytes: int) -> int:
    if req.shape == "openai":
        return token_ceiling(req.body, body_bytes)
    media = 0
    for message in turns(req):
        for block in _blocks(req.shape, message):
            media += _media_tokens(req.shape, block)
    return body_bytes + media + CEILING_SLACK


def prompt(req: ApiRequest, tokenizer: str) -> Prompt:
    output = output_limit(req)[1]
    if req.shape == "openai":
        per_message, fixed = chat_tokens(req.body, tokenizer)
        messages = req.body["messages"]
        return Prompt([m["role"] for m in messages], per_message, fixed, output,
                      [bool(m.get("tool_calls") or m.get("function_call")) for m in messages])
    messages = turns(req)
    tokens = [TOKENS_PER_MESSAGE + sum(_block_tokens(req.shape, b, tokenizer) for b in _blocks(req.shape, m))
              for m in messages]
    body = req.body
    rest = [body.get("system"), body.get("tools")] if req.shape == "anthropic" else \
        [body.get("systemInstruction", body.get("system_instruction")), body.get("tools")]
    fixed = REPLY_PRIMER + sum(count_text(orjson.dumps(r).decode(), tokenizer) for r in rest if r)
    calls = [_calls_tools(req.shape, m) for m in messages]
    return Prompt(_roles(req.shape, messages), tokens, fixed, output, calls)


# -- per shape ---------------------------------------------------------------------------------------

def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _generation_config(body: dict) -> dict:
    config = body.get("generationConfig", body.get("generation_config"))
    return config if isinstance(config, dict) else {}


def _blocks(shape: str, message: object) -> list:
    if not isinstance(message, dict):
        return []
    content = message.get("parts" if shape == "gemini" else "content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content if isinstance(content, list) else []


def _kind(shape: str, block: dict) -> str:
    """text | media | document | call | result | other, whatever the shape calls it."""
    if shape == "gemini":
        if "text" in block:
            return "text"
        if "inlineData" in block or "fileData" in block:
            return "media"
        return "call" if "functionCall" in block else "result" if "functionResponse" in block else "other"
    kind = block.get("type")
    return {"text": "text", "image": "media", "document": "document", "tool_use": "call",
            "tool_result": "result"}.get(kind, "other") if isinstance(kind, str) else "other"


def _media_tokens(shape: str, block: object) -> int:
    if not isinstance(block, dict):
        return 0
    kind = _kind(shape, block)
    if kind == "media":
        return GEMINI_MEDIA_TOKENS if shape == "gemini" else IMAGE_TOKENS_ANTHROPIC
    return DOCUMENT_TOKENS if kind == "document" else 0


def _block_tokens(shape: str, block: object, tokenizer: str) -> int:
    if not isinstance(block, dict):
        return 0
    kind = _kind(shape, block)
    if kind == "text" and isinstance(block.get("text"), str):
        return count_text(block["text"], tokenizer)
    if kind == "media":
        return _media_tokens(shape, block)
    if kind == "document":
        source = block.get("source")
        text = source.get("data") if isinstance(source, dict) and source.get("type") == "text" else None
        return DOCUMENT_TOKENS + (count_text(text, tokenizer) if isinstance(text, str) else 0)
    if kind == "result" and shape == "anthropic" and isinstance(block.get("content"), list):
        return sum(_block_tokens(shape, b, tokenizer) for b in block["content"])
    # tool calls and results, thinking and anything newer: their JSON text
    return count_text(orjson.dumps(block).decode(), tokenizer)


def _roles(shape: str, messages: list) -> list[str]:
    """Roles as decide/fit.py groups them: a user turn carrying only tool results is "tool", so a
    tool call and its results are trimmed together."""
    out = []
    for m in messages:
        role = m.get("role", "user") if isinstance(m, dict) else "user"
        blocks = [b for b in _blocks(shape, m) if isinstance(b, dict)]
        if role == "model":
            role = "assistant"
        if role == "user" and blocks and all(_kind(shape, b) == "result" for b in blocks):
            role = "tool"
        out.append(role)
    return out


def _calls_tools(shape: str, message: object) -> bool:
    return any(isinstance(b, dict) and _kind(shape, b) == "call" for b in _blocks(shape, message))
