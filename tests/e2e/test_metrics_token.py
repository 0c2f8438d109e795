"""/metrics behind a bearer token, at a configured path."""

from conftest import http, own_stack

TOKEN = "scrape-token-0123456789"


def config(sim_port: int) -> str:
    return ("metrics:\n  path: /internal/metrics\n  token_env: METRICS_TOKEN\nmodels:\n"
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
