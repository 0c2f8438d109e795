"""The upstream HTTP/1.1 client: routes, the request framing for each URL (parsed once per
route), and the one rule for sending a request again. The pools are http1_pool.py's.

- A Route is how one deployment's calls leave: its proxy rule (decide/proxy.py) and TLS context.
  Each URL it calls is parsed, and its proxy chosen, once (a Target); requests then only frame.
- One pool per (proxy, origin, TLS context).
- A reused connection that fails before any byte of its reply, at once (within the connection's
  own set-up time, itself at least a round trip: the server's close crossed the request), is
  replaced by a fresh one, once: the server dropped the request unread. One that failed after
  waiting longer may have been read and acted on (a completion billed), so it is never sent again.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from collections.abc import AsyncIterable, Callable
from urllib.parse import quote, unquote, urlsplit

from seawall import __version__
from seawall.decide.proxy import ProxyChoice
from seawall.providers.encoding import response
from seawall.providers.http1 import Connection, Disconnected, Exchange, Response
from seawall.providers.http1_pool import Pool

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



class Route:
    """How one deployment's calls leave: the proxy for an origin (decided once per URL, then kept
    in its Target), the TLS context and what it trusts (for error messages)."""

    __slots__ = ("choose", "targets", "tls", "trusts")

    def __init__(self, choose: Callable[[str, str, int], ProxyChoice | None] = lambda scheme, host, port: None,
                 tls: ssl.SSLContext | None = None, trusts: str = "the system's CA certificates"):
        self.choose, self.tls, self.trusts = choose, tls, trusts
        self.targets: dict[str, Target] = {}

class Target:
    """A URL parsed once: its origin's pool and what every request to it starts with."""

    __slots__ = ("blocks", "defaults", "path", "pool")

    def __init__(self, pool: Pool, path: str, defaults: dict[str, str]):
        self.pool, self.path, self.defaults = pool, path, defaults  # path: absolute when sent to a proxy
        # A deployment sends the same headers every time: each set's lines are built and checked once.
        self.blocks: dict[tuple[tuple[str, str], ...], str] = {}

    def frame_head(self, method: str, headers: dict[str, str], length: int | None) -> bytes:
        """The head of a request whose body follows as a stream: its length, or chunked."""
        framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
        return f"{method} {self.path} HTTP/1.1\r\n{self._cached_block(headers)}{framing}\r\n\r\n".encode()

    def _cached_block(self, headers: dict[str, str]) -> str:
        key = tuple(headers.items())
        block = self.blocks.get(key)
        if block is None:
            block = self._block(headers)
            if len(self.blocks) < _MAX_HEADER_SETS:
                self.blocks[key] = block
        return block

    def frame(self, method: str, headers: dict[str, str], body: bytes) -> bytes:
        block = self._cached_block(headers)
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

    async def request(self, method: str, url: str, headers: dict[str, str], body: bytes | AsyncIterable[bytes],
                      connect_s: float, first_byte_s: float, total_s: float | None = None, route: Route | None = None,
                      length: int | None = None) -> Response:
        """Send the request and wait for the reply's status line and headers. `body`: bytes, or
        an async iterable of chunks sent as they come (`length` bytes in all, None: unknown)."""
        targets = (route or self._route).targets
        target = targets.get(url) or self._target(url, route or self._route)
        pool = target.pool
        deadline = None if total_s is None else pool.loop.time() + total_s
        if not isinstance(body, bytes):  # a streamed body can't be sent twice: no resend, whatever fails
            head = target.frame_head(method, headers, length)
            conn = pool.take() or (await pool.acquire(connect_s))[0]
            return await exchange_streamed(conn, head, body, length, first_byte_s, deadline)
        data = target.frame(method, headers, body)
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

    async def describe(self, url: str, route: Route | None = None, resolve_s: float = 2.0) -> dict:
        """The network path to `url` as this client sees it on `route`, for a support bundle: the
        proxy it goes through, the addresses its name resolves to now (and the ones the pool
        holds), the pool's connections, and the TLS session of an open connection (version,
        cipher, the peer's certificate)."""
        route = route or self._route
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        chosen = route.choose(scheme, host, port)
        out: dict = {"scheme": scheme, "host": host, "port": port,
                     "proxy": f"{chosen.shown} ({chosen.setting})" if chosen is not None else None,
                     "resolved": [], "pooled_addresses": [], "connections_open": 0, "connections_idle": 0, "tls": None}
        try:
            async with asyncio.timeout(resolve_s):
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
            out["resolved"] = list(dict.fromkeys(sockaddr[0] for *_, sockaddr in infos))
        except (OSError, TimeoutError) as e:
            out["resolve_error"] = f"{type(e).__name__}: {e}"
        target = route.targets.get(url)
        pool = target.pool if target is not None else None
        if pool is not None:
            out["pooled_addresses"] = pool.where.known  # the proxy's, when one is in the way
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


def _basic(user: str, password: str | None) -> str:
    return base64.b64encode(f"{unquote(user)}:{unquote(password or '')}".encode()).decode()


async def exchange_streamed(conn: Connection, head: bytes, body: AsyncIterable[bytes], length: int | None,
                            first_byte_s: float, deadline: float | None) -> Response:
    """Send a head, then the body's chunks as the iterable yields them (chunked when `length` is
    None), then wait for the reply's head. A reply that comes first (a refusal) ends the sending;
    the connection, its request cut short, is then never reused. Whatever the body's iterable
    raises (an upload that broke a rule) is raised here, the upstream left with an incomplete
    request it can't act on."""
    ex = Exchange(conn.loop)
    conn.sending = True
    conn.send(ex, head, first_byte_s, deadline)
    sent = 0
    try:
        async for chunk in body:
            if ex.head_done or ex.error is not None or conn.closed:
                break
            if not chunk:
                continue
            sent += len(chunk)
            if length is not None and sent > length:
                raise ValueError(f"a streamed request body is longer than its declared {length} bytes")
            conn.write_body(chunk if length is not None else b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await conn.drain()
        else:
            if length is None:
                conn.write_body(b"0\r\n\r\n")
            elif sent != length and not conn.closed:
                raise ValueError(f"a streamed request body ended at {sent} of its declared {length} bytes")
            conn.sending = False
        while not ex.head_done:
            if ex.error is not None:
                raise ex.error
            await ex.wait()
        resp = response(ex)
    except BaseException:  # failed, refused by the body's own checks, or cancelled: never reused
        conn.abandon(ex)
        raise
    if conn.sending:  # answered before the whole body went out: the request is cut, the connection too
        conn.keep_alive = False
        conn.sending = False
        if ex.done:  # already detached and left out of the pool (it was sending): drop it
            conn.close()
    resp.proxy = conn.pool.shown_proxy
    return resp


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
