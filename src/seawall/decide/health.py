"""Deployment health: whether a deployment is in rotation. Pure: state in, state out, the clock an
argument (pipeline/health.py holds the state, runs the probes).

A circuit breaker (breaker.py) handles a deployment that fails for a while and recovers on its
own. Some failures don't pass: the provider refused the deployment's key (401, 403) or its
account is out of credit. Retrying those on every request costs each request a round trip and
floods the provider with refused calls (new-api and Higress disable such channels; their users'
pain is channels that never come back, or come back only by hand). So:

    in rotation ──(a refusal of the key or the account: out_category)──▶ out (the gateway)
         ▲                                                                    │ a probe every probe_s,
         └──────────────(a probe answered without such a refusal)─────────────┘ doubling to max_probe_s
    in rotation ◀──(enable)── disabled (an operator; no probes) ◀──(disable)── any

A probe is the deployment's cheapest real call (one token); it succeeds when the provider answers
with anything but a refusal that takes a deployment out and isn't silent or failing itself
(network.*, upstream.*: then nothing is known yet, and the next probe waits longer).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# The refusals that no retry fixes: the key (auth.*: missing, invalid, revoked, expired, …), what
# the key may do (permission.*: the model, the region, a disabled key) and the account's balance.
OUT_PREFIXES = ("auth.", "permission.")
OUT_CATEGORIES = frozenset({"quota.exhausted"})
# A probe with these outcomes says nothing about the key: try again later.
UNKNOWN_PREFIXES = ("network.", "upstream.", "stream.", "capacity.")


def takes_out(category: str | None) -> bool:
    return category is not None and (category.startswith(OUT_PREFIXES) or category in OUT_CATEGORIES)


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    probe_s: float = 30.0  # the first probe after it was taken out
    max_probe_s: float = 900.0  # the wait between probes doubles up to this
    take_out: bool = True  # false: refusals are only noted (every request still tries it)


@dataclass(frozen=True, slots=True)
class Health:
    """A deployment's rotation state. `by`: None (in rotation), "gateway" (taken out by a
    refusal; probed) or "operator" (disabled by hand; never probed). `since`, `next_probe`: wall
    clock seconds. `request_id`: the request (or "probe") whose refusal took it out."""

    by: str | None = None
    category: str | None = None
    detail: str = ""
    since: float = 0.0
    next_probe: float = 0.0
    failed_probes: int = 0
    request_id: str | None = None

    @property
    def in_rotation(self) -> bool:
        return self.by is None


IN_ROTATION = Health()


def after_failure(h: Health, category: str | None, detail: str, now: float, policy: HealthPolicy,
                  request_id: str | None = None) -> Health:
    """After a request's attempt failed with `category`: taken out if the refusal says so."""
    if h.by is not None or not takes_out(category) or not policy.take_out:
        return h
    return Health("gateway", category, detail, now, now + policy.probe_s, 0, request_id)


def after_probe(h: Health, category: str | None, detail: str, now: float, policy: HealthPolicy) -> Health:
    """After a probe answered with `category` (None: it succeeded)."""
    if h.by == "operator":
        return h  # a disabled deployment stays so until enabled, whatever a test says
    if category is None or not (takes_out(category) or category.startswith(UNKNOWN_PREFIXES)):
        return IN_ROTATION
    if h.by is None:  # it was in rotation: the probe's refusal takes it out like a request's would
        return after_failure(h, category, detail, now, policy, "probe") if takes_out(category) else h
    failed = h.failed_probes + 1
    wait = min(policy.probe_s * 2 ** failed, policy.max_probe_s)
    # the latest refusal is the one to show (a revoked key may since have become a spent quota)
    shown = (category, detail) if takes_out(category) else (h.category, h.detail)
    return replace(h, category=shown[0], detail=shown[1], next_probe=now + wait, failed_probes=failed)


def probe_due(h: Health, now: float) -> bool:
    return h.by == "gateway" and now >= h.next_probe


def disable(h: Health, reason: str, now: float) -> Health:
    return Health("operator", None, reason, now if h.by != "operator" else h.since)


def enable(h: Health) -> Health:
    return IN_ROTATION
