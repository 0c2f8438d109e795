"""The shared upstream transport over real HTTP: what it sends and keeps, and how each way an
exchange can fail is reported (kind, detail, the limit that fired)."""

import asyncio
import socket
import ssl
import time

import pytest
from aiohttp import web
from raw_upstream import LAST_CHUNK, SSE_HEAD, RawUpstream, certificates, chunk, ok, on_both_loops, until

from seawall.config import Timeouts
from seawall.providers.base import UpstreamRequest
from seawall.providers.transport import Transport, UpstreamFailure


async def start_upstream(handler, host: str = "127.0.0.1") -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://{host}:{port}/v1/chat/completions"


@on_both_loops
async def test_cookies_an_upstream_sets_never_travel_with_later_requests():
    """A CDN in front of a provider sets cookies; a gateway that kept them would send one
    client's cookies with every other client's requests."""
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("__cf_bm", "client-a-session", path="/")
        return response

    runner, url = await start_upstream(handler, "localhost")  # by name: a cookie jar ignores IP hosts
    transport = Transport()
    try:
        for _ in range(3):
            resp = await transport.open(UpstreamRequest("POST", url, {"content-type": "application/json"}, b"{}"),
                                        Timeouts())
            assert resp.status == 200 and await resp.read() == b'{"ok": true}'
    finally:
        await transport.close()
        await runner.cleanup()
    assert seen == [None, None, None]


@on_both_loops
async def test_a_url_with_a_query_reaches_the_upstream_whole():
    """URLs are parsed once and remembered: the query (Azure's api-version, Gemini's alt=sse)
    must arrive as written, on every request."""
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        return web.json_response({})

    runner, url = await start_upstream(handler)
    transport = Transport()
    try:
        for _ in range(2):
            resp = await transport.open(UpstreamRequest("POST", url + "?api-version=2024-10-21&alt=sse", {}, b"{}"),
                                        Timeouts())
            await resp.read()
    finally:
        await transport.close()
        await runner.cleanup()
    assert seen == ["/v1/chat/completions?api-version=2024-10-21&alt=sse"] * 2


# -- failures, over raw sockets (raw_upstream.py): each kind, its detail and the limit it names ------

async def failure_of(answer, timeouts: Timeouts, stream: bool = False, url: str | None = None) -> UpstreamFailure:
    """The UpstreamFailure a request to `answer` ends with: from open(), or from the body read
    (next_chunk until the end, the idle limit set after the first chunk, when `stream`)."""
    async with RawUpstream(answer) as up:
        transport = Transport()
        try:
            resp = await transport.open(UpstreamRequest("POST", url or up.url, {}, b"{}"), timeouts)
            if not stream:
                await resp.read()
            else:
                assert await resp.next_chunk()
                resp.start_idle_timeout()
                while await resp.next_chunk():
                    pass
        except UpstreamFailure as f:
            return f
        finally:
            await transport.close()
    raise AssertionError("no failure")


@on_both_loops
async def test_a_body_cut_short_is_a_reset():
    async def cut(n, head, body, w):
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        return False

    f = await failure_of(cut, Timeouts())
    assert (f.kind, f.detail, f.limit) == ("reset", "the upstream's body ended before it was complete", None)


@on_both_loops
async def test_a_stream_cut_short_is_a_reset_after_the_bytes_that_came():
    async def cut(n, head, body, w):
        w.write(SSE_HEAD + chunk(b"data: 1\n\n"))
        return False

    async with RawUpstream(cut) as up:
        transport = Transport()
        try:
            resp = await transport.open(UpstreamRequest("POST", up.url, {}, b"{}"), Timeouts())
            await until(lambda: up.finished == 1)
            await asyncio.sleep(0.05)  # the close is in too, behind the chunk
            assert await resp.next_chunk() == b"data: 1\n\n"
            with pytest.raises(UpstreamFailure) as e:
                await resp.next_chunk()
        finally:
            await transport.close()
    assert (e.value.kind, e.value.detail) == ("reset", "the upstream's body ended before it was complete")


@pytest.mark.parametrize("garbage", [b"HELLO WORLD\r\n\r\n", SSE_HEAD + b"zz\r\nnot a chunk size\r\n"],
                         ids=["status line", "chunk size"])
@on_both_loops
async def test_a_reply_that_is_not_http_is_a_reset_that_says_so(garbage):
    async def bad(n, head, body, w):
        w.write(garbage)
        return True

    f = await failure_of(bad, Timeouts())
    assert f.kind == "reset"
    assert f.detail.startswith("the upstream's reply is not valid HTTP: ") and len(f.detail) > 45


