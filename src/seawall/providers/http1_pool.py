"""The upstream HTTP/1.1 client's pools: keep-alive connections (http1.py) per origin and proxy,
and the request framing for each URL, parsed once per route.

- A Route is how one deployment's calls leave: its proxy rule (decide/proxy.py) and TLS context.
  Each URL it calls is parsed, and its proxy chosen, once (a Target); requests then only frame.
- One pool per (proxy, origin, TLS context): at most `pool_size` connections open or opening (a
  request past that waits for one, within connect_s, then is told the pool is full); idle ones
  are reused newest first and closed after keepalive_s. dial.py makes the sockets (happy
  eyeballs, proxies); a host name is resolved at most once per dns_ttl_s.
- A connection comes back only from http1.Connection, once its reply was read to the end and the
  server kept it alive. One the server closed while idle is skipped. A reused one that fails
  before any byte of its reply, at once (within the connection's own set-up time, itself at least
  a round trip: the server's close crossed the request), is replaced by a fresh one, once: the
  server dropped the request unread. One that failed after waiting longer may have been read
  and acted on (a completion billed), so it is never sent again.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import ssl
from collections.abc import Callable
from urllib.parse import quote, unquote, urlsplit

from seawall import __version__
from seawall.decide.proxy import ProxyChoice
from seawall.providers import dial
from seawall.providers.encoding import response
from seawall.providers.tls_errors import LOOK_ONLY as _LOOK_ONLY
from seawall.providers.tls_errors import issuer_of
from seawall.providers.http1 import (ConnectFailed, ConnectTimedOut, Connection, Disconnected, HTTPFailure,
                                     NameNotResolved, Response, TLSFailed, Exchange)

# Upstream URLs come from the config, except a few with an ID in them (a Midjourney task's):
# past this many distinct ones, a URL is parsed per request instead of remembered.
_MAX_REMEMBERED_URLS = 1024
_MAX_HEADER_SETS = 64  # per URL; past it (keys rotated per request?) the lines are built per request
_BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})  # no Content-Length: 0 on these (RFC 9110 8.6)
_FRAMING = frozenset({"content-length", "transfer-encoding"})  # the body is framed here, whatever the caller says
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"  # already-escaped and reserved characters stay as written
_QUERY_SAFE = _PATH_SAFE + "?"
# A close crossing the request arrives within a round trip of it; on a fast network the
# connection's set-up time says little, and the loop's own delay can be longer: this floor.
_CROSSED_S = 0.05
# What every request says unless its caller does: replies in identity (nothing to decompress on
# the hot path), and who is calling, for the provider's logs.
_STANDARD = {"accept-encoding": "Accept-Encoding: identity\r\n", "user-agent": f"User-Agent: seawall/{__version__}\r\n"}


class PoolExhausted(HTTPFailure):
    """Every connection of the pool stayed busy for connect_s: the gateway's own limit, not the
    upstream's network."""

    def __init__(self, origin: str, size: int, waited_s: float):
        super().__init__(f"all {size} connections to {origin} stayed busy for {waited_s:g} s")
        self.origin, self.size, self.waited_s = origin, size, waited_s


class Route:
    """How one deployment's calls leave: the proxy for an origin (decided once per URL, then kept
    in its Target), the TLS context and what it trusts (for error messages)."""

    __slots__ = ("choose", "targets", "tls", "trusts")

    def __init__(self, choose: Callable[[str, str, int], ProxyChoice | None] = lambda scheme, host, port: None,
                 tls: ssl.SSLContext | None = None, trusts: str = "the system's CA certificates"):
        self.choose, self.tls, self.trusts = choose, tls, trusts
        self.targets: dict[str, Target] = {}


