"""One HTTP exchange: the request's facts and every way of answering it, faults included.

``Exchange`` turns decisions (a body, an error, stream events, a fault) into ASGI messages.
Body faults apply to successful replies only: ``malformed`` truncates the JSON but completes
the HTTP message; ``cut_after`` declares the full length (or streams), sends part and drops the
connection; ``stall_after`` sends part and then nothing, keeping the connection open.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import replace

import orjson

from seawall.simulator import wire
from seawall.simulator.config import ModelSpec
from seawall.simulator.dialects.base import ErrorReply
from seawall.simulator.dialects.edge import html_page
from seawall.simulator.dialects.openai import ApiError, stream_error_event
from seawall.simulator.faults import DEFAULT_AFTER, NO_FAULT, Fault, parse_fault
from seawall.simulator.headers import (
    Header,
    new_cf_ray,
    new_request_id,
    ratelimit_headers,
    retry_headers,
)
from seawall.simulator.state import SimState

JSON = b"application/json"
EVENT_STREAM = b"text/event-stream; charset=utf-8"
# Where the providers and relays the simulator plays read a key (the echo_auth fault repeats them).
CREDENTIAL_HEADERS = frozenset({b"authorization", b"x-api-key", b"api-key", b"x-goog-api-key", b"mj-api-secret"})


class Exchange:
    """Created per request and used by that request's task only."""

    __slots__ = (
        "_watcher",
        "authorization",
        "credentials",
        "content_type",
        "fault",
        "fault_header",
        "host",
        "method",
        "model",
        "outcome",
        "path",
        "query",
        "receive",
        "request_id",
        "send",
        "started",
        "state",
    )

    def __init__(self, state: SimState, scope: dict, receive: wire.Receive, send: wire.Send) -> None:
        self.state = state
        self.receive = receive
        self.send = send
        self.started = time.monotonic()
        self.request_id = new_request_id()
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query: bytes = scope.get("query_string", b"")
        self.host = "api.openai.com"
        self.authorization: str | None = None
        self.fault_header: str | None = None
        self.credentials: list[tuple[bytes, bytes]] = []
        self.content_type: str | None = None
        for name, value in scope["headers"]:
            if name in CREDENTIAL_HEADERS:
                self.credentials.append((name, value))
            if name == b"authorization":
                self.authorization = value.decode("latin-1")
            elif name == b"x-sim-fault":
                self.fault_header = value.decode("latin-1")
            elif name == b"host":
                self.host = value.decode("latin-1")
            elif name == b"content-type":
                self.content_type = value.decode("latin-1")
        self.model: ModelSpec | None = None  # whose rate-limit buckets the headers show
        self.fault: Fault = NO_FAULT
        self.outcome = "ok"
        self._watcher: asyncio.Future[None] | None = None

    # --- headers -----------------------------------------------------------------------------

    def headers(self, content_type: bytes, length: int | None, extra: Sequence[Header] = ()) -> list[Header]:
        state = self.state
        out = [(b"content-type", content_type)]
        if length is not None:
            out.append((b"content-length", b"%d" % length))
        out.append((b"x-request-id", self.request_id.encode()))
        out.append((b"openai-processing-ms", b"%d" % int((time.monotonic() - self.started) * 1000)))
        out.extend(state.static_headers)
        model_id = self.model.id if self.model is not None else None
        out.extend(ratelimit_headers(state.limiter.snapshot(model_id, state.limits_for(self.model), time.monotonic())))
        if self.fault is not NO_FAULT:
            out.extend(retry_headers(self.fault))
        out.extend(extra)
        out.append((b"cf-ray", new_cf_ray().encode()))
        return out

    # --- plain replies -----------------------------------------------------------------------

    async def _start(self, status: int, headers: list[Header]) -> None:
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def _body(self, body: bytes, more: bool = False) -> None:
        await self.send({"type": "http.response.body", "body": body, "more_body": more})

    async def reply(self, body: bytes, status: int = 200, content_type: bytes = JSON) -> None:
        """A complete reply; a success reply suffers the exchange's body fault, if any."""
        fault = self.fault
        if status < 300 and fault is not NO_FAULT:
            if fault.malformed:
                self.outcome = "fault:malformed"
                body = body[: len(body) // 2]
            elif fault.cut_after is not None or fault.stall_after is not None:
                await self._partial(body, status, content_type)
                return
        await self._start(status, self.headers(content_type, len(body)))
        await self._body(body)
        if status >= 300:
            self.outcome = str(status)

    async def _partial(self, body: bytes, status: int, content_type: bytes) -> None:
        cut = self.fault.cut_after is not None
        count = self.fault.cut_after if cut else self.fault.stall_after
        await self._start(status, self.headers(content_type, len(body)))
        await self._body(body[:count], more=True)
        if cut:
            self.outcome = "fault:cut"
            wire.drop(self.send)
        else:
            self.outcome = "fault:stall"
        await self.until_gone()

    async def reply_error(self, error: ErrorReply | ApiError) -> None:
        if isinstance(error, ApiError):
            error = error.reply()
        if self.fault.echo_auth:
            error = echoed(error, self.credentials)
        await self._start(error.status, self.headers(error.content_type, len(error.body), error.headers))
        await self._body(error.body)
        self.outcome = str(error.status)

    async def reply_html(self, status: int) -> None:
        """A CDN page: only the CDN's headers, none of the provider's."""
        page = html_page(status, self.host.split(":")[0], new_cf_ray())
        headers = [(b"content-type", page.content_type), (b"content-length", b"%d" % len(page.body)), *page.headers]
        await self._start(status, headers)
        await self._body(page.body)
        self.outcome = "fault:html"

    # --- connection-level behaviour ----------------------------------------------------------

    async def until_gone(self) -> None:
        if self._watcher is not None:
            await self._watcher
        else:
            await wire.wait_for_disconnect(self.receive)

    async def reset(self) -> None:
        self.outcome = "fault:reset"
        wire.reset(self.send)
        await self.until_gone()

    async def hang(self) -> None:
        self.outcome = "fault:hang"
        await self.until_gone()

    # --- streams -----------------------------------------------------------------------------

    async def stream(self, events: list[bytes], interval: float, content_type: bytes = EVENT_STREAM) -> None:
        """Send SSE events (or any body's chunks: ``content_type``) one ASGI message each, so
        each reaches the socket as produced, ``interval`` seconds apart, applying the stream
        faults."""
        fault = self.fault
        await self._start(200, self.headers(content_type, None))
        if interval > 0 or fault.think_ms:
            # Paced streams watch for the client leaving, so a long stream to nobody stops.
            self._watcher = asyncio.ensure_future(wire.wait_for_disconnect(self.receive))
        try:
            if fault.think_ms:  # headers are out; the first event waits, as a model thinks
                assert self._watcher is not None
                await asyncio.wait((self._watcher,), timeout=fault.think_ms / 1000)
                if self._watcher.done():
                    self.outcome = "disconnected"
                    return
            await self._stream_events(events, interval, fault)
        finally:
            if self._watcher is not None:
                self._watcher.cancel()

    async def _stream_events(self, events: list[bytes], interval: float, fault: Fault) -> None:
        after = fault.after if fault.after is not None else DEFAULT_AFTER
        stamp = self.state.settings.stamp_events
        for index, event in enumerate(events):
            if fault.cut_after is not None and index >= fault.cut_after:
                self.outcome = "fault:cut"
                wire.drop(self.send)
                await self.until_gone()
                return
            if fault.stall_after is not None and index >= fault.stall_after:
                await self.hang()
                self.outcome = "fault:stall"
                return
            if fault.stream_error is not None and index == min(after, len(events) - 1):
                self.outcome = "fault:stream_error"
                await self._body(stream_error_event(fault.stream_error))
                return
            if fault.malformed and index == min(after, len(events) - 1):
                self.outcome = "fault:malformed"
                event = event[: len(event) // 2] + b"\n\n"
            if index and interval > 0:
                assert self._watcher is not None
                await asyncio.wait((self._watcher,), timeout=interval)
                if self._watcher.done():
                    self.outcome = "disconnected"
                    return
            if stamp:
                event = stamped(event)
            await self._body(event, more=True)
        await self._body(b"")


def stamped(event: bytes) -> bytes:
    """The event with its send time as its JSON object's first field (settings.stamp_events)."""
    at = event.find(b"data: {")
    if at < 0:
        return event
    at += len(b"data: {")
    comma = b"" if event[at:at + 1] == b"}" else b","
    return b"%s\"x_sim_sent_ns\":%d%s%s" % (event[:at], time.monotonic_ns(), comma, event[at:])


async def take_fault(exchange: Exchange, model: str | None, invalid_fault) -> bool:
    """Steps 1-3 of app.py's order, the same for every dialect: the fault (the x-sim-fault header,
    else the script's first rule that fires), the latency, and the edge faults a provider never
    sees (reset, hang, an HTML page). `invalid_fault(message)` is the dialect's reply to a bad
    header. False when the exchange has been answered."""
    state = exchange.state
    if exchange.fault_header is not None:
        try:
            exchange.fault = parse_fault(exchange.fault_header)
        except ValueError as exc:
            await exchange.reply_error(invalid_fault(str(exc)))
            return False
    elif state.script.rules:
        exchange.fault = state.script.pick(model, exchange.path) or exchange.fault
    fault = exchange.fault
    delay = state.settings.latency_ms + fault.latency_ms
    if delay > 0:
        await asyncio.sleep(delay / 1000)
    if fault.reset:
        await exchange.reset()
        return False
    if fault.hang:
        await exchange.hang()
        return False
    if fault.html is not None:
        await exchange.reply_html(fault.html)
        return False
    return True


def echoed(error: ErrorReply, credentials: list[tuple[bytes, bytes]]) -> ErrorReply:
    """The error with the request's credential headers repeated in its message, as relays that
    echo Authorization in their errors do ("invalid token: Bearer sk-…")."""
    told = "; ".join(f"{n.decode('latin-1')}: {v.decode('latin-1')}" for n, v in credentials) or "no credentials"
    try:
        body = orjson.loads(error.body)
    except orjson.JSONDecodeError:
        return replace(error, body=error.body + f" (request had {told})".encode())
    holder = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), dict) else body
    field = next((f for f in ("message", "description") if isinstance(holder, dict) and f in holder), None)
    if field is None:
        return error
    holder[field] = f"{holder[field]} (request had {told})"
    return replace(error, body=orjson.dumps(body))
