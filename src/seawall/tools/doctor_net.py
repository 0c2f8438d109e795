"""The probes `seawall doctor` sends: DNS, TCP, TLS and HTTP, each bounded by the timeout and each
ending in facts (never a traceback). The HTTP probes go through the gateway's own transport with
the same `network:` settings (proxy, environment, TLS), so the doctor and the gateway never
disagree about how an endpoint is reached; its failure kinds become the probe's here, once
(doctor_replies.TRANSPORT names them). Redirects are followed by hand, a few at most, so a loop
is reported instead of followed.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Mapping
from typing import Self
from urllib.parse import urljoin

import orjson

from seawall.config import Timeouts
from seawall.providers.base import UpstreamRequest
from seawall.providers.http1_client import Route
from seawall.providers.network import Network
from seawall.providers.transport import Transport, UpstreamFailure, UpstreamResponse
from seawall.tools.doctor_replies import Reply

_DEPLOYMENT = "doctor"  # the route name of --deployment's own settings
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


async def handshake(host: str, port: int, timeout: float, context: ssl.SSLContext | None = None
                    ) -> tuple[str | None, str | None]:
    """(what was negotiated, None) or (None, why the handshake failed), with the given context (the
    gateway's network.tls), else the system's CA store."""
    context = context or ssl.create_default_context()
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
    """One transport for the run, with the gateway's network settings (`network`; by default the
    environment's HTTP(S)_PROXY / NO_PROXY, as the gateway and the SDKs read them)."""

    def __init__(self, timeout: float, network: Network | None = None, route: Route | None = None):
        self.timeout = timeout
        self._limits = Timeouts(connect_s=timeout, read_s=timeout, total_s=timeout)
        self._network, self._route = network, route  # route: a deployment's own (--deployment)
        self._transport: Transport | None = None

    async def __aenter__(self) -> Self:
        self._transport = Transport(network=self._network)
        if self._route is not None:
            self._transport.add_route(_DEPLOYMENT, self._route)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._transport is not None:
            await self._transport.close()

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
        assert self._transport is not None
        sent = dict(headers or {})
        body = b""
        if json is not None:
            body = orjson.dumps(json)
            sent.setdefault("content-type", "application/json")
        try:
            response = await self._transport.open(UpstreamRequest(method, url, sent, body), self._limits,
                                                  _DEPLOYMENT if self._route is not None else None)
        except UpstreamFailure as f:
            return Reply(failure=_failure(f, self.timeout))
        except ValueError as e:  # not an http(s) URL, a header with a line break
            return Reply(failure=("connect", f"cannot send the request: {e}"))
        got = {k.lower(): v for k, v in response.headers.items()}
        body, failure = await _read(response, self.timeout)
        return Reply(response.status, got, body, failure)


def _failure(f: UpstreamFailure, timeout: float) -> tuple[str, str]:
    """The transport's failure as the doctor's kind and evidence."""
    if f.kind == "proxy":
        return "proxy", f"the proxy {f.proxy}: {f.detail} (set by {f.setting})"
    if f.kind == "timeout":
        return "timeout", f"no reply within {timeout:g} s"
    if f.kind in ("dns", "tls"):
        return f.kind, f"{f.kind.upper()}: {f.detail}"
    if f.kind == "reset" and f.detail == "the upstream closed the connection":
        return "not_http", "the server closed the connection without an HTTP reply"
    if f.kind in ("reset", "malformed") and "not valid HTTP" in f.detail or f.kind == "malformed":
        return "not_http", f"the reply is not HTTP ({f.detail})"
    return "connect", f"cannot connect: {f.detail}"


async def _read(response: UpstreamResponse, timeout: float) -> tuple[bytes, tuple[str, str] | None]:
    """The body, up to MAX_BODY; a cut connection keeps what arrived and says so."""
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := await response.next_chunk():
            chunks.append(chunk)
            size += len(chunk)
            if size >= MAX_BODY:
                response.close()
                break
    except UpstreamFailure as f:
        if f.kind == "timeout":
            return b"".join(chunks), ("timeout", "the body stopped arriving before the timeout")
        return b"".join(chunks), ("cut", f"the connection broke mid-body ({f.detail})")
    return b"".join(chunks), None
