"""Deployments behind real proxies, end to end: a gateway process whose deployments reach an
https simulator (a private CA's certificate) through squid with basic auth and through dante's
SOCKS5 (without authentication, and with SOCKS5's username/password against a system account),
served to the official openai SDK; the request log names the proxy, never its password; a refused
proxy password (squid's 407, dante's SOCKS5 refusal) is explained to the client and the operator."""

import openai
import pytest
from certs import certificates
from conftest import BOOTSTRAP_KEY, Proc, free_port, start_gateway
from proxy_servers import PASSWORD, SOCKS_USER, USER, dante, squid

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("proxied")
    ca, cert, key = certificates(folder)
    (folder / "sim.yaml").write_text("stream_interval_ms: 0\n")
    port = free_port()
    sim = Proc("tls-simulator", ["simulate", "--port", str(port), "--config", str(folder / "sim.yaml"),
                                 "--tls-cert", cert, "--tls-key", key], str(folder / "sim.log")).start()
    with squid() as http_proxy, dante() as socks, dante(with_password=True) as socks_auth:
        try:
            good = http_proxy.url("http", USER, PASSWORD)
            bad = http_proxy.url("http", USER, "not-the-password")

            def dep(name: str, host: str, proxy: str) -> str:
                return (f"  - name: {name}\n    deployments:\n"
                        f"      - provider: openai\n        base_url: https://{host}:{port}/v1\n"
                        f"        model: gpt-4o-mini\n        api_key_env: SIM_KEY\n        name: {name}\n"
                        f"        proxy: \"{proxy}\"\n        tls: {{ca_file: {ca}}}\n"
                        f"        circuit: {{failures_to_open: 1000}}\n")

            config = ("request_log:\n  flush_interval_s: 0.1\nmodels:\n" + dep("via-squid", "127.0.0.1", good)
                      + dep("via-socks", "localhost", socks.url("socks5h")) + dep("bad-password", "127.0.0.1", bad)
                      + dep("via-socks-auth", "localhost", socks_auth.url("socks5h", SOCKS_USER, PASSWORD))
                      + dep("socks-bad-password", "localhost", socks_auth.url("socks5h", SOCKS_USER, "not-the-password"))
                      + dep("socks-no-password", "localhost", socks_auth.url("socks5h")))
            gw = start_gateway(tmp_path_factory, config, "proxied-gateway")
            try:
                yield gw, http_proxy, socks, socks_auth
            finally:
                gw.proc.stop()
        finally:
            sim.stop()


@pytest.mark.parametrize("model", ["via-squid", "via-socks", "via-socks-auth"])
def test_chat_and_streams_through_the_proxy_over_tls_with_a_private_ca(stack, model):
    gw, http_proxy, socks, socks_auth = stack
    client = openai.OpenAI(base_url=gw.base_url, api_key=BOOTSTRAP_KEY, max_retries=0)
    reply = client.chat.completions.with_raw_response.create(model=model, messages=HI)
    assert reply.parse().choices[0].message.content
    chunks = list(client.chat.completions.create(model=model, messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    row = gw.log_row(reply.headers["x-request-id"])
    expected = {"via-squid": f"http://{USER}:***@127.0.0.1:{http_proxy.port}", "via-socks": socks.url("socks5h"),
                "via-socks-auth": f"socks5h://{SOCKS_USER}:***@127.0.0.1:{socks_auth.port}"}[model]
    assert row["attempts_detail"][0]["proxy"] == expected
    assert PASSWORD not in str(row)


def test_a_refused_proxy_password_is_explained(stack):
    gw, http_proxy, _, _ = stack
    client = openai.OpenAI(base_url=gw.base_url, api_key=BOOTSTRAP_KEY, max_retries=0)
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model="bad-password", messages=HI)
    err = e.value.body
    shown = f"http://{USER}:***@127.0.0.1:{http_proxy.port}"
    assert e.value.status_code == 502 and err["category"] == "network.proxy"
    said = (f"Could not reach the upstream bad-password through the proxy {shown}: the proxy refused its "
            "credentials (407 Proxy Authentication Required).")
    # what every SDK prints: the failure, then the first thing to check
    assert err["message"].startswith(said + " Nothing on your side: the gateway's proxy " + shown)
    assert "the proxy of deployment bad-password" in err["hint"] and shown in err["hint"]
    assert "not-the-password" not in str(err)
    row = gw.log_row(e.value.response.headers["x-request-id"])
    assert row["category"] == "network.proxy" and row["attempts_detail"][0]["proxy"] == shown
    assert "not-the-password" not in gw.proc.output()


@pytest.mark.parametrize(("model", "user", "said"), [
    ("socks-bad-password", SOCKS_USER, "the proxy refused its credentials (SOCKS5 username/password authentication "
                                       "failed)"),
    ("socks-no-password", None, "the proxy asks for a username and password (SOCKS5), and the proxy URL gives none"),
])
def test_a_refused_socks5_password_is_explained(stack, model, user, said):
    gw, _, _, socks_auth = stack
    client = openai.OpenAI(base_url=gw.base_url, api_key=BOOTSTRAP_KEY, max_retries=0)
    with pytest.raises(openai.APIStatusError) as e:
        client.chat.completions.create(model=model, messages=HI)
    err = e.value.body
    shown = f"socks5h://{user}:***@127.0.0.1:{socks_auth.port}" if user else socks_auth.url("socks5h")
    assert e.value.status_code == 502 and err["category"] == "network.proxy", err
    assert err["message"].startswith(f"Could not reach the upstream {model} through the proxy {shown}: {said}."), \
        err["message"]
    assert f"the proxy of deployment {model}" in err["hint"] and shown in err["hint"]
    assert "not-the-password" not in str(err)
    row = gw.log_row(e.value.response.headers["x-request-id"])
    assert row["category"] == "network.proxy" and row["attempts_detail"][0]["proxy"] == shown
    assert "not-the-password" not in gw.proc.output()
