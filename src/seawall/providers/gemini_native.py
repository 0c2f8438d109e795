"""The Gemini API passed through for Gemini clients: `generateContent` and its stream,
`countTokens`, `embedContent` and `batchEmbedContents` reach a Gemini deployment with the body
the client sent (thinkingConfig, cachedContent, Google's own tools, fields added after this was
written), under the deployment's model in the URL; replies and stream chunks (thought parts and
their thoughtSignature, usageMetadata with cachedContentTokenCount and thoughtsTokenCount) go back
as Gemini sent them.

The model is named in the URL, not the body, so the body goes as its bytes came, except where it
names the model itself: each of batchEmbedContents' `requests[].model`, and countTokens'
`generateContentRequest.model`, which Gemini checks against the URL's.

A stream has no end sentinel (§4.4): it is complete with the chunk in which every candidate has
its finishReason (or the prompt was blocked). Each chunk is read for that, its usage and an
`{"error": …}` in-stream failure; chunks are a few sentences each, so reading them is cheap.
"""

from __future__ import annotations

from urllib.parse import quote

import orjson

from seawall.config import ResolvedDeployment
from seawall.providers.base import ApiRequest, MalformedReply, Reply, StreamEvent, UpstreamRequest, Usage, reply_json
from seawall.providers.passthrough import body_with_model, merged_headers
from seawall.providers.sse import SSESplitter, data_of, error_of, json_event

METHODS = {"chat": "generateContent", "count_tokens": "countTokens", "embed": "embedContent",
           "batch_embed": "batchEmbedContents"}
NATIVE_OPERATIONS = frozenset(METHODS)
SSE_END = b"\r\n\r\n"  # Gemini's own event separator
NO_CHARGE = Usage()  # countTokens is free


def read_usage(meta: object) -> Usage | None:
    """Thinking tokens are billed as output (OpenAI counts reasoning inside completion_tokens);
    promptTokenCount includes the cached content's tokens, cachedContentTokenCount says how many."""
    if not isinstance(meta, dict):
        return None
    completion = (meta.get("candidatesTokenCount") or 0) + (meta.get("thoughtsTokenCount") or 0)
    return Usage(meta.get("promptTokenCount") or 0, completion,
                 cache_read_tokens=meta.get("cachedContentTokenCount") or 0)


def native_url(base_url: str, model: str, operation: str, stream: bool) -> str:
    method = "streamGenerateContent?alt=sse" if stream else METHODS[operation]
    return f"{base_url}/models/{quote(model, safe='')}:{method}"


def build_native(req: ApiRequest, target: ResolvedDeployment) -> UpstreamRequest:
    base = {"content-type": "application/json", "accept": "text/event-stream" if req.stream else "application/json"}
    if target.api_key:
        base["x-goog-api-key"] = target.api_key
    headers = merged_headers(base, req.headers, target.spec.headers)
    url = native_url(target.base_url, target.spec.model, req.operation, req.stream)
    return UpstreamRequest("POST", url, headers, _body(req, target.spec.model))


def _body(req: ApiRequest, model: str) -> bytes:
    """The client's bytes, unless they name a model other than the deployment's."""
    ref = f"models/{model}"
    body = req.body
    if req.operation == "batch_embed" and isinstance(body.get("requests"), list):
        asked = [r for r in body["requests"] if isinstance(r, dict) and r.get("model") not in (None, ref)]
        if asked:
            return orjson.dumps({**body, "requests": [{**r, "model": ref} if isinstance(r, dict) and "model" in r
                                                      else r for r in body["requests"]]})
    inner = body.get("generateContentRequest")
    if req.operation == "count_tokens" and isinstance(inner, dict) and inner.get("model") not in (None, ref):
        return orjson.dumps({**body, "generateContentRequest": {**inner, "model": ref}})
    return body_with_model(req, None)


def read_native_reply(req: ApiRequest, body: bytes) -> Reply:
    data = reply_json(body)
    expected = {"chat": ("candidates", "promptFeedback"), "count_tokens": ("totalTokens",),
                "embed": ("embedding",), "batch_embed": ("embeddings",)}[req.operation]
    if not isinstance(data, dict) or not any(k in data for k in expected):
        raise MalformedReply(f"a 2xx reply without '{expected[0]}': {body[:120]!r}")
    if req.operation == "count_tokens":
        return Reply(body, NO_CHARGE, None, "gemini")
    return Reply(body, read_usage(data.get("usageMetadata")), data.get("modelVersion"), "gemini")


class GeminiNativeDecoder:
    """One per stream: the partial bytes between reads, the candidates not yet finished."""

    __slots__ = ("_open", "_split")

    def __init__(self) -> None:
        self._split = SSESplitter()
        self._open: set[int] = set()

    @property
    def pending(self) -> bytes:
        return self._split.pending

    def feed(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for block in self._split.feed(data):
            payload = data_of(block).strip()
            if payload:
                out.append(self._event(block + SSE_END, payload))
        return out

    def _event(self, raw: bytes, payload: bytes) -> StreamEvent:
        chunk = json_event(payload)
        err = error_of(chunk)
        if err is not None:
            return StreamEvent(raw, chunk, error=err)
        finished = False
        for i, cand in enumerate(chunk.get("candidates") or ()):
            index = cand.get("index", i) if isinstance(cand, dict) else i
            if isinstance(cand, dict) and cand.get("finishReason"):
                self._open.discard(index)
                finished = True
            else:
                self._open.add(index)
        if not chunk.get("candidates") and (chunk.get("promptFeedback") or {}).get("blockReason"):
            finished = True
        terminal = finished and not self._open
        return StreamEvent(raw, terminal=terminal, model=chunk.get("modelVersion"),
                           usage=read_usage(chunk.get("usageMetadata")) if terminal else None)
