"""Alert decisions without I/O: sliding windows, the rules' state machine, and properties that
hold for any traffic (no flapping, no spam, no alert on too little traffic)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall.decide.alerts import (MAX_EXAMPLES, RULES, AlertState, Limits, Reading, Windows, evaluate, step,
                                   upstream_kind)


def reading(value: float, events: int = 100, bad: int | None = None) -> Reading:
    return Reading(value, events, bad if bad is not None else int(value * events), (), "upstream.unavailable")


RATIO = Limits(threshold=0.2, min_events=10, for_s=10, clear_ratio=0.5, clear_for_s=20, cooldown_s=60)


def run(limits: Limits, readings: list[tuple[float, Reading]]) -> list[tuple[float, str]]:
    state, out = AlertState(), []
    for now, r in readings:
        state, change = step(state, r, limits, now)
        if change:
            out.append((now, change))
    return out


@pytest.mark.parametrize("category,kind", [
    ("auth.key_invalid", "auth"), ("auth.key_revoked", "auth"), ("permission.model", "auth"),
    ("rate_limit.requests", "rate_limit"), ("rate_limit.unspecified", "rate_limit"),
    ("rate_limit.request_too_large", None),  # the request's size, not the provider's load
    ("upstream.server_error", "server"), ("upstream.overloaded", "server"), ("network.connect", "server"),
    ("quota.exhausted", "quota"), ("request.invalid", None), ("model.not_found", None), (None, None),
])
def test_upstream_kind(category, kind):
    assert upstream_kind(category) == kind


def test_fires_only_after_the_condition_held_for_for_s():
    changes = run(RATIO, [(t, reading(0.5)) for t in range(0, 30, 5)])
    assert changes == [(10, "fired")]


def test_a_breach_shorter_than_for_s_never_fires():
    seq = [(0, reading(0.5)), (5, reading(0.5)), (8, reading(0.0)), (12, reading(0.5)), (17, reading(0.5))]
    assert run(RATIO, seq) == []  # the clock restarted at 12


def test_too_little_traffic_never_fires_however_bad():
    assert run(RATIO, [(t, reading(1.0, events=9)) for t in range(0, 100, 5)]) == []


def test_resolves_only_below_the_hysteresis_band_for_clear_for_s():
    seq = [(0, reading(0.5)), (10, reading(0.5)),  # fired at 10
           (15, reading(0.15)), (40, reading(0.15)),  # under the threshold, above 0.2 * 0.5: still firing
           (45, reading(0.05)), (60, reading(0.05)), (65, reading(0.05))]  # clear from 45, resolved at 65
    assert run(RATIO, seq) == [(10, "fired"), (65, "resolved")]


def test_a_value_back_up_during_clear_for_s_restarts_its_clock():
    seq = [(0, reading(0.5)), (10, reading(0.5)), (15, reading(0.0)), (30, reading(0.3)), (35, reading(0.0)),
           (50, reading(0.0)), (55, reading(0.0))]
    assert run(RATIO, seq) == [(10, "fired"), (55, "resolved")]


def test_cooldown_delays_a_refire_after_a_resolution():
    seq = [(0, reading(0.5)), (10, reading(0.5)), (15, reading(0.0)), (35, reading(0.0)),  # resolved at 35
           (40, reading(0.5)), (50, reading(0.5)), (90, reading(0.5)), (95, reading(0.5))]
    assert run(RATIO, seq) == [(10, "fired"), (35, "resolved"), (95, "fired")]


def test_first_seen_and_last_seen_bracket_the_breach():
    state = AlertState()
    for now in (0, 5, 10, 15):
        state, _ = step(state, reading(0.5), RATIO, now)
    state, _ = step(state, reading(0.15), RATIO, 20)
    assert state.firing and state.first_seen == 0 and state.fired_at == 10 and state.last_seen == 15


def test_windows_sum_only_the_window_and_keep_a_few_examples():
    w = Windows(bucket_s=5, keep_s=60)
    for i in range(10):
        w.add(100 + i, "upstream", "dep-a", "auth" if i % 2 else None, f"req_{i}", "auth.key_invalid")
    w.add(100, "upstream", "dep-b", "server", "req_b", "upstream.unavailable")
    w.add(100, "stream", "dep-a", "broken", "req_s")
    got = w.sum("upstream", "auth", window_s=10, now=109)
    assert got["dep-a"].events == 10 and got["dep-a"].bad == 5
    assert [r for r, _ in got["dep-a"].examples] == ["req_1", "req_3", "req_5", "req_7", "req_9"][:2 * MAX_EXAMPLES]
    assert got["dep-b"].events == 1 and got["dep-b"].bad == 0  # another kind
    later = w.sum("upstream", "auth", window_s=10, now=112)  # buckets [105, 110) and [110, 115) left
    assert later["dep-a"].events == 5 and later["dep-a"].bad == 3  # req_5, req_7, req_9
    assert w.sum("upstream", "auth", window_s=10, now=200) == {}  # everything aged out


def test_evaluate_fires_per_subject_and_resolves_when_traffic_heals():
    w = Windows(bucket_s=1, keep_s=10)
    rules = {"upstream_auth": Limits(threshold=3, window_s=5, clear_for_s=0, cooldown_s=0)}
    for i in range(4):
        w.add(100, "upstream", "openai-main", "auth", f"req_{i}", "auth.key_invalid")
    w.add(100, "upstream", "openai-backup")
    states, changes = evaluate({}, w, {}, rules, 100.5)
    assert [(c.change, c.rule, c.subject) for c in changes] == [("fired", "upstream_auth", "openai-main")]
    st_ = states[("upstream_auth", "openai-main")]
    assert st_.last.category == "auth.key_invalid" and st_.last.bad == 4 and len(st_.last.examples) == MAX_EXAMPLES
    states, changes = evaluate(states, w, {}, rules, 103)
    assert changes == []  # still in the window
    for t in range(106, 108):
        w.add(t, "upstream", "openai-main")
    states, changes = evaluate(states, w, {}, rules, 107)
    assert [(c.change, c.subject) for c in changes] == [("resolved", "openai-main")]
    assert states == {}  # nothing left to remember (no cooldown)


def test_gauge_rules_read_the_latest_sample():
    rules = {"circuit_open": Limits(threshold=1, clear_for_s=0, cooldown_s=0)}
    w = Windows(1, 10)
    states, changes = evaluate({}, w, {("circuit", "dep-a"): 1.0}, rules, 10)
    assert [(c.change, c.subject) for c in changes] == [("fired", "dep-a")]
    states, changes = evaluate(states, w, {}, rules, 11)
    assert [(c.change, c.subject) for c in changes] == [("resolved", "dep-a")]


def test_a_disabled_rule_is_not_evaluated():
    w = Windows(1, 10)
    w.add(10, "upstream", "d", "auth", "req_1")
    rules = {"upstream_auth": Limits(threshold=1, enabled=False)}
    assert evaluate({}, w, {}, rules, 10) == ({}, [])


def test_every_rule_watches_a_kind_its_source_produces():
    produced = {"upstream": {"auth", "rate_limit", "server", "quota"}, "stream": {"broken"}, "gateway": {"5xx"},
                "quota": {"exhausted"}, "request_log": {"dropped"}, "circuit": {"open"},
                "health": {"out"}}
    for rule in RULES.values():
        assert rule.kind in produced[rule.source], rule.name
        assert rule.measure in ("ratio", "count", "gauge") and rule.hint and rule.category


def test_a_deployment_out_of_rotation_fires_with_the_refusal_that_took_it_out():
    rules = {"deployment_out": Limits(threshold=1, clear_for_s=0, cooldown_s=0)}
    gauges = {("health", "openai-main"): (1.0, "quota.exhausted", "req_1")}
    states, changes = evaluate({}, Windows(5, 60), gauges, rules, 100.0)
    assert [(c.change, c.subject) for c in changes] == [("fired", "openai-main")]
    assert states[("deployment_out", "openai-main")].last.category == "quota.exhausted"
    assert states[("deployment_out", "openai-main")].last.examples == ("req_1",)
    _, changes = evaluate(states, Windows(5, 60), {}, rules, 105.0)  # back in rotation
    assert [c.change for c in changes] == ["resolved"]


# -- properties ----------------------------------------------------------------------------------
limits_st = st.builds(Limits, threshold=st.sampled_from([0.05, 0.2, 0.5, 1.0]), min_events=st.integers(1, 20),
                      for_s=st.sampled_from([0.0, 5.0, 15.0]), clear_ratio=st.sampled_from([0.25, 0.5, 1.0]),
                      clear_for_s=st.sampled_from([0.0, 10.0, 30.0]), cooldown_s=st.sampled_from([0.0, 30.0, 60.0]))
traffic_st = st.lists(st.tuples(st.floats(0, 1), st.integers(0, 50)), min_size=1, max_size=80)


@settings(max_examples=300, deadline=None)
@given(limits_st, traffic_st)
def test_changes_alternate_fire_first_and_respect_for_clear_and_cooldown(limits, traffic):
    state, changes = AlertState(), []
    breach_start = clear_start = None
    for i, (ratio, events) in enumerate(traffic):
        now = i * 5.0
        r = reading(ratio, events)
        breaching = events >= limits.min_events and ratio >= limits.threshold
        clear = ratio < limits.threshold * limits.clear_ratio
        breach_start = (breach_start if breach_start is not None else now) if breaching else None
        clear_start = (clear_start if clear_start is not None else now) if clear else None
        state, change = step(state, r, limits, now)
        if change == "fired":
            assert breaching and breach_start is not None and now - breach_start >= limits.for_s
            assert r.events >= limits.min_events  # never on too little traffic
        if change == "resolved":
            assert ratio < limits.threshold * limits.clear_ratio and now - clear_start >= limits.clear_for_s
        if change:
            changes.append((now, change))
    kinds = [c for _, c in changes]
    assert kinds == ["fired", "resolved"] * (len(kinds) // 2) + ["fired"] * (len(kinds) % 2)
    for (t_resolved, c1), (t_fired, c2) in zip(changes[1::2], changes[2::2]):
        assert (c1, c2) == ("resolved", "fired") and t_fired - t_resolved >= limits.cooldown_s  # no spam


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 300, allow_nan=False), st.sampled_from(["a", "b"]), st.booleans()),
                max_size=120), st.floats(0, 100), st.sampled_from([5.0, 30.0, 60.0]))
def test_window_sums_match_a_naive_count(events, later, window_s):
    bucket = 5.0
    now = max((t for t, _, _ in events), default=0.0) + later  # evaluation comes after what it counts
    w = Windows(bucket, keep_s=60)
    for t, subject, bad in sorted(events):
        w.add(t, "upstream", subject, "server" if bad else None, "req")
    got = w.sum("upstream", "server", window_s, now)
    first = (int(now // bucket) - int(window_s // bucket) + 1) * bucket  # whole buckets
    for subject in ("a", "b"):
        inside = [bad for t, s, bad in events if s == subject and first <= t < (int(now // bucket) + 1) * bucket]
        if inside:
            assert (got[subject].events, got[subject].bad) == (len(inside), sum(inside))
        else:
            assert subject not in got


def test_a_resolved_alert_keeps_its_evidence_and_the_current_value():
    state = AlertState()
    for now, r in ((0, reading(0.5, bad=50)), (10, reading(0.6, bad=60)), (15, reading(0.0)), (35, reading(0.0))):
        state, change = step(state, r, RATIO, now)
    assert change == "resolved" and state.last.bad == 60 and state.current == 0.0 and state.last_seen == 10
