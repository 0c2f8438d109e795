"""The upstream HTTP/1.1 client's connection: one socket, one exchange at a time, on an asyncio
Protocol. http1_pool.py keeps these per origin, http1_client.py is what the transport calls.

Written by hand because the general-purpose client cost too much: aiohttp's client took ~165 µs
of CPU per streamed request (a loop of pooled keep-alive POSTs to a local nginx, 8 concurrent,
pinned to one core), about a third of the gateway's whole per-request CPU, which kept it short of
its throughput target. A client that does only what upstream calls need costs a fraction of that
(bench/client_cost.py measures the two side by side). The parsing is httptools' (llhttp, in C),
not ours: this module, http1_pool.py and http1_client.py frame requests, pool connections, queue body bytes and
keep the clocks.

- A request is the request line, Host, Accept-Encoding: identity, User-Agent: seawall/<version>,
  the caller's headers and Content-Length, in one write: no cookies; a redirect is a reply like
  any other. A streamed body (an upload relayed as it arrives) follows its head chunk by chunk,
  with Content-Length when its size is known, else chunked, paced by the socket's flow control. HEAD is not supported (the parser can't be told that no body follows). A body
  compressed all the same is decoded as it is read (encoding.py).
- The reply's body is queued as the parser hands it over (its on_body is a list's append: no
  Python call per chunk). Past _HIGH_WATER unread body bytes the socket is not read until the
  reader has caught up. The status line and headers never pause it (nobody reads them before
  they are whole); past _MAX_HEAD they are refused.
- One timer per connection bounds the silence between reads (first_byte_s until
  set_read_limit(), then its value) and the whole exchange (total_s). Bytes arriving only note the
  time; the timer, when it fires early, re-arms itself for what is left, and an idle connection's
  fires once and stops.
- The connection is reusable only once the reply was read to its end (the parser's message
  complete) and the server did not ask to close; anything else (a cut, a timeout, a reader that
  gave up or was cancelled) closes it.

Failures raise the HTTPFailure classes below; providers/transport.py turns them into UpstreamFailures.
"""

from __future__ import annotations

import asyncio
import socket

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

# Unread body bytes before the socket stops being read (aiohttp's read buffer limit too, 2**16).
_HIGH_WATER = 64 * 1024
# A reply's status line and headers, at most. Precedents: curl refuses a header block past 300 KB
# (MAX_HTTP_RESP_HEADER_SIZE), Cloudflare's and nginx's proxies stop far below; provider replies
# carry a few KB.
_MAX_HEAD = 256 * 1024
# Timers may fire up to a clock tick early (uvloop's clock counts milliseconds).
_EARLY = 0.001


class HTTPFailure(Exception):
    """No usable exchange. The subclasses say what went wrong."""


class ConnectFailed(HTTPFailure):
    """The connection could not be made: refused, unreachable (os_error says which)."""

    def __init__(self, os_error: OSError):
        super().__init__(str(os_error))
        self.os_error = os_error


class NameNotResolved(ConnectFailed):
    """The host name does not resolve."""


class TLSFailed(ConnectFailed):
    """The TLS handshake failed (a certificate that does not verify, a protocol mismatch).
    `host`: the name checked; `trusts`: the CAs it was checked against; `issuer`: who signed the
    certificate the server showed, when it could be read."""

    def __init__(self, os_error: OSError, host: str = "", trusts: str = "", issuer: str | None = None):
        super().__init__(os_error)
        self.host, self.trusts, self.issuer = host, trusts, issuer


class ConnectTimedOut(HTTPFailure):
    """No connection, or no free slot in the pool, within connect_s."""


class ReadTimedOut(HTTPFailure):
    """No byte of the reply within the per-read limit."""


class TotalTimedOut(HTTPFailure):
    """The whole exchange took longer than its limit."""