class Pool:
    """The connections to one origin: idle ones newest last, at most `size` open or opening."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, port: int, tls: ssl.SSLContext | None,
                 size: int, keepalive_s: float, dns_ttl_s: float, proxy: ProxyChoice | None = None,
                 tunnel: bool = True, trusts: str = "", proxy_tls: ssl.SSLContext | None = None):
        self.loop, self.host, self.port, self.tls = loop, host, port, tls
        self.size, self.keepalive_s = size, keepalive_s
        self.proxy, self.trusts = proxy, trusts
        self.shown_proxy = proxy.shown if proxy is not None else None
        self.idle: list[Connection] = []
        self.conns: set[Connection] = set()
        self.count = 0  # connections open or being opened
        self.waiters: collections.deque[asyncio.Future] = collections.deque()
        self.sweeper: asyncio.TimerHandle | None = None
        self.closed = False
        # SOCKS: python-socks; an HTTP(S) proxy: a CONNECT tunnel (`tunnel`) or requests in absolute
        # form to the proxy itself; TLS to the proxy with proxy_tls (an https:// proxy)
        self.socks = dial.socks(proxy) if proxy is not None and proxy.scheme.startswith("socks") else None
        self.tunnel, self.proxy_tls = tunnel, proxy_tls
        if proxy is None or self.socks is not None:
            self.where = dial.Addresses(host, port, dns_ttl_s)
        else:
            parts = urlsplit(proxy.url)
            self.where = dial.Addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                        dns_ttl_s)

    @property
    def origin(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def take(self) -> Connection | None:
        """An idle connection still open and young enough, or None."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.closed or conn.transport.is_closing():
                continue
            if self.loop.time() - conn.idle_since < self.keepalive_s:
                return conn
            for stale in (conn, *idle):  # the newest is too old: so are the others
                stale.close()
            idle.clear()
        return None

    async def acquire(self, connect_s: float) -> tuple[Connection, bool]:
        """A new connection, or one put back while this waited for a slot; and whether it was used."""
        if self.count < self.size:
            self.count += 1
        else:
            conn = await self._wait(connect_s)
            if conn is not None:
                return conn, True
        try:  # the slot is ours until the connection is made, then the connection's
            conn = await self._connect(connect_s)
        except BaseException:
            self._free_slot()
            raise
        if conn.closed:  # lost before it was counted: send() reports it
            self._free_slot()
        else:
            self.conns.add(conn)
        return conn, False

    def put(self, conn: Connection) -> None:
        if self.closed:
            conn.close()
            return
        while self.waiters:
            w = self.waiters.popleft()
            if not w.done():
                w.set_result(conn)
                return
        conn.idle_since = self.loop.time()
        self.idle.append(conn)
        if self.sweeper is None:
            self.sweeper = self.loop.call_later(self.keepalive_s, self._sweep)

    def lost(self, conn: Connection) -> None:
        if conn in self.conns:
            self.conns.discard(conn)
            self._free_slot()

    def close(self) -> None:
        self.closed = True
        if self.sweeper is not None:
            self.sweeper.cancel()
        for conn in list(self.conns):
            conn.close()
        self.idle.clear()
        while self.waiters:
            w = self.waiters.popleft()
            if not w.done():
                w.set_exception(ConnectFailed(OSError("the client was closed")))

    def _free_slot(self) -> None:
        while self.waiters:  # hand the slot to the first still waiting; it connects
            w = self.waiters.popleft()
            if not w.done():
                w.set_result(None)
                return
        self.count -= 1

    async def _wait(self, connect_s: float) -> Connection | None:
        """A connection someone put back, or None: a slot was freed, ours to connect with."""
        w = self.loop.create_future()
        self.waiters.append(w)
        try:
            async with asyncio.timeout(connect_s):
                return await w
        except BaseException as e:
            if w.done() and not w.cancelled() and w.exception() is None:  # handed over as we left
                conn = w.result()
                self.put(conn) if conn is not None else self._free_slot()
            w.cancel()
            if isinstance(e, TimeoutError):
                raise PoolExhausted(self.origin, self.size, connect_s) from None
            raise

    async def _connect(self, connect_s: float) -> Connection:
        loop = self.loop
        started = loop.time()
        try:
            async with asyncio.timeout(connect_s):
                sock = await self._dial(connect_s)
                try:
                    if self.proxy is not None and self.socks is None:
                        conn = await self._through_http_proxy(sock)
                    else:
                        _, conn = await loop.create_connection(
                            lambda: Connection(self), sock=sock, ssl=self.tls,
                            server_hostname=self.host if self.tls is not None else None)
                except BaseException as e:
                    sock.close()
                    if not isinstance(e, ssl.SSLError):
                        raise
                    issuer = None
                    if isinstance(e, ssl.SSLCertVerificationError):
                        issuer = await self._issuer_seen()
                    raise TLSFailed(e, self.host, self.trusts, issuer) from None
        except TimeoutError:
            via = f" through the proxy {self.shown_proxy}" if self.proxy is not None else ""
            raise ConnectTimedOut(f"connecting{via} took longer than {connect_s:g} s") from None
        conn.setup_s = loop.time() - started
        return conn

    async def _through_http_proxy(self, sock) -> Connection:
        """The connection through an HTTP(S) proxy: TLS to the proxy if it is https://, then either
        the requests themselves (absolute form) or a CONNECT tunnel with TLS to the origin in it."""
        loop, proxy = self.loop, self.proxy
        conn = Connection(self)
        proxy_host = urlsplit(proxy.url).hostname
        try:
            transport, tunnel = await loop.create_connection(dial.Tunnel, sock=sock, ssl=self.proxy_tls,
                                                             server_hostname=proxy_host if self.proxy_tls else None)
        except ssl.SSLError as e:
            why = e.verify_message if isinstance(e, ssl.SSLCertVerificationError) else e.reason or e
            raise dial.ProxyFailed(proxy, f"TLS with the proxy failed ({why}; it is checked against "
                                          f"{self.trusts})") from None
        try:
            if self.tunnel:
                await tunnel.open(proxy, self.host, self.port)
                if self.tls is not None:
                    transport = await loop.start_tls(transport, conn, self.tls, server_hostname=self.host)
            transport.set_protocol(conn)
            conn.connection_made(transport)
        except BaseException:
            transport.close()
            raise
        return conn

    async def _issuer_seen(self) -> str | None:
        """Who signed the certificate that did not verify: the handshake again, trusting anything,
        only to read it (the connection is closed at once). Bounded by the caller's connect_s."""
        try:
            sock = await self._dial(5.0)
            transport, _ = await self.loop.create_connection(asyncio.Protocol, sock=sock, ssl=_LOOK_ONLY,
                                                             server_hostname=self.host)
        except (OSError, HTTPFailure):
            return None
        try:
            return issuer_of(transport.get_extra_info("ssl_object").getpeercert(binary_form=True))
        finally:
            transport.close()

    async def _dial(self, connect_s: float):
        if self.socks is not None:
            return await dial.through(self.proxy, self.socks, self.host, self.port, connect_s)
        if self.proxy is None:
            return await dial.direct(self.loop, self.where)
        try:  # the HTTP proxy itself
            return await dial.direct(self.loop, self.where)
        except NameNotResolved as e:
            raise dial.ProxyFailed(self.proxy, f"the proxy's host name does not resolve ({e.os_error})") from None
        except ConnectFailed as e:
            raise dial.ProxyFailed(self.proxy, f"cannot connect to the proxy ({e.os_error})") from None

    def _sweep(self) -> None:
        self.sweeper = None
        cutoff = self.loop.time() - self.keepalive_s
        keep = []
        for conn in self.idle:
            if conn.closed:
                continue
            if conn.idle_since <= cutoff:
                conn.close()
            else:
                keep.append(conn)
        self.idle = keep
        if keep:  # the oldest left is the next to expire
            self.sweeper = self.loop.call_at(keep[0].idle_since + self.keepalive_s, self._sweep)


