"""TLS settings per route, against a real TLS server: a private CA by file or directory, a client
certificate (mutual TLS), verification off (and said so), and certificate failures that name the
host, the issuer seen and what the gateway trusts."""

import shutil
import ssl
import subprocess

import pytest
from certs import certificates
from raw_upstream import RawUpstream, ok

from seawall.config import NetworkSettings, Timeouts, TLSSettings
from seawall.providers.base import UpstreamRequest
from seawall.providers.network import Network
from seawall.providers.transport import Transport, UpstreamFailure

T = Timeouts(connect_s=5, read_s=5)


def server_context(cert: str, key: str, client_ca: str | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if client_ca:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


async def call(tls: TLSSettings, url: str, **network) -> bytes:
    t = Transport(network=Network(NetworkSettings(tls=tls, **network), {}))
    try:
        resp = await t.open(UpstreamRequest("POST", url, {}, b"{}"), T)
        return await resp.read()
    finally:
        await t.close()


async def test_a_private_ca_from_ca_file_or_ca_dir(tmp_path):
    ca, cert, key = certificates(tmp_path)
    hashed = tmp_path / "cas"
    hashed.mkdir()
    shutil.copy(ca, hashed / "corp-ca.pem")
    subprocess.run(["openssl", "rehash", str(hashed)], check=True, capture_output=True)  # what c_rehash does
    async with RawUpstream(ok, tls=server_context(cert, key)) as up:
        assert await call(TLSSettings(ca_file=ca), up.url) == b'{"ok": true}'
        assert await call(TLSSettings(ca_dir=str(hashed)), up.url) == b'{"ok": true}'


async def test_a_certificate_failure_names_host_issuer_and_the_ca_file_in_use(tmp_path):
    (tmp_path / "server").mkdir()
    _, cert, key = certificates(tmp_path / "server")
    other_ca, _, _ = certificates(tmp_path)  # a CA that did not sign the server's certificate
    async with RawUpstream(ok, tls=server_context(cert, key)) as up:
        with pytest.raises(UpstreamFailure) as e:
            await call(TLSSettings(ca_file=other_ca), up.url.replace("127.0.0.1", "localhost"))
    assert e.value.kind == "tls"
    assert e.value.detail.startswith("the certificate of localhost (issued by CN=Seawall test CA) does not verify: ")
    assert f"the gateway trusts ca_file {other_ca}" in e.value.detail


async def test_mutual_tls_sends_the_client_certificate(tmp_path):
    ca, cert, key = certificates(tmp_path, client=True)
    async with RawUpstream(ok, tls=server_context(cert, key, client_ca=ca)) as up:
        mtls = TLSSettings(ca_file=ca, cert_file=str(tmp_path / "client.pem"), key_file=str(tmp_path / "client-key.pem"))
        assert await call(mtls, up.url) == b'{"ok": true}'
        with pytest.raises(UpstreamFailure) as e:  # no certificate: the server refuses the handshake
            await call(TLSSettings(ca_file=ca), up.url)
    assert e.value.kind in ("tls", "reset")


async def test_verify_false_accepts_any_certificate_and_is_listed(tmp_path):
    _, cert, key = certificates(tmp_path)
    network = Network(NetworkSettings(tls=TLSSettings(verify=False)), {})
    assert network.unverified == ["network.tls"]
    async with RawUpstream(ok, tls=server_context(cert, key)) as up:
        assert await call(TLSSettings(verify=False), up.url) == b'{"ok": true}'


def test_a_deployments_tls_block_overrides_the_servers_field_by_field(tmp_path):
    from seawall.providers.network import merge_tls

    ca, _, _ = certificates(tmp_path, client=True)
    server = TLSSettings(ca_file=ca)
    own = TLSSettings(cert_file=str(tmp_path / "client.pem"), key_file=str(tmp_path / "client-key.pem"))
    merged = merge_tls(server, own)
    assert (merged.ca_file, merged.cert_file, merged.verify) == (ca, own.cert_file, True)


def test_a_file_that_is_not_a_certificate_is_refused_by_name(tmp_path):
    from seawall.providers.network import TLSSettingsError

    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(TLSSettingsError, match="junk.pem"):
        Network(NetworkSettings(tls=TLSSettings(ca_file=str(junk))), {})
    with pytest.raises(TLSSettingsError, match="as a client certificate"):
        Network(NetworkSettings(tls=TLSSettings(cert_file=str(junk))), {})
