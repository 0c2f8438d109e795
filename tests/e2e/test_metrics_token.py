"""/metrics behind a bearer token, at a configured path."""

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import http, own_stack

TOKEN = "scrape-token-0123456789"


def config(sim_port: int) -> str:
    # the bootstrap key (named bootstrap) may send one request per second: the gateway's own 429s
    return ("metrics:\n  path: /internal/metrics\n  token_env: METRICS_TOKEN\n"
            "limits:\n  keys: {bootstrap: {rps: 1}}\nmodels:\n"
            f"  - name: gpt-4o-mini\n    deployments:\n      - provider: openai\n"
            f"        base_url: http://127.0.0.1:{sim_port}/v1\n        model: gpt-4o-mini\n        api_key_env: SIM_KEY\n")


upstream, gw, sim, client = own_stack("metrics-token", config, env={"METRICS_TOKEN": TOKEN})


def test_the_right_token_scrapes(gw):
    status, _, body = http("GET", gw.url + "/internal/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    assert status == 200 and b"seawall_requests_total" in body


def test_a_missing_or_wrong_token_is_a_401_in_the_envelope(gw):
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Bearer {TOKEN}x"}):
        status, _, body = http("GET", gw.url + "/internal/metrics", headers=headers)
        assert status == 401 and b'"metrics_unauthorized"' in body and b"seawall_" not in body
        assert TOKEN.encode() not in body


def test_the_default_path_is_not_served_when_moved(gw):
    assert http("GET", gw.url + "/metrics")[0] == 404


def seawall_429s(gw) -> float:
    body = http("GET", gw.url + "/internal/metrics", headers={"authorization": f"Bearer {TOKEN}"})[2].decode()
    return next(s.value for f in text_string_to_metric_families(body) for s in f.samples
                if s.name == "seawall_rate_limited_total" and s.labels == {"source": "seawall", "scope": "key",
                                                                           "provider": "none"})


def test_the_gateways_own_429_is_counted_as_source_seawall(gw, client):
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert seawall_429s(gw) == 1