async def silent(n, head, body, w):
    await asyncio.sleep(30)
    return False


@on_both_loops
async def test_no_first_byte_within_first_byte_s():
    started = time.monotonic()
    f = await failure_of(silent, Timeouts(connect_s=0.2, first_byte_s=0.3, read_s=5))
    assert (f.kind, f.limit, f.seconds) == ("timeout", "first_byte_s", 0.3)
    assert f.detail == "no first byte for 0.3 s (timeouts.first_byte_s)"
    assert 0.29 <= time.monotonic() - started < 3


@on_both_loops
async def test_first_byte_s_unset_waits_read_s_and_says_so():
    f = await failure_of(silent, Timeouts(connect_s=0.2, read_s=0.3))
    assert (f.kind, f.limit, f.seconds) == ("timeout", "first_byte_s", 0.3)
    assert f.detail == "no first byte for 0.3 s (timeouts.first_byte_s, unset so read_s)"


@on_both_loops
async def test_a_stream_silent_for_read_s_after_its_first_event_is_an_idle_timeout():
    async def stalls(n, head, body, w):
        w.write(SSE_HEAD + chunk(b"data: 1\n\n"))
        await asyncio.sleep(30)
        return False

    started = time.monotonic()
    f = await failure_of(stalls, Timeouts(connect_s=0.2, first_byte_s=10, read_s=0.3), stream=True)
    assert (f.kind, f.limit, f.seconds) == ("timeout", "read_s", 0.3)
    assert f.detail == "no chunk for 0.3 s (timeouts.read_s, the idle timeout)"
    assert 0.29 <= time.monotonic() - started < 3


@on_both_loops
async def test_read_s_bounds_each_silence_not_the_whole_body():
    async def paced(n, head, body, w):
        w.write(SSE_HEAD)
        for i in range(8):  # 0.8 s in all, never silent for 0.3 s
            await asyncio.sleep(0.1)
            w.write(chunk(b"data: %d\n\n" % i))
            await w.drain()
        w.write(LAST_CHUNK)
        return True

    async with RawUpstream(paced) as up:
        transport = Transport()
        try:
            resp = await transport.open(UpstreamRequest("POST", up.url, {}, b"{}"),
                                        Timeouts(connect_s=0.2, read_s=0.3))
            body = await resp.read()
        finally:
            await transport.close()
    assert body.count(b"data: ") == 8


@on_both_loops
async def test_total_s_bounds_the_whole_exchange():
    async def trickle(n, head, body, w):
        w.write(SSE_HEAD)
        for i in range(100):
            await asyncio.sleep(0.05)
            w.write(chunk(b"data: %d\n\n" % i))
            await w.drain()
        return False

    started = time.monotonic()
    f = await failure_of(trickle, Timeouts(connect_s=0.2, read_s=5, total_s=0.4), stream=True)
    assert (f.kind, f.limit, f.seconds) == ("timeout", "total_s", 0.4)
    assert f.detail == "the exchange took longer than 0.4 s (timeouts.total_s)"
    assert 0.39 <= time.monotonic() - started < 3


@on_both_loops
async def test_a_refused_connection_is_connect():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    f = await failure_of(ok, Timeouts(), url=f"http://127.0.0.1:{port}/v1/chat/completions")
    assert f.kind == "connect" and f.limit is None
    assert f.detail.startswith("connection refused or unreachable (")


@on_both_loops
async def test_a_host_name_that_does_not_resolve_is_dns():
    f = await failure_of(ok, Timeouts(), url="http://seawall-test.invalid/v1/chat/completions")  # RFC 2606
    assert f.kind == "dns" and f.detail.startswith("the host name does not resolve (")


@on_both_loops
async def test_a_certificate_that_does_not_verify_is_tls(tmp_path):
    _, cert, key = certificates(tmp_path)  # signed by a CA the system doesn't trust
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    async with RawUpstream(ok, tls=server_tls) as up:
        transport = Transport()
        try:
            with pytest.raises(UpstreamFailure) as e:
                await transport.open(UpstreamRequest("POST", up.url, {}, b"{}"), Timeouts())
        finally:
            await transport.close()
    assert e.value.kind == "tls"
    # the host, who issued what it showed, and what the gateway trusts: what to fix
    assert e.value.detail.startswith("the certificate of 127.0.0.1 (issued by CN=Seawall test CA) does not verify: ")
    assert "the gateway trusts the system's CA certificates" in e.value.detail
