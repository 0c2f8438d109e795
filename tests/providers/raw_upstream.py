"""A bare HTTP/1.1 server over a real socket, for the transport's tests. Every reply is written
by hand, byte for byte, so a test can send what no well-behaved server would (a cut body, a reply
that is not HTTP, a close at the wrong moment) and count the connections the client opens."""

from __future__ import annotations

import asyncio
import functools
import inspect
import ssl
import time
from collections.abc import Awaitable, Callable

import pytest
import uvloop
from certs import certificates  # noqa: F401 - the transport tests' certificates

# answer(n, head, body, writer) writes the reply to the n-th request (counted over all
# connections, from 0); it returns False to close the connection afterwards.
Answer = Callable[[int, bytes, bytes, asyncio.StreamWriter], Awaitable[bool]]


class RawUpstream:
    def __init__(self, answer: Answer, tls: ssl.SSLContext | None = None):
        self.answer, self.tls = answer, tls
        self.accepted = 0  # connections accepted
        self.finished = 0  # connections over (either side closed)
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body) as received (a chunked body decoded)
        self.head_only = False  # answer each request on its head, its body unread
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> RawUpstream:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/v1/chat/completions"
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        for writer in self._writers:
            writer.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length, chunked = 0, False
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                    elif name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
                        chunked = True
                if self.head_only:  # answer on the head, before reading any body
                    self.requests.append((head, b""))
                    if not await self.answer(len(self.requests) - 1, head, b"", writer):
                        break
                    await writer.drain()
                    continue
                body = await read_chunked(reader) if chunked else await reader.readexactly(length)
                self.requests.append((head, body))
                if not await self.answer(len(self.requests) - 1, head, body, writer):
                    break
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # the client closed the connection
        finally:
            self.finished += 1
            writer.close()


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
        if size == 0:
            return b"".join(parts)


def reply(body: bytes = b'{"ok": true}', status: str = "200 OK", headers: str = "",
          content_type: str = "application/json") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
            .encode() + body)


SSE_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
LAST_CHUNK = b"0\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def ok(n: int, head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(reply())
    return True


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait for something the server or the client does on its own time."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


_LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


def on_both_loops(test):
    """Run an async test on asyncio's loop and on uvloop's, the gateway's (its clock counts
    milliseconds, its transports are its own). A plain function to pytest, so the test's
    fixtures and parameters are its own and no conftest hook changes every other test's loop."""
    @functools.wraps(test)
    def run(loop, *args, **kwargs):
        with asyncio.Runner(loop_factory=_LOOPS[loop]) as runner:
            runner.run(test(*args, **kwargs))

    params = list(inspect.signature(test).parameters.values())
    run.__signature__ = inspect.Signature([inspect.Parameter("loop", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                                           *params])
    del run.__wrapped__  # pytest reads the signature above, not the coroutine's
    return pytest.mark.parametrize("loop", list(_LOOPS))(run)
