"""Anthropic's replies and streams read back as OpenAI's `chat.completion` and
`chat.completion.chunk`, for a client of another dialect (providers/anthropic.py translates the
request; providers/anthropic_native.py is the pass-through for Anthropic's own clients)."""

from __future__ import annotations

import orjson

from seawall.providers.anthropic_native import read_usage
from seawall.providers.base import StreamEvent, Usage
from seawall.providers.sse import SSESplitter, json_event, parse_block

FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
                  "model_context_window_exceeded": "length", "tool_use": "tool_calls",
                  "refusal": "content_filter"}


# -- reply -----------------------------------------------------------------------------------------

def usage_json(usage: Usage, cached: int = 0) -> dict:
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens, "prompt_tokens_details": {"cached_tokens": cached}}


def to_chat_completion(message: dict, created: int) -> dict:
    text: list[str] = []
    calls: list[dict] = []
    for block in message["content"]:
        if block.get("type") == "text":
            text.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            calls.append({"id": block.get("id"), "type": "function",
                          "function": {"name": block.get("name"), "arguments": orjson.dumps(block.get("input", {})
                                                                                            ).decode()}})
        # thinking blocks only come when a request enables thinking, which no translated one does
    reply: dict = {"role": "assistant", "content": "".join(text) if text or not calls else None, "refusal": None}
    if calls:
        reply["tool_calls"] = calls
    usage = read_usage(message.get("usage")) or Usage()
    raw_usage = message.get("usage") or {}
    return {"id": message.get("id"), "object": "chat.completion", "created": created, "model": message.get("model"),
            "choices": [{"index": 0, "message": reply, "logprobs": None,
                         "finish_reason": FINISH_REASONS.get(message.get("stop_reason"), message.get("stop_reason"))}],
            "usage": usage_json(usage, raw_usage.get("cache_read_input_tokens") or 0)}


# -- stream ----------------------------------------------------------------------------------------

class AnthropicStreamDecoder:
    """Anthropic's `event:` + `data:` pairs (§3.5) -> OpenAI chunks. `raw` is the re-encoded
    OpenAI event, since the client speaks OpenAI. One per stream: it remembers the message id,
    model and usage from message_start, and which content block is which tool call."""

    __slots__ = ("_cached", "_created", "_held", "_id", "_model", "_split", "_tools", "_usage")

    def __init__(self, created: int) -> None:
        self._split = SSESplitter()
        self._created = created
        self._id, self._model = "", None
        self._usage, self._cached = {}, 0
        self._tools: dict[int, int] = {}  # content block index -> tool_calls index
        self._held: StreamEvent | None = None

    @property
    def pending(self) -> bytes:
        return self._split.pending

    def feed(self, data: bytes) -> list[StreamEvent]:
        out = []
        for block in self._split.feed(data):
            sse = parse_block(block)
            if not sse.data.strip():
                continue  # a comment or keep-alive
            payload = json_event(sse.data)  # real data lines carry trailing spaces (§3.5); JSON allows them
            for event in self._event(sse.event or str(payload.get("type")), payload):
                if self._held is not None:
                    if event.error is None:
                        out.append(self._held)
                    self._held = None
                out.append(event)
        return out

    def _event(self, kind: str, p: dict) -> list[StreamEvent]:
        if kind == "message_start":
            message = p.get("message") or {}
            self._id, self._model = message.get("id") or "", message.get("model")
            self._usage = dict(message.get("usage") or {})
            # Held back until the first content: a stream that fails before it (529 overloaded
            # comes so) then starts with its error, and the attempt stage can still fall back.
            self._held = self._chunk({"role": "assistant", "content": ""}, model=self._model)
            return []
        if kind == "content_block_start":
            block = p.get("content_block") or {}
            if block.get("type") == "tool_use":
                k = self._tools[p.get("index")] = len(self._tools)
                return [self._chunk({"tool_calls": [{"index": k, "id": block.get("id"), "type": "function",
                                                     "function": {"name": block.get("name"), "arguments": ""}}]})]
            if block.get("type") == "text" and block.get("text"):
                return [self._chunk({"content": block["text"]})]
            return []
        if kind == "content_block_delta":
            delta = p.get("delta") or {}
            if delta.get("type") == "text_delta":
                return [self._chunk({"content": delta.get("text", "")})]
            if delta.get("type") == "input_json_delta" and p.get("index") in self._tools:
                return [self._chunk({"tool_calls": [{"index": self._tools[p["index"]],
                                                     "function": {"arguments": delta.get("partial_json", "")}}]})]
            return []  # thinking and signature deltas: OpenAI's chat chunks have no place for them
        if kind == "message_delta":
            self._usage.update(p.get("usage") or {})  # cumulative counts (§3.5)
            stop = (p.get("delta") or {}).get("stop_reason")
            finish = FINISH_REASONS.get(stop, stop)
            return [self._chunk({}, finish=finish)]
        if kind == "message_stop":
            usage = read_usage(self._usage) or Usage()
            chunk = {"id": self._id, "object": "chat.completion.chunk", "created": self._created, "model": self._model,
                     "choices": [], "usage": usage_json(usage, self._usage.get("cache_read_input_tokens") or 0)}
            return [StreamEvent(_sse(chunk), chunk, usage=usage, usage_only=True),
                    StreamEvent(b"data: [DONE]\n\n", terminal=True)]
        if kind == "error":
            err = p.get("error") if isinstance(p.get("error"), dict) else {"message": str(p.get("error"))}
            error_obj = {"message": err.get("message") or "an error event", "type": err.get("type"),
                         "param": None, "code": err.get("type")}
            return [StreamEvent(_sse({"error": error_obj}), {"error": error_obj}, error=error_obj)]
        return []  # ping, content_block_stop, and event types added after this was written

    def _chunk(self, delta: dict, finish: str | None = None, model: str | None = None) -> StreamEvent:
        chunk = {"id": self._id, "object": "chat.completion.chunk", "created": self._created, "model": self._model,
                 "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        return StreamEvent(_sse(chunk), chunk, finish_reason=finish, model=model)


def _sse(obj: dict) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"
