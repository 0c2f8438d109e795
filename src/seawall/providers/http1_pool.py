"""The upstream HTTP/1.1 client's pools: keep-alive connections (http1.py) to one origin through
one proxy (or none), made by dial.py.

- At most `size` connections open or opening (a request past that waits for one, within
  connect_s, then is told the pool is full); idle ones are reused newest first and closed after
  keepalive_s. dial.py makes the sockets (happy eyeballs, SOCKS); an HTTP(S) proxy's CONNECT
  tunnel and TLS inside it are set up here.
- A connection comes back only from http1.Connection, once its reply was read to the end and the
  server kept it alive. One the server closed while idle is skipped.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from urllib.parse import urlsplit

from seawall.decide.proxy import ProxyChoice
from seawall.providers import dial
from seawall.providers.http1 import ConnectFailed, ConnectTimedOut, Connection, HTTPFailure, NameNotResolved, TLSFailed
from seawall.providers.tls_errors import LOOK_ONLY as _LOOK_ONLY
from seawall.providers.tls_errors import issuer_of


class PoolExhausted(HTTPFailure):
    """Every connection of the pool stayed busy for connect_s: the gateway's own limit, not the
    upstream's network."""

    def __init__(self, origin: str, size: int, waited_s: float):
        super().__init__(f"all {size} connections to {origin} stayed busy for {waited_s:g} s")
        self.origin, self.size, self.waited_s = origin, size, waited_s

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
