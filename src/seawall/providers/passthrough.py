"""Pass-through: a client's body sent to a deployment of its own vendor, unchanged but for the
model, and the client headers that go with it.

The body goes upstream as the client's own bytes with only the top-level `model` value replaced
in place (not parsed and re-serialized: that would cost a dump of a body that can be hundreds of
KB, Claude Code's are ~90 KB, and would change its bytes). The top-level key is found with one
search: in valid JSON the bytes `"model"` followed by `:` are an object key (inside a string its
quotes would be escaped), so when the body holds exactly one such key with a string value, it is
the top-level one (which the parsed body says exists); a tool schema's `model` property, an
object, does not count. With several (a tool call whose input has a `model` of its own) the body is
re-serialized from the parsed dict instead: the same JSON, other bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import orjson

from seawall.providers.base import ApiRequest

_KEY = b'"model"'
_MODEL_KEY = re.compile(rb'"model"\s*:\s*"(?:[^"\\]|\\.)*"')

# Request headers that are the connection's or the caller's own, never sent on (RFC 9110 §7.6.1
# hop-by-hop fields, and every way a key or a session travels).
_NEVER = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                    "upgrade", "host", "content-length", "content-type", "accept", "accept-encoding",
                    "authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie",
                    "mj-api-secret"})


def body_with_model(req: ApiRequest, model: str | None) -> bytes:
    """The client's body for upstream, its top-level model set to `model` (None: the model is
    not in the body, as with Gemini, whose model is in the URL)."""
    raw = req.raw
    if raw is None:
        return orjson.dumps(req.body if model is None else {**req.body, "model": model})
    if model is None or req.body.get("model") == model:
        return raw
    found = None
    at = raw.find(_KEY)
    while at >= 0:  # bytes.find runs in C; the regex only checks the few places the key is
        match = _MODEL_KEY.match(raw, at)
        if match is not None:
            if found is not None:
                return orjson.dumps({**req.body, "model": model})
            found = match
        at = raw.find(_KEY, at + len(_KEY))
    if found is None:
        return orjson.dumps({**req.body, "model": model})
    return raw[:found.start()] + b'"model":' + orjson.dumps(model) + raw[found.end():]


def meaningful_headers(headers: Mapping[str, str], names: Iterable[str]) -> dict[str, str]:
    """The client's headers among `names` (lower-case), for a pass-through to send on."""
    return {name: headers[name] for name in names if name in headers and name not in _NEVER}


def merged_headers(base: dict[str, str], client: Mapping[str, str], deployment: Mapping[str, str],
                   merged: frozenset[str] = frozenset()) -> dict[str, str]:
    """`base` (content type, credentials), then the client's meaningful headers, then the
    deployment's configured ones, which win (the operator's policy), except for `merged`
    comma-separated lists (anthropic-beta), which carry both."""
    out = {**base, **client}
    for name, value in deployment.items():
        name = name.lower()
        if name in merged and name in out and value not in out[name].split(","):
            out[name] = f"{out[name]},{value}"
        else:
            out[name] = value
    return out
