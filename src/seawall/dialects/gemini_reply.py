"""Canonical (OpenAI) replies and streams rendered as the Gemini API's: what a google-genai
client gets when another vendor served it (dialects/gemini.py translates the request there). A
chat completion becomes a GenerateContentResponse, a stream its chunks (the finish waits for the
usage that follows it, so the last chunk carries both), embeddings an embedContent or
batchEmbedContents reply."""

from __future__ import annotations

import orjson

from seawall.dialects.base import CanonicalTranslator

FINISH_REASONS = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY", "tool_calls": "STOP",
                  "function_call": "STOP"}
SSE_END = b"\r\n\r\n"  # Gemini's own event separator

def to_embed_response(data: dict, operation: str) -> dict:
    embeddings = [{"values": item.get("embedding")} for item in data.get("data") or ()]
    return {"embedding": embeddings[0]} if operation == "embed" and embeddings else {"embeddings": embeddings}


# -- reply -----------------------------------------------------------------------------------------

def usage_metadata(usage: dict) -> dict:
    p, c = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return {"promptTokenCount": p, "candidatesTokenCount": c, "totalTokenCount": usage.get("total_tokens", p + c)}


def _call_part(call: dict) -> dict:
    fn = call.get("function") or {}
    try:
        args = orjson.loads(fn.get("arguments") or "{}")
    except orjson.JSONDecodeError:
        args = {"_raw": fn.get("arguments")}  # a model's broken JSON, kept rather than lost
    return {"functionCall": {"name": fn.get("name"), "args": args, "id": call.get("id")}}


def to_response(chat: dict) -> dict:
    candidates = []
    for choice in chat.get("choices") or ():
        message = choice.get("message") or {}
        parts = [{"text": message["content"]}] if message.get("content") else []
        parts += [_call_part(c) for c in message.get("tool_calls") or ()]
        candidates.append({"content": {"role": "model", "parts": parts or [{"text": ""}]},
                           "finishReason": FINISH_REASONS.get(choice.get("finish_reason"), "STOP"),
                           "index": choice.get("index", 0)})
    out = {"candidates": candidates, "modelVersion": chat.get("model"), "responseId": chat.get("id")}
    if isinstance(chat.get("usage"), dict):
        out["usageMetadata"] = usage_metadata(chat["usage"])
    return out


class GeminiStream(CanonicalTranslator):
    """Canonical chunks -> GenerateContentResponse chunks. Function calls come whole in this
    dialect, so their argument fragments are gathered and sent with the finishing chunk; the
    finish waits for the usage chunk that follows it, so the last event carries both."""

    __slots__ = ("_calls", "_finish", "_id", "_model", "_usage")

    def __init__(self, model: str) -> None:
        super().__init__()
        self._model, self._id = model, None
        self._calls: dict[int, dict] = {}
        self._finish: str | None = None
        self._usage: dict | None = None

    def _event(self, parts: list[dict] | None, finish: str | None = None) -> bytes:
        candidate: dict = {"content": {"role": "model", "parts": parts or [{"text": ""}]}, "index": 0}
        if finish is not None:
            candidate["finishReason"] = FINISH_REASONS.get(finish, "STOP")
        out: dict = {"candidates": [candidate], "modelVersion": self._model, "responseId": self._id}
        if finish is not None and self._usage is not None:
            out["usageMetadata"] = usage_metadata(self._usage)
        return b"data: " + orjson.dumps(out) + SSE_END

    def _done(self) -> bytes:
        if self._finish is None:
            return b""
        out = self._event(self._call_parts(), self._finish)
        self._finish = None
        return out

    def _failed(self, err: dict) -> bytes:
        return b"data: " + orjson.dumps({"error": {
            "code": 500, "message": str(err.get("message", "the upstream failed mid-stream")),
            "status": "INTERNAL"}}) + SSE_END

    def _chunk(self, chunk: dict) -> bytes:
        out: list[bytes] = []
        self._model = chunk.get("model") or self._model
        self._id = self._id or chunk.get("id")
        if isinstance(chunk.get("usage"), dict):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            for call in delta.get("tool_calls") or ():
                held = self._calls.setdefault(call.get("index", 0), {"id": call.get("id"), "type": "function",
                                                                     "function": {"name": None, "arguments": ""}})
                fn = call.get("function") or {}
                held["function"]["name"] = fn.get("name") or held["function"]["name"]
                held["function"]["arguments"] += fn.get("arguments") or ""
            if delta.get("content"):
                out.append(self._event([{"text": delta["content"]}]))
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return b"".join(out)

    def _call_parts(self) -> list[dict]:
        return [_call_part(self._calls[k]) for k in sorted(self._calls)]
