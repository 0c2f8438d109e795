"""Circuit breaker per deployment: stop calling a deployment that keeps failing, probe it again
after a cooldown. Pure: state in, state out, the clock an argument.

    closed ──(failures_to_open health failures in a row)──▶ open ──(cooldown over)──▶ half_open
       ▲                                                      ▲                          │
       └──────────────(the probe gets an answer)──────────────┼──────────────────────────┘
                                                              └──(the probe fails: cooldown doubles)

Only failures that say the deployment is unhealthy count (`upstream.*`, `network.*`, `stream.*`,
`rate_limit.*`); a 429's wait lengthens the cooldown. A refusal of the request itself (400,
auth, quota) means the deployment answered. A half-open breaker lets one probe through; if that
probe is lost (its client left), another may go after one cooldown.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

UNHEALTHY = ("upstream.", "network.", "stream.", "rate_limit.")


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failures_to_open: int = 5
    cooldown_s: float = 10.0
    max_cooldown_s: float = 120.0


@dataclass(frozen=True, slots=True)
class Breaker:
    state: str = "closed"  # closed | open | half_open
    failures: int = 0  # health failures in a row, while closed
    open_until: float = 0.0
    cooldown_s: float = 0.0
    probe_at: float = 0.0


CLOSED = Breaker()


def may_try(b: Breaker, now: float, policy: BreakerPolicy) -> tuple[bool, Breaker]:
    """May a request call this deployment now? The returned state records a probe it starts."""
    if b.state == "closed":
        return True, b
    if b.state == "open" and now >= b.open_until:
        return True, replace(b, state="half_open", probe_at=now)
    if b.state == "half_open" and now - b.probe_at >= max(b.cooldown_s, policy.cooldown_s):
        return True, replace(b, probe_at=now)  # the last probe never reported back
    return False, b


def after(b: Breaker, category: str | None, now: float, policy: BreakerPolicy,
          wait_s: float | None = None) -> Breaker:
    """The state after an attempt: category None means it succeeded."""
    if category is None or not category.startswith(UNHEALTHY) or category == "rate_limit.request_too_large":
        return CLOSED
    if b.state == "half_open":
        return _open(now, max(b.cooldown_s * 2, policy.cooldown_s, wait_s or 0.0), policy)
    failures = b.failures + 1
    if failures >= policy.failures_to_open:
        return _open(now, max(policy.cooldown_s, wait_s or 0.0), policy)
    return replace(b, failures=failures)


def reopens_in(b: Breaker, now: float) -> float:
    return max(0.0, b.open_until - now)


def _open(now: float, cooldown: float, policy: BreakerPolicy) -> Breaker:
    cooldown = min(cooldown, policy.max_cooldown_s)
    return Breaker("open", 0, now + cooldown, cooldown)
