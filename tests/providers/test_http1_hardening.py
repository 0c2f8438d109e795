"""What real upstreams and networks do to the client, over real sockets: huge header blocks,
addresses that hang, compressed replies it did not ask for, a connection closed after the
request was read. Each of these misbehaved before (issue 19)."""

import asyncio
import gzip
import socket
import time
import zlib

import brotli
import pytest
from raw_upstream import LAST_CHUNK, RawUpstream, chunk, on_both_loops, reply

from seawall.config import Timeouts, default_settings, resolve_secrets
from seawall.providers import dial
from seawall.providers.base import UpstreamRequest
from seawall.providers.transport import Transport, UpstreamFailure
from seawall.pipeline.attempt import transport_error

T = Timeouts(connect_s=2, read_s=5)


def post(url: str) -> UpstreamRequest:
    return UpstreamRequest("POST", url, {"content-type": "application/json"}, b"{}")


def with_head(size: int, body: bytes = b'{"ok": true}') -> bytes:
    pad = "".join(f"X-Pad-{i}: {'p' * 990}\r\n" for i in range(size // 1000))
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{pad}Content-Length: {len(body)}\r\n\r\n"
            .encode() + body)


# -- header blocks ----------------------------------------------------------------------------------

@on_both_loops
async def test_a_200_kb_header_block_is_read_and_the_connection_reused():
    """It used to pause the socket at 64 KB with no reader to resume it: the request hung and held
    its pool slot for good."""
    async def big(n, head, body, w):
        w.write(with_head(200_000))
        return True

    async with RawUpstream(big) as up:
        t = Transport()
        try:
            for _ in range(2):
                resp = await asyncio.wait_for(t.open(post(up.url), T), 3)
                assert len(resp.headers) > 190 and await resp.read() == b'{"ok": true}'
        finally:
            await t.close()
    assert up.accepted == 1


@on_both_loops
async def test_a_header_block_past_the_cap_is_malformed_at_once():
    async def huge(n, head, body, w):
        w.write(with_head(1_000_000))
        return True

    async with RawUpstream(huge) as up:
        t = Transport()
        started = time.monotonic()
        try:
            with pytest.raises(UpstreamFailure) as e:
                await asyncio.wait_for(t.open(post(up.url), T), 3)
        finally:
            await t.close()
    assert (e.value.kind, e.value.detail) == (
        "malformed", "the upstream's reply can't be read: its status line and headers are longer than 256 KB")
    assert time.monotonic() - started < 2  # not a timeout


# -- happy eyeballs and DNS -------------------------------------------------------------------------

@pytest.fixture
def hanging_and_working():
    """127.0.0.2:P drops connection attempts (its accept queue is full), 127.0.0.1:P accepts."""
    stuck = socket.socket()
    stuck.bind(("127.0.0.2", 0))
    stuck.listen(0)
    port = stuck.getsockname()[1]
    filler = socket.create_connection(("127.0.0.2", port))  # fills the queue: later SYNs are dropped
    good = socket.socket()
    good.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    good.bind(("127.0.0.1", port))
    good.listen(16)
    yield port
    for s in (filler, stuck, good):
        s.close()


@on_both_loops
async def test_an_address_that_hangs_does_not_hold_up_the_next(hanging_and_working):
    """RFC 8305: the second address is tried 250 ms after the first, not after connect_s."""
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    sock = await asyncio.wait_for(dial.happy_eyeballs(loop, [(socket.AF_INET, "127.0.0.2"),
                                                             (socket.AF_INET, "127.0.0.1")], hanging_and_working), 5)
    took = time.monotonic() - started
    assert sock.getpeername() == ("127.0.0.1", hanging_and_working)
    sock.close()
    assert 0.2 <= took < 2


def test_addresses_alternate_families_starting_with_the_resolvers_first():
    v6, v4 = socket.AF_INET6, socket.AF_INET
    got = dial.interleave([(v6, "::1"), (v6, "::2"), (v4, "1.1.1.1"), (v6, "::3"), (v4, "2.2.2.2")])
    assert got == [(v6, "::1"), (v4, "1.1.1.1"), (v6, "::2"), (v4, "2.2.2.2"), (v6, "::3")]


@on_both_loops
async def test_dns_answers_are_kept_then_dropped_after_a_failed_connect():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once this closes
    loop = asyncio.get_running_loop()
    where = dial.Addresses("localhost", port, ttl_s=30)
    first = await where.get(loop)
    assert await where.get(loop) is first  # within the TTL: not asked again
    with pytest.raises(dial.ConnectFailed):
        await dial.direct(loop, where)
    assert await where.get(loop) is not first  # asked again after the failure


# -- compressed replies -----------------------------------------------------------------------------

BODY = b'{"choices": [{"message": {"content": "' + b"hello " * 500 + b'"}}]}'
CODINGS = {"gzip": gzip.compress(BODY), "deflate": zlib.compress(BODY), "br": brotli.compress(BODY),
           "deflate-raw": zlib.compress(BODY, wbits=-zlib.MAX_WBITS)}  # what some servers send as deflate


@on_both_loops
@pytest.mark.parametrize("coding", CODINGS)
async def test_a_compressed_reply_is_decoded(coding):
    data = CODINGS[coding]
    name = coding.removesuffix("-raw")

    async def compressed(n, head, body, w):
        w.write(reply(data, headers=f"Content-Encoding: {name}\r\n"))
        return True

    async with RawUpstream(compressed) as up:
        t = Transport()
        try:
            resp = await t.open(post(up.url), T)
            assert await resp.read() == BODY
            assert await (await t.open(post(up.url), T)).read() == BODY  # and again on the same connection
        finally:
            await t.close()
    assert up.accepted == 1


@on_both_loops
async def test_a_gzipped_stream_arrives_decoded_chunk_by_chunk():
    events = [b"data: {\"n\": %d}\n\n" % i for i in range(3)] + [b"data: [DONE]\n\n"]
    z = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    parts = [z.compress(e) + z.flush(zlib.Z_SYNC_FLUSH) for e in events] + [z.flush()]

    async def stream(n, head, body, w):
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        for p in parts:
            w.write(chunk(p))
            await w.drain()
            await asyncio.sleep(0.02)
        w.write(LAST_CHUNK)
        return True

    async with RawUpstream(stream) as up:
        t = Transport()
        try:
            resp = await t.open(post(up.url), T)
            got = []
            while data := await resp.next_chunk():
                got.append(data)
        finally:
            await t.close()
    assert got == events


@on_both_loops
async def test_an_encoding_the_client_cannot_read_is_malformed_by_name():
    async def zstd(n, head, body, w):
        w.write(reply(b"(zstd bytes)", headers="Content-Encoding: zstd\r\n"))
        return True

    async with RawUpstream(zstd) as up:
        t = Transport()
        try:
            with pytest.raises(UpstreamFailure) as e:
                await t.open(post(up.url), T)
        finally:
            await t.close()
    assert e.value.kind == "malformed" and "compressed with 'zstd'" in e.value.detail


@on_both_loops
async def test_a_corrupt_compressed_body_is_malformed():
    async def corrupt(n, head, body, w):
        w.write(reply(b"\x1f\x8b\x08\x00garbage-not-gzip", headers="Content-Encoding: gzip\r\n"))
        return True

    async with RawUpstream(corrupt) as up:
        t = Transport()
        try:
            resp = await t.open(post(up.url), T)
            with pytest.raises(UpstreamFailure) as e:
                await resp.read()
        finally:
            await t.close()
    assert e.value.kind == "malformed"


# -- never billed twice ---------------------------------------------------------------------------------

@on_both_loops
async def test_a_reused_connection_closed_after_the_request_was_waited_on_is_not_resent():
    """The server read the POST and closed 0.5 s later without a reply: it may have run (and
    billed) the completion, so the request is not sent again; the attempt loop decides."""
    async def read_then_drop(n, head, body, w):
        if n == 1:
            await asyncio.sleep(0.5)
            return False
        w.write(reply())
        return True

    async with RawUpstream(read_then_drop) as up:
        t = Transport()
        try:
            await (await t.open(post(up.url), T)).read()
            with pytest.raises(UpstreamFailure) as e:
                await t.open(post(up.url), T)
        finally:
            await t.close()
    assert e.value.kind == "reset"
    assert len(up.requests) == 2


# -- the gateway's own pool -------------------------------------------------------------------------------

def test_a_full_pool_is_explained_as_the_gateways_limit_not_the_network():
    target = resolve_secrets(default_settings(), {}, "http://127.0.0.1:1/v1")["gpt-4o-mini"][0]
    failure = UpstreamFailure("pool", "all 10 connections to https://api.openai.com:443 stayed busy for 10 s",
                              "connect_s", 10, setting="network.pool_size")
    err = transport_error(target, failure)
    assert (err.code, err.status, err.category) == ("upstream_pool_full", 503, "capacity.queue_full")
    assert "all 10 connections to https://api.openai.com:443" in err.message
    assert "network.pool_size" in err.hint and "DNS" not in err.hint and "firewall" not in err.hint
    assert err.headers["retry-after"] == "1"
