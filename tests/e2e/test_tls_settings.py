"""TLS settings in a gateway process: `verify: false` works but is warned about at start and shown
on /readyz; a missing CA file is refused at start with its field path."""

import json
import subprocess
import sys

import openai
import pytest
from certs import certificates
from conftest import BOOTSTRAP_KEY, Proc, free_port, http, start_gateway

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def tls_sim(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls-sim")
    _, cert, key = certificates(folder)  # its CA is trusted nowhere
    (folder / "sim.yaml").write_text("stream_interval_ms: 0\n")
    port = free_port()
    sim = Proc("tls-sim", ["simulate", "--port", str(port), "--config", str(folder / "sim.yaml"),
                           "--tls-cert", cert, "--tls-key", key], str(folder / "sim.log")).start()
    yield port
    sim.stop()


def test_verify_false_works_and_is_warned_about(tmp_path_factory, tls_sim):
    config = ("models:\n  - name: insecure\n    deployments:\n"
              f"      - provider: openai\n        base_url: https://127.0.0.1:{tls_sim}/v1\n        model: gpt-4o-mini\n"
              "        api_key_env: SIM_KEY\n        name: insecure-upstream\n        tls: {verify: false}\n"
              "  - name: checked\n    deployments:\n"
              f"      - provider: openai\n        base_url: https://127.0.0.1:{tls_sim}/v1\n        model: gpt-4o-mini\n"
              "        api_key_env: SIM_KEY\n        name: checked-upstream\n"
              "        circuit: {take_out_refused: false}\n")
    gw = start_gateway(tmp_path_factory, config, "insecure-gateway")
    try:
        client = openai.OpenAI(base_url=gw.base_url, api_key=BOOTSTRAP_KEY, max_retries=0)
        assert client.chat.completions.create(model="insecure", messages=HI).choices[0].message.content
        with pytest.raises(openai.APIStatusError) as e:  # the same server, verified: its CA is unknown
            client.chat.completions.create(model="checked", messages=HI)
        assert e.value.body["category"] == "network.tls"
        assert "issued by CN=Seawall test CA" in e.value.body["message"]
        ready = json.loads(http("GET", gw.url + "/readyz")[2])
        assert ready["tls_unverified"] == ["insecure-upstream"]
        assert "TLS certificates are NOT verified for insecure-upstream (verify: false)" in gw.proc.output()
    finally:
        gw.proc.stop()


def test_a_ca_file_that_does_not_exist_is_refused_with_its_field(tmp_path):
    config = tmp_path / "seawall.yaml"
    config.write_text("network:\n  tls: {ca_file: /nonexistent/corp-ca.pem}\n"
                      "models:\n  - name: m\n    deployments: [{provider: simulator, model: gpt-4o-mini}]\n")
    out = subprocess.run([sys.executable, "-m", "seawall", "config", "check", str(config)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode != 0
    assert "network.tls.ca_file: '/nonexistent/corp-ca.pem' is not a readable file" in out.stdout + out.stderr
