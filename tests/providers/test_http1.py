"""The upstream HTTP/1.1 client over real sockets: what it sends, when it reuses a connection and
when it must not, how a reply's body arrives. The servers (raw_upstream.py) write every byte by
hand; the client is the real one, through the Transport the pipeline uses."""

import asyncio
import contextlib
import gc
import hashlib
import ssl

import pytest
from raw_upstream import LAST_CHUNK, SSE_HEAD, RawUpstream, certificates, chunk, ok, on_both_loops, reply, until

from seawall import __version__
from seawall.config import Timeouts
from seawall.providers.http1_client import Client
from seawall.providers.base import UpstreamRequest
from seawall.providers.transport import Transport, UpstreamFailure

T = Timeouts(connect_s=2, read_s=5)
STANDARD = b"Accept-Encoding: identity\r\nUser-Agent: seawall/%s\r\n" % __version__.encode()


def post(url: str, body: bytes = b'{"model": "m"}') -> UpstreamRequest:
    return UpstreamRequest("POST", url, {"content-type": "application/json"}, body)


@contextlib.asynccontextmanager
async def transport(**kwargs):
    t = Transport(**kwargs)
    try:
        yield t
    finally:
        await t.close()


async def get(t: Transport, url: str) -> bytes:
    resp = await t.open(post(url), T)
    return await resp.read()


# -- what is sent -----------------------------------------------------------------------------------

@on_both_loops
async def test_a_request_is_its_line_host_the_given_headers_and_content_length():
    """Host, Accept-Encoding: identity (replies stay uncompressed), who is calling, the caller's
    headers; no cookies; the query as written; the body framed by its length."""
    async with RawUpstream(ok) as up, transport() as t:
        headers = {"content-type": "application/json", "authorization": "Bearer k"}
        resp = await t.open(UpstreamRequest("POST", up.url + "?api-version=2024-10-21&alt=sse", headers,
                                            b'{"a": 1}'), T)
        assert await resp.read() == b'{"ok": true}'
    head, body = up.requests[0]
    assert head == (b"POST /v1/chat/completions?api-version=2024-10-21&alt=sse HTTP/1.1\r\n"
                    b"Host: 127.0.0.1:%d\r\nAccept-Encoding: identity\r\nUser-Agent: seawall/%s\r\n"
                    b"content-type: application/json\r\nauthorization: Bearer k\r\n"
                    b"Content-Length: 8\r\n\r\n" % (up.port, __version__.encode()))
    assert body == b'{"a": 1}'


@on_both_loops
async def test_a_get_without_a_body_has_no_content_length():
    async with RawUpstream(ok) as up, transport() as t:
        resp = await t.open(UpstreamRequest("GET", up.url, {"x-key": "k"}, b""), T)
        await resp.read()
    assert up.requests[0][0] == (b"GET /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%sx-key: k\r\n\r\n"
                                 % (up.port, STANDARD))


@on_both_loops
async def test_the_callers_host_replaces_ours_and_its_framing_is_ignored():
    async with RawUpstream(ok) as up, transport() as t:
        resp = await t.open(UpstreamRequest("POST", up.url, {"Host": "api.example", "content-length": "99"}, b"{}"), T)
        await resp.read()
    assert up.requests[0] == (b"POST /v1/chat/completions HTTP/1.1\r\n%sHost: api.example\r\nContent-Length: 2\r\n\r\n"
                              % STANDARD, b"{}")


@on_both_loops
async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent():
    async with RawUpstream(ok) as up, transport() as t:
        with pytest.raises(ValueError, match="line break"):
            await t.open(UpstreamRequest("POST", up.url, {"x-key": "k\r\nx-injected: 1"}, b"{}"), T)
    assert up.accepted == 0


# -- keep-alive ---------------------------------------------------------------------------------------

@on_both_loops
async def test_two_requests_one_connection():
    async with RawUpstream(ok) as up, transport() as t:
        assert await get(t, up.url) == b'{"ok": true}'
        assert await get(t, up.url) == b'{"ok": true}'
    assert (up.accepted, len(up.requests)) == (1, 2)


