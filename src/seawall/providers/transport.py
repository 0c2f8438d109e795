"""The shared upstream transport: pooled keep-alive HTTP/1.1 per upstream origin (http1_client.py, http1_pool.py,
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
from seawall.providers.dial import ProxyFailed
from seawall.providers.http1_client import Client, Route
from seawall.providers.http1_pool import PoolExhausted
from seawall.providers.network import Network
from seawall.providers.tls_errors import explain_tls


class UpstreamFailure(Exception):
    """No usable HTTP exchange: kind is dns | connect | tls | timeout | reset | proxy | malformed |
    pool. A timeout of the gateway's own also names its limit (connect_s, first_byte_s, read_s,
    total_s) and value; `proxy`: the proxy the attempt went through (shown without password);
    `setting`: for proxy and pool, what to change."""

    def __init__(self, kind: str, detail: str, limit: str | None = None, seconds: float | None = None,
                 setting: str | None = None):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail, self.limit, self.seconds, self.setting = kind, detail, limit, seconds, setting
        self.proxy: str | None = None


def translate(exc: BaseException, timeouts: Timeouts, idle: bool = False) -> UpstreamFailure:
    """Client / OS exception -> UpstreamFailure. Most specific class first. `idle`: the reply's
    first event was in, so the per-read limit was the idle one (read_s), no longer first_byte_s."""
    if isinstance(exc, ProxyFailed):
        return UpstreamFailure("proxy", exc.what, setting=exc.proxy.setting)
    if isinstance(exc, PoolExhausted):
        return UpstreamFailure("pool", str(exc), "connect_s", exc.waited_s, setting="network.pool_size")
    if isinstance(exc, http1.Unreadable):
        return UpstreamFailure("malformed", f"the upstream's reply can't be read: {exc}")
    if isinstance(exc, http1.NameNotResolved):
        return UpstreamFailure("dns", f"the host name does not resolve ({exc.os_error})")
    if isinstance(exc, http1.TLSFailed):
        return UpstreamFailure("tls", explain_tls(exc))
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
    `proxy`: the proxy it came through (shown without password), or None. Its bytes come scrubbed
    of the credentials the request carried (decide/scrub.py): an upstream that echoes the
    Authorization header can't hand the provider key to anything downstream."""

    __slots__ = ("_idle", "_resp", "_scrub", "_timeouts", "headers", "proxy", "status")

    def __init__(self, resp: http1.Response, timeouts: Timeouts, proxy: str | None = None,
                 secrets: tuple[bytes, ...] = ()):
        self._resp, self._timeouts, self._idle, self.proxy = resp, timeouts, False, proxy
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
    """The client and the routes calls leave by: one per deployment (its proxy and TLS, from
    `network` and its own settings), named by the deployment's label."""

    def __init__(self, pool_size: int | None = None, network: Network | None = None):
        self.network = network or Network()
        # keepalive_s is what the aiohttp connector before it used; DNS answers carry no TTL
        # through getaddrinfo, and a provider's CDN moves them within minutes: 30 s.
        self._client = Client(pool_size or self.network.settings.pool_size, keepalive_s=60.0, dns_ttl_s=30.0)
        self._routes: dict[str, Route] = {}

    def add_route(self, name: str, route: Route) -> None:
        self._routes[name] = route

    def route(self, name: str | None) -> Route:
        return self._routes.get(name, self.network.default) if name is not None else self.network.default

    async def open(self, req: UpstreamRequest, timeouts: Timeouts, deployment: str | None = None) -> UpstreamResponse:
        """Send the request and wait for the status line and headers; `deployment`: whose route."""
        route = self._routes.get(deployment, self.network.default) if deployment is not None else self.network.default
        try:
            resp = await self._client.request(req.method, req.url, req.headers, req.body, timeouts.connect_s,
                                              timeouts.first_byte_limit_s, timeouts.total_s, route, req.length)
        except (http1.HTTPFailure, OSError) as e:
            failure = translate(e, timeouts)
            failure.proxy = self._client.proxy_of(req.url, route)
            raise failure from e
        if resp.status == 407 and resp.proxy is not None:  # a forwarding proxy's own refusal, not the upstream's
            resp.close()
            failure = UpstreamFailure("proxy", "the proxy refused its credentials (407 Proxy Authentication Required)",
                                      setting=self._client.proxy_setting_of(req.url, route))
            failure.proxy = resp.proxy
            raise failure
        return UpstreamResponse(resp, timeouts, resp.proxy, credentials(req.headers))

    async def describe(self, url: str, deployment: str | None = None) -> dict:
        """The network path to an upstream URL as `deployment`'s calls take it (proxy, addresses,
        connections, TLS peer), for bundles."""
        return await self._client.describe(url, self.route(deployment))

    async def close(self) -> None:
        await self._client.close()
