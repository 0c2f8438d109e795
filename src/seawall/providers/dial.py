"""Making the socket a pooled connection runs on: straight to the origin, through an HTTP proxy's
CONNECT tunnel, or through a SOCKS5 proxy. The pool (http1_pool.py) wraps the socket with TLS
and its protocol; the whole of a dial is bounded by the caller's connect_s.

- Direct: the name is resolved (answers kept for dns_ttl_s, dropped when connecting to them
  fails) and its addresses raced as RFC 8305 ("happy eyeballs") says: IPv6 and IPv4 taken in
  turn, a new attempt started every 250 ms while the earlier ones are still trying, the first
  connected socket kept and the others closed. asyncio's own create_connection(happy_eyeballs_delay)
  does this, but uvloop's (the gateway's loop) does not; asyncio.staggered is the race it uses.
- Through a SOCKS5 proxy: python-socks speaks it (socks5: the origin's name resolved here;
  socks5h: by the proxy) and hands back the connected socket.
- Through an HTTP proxy (http:// or https://, TLS to the proxy itself): a CONNECT tunnel with
  basic auth (Tunnel below), then TLS to the origin inside it (loop.start_tls). By hand because
  python-socks' asyncio API can't speak TLS to the proxy and hand back a transport; it is one
  request and one status line. An http:// origin behind an HTTP proxy is not tunnelled: requests
  go to the proxy in absolute form (RFC 9112 3.2.2), as curl and httpx send them (many proxies
  allow CONNECT only to 443).

Failures are ConnectFailed / NameNotResolved (the origin), or ProxyFailed (the proxy: refused,
its name, its answer to CONNECT), each saying which.
"""

from __future__ import annotations

import asyncio
import asyncio.staggered
import base64
import encodings.idna  # noqa: F401 - loaded here, at start: its import on the first connect stalled the loop 7-15 ms
import functools
import socket
from urllib.parse import unquote, urlsplit

from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError, ProxyType
from python_socks.async_.asyncio import Proxy

from seawall.decide.proxy import ProxyChoice
from seawall.providers.http1 import ConnectFailed, HTTPFailure, NameNotResolved

HAPPY_EYEBALLS_DELAY_S = 0.25  # RFC 8305 5: "a recommended value of 250 milliseconds"


class ProxyFailed(HTTPFailure):
    """The proxy did not give a connection to the origin. `status`: its HTTP answer to CONNECT
    (407: the credentials), or None."""

    def __init__(self, proxy: ProxyChoice, what: str, status: int | None = None):
        super().__init__(what)
        self.proxy, self.what, self.status = proxy, what, status


class Addresses:
    """One host name's addresses, resolved at most once per ttl_s and forgotten when connecting
    to them failed (the name may have moved)."""

    __slots__ = ("host", "port", "ttl_s", "_found", "_until")

    def __init__(self, host: str, port: int, ttl_s: float):
        self.host, self.port, self.ttl_s = host, port, ttl_s
        self._found: list[tuple[int, str]] = []
        self._until = 0.0

    async def get(self, loop: asyncio.AbstractEventLoop) -> list[tuple[int, str]]:
        now = loop.time()
        if not self._found or now >= self._until:
            try:
                infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            except socket.gaierror as e:
                raise NameNotResolved(e) from None
            self._found = interleave(list(dict.fromkeys((family, addr[0]) for family, _, _, _, addr in infos)))
            self._until = now + self.ttl_s
        return self._found

    def forget(self) -> None:
        self._found = []

    @property
    def known(self) -> list[str]:
        """The addresses held now (for a support bundle's network path)."""
        return [address for _, address in self._found]


