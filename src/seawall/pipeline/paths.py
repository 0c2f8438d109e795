"""Which API a request's method and path are: the operation the pipeline runs and the dialect its
client speaks, including Gemini's model-in-the-path calls and its `?key=`. Pure lookups, no I/O."""

from __future__ import annotations

import urllib.parse

from seawall.dialects.gemini import METHODS as GEMINI_METHODS
from seawall.errors import error
from seawall.pipeline.context import RequestContext

API_OPERATIONS = {
    ("POST", "/v1/chat/completions"): "chat", ("POST", "/v1/embeddings"): "embeddings",
    ("POST", "/v1/messages"): "chat", ("POST", "/v1/messages/count_tokens"): "count_tokens",
    ("POST", "/v1/responses"): "responses", ("POST", "/v1/completions"): "completions",
    ("POST", "/v1/moderations"): "moderations", ("POST", "/v1/images/generations"): "images",
    ("POST", "/v1/audio/speech"): "speech",
    # multipart uploads, relayed as they arrive (pipeline/multipart.py UPLOADS)
    ("POST", "/v1/images/edits"): "image_edits", ("POST", "/v1/images/variations"): "image_variations",
    ("POST", "/v1/audio/transcriptions"): "transcriptions", ("POST", "/v1/audio/translations"): "translations",
}
# paths whose clients speak another dialect than OpenAI's
CLIENT_DIALECTS = {"/v1/messages": "anthropic", "/v1/messages/count_tokens": "anthropic",
                   "/v1/responses": "responses"}

_GEMINI_PREFIXES = ("/v1beta/models/", "/v1/models/")  # google-genai 3.x calls /v1/…


def gemini_path(path: str) -> str | None:
    """'gemini-2.5-flash:generateContent' for a Gemini API path, else None."""
    for prefix in _GEMINI_PREFIXES:
        if path.startswith(prefix) and ":" in path:
            return path[len(prefix):]
    return None


def query_key(ctx: RequestContext, query: bytes) -> dict[str, list[str]]:
    """Gemini clients may send the key as ?key=: move it into the header the dialect reads."""
    params = urllib.parse.parse_qs(query.decode("latin-1"))
    if "key" in params and "x-goog-api-key" not in ctx.headers:
        ctx.headers["x-goog-api-key"] = params["key"][0]
    return params


def gemini_operation(ctx: RequestContext, path_model: str, query: bytes) -> str:
    """Check a Gemini call's method and query (its key included); the operation it is."""
    model, _, method = path_model.rpartition(":")
    ctx.model_asked = model or None
    params = query_key(ctx, query)
    if method not in GEMINI_METHODS:
        raise error("route_not_found", method=ctx.method, path=ctx.path,
                    hint=f"Seawall serves Gemini's {', '.join(GEMINI_METHODS)} (POST); '{method}' is not served.")
    if method == "streamGenerateContent" and params.get("alt", [""])[0] != "sse":
        raise error("invalid_field", param="alt", expected="'sse' (…:streamGenerateContent?alt=sse)",
                    got=repr(params.get("alt", [None])[0]))
    return GEMINI_METHODS[method]


def anthropic_client(headers: dict[str, str]) -> bool:
    """The Anthropic SDK (and Claude Code) always send anthropic-version; a bare x-api-key says so too."""
    return "anthropic-version" in headers or ("x-api-key" in headers and "authorization" not in headers)
