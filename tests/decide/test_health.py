"""Deployment health decisions: what takes a deployment out of rotation, what brings it back."""

import pytest

from seawall.decide.health import (IN_ROTATION, Health, HealthPolicy, after_failure, after_probe, disable, enable,
                                   probe_due, takes_out)

P = HealthPolicy(probe_s=30, max_probe_s=200)
OUT = Health("gateway", "auth.key_revoked", "HTTP 401", 100.0, 130.0, 0, "req_1")


@pytest.mark.parametrize("category,out", [
    ("auth.key_invalid", True), ("auth.key_revoked", True), ("permission.model", True), ("quota.exhausted", True),
    ("permission.region", True), ("rate_limit.requests", False), ("upstream.server_error", False),
    ("network.connect", False), ("request.invalid", False), ("model.not_found", False), (None, False),
])
def test_takes_out(category, out):
    assert takes_out(category) is out


CASES = [  # id, before, event, expected
    ("a revoked key takes it out, probe due after probe_s", IN_ROTATION, ("fail", "auth.key_revoked"), OUT),
    ("a 5xx leaves it in rotation (the breaker's job)", IN_ROTATION, ("fail", "upstream.server_error"), IN_ROTATION),
    ("a second refusal changes nothing", OUT, ("fail", "quota.exhausted"), OUT),
    ("an answered probe brings it back", OUT, ("probe", None), IN_ROTATION),
    ("a probe refused for the request (not the key) brings it back", OUT, ("probe", "request.invalid"), IN_ROTATION),
    ("a probe rate-limited: the key works", OUT, ("probe", "rate_limit.requests"), IN_ROTATION),
    ("a refused probe doubles the wait", OUT, ("probe", "auth.key_revoked"),
     Health("gateway", "auth.key_revoked", "probe said no", 100.0, 160.0 + 60.0, 1, "req_1")),
    ("an unanswered probe waits longer, keeps the reason", OUT, ("probe", "network.connect"),
     Health("gateway", "auth.key_revoked", "HTTP 401", 100.0, 160.0 + 60.0, 1, "req_1")),
    ("the wait is capped", Health("gateway", "quota.exhausted", "x", 0.0, 0.0, 5), ("probe", "quota.exhausted"),
     Health("gateway", "quota.exhausted", "probe said no", 0.0, 160.0 + 200.0, 6)),
    ("an operator's disable is not undone by a probe", Health("operator", None, "maintenance", 50.0),
     ("probe", None), Health("operator", None, "maintenance", 50.0)),
]


@pytest.mark.parametrize("before,event,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_transitions(before, event, expected):
    kind, category = event
    if kind == "fail":
        got = after_failure(before, category, "HTTP 401", 100.0, P, "req_1")
    else:
        got = after_probe(before, category, "probe said no", 160.0, P)
    assert got == expected


def test_probes_are_due_only_for_the_gateways_own():
    assert probe_due(OUT, 130.0) and not probe_due(OUT, 129.9)
    assert not probe_due(disable(IN_ROTATION, "maintenance", 1.0), 10 ** 9)
    assert not probe_due(IN_ROTATION, 10 ** 9)


def test_disable_and_enable():
    off = disable(OUT, "rotating keys", 200.0)
    assert (off.by, off.detail, off.since) == ("operator", "rotating keys", 200.0)
    assert disable(off, "still rotating", 300.0).since == 200.0
    assert enable(off) == IN_ROTATION
