"""Captured requests: what a request sent and got back, for the requests `request_log.capture`
selects (off | failed | all), redacted (decide/redact.py) and cut to a size, kept for a while.

On the request's path nothing is copied or serialized: the context holds references to bytes it
had anyway (the body it read, the reply it sent, a stream's last two writes and the upstream's
last chunk), and the record stage hands the selected ones to the writer as a CaptureSource.
The writer builds the redacted document in its flush, off the request's path.

The document (JSON, what the console, `seawall bundle` and replay read):

    request   {method, path, headers: [[name, value]], body: {text, bytes, truncated}}
    reply     {status, headers, body | null}           what the client got
    stream    {end, events: [...], last_event (the client's: a gateway's error event for a cut
               stream), last_upstream_event, upstream_last_chunk, complete}   streams only
    attempts  [{deployment, status, category, latency_ms, detail,
                request: {method, url, headers, body}, reply: {headers, body | null}}]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import orjson

from seawall.decide.redact import Redactor, sse_events
from seawall.pipeline.context import RequestContext
from seawall.providers.base import AttemptRecord
from seawall.store.base import CaptureRecord

_TAIL_EVENTS = 8  # events of a stream's tail kept under capture: failed (all of them under all)


def selected(mode: str, status: int, stream_end: str | None) -> bool:
    """Whether `request_log.capture` keeps this request: `failed` is an error status, or a stream
    that did not complete (a cut stream answered 200)."""
    if mode == "failed":
        return status >= 400 or (stream_end is not None and stream_end != "completed")
    return mode == "all"


@dataclass(slots=True)
class CaptureSource:
    """References to what one request carried, taken when it is recorded."""

    request_id: str
    ts: float
    key_id: str | None
    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    status: int
    reply_headers: list[tuple[bytes, bytes]] | None
    reply_body: bytes | None
    streamed: bool
    stream_end: str | None
    sent: list[bytes]  # the stream's writes kept: the last two, or all of them under capture: all
    complete: bool  # `sent` is the whole stream
    upstream_last: bytes | None
    attempts: list[AttemptRecord]

    def size(self) -> int:
        """The bytes it holds on to, near enough: what bounds the writer's pending captures."""
        held = len(self.body or b"") + len(self.reply_body or b"") + len(self.upstream_last or b"")
        held += sum(len(b) for b in self.sent)
        return held + sum(len(a.request.body) + len(a.reply_body or b"") for a in self.attempts if a.request)


def source_of(ctx: RequestContext) -> CaptureSource:
    if ctx.stream_log is not None:
        sent, complete = ctx.stream_log, True
    else:
        sent, complete = [b for b in (ctx.prev_sent, ctx.last_sent) if b is not None], False
    return CaptureSource(ctx.request_id, ctx.received_at, ctx.principal.key_id if ctx.principal else None,
                         ctx.method, ctx.path, ctx.headers, ctx.body, ctx.status, ctx.reply_headers, ctx.reply_body,
                         ctx.streamed, ctx.stream_end, sent, complete, ctx.upstream_last, ctx.attempts)


class CaptureBuilder:
    """Turns CaptureSources into stored records: redacted, bodies cut at `max_body_bytes`."""

    def __init__(self, redactor: Redactor, max_body_bytes: int):
        self.redactor, self.cap = redactor, max_body_bytes

    def build(self, src: CaptureSource) -> CaptureRecord:
        doc = {"v": 1,
               "request": {"method": src.method, "path": src.path, "headers": self.redactor.headers(src.headers.items()),
                           "body": self._body(src.body)},
               "reply": {"status": src.status, "headers": self._headers(src.reply_headers),
                         "body": self._body(src.reply_body)},
               "stream": self._stream(src) if src.streamed else None,
               "attempts": [self._attempt(a) for a in src.attempts]}
        return CaptureRecord(src.request_id, src.ts, src.key_id, orjson.dumps(doc).decode())

    def _body(self, raw: bytes | None) -> dict | None:
        return None if raw is None else self.redactor.body(raw, self.cap)

    def _headers(self, raw: Iterable[tuple[bytes, bytes]] | None) -> list[list[str]]:
        if raw is None:
            return []
        return self.redactor.headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in raw)

    def _stream(self, src: CaptureSource) -> dict:
        text = self.redactor.stream(b"".join(src.sent).decode("utf-8", "replace"))
        events = sse_events(text)
        kept = events if src.complete else events[-_TAIL_EVENTS:]
        while kept and sum(len(e) for e in kept) > self.cap and len(kept) > 1:
            kept = kept[1:]  # the newest events matter most: the start goes first
        upstream = self._body(src.upstream_last)
        upstream_events = sse_events(upstream["text"]) if upstream else []
        return {"end": src.stream_end, "complete": src.complete and len(kept) == len(events),
                "events": kept, "last_event": events[-1] if events else None,
                "last_upstream_event": upstream_events[-1] if upstream_events else None,
                "upstream_last_chunk": upstream}

    def _attempt(self, a: AttemptRecord) -> dict:
        up = a.request
        request = None if up is None else {
            "method": up.method, "url": self.redactor.text(without_userinfo(up.url)),
            "headers": self.redactor.headers(up.headers.items()), "body": self._body(up.body)}
        headers = a.reply_headers
        return {"deployment": a.deployment, "status": a.status, "category": a.category, "latency_ms": a.latency_ms,
                "upstream_request_id": a.upstream_request_id, "detail": self.redactor.text(a.detail),
                "request": request,
                "reply": {"headers": self.redactor.headers(headers.items()) if headers is not None else [],
                          "body": self._body(a.reply_body)}}


def without_userinfo(url: str) -> str:
    """user:password@ in a base_url is a credential too."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit((parts.scheme, f"[redacted]@{host}", parts.path, parts.query, parts.fragment))
