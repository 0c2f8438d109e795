"""A Messages plan as Anthropic's bytes: the reply, the stream (message_start, a thinking block
with its signature when thinking, the content block, message_delta with the cumulative usage,
message_stop, §3.5) and a stream that fails mid-way."""

from __future__ import annotations

import dataclasses
import json

import orjson

from seawall.simulator.config import ModelSpec
from seawall.simulator.dialects.anthropic_errors import _event, stream_error_event
from seawall.simulator.dialects.anthropic_features import CacheUse, Thinking


@dataclasses.dataclass(frozen=True, slots=True)
class MessagesPlan:
    model: ModelSpec
    stream: bool
    pieces: tuple[str, ...]
    tool: dict | None  # the tool_use block to answer with, when tool_choice forces one
    stop_reason: str
    input_tokens: int  # every input token, cached ones included
    output_tokens: int  # thinking included
    thinking: Thinking | None = None
    cache: CacheUse = CacheUse()



# --- plan -> bytes -------------------------------------------------------------------------------

def _usage(plan: MessagesPlan, output: int) -> dict:
    cache = plan.cache
    return {"input_tokens": max(plan.input_tokens - cache.read - cache.written, 0),
            "cache_creation_input_tokens": cache.written, "cache_read_input_tokens": cache.read,
            "output_tokens": output, "service_tier": "standard"}


def _thinking_block(thinking: Thinking) -> dict:
    return {"type": "thinking", "thinking": thinking.text, "signature": thinking.signature}


def render_message(plan: MessagesPlan, message_id: str) -> bytes:
    content = [plan.tool] if plan.tool else [{"type": "text", "text": "".join(plan.pieces)}]
    if plan.thinking:
        content.insert(0, _thinking_block(plan.thinking))
    return orjson.dumps({"id": message_id, "type": "message", "role": "assistant", "model": plan.model.reported,
                         "content": content, "stop_reason": plan.stop_reason, "stop_sequence": None,
                         "usage": _usage(plan, plan.output_tokens)})


def render_events(plan: MessagesPlan, message_id: str) -> list[bytes]:
    """message_start, a content block (text deltas, or a tool_use with its input in two JSON
    pieces), a ping early on, message_delta with the stop reason and cumulative usage,
    message_stop (§3.5)."""
    start = {"id": message_id, "type": "message", "role": "assistant", "model": plan.model.reported,
             "content": [], "stop_reason": None, "stop_sequence": None, "usage": _usage(plan, 1)}
    events = [_event("message_start", {"type": "message_start", "message": start})]
    index = 0
    if plan.thinking:  # thinking first: its text in deltas, then its signature
        events.append(_event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
            "type": "thinking", "thinking": "", "signature": ""}}))
        for piece in plan.thinking.pieces:
            if piece:
                events.append(_event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                             "delta": {"type": "thinking_delta", "thinking": piece}}))
        events.append(_event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {
            "type": "signature_delta", "signature": plan.thinking.signature}}))
        events.append(_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
        index = 1
    if plan.tool:
        events.append(_event("content_block_start", {"type": "content_block_start", "index": index,
                                                     "content_block": {**plan.tool, "input": {}}}))
        events.append(_event("ping", {"type": "ping"}))
        arguments = json.dumps(plan.tool["input"])
        half = len(arguments) // 2
        for part in (arguments[:half], arguments[half:]):
            events.append(_event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                         "delta": {"type": "input_json_delta", "partial_json": part}}))
    else:
        events.append(_event("content_block_start", {"type": "content_block_start", "index": index,
                                                     "content_block": {"type": "text", "text": ""}}))
        events.append(_event("ping", {"type": "ping"}))
        for piece in plan.pieces:
            events.append(_event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                         "delta": {"type": "text_delta", "text": piece}}))
    events.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(_event("message_delta", {"type": "message_delta", "delta": {"stop_reason": plan.stop_reason,
                                                                              "stop_sequence": None},
                                           "usage": {"output_tokens": plan.output_tokens}}))
    events.append(_event("message_stop", {"type": "message_stop"}))
    return events


# Where ``stream_error`` lands when ``after`` is not given: past message_start, the block start,
# the ping and two text deltas, as mid-stream as the openai dialect's default.
DEFAULT_AFTER = 5


def with_stream_error(events: list[bytes], error_type: str, after: int | None) -> list[bytes]:
    """The stream up to event ``after`` (default: mid-stream), then the error event, then the end."""
    at = min(DEFAULT_AFTER if after is None else after, len(events) - 1)
    return events[:at] + [stream_error_event(error_type)]


