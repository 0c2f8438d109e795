"""The alert monitor without sockets: request contexts in, tick, alerts out (and their log lines)."""

import logging
import time

from seawall.config.alerts import AlertSettings
from seawall.cli_admin import render_alerts
from seawall.observe.alerts import AlertMonitor, disabled_view
from seawall.pipeline.context import Principal, RequestContext, new_request_id
from seawall.providers.base import AttemptRecord

FAST = {"for_s": 0, "clear_for_s": 0, "cooldown_s": 0, "window_s": 10}


def monitor(rules: dict, circuits=(), dropped=lambda: 0) -> AlertMonitor:
    settings = AlertSettings(bucket_s=1, rules={name: {**FAST, **values} for name, values in rules.items()})
    return AlertMonitor(settings, lambda: list(circuits), dropped)


def ctx(status=200, attempts=(), streamed=False, stream_end=None, deployment="dep-a", error_code=None,
        principal=None, category=None) -> RequestContext:
    c = RequestContext(new_request_id(), "POST", "/v1/chat/completions", {}, "127.0.0.1")
    c.status, c.streamed, c.stream_end, c.deployment = status, streamed, stream_end, deployment
    c.error_code, c.principal, c.category = error_code, principal, category
    c.attempts = [AttemptRecord(dep, status=s, category=cat) for dep, s, cat in attempts]
    return c


def fired(changes) -> list[tuple[str, str]]:
    return [(c.rule, c.subject) for c in changes if c.change == "fired"]


def test_interrupted_streams_fire_per_deployment():
    m = monitor({"stream_interrupted": {"threshold": 0.3, "min_events": 10}})
    for i in range(10):
        m.observe(ctx(streamed=True, stream_end="interrupted" if i < 4 else "completed", category="stream.interrupted"))
        m.observe(ctx(streamed=True, stream_end="client_disconnect", deployment="dep-b"))  # not the upstream's fault
    assert fired(m.tick(time.time())) == [("stream_interrupted", "dep-a")]
    alert = m.view()["active"][0]
    assert alert["value"] == 0.4 and alert["bad"] == 4 and alert["events"] == 10 and alert["measure"] == "ratio"
    assert "40%" in alert["summary"] and alert["category"] == "stream.interrupted"


def test_quota_refusals_are_counted_per_tenant_never_per_key():
    m = monitor({"quota_exhausted": {"threshold": 3}})
    acme = Principal(key_id="key_secretid123", name="ci-bot", tenant="acme")
    for _ in range(3):
        m.observe(ctx(status=429, error_code="insufficient_quota", principal=acme, category="quota.exhausted"))
    for _ in range(5):  # a provider's own insufficient_quota (passed through) is upstream_quota's, not a tenant's
        m.observe(ctx(status=429, error_code="insufficient_quota", principal=Principal("k2", "n2", tenant="beta"),
                      attempts=[("dep-a", 429, "quota.exhausted")], category="quota.exhausted"))
    assert sorted(fired(m.tick(time.time()))) == [("quota_exhausted", "tenant acme"), ("upstream_quota", "dep-a")]
    assert "key_secretid123" not in str(m.view()) and "ci-bot" not in str(m.view())


def test_upstream_attempts_count_per_deployment_and_kind():
    m = monitor({"upstream_errors": {"threshold": 0.5, "min_events": 4}, "upstream_auth": {"threshold": 1}})
    for _ in range(4):  # each request failed on dep-a, then dep-b served it
        m.observe(ctx(attempts=[("dep-a", 503, "upstream.unavailable"), ("dep-b", 200, None)]))
    assert fired(m.tick(time.time())) == [("upstream_errors", "dep-a")]


def test_the_gateways_own_5xx_ratio():
    m = monitor({"gateway_errors": {"threshold": 0.5, "min_events": 4}})
    for status in (500, 502, 200, 503):
        m.observe(ctx(status=status, category="upstream.server_error"))
    assert fired(m.tick(time.time())) == [("gateway_errors", "gateway")]


def test_request_log_drops_and_open_circuits_are_sampled_by_the_tick():
    dropped, circuits = [0], ["dep-c"]
    m = monitor({"request_log_drops": {"threshold": 1}, "circuit_open": {}}, circuits, lambda: dropped[0])
    assert sorted(fired(m.tick(time.time()))) == [("circuit_open", "dep-c")]
    dropped[0] = 7
    circuits.clear()
    changes = m.tick(time.time())
    assert fired(changes) == [("request_log_drops", "request_log")]
    assert [(c.rule, c.change) for c in changes if c.change == "resolved"] == [("circuit_open", "resolved")]
    assert next(a for a in m.view()["active"] if a["rule"] == "request_log_drops")["bad"] == 7


def test_fire_logs_a_warning_with_the_hint_and_resolve_logs_info(caplog):
    m = monitor({"upstream_auth": {"threshold": 2, "window_s": 1}})
    ids = []
    for _ in range(2):
        c = ctx(status=502, attempts=[("openai-main", 401, "auth.key_invalid")])
        ids.append(c.request_id)
        m.observe(c)
    with caplog.at_level(logging.INFO, logger="seawall.alerts"):
        m.tick(time.time())
        m.tick(time.time() + 5)  # the 401s left the window
    fire, resolve = caplog.records
    assert fire.levelno == logging.WARNING and resolve.levelno == logging.INFO
    assert "alert firing: upstream_auth [critical] openai-main" in fire.getMessage()
    assert "revoked or rotated" in fire.getMessage() and ids[0] in fire.getMessage()
    assert "alert resolved: upstream_auth openai-main" in resolve.getMessage()
    view = m.view()
    assert view["active"] == [] and [r["change"] for r in view["recent"]] == ["resolved", "fired"]
    assert view["recent"][0]["resolved_at"] and view["recent"][1]["example_request_ids"] == ids
    resolved = view["recent"][0]  # keeps the evidence, and says what the value is now
    assert resolved["example_request_ids"] == ids and resolved["value"] == 2 and resolved["current_value"] == 0
    assert resolved["category"] == "auth.key_invalid" and "now 0 (threshold 2)" in resolve.getMessage()


def test_switched_off_alerts_answer_an_empty_view():
    view = disabled_view()
    assert view["enabled"] is False and view["active"] == [] and "switched off" in render_alerts(view)
