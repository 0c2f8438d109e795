"""The in-process limiter: bucket states in dicts, decisions by decide/gcra.py.

No I/O and no await between checking and committing, so on one event loop an admission is
atomic: every applicable limit (key, group, tenant; requests per second and per minute, tokens,
concurrency) is checked first, and only an admission that passes them all spends anything. O(1)
per scope; a request has at most three scopes. One per process, shared by its requests; not thread-safe (one event loop).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from seawall.decide.gcra import NS, Decision, Rate, gcra, peek, settle, take_slot
from seawall.limits.base import Admitted, Refused, ScopeLimits, Window

# A concurrency slot frees when some request in flight ends, which nothing can predict; this is
# how soon a refused client should look again (OpenAI-style clients then back off further).
CONCURRENCY_RETRY_NS = 1 * NS


class MemoryLimiter:
    def __init__(self, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.clock = clock  # read by the caller, passed to each decision; a fake one in tests
        self._tat: dict[tuple, int] = {}
        self._in_flight: dict[tuple, int] = {}

    def admit(self, scopes: tuple[ScopeLimits, ...], tokens: int, now_ns: int) -> Admitted | Refused:
        """Spend one request and `tokens` (the estimate) on every scope, or refuse without
        spending anything, naming the limit that forces the longest wait."""
        tat = self._tat
        checked: list[tuple[str, ScopeLimits, tuple, Rate, Decision]] = []
        for s in scopes:
            if s.rpm is not None:
                checked.append(("requests", s, s.rpm_bucket, s.rpm, gcra(tat.get(s.rpm_bucket, 0), now_ns, 1, s.rpm)))
            if s.rps is not None:
                checked.append(("requests", s, s.rps_bucket, s.rps, gcra(tat.get(s.rps_bucket, 0), now_ns, 1, s.rps)))
            if s.tpm is not None:
                checked.append(("tokens", s, s.tpm_bucket, s.tpm,
                                gcra(tat.get(s.tpm_bucket, 0), now_ns, tokens, s.tpm)))
        requests, tokens_window = _windows(checked)
        refusal: Refused | None = None
        for kind, s, _, rate, d in checked:
            if not d.allowed:
                refusal = _worse(refusal, Refused("too_large" if d.retry_after_ns < 0 else kind, s, rate.limit,
                                                  d.retry_after_ns, requests, tokens_window, rate.period_ns))
        for s in scopes:
            if s.max_concurrency is not None and not take_slot(self._in_flight.get(s.slot, 0), s.max_concurrency):
                refusal = _worse(refusal, Refused("concurrency", s, s.max_concurrency, CONCURRENCY_RETRY_NS,
                                                  requests, tokens_window, 0))
        if refusal is not None:
            return refusal
        for _, _, bucket, _, d in checked:
            tat[bucket] = d.state
        for s in scopes:
            if s.max_concurrency is not None:
                self._in_flight[s.slot] = self._in_flight.get(s.slot, 0) + 1
        return Admitted(requests, tokens_window)

    def settle(self, scopes: tuple[ScopeLimits, ...], token_delta: int, now_ns: int) -> None:
        """Correct the token buckets by real usage minus the estimate."""
        if token_delta:
            for s in scopes:
                if s.tpm is not None:
                    self._tat[s.tpm_bucket] = settle(self._tat.get(s.tpm_bucket, 0), now_ns, token_delta, s.tpm)

    def release(self, scopes: tuple[ScopeLimits, ...]) -> None:
        """Give back the concurrency slots an admission took (exactly once per admission)."""
        for s in scopes:
            if s.max_concurrency is not None:
                left = self._in_flight.get(s.slot, 0) - 1
                if left > 0:
                    self._in_flight[s.slot] = left
                else:
                    self._in_flight.pop(s.slot, None)  # idle scopes hold no memory

    def in_flight(self, scope: ScopeLimits) -> int:
        return self._in_flight.get(scope.slot, 0)

    def window(self, scope: ScopeLimits, kind: str, now_ns: int) -> Window | None:
        """A bucket as it stands (tests, and a later status page)."""
        rate, bucket = {"requests": (scope.rpm, scope.rpm_bucket), "rps": (scope.rps, scope.rps_bucket),
                        "tokens": (scope.tpm, scope.tpm_bucket)}[kind]
        if rate is None:
            return None
        d = peek(self._tat.get(bucket, 0), now_ns, rate)
        return Window(rate.limit, d.remaining, d.reset_ns)


def _windows(checked: list[tuple[str, ScopeLimits, tuple, Rate, Decision]]) -> tuple[Window | None, Window | None]:
    """Per dimension, the bucket with the least room left (a scope's rps or rpm, whichever is
    tighter now): the one the client will hit first."""
    requests = tokens = None
    for kind, _, _, rate, d in checked:
        limit = rate.limit
        best = requests if kind == "requests" else tokens
        if best is None or (d.remaining, -d.reset_ns) < (best.remaining, -best.reset_ns):
            if kind == "requests":
                requests = Window(limit, d.remaining, d.reset_ns)
            else:
                tokens = Window(limit, d.remaining, d.reset_ns)
    return requests, tokens


def _worse(a: Refused | None, b: Refused) -> Refused:
    """The refusal to report: one that waiting can't cure first, else the longest wait."""
    if a is None:
        return b
    if (a.kind == "too_large") != (b.kind == "too_large"):
        return a if a.kind == "too_large" else b
    return b if b.retry_after_ns > a.retry_after_ns else a
