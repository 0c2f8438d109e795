"""OpenAI's dialect, spoken by OpenAI itself and by OpenAI-compatible gateways (new-api, one-api,
OpenRouter, vLLM, …) and by Seawall's simulator.

Canonical form *is* this dialect, so requests pass with the model id swapped, and replies and
stream events pass byte for byte; the adapter only reads what the gateway needs to know (usage,
the model that served, how a stream ended) on the way through.
"""

from __future__ import annotations

import orjson

from seawall.config import ResolvedDeployment
from seawall.decide.classify import read_error_fields
from seawall.providers.base import (
    CanonicalRequest,
    ErrorBody,
    MalformedReply,
    Reply,
    StreamEvent,
    UpstreamRequest,
    Usage,
)
from seawall.providers.sse import TERMINATOR, SSESplitter, data_of, error_of, json_event

_PATHS = {"chat": "/chat/completions", "embeddings": "/embeddings"}
_DONE = b"[DONE]"
# A content chunk as OpenAI writes it (compact JSON) says so in bytes; such a chunk can carry no
# usage, finish reason or error, so it is relayed without being parsed. Anything else (another
# server's spacing included) is parsed. Parsing every chunk cost ~5 % of a stream's CPU.


class OpenAIProvider:
    name = "openai"
    supports = frozenset({"chat", "embeddings"})

    def build_request(self, req: CanonicalRequest, target: ResolvedDeployment,
                      ask_usage: bool = True) -> UpstreamRequest:
        body = dict(req.body)
        body["model"] = target.spec.model
        if req.stream and ask_usage:
            # Ask for the usage chunk even when the client didn't, so usage settles exactly;
            # egress drops that chunk again for clients that did not ask for it.
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True
            body["stream_options"] = options
        headers = {"content-type": "application/json", "accept": "text/event-stream" if req.stream
                   else "application/json"}
        if target.api_key:
            headers["authorization"] = "Bearer " + target.api_key
        headers.update(target.spec.headers)
        return UpstreamRequest("POST", target.base_url + _PATHS[req.operation], headers, orjson.dumps(body))

    def read_reply(self, req: CanonicalRequest, body: bytes) -> Reply:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise MalformedReply(f"not JSON ({e.msg} at byte {e.pos}): {body[:80]!r}") from None
        expected = "choices" if req.operation == "chat" else "data"
        if not isinstance(data, dict) or not isinstance(data.get(expected), list):
            raise MalformedReply(f"a 2xx reply without '{expected}': {body[:120]!r}")
        return Reply(body, read_usage(data.get("usage")), data.get("model"))

    def stream_decoder(self) -> OpenAIStreamDecoder:
        return OpenAIStreamDecoder()

    def read_error(self, status: int, body: bytes) -> ErrorBody:
        f = read_error_fields(body)
        param = None
        if f.parsed:
            try:
                err = orjson.loads(body).get("error")
                param = err.get("param") if isinstance(err, dict) else None
            except (orjson.JSONDecodeError, AttributeError):
                pass
        message = f.message or f"HTTP {status} with {'an empty body' if f.is_empty else 'no error message'}"
        return ErrorBody(message, f.type or None, f.code or None, param, body)


class OpenAIStreamDecoder:
    """`data: {chunk}` events, ending with `data: [DONE]`; a `data: {"error": …}` event is an
    in-stream failure at HTTP 200 (provider-errors.md §1.5). Consecutive plain content events come
    back as one StreamEvent whose `raw` holds them all, relayed in one piece."""

    __slots__ = ("_seen_model", "_split")

    def __init__(self) -> None:
        self._split = SSESplitter()
        self._seen_model = False

    def feed(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        plain: list[bytes] = []
        seen_model = self._seen_model
        for block in self._split.feed(data):
            # The common case first, with no SSE parsing: one compact `data: {…}` line.
            if seen_model and block.startswith(b"data: {") and b"\n" not in block and _is_plain_content(block):
                plain.append(block)
                continue
            payload = data_of(block).strip()
            if not payload or (seen_model and _is_plain_content(payload)):
                if block.strip():
                    plain.append(block)  # content, or a comment-only keep-alive: relayed as is
                continue
            if plain:
                out.append(StreamEvent(TERMINATOR.join(plain) + TERMINATOR))
                plain = []
            out.append(self._event(block, payload))
            seen_model = self._seen_model
        if plain:
            out.append(StreamEvent(TERMINATOR.join(plain) + TERMINATOR))
        return out

    def _event(self, block: bytes, payload: bytes) -> StreamEvent:
        raw = block + TERMINATOR
        if payload == _DONE:
            return StreamEvent(raw, terminal=True)
        chunk = json_event(payload)
        error = error_of(chunk)
        if error is not None:
            return StreamEvent(raw, chunk, error=error)
        choices = chunk.get("choices") or []
        finish = choices[0].get("finish_reason") if choices and isinstance(choices[0], dict) else None
        self._seen_model = True
        return StreamEvent(raw, chunk, usage=read_usage(chunk.get("usage")), finish_reason=finish,
                           usage_only=not choices and chunk.get("usage") is not None, model=chunk.get("model"))

    @property
    def pending(self) -> bytes:
        return self._split.pending


def _is_plain_content(payload: bytes) -> bool:
    """True when the chunk provably has no usage, finish reason or error (see _PLAIN_MARKS)."""
    if b'"error"' in payload or b'"finish_reason":null' not in payload:
        return False
    return b'"usage"' not in payload or b'"usage":null' in payload


def read_usage(usage: object) -> Usage | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return Usage(prompt if isinstance(prompt, int) else 0, completion if isinstance(completion, int) else 0)
