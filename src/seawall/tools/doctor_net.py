"""The probes `seawall doctor` sends: DNS, TCP, TLS and HTTP, each bounded by the timeout and each
ending in facts (never a traceback). aiohttp's exceptions become the probe's failure kinds here,
once (doctor_replies.TRANSPORT names them). Redirects are followed by hand, a few at most, so a
loop is reported instead of followed.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Mapping
from typing import Self
from urllib.parse import urljoin

import aiohttp

from seawall.tools.doctor_replies import Reply

MAX_REDIRECTS = 5
MAX_BODY = 1024 * 1024  # a model list or a short stream is far smaller; a bigger reply is not read further
_REDIRECTS = (301, 302, 303, 307, 308)


async def resolve(host: str, port: int, timeout: float) -> tuple[list[str], str | None]:
    """(addresses, None) or ([], why not)."""
    try:
        infos = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM),
                                       timeout)
    except TimeoutError:
        return [], f"no answer from the resolver within {timeout:g} s"
    except OSError as e:
        return [], f"{host} does not resolve: {e.strerror or e}"
    return list(dict.fromkeys(info[4][0] for info in infos)), None


async def connect(address: str, port: int, timeout: float) -> tuple[float | None, str | None]:
    """(milliseconds to connect, None) or (None, why not)."""
    started = time.perf_counter()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
    except TimeoutError:
        return None, f"no answer from {address}:{port} within {timeout:g} s (a firewall dropping packets?)"
    except ConnectionRefusedError:
        return None, f"connection refused by {address}:{port}: nothing listens on that port"
    except OSError as e:
        return None, f"cannot connect to {address}:{port}: {e.strerror or e}"
    writer.close()
    return (time.perf_counter() - started) * 1000, None


async def handshake(host: str, port: int, timeout: float) -> tuple[str | None, str | None]:
    """(what was negotiated, None) or (None, why the handshake failed), with the system's CA store."""
    context = ssl.create_default_context()
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context, server_hostname=host),
                                           timeout)
    except TimeoutError:
        return None, f"no TLS handshake with {host}:{port} within {timeout:g} s"
    except ssl.SSLCertVerificationError as e:
        return None, f"certificate not trusted: {e.verify_message or e}"
    except (ssl.SSLError, OSError) as e:
        return None, f"TLS handshake failed: {getattr(e, 'reason', None) or e}"
    tls = writer.get_extra_info("ssl_object")
    cert = writer.get_extra_info("peercert") or {}
    writer.close()
    subject = dict(x[0] for x in cert.get("subject", ())).get("commonName", "?")
    return f"{tls.version() if tls else 'TLS'}, certificate for {subject}, valid until {cert.get('notAfter', '?')}", None


class Prober:
    """One aiohttp session for the run. trust_env: HTTP(S)_PROXY / NO_PROXY apply as they do to
    the SDKs, so the doctor travels the path the app travels."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(trust_env=True, timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, url: str, headers: Mapping[str, str] | None = None,
                      json: object = None) -> Reply:
        seen: list[str] = []
        started = time.perf_counter()
        while True:
            reply = await self._once(method, url, headers, json)
            location = reply.headers.get("location")
            if reply.status not in _REDIRECTS or not location:
                return Reply(reply.status, reply.headers, reply.body, reply.failure, tuple(seen),
                             (time.perf_counter() - started) * 1000)
            seen.append(url)
            url = urljoin(url, location)
            if url in seen:
                return Reply(None, reply.headers, b"", ("redirect_loop", f"redirect loop: {' -> '.join(seen + [url])}"),
                             tuple(seen))
            if len(seen) > MAX_REDIRECTS:
                why = f"more than {MAX_REDIRECTS} redirects: {' -> '.join(seen)}"
                return Reply(None, reply.headers, b"", ("redirects", why), tuple(seen))

    async def _once(self, method: str, url: str, headers: Mapping[str, str] | None, json: object) -> Reply:
        assert self._session is not None
        try:
            async with self._session.request(method, url, headers=dict(headers or {}), json=json,
                                             allow_redirects=False) as response:
                got = {k.lower(): v for k, v in response.headers.items()}
                body, failure = await _read(response)
                return Reply(response.status, got, body, failure)
        except (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError) as e:
            return Reply(failure=("proxy", f"the proxy: {e}"))
        except aiohttp.ClientConnectorDNSError as e:
            return Reply(failure=("dns", f"DNS: {e.os_error.strerror if e.os_error else e}"))
        except aiohttp.ClientSSLError as e:
            return Reply(failure=("tls", f"TLS: {e}"))
        except aiohttp.ClientConnectorError as e:
            return Reply(failure=("connect", f"cannot connect: {e.os_error.strerror if e.os_error else e}"))
        except TimeoutError:
            return Reply(failure=("timeout", f"no reply within {self.timeout:g} s"))
        except aiohttp.ServerDisconnectedError:
            return Reply(failure=("not_http", "the server closed the connection without an HTTP reply"))
        except aiohttp.ClientResponseError as e:  # the bytes that came back were not HTTP
            return Reply(failure=("not_http", f"the reply is not HTTP ({e.message})"))
        except aiohttp.ClientError as e:
            return Reply(failure=("connect", f"{type(e).__name__}: {e}"))


async def _read(response: aiohttp.ClientResponse) -> tuple[bytes, tuple[str, str] | None]:
    """The body, up to MAX_BODY; a cut connection keeps what arrived and says so."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.content.iter_any():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_BODY:
                break
    except aiohttp.ClientPayloadError as e:
        return b"".join(chunks), ("cut", f"the connection broke mid-body ({e})")
    except TimeoutError:
        return b"".join(chunks), ("timeout", "the body stopped arriving before the timeout")
    except aiohttp.ClientError as e:
        return b"".join(chunks), ("cut", f"the connection broke mid-body ({type(e).__name__})")
    return b"".join(chunks), None
