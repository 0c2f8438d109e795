"""Accepting connections: every one waiting, each time the listening socket is ready.

libuv, under uvloop, accepts one connection per turn of the event loop (since libuv 1.45: "unix:
don't accept() connections in a loop", libuv PR #3696), trusting the next poll to report the
rest. Under load a turn lasts tens of milliseconds, so a burst of new connections drains from the
kernel's accept queue one per turn: 128 connections opened at once beside 128 busy streams took
0.7–1.0 s to be accepted (strace: one accept4 per turn, never an EAGAIN), and their first
requests, waiting in the queue, were the slowest 1 % (bench/tail.py, docs/benchmark.md "Tail
latency"). Here, as asyncio's own selector loop does, a ready listener is drained up to BATCH
connections at once, and each is handed to the loop as an accepted socket.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable

log = logging.getLogger("seawall.accept")

BATCH = 512  # connections taken per readiness; more wait for the next turn (the listener stays ready)
RETRY_S = 1.0  # out of file descriptors or memory: stop accepting this long (asyncio's ACCEPT_RETRY_DELAY)
_SHORT_OF = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


class Listener:
    """Accepts on `sock` (listening, non-blocking) into `protocol_factory`'s protocols."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 protocol_factory: Callable[[], asyncio.Protocol]):
        self.loop, self.sock, self.protocol_factory = loop, sock, protocol_factory
        self.handing: set[asyncio.Task] = set()  # connections being set up (a task holds no reference)
        self.retry: asyncio.TimerHandle | None = None
        self.closed = False

    def start(self) -> None:
        self.retry = None
        self.loop.add_reader(self.sock.fileno(), self._accept)

    async def close(self) -> None:
        """Stop accepting, and let the connections taken finish setting up, so that a drain that
        follows finds them all (the socket stays the caller's to close)."""
        if not self.closed:
            self.closed = True
            if self.retry is not None:
                self.retry.cancel()
            else:
                self.loop.remove_reader(self.sock.fileno())
        if self.handing:
            await asyncio.gather(*self.handing)

    def _accept(self) -> None:
        for _ in range(BATCH):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in _SHORT_OF:  # the queue keeps them; a ready listener would spin meanwhile
                    log.error("cannot accept connections (%s): pausing %g s; raise the open-file limit or "
                              "lower the load", e.strerror, RETRY_S)
                    self.loop.remove_reader(self.sock.fileno())
                    self.retry = self.loop.call_later(RETRY_S, self.start)
                    return
                continue  # the client gave up before it was accepted (ECONNABORTED): the next one
            conn.setblocking(False)
            task = self.loop.create_task(self._hand_over(conn))
            self.handing.add(task)
            task.add_done_callback(self.handing.discard)

    async def _hand_over(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self.protocol_factory, conn)
        except Exception:
            log.exception("could not set up an accepted connection")
            conn.close()


def listen(server, sockets: list[socket.socket]) -> list[Listener]:
    """Listeners on `sockets` for a uvicorn.Server that has started without them: its protocols,
    made as uvicorn's own listener makes them."""
    config = server.config

    def protocol() -> asyncio.Protocol:
        return config.http_protocol_class(config=config, server_state=server.server_state,
                                          app_state=server.lifespan.state)

    loop = asyncio.get_running_loop()
    listeners = [Listener(loop, sock, protocol) for sock in sockets]
    for listener in listeners:
        listener.start()
    return listeners
