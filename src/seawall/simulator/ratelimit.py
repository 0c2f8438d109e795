"""The simulator's own requests-per-minute and tokens-per-minute limits.

Each limit is a leaky bucket over a one-minute window: a request adds its cost, and capacity
comes back continuously at ``limit / 60`` units per second. That matches what OpenAI's headers
describe: ``x-ratelimit-reset-*`` is the time until the bucket is *fully* restored, and a 429's
"Please try again in 20s" is the time until this request's cost fits (Limit 3 RPM, Used 3,
Requested 1 gives exactly 20s, as in OpenAI's recorded message).

The arithmetic is pure (``admit``, ``level``); ``RateLimiter`` only keeps one pair of buckets
per model, the way OpenAI limits each model separately.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WINDOW_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Bucket:
    """Units consumed and not yet restored, as of the monotonic time ``at``."""

    used: float = 0.0
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class Limits:
    rpm: int
    tpm: int


@dataclass(frozen=True, slots=True)
class Verdict:
    """Outcome of one admission. ``kind`` names the limit that refused it: ``requests``,
    ``tokens`` or ``request_too_large`` (a request bigger than the whole TPM limit, which no
    amount of waiting fixes). ``used`` is the bucket level before this request."""

    allowed: bool
    kind: str | None = None
    limit: int = 0
    used: float = 0.0
    requested: int = 0
    wait: float = 0.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the six ``x-ratelimit-*`` headers report; resets are in seconds."""

    limit_requests: int
    remaining_requests: int
    reset_requests: float
    limit_tokens: int
    remaining_tokens: int
    reset_tokens: float


def level(bucket: Bucket, limit: int, now: float) -> float:
    """The bucket's level at ``now``, after continuous refill."""
    restored = (now - bucket.at) * limit / WINDOW_SECONDS
    return max(0.0, bucket.used - restored)


def wait_for(used: float, cost: int, limit: int) -> float:
    """Seconds until ``cost`` more units fit under ``limit``."""
    return max(0.0, (used + cost - limit) * WINDOW_SECONDS / limit)


def admit(
    requests: Bucket, tokens: Bucket, cost_tokens: int, limits: Limits, now: float
) -> tuple[Verdict, Bucket, Bucket]:
    """Admit one request costing one request and ``cost_tokens`` tokens, or say which limit
    refuses it. A refused request consumes nothing (OpenAI does not count rejected calls)."""
    used_r = level(requests, limits.rpm, now)
    used_t = level(tokens, limits.tpm, now)
    if cost_tokens > limits.tpm:
        verdict = Verdict(False, "request_too_large", limits.tpm, used_t, cost_tokens)
        return verdict, requests, tokens
    if used_r + 1 > limits.rpm:
        verdict = Verdict(False, "requests", limits.rpm, used_r, 1, wait_for(used_r, 1, limits.rpm))
        return verdict, requests, tokens
    if used_t + cost_tokens > limits.tpm:
        wait = wait_for(used_t, cost_tokens, limits.tpm)
        verdict = Verdict(False, "tokens", limits.tpm, used_t, cost_tokens, wait)
        return verdict, requests, tokens
    return Verdict(True), Bucket(used_r + 1, now), Bucket(used_t + cost_tokens, now)


def snapshot(requests: Bucket, tokens: Bucket, limits: Limits, now: float) -> Snapshot:
    used_r = level(requests, limits.rpm, now)
    used_t = level(tokens, limits.tpm, now)
    return Snapshot(
        limits.rpm,
        max(0, math.floor(limits.rpm - used_r + 1e-9)),
        used_r * WINDOW_SECONDS / limits.rpm,
        limits.tpm,
        max(0, math.floor(limits.tpm - used_t + 1e-9)),
        used_t * WINDOW_SECONDS / limits.tpm,
    )


class RateLimiter:
    """Per-model bucket pairs. One per simulator app; not thread-safe (one event loop)."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[Bucket, Bucket]] = {}

    def admit(self, model: str, cost_tokens: int, limits: Limits, now: float) -> Verdict:
        requests, tokens = self._buckets.get(model, (Bucket(at=now), Bucket(at=now)))
        verdict, requests, tokens = admit(requests, tokens, cost_tokens, limits, now)
        if verdict.allowed:
            self._buckets[model] = (requests, tokens)
        return verdict

    def snapshot(self, model: str | None, limits: Limits, now: float) -> Snapshot:
        pair = self._buckets.get(model) if model is not None else None
        if pair is None:
            return Snapshot(limits.rpm, limits.rpm, 0.0, limits.tpm, limits.tpm, 0.0)
        return snapshot(pair[0], pair[1], limits, now)

    def clear(self) -> None:
        self._buckets.clear()
