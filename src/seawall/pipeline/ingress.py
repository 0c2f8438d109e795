"""Ingress: read the body (bounded in size and time) and parse the client's dialect into a
ApiRequest. Only the shape needed to route is checked here; schema and context checks are
the validate stage's job."""

from __future__ import annotations

import asyncio

import orjson

from seawall.errors import SeawallError, error
from seawall.providers.base import ApiRequest

ENDPOINT_NAMES = {"chat": "POST /v1/chat/completions", "embeddings": "POST /v1/embeddings",
                  "completions": "POST /v1/completions", "moderations": "POST /v1/moderations",
                  "images": "POST /v1/images/generations", "speech": "POST /v1/audio/speech"}
# What each endpoint needs besides the model, checked because the gateway reads it (estimates,
# prices) or because sending it on without would only earn the upstream's 400.
_REQUIRED = {"embeddings": ("input",), "completions": ("prompt",), "moderations": ("input",), "images": ("prompt",),
             "speech": ("input", "voice")}
# Endpoints whose model may be left out: OpenAI's own default serves them (the gateway routes by it).
DEFAULT_MODELS = {"moderations": "omni-moderation-latest", "images": "dall-e-2", "image_edits": "dall-e-2",
                  "image_variations": "dall-e-2"}
_STREAMING = frozenset({"chat", "completions"})


class ClientGone(Exception):
    """The client disconnected before its body arrived: nobody is left to answer."""


# Past the limit, the rest of an oversized body is read and discarded (up to this much) before
# answering 413: closing on a client that is still sending makes the kernel reset the connection,
# and the client then sees "connection reset" instead of the 413 (nginx's lingering_close, same idea).
DRAIN_LIMIT = 64 * 1024 * 1024


async def next_chunk(receive, idle_s: float | None) -> tuple[bytes, bool]:
    """The client's next body chunk, and whether more follows, within `idle_s` of asking (a body
    streamed on as it arrives: an upload, a pass-through); None: unbounded."""
    try:
        async with asyncio.timeout(idle_s):
            message = await receive()
    except TimeoutError:
        raise error("body_timeout", seconds=idle_s) from None
    if message["type"] == "http.disconnect":
        raise ClientGone()
    return message.get("body", b""), message.get("more_body", False)


async def read_body(receive, headers: dict[str, str], limit: int) -> bytes:
    """The whole body, refused past `limit` bytes. Unbounded in time: the caller bounds it
    (pipeline/deadlines.py)."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        await drain(receive, int(declared))
        raise error("body_too_large", limit=limit)
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                if message.get("more_body", False):
                    await drain(receive, DRAIN_LIMIT)
                raise error("body_too_large", limit=limit)
            parts.append(chunk)
        if not message.get("more_body", False):
            break
    return parts[0] if len(parts) == 1 else b"".join(parts)


async def drain(receive, expected: int) -> None:
    """Read and drop the body, at most DRAIN_LIMIT bytes (the caller's deadline bounds the time)."""
    if expected > DRAIN_LIMIT:
        return
    seen = 0
    while seen <= DRAIN_LIMIT:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


# orjson reads 1,024 levels of nesting but writes only 254 ("Recursion limit reached"), and the
# gateway writes what it forwards: deeper bodies are refused here, at once, naming the depth,
# rather than failing later as a 500. 128 leaves room for the levels a dialect's translation adds
# and is far past what any API field needs (OpenAI's structured outputs allow 5 levels of schema).
MAX_JSON_DEPTH = 128
_ORJSON_MAX_DEPTH = 1024


def load_json(body: bytes):
    """orjson.loads, refusing nesting past MAX_JSON_DEPTH with json_too_deep (a JSONDecodeError
    for anything else that is not JSON)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        if e.msg.startswith("depth limit"):
            raise error("json_too_deep", depth=f"more than {_ORJSON_MAX_DEPTH}", limit=MAX_JSON_DEPTH) from None
        raise
    # Nesting N levels deep takes N brackets; counting them is a C loop, walking the tree is not.
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:
        depth = nesting_depth(data)
        if depth > MAX_JSON_DEPTH:
            raise error("json_too_deep", depth=depth, limit=MAX_JSON_DEPTH)
    return data


def nesting_depth(value: object) -> int:
    """How many arrays and objects deep `value` nests (a scalar: 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            node = node.values()
        elif not isinstance(node, list):
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list)))
    return deepest


def parse_json_object(body: bytes, headers: dict[str, str]) -> dict:
    if not body.strip():
        raise error("empty_body")
    try:
        data = load_json(body)
    except orjson.JSONDecodeError as e:
        # A JSON body is read whatever its label (curl -d sends form-urlencoded by default); only
        # a body that is neither JSON nor labelled JSON is blamed on its Content-Type.
        ctype = headers.get("content-type", "")
        media = ctype.split(";", 1)[0].strip().lower()
        if media and media != "application/json" and not media.endswith("+json"):
            raise error("unsupported_content_type", got=ctype[:100]) from None
        if "utf-8" in e.msg.lower():
            raise error("invalid_utf8") from None
        raise error("invalid_json", detail=f"{e.msg} at line {e.lineno}, column {e.colno}") from None
    if not isinstance(data, dict):
        raise error("body_not_object", got=json_kind(data))
    return data


def parse_openai(operation: str, body: bytes, headers: dict[str, str]) -> ApiRequest:
    data = parse_json_object(body, headers)
    endpoint = ENDPOINT_NAMES[operation]
    if data.get("model") is None and operation in DEFAULT_MODELS:
        model = DEFAULT_MODELS[operation]
    else:
        model = _required(data, "model", str, "a string such as \"gpt-4o-mini\"", endpoint)
    if operation == "chat":
        messages = _required(data, "messages", list, "an array of message objects", endpoint)
        if not messages:
            raise SeawallError("invalid_field", {"param": "messages", "expected": "a non-empty array",
                                                 "got": "an empty array"}, param="messages")
    for name in _REQUIRED.get(operation, ()):
        if data.get(name) is None:
            raise error("missing_field", param=name, endpoint=endpoint)
    stream = data.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise error("invalid_field", param="stream", expected="a boolean", got=json_kind(stream))
    if operation not in _STREAMING and stream:
        raise error("invalid_field", param="stream", expected=f"absent ({endpoint} does not stream)", got="true")
    options = data.get("stream_options")
    wants_usage = isinstance(options, dict) and options.get("include_usage") is True
    return ApiRequest(operation, model, data, stream, "openai", wants_usage)


def _required(data: dict, name: str, kind: type, expected: str, endpoint: str):
    value = data.get(name)
    if value is None:
        raise error("missing_field", param=name, endpoint=endpoint)
    if not isinstance(value, kind):
        raise error("invalid_field", param=name, expected=expected, got=json_kind(value))
    return value


def json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
