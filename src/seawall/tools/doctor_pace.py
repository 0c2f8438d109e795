"""`seawall doctor`'s budget: what the key's own limits let it send, and when.

Against a Seawall gateway the doctor reads the key's limits first (`GET /v1/seawall/key`, which
spends none of them) and keeps a copy of the gateway's buckets: the same GCRA arithmetic
(decide/gcra.py), one bucket per rps, rpm and tpm limit of the key, its group and its tenant.
Each check that spends requests waits until they fit, or is skipped with the limit named when
they don't fit soon. Without this, a key with rps 1 spends its second on the completion check,
and the stream and the ramp report the 429s the doctor itself caused ("even one request at a
time is refused"). The copy assumes nobody else uses the key meanwhile; a refusal it did not
foresee is still reported, as the limit being spent by others.

Pure: limits and the clock in, waits out; doctor.py does the sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from seawall.decide.gcra import MINUTE_NS, NS, Rate, gcra

_UNITS = (("rps", NS, "rate_limit.requests"), ("rpm", MINUTE_NS, "rate_limit.requests"),
          ("tpm", MINUTE_NS, "rate_limit.tokens"))


@dataclass(frozen=True, slots=True)
class Bucket:
    label: str  # "rps 1 (key key_0f3a)": how the verdicts name it
    category: str
    rate: Rate
    per_token: bool  # tpm: a request costs its token estimate, not 1


@dataclass(frozen=True, slots=True)
class Verdict:
    """When `n` requests fit: `wait_s` from now (0: now), or never (None); the limit that decides."""

    wait_s: float | None
    limit: str = ""
    category: str = ""


@dataclass(slots=True)
class Budget:
    buckets: list[Bucket] = field(default_factory=list)
    states: list[int] = field(default_factory=list)  # each bucket's GCRA state; 0 = full, as the gateway's start
    at_once: tuple[int, str] | None = None  # the lowest max_concurrency and its label

    @classmethod
    def of(cls, limits: list | None) -> Budget:
        """From the `limits` of GET /v1/seawall/key ([{scope, id, rps, rpm, tpm, max_concurrency}]);
        None or [] (no gateway view, no limits): nothing to pace."""
        buckets: list[Bucket] = []
        at_once = None
        for lim in limits or ():
            if not isinstance(lim, dict):
                continue
            where = f"{lim.get('scope')} {lim.get('id')}"
            for unit, period, category in _UNITS:
                value = lim.get(unit)
                if isinstance(value, int) and value > 0:
                    buckets.append(Bucket(f"{unit} {value} ({where})", category, Rate(value, period), unit == "tpm"))
            most = lim.get("max_concurrency")
            if isinstance(most, int) and most > 0 and (at_once is None or most < at_once[0]):
                at_once = (most, f"max_concurrency {most} ({where})")
        return cls(buckets, [0] * len(buckets), at_once)

    def when(self, n: int, tokens: int, now_ns: int) -> Verdict:
        """When `n` requests of `tokens` (estimated) each fit every bucket at once."""
        if self.at_once is not None and n > self.at_once[0]:
            return Verdict(None, self.at_once[1], "rate_limit.concurrency")
        wait_ns, deciding = 0, None
        for bucket, state in zip(self.buckets, self.states, strict=True):
            decision = gcra(state, now_ns, n * tokens if bucket.per_token else n, bucket.rate)
            if decision.retry_after_ns < 0:
                return Verdict(None, bucket.label, bucket.category)
            if decision.retry_after_ns > wait_ns:
                wait_ns, deciding = decision.retry_after_ns, bucket
        return Verdict(wait_ns / NS, deciding.label if deciding else "", deciding.category if deciding else "")

    def spend(self, n: int, tokens: int, now_ns: int) -> None:
        """`n` requests were answered by `now_ns`: counted as admitted then, no earlier than the
        gateway did, so the copy's buckets are never fuller than the gateway's."""
        for i, bucket in enumerate(self.buckets):
            decision = gcra(self.states[i], now_ns, n * tokens if bucket.per_token else n, bucket.rate)
            if decision.allowed:
                self.states[i] = decision.state
