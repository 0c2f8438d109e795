"""Connections: uvicorn's httptools protocol with the limits it lacks.

uvicorn's HttpToolsProtocol (0.55, protocols/http/httptools_impl.py) reads a request's head with
no size cap and no time limit, and answers a request it can't parse in plain text. httptools
joins the pieces of a header by concatenation, so an unbounded header costs memory and quadratic
time (a 128 MiB header block took 24.5 s and stalled every other client). This subclass keeps
uvicorn's request handling and adds, per connection:

- a cap on the request line (414) and on the whole head (431), applied to the bytes as they are
  fed to the parser: a connection never buffers more than the cap, plus the one socket read that
  began the next pipelined request;
- a deadline for the head: header_timeout_s from the connection (on a kept-alive one, from the
  next request's first byte) to the end of its headers; then 408 and close;
- a cap on how many of one address's connections may be stalled in their head (incomplete
  GRACE_S after they began) at once: past it the newly stalled one is cut with 429. A burst of
  fast clients is never counted; a slowloris can't hold the file descriptors for long;
- parse errors answered in JSON (OpenAI's envelope) with a request ID and what to check.

What is cut is counted (seawall_connections_cut_total{reason}) and logged: the first cut of a
burst at once, then one summary line every SUMMARY_S while the cutting goes on.

A refusal that the client may still be sending into (431, 414, 400) half-closes and reads and
drops what follows for a moment (nginx's lingering close): closing at once with unread data makes
the kernel reset the connection, and the client would see "connection reset" instead of the answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from seawall.config import ServerSettings
from seawall.dialects.openai import error_payload
from seawall.errors import SeawallError, error
from seawall.pipeline.context import new_request_id

log = logging.getLogger("seawall.connections")

GRACE_S = 1.0  # a head still incomplete after this is "stalled" and counts against its address
SUMMARY_S = 10.0
LINGER_S, LINGER_BYTES = 1.0, 1 << 20  # after a refusal, read and drop at most this long, this much

REASONS = {
    "headers_too_large": "its headers passed server.max_header_bytes",
    "request_line_too_long": "its request line passed server.max_request_line_bytes",
    "header_timeout": "its headers did not arrive within server.header_timeout_s",
    "too_many_incomplete": "its address had server.max_incomplete_per_client connections stalled in their headers",
    "bad_http_request": "it sent something that is not HTTP/1.1",
}

# llhttp's reasons, and what a client or proxy author should look at for each.
_PARSE_HINTS = (  # the first word found in llhttp's reason decides
    ("content-length", "Content-Length must be one decimal number, sent once."),
    ("transfer-encoding", "Transfer-Encoding must end in chunked, be sent once, and come without a Content-Length."),
    ("url", "Percent-encode spaces, control characters and non-ASCII characters in the path and query."),
    ("expected http/", "The request line is METHOD, a space, the path, a space, HTTP/1.1: percent-encode spaces "
                       "in the path and query (%20)."),
    ("header value", "A header value has a control character or a bare CR or LF: strip it in the client."),
    ("header token", "A header name has a character HTTP does not allow (spaces, colons, non-ASCII)."),
    ("lf", "Lines end with CRLF in HTTP/1.1; a bare CR or LF, or a folded header line, is not accepted."),
    ("method", "The request must start with a method in capitals, such as GET or POST."),
    ("version", "Only HTTP/1.0 and HTTP/1.1 are spoken here; HTTP/2 needs a proxy in front."),
    ("chunk", "A chunked body's sizes are hexadecimal numbers, each on its own CRLF-ended line."),
)
_DEFAULT_HINT = "Check the client's or proxy's HTTP implementation; the request could not be parsed."


def parse_problem(exc: BaseException) -> SeawallError:
    """A parser error as the catalog's bad_http_request, naming what was wrong."""
    cause = exc.__context__
    if isinstance(cause, UnicodeDecodeError):  # uvicorn decodes the path as ASCII
        return error("bad_http_request", detail="the path has bytes that are not ASCII",
                     hint=_PARSE_HINTS[0][1])
    detail = str(exc) or type(exc).__name__
    lowered = detail.lower()
    hint = next((h for word, h in _PARSE_HINTS if word in lowered), _DEFAULT_HINT)
    return error("bad_http_request", detail=detail[:200], hint=hint)


