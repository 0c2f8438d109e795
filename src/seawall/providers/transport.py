"""The shared upstream transport: pooled keep-alive HTTP/1.1 per upstream origin (http1_pool.py,
http1.py).

This is the one place where the client's exceptions become Seawall's: every failure leaves as
UpstreamFailure with a kind that decide/classify.py maps to the taxonomy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from seawall.config import Timeouts
from seawall.decide.scrub import StreamScrub, credentials, scrub
from seawall.providers import http1
from seawall.providers.base import UpstreamRequest
from seawall.providers.http1_pool import Client


class UpstreamFailure(Exception):
    """No usable HTTP exchange: kind is dns | connect | tls | timeout | reset. A timeout of the
    gateway's own also names its limit (connect_s, first_byte_s, read_s, total_s) and value."""

    def __init__(self, kind: str, detail: str, limit: str | None = None, seconds: float | None = None):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail, self.limit, self.seconds = kind, detail, limit, seconds


def translate(exc: BaseException, timeouts: Timeouts, idle: bool = False) -> UpstreamFailure:
    """Client / OS exception -> UpstreamFailure. Most specific class first. `idle`: the reply's
    first event was in, so the per-read limit was the idle one (read_s), no longer first_byte_s."""
    if isinstance(exc, http1.NameNotResolved):
        return UpstreamFailure("dns", f"the host name does not resolve ({exc.os_error})")
    if isinstance(exc, http1.TLSFailed):
        return UpstreamFailure("tls", f"TLS failed ({exc.os_error})")
    if isinstance(exc, http1.ConnectTimedOut):
        return UpstreamFailure("connect", f"connecting timed out after {timeouts.connect_s:g} s (timeouts.connect_s)",
                               "connect_s", timeouts.connect_s)
    if isinstance(exc, http1.ConnectFailed):
        return UpstreamFailure("connect", f"connection refused or unreachable ({exc.os_error})")
    if isinstance(exc, (http1.ReadTimedOut, http1.TotalTimedOut, asyncio.TimeoutError, TimeoutError)):
        return _timed_out(exc, timeouts, idle)
    if isinstance(exc, http1.BadReply):
        return UpstreamFailure("reset", f"the upstream's reply is not valid HTTP: {exc}")
    if isinstance(exc, http1.Disconnected):
        if exc.os_error is not None:
            return UpstreamFailure("reset", f"connection error ({exc.os_error})")
        if exc.in_body:
            return UpstreamFailure("reset", "the upstream's body ended before it was complete")
        return UpstreamFailure("reset", "the upstream closed the connection")
    if isinstance(exc, OSError):
        return UpstreamFailure("reset", f"connection error ({exc})")
    if isinstance(exc, http1.HTTPFailure):
        return UpstreamFailure("reset", f"{type(exc).__name__}: {exc}")
    raise exc


def _timed_out(exc: BaseException, timeouts: Timeouts, idle: bool) -> UpstreamFailure:
    """Which limit fired: the per-read one is first_byte_s until the first event, then read_s; the
    whole exchange's (total_s) is TotalTimedOut, and a bare TimeoutError counts as it when set."""
    if not isinstance(exc, http1.ReadTimedOut) and timeouts.total_s is not None:
        return UpstreamFailure("timeout", f"the exchange took longer than {timeouts.total_s:g} s (timeouts.total_s)",
                               "total_s", timeouts.total_s)
    if idle:
        return UpstreamFailure("timeout", f"no chunk for {timeouts.read_s:g} s (timeouts.read_s, the idle timeout)",
                               "read_s", timeouts.read_s)
    unset = "" if timeouts.first_byte_s is not None else ", unset so read_s"
    return UpstreamFailure("timeout", f"no first byte for {timeouts.first_byte_limit_s:g} s "
                                      f"(timeouts.first_byte_s{unset})", "first_byte_s", timeouts.first_byte_limit_s)


class UpstreamResponse:
    """An open upstream reply: status and headers are in; the body is read or iterated once.
    Its bytes come scrubbed of the credentials the request carried (decide/scrub.py): an upstream
    that echoes the Authorization header can't hand the provider key to anything downstream."""

    __slots__ = ("_idle", "_resp", "_scrub", "_timeouts", "headers", "status")

    def __init__(self, resp: http1.Response, timeouts: Timeouts, secrets: tuple[bytes, ...] = ()):
        self._resp, self._timeouts, self._idle = resp, timeouts, False
        self._scrub = StreamScrub(secrets) if secrets else None
        self.status: int = resp.status
        self.headers: Mapping[str, str] = resp.headers  # case-insensitive

    @property
    def content_type(self) -> str:
        return self._resp.content_type

    async def read(self) -> bytes:
        """The whole body; the connection goes back to the pool (or is dropped, on a failure)."""
        try:
            body = await self._resp.read()
        except http1.HTTPFailure as e:
            raise translate(e, self._timeouts) from e
        return body if self._scrub is None else scrub(body, self._scrub.secrets)

    async def next_chunk(self) -> bytes:
        """The next bytes of the body as they arrive (no buffering); b"" at the end; raises
        UpstreamFailure on a cut. A plain read rather than an async iterator: two generator
        layers per chunk showed on the stream's cold path. Cancelling it loses no bytes."""
        try:
            while True:
                chunk = await self._resp.next_chunk()
                if self._scrub is None:
                    return chunk
                if not chunk:
                    return self._scrub.end()  # then b"" at the next call
                if chunk := self._scrub.feed(chunk):  # b"": all held back, a credential may go on
                    return chunk
        except http1.HTTPFailure as e:
            raise translate(e, self._timeouts, self._idle) from e

    def buffered(self) -> bytes:
        """The body bytes already received, without waiting (b"" if none yet); raises
        UpstreamFailure like next_chunk when the connection has failed."""
        try:
            data = self._resp.buffered()
        except http1.HTTPFailure as e:
            raise translate(e, self._timeouts, self._idle) from e
        return data if self._scrub is None or not data else self._scrub.feed(data)

    def start_idle_timeout(self) -> None:
        """A stream's first event is in: from now on the idle limit (read_s) bounds each wait
        instead of first_byte_s. Once per stream, off the per-chunk path; nothing to do when the
        two are the same value (first_byte_s unset)."""
        self._idle = True
        if self._timeouts.first_byte_limit_s != self._timeouts.read_s:
            self._resp.set_read_limit(self._timeouts.read_s)  # the wait restarts now, at the new length

    async def finish(self, grace_s: float = 1.0) -> None:
        """After a stream's last event: read the body's end (the chunked terminator usually came
        with it) so the connection goes back to the pool instead of being dropped."""
        await self._resp.finish(grace_s)

    def close(self) -> None:
        """Drop the connection (an unfinished body can't go back to the pool)."""
        self._resp.close()

    def release(self) -> None:
        self._resp.release()


class Transport:
    def __init__(self, pool_size: int = 1000):
        # keepalive_s and the DNS cache's 300 s are what the aiohttp connector before it used
        self._client = Client(pool_size, keepalive_s=60.0, dns_ttl_s=300.0)

    async def open(self, req: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse:
        """Send the request and wait for the status line and headers."""
        try:
            resp = await self._client.request(req.method, req.url, req.headers, req.body, timeouts.connect_s,
                                              timeouts.first_byte_limit_s, timeouts.total_s)
        except (http1.HTTPFailure, OSError) as e:
            raise translate(e, timeouts) from e
        return UpstreamResponse(resp, timeouts, credentials(req.headers))

    async def close(self) -> None:
        await self._client.close()