@on_both_loops
async def test_a_stream_read_to_its_end_or_finished_frees_its_connection():
    async def stream(n, head, body, w):
        w.write(SSE_HEAD + chunk(b"data: 1\n\n") + chunk(b"data: [DONE]\n\n") + LAST_CHUNK)
        return True

    async with RawUpstream(stream) as up, transport() as t:
        resp = await t.open(post(up.url), T)
        parts = []
        while data := await resp.next_chunk():
            parts.append(data)
        assert b"".join(parts) == b"data: 1\n\ndata: [DONE]\n\n"
        resp = await t.open(post(up.url), T)
        assert await resp.next_chunk()
        await resp.finish(1.0)  # what relay_stream does after the terminal event
        resp = await t.open(post(up.url), T)
        resp.release()
    assert (up.accepted, len(up.requests)) == (1, 3)


@on_both_loops
async def test_connection_close_is_honoured():
    """The server says it will close but keeps the socket open: reusing it would hang."""
    async def closing(n, head, body, w):
        w.write(reply(headers="Connection: close\r\n"))
        return True  # the socket stays open

    async with RawUpstream(closing) as up, transport() as t:
        await get(t, up.url)
        await get(t, up.url)
    assert up.accepted == 2


@on_both_loops
async def test_an_http_1_0_reply_without_keep_alive_is_not_reused():
    async def old(n, head, body, w):
        w.write(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        return True

    async with RawUpstream(old) as up, transport() as t:
        assert await get(t, up.url) == b"{}"
        assert await get(t, up.url) == b"{}"
    assert up.accepted == 2


@on_both_loops
async def test_a_connection_the_server_closed_while_idle_is_replaced():
    async def once(n, head, body, w):
        w.write(reply())
        return False  # then close, as servers do after their keep-alive timeout

    async with RawUpstream(once) as up, transport() as t:
        await get(t, up.url)
        await until(lambda: up.finished == 1)
        await asyncio.sleep(0.05)
        assert await get(t, up.url) == b'{"ok": true}'
    assert up.accepted == 2


@on_both_loops
async def test_a_reused_connection_closed_as_the_request_went_out_is_retried_once_on_a_fresh_one():
    """The close crossed the request: nothing came back, so sending it again is safe."""
    async def close_second(n, head, body, w):
        if n == 1:
            return False  # close without a byte of reply
        w.write(reply())
        return True

    async with RawUpstream(close_second) as up, transport() as t:
        await get(t, up.url)
        assert await get(t, up.url) == b'{"ok": true}'
    assert (up.accepted, len(up.requests)) == (2, 3)


@on_both_loops
async def test_a_fresh_connection_closed_without_a_reply_is_not_retried():
    async def never(n, head, body, w):
        return False

    async with RawUpstream(never) as up, transport() as t:
        with pytest.raises(UpstreamFailure) as e:
            await get(t, up.url)
    assert (e.value.kind, e.value.detail) == ("reset", "the upstream closed the connection")
    assert len(up.requests) == 1


@on_both_loops
async def test_a_reply_that_had_begun_is_never_sent_again():
    async def cut_second(n, head, body, w):
        w.write(reply() if n == 0 else b"HTTP/1.1 200 OK\r\n")
        return n == 0

    async with RawUpstream(cut_second) as up, transport() as t:
        await get(t, up.url)
        with pytest.raises(UpstreamFailure) as e:
            await get(t, up.url)
    assert e.value.kind == "reset"
    assert len(up.requests) == 2


@on_both_loops
async def test_idle_connections_expire():
    async with RawUpstream(ok) as up:
        client = Client(keepalive_s=0.2)
        try:
            resp = await client.request("POST", up.url, {}, b"{}", 2, 5)
            await resp.read()
            await until(lambda: up.finished == 1)  # closed by the client while idle
            resp = await client.request("POST", up.url, {}, b"{}", 2, 5)
            await resp.read()
        finally:
            await client.close()
    assert up.accepted == 2


@on_both_loops
async def test_the_pool_holds_at_most_pool_size_connections():
    async def slow(n, head, body, w):
        await asyncio.sleep(0.1)
        w.write(reply())
        return True

    async with RawUpstream(slow) as up, transport(pool_size=2) as t:
        bodies = await asyncio.gather(*(get(t, up.url) for _ in range(5)))
    assert bodies == [b'{"ok": true}'] * 5
    assert up.accepted == 2


@on_both_loops
async def test_waiting_longer_than_connect_s_for_a_pool_slot_says_the_pool_is_full():
    """The gateway's own limit, named with the origin and the size, not a network problem."""
    hold = asyncio.Event()

    async def held(n, head, body, w):
        await hold.wait()
        w.write(reply())
        return True

    async with RawUpstream(held) as up, transport(pool_size=1) as t:
        first = asyncio.create_task(get(t, up.url))
        await until(lambda: len(up.requests) == 1)
        with pytest.raises(UpstreamFailure) as e:
            await t.open(post(up.url), Timeouts(connect_s=0.2, read_s=5))
        hold.set()
        assert await first == b'{"ok": true}'
    assert (e.value.kind, e.value.limit, e.value.seconds) == ("pool", "connect_s", 0.2)
    assert e.value.detail == f"all 1 connections to http://127.0.0.1:{up.port} stayed busy for 0.2 s"
    assert e.value.setting == "network.pool_size"


# -- cancellation: the client left ------------------------------------------------------------------

@on_both_loops
async def test_a_request_cancelled_before_its_reply_closes_its_connection():
    release = asyncio.Event()

    async def slow_first(n, head, body, w):
        if n == 0:
            await release.wait()
        w.write(reply())
        return True

    async with RawUpstream(slow_first) as up, transport() as t:
        task = asyncio.create_task(get(t, up.url))
        await until(lambda: len(up.requests) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()  # the reply comes after all: it must not be taken for the next request's
        assert await get(t, up.url) == b'{"ok": true}'
        await until(lambda: up.finished == 1)
    assert up.accepted == 2


@on_both_loops
async def test_a_read_cancelled_mid_body_closes_its_connection():
    async def half(n, head, body, w):
        if n == 0:
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
            await asyncio.sleep(10)
        w.write(reply())
        return True

    async with RawUpstream(half) as up, transport() as t:
        resp = await t.open(post(up.url), T)
        task = asyncio.create_task(resp.read())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await get(t, up.url) == b'{"ok": true}'
    assert up.accepted == 2


@on_both_loops
async def test_a_reply_dropped_unread_closes_its_connection():
    async def half(n, head, body, w):
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        return True

    async with RawUpstream(half) as up, transport() as t:
        resp = await t.open(post(up.url), T)
        del resp
        gc.collect()
        await until(lambda: up.finished == 1)  # not left open, holding a slot of the pool


@on_both_loops
async def test_a_wait_for_the_next_chunk_can_be_given_up_without_losing_bytes():
    """Egress and the attempt stage time a wait out by cancelling next_chunk: the bytes that come
    later must still be read, and the connection kept."""
    go = asyncio.Event()

    async def paced(n, head, body, w):
        w.write(SSE_HEAD)
        await w.drain()
        await go.wait()
        w.write(chunk(b"data: 1\n\n") + LAST_CHUNK)
        return True

    async with RawUpstream(paced) as up, transport() as t:
        resp = await t.open(post(up.url), T)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(resp.next_chunk(), 0.05)
        go.set()
        assert await resp.next_chunk() == b"data: 1\n\n"
        assert await resp.next_chunk() == b""
        resp = await t.open(post(up.url), T)
        await resp.read()
    assert up.accepted == 1


# -- the body -----------------------------------------------------------------------------------------

@on_both_loops
async def test_a_chunked_stream_arrives_chunk_by_chunk():
    go_on = asyncio.Event()

    async def stream(n, head, body, w):
        w.write(SSE_HEAD + chunk(b"data: 1\n\n"))
        await w.drain()
        await go_on.wait()  # the rest only once the client has had the first
        w.write(chunk(b"data: 2\n\n") + LAST_CHUNK)
        return True

    async with RawUpstream(stream) as up, transport() as t:
        resp = await t.open(post(up.url), T)
        assert resp.status == 200 and resp.content_type == "text/event-stream"
        assert await asyncio.wait_for(resp.next_chunk(), 2) == b"data: 1\n\n"
        go_on.set()
        assert await resp.next_chunk() == b"data: 2\n\n"
        assert await resp.next_chunk() == b""


@on_both_loops
async def test_headers_are_case_insensitive_and_the_content_type_bare():
    async def typed(n, head, body, w):
        w.write(reply(b"{}", headers="X-Request-ID: req_1\r\n", content_type="Application/JSON; charset=utf-8")
                if n == 0 else b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        return True

    async with RawUpstream(typed) as up, transport() as t:
        resp = await t.open(post(up.url), T)
        assert (resp.headers["x-request-id"], resp.headers["X-REQUEST-ID"]) == ("req_1", "req_1")
        assert resp.content_type == "application/json"
        await resp.read()
        resp = await t.open(post(up.url), T)
        assert (resp.status, resp.content_type, await resp.read()) == (404, "application/octet-stream", b"")


@on_both_loops
async def test_an_interim_100_continue_is_skipped_and_a_204_has_no_body():
    async def interim(n, head, body, w):
        if n == 0:
            w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await w.drain()
            await asyncio.sleep(0.05)  # apart from the real reply, as a server that thinks would send it
            w.write(reply())
        else:
            w.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        return True

    async with RawUpstream(interim) as up, transport() as t:
        resp = await t.open(post(up.url), T)
        assert (resp.status, await resp.read()) == (200, b'{"ok": true}')
        resp = await t.open(post(up.url), T)
        assert (resp.status, await resp.read()) == (204, b"")
        await get(t, up.url)
    assert up.accepted == 1


@on_both_loops
async def test_a_second_reply_to_one_request_is_not_taken_for_the_next_ones():
    async def twice(n, head, body, w):
        w.write(reply(b'{"n": 1}') + reply(b'{"n": 2}') if n == 0 else reply(b'{"n": 3}'))
        return True

    async with RawUpstream(twice) as up, transport() as t:
        assert await get(t, up.url) == b'{"n": 1}'
        assert await get(t, up.url) == b'{"n": 3}'
    assert up.accepted == 2


@on_both_loops
async def test_a_body_without_a_length_ends_where_the_server_closes():
    async def until_close(n, head, body, w):
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello, ")
        await w.drain()
        w.write(b"world")
        return False

    async with RawUpstream(until_close) as up, transport() as t:
        assert await get(t, up.url) == b"hello, world"
        assert await get(t, up.url) == b"hello, world"
    assert up.accepted == 2


@on_both_loops
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_large_body_held_back_by_a_slow_reader_arrives_whole(framing):
    """Past 64 KiB unread the socket is no longer read: the reader gets bounded pieces, and every
    byte, in order."""
    payload = hashlib.sha256(b"seed").digest() * (5 * 1024 * 1024 // 32)  # 5 MiB

    async def large(n, head, body, w):
        if framing == "chunked":
            w.write(SSE_HEAD)
            for i in range(0, len(payload), 100_000):
                w.write(chunk(payload[i:i + 100_000]))
            w.write(LAST_CHUNK)
        else:
            w.write(reply(payload, content_type="application/octet-stream"))
        return True

    async with RawUpstream(large) as up, transport() as t:
        resp = await t.open(post(up.url), T)
        parts = [await resp.next_chunk()]
        await asyncio.sleep(0.3)  # a slow client: the upstream has long sent everything
        while data := await resp.next_chunk():
            parts.append(data)
        assert b"".join(parts) == payload
        assert max(len(p) for p in parts) < 1024 * 1024  # never the whole body at once
        await get(t, up.url)  # and the connection, paused on the way, is reusable
    assert up.accepted == 1


@on_both_loops
async def test_tls_with_keep_alive(tmp_path):
    ca, cert, key = certificates(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)

    async def stream(n, head, body, w):
        w.write(SSE_HEAD + chunk(b"data: 1\n\n") + chunk(b"data: [DONE]\n\n") + LAST_CHUNK)
        return True

    async with RawUpstream(stream, tls=server_tls) as up:
        client = Client(tls=ssl.create_default_context(cafile=ca))
        try:
            for _ in range(2):
                resp = await client.request("POST", up.url, {}, b"{}", 2, 5)
                assert await resp.read() == b"data: 1\n\ndata: [DONE]\n\n"
        finally:
            await client.close()
    assert (up.accepted, len(up.requests)) == (1, 2)