class Target:
    """A URL parsed once: its origin's pool and what every request to it starts with."""

    __slots__ = ("blocks", "defaults", "path", "pool")

    def __init__(self, pool: Pool, path: str, defaults: dict[str, str]):
        self.pool, self.path, self.defaults = pool, path, defaults  # path: absolute when sent to a proxy
        # A deployment sends the same headers every time: each set's lines are built and checked once.
        self.blocks: dict[tuple[tuple[str, str], ...], str] = {}

    def frame(self, method: str, headers: dict[str, str], body: bytes) -> bytes:
        key = tuple(headers.items())
        block = self.blocks.get(key)
        if block is None:
            block = self._block(headers)
            if len(self.blocks) < _MAX_HEADER_SETS:
                self.blocks[key] = block
        if body or method not in _BODYLESS:
            head = f"{method} {self.path} HTTP/1.1\r\n{block}Content-Length: {len(body)}\r\n\r\n".encode()
            return head + body
        return f"{method} {self.path} HTTP/1.1\r\n{block}\r\n".encode()

    def _block(self, headers: dict[str, str]) -> str:
        """Host (and the URL's credentials) unless the caller gives its own, then the caller's
        headers but for the body's framing, which is ours; each line checked for line breaks."""
        given = {name.lower() for name in headers}
        lines = [line for name, line in self.defaults.items() if name not in given]
        for name, value in headers.items():
            if name.lower() in _FRAMING:
                continue
            line = f"{name}: {value}\r\n"
            if line.count("\n") != 1 or line.count("\r") != 1:
                raise ValueError("an upstream request header has a line break in its name or value")
            lines.append(line)
        return "".join(lines)


