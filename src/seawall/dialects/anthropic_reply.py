"""Canonical (OpenAI chat) replies and streams rendered as Anthropic's Messages: what an
Anthropic client gets when another vendor served it (dialects/anthropic.py translates the request
there). A reply becomes a `message`; a stream becomes message_start, content_block_start / delta /
stop per text or tool_use block, message_delta (stop_reason and usage) and message_stop."""

from __future__ import annotations

import orjson

from seawall.dialects.base import CanonicalTranslator
from seawall.providers.sse import TERMINATOR

# finish_reason -> stop_reason: the inverse of the upstream adapter's table, first match wins.
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                "content_filter": "refusal"}


# -- reply -----------------------------------------------------------------------------------------

def message_id(chat_id: object) -> str:
    text = str(chat_id or "")
    return text if text.startswith("msg_") else "msg_" + text.removeprefix("chatcmpl-")


def to_message(chat: dict) -> dict:
    choice = (chat.get("choices") or [{}])[0]
    reply = choice.get("message") or {}
    content: list[dict] = []
    if reply.get("content"):
        content.append({"type": "text", "text": reply["content"]})
    for call in reply.get("tool_calls") or ():
        fn = call.get("function") or {}
        try:
            arguments = orjson.loads(fn.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            arguments = {"_raw": fn.get("arguments")}  # a model's broken JSON, kept rather than lost
        content.append({"type": "tool_use", "id": call.get("id"), "name": fn.get("name"), "input": arguments})
    usage = chat.get("usage") or {}
    return {"id": message_id(chat.get("id")), "type": "message", "role": "assistant", "model": chat.get("model"),
            "content": content, "stop_reason": STOP_REASONS.get(choice.get("finish_reason"), "end_turn"),
            "stop_sequence": None,
            "usage": {"input_tokens": usage.get("prompt_tokens", 0), "output_tokens": usage.get("completion_tokens", 0)}}


# -- stream ----------------------------------------------------------------------------------------

def event(kind: str, payload: dict) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + TERMINATOR


class MessagesStream(CanonicalTranslator):
    """Canonical chunks -> message_start, content_block_start/delta/stop per text or tool_use
    block, message_delta (stop_reason + usage) and message_stop at the canonical [DONE]."""

    __slots__ = ("_block", "_finish", "_index", "_model", "_started", "_tools", "_usage")

    def __init__(self, model: str) -> None:
        super().__init__()
        self._model = model
        self._started = False
        self._index = -1  # the current content block's index
        self._block: str | None = None  # "text" | "tool" while a block is open
        self._tools: dict[int, int] = {}  # tool_calls index -> content block index
        self._finish: str | None = None
        self._usage = {"input_tokens": 0, "output_tokens": 0}

    def _done(self) -> bytes:
        return self._end()

    def _failed(self, err: dict) -> bytes:
        return event("error", {"type": "error", "error": {
            "type": "overloaded_error" if "overload" in str(err.get("type", "")) else "api_error",
            "message": str(err.get("message", "the upstream failed mid-stream")),
            "code": err.get("code"), "request_id": err.get("request_id")}})

    def _start(self, chunk: dict) -> bytes:
        self._started = True
        self._model = chunk.get("model") or self._model
        return event("message_start", {"type": "message_start", "message": {
            "id": message_id(chunk.get("id")), "type": "message", "role": "assistant", "model": self._model,
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": dict(self._usage)}})

    def _open(self, kind: str, block: dict) -> bytes:
        closing = self._close()
        self._index += 1
        self._block = kind
        return closing + event("content_block_start", {"type": "content_block_start", "index": self._index,
                                                       "content_block": block})

    def _close(self) -> bytes:
        if self._block is None:
            return b""
        self._block = None
        return event("content_block_stop", {"type": "content_block_stop", "index": self._index})

    def _chunk(self, chunk: dict) -> bytes:
        out = [] if self._started else [self._start(chunk)]
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = {"input_tokens": usage.get("prompt_tokens", 0),
                           "output_tokens": usage.get("completion_tokens", 0)}
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                if self._block != "text":
                    out.append(self._open("text", {"type": "text", "text": ""}))
                out.append(event("content_block_delta", {"type": "content_block_delta", "index": self._index,
                                                         "delta": {"type": "text_delta", "text": delta["content"]}}))
            for call in delta.get("tool_calls") or ():
                fn = call.get("function") or {}
                k = call.get("index", 0)
                if k not in self._tools:
                    out.append(self._open("tool", {"type": "tool_use", "id": call.get("id"), "name": fn.get("name"),
                                                   "input": {}}))
                    self._tools[k] = self._index
                if fn.get("arguments"):
                    out.append(event("content_block_delta", {
                        "type": "content_block_delta", "index": self._tools[k],
                        "delta": {"type": "input_json_delta", "partial_json": fn["arguments"]}}))
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
                out.append(self._close())
        return b"".join(out)

    def _end(self) -> bytes:
        out = [] if self._started else [self._start({})]
        out.append(self._close())
        out.append(event("message_delta", {"type": "message_delta",
                                           "delta": {"stop_reason": STOP_REASONS.get(self._finish, "end_turn"),
                                                     "stop_sequence": None},
                                           "usage": dict(self._usage)}))
        out.append(event("message_stop", {"type": "message_stop"}))
        return b"".join(out)
