"""OpenAI's Responses API as it passes through the gateway: what is read from a `response` object
(its id, the model that served, its usage) and from the typed SSE events of a streamed one.

A stream is `event: response.created`, `response.in_progress`, item and part events, text and
argument deltas, then one of `response.completed`, `response.incomplete` or `response.failed`
(an `error` event may come first). The decoder parses only the lifecycle events (they carry the
response: its id and model first, its usage last) and `error`; everything else, the deltas above
all, is relayed as it came, a run of them in one piece. It remembers what the client has been
shown (the response as `response.created` announced it, how many events were sent), so a stream
the gateway must end can end as the SDK expects: with that response's id (dialects/responses_face.py).
"""

from __future__ import annotations

from seawall.providers.base import IO_USAGE, MalformedReply, Reply, StreamEvent, Usage, reply_json
from seawall.providers.base import read_usage as read_tokens
from seawall.providers.sse import TERMINATOR, SSESplitter, json_event, parse_block

_LIFECYCLE = frozenset({b"response.created", b"response.in_progress", b"response.queued"})
_ENDS = frozenset({b"response.completed", b"response.incomplete", b"response.failed"})
_EVENT = b"event: "


def read_usage(usage: object) -> Usage | None:
    return read_tokens(usage, IO_USAGE)


def read_response(body: bytes) -> Reply:
    """A `response` object's reply: its usage, model and id."""
    data = reply_json(body)
    if not isinstance(data, dict) or data.get("object") != "response" or not isinstance(data.get("id"), str):
        raise MalformedReply(f"a 2xx reply that is not a response object: {body[:120]!r}")
    model = data.get("model")
    return Reply(body, read_usage(data.get("usage")), model if isinstance(model, str) else None,
                 shape="responses", ref=data["id"])


def _kind(block: bytes) -> bytes | None:
    """The event's name from its first line (OpenAI writes `event:` first), without parsing."""
    if block.startswith(_EVENT):
        end = block.find(b"\n")
        return block[len(_EVENT):end] if end > 0 else None
    return None


class ResponsesStreamDecoder:
    """One per stream, not shared. `response`: the response object as the stream announced it
    (None until `response.created`); `events`: data events relayed so far (the next event's
    sequence_number, since OpenAI numbers them from 0)."""

    __slots__ = ("_split", "events", "response")

    def __init__(self) -> None:
        self._split = SSESplitter()
        self.response: dict | None = None
        self.events = 0

    def feed(self, data: bytes) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        plain: list[bytes] = []
        for block in self._split.feed(data):
            kind = _kind(block)
            if kind is not None and kind not in _LIFECYCLE and kind not in _ENDS and kind != b"error":
                plain.append(block)  # a delta or an item event: relayed as it came
                self.events += 1
                continue
            if plain:
                out.append(StreamEvent(TERMINATOR.join(plain) + TERMINATOR))
                plain = []
            event = self._event(block, kind)
            if event is not None:
                out.append(event)
        if plain:
            out.append(StreamEvent(TERMINATOR.join(plain) + TERMINATOR))
        return out

    def _event(self, block: bytes, kind: bytes | None) -> StreamEvent | None:
        raw = block + TERMINATOR
        parsed = parse_block(block)
        if not parsed.data.strip():
            return StreamEvent(raw) if block.strip() else None  # a comment (keep-alive): relayed as is
        self.events += 1
        payload = json_event(parsed.data)
        name = kind.decode() if kind is not None else str(payload.get("type") or "")
        if name == "error":
            return StreamEvent(raw, payload, error={"message": payload.get("message"), "code": payload.get("code"),
                                                    "type": "server_error"})
        response = payload.get("response")
        if name.startswith("response.") and not isinstance(response, dict):
            raise MalformedReply(f"a {name} event without its response: {parsed.data[:80]!r}")
        if name in ("response.created", "response.in_progress", "response.queued"):
            if self.response is None:
                self.response = response
            return StreamEvent(raw, payload, model=response.get("model"))
        if name in ("response.completed", "response.incomplete", "response.failed"):
            failed = response.get("error") if name == "response.failed" else None
            return StreamEvent(raw, payload, terminal=True, usage=read_usage(response.get("usage")),
                               error=(failed if isinstance(failed, dict) else {"message": "the response failed"})
                               if name == "response.failed" else None, model=response.get("model"))
        return StreamEvent(raw, payload)

    @property
    def pending(self) -> bytes:
        return self._split.pending