class Client:
    """Pools per (proxy, origin, TLS), made on first use inside the running loop; one event loop,
    no threads. `route`: how a request leaves (a deployment's proxy and TLS); none, the client's
    own (no proxy, the system's CAs, or `tls`)."""

    def __init__(self, pool_size: int = 1000, keepalive_s: float = 60.0, dns_ttl_s: float = 30.0,
                 tls: ssl.SSLContext | None = None):
        self._pool_size, self._keepalive_s, self._dns_ttl_s = pool_size, keepalive_s, dns_ttl_s
        self._pools: dict[tuple, Pool] = {}
        self._route = Route(tls=tls)  # tls None: the system's trusted CAs, loaded on the first https URL

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes, connect_s: float,
                      first_byte_s: float, total_s: float | None = None, route: Route | None = None) -> Response:
        """Send the request and wait for the reply's status line and headers."""
        targets = (route or self._route).targets
        target = targets.get(url) or self._target(url, route or self._route)
        data = target.frame(method, headers, body)
        pool = target.pool
        deadline = None if total_s is None else pool.loop.time() + total_s
        conn = pool.take()
        if conn is None:
            conn, reused = await pool.acquire(connect_s)
        else:
            reused = True
        try:
            return await exchange(conn, data, first_byte_s, deadline)
        except Disconnected as e:
            if not (reused and e.silent and e.waited <= max(conn.setup_s, _CROSSED_S)):
                raise
        # Not an idle one: the close crossed the request. A new connection, or (the pool full) the
        # next one to come back from a finished reply.
        conn, _ = await pool.acquire(connect_s)
        return await exchange(conn, data, first_byte_s, deadline)

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._route.targets.clear()

    @staticmethod
    def proxy_of(url: str, route: Route) -> str | None:
        """The proxy calls to url on this route go through (shown without password), once known."""
        target = route.targets.get(url)
        return target.pool.shown_proxy if target is not None else None

    @staticmethod
    def proxy_setting_of(url: str, route: Route) -> str | None:
        target = route.targets.get(url)
        return target.pool.proxy.setting if target is not None and target.pool.proxy is not None else None

    def _target(self, url: str, route: Route) -> Target:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
        if scheme not in ("http", "https") or not host:
            raise ValueError(f"not an http(s) URL: {url!r}")
        if not host.isascii():  # an internationalised name: its ASCII form, for DNS, TLS and Host alike
            host = host.encode("idna").decode("ascii")
        default_port = 443 if scheme == "https" else 80
        port = parts.port or default_port
        proxy = route.choose(scheme, host, port)
        # an http:// origin behind an HTTP(S) proxy: absolute form, no tunnel
        forward = proxy is not None and proxy.scheme in ("http", "https") and scheme == "http"
        tls = self._tls_context(route) if scheme == "https" else None
        proxy_tls = self._tls_context(route) if proxy is not None and proxy.scheme == "https" else None
        key = (proxy.url if proxy else None, scheme, host, port, id(tls))
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = Pool(asyncio.get_running_loop(), host, port, tls, self._pool_size,
                                           self._keepalive_s, self._dns_ttl_s, proxy, not forward, route.trusts,
                                           proxy_tls)
        shown = f"[{host}]" if ":" in host else host
        defaults = {"host": f"Host: {shown}{'' if port == default_port else f':{port}'}\r\n", **_STANDARD}
        if parts.username is not None:  # credentials in the URL: basic auth, as curl does
            defaults["authorization"] = f"Authorization: Basic {_basic(parts.username, parts.password)}\r\n"
        path = quote(parts.path or "/", safe=_PATH_SAFE)
        if parts.query:
            path += "?" + quote(parts.query, safe=_QUERY_SAFE)
        if forward:
            path = f"http://{shown}{'' if port == default_port else f':{port}'}{path}"
            proxy_parts = urlsplit(proxy.url)
            if proxy_parts.username is not None:
                defaults["proxy-authorization"] = \
                    f"Proxy-Authorization: Basic {_basic(proxy_parts.username, proxy_parts.password)}\r\n"
        target = Target(pool, path, defaults)
        if len(route.targets) < _MAX_REMEMBERED_URLS:
            route.targets[url] = target
        return target

    def _tls_context(self, route: Route) -> ssl.SSLContext:
        if route.tls is None:  # loading the system's CA certificates takes milliseconds: once
            route.tls = self._route.tls or ssl.create_default_context()
            self._route.tls = route.tls
        return route.tls


def _basic(user: str, password: str | None) -> str:
    return base64.b64encode(f"{unquote(user)}:{unquote(password or '')}".encode()).decode()


async def exchange(conn: Connection, data: bytes, first_byte_s: float, deadline: float | None) -> Response:
    """Send a framed request on `conn` and wait for the reply's status line and headers."""
    ex = Exchange(conn.loop)
    conn.send(ex, data, first_byte_s, deadline)
    try:
        while not ex.head_done:
            if ex.error is not None:
                raise ex.error
            await ex.wait()
        resp = response(ex)
    except BaseException:  # failed or cancelled (the client left): the connection is not reused
        conn.abandon(ex)
        raise
    resp.proxy = conn.pool.shown_proxy
    return resp
