"""What a limiter backend is asked and answers: the limits that apply to a request (precompiled
per key when the key cache loads) and the outcome of one admission."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from seawall.decide.gcra import MINUTE_NS, NS, Rate


@dataclass(frozen=True, slots=True)
class ScopeLimits:
    """The limits of one scope (a key, its group, or its tenant), with the bucket names built once:
    a request pays no string or tuple building. A group's (a tenant's) buckets are shared by all
    its keys."""

    scope: str  # "key" | "group" | "tenant"
    id: str  # the key's id, the group's or the tenant's name
    rpm: Rate | None = None
    tpm: Rate | None = None
    max_concurrency: int | None = None
    # Buckets are named by rate too, so a changed limit starts a fresh bucket (a GCRA state is
    # scaled by its limit; see decide/gcra.py).
    rpm_bucket: tuple = ()
    tpm_bucket: tuple = ()
    slot: tuple = ()
    rps: Rate | None = None  # requests per second: the same GCRA with a 1 s period
    rps_bucket: tuple = ()


def scope_limits(scope: str, id: str, rpm: int | None, tpm: int | None,
                 max_concurrency: int | None, rps: int | None = None) -> ScopeLimits | None:
    """None when the scope sets no limit at all, so a key without limits takes the fast path."""
    if rpm is None and tpm is None and max_concurrency is None and rps is None:
        return None
    r = Rate(rpm) if rpm else None
    t = Rate(tpm) if tpm else None
    return ScopeLimits(scope, id, r, t, max_concurrency,
                       rpm_bucket=(scope, id, "requests", rpm), tpm_bucket=(scope, id, "tokens", tpm),
                       slot=(scope, id), rps=Rate(rps, NS) if rps else None, rps_bucket=(scope, id, "rps", rps))


class Limits(NamedTuple):
    """One scope's limit values as a source sets them (None = that source sets none)."""

    rps: int | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None


NO_LIMITS = Limits()


def stricter(a: Limits, b: Limits) -> Limits:
    """Two sources of one scope's limits (the store and the config file), field by field: the
    lower wins, so neither source can loosen what the other sets."""
    return Limits(*(x if y is None else y if x is None else min(x, y) for x, y in zip(a, b, strict=True)))


def with_defaults(own: Limits, default: Limits) -> Limits:
    """Each limit the scope doesn't set itself takes the default's (limits.defaults)."""
    return Limits(*(d if x is None else x for x, d in zip(own, default, strict=True)))


class Window(NamedTuple):  # built per admission: a NamedTuple is the cheapest immutable record
    """One dimension (requests or tokens) of the most restrictive scope, for x-ratelimit-* headers."""

    limit: int
    remaining: int
    reset_ns: int


class Admitted(NamedTuple):
    requests: Window | None
    tokens: Window | None
    # A remote limiter's handle on what this admission holds (its concurrency leases); None when
    # nothing was counted (the in-process limiter needs none; Redis down and failing open).
    lease: str | None = None


@dataclass(frozen=True, slots=True)
class Refused:
    """Which limit refused: `kind` is requests | tokens | concurrency | too_large (a request whose
    token estimate exceeds the whole per-minute limit, so waiting can never help); `period_ns`
    is the refusing rate's period (a second for rps), 0 for concurrency."""

    kind: str
    scope: ScopeLimits
    limit: int
    retry_after_ns: int
    requests: Window | None
    tokens: Window | None
    period_ns: int = MINUTE_NS


class LimiterUnavailable(Exception):
    """A remote limiter could not decide (its store down or slow) and its policy is to refuse."""

    def __init__(self, retry_after_s: int):
        super().__init__(f"limiter unavailable; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


class RemoteLimiter:
    """A limiter whose state lives outside the process (limits/redis.py): it is awaited, and it
    reads time from its store, so processes with skewed clocks agree. Admission awaits only
    these; the in-process MemoryLimiter is called directly, its path gaining no await.

    `admit` answers like MemoryLimiter.admit (raising LimiterUnavailable when failing closed);
    `finish` gives back the admission's concurrency slots and settles its tokens in one call,
    and never raises: a lost release is cured by the lease's expiry."""

    async def admit(self, scopes: tuple[ScopeLimits, ...], tokens: int) -> Admitted | Refused:
        raise NotImplementedError

    async def finish(self, scopes: tuple[ScopeLimits, ...], lease: str | None, token_delta: int) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError
