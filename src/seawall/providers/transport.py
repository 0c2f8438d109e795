"""The shared upstream transport: one pooled keep-alive aiohttp session per upstream origin.

aiohttp because it measured fastest of the Python clients on this machine (shared/bench/RESULTS.md:
uvicorn + raw ASGI + aiohttp adds ~0.27 ms; FastAPI + httpx ~1.1 ms). This is the one place where
the client library's exceptions become Seawall's: every failure leaves as UpstreamFailure with a
kind that decide/classify.py maps to the taxonomy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from seawall.config import Timeouts
from seawall.providers.base import UpstreamRequest


class UpstreamFailure(Exception):
    """No usable HTTP exchange: kind is dns | connect | tls | timeout | reset. A timeout of the
    gateway's own also names its limit (connect_s, first_byte_s, read_s, total_s) and value."""

    def __init__(self, kind: str, detail: str, limit: str | None = None, seconds: float | None = None):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail, self.limit, self.seconds = kind, detail, limit, seconds


def translate(exc: BaseException, timeouts: Timeouts, idle: bool = False) -> UpstreamFailure:
    """aiohttp / OS exception -> UpstreamFailure. Most specific class first. `idle`: the reply's
    first event was in, so sock_read was the idle limit (read_s), no longer first_byte_s."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return UpstreamFailure("dns", f"the host name does not resolve ({exc.os_error})")
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError)):
        return UpstreamFailure("tls", f"TLS failed ({exc})")
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return UpstreamFailure("connect", f"connecting timed out after {timeouts.connect_s:g} s (timeouts.connect_s)",
                               "connect_s", timeouts.connect_s)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamFailure("connect", f"connection refused or unreachable ({exc.os_error})")
    if isinstance(exc, (aiohttp.SocketTimeoutError, asyncio.TimeoutError, TimeoutError)):
        return _timed_out(exc, timeouts, idle)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return UpstreamFailure("reset", "the upstream closed the connection")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return UpstreamFailure("reset", "the upstream's body ended before it was complete")
    if isinstance(exc, (aiohttp.ClientOSError, ConnectionError, OSError)):
        return UpstreamFailure("reset", f"connection error ({exc})")
    if isinstance(exc, aiohttp.ClientError):
        return UpstreamFailure("reset", f"{type(exc).__name__}: {exc}")
    raise exc


def _timed_out(exc: BaseException, timeouts: Timeouts, idle: bool) -> UpstreamFailure:
    """Which limit fired: sock_read is first_byte_s until the first event, then read_s; aiohttp's
    total (total_s) raises a plain TimeoutError."""
    if not isinstance(exc, aiohttp.SocketTimeoutError) and timeouts.total_s is not None:
        return UpstreamFailure("timeout", f"the exchange took longer than {timeouts.total_s:g} s (timeouts.total_s)",
                               "total_s", timeouts.total_s)
    if idle:
        return UpstreamFailure("timeout", f"no chunk for {timeouts.read_s:g} s (timeouts.read_s, the idle timeout)",
                               "read_s", timeouts.read_s)
    unset = "" if timeouts.first_byte_s is not None else ", unset so read_s"
    return UpstreamFailure("timeout", f"no first byte for {timeouts.first_byte_limit_s:g} s "
                                      f"(timeouts.first_byte_s{unset})", "first_byte_s", timeouts.first_byte_limit_s)


class UpstreamResponse:
    """An open upstream reply: status and headers are in; the body is read or iterated once."""

    __slots__ = ("_idle", "_resp", "_timeouts", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse, timeouts: Timeouts):
        self._resp, self._timeouts, self._idle = resp, timeouts, False
        self.status: int = resp.status
        self.headers: Mapping[str, str] = resp.headers  # case-insensitive

    @property
    def content_type(self) -> str:
        return self._resp.content_type

    async def read(self) -> bytes:
        try:
            return await self._resp.read()
        except BaseException as e:
            raise translate(e, self._timeouts) from e
        finally:
            self._resp.release()

    async def next_chunk(self) -> bytes:
        """The next bytes of the body as they arrive (no buffering); b"" at the end; raises
        UpstreamFailure on a cut. A plain read rather than an async iterator: two generator
        layers per chunk showed on the stream's cold path."""
        try:
            return await self._resp.content.readany()
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise translate(e, self._timeouts, self._idle) from e

    def buffered(self) -> bytes:
        """The body bytes already received, without waiting (b"" if none yet); raises
        UpstreamFailure like next_chunk when the connection has failed."""
        try:
            return self._resp.content.read_nowait()
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise translate(e, self._timeouts, self._idle) from e

    def start_idle_timeout(self) -> None:
        """A stream's first event is in: from now on the idle limit (read_s) bounds each wait
        instead of first_byte_s. Once per stream, off the per-chunk path; nothing to do when the
        two are the same value (first_byte_s unset), which keeps the old behaviour exactly."""
        self._idle = True
        connection = self._resp.connection
        if self._timeouts.first_byte_limit_s != self._timeouts.read_s and connection is not None \
                and connection.protocol is not None:
            connection.protocol.read_timeout = self._timeouts.read_s
            connection.protocol.start_timeout()  # restart the wait now, at the new length

    async def finish(self, grace_s: float = 1.0) -> None:
        """After a stream's last event: read the body's end (the chunked terminator usually came
        with it) so the connection goes back to the pool instead of being dropped."""
        if not self._resp.content.at_eof():
            try:
                async with asyncio.timeout(grace_s):
                    while await self._resp.content.readany():
                        pass
            except (TimeoutError, aiohttp.ClientError, OSError):
                self._resp.close()
                return
        self._resp.release()

    def close(self) -> None:
        """Drop the connection (an unfinished body can't go back to the pool)."""
        self._resp.close()

    def release(self) -> None:
        self._resp.release()


# Upstream URLs come from the config, except a few with an ID in them (a Midjourney task's):
# past this many distinct ones, a URL is parsed per request instead of remembered.
_MAX_REMEMBERED_URLS = 1024


class Transport:
    def __init__(self, pool_size: int = 1000):
        self._pool_size = pool_size
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._timeouts: dict[Timeouts, aiohttp.ClientTimeout] = {}
        # URL string -> its origin's session and the URL parsed once (not twice per request)
        self._targets: dict[str, tuple[aiohttp.ClientSession, URL]] = {}

    def _target(self, url: str) -> tuple[aiohttp.ClientSession, URL]:
        found = self._targets.get(url)
        if found is None:
            found = (self._session(url), URL(url))
            if len(self._targets) < _MAX_REMEMBERED_URLS:
                self._targets[url] = found
        return found

    def _session(self, url: str) -> aiohttp.ClientSession:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        session = self._sessions.get(origin)
        if session is None:  # created lazily, inside the server's running loop
            connector = aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=60, ttl_dns_cache=300)
            # No cookie jar: cookies an upstream sets (a CDN's) must not travel with other
            # clients' requests, and an empty jar is still consulted on every request and reply.
            session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None),
                                            skip_auto_headers=("User-Agent",), cookie_jar=aiohttp.DummyCookieJar())
            self._sessions[origin] = session
        return session

    async def open(self, req: UpstreamRequest, timeouts: Timeouts) -> UpstreamResponse:
        """Send the request and wait for the status line and headers."""
        timeout = self._timeouts.get(timeouts)
        if timeout is None:  # per deployment, built once: Timeouts are frozen and hashable
            # sock_read starts as the first-byte limit; start_idle_timeout() lowers or raises it to
            # read_s once a stream's first event is in. total=None (the default) costs no timer.
            timeout = self._timeouts[timeouts] = aiohttp.ClientTimeout(
                total=timeouts.total_s, connect=timeouts.connect_s, sock_read=timeouts.first_byte_limit_s)
        session, url = self._target(req.url)
        try:
            resp = await session.request(req.method, url, data=req.body, headers=req.headers, timeout=timeout,
                                         allow_redirects=False)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise translate(e, timeouts) from e
        return UpstreamResponse(resp, timeouts)

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()
        self._targets.clear()