def answer(err: SeawallError, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole HTTP response for a refused connection: the error in JSON, then close."""
    request_id = new_request_id()
    body = orjson.dumps(error_payload(err, request_id))
    head = [STATUS_LINE[err.status]]
    for name, value in default_headers:
        head += [name, b": ", value, b"\r\n"]
    for name, value in err.headers.items():
        head += [name.encode("latin-1"), b": ", value.encode("latin-1"), b"\r\n"]
    head += [b"content-type: application/json\r\ncontent-length: ", str(len(body)).encode(),
             b"\r\nx-request-id: ", request_id.encode(), b"\r\nconnection: close\r\n\r\n", body]
    return b"".join(head)


class ConnectionGuard:
    """Shared by every connection of one server (one event loop: plain dicts, no locks)."""

    def __init__(self, settings: ServerSettings, counts: dict[tuple[str], int] | None = None):
        self.settings = settings
        self.stalled: dict[str, int] = {}  # address -> its connections stalled in their head now
        self.cut: dict[tuple[str], int] = counts if counts is not None else defaultdict(int)  # (reason,) -> n
        self._since: Counter[str] = Counter()
        self._from: Counter[str] = Counter()
        self._summary: asyncio.TimerHandle | None = None

    def note(self, reason: str, address: str) -> None:
        self.cut[(reason,)] += 1
        if self._summary is None:  # quiet until now: say it at once
            log.warning("cut a connection from %s: %s", address, REASONS[reason])
            self._summary = asyncio.get_running_loop().call_later(SUMMARY_S, self._report)
            return
        self._since[reason] += 1
        self._from[address] += 1

    def _report(self) -> None:
        if not self._since:
            self._summary = None
            return
        reasons = ", ".join(f"{n} {reason}" for reason, n in self._since.most_common())
        addresses = ", ".join(f"{a} ({n})" for a, n in self._from.most_common(3))
        log.warning("cut connections in the last %g s: %s; from %s", SUMMARY_S, reasons, addresses)
        self._since.clear()
        self._from.clear()
        self._summary = asyncio.get_running_loop().call_later(SUMMARY_S, self._report)

    def stall(self, address: str) -> bool:
        """One more of the address's connections is stalled; False when that is one too many."""
        n = self.stalled.get(address, 0) + 1
        self.stalled[address] = n
        return n <= self.settings.max_incomplete_per_client

    def unstall(self, address: str) -> None:
        n = self.stalled.get(address, 0) - 1
        if n > 0:
            self.stalled[address] = n
        else:
            self.stalled.pop(address, None)


class _LineTooLong(Exception):
    """Raised from on_url: httptools stops parsing and reports a callback error."""


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's protocol with the guard's limits. One per connection, like its parent."""

    def __init__(self, config, server_state, app_state, _loop=None, *, guard: ConnectionGuard):
        super().__init__(config, server_state, app_state, _loop)
        self.guard = guard
        self._head = -1  # bytes of the current request's head fed so far; -1 when no head is pending
        self._line = 0
        self._timer: asyncio.TimerHandle | None = None
        self._stalled = False
        self._address = "unknown"
        self._refused = False
        self._lingered = 0
        self._heads = 0  # heads begun on this connection: tells a pipelined next head from the current one

    # -- the head's clock -------------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._address = self.client[0] if self.client else "local"
        self._begin_head()

    def connection_lost(self, exc) -> None:
        self._end_head()
        super().connection_lost(exc)

    def _begin_head(self) -> None:
        self._head, self._line = 0, 0
        self._heads += 1
        timeout = self.guard.settings.header_timeout_s
        if timeout > GRACE_S:
            self._timer = self.loop.call_later(GRACE_S, self._grace_over)
        else:
            self._timer = self.loop.call_later(timeout, self._expired)

    def _end_head(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._stalled:
            self._stalled = False
            self.guard.unstall(self._address)
        self._head = -1

    def _grace_over(self) -> None:
        self._stalled = True
        if not self.guard.stall(self._address):
            self._refuse(error("too_many_incomplete", address=self._address,
                               limit=self.guard.settings.max_incomplete_per_client), "too_many_incomplete",
                         linger=False)
            return
        self._timer = self.loop.call_later(self.guard.settings.header_timeout_s - GRACE_S, self._expired)

    def _expired(self) -> None:
        self._timer = None
        if self._head > 0:
            self._refuse(error("header_timeout", seconds=f"{self.guard.settings.header_timeout_s:g}"),
                         "header_timeout", linger=False)
        else:  # connected and said nothing: nobody to answer
            self._end_head()
            self.guard.note("header_timeout", self._address)
            self.transport.close()

    # -- bytes in ---------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        if self._refused:
            self._linger(len(data))
            return
        self._unset_keepalive_if_required()
        if self._head < 0:  # a body, or the first read of a kept-alive connection's next request
            self._feed(data)
            return
        room = self.guard.settings.max_header_bytes - self._head
        if len(data) <= room:
            self._head += len(data)
            self._feed(data)
            return
        view = memoryview(data)
        self._head += room
        current = self._heads
        if not self._feed(view[:room]):
            return
        if self._head >= 0 and self._heads == current:  # the cap is reached, the head still incomplete
            self._refuse(error("headers_too_large", limit=self.guard.settings.max_header_bytes),
                         "headers_too_large")
            return
        self._feed(view[room:])

    def _feed(self, data) -> bool:
        """Feed the parser (uvicorn's data_received, with JSON answers); False once refused."""
        if self._refused:
            return False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()  # the server speaks no WebSocket (ws="none")
        except httptools.HttpParserError as e:
            if isinstance(e.__context__, _LineTooLong):
                self._refuse(error("request_line_too_long", limit=self.guard.settings.max_request_line_bytes),
                             "request_line_too_long")
            else:
                self._refuse(parse_problem(e), "bad_http_request")
            return False
        return True

    # -- parser callbacks -------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head < 0:  # a kept-alive connection's next request: its head's clock starts now
            self._begin_head()
            self._head = 1  # at least its first byte came (the rest of this read is not counted)

    def on_url(self, url: bytes) -> None:
        self._line += len(url)
        if self._line > self.guard.settings.max_request_line_bytes:
            raise _LineTooLong()
        super().on_url(url)

    def on_headers_complete(self) -> None:
        self._end_head()
        super().on_headers_complete()

    # -- refusing ---------------------------------------------------------------------------------
    def _refuse(self, err: SeawallError, reason: str, linger: bool = True) -> None:
        self._end_head()
        self._refused = True
        self.guard.note(reason, self._address)
        transport = self.transport
        if transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started:
                transport.close()  # an answer is under way (a pipelined request's): no room for another
                return
            # A request whose body broke the parser (a bad chunk size): its task may answer no more.
            cycle.disconnected = True
            cycle.message_event.set()
        transport.write(answer(err, self.server_state.default_headers))
        if not linger or not transport.can_write_eof():
            transport.close()
            return
        transport.write_eof()
        self.loop.call_later(LINGER_S, transport.close)

    def _linger(self, n: int) -> None:
        self._lingered += n
        if self._lingered > LINGER_BYTES:
            self.transport.close()
