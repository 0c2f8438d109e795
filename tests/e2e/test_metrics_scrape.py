"""GET /metrics on a real gateway in front of the simulator: each kind of request moves exactly
the series it should, and no key material is ever exported."""

import pathlib
import subprocess
import sys

import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import BOOTSTRAP_KEY, http, own_stack

HI = [{"role": "user", "content": "hi"}]


def config(sim_port: int) -> str:
    dep = (f"      - provider: openai\n        base_url: http://127.0.0.1:{sim_port}/v1\n        model: {{m}}\n"
           f"        api_key_env: SIM_KEY\n        name: {{n}}\n")
    return ("request_log:\n  flush_interval_s: 0.1\nmodels:\n"
            f"  - name: gpt-4o-mini\n    deployments:\n{dep.format(m='gpt-4o-mini', n='sim-main')}")


upstream, gw, sim, client = own_stack("metrics", config)


def scrape(gw) -> dict[tuple, float]:
    status, headers, body = http("GET", gw.base_url.removesuffix("/v1") + "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def delta(before: dict, after: dict) -> dict[tuple, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}


def series(name: str, **labels) -> tuple:
    return (name, tuple(sorted(labels.items())))


REQ = dict(dialect="openai", operation="chat", provider="openai", model="gpt-4o-mini")


def test_zero_series_exist_before_any_traffic(gw):
    m = scrape(gw)
    assert m[series("seawall_requests_total", **REQ, stream="false", status_class="2xx", error_family="none")] == 0
    assert m[series("seawall_circuit_state", provider="openai", model="gpt-4o-mini")] == 0
    assert m[series("seawall_build_info", version=__import__("seawall").__version__)] == 1


def test_a_chat_moves_requests_tokens_cost_and_duration(gw, client):
    before = scrape(gw)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    d = delta(before, scrape(gw))
    assert d[series("seawall_requests_total", **REQ, stream="false", status_class="2xx", error_family="none")] == 1
    assert d[series("seawall_tokens_total", provider="openai", model="gpt-4o-mini", token_type="input")] == \
        reply.usage.prompt_tokens
    assert d[series("seawall_tokens_total", provider="openai", model="gpt-4o-mini", token_type="output")] == \
        reply.usage.completion_tokens
    # the catalog's gpt-4o-mini prices: $0.15 / $0.60 per 1M tokens
    cost = d[series("seawall_cost_usd_total", provider="openai", model="gpt-4o-mini")]
    assert cost == pytest.approx(reply.usage.prompt_tokens * 0.15e-6 + reply.usage.completion_tokens * 0.6e-6)
    assert d[series("seawall_upstream_attempts_total", provider="openai", model="gpt-4o-mini", outcome="success")] == 1
    duration = series("seawall_request_duration_seconds_count", dialect="openai", provider="openai",
                      model="gpt-4o-mini", stream="false")
    assert d[duration] == 1


def test_a_stream_counts_a_completed_stream_and_its_first_token(gw, client):
    before = scrape(gw)
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True))
    assert chunks
    d = delta(before, scrape(gw))
    assert d[series("seawall_streams_total", provider="openai", outcome="completed")] == 1
    assert d[series("seawall_time_to_first_token_seconds_count", provider="openai", model="gpt-4o-mini")] == 1
    assert d[series("seawall_requests_total", **REQ, stream="true", status_class="2xx", error_family="none")] == 1


def test_an_upstream_429_retried_counts_the_retry_and_the_upstream_rate_limit(gw, client, sim):
    sim.set_faults([{"match": {"model": "gpt-4o-mini", "first_n": 1}, "fault": "status=429;retry_after=0.1"}])
    before = scrape(gw)
    client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    d = delta(before, scrape(gw))
    attempts = dict(provider="openai", model="gpt-4o-mini")
    assert d[series("seawall_upstream_attempts_total", **attempts, outcome="retry")] == 1
    assert d[series("seawall_upstream_attempts_total", **attempts, outcome="success")] == 1
    assert d[series("seawall_rate_limited_total", source="upstream", scope="provider", provider="openai")] == 1
    assert d[series("seawall_requests_total", **REQ, stream="false", status_class="2xx", error_family="none")] == 1


def test_an_unknown_model_is_other_and_counts_its_error(gw, client):
    before = scrape(gw)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model-xyz", messages=HI)
    d = delta(before, scrape(gw))
    assert d == {series("seawall_requests_total", dialect="openai", operation="chat", provider="none",
                        model="other", stream="false", status_class="4xx", error_family="model"): 1,
                 series("seawall_errors_total", provider="none", error_type="model.not_found"): 1,
                 # the duration histogram moves too, and the request log's pending rows come and go
                 **{k: v for k, v in d.items() if k[0].startswith(("seawall_request_duration_seconds",
                                                                   "seawall_request_log_pending"))}}
    assert not any("no-such-model" in str(k) for k in scrape(gw))


def test_no_key_material_in_metrics(gw, client):
    client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    body = http("GET", gw.base_url.removesuffix("/v1") + "/metrics")[2].decode()
    for secret in (gw.key, BOOTSTRAP_KEY, "sk-sim-upstream", gw.key[-8:]):
        assert secret not in body
    assert "req_" not in body and "127.0.0.1" not in body


def test_the_request_log_keeps_each_requests_cost(gw, client):
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HI)
    usage = raw.parse().usage
    row = gw.log_row(raw.headers["x-request-id"])
    assert row["cost_usd"] == pytest.approx(usage.prompt_tokens * 0.15e-6 + usage.completion_tokens * 0.6e-6)
    table = subprocess.run([sys.executable, "-m", "seawall", "logs", "--data-dir", gw.data_dir, "--request-id",
                            row["request_id"]], capture_output=True, text=True, timeout=30).stdout
    assert "cost $" in table and f"{row['cost_usd']:.6f}" in table


def test_an_unpriced_request_has_no_cost(gw, client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="no-such-model-xyz", messages=HI)
    assert gw.log_row(e.value.response.headers["x-request-id"])["cost_usd"] is None


def test_every_metric_the_alerts_and_dashboard_query_is_exported(gw):
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "deploy"))
    from test_alert_rules import queried_metrics

    status, _, body = http("GET", gw.base_url.removesuffix("/v1") + "/metrics")
    exported = set()
    for family in text_string_to_metric_families(body.decode()):
        exported |= {family.name + suffix for suffix in ("", "_total", "_bucket", "_sum", "_count")}
    queried = queried_metrics()
    assert len(queried) >= 12 and queried <= exported, queried - exported
