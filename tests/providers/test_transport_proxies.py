"""The transport through real proxies (tests/proxy_servers.py: squid with basic auth, dante's
SOCKS5) to a real HTTPS upstream with a private CA: routes, tunnels, and each way a proxy fails,
said with the proxy's name and the setting that chose it."""

import asyncio
import socket
import ssl

import pytest
from proxy_servers import PASSWORD, USER, dante, squid
from raw_upstream import LAST_CHUNK, SSE_HEAD, RawUpstream, certificates, chunk, ok, until

from seawall.config import NetworkSettings, Timeouts, TLSSettings
from seawall.providers.base import UpstreamRequest
from seawall.providers.network import Network
from seawall.providers.transport import Transport, UpstreamFailure

T = Timeouts(connect_s=5, read_s=10)


@pytest.fixture(scope="module")
def squid_proxy():
    with squid() as p:
        yield p


@pytest.fixture(scope="module")
def socks_proxy():
    with dante() as p:
        yield p


@pytest.fixture
def private_ca(tmp_path):
    ca, cert, key = certificates(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return ca, server


async def stream(n, head, body, w):
    w.write(SSE_HEAD + chunk(b"data: 1\n\n") + chunk(b"data: [DONE]\n\n") + LAST_CHUNK)
    return True


def transport(proxy: str | None = None, ca: str | None = None, environ: dict | None = None, **settings) -> Transport:
    tls = TLSSettings(ca_file=ca) if ca else TLSSettings()
    return Transport(network=Network(NetworkSettings(proxy=proxy, tls=tls, **settings), environ or {}))


async def call(t: Transport, url: str) -> tuple[bytes, str | None]:
    resp = await t.open(UpstreamRequest("POST", url, {"content-type": "application/json"}, b"{}"), T)
    return await resp.read(), resp.proxy


def access_log(proxy) -> str:
    with open(f"{proxy.folder}/access.log") as f:
        return f.read()


@pytest.mark.parametrize("scheme", ["http-connect", "socks5", "socks5h"])
async def test_https_through_a_proxy_with_a_private_ca(scheme, squid_proxy, socks_proxy, private_ca):
    ca, server_tls = private_ca
    proxy = squid_proxy.url("http", USER, PASSWORD) if scheme == "http-connect" else socks_proxy.url(scheme)
    async with RawUpstream(stream, tls=server_tls) as up:
        # socks5h: the proxy resolves the name; socks5 and CONNECT to an address
        url = up.url.replace("127.0.0.1", "localhost") if scheme == "socks5h" else up.url
        t = transport(proxy, ca)
        try:
            for _ in range(2):
                body, used = await call(t, url)
                assert body == b"data: 1\n\ndata: [DONE]\n\n"
        finally:
            await t.close()
    assert used == proxy.replace(f"{PASSWORD.replace(' ', '%20')}", "***")
    assert (up.accepted, len(up.requests)) == (1, 2)  # one tunnel, kept alive
    assert up.requests[0][0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    if scheme == "http-connect":
        await until(lambda: f"CONNECT 127.0.0.1:{up.port}" in access_log(squid_proxy) and
                    f"{USER} " in access_log(squid_proxy))


async def test_an_http_origin_goes_to_the_proxy_in_absolute_form(squid_proxy):
    async with RawUpstream(ok) as up:
        t = transport(squid_proxy.url("http", USER, PASSWORD))
        try:
            body, used = await call(t, up.url)
        finally:
            await t.close()
    assert body == b'{"ok": true}' and used.startswith("http://alice:***@")
    assert b"Via: " in up.requests[0][0]  # it came through squid
    await until(lambda: f"POST http://127.0.0.1:{up.port}/v1/chat/completions" in access_log(squid_proxy))


@pytest.mark.parametrize("origin", ["https", "http"])
async def test_a_refused_proxy_password_is_explained(origin, squid_proxy, private_ca):
    ca, server_tls = private_ca
    async with RawUpstream(ok, tls=server_tls if origin == "https" else None) as up:
        t = transport(squid_proxy.url("http", USER, "wrong"), ca)
        try:
            with pytest.raises(UpstreamFailure) as e:
                await call(t, up.url)
        finally:
            await t.close()
    f = e.value
    assert (f.kind, f.setting) == ("proxy", "network.proxy")
    assert f.detail == "the proxy refused its credentials (407 Proxy Authentication Required)"
    assert f.proxy == f"http://alice:***@127.0.0.1:{squid_proxy.port}" and "wrong" not in str(f)
    assert up.accepted == 0


async def test_a_tunnel_the_proxy_refuses_names_its_status(squid_proxy):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    t = transport(squid_proxy.url("http", USER, PASSWORD))
    try:
        with pytest.raises(UpstreamFailure) as e:
            await call(t, f"https://127.0.0.1:{closed}/v1/chat/completions")
    finally:
        await t.close()
    assert e.value.kind == "proxy"
    assert e.value.detail.startswith(f"the proxy refused the tunnel to 127.0.0.1:{closed} (CONNECT answered 503")


@pytest.mark.parametrize("proxy,detail", [
    ("http://127.0.0.1:{closed}", "cannot connect to the proxy ("),
    ("socks5://127.0.0.1:{closed}", "cannot connect to the proxy ("),
    ("http://seawall-proxy.invalid:3128", "the proxy's host name does not resolve ("),
    ("socks5h://seawall-proxy.invalid:1080", "the proxy's host name does not resolve ("),
])
async def test_an_unreachable_proxy_is_network_proxy(proxy, detail):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    t = transport(proxy.format(closed=closed))
    try:
        for url in ("https://api.example.com/v1/chat/completions", "http://api.example.com/v1/chat/completions"):
            with pytest.raises(UpstreamFailure) as e:
                await call(t, url)
            assert e.value.kind == "proxy" and e.value.detail.startswith(detail), e.value.detail
    finally:
        await t.close()


async def test_https_proxy_and_no_proxy_route_as_the_environment_says(squid_proxy, private_ca):
    ca, server_tls = private_ca
    environ = {"HTTPS_PROXY": squid_proxy.url("http", USER, PASSWORD), "NO_PROXY": "localhost"}
    async with RawUpstream(ok, tls=server_tls) as up:
        t = transport(ca=ca, environ=environ)
        try:
            _, by_address = await call(t, up.url)  # 127.0.0.1 is not in NO_PROXY: proxied
            _, by_name = await call(t, up.url.replace("127.0.0.1", "localhost"))  # direct
        finally:
            await t.close()
        off = transport(ca=ca, environ=environ, trust_env=False)
        try:
            _, untrusted = await call(off, up.url)
        finally:
            await off.close()
    assert by_address == f"http://alice:***@127.0.0.1:{squid_proxy.port}"
    assert by_name is None and untrusted is None
    await until(lambda: f"CONNECT 127.0.0.1:{up.port}" in access_log(squid_proxy))
    assert "CONNECT localhost" not in access_log(squid_proxy)
    assert up.accepted == 3  # one tunnel, two direct connections


async def test_a_deployment_route_wins_over_the_server_proxy(socks_proxy, private_ca):
    ca, server_tls = private_ca
    network = Network(NetworkSettings(proxy="http://127.0.0.1:9", tls=TLSSettings(ca_file=ca)), {})
    own = network.route(socks_proxy.url("socks5"), None, "the proxy of deployment d")
    t = Transport(network=network)
    t.add_route("d", own)
    async with RawUpstream(ok, tls=server_tls) as up:
        try:
            resp = await t.open(UpstreamRequest("POST", up.url, {}, b"{}"), T, "d")
            assert await resp.read() == b'{"ok": true}' and resp.proxy == socks_proxy.url("socks5")
            with pytest.raises(UpstreamFailure) as e:  # the server-wide one, nothing listening on port 9
                await t.open(UpstreamRequest("POST", up.url, {}, b"{}"), T)
            assert (e.value.kind, e.value.setting) == ("proxy", "network.proxy")
        finally:
            await t.close()
    await asyncio.sleep(0)


class TLSFront:
    """TLS in front of squid (Debian's squid is built without it): an https:// proxy, the way a
    corporate proxy with its own certificate is reached."""

    def __init__(self, backend_port: int, context: ssl.SSLContext):
        self.backend_port, self.context = backend_port, context

    async def __aenter__(self) -> "TLSFront":
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0, ssl=self.context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def _relay(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.backend_port)

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, ssl.SSLError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.mark.parametrize("origin", ["https", "http"])
async def test_an_https_proxy_tls_to_the_proxy_then_to_the_origin(origin, squid_proxy, private_ca):
    ca, server_tls = private_ca
    async with TLSFront(squid_proxy.port, server_tls) as front, \
            RawUpstream(stream, tls=server_tls if origin == "https" else None) as up:
        t = transport(f"https://{USER}:{PASSWORD.replace(' ', '%20')}@localhost:{front.port}", ca)
        try:
            for _ in range(2):
                body, used = await call(t, up.url)
                assert body == b"data: 1\n\ndata: [DONE]\n\n"
        finally:
            await t.close()
    assert used == f"https://{USER}:***@localhost:{front.port}"
    if origin == "https":
        assert up.accepted == 1  # one tunnel, kept alive
    else:
        assert b"Via: " in up.requests[0][0]  # forwarded by squid, behind its TLS front


async def test_an_https_proxy_whose_certificate_does_not_verify_is_network_proxy(squid_proxy, private_ca, tmp_path):
    _, server_tls = private_ca
    (tmp_path / "other").mkdir()
    other_ca, _, _ = certificates(tmp_path / "other")
    async with TLSFront(squid_proxy.port, server_tls) as front:
        t = transport(f"https://localhost:{front.port}", other_ca)
        try:
            with pytest.raises(UpstreamFailure) as e:
                await call(t, "https://api.example.com/v1/chat/completions")
        finally:
            await t.close()
    assert e.value.kind == "proxy" and e.value.detail.startswith("TLS with the proxy failed (")
    assert f"ca_file {other_ca}" in e.value.detail
