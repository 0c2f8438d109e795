"""The upstream HTTP/1.1 client's pools: keep-alive connections (http1.py) per origin, and the
request framing for each URL, parsed once.

- One pool per origin (scheme, host, port): at most `pool_size` connections open or opening (a
  request past that waits for one, within connect_s); idle ones are reused newest first and
  closed after keepalive_s; a host name is resolved at most once per dns_ttl_s.
- A connection comes back only from http1.Connection, once its reply was read to the end and the
  server kept it alive. One the server closed while idle is skipped; one that fails before any
  byte of its reply (the close crossed the request) is replaced by a fresh one, once: nothing was
  received, so sending the request again is safe.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import socket
import ssl
from urllib.parse import quote, unquote, urlsplit

from seawall.providers.http1 import (ConnectFailed, ConnectTimedOut, Connection, Disconnected, NameNotResolved,
                                     Response, TLSFailed, exchange)

# Upstream URLs come from the config, except a few with an ID in them (a Midjourney task's):
# past this many distinct ones, a URL is parsed per request instead of remembered.
_MAX_REMEMBERED_URLS = 1024
_MAX_HEADER_SETS = 64  # per URL; past it (keys rotated per request?) the lines are built per request
_BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})  # no Content-Length: 0 on these (RFC 9110 8.6)
_FRAMING = frozenset({"content-length", "transfer-encoding"})  # the body is framed here, whatever the caller says
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"  # already-escaped and reserved characters stay as written
_QUERY_SAFE = _PATH_SAFE + "?"


class Pool:
    """The connections to one origin: idle ones newest last, at most `size` open or opening."""

    def __init__(self, loop: asyncio.AbstractEventLoop, host: str, port: int, tls: ssl.SSLContext | None,
                 size: int, keepalive_s: float, dns_ttl_s: float):
        self.loop, self.host, self.port, self.tls = loop, host, port, tls
        self.size, self.keepalive_s, self.dns_ttl_s = size, keepalive_s, dns_ttl_s
        self.idle: list[Connection] = []
        self.conns: set[Connection] = set()
        self.count = 0  # connections open or being opened
        self.waiters: collections.deque[asyncio.Future] = collections.deque()
        self.sweeper: asyncio.TimerHandle | None = None
        self.addrs: list[tuple[int, str]] = []
        self.addrs_until = 0.0
        self.closed = False

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
                raise ConnectTimedOut(f"no free connection within {connect_s:g} s") from None
            raise

    async def _connect(self, connect_s: float) -> Connection:
        try:
            async with asyncio.timeout(connect_s):
                error: OSError | None = None
                for family, address in await self._resolve():
                    try:
                        _, conn = await self.loop.create_connection(
                            lambda: Connection(self), address, self.port, family=family, ssl=self.tls,
                            server_hostname=self.host if self.tls is not None else None)
                        return conn
                    except ssl.SSLError as e:  # before OSError: SSLError is one
                        raise TLSFailed(e) from None
                    except OSError as e:
                        error = e
                raise ConnectFailed(error or OSError(f"no address for {self.host}"))
        except TimeoutError:
            raise ConnectTimedOut(f"connecting took longer than {connect_s:g} s") from None

    async def _resolve(self) -> list[tuple[int, str]]:
        now = self.loop.time()
        if not self.addrs or now >= self.addrs_until:
            try:
                infos = await self.loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            except socket.gaierror as e:
                raise NameNotResolved(e) from None
            self.addrs = list(dict.fromkeys((family, sockaddr[0]) for family, _, _, _, sockaddr in infos))
            self.addrs_until = now + self.dns_ttl_s
        return self.addrs

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
        self.pool, self.path, self.defaults = pool, path, defaults
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
    """Pools per origin, made on first use inside the running loop; one event loop, no threads."""

    def __init__(self, pool_size: int = 1000, keepalive_s: float = 60.0, dns_ttl_s: float = 300.0,
                 tls: ssl.SSLContext | None = None):
        self._pool_size, self._keepalive_s, self._dns_ttl_s = pool_size, keepalive_s, dns_ttl_s
        self._pools: dict[tuple[str, str, int], Pool] = {}
        self._targets: dict[str, Target] = {}
        self._tls = tls  # None: the system's trusted CAs, loaded on the first https URL

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes, connect_s: float,
                      first_byte_s: float, total_s: float | None = None) -> Response:
        """Send the request and wait for the reply's status line and headers."""
        target = self._targets.get(url) or self._target(url)
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
            if not (reused and e.silent):
                raise
        # Not an idle one: the close crossed the request. A new connection, or (the pool full) the
        # next one to come back from a finished reply.
        conn, _ = await pool.acquire(connect_s)
        return await exchange(conn, data, first_byte_s, deadline)

    async def describe(self, url: str, resolve_s: float = 2.0) -> dict:
        """The network path to `url` as this client sees it, for a support bundle: the addresses
        its name resolves to now (and the ones the pool holds), the pool's connections, and the
        TLS session of an open connection (version, cipher, the peer's certificate)."""
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        out: dict = {"scheme": scheme, "host": host, "port": port,
                     "proxy": None,  # this client connects directly: HTTP(S)_PROXY are not read
                     "resolved": [], "pooled_addresses": [], "connections_open": 0, "connections_idle": 0, "tls": None}
        try:
            async with asyncio.timeout(resolve_s):
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            out["resolved"] = list(dict.fromkeys(sockaddr[0] for *_, sockaddr in infos))
        except (OSError, TimeoutError) as e:
            out["resolve_error"] = f"{type(e).__name__}: {e}"
        pool = self._pools.get((scheme, host, port))
        if pool is not None:
            out["pooled_addresses"] = [address for _, address in pool.addrs]
            out["connections_open"], out["connections_idle"] = pool.count, len(pool.idle)
            conn = next((c for c in (*pool.idle, *pool.conns) if not c.closed and c.transport is not None), None)
            if conn is not None:
                out["peer"] = _peer(conn.transport.get_extra_info("peername"))
                ssl_object = conn.transport.get_extra_info("ssl_object")
                if ssl_object is not None:
                    out["tls"] = _tls_session(ssl_object)
        if scheme == "https" and out["tls"] is None:
            out["tls_note"] = "no open connection to read the TLS session from; it shows after the next request"
        return out

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._targets.clear()

    def _target(self, url: str) -> Target:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
        if scheme not in ("http", "https") or not host:
            raise ValueError(f"not an http(s) URL: {url!r}")
        if not host.isascii():  # an internationalised name: its ASCII form, for DNS, TLS and Host alike
            host = host.encode("idna").decode("ascii")
        default_port = 443 if scheme == "https" else 80
        port = parts.port or default_port
        pool = self._pools.get((scheme, host, port))
        if pool is None:
            tls = self._tls_context() if scheme == "https" else None
            pool = self._pools[(scheme, host, port)] = Pool(asyncio.get_running_loop(), host, port, tls,
                                                            self._pool_size, self._keepalive_s, self._dns_ttl_s)
        shown = f"[{host}]" if ":" in host else host
        defaults = {"host": f"Host: {shown}{'' if port == default_port else f':{port}'}\r\n"}
        if parts.username is not None:  # credentials in the URL: basic auth, as curl does
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            defaults["authorization"] = f"Authorization: Basic {base64.b64encode(pair).decode()}\r\n"
        path = quote(parts.path or "/", safe=_PATH_SAFE)
        if parts.query:
            path += "?" + quote(parts.query, safe=_QUERY_SAFE)
        target = Target(pool, path, defaults)
        if len(self._targets) < _MAX_REMEMBERED_URLS:
            self._targets[url] = target
        return target

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:  # loading the system's CA certificates takes milliseconds: once
            self._tls = ssl.create_default_context()
        return self._tls


def _peer(peername: object) -> str | None:
    return f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) and len(peername) >= 2 else None


def _tls_session(ssl_object: ssl.SSLObject) -> dict:
    cert = ssl_object.getpeercert() or {}

    def name(field: str) -> str:
        return ", ".join(f"{k}={v}" for rdn in cert.get(field, ()) for k, v in rdn)

    cipher = ssl_object.cipher()
    return {"version": ssl_object.version(), "cipher": cipher[0] if cipher else None,
            "server_name": ssl_object.server_hostname, "peer_subject": name("subject") or None,
            "peer_issuer": name("issuer") or None, "peer_not_after": cert.get("notAfter"),
            "peer_alt_names": [v for _, v in cert.get("subjectAltName", ())]}
