"""Egress: render a reply, a stream or an error in the client's dialect (OpenAI's, for now).

Errors use OpenAI's envelope, so the official SDKs raise the right class with Seawall's message,
plus `request_id`, `hint` (what to check first) and `category` (the taxonomy). Streams are relayed
event by event as they arrive; a stream that breaks after the first byte ends with an error event
the SDK raises on, never with silence or a fake `finish_reason`.
"""

from __future__ import annotations

import asyncio

import orjson

from seawall.decide.classify import classify_reply
from seawall.errors import SeawallError
from seawall.pipeline.attempt import Streaming
from seawall.pipeline.context import RequestContext
from seawall.providers.base import MalformedReply, StreamEvent
from seawall.providers.transport import UpstreamFailure

JSON = (b"content-type", b"application/json")
_SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no")]  # tell nginx-style proxies not to buffer the stream


def base_headers(ctx: RequestContext, extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(b"x-request-id", ctx.request_id.encode()), *extra]


def error_payload(err: SeawallError, request_id: str) -> dict:
    return {"error": {"message": err.message, "type": err.type, "param": err.param,
                      "code": err.provider_code or err.code, "request_id": request_id, "hint": err.hint,
                      "category": err.category}}


async def send_json(send, ctx: RequestContext, status: int, body: bytes,
                    headers: list[tuple[bytes, bytes]]) -> None:
    ctx.status = status
    await send({"type": "http.response.start", "status": status,
                "headers": base_headers(ctx, [JSON, (b"content-length", str(len(body)).encode()), *headers])})
    await send({"type": "http.response.body", "body": body})
    ctx.finished = True
    if ctx.ttfb_ms is None:
        ctx.ttfb_ms = ctx.elapsed_ms()


async def send_error(send, ctx: RequestContext, err: SeawallError, headers: list[tuple[bytes, bytes]]) -> None:
    ctx.category, ctx.error_code = err.category, err.provider_code or err.code
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in err.headers.items()]
    await send_json(send, ctx, err.status, orjson.dumps(error_payload(err, ctx.request_id)), headers + extra)


def stream_error_event(err: SeawallError, request_id: str) -> bytes:
    return b"data: " + orjson.dumps(error_payload(err, request_id)) + b"\n\n"


async def relay_stream(send, ctx: RequestContext, stream: Streaming, headers: list[tuple[bytes, bytes]]) -> None:
    """Relay the upstream stream to the client; always end with a terminal event."""
    ctx.streamed, ctx.status = True, 200
    await send({"type": "http.response.start", "status": 200, "headers": base_headers(ctx, _SSE_HEADERS + headers)})
    wants_usage = ctx.request.client_wants_usage if ctx.request else False
    label = stream.target.label
    try:
        if not stream.first:
            data = await _first_chunk_keeping_alive(send, stream)
            if data and await _forward(send, ctx, stream.decoder.feed(data), wants_usage):
                await stream.response.finish()
                return
        elif await _forward(send, ctx, stream.first, wants_usage):
            await stream.response.finish()
            return
        while data := await stream.response.next_chunk():
            if await _forward(send, ctx, stream.decoder.feed(data), wants_usage):
                await stream.response.finish()
                return
        end, detail = "interrupted", "the upstream closed the stream without its end event"
    except UpstreamFailure as f:
        end = "stalled" if f.kind == "timeout" else "interrupted"
        detail = f"no chunk for {stream.target.spec.timeouts.read_s:g} s" if end == "stalled" else f.detail
    except MalformedReply as e:
        end, detail = "interrupted", str(e)
    except BaseException:  # the client left (cancellation) or the gateway failed: drop the upstream
        stream.response.close()
        raise
    stream.response.close()
    ctx.stream_end = end
    err = SeawallError("stream_interrupted", {"deployment": label, "detail": detail},
                       category_override=f"stream.{end}")
    ctx.category, ctx.error_code = err.category, err.code
    await send({"type": "http.response.body", "body": stream_error_event(err, ctx.request_id), "more_body": True})
    await send({"type": "http.response.body", "body": b""})
    ctx.finished = True


KEEPALIVE = b": keep-alive\n\n"  # an SSE comment: clients skip it, proxies see traffic


async def _first_chunk_keeping_alive(send, stream: Streaming) -> bytes:
    """Wait for the upstream's first bytes, sending a keep-alive comment at once (keepalive_s of
    silence has passed already) and every keepalive_s after."""
    interval = stream.target.spec.timeouts.keepalive_s
    while True:
        await send({"type": "http.response.body", "body": KEEPALIVE, "more_body": True})
        try:
            return await asyncio.wait_for(stream.response.next_chunk(), interval)
        except TimeoutError:
            pass


async def _forward(send, ctx: RequestContext, events: list[StreamEvent], wants_usage: bool) -> bool:
    """Send a batch of events in one write; True once the stream has ended."""
    out = []
    ended = False
    for ev in events:
        if ev.usage is not None:
            ctx.usage = ev.usage
        if ev.model and ctx.model_served is None:
            ctx.model_served = ev.model
        if ev.error is not None:
            out.append(ev.raw)
            ctx.stream_end = "upstream_error"
            # An in-stream error arrives at HTTP 200; classify its body as a server-side failure.
            cls = classify_reply(500, {}, {"error": ev.error})
            ctx.category, ctx.error_code = cls.category, cls.provider_code or "stream_error"
            ended = True
            break
        if ev.usage_only and not wants_usage:
            continue
        out.append(ev.raw)
        if ev.terminal:
            ctx.stream_end = "completed"
            ended = True
            break
    if out:
        if ctx.ttfb_ms is None:
            ctx.ttfb_ms = ctx.elapsed_ms()
        await send({"type": "http.response.body", "body": b"".join(out), "more_body": True})
    if ended:
        await send({"type": "http.response.body", "body": b""})
        ctx.finished = True  # the client has it all: a disconnect from here on is not news
    return ended
