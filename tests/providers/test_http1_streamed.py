"""Streamed request bodies (uploads relayed as they arrive) through the real client and Transport:
framing, flow control, a body that fails its own checks mid-way, an upstream that answers before
the body is whole."""

import asyncio
import hashlib
import os

import pytest
from raw_upstream import RawUpstream, ok, on_both_loops, reply, until

from seawall.config import Timeouts
from seawall.providers.base import UpstreamRequest
from seawall.providers.transport import Transport

T = Timeouts(connect_s=2, read_s=5)


async def chunks(*parts: bytes, pause: float = 0.0):
    for part in parts:
        if pause:
            await asyncio.sleep(pause)
        yield part


def upload(url: str, body, length: int | None) -> UpstreamRequest:
    return UpstreamRequest("POST", url, {"content-type": "multipart/form-data; boundary=x"}, body, length)


@on_both_loops
async def test_a_body_of_known_length_goes_out_as_its_chunks_with_content_length():
    t = Transport()
    try:
        async with RawUpstream(ok) as up:
            resp = await t.open(upload(up.url, chunks(b"first ", b"second ", b"third", pause=0.01), 18), T)
            assert await resp.read() == b'{"ok": true}'
            head, body = up.requests[0]
            assert b"Content-Length: 18\r\n" in head and b"Transfer-Encoding" not in head
            assert body == b"first second third"
            assert await (await t.open(upload(up.url, chunks(b"again"), 5), T)).read() == b'{"ok": true}'
            assert up.accepted == 1  # the connection went back to the pool once the reply was read
    finally:
        await t.close()


@on_both_loops
async def test_a_body_of_unknown_length_is_sent_chunked():
    t = Transport()
    try:
        async with RawUpstream(ok) as up:
            parts = [os.urandom(70_000) for _ in range(5)]
            resp = await t.open(upload(up.url, chunks(*parts), None), T)
            await resp.read()
            head, body = up.requests[0]
            assert b"Transfer-Encoding: chunked\r\n" in head and b"Content-Length" not in head
            assert hashlib.sha256(body).digest() == hashlib.sha256(b"".join(parts)).digest()
    finally:
        await t.close()


@on_both_loops
async def test_a_server_that_reads_nothing_stops_the_body_being_pulled():
    """Flow control: the client pulls the next chunk only when the socket takes it, so an upload
    is never held in the gateway's memory because the upstream is slower than the client."""
    pulled = []

    async def big():
        for i in range(64):
            pulled.append(i)
            yield b"x" * (1 << 20)

    stalled = asyncio.Event()

    async def never_read(reader, writer):
        await stalled.wait()
        writer.close()

    server = await asyncio.start_server(never_read, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    t = Transport()
    try:
        task = asyncio.create_task(t.open(upload(f"http://127.0.0.1:{port}/v1/audio/transcriptions", big(),
                                                 64 << 20), T))
        await asyncio.sleep(0.5)
        assert 0 < len(pulled) < 24, f"{len(pulled)} MB pulled while the server read nothing"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        stalled.set()
        server.close()
        await t.close()


@on_both_loops
async def test_what_the_body_raises_mid_way_is_raised_and_the_request_is_left_incomplete():
    class Refused(Exception):
        pass

    async def breaking():
        yield b"a" * 1000
        raise Refused("part_too_large")

    t = Transport()
    try:
        async with RawUpstream(ok) as up:
            with pytest.raises(Refused):
                await t.open(upload(up.url, breaking(), 5000), T)
            await until(lambda: up.finished == 1)  # the connection was closed, the body cut at 1000 of 5000
            assert up.requests == []
    finally:
        await t.close()


@on_both_loops
async def test_a_reply_before_the_whole_body_ends_the_sending_and_the_connection():
    async def refuse(n, head, body, writer):
        writer.write(reply(b'{"error": {"message": "too large"}}', "413 Payload Too Large"))
        return True

    sent = []

    async def slow():
        for i in range(50):
            sent.append(i)
            await asyncio.sleep(0.02)
            yield b"y" * 1000

    t = Transport()
    try:
        async with RawUpstream(refuse) as up:
            up.head_only = True
            resp = await t.open(upload(up.url, slow(), 50_000), T)
            assert resp.status == 413
            assert b"too large" in await resp.read()
            assert len(sent) < 50  # it stopped sending when the answer came
            await until(lambda: up.finished == 1)  # a connection whose request was cut is not reused
    finally:
        await t.close()