def interleave(addresses: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """RFC 8305 4: alternate the families, starting with the resolver's first."""
    if not addresses:
        return addresses
    first = addresses[0][0]
    ours = [a for a in addresses if a[0] == first]
    others = [a for a in addresses if a[0] != first]
    out = []
    for i in range(max(len(ours), len(others))):
        out += ours[i:i + 1] + others[i:i + 1]
    return out


async def happy_eyeballs(loop: asyncio.AbstractEventLoop, addresses: list[tuple[int, str]], port: int,
                         delay_s: float = HAPPY_EYEBALLS_DELAY_S) -> socket.socket:
    """The first socket to connect to one of the addresses; the others are closed."""
    if len(addresses) == 1:
        return await _connect_one(loop, [], *addresses[0], port)
    made: list[socket.socket] = []
    sock = None
    try:
        sock, _, errors = await asyncio.staggered.staggered_race(
            [functools.partial(_connect_one, loop, made, family, address, port) for family, address in addresses],
            delay_s)
    finally:  # a race may connect two before the loser is cancelled: only the winner is kept
        for other in made:
            if other is not sock:
                other.close()
    if sock is None:
        raise next((e for e in reversed(errors) if isinstance(e, OSError)), OSError("no address connected"))
    return sock


async def _connect_one(loop: asyncio.AbstractEventLoop, made: list[socket.socket], family: int, address: str,
                       port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await loop.sock_connect(sock, (address, port))
    except BaseException:
        sock.close()
        raise
    made.append(sock)
    return sock


async def direct(loop: asyncio.AbstractEventLoop, where: Addresses) -> socket.socket:
    addresses = await where.get(loop)
    try:
        return await happy_eyeballs(loop, addresses, where.port)
    except OSError as e:
        where.forget()
        raise ConnectFailed(e) from None
    except asyncio.CancelledError:  # connect_s ran out: the next try asks the resolver again
        where.forget()
        raise


def socks(proxy: ProxyChoice) -> Proxy:
    """python-socks' client for a SOCKS5 proxy (built once per pool)."""
    parts = urlsplit(proxy.url)
    return Proxy(ProxyType.SOCKS5, parts.hostname, parts.port or 1080,
                 unquote(parts.username) if parts.username else None,
                 unquote(parts.password) if parts.password else None,
                 rdns=parts.scheme == "socks5h", loop=asyncio.get_running_loop())


async def through(proxy: ProxyChoice, client: Proxy, host: str, port: int, timeout_s: float) -> socket.socket:
    """A socket connected to host:port through the proxy, within timeout_s."""
    try:
        return await client.connect(host, port, timeout=timeout_s)
    except ProxyTimeoutError:
        raise TimeoutError() from None
    except ProxyConnectionError as e:
        cause = e.__cause__
        if isinstance(cause, socket.gaierror):
            raise ProxyFailed(proxy, f"the proxy's host name does not resolve ({cause.strerror or cause})") from None
        raise ProxyFailed(proxy, f"cannot connect to the proxy ({getattr(cause, 'strerror', None) or e})") from None
    except ProxyError as e:
        return _refused(proxy, e, host, port)
    except socket.gaierror as e:  # socks5: the origin's own name, resolved here
        raise NameNotResolved(e) from None
    except OSError as e:
        raise ProxyFailed(proxy, f"the connection to the proxy broke ({e.strerror or e})") from None


def _refused(proxy: ProxyChoice, e: ProxyError, host: str, port: int):
    raise ProxyFailed(proxy, socks_refusal(str(e), host, port, bool(urlsplit(proxy.url).username)))


def socks_refusal(said: str, host: str, port: int, gave_credentials: bool) -> str:
    """What a SOCKS5 proxy's refusal means. python-socks tells its refusals apart only by their
    text (one ProxyError for all): the two about authentication are recognised here, so a wrong
    password reads as one, not as a refused destination."""
    if said.startswith("Username and password authentication failure"):
        return "the proxy refused its credentials (SOCKS5 username/password authentication failed)"
    if said.startswith("No acceptable authentication methods"):
        if gave_credentials:
            return ("the proxy accepts none of the SOCKS5 authentication methods offered (username/password); "
                    f"it asks for another ({said})")
        return "the proxy asks for a username and password (SOCKS5), and the proxy URL gives none"
    return f"the proxy refused the connection to {host}:{port} ({said})"


_MAX_CONNECT_REPLY = 64 * 1024


class Tunnel(asyncio.Protocol):
    """One CONNECT exchange with an HTTP proxy, on a connection to it (TLS or not). Once the proxy
    answers 2xx, the transport is the origin's: the caller hands it to its own protocol."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = b""
        self._done: asyncio.Future | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    async def open(self, proxy: ProxyChoice, host: str, port: int) -> None:
        """Ask for host:port; ProxyFailed with the proxy's answer unless it is 2xx."""
        self._done = asyncio.get_running_loop().create_future()
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        head = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
        parts = urlsplit(proxy.url)
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            head += f"Proxy-Authorization: Basic {base64.b64encode(pair).decode()}\r\n"
        self.transport.write((head + "\r\n").encode())
        try:
            status, reason = await self._done
        except ProxyFailed as e:  # raised where the proxy was not known: say which
            raise ProxyFailed(proxy, e.what) from None
        if status == 407:
            raise ProxyFailed(proxy, "the proxy refused its credentials (407 Proxy Authentication Required)", 407)
        if not 200 <= status < 300:
            raise ProxyFailed(proxy, f"the proxy refused the tunnel to {target} (CONNECT answered {status} {reason})",
                              status)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > _MAX_CONNECT_REPLY:
                self._finish(ProxyFailed(_UNKNOWN, "the proxy's answer to CONNECT has no end"))
            return
        line = self._buf[:self._buf.find(b"\r\n")].decode("latin-1")
        version, _, rest = line.partition(" ")
        code, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/") or not code.isdigit():
            self._finish(ProxyFailed(_UNKNOWN, f"the proxy's answer to CONNECT is not HTTP: {line[:80]!r}"))
            return
        self._finish((int(code), reason.strip()))

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(ProxyFailed(_UNKNOWN, "the proxy closed the connection instead of answering CONNECT"))

    def _finish(self, result) -> None:
        done = self._done
        if done is None or done.done():
            return
        if isinstance(result, ProxyFailed):
            done.set_exception(result)
        else:
            done.set_result(result)


_UNKNOWN = ProxyChoice("", "", "")  # replaced by the caller, who knows which proxy it was
