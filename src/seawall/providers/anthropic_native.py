"""Anthropic's Messages API passed through for Anthropic clients: the client's body (thinking,
cache_control, server tools, context_management, fields added after this was written) reaches
the deployment with only `model` replaced, with the client's `anthropic-version` and
`anthropic-beta`; the reply and the stream (thinking blocks and their signatures, cache token
counts, citations) go back exactly as Anthropic sent them.

What the gateway reads on the way: the model and usage (message_start's, updated by
message_delta's cumulative counts, §3.5), the end (`message_stop`) and in-stream `error` events.
Plain content events (deltas, pings, block boundaries) are relayed in runs without being parsed.
"""

from __future__ import annotations

from seawall.config import ResolvedDeployment
from seawall.providers.base import ApiRequest, MalformedReply, Reply, StreamEvent, UpstreamRequest, Usage, reply_json
from seawall.providers.passthrough import body_with_model, merged_headers
from seawall.providers.sse import TERMINATOR, SSESplitter, json_event

# The API version the translated requests are written for (the documented one; anthropic-python
# sends it too) and the one a pass-through sends when its client sent none. A deployment's
# `headers` may pin another, or add anthropic-beta.
ANTHROPIC_VERSION = "2023-06-01"
NATIVE_OPERATIONS = frozenset({"chat", "count_tokens"})
_PATHS = {"chat": "/messages", "count_tokens": "/messages/count_tokens"}
_BETA = frozenset({"anthropic-beta"})  # the client's betas and the deployment's, both sent
COUNT_ONLY = Usage()  # count_tokens is free at Anthropic: nothing to charge


def read_usage(usage: object) -> Usage | None:
    """Anthropic counts cached input apart from input_tokens; OpenAI's prompt_tokens includes
    it, and so does Usage.prompt_tokens, with the cache's share kept for pricing."""
    if not isinstance(usage, dict):
        return None
    counts = [v if isinstance(v := usage.get(k), int) else 0
              for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")]
    fresh, written, read, output = counts
    return Usage(fresh + written + read, output, cache_read_tokens=read, cache_write_tokens=written)


def native_url(base_url: str, operation: str) -> str:
    """`base_url` written with or without its /v1 (providers/anthropic.py)."""
    base = base_url.rstrip("/")
    return base + ("" if base.endswith("/v1") else "/v1") + _PATHS[operation]


def build_native(req: ApiRequest, target: ResolvedDeployment) -> UpstreamRequest:
    base = {"content-type": "application/json", "accept": "text/event-stream" if req.stream else "application/json",
            "anthropic-version": ANTHROPIC_VERSION}
    if target.api_key:
        base["x-api-key"] = target.api_key
    headers = merged_headers(base, req.headers, target.spec.headers, _BETA)
    return UpstreamRequest("POST", native_url(target.base_url, req.operation), headers,
                           body_with_model(req, target.spec.model))


def read_native_reply(req: ApiRequest, body: bytes) -> Reply:
    message = reply_json(body)
    if req.operation == "count_tokens":
        if not isinstance(message, dict) or not isinstance(message.get("input_tokens"), int):
            raise MalformedReply(f"a 2xx count_tokens reply without 'input_tokens': {body[:120]!r}")
        return Reply(body, COUNT_ONLY, None, "anthropic")
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise MalformedReply(f"a 2xx reply without 'content': {body[:120]!r}")
    return Reply(body, read_usage(message.get("usage")), message.get("model"), "anthropic")


# Events relayed without a look inside: their bytes go to the client as they came.
_PLAIN = (b"event: content_block_delta\n", b"event: ping\n", b"event: content_block_stop\n",
          b"event: content_block_start\n")
# Events that open a stream, held back until its first content: a stream that fails before any
# (Anthropic's 529 overloaded comes so) then starts with its error, and the attempt stage can
# still fall back to another deployment.
_OPENING = (b"event: message_start\n", b"event: content_block_start\n", b"event: ping\n")


class AnthropicNativeDecoder:
    """One per stream: the partial bytes between reads, the usage so far, what is held back."""

    __slots__ = ("_held", "_split", "_usage")

    def __init__(self) -> None:
        self._split = SSESplitter()
        self._usage: dict = {}
        self._held: list[StreamEvent] | None = []  # None once the first content has come

    @property
    def pending(self) -> bytes:
        return self._split.pending

    def feed(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        run: list[bytes] = []  # consecutive plain events, relayed as one
        for block in self._split.feed(data):
            if not block.strip() or block.startswith(b":"):
                continue  # a keep-alive comment: the gateway sends its own
            held = self._held
            if held is not None:
                if block.startswith(_OPENING):
                    held.append(self._event(block))
                    continue
                self._held = None
                event = self._event(block)
                if event.error is None:  # an error before any content replaces the opening
                    out += held
                if not block.startswith(_PLAIN):
                    out.append(event)
                    continue
            if block.startswith(_PLAIN):
                run.append(block)
                continue
            if run:
                out.append(StreamEvent(TERMINATOR.join(run) + TERMINATOR))
                run = []
            out.append(self._event(block))
        if run:
            out.append(StreamEvent(TERMINATOR.join(run) + TERMINATOR))
        return out

    def _event(self, block: bytes) -> StreamEvent:
        raw = block + TERMINATOR
        if block.startswith(_PLAIN):
            return StreamEvent(raw)
        name, payload = _split_event(block)
        if name == b"message_start":
            message = payload.get("message") or {}
            self._usage = dict(message.get("usage") or {})
            return StreamEvent(raw, model=message.get("model"))
        if name == b"message_delta":
            self._usage.update(payload.get("usage") or {})  # cumulative counts (§3.5)
            return StreamEvent(raw, usage=read_usage(self._usage))
        if name == b"message_stop":
            return StreamEvent(raw, terminal=True)
        if name == b"error":
            err = payload.get("error")
            return StreamEvent(raw, payload, error=err if isinstance(err, dict) else {"message": str(err)})
        return StreamEvent(raw)  # event types added after this was written: relayed as they came


def _split_event(block: bytes) -> tuple[bytes, dict]:
    """(event name, data object) of an `event:` + `data:` block."""
    name = b""
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if line.startswith(b"event:"):
            name = line[6:].strip()
        elif line.startswith(b"data:"):
            data.append(line[5:])
    payload = json_event(b"\n".join(data)) if data else {}
    if not name:
        name = str(payload.get("type", "")).encode()
    return name, payload
