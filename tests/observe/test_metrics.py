"""The metrics' pure parts and the per-request update, without a server."""

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from seawall.config import ResolvedDeployment, default_settings, resolve_secrets
from seawall.decide.breaker import Breaker
from seawall.observe.metrics import (
    DURATION_BUCKETS,
    Histogram,
    Metrics,
    SeawallCollector,
    attempt_outcomes,
    error_family,
    status_class,
    stream_outcome,
)
from seawall.pipeline.context import RequestContext
from seawall.pipeline.quota import Price
from seawall.pipeline.record import cost_of
from seawall.providers.base import ApiRequest, AttemptRecord, Usage


def routes() -> dict[str, list[ResolvedDeployment]]:
    return resolve_secrets(default_settings(), {}, "http://127.0.0.1:1/v1")


@pytest.mark.parametrize("status,expected", [(200, "2xx"), (429, "4xx"), (499, "4xx"), (503, "5xx"), (0, "none")])
def test_status_class(status, expected):
    assert status_class(status) == expected


@pytest.mark.parametrize("category,expected", [(None, "none"), ("rate_limit.tokens", "rate_limit"),
                                               ("capacity.circuit_open", "capacity")])
def test_error_family(category, expected):
    assert error_family(category) == expected


@pytest.mark.parametrize("end,expected", [("completed", "completed"), ("stalled", "stream.stalled"),
                                          ("total_timeout", "stream.interrupted"), (None, "stream.interrupted"),
                                          ("client_disconnect", "client_disconnect")])
def test_stream_outcome(end, expected):
    assert stream_outcome(end) == expected


CASES = [  # id, deployments tried, failed?, outcomes
    ("one success", ["a"], [False], ["success"]),
    ("retry then success", ["a", "a"], [True, False], ["retry", "success"]),
    ("fallback then give up", ["a", "b"], [True, True], ["fallback", "give_up"]),
]


@pytest.mark.parametrize("labels,failed,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_attempt_outcomes(labels, failed, expected):
    assert attempt_outcomes(labels, failed) == expected


def test_histogram_buckets_are_cumulative_with_bounds_inclusive():
    h = Histogram()
    for v in (0.005, 0.01, 0.011, 100.0):
        h.observe(v)
    buckets = dict(h.buckets())
    assert buckets["0.01"] == 2  # le: 0.01 itself falls in its bucket
    assert buckets["0.02"] == 3 and buckets[str(DURATION_BUCKETS[-1])] == 3 and buckets["+Inf"] == 4
    assert h.sum == pytest.approx(100.026)


def chat(model: str = "gpt-4o-mini", **kw) -> RequestContext:
    ctx = RequestContext("req_x", "POST", "/v1/chat/completions", {}, "10.1.2.3")
    ctx.request = ApiRequest("chat", model, {})
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


def test_observe_a_retried_chat_and_an_unknown_model():
    m = Metrics(routes())
    label = "simulator-openai"
    ok = chat(status=200, usage=Usage(10, 5),
              attempts=[AttemptRecord(label, 429, "rate_limit.requests"), AttemptRecord(label, 200)])
    m.observe(ok, 0.05, 0.001)
    m.observe(chat("mystery-model", status=404, category="model.not_found"), 0.001, None)
    key = ("openai", "chat", "simulator", "gpt-4o-mini", "false", "2xx", "none")
    assert m.requests[key] == 1
    assert m.requests[("openai", "chat", "none", "other", "false", "4xx", "model")] == 1
    assert m.errors == {("none", "model.not_found"): 1}
    assert m.tokens[("simulator", "gpt-4o-mini", "input")] == 10
    assert m.cost[("simulator", "gpt-4o-mini")] == pytest.approx(0.001)
    assert m.attempts[("simulator", "gpt-4o-mini", "retry")] == 1
    assert m.rate_limited[("upstream", "provider", "simulator")] == 1
    assert not any("mystery" in str(k) for d in (m.requests, m.errors, m.durations) for k in d)


def test_the_gateways_own_429_is_counted_with_its_scope():
    m = Metrics(routes())
    m.observe(chat(status=429, category="rate_limit.requests", limited_by="group"), 0.001, None)
    assert m.rate_limited[("seawall", "group", "none")] == 1


def test_cost_is_the_quota_rule_and_none_without_usage_or_price():
    prices = {"gpt-4o-mini": Price(0.15e-6, 0.6e-6, 0.075e-6, 0.15e-6)}.get
    assert cost_of(chat(usage=Usage(1000, 100)), prices) == pytest.approx(1000 * 0.15e-6 + 100 * 0.6e-6)
    # OpenAI's cached input at its own price (gpt-4o-mini: half the input price)
    cached = chat(usage=Usage(1000, 100, cache_read_tokens=800))
    assert cost_of(cached, prices) == pytest.approx(200 * 0.15e-6 + 800 * 0.075e-6 + 100 * 0.6e-6)
    assert cost_of(chat(), prices) is None
    assert cost_of(chat("unpriced", usage=Usage(1, 1)), prices) is None


def test_collector_reads_circuits_live_and_exports_only_bounded_labels():
    m = Metrics(routes())
    m.observe(chat(status=200, attempts=[AttemptRecord("simulator-openai", 200)]), 0.2, None)
    breakers = {"simulator-openai": Breaker(state="open", open_until=1e18)}
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SeawallCollector(m, "9.9", lambda: breakers, lambda: {"pending": 3, "dropped": 7,
                                                                             "written": 1},
                                       lambda: {"simulator-openai": "out"}))
    text = generate_latest(registry).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("seawall_circuit_state", (("model", "gpt-4o-mini"), ("provider", "simulator")))] == 2
    assert samples[("seawall_circuit_state", (("model", "gpt-4o"), ("provider", "simulator")))] == 0
    assert samples[("seawall_deployments_out_of_rotation", (("model", "gpt-4o-mini"), ("provider", "simulator")))] == 1
    assert samples[("seawall_deployments_out_of_rotation", (("model", "gpt-4o"), ("provider", "simulator")))] == 0
    assert samples[("seawall_request_log_dropped_total", ())] == 7
    assert samples[("seawall_request_log_pending", ())] == 3
    assert "10.1.2.3" not in text and "req_x" not in text
