"""Whether a failed attempt should move on to the next deployment.

The resilience issue grows this into `next_attempt(history, policy, budget, now)` with backoff,
Retry-After and a retry budget; the rule below is the part every version keeps: a request the
upstream refused *as a request* fails the same way everywhere, anything else may succeed on
another deployment (another key, region or provider).
"""

from __future__ import annotations

NEVER_FALL_BACK = ("request.", "rate_limit.request_too_large")


def falls_back(category: str) -> bool:
    return not category.startswith(NEVER_FALL_BACK)
