"""Egress: render a reply, a stream or an error in the client's dialect (seawall/dialects).

Errors use the dialect's envelope, so its official SDK raises the right class with Seawall's
message, plus the request ID, `hint` (what to check first) and `category` (the taxonomy). Streams
are relayed event by event as they arrive (translated per event when the upstream is of another
vendor than the client; passed through as they came when it is of the same); a stream that
breaks after the first byte ends with an error event the SDK raises on, never with silence or a
fake `finish_reason`.
"""

from __future__ import annotations

import asyncio
import logging

from seawall.decide.classify import classify_reply
from seawall.decide.disclosure import client_view
from seawall.decide.timeouts import fired_values
from seawall.dialects import DIALECTS, OPENAI
from seawall.dialects.base import ClientDialect
from seawall.errors import CHECK_FIRST, SeawallError
from seawall.pipeline.attempt import Relaying, Streaming
from seawall.pipeline.context import RequestContext
from seawall.providers.base import MalformedReply, StreamEvent
from seawall.providers.transport import UpstreamFailure

log = logging.getLogger("seawall")

JSON = (b"content-type", b"application/json")
_SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no")]  # tell nginx-style proxies not to buffer the stream


def base_headers(ctx: RequestContext, extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(b"x-request-id", ctx.request_id.encode()), *extra]



async def send_json(send, ctx: RequestContext, status: int, body: bytes,
                    headers: list[tuple[bytes, bytes]]) -> None:
    ctx.status = status
    ctx.reply_headers = sent = base_headers(ctx, [JSON, (b"content-length", str(len(body)).encode()), *headers])
    ctx.reply_body = body
    await send({"type": "http.response.start", "status": status, "headers": sent})
    await send({"type": "http.response.body", "body": body})
    ctx.finished = True
    if ctx.ttfb_ms is None:
        ctx.ttfb_ms = ctx.elapsed_ms()


def face_of(ctx: RequestContext) -> ClientDialect:
    """The client's dialect: the request's own when it has one (Responses), else the shared one."""
    return ctx.face or DIALECTS[ctx.dialect]


async def send_error(send, ctx: RequestContext, err: SeawallError, headers: list[tuple[bytes, bytes]]) -> None:
    ctx.category, ctx.error_code = err.category, err.provider_code or err.code
    err = client_view(err, ctx.error_detail)  # the log above keeps what the client may not see
    extra = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in err.headers.items()]
    status, body = face_of(ctx).error_body(err, ctx.request_id)
    await send_json(send, ctx, status, body, headers + extra)


def stream_error_event(err: SeawallError, ctx: RequestContext) -> bytes:
    """The client dialect's terminal error event, whether its stream was translated or passed through."""
    return face_of(ctx).error_event(client_view(err, ctx.error_detail), ctx.request_id)


async def relay_stream(send, ctx: RequestContext, stream: Streaming, headers: list[tuple[bytes, bytes]]) -> None:
    """Relay the upstream stream to the client; always end with a terminal event."""
    wants_usage = ctx.request.client_wants_usage if ctx.request else False
    label = stream.target.label
    cut = None  # an UpstreamFailure when one of the gateway's own limits ended the stream
    last = None  # the upstream's last chunk, kept for a captured stream (one reference per chunk)
    try:  # from the first await on: a cancellation anywhere must close the upstream and free the slot
        ctx.streamed, ctx.status = True, 200
        ctx.reply_headers = sent = base_headers(ctx, _SSE_HEADERS + headers)
        await send({"type": "http.response.start", "status": 200, "headers": sent})
        if not stream.first:
            data = last = await _first_chunk_keeping_alive(send, ctx, stream)
            stream.response.start_idle_timeout()  # first_byte_s is met: read_s bounds the silences from here
            if data and await _forward(send, ctx, stream.decoder.feed(data), wants_usage):
                await stream.response.finish()
                return
        elif await _forward(send, ctx, stream.first, wants_usage):
            await stream.response.finish()
            return
        while data := await stream.response.next_chunk():
            last = data
            if await _forward(send, ctx, stream.decoder.feed(data), wants_usage):
                await stream.response.finish()
                return
        end, detail = "interrupted", "the upstream closed the stream without its end event"
    except UpstreamFailure as f:
        end = "stalled" if f.kind == "timeout" else "interrupted"
        detail = f.detail  # an idle timeout's names read_s and its value
        cut = f if f.limit in ("first_byte_s", "total_s") else None
    except MalformedReply as e:
        end, detail = "interrupted", str(e)
    except BaseException:  # the client left (cancellation) or the gateway failed: drop the upstream
        stream.response.close()
        raise
    finally:
        stream.release()  # the deployment gate's slot (pipeline/gate.py), whichever way the stream ended
        ctx.upstream_last = last if last is not None else stream.raw
    stream.response.close()
    ctx.stream_end = end
    err = SeawallError("stream_interrupted", {"deployment": label, "detail": detail},
                       category_override=f"stream.{end}")
    if cut is not None:
        ctx.stream_end, err = stream_timeout(stream, cut)
    ctx.category, ctx.error_code = err.category, err.code
    event = stream_error_event(err, ctx)
    ctx.prev_sent, ctx.last_sent = ctx.last_sent, event  # a captured stream's tail ends with it
    await send({"type": "http.response.body", "body": event})  # and the body's end
    ctx.finished = True


def withheld_event(category: str, ctx: RequestContext) -> bytes:
    """An upstream's in-stream error event as server.upstream_error_detail shows it, in the
    stream's own shape: canonical when a translator renders the stream in the client's dialect,
    else the client's dialect itself (OpenAI's, or a vendor's passed through)."""
    err = client_view(SeawallError("upstream_error", {"message": "", "hint": CHECK_FIRST.get(category, "")},
                                   status_override=500, category_override=category), ctx.error_detail)
    return (OPENAI if ctx.translator is not None else face_of(ctx)).error_event(err, ctx.request_id)


# Of a relayed reply's headers, what says what the bytes are (the rest is the upstream's own).
_RELAYED_HEADERS = ("content-type", "content-disposition")
_USAGE_HEAD = 1 << 20  # a JSON reply's first bytes kept to read its usage (a transcript's JSON is KBs)


async def relay_bytes(send, ctx: RequestContext, relay: Relaying, headers: list[tuple[bytes, bytes]]) -> None:
    """Relay a reply as bytes as they arrive (speech while it is spoken, a transcript), with the
    upstream's content type. Cut short, it stays cut: audio has no error event, and a complete-
    looking end would pass half an answer as whole; the connection is closed instead."""
    response = relay.response
    ctype = response.content_type
    kept: list[bytes] | None = [] if ctype == "application/json" else None
    size = 0
    try:
        ctx.status = 200
        await send({"type": "http.response.start", "status": 200,
                    "headers": base_headers(ctx, relayed_headers(response, _RELAYED_HEADERS) + headers)})
        while data := await response.next_chunk():
            if ctx.ttfb_ms is None:
                ctx.ttfb_ms = ctx.elapsed_ms()
            ctx.chunks += 1
            if kept is not None and size < _USAGE_HEAD:
                kept.append(data)
            size += len(data)
            await send({"type": "http.response.body", "body": data, "more_body": True})
    except UpstreamFailure as f:
        response.close()
        ctx.stream_end = "stalled" if f.kind == "timeout" else "interrupted"
        ctx.category, ctx.error_code = f"stream.{ctx.stream_end}", "stream_interrupted"
        log.warning("request %s: the reply from %s was cut (%s); the client's connection is closed, not ended as "
                    "if whole", ctx.request_id, relay.target.label, f.detail)
        return  # the response left incomplete: the server closes the connection
    except BaseException:
        response.close()
        raise
    finally:
        relay.release()
    await send({"type": "http.response.body", "body": b""})
    ctx.finished = True
    ctx.stream_end = "completed" if ctx.streamed else None
    ctx.usage = relay.usage(ctype, b"".join(kept) if kept else b"")


def relayed_headers(response, names: tuple[str, ...]) -> list[tuple[bytes, bytes]]:
    """The upstream reply's `names`, and its length unless the transport decoded its body (a
    compressed reply: the bytes relayed are not the ones its length counts)."""
    out = [(name.encode(), response.headers[name].encode("latin-1")) for name in names if name in response.headers]
    if "content-length" in response.headers and "content-encoding" not in response.headers:
        out.append((b"content-length", response.headers["content-length"].encode("latin-1")))
    return out


def stream_timeout(stream: Streaming, cut: UpstreamFailure) -> tuple[str, SeawallError]:
    """The request-log mark and the terminal error for a stream ended by first_byte_s (only
    keep-alives were sent: upstream.timeout) or total_s (stream.interrupted: see errors.py)."""
    values = fired_values(cut.limit, cut.seconds, stream.target.route, stream.target.label)
    if cut.limit == "total_s":
        return "total_timeout", SeawallError("stream_total_timeout", values)
    return "first_byte_timeout", SeawallError("gateway_timeout", values)


async def _first_chunk_keeping_alive(send, ctx: RequestContext, stream: Streaming) -> bytes:
    """Wait for the upstream's first bytes, sending a keep-alive comment at once (keepalive_s of
    silence has passed already) and every keepalive_s after."""
    interval = stream.target.spec.timeouts.keepalive_s
    keepalive = face_of(ctx).keepalive  # a form the client's SDK skips
    while True:
        await send({"type": "http.response.body", "body": keepalive, "more_body": True})
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
            if not ended:
                ctx.stream_end = "upstream_error"
                # An in-stream error arrives at HTTP 200; classify its body as a server-side failure.
                cls = classify_reply(500, {}, {"error": ev.error})
                ctx.category, ctx.error_code = cls.category, cls.provider_code or "stream_error"
                out.append(ev.raw if ctx.error_detail == "full" else withheld_event(cls.category, ctx))
            elif ctx.error_detail == "full":  # what came with it (Responses: error, then response.failed)
                out.append(ev.raw)
            ended = True
            if ev.terminal:
                break
            continue  # what came with it may still end the stream (Responses: error, then response.failed)
        if ended:
            if ev.terminal:
                out.append(ev.raw)
                break
            continue
        if ev.usage_only and not wants_usage:
            continue
        out.append(ev.raw)
        if ev.terminal:
            ctx.stream_end = "completed"
            ended = True
            break
    if out:
        body = b"".join(out)
        ctx.chunks += body.count(b"data:")  # plain content events arrive joined in one raw block
        if ctx.translator is not None:
            body = ctx.translator.feed(body)
        if ctx.ttfb_ms is None:
            ctx.ttfb_ms = ctx.elapsed_ms()
        ctx.prev_sent, ctx.last_sent = ctx.last_sent, body
        if ctx.stream_log is not None:
            ctx.stream_log.append(body)
        # The last events and the body's end in one write (one syscall, one segment).
        await send({"type": "http.response.body", "body": body, "more_body": not ended})
    elif ended:
        await send({"type": "http.response.body", "body": b""})
    if ended:
        ctx.finished = True  # the client has it all: a disconnect from here on is not news
    return ended