class Disconnected(HTTPFailure):
    """The connection ended before the reply did. `in_body`: the headers had come; `os_error`:
    the reset, when the OS reported one; `silent`: not one byte of the reply had come; `waited`:
    seconds from sending the request to the end."""

    def __init__(self, in_body: bool, os_error: BaseException | None, silent: bool, waited: float = 0.0):
        super().__init__(str(os_error) if os_error else "closed")
        self.in_body, self.os_error, self.silent, self.waited = in_body, os_error, silent, waited


class BadReply(HTTPFailure):
    """The reply is not valid HTTP (the parser's reason)."""


class Unreadable(BadReply):
    """The reply is HTTP the client won't read: a header block past _MAX_HEAD, a body in an
    encoding it can't decode."""


class Exchange:
    """One request's reply as it arrives: status, raw headers (name, value, name, value...), the
    queued body, the end or the failure. While the connection is attached (`conn`), `chunks` is
    the connection's own list, which the parser appends to."""

    __slots__ = ("chunks", "conn", "done", "error", "head_done", "loop", "raw", "size", "status", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop, self.conn = loop, None
        self.raw: list[bytes] = []
        self.status, self.head_done, self.done, self.error = 0, False, False, None
        self.chunks: list[bytes] = []
        self.size = 0  # bytes read from the socket since the reader last took the queue
        self.waiter: asyncio.Future | None = None

    def fail(self, exc: HTTPFailure) -> None:
        if self.error is None and not self.done:
            self.error = exc

    def wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def wait(self) -> None:
        """Until the connection has news. Cancellable without losing any: bytes stay queued."""
        self.waiter = w = self.loop.create_future()
        try:
            await w
        finally:
            self.waiter = None

    def take(self) -> bytes:
        chunks = self.chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.size = 0
        conn = self.conn
        if conn is not None and conn.paused:
            conn.resume()
        return data

    def delimited(self) -> bool:
        """Whether the body has an end of its own; if not, the server's close is its end."""
        return self.status in (204, 304) or any(n.lower() in (b"content-length", b"transfer-encoding")
                                                for n in self.raw[::2])


class Connection(asyncio.Protocol):
    """One socket to an origin and the exchange on it (one at a time: no pipelining). The parser
    calls back into it; it wakes the exchange's reader once per read from the socket. `pool` is
    told when the connection is reusable (put) and when it is gone (lost)."""

    __slots__ = ("body", "closed", "deadline", "drained", "ex", "head_size", "heard", "idle_since", "interim",
                 "keep_alive", "last", "limit", "loop", "on_body", "parser", "paused", "pool", "sending", "sent",
                 "setup_s", "surplus", "timer", "transport")

    def __init__(self, pool):
        self.pool, self.loop, self.transport = pool, pool.loop, None
        self.body: list[bytes] = []
        self.on_body = self.body.append  # the parser's body callback, in C; read once, so this list is for good
        self.parser = httptools.HttpResponseParser(self)
        self.ex: Exchange | None = None
        self.closed = self.paused = self.heard = self.interim = self.keep_alive = self.surplus = False
        self.sending = False  # a streamed request body is still going out: never pooled meanwhile
        self.drained: asyncio.Future | None = None  # set while the socket's write buffer is full
        self.timer: asyncio.TimerHandle | None = None
        self.idle_since = self.limit = self.last = self.sent = 0.0
        self.setup_s = 0.0  # how long the connection took to make (TCP, proxy, TLS): at least a round trip
        self.head_size = 0
        self.deadline: float | None = None

    # -- the exchange ---------------------------------------------------------------------------
    def send(self, ex: Exchange, data: bytes, read_limit: float, deadline: float | None) -> None:
        if self.closed:  # closed by the server since it was handed over: nothing was sent
            ex.fail(Disconnected(False, None, True))
            return
        self.ex, ex.conn, ex.chunks = ex, self, self.body
        self.heard = self.keep_alive = self.surplus = False
        self.head_size = 0
        self.limit, self.deadline = read_limit, deadline
        self.last = self.sent = self.loop.time()
        self.transport.write(data)
        self._arm_by(self.last + read_limit if deadline is None else min(self.last + read_limit, deadline))

    def write_body(self, data: bytes) -> None:
        """More of a streamed request body. Sending is activity: the silence the read limit bounds
        is the server's, which can't answer before the body is whole."""
        self.transport.write(data)
        self.last = self.loop.time()

    async def drain(self) -> None:
        """Until the socket's write buffer has room again (asyncio.Protocol's flow control)."""
        while self.drained is not None and not self.closed:
            await self.drained

    def pause_writing(self) -> None:
        if self.drained is None:
            self.drained = self.loop.create_future()

    def resume_writing(self) -> None:
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def set_read_limit(self, seconds: float) -> None:
        """The per-read limit from now on, its clock restarted now."""
        self.limit, self.last = seconds, self.loop.time()
        if self.ex is not None:
            self._arm_by(self.last + seconds)

    def abandon(self, ex: Exchange) -> None:
        """The reader gave up on the exchange (closed, cancelled, failed): never back to the pool.
        An exchange already over has let go of the connection, which may be serving another."""
        if self.ex is ex:
            self._detach(ex)
            ex.fail(Disconnected(ex.head_done, None, not self.heard, self.loop.time() - self.sent))
            self.close()

    def resume(self) -> None:
        self.paused = False
        self.transport.resume_reading()
        self.last = self.loop.time()  # the silence while paused was the reader's, not the server's
        if self.timer is None and self.ex is not None:
            self._arm()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            self.transport.close()

    def _detach(self, ex: Exchange) -> None:
        if ex.chunks is self.body:  # the exchange keeps what it hasn't read; the list stays the parser's
            ex.chunks = self.body[:]
            self.body.clear()
        self.ex, ex.conn = None, None

    def _fail(self, exc: HTTPFailure) -> None:
        ex = self.ex
        self._detach(ex)
        ex.fail(exc)
        ex.wake()
        self.close()

    # -- the clock ----------------------------------------------------------------------------------
    def _arm_by(self, due: float) -> None:
        """Make sure the timer fires by `due` (an earlier one re-arms itself when it fires)."""
        timer = self.timer
        if timer is None or timer.when() > due:
            if timer is not None:
                timer.cancel()
            self.timer = self.loop.call_at(due, self._on_timer)

    def _arm(self) -> None:
        due = None if self.paused else self.last + self.limit  # paused: the reader is behind, not the server
        if self.deadline is not None and (due is None or self.deadline < due):
            due = self.deadline
        self.timer = None if due is None else self.loop.call_at(due, self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        if self.ex is None:  # idle: the next request arms it again
            return
        now = self.loop.time() + _EARLY
        if self.deadline is not None and now >= self.deadline:
            self._fail(TotalTimedOut("the exchange's total limit passed"))
        elif not self.paused and now >= self.last + self.limit:
            self._fail(ReadTimedOut(f"no bytes for {self.limit:g} s"))
        else:
            self._arm()

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:  # a request is one write: don't let Nagle hold it back
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass

    def data_received(self, data: bytes) -> None:
        ex = self.ex
        if ex is None:  # bytes nobody asked for: the connection's state is unknown
            self.close()
            return
        self.heard = True
        self.last = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(BadReply("it switches protocols (an upgrade), which was not asked for"))
            return
        except httptools.HttpParserError as e:
            self._fail(BadReply(str(e) or type(e).__name__))
            return
        if ex.done:
            self._detach(ex)
            if self.keep_alive and not self.surplus and not self.closed and not self.sending:
                if self.paused:
                    self.resume()
                self.pool.put(self)
            else:
                self.close()
        elif ex.head_done:
            ex.size += len(data)
            if ex.size > _HIGH_WATER and not self.paused:
                self.paused = True
                self.transport.pause_reading()
        else:  # no reader yet to catch up with: never paused, but bounded
            self.head_size += len(data)
            if self.head_size > _MAX_HEAD:
                self._fail(Unreadable(f"its status line and headers are longer than {_MAX_HEAD // 1024} KB"))
                return
        ex.wake()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        self.resume_writing()  # a body writer waiting for room learns of the loss from `closed`
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        ex = self.ex
        if ex is not None:
            self._detach(ex)
            if exc is None and ex.head_done and not ex.delimited():
                ex.done = True  # a body without a length ends where the server closes
            else:
                ex.fail(Disconnected(ex.head_done, exc, not self.heard, self.loop.time() - self.sent))
            ex.wake()
        self.pool.lost(self)

    # -- httptools' callbacks (on_body is the list's append, above) --------------------------------
    def on_message_begin(self) -> None:
        ex = self.ex
        if ex.done:  # a second reply to one request: parsed into a sink, the connection dropped
            self.surplus = True
            self._detach(ex)
            self.ex = Exchange(self.loop)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.ex.raw += name, value

    def on_headers_complete(self) -> None:
        ex = self.ex
        status = self.parser.get_status_code()
        if status < 200:  # 100 Continue and other interim replies: the real one follows
            ex.raw.clear()
            self.interim = True
            return
        ex.status, ex.head_done = status, True

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        self.ex.done = True
        self.keep_alive = self.parser.should_keep_alive()


def reply_headers(ex: Exchange) -> CIMultiDictProxy[str]:
    # utf-8 with surrogateescape like aiohttp (any byte kept, never an error), decoded in one
    # go: the parser refuses NUL in a header, so it can separate them
    fields = iter(b"\0".join(ex.raw).decode("utf-8", "surrogateescape").split("\0")) if ex.raw else iter(())
    return CIMultiDictProxy(CIMultiDict(list(zip(fields, fields))))  # a list: multidict's fast path


class Response:
    """A reply whose status line and headers are in; the body is read once, as it arrives, by one
    task at a time. Dropped unread, its connection is closed, not pooled."""

    __slots__ = ("_ex", "headers", "proxy", "status")

    def __init__(self, ex: Exchange, headers: CIMultiDictProxy[str]):
        self._ex, self.status, self.headers = ex, ex.status, headers
        self.proxy: str | None = None  # the proxy it came through, shown without password

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-case; application/octet-stream when unsaid
        (RFC 9110 8.3)."""
        raw = self.headers.get("Content-Type")
        return "application/octet-stream" if raw is None else raw.partition(";")[0].strip().lower()

    def buffered(self) -> bytes:
        ex = self._ex
        if ex.chunks:
            return ex.take()
        if ex.error is not None:
            raise ex.error
        return b""

    async def next_chunk(self) -> bytes:
        """The bytes received since the last call, waiting for some; b"" at the end. Bytes that
        came before a failure are returned before it is raised."""
        ex = self._ex
        while not ex.chunks:
            if ex.done:
                return b""
            if ex.error is not None:
                raise ex.error
            await ex.wait()
        return ex.take()

    async def read(self) -> bytes:
        parts = []
        try:
            while data := await self.next_chunk():
                parts.append(data)
        except BaseException:
            self.close()
            raise
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def set_read_limit(self, seconds: float) -> None:
        conn = self._ex.conn
        if conn is not None:
            conn.set_read_limit(seconds)

    async def finish(self, grace_s: float) -> None:
        """Read the body's end, discarding it, so the connection goes back to the pool; drop the
        connection if the end doesn't come within grace_s."""
        ex = self._ex
        if not ex.done:
            try:
                async with asyncio.timeout(grace_s):
                    while await self.next_chunk():
                        pass
            except BaseException as e:
                self.close()
                if not isinstance(e, (TimeoutError, HTTPFailure)):
                    raise
        ex.chunks = []

    def close(self) -> None:
        conn = self._ex.conn
        if conn is not None:
            conn.abandon(self._ex)

    release = close  # a finished body's connection is back in the pool already; an unfinished one can't go

    def __del__(self) -> None:
        conn = self._ex.conn
        if conn is not None:
            try:
                conn.abandon(self._ex)
            except RuntimeError:  # its loop is closed: the socket went with it
                pass

