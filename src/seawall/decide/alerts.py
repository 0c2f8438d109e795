"""Alert decisions: sliding-window counts and the rules that turn them into alerts. Pure: the
clock is an argument, nothing here does I/O (observe/alerts.py feeds it and delivers).

    Windows      per (source, subject): events and bad events per time bucket, a few example
                 request ids per bucket; `add` is the per-request work (a few dict operations)
    RULES        the built-in rules: what each watches (source, bad kind, ratio | count | gauge),
                 its taxonomy category and what to check first
    evaluate     (states, windows, gauges, rules, now) -> (states, [AlertChange])

A rule's condition, per subject:
    breaching  events >= min_events and value >= threshold
    clear      value < threshold * clear_ratio (hysteresis: a value hovering at the threshold
               neither fires nor resolves again and again)

    ok ──(breaching for for_s, and cooldown_s past the last resolution)──▶ firing ──▶ fired
    firing ──(clear for clear_for_s)──▶ ok ──▶ resolved

so each alert is announced once when it fires and once when it resolves, however long it lasts.
Subjects are deployment labels, tenants or groups, the gateway itself: never a key or a secret.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field, replace

MAX_EXAMPLES = 3  # request ids kept per bucket and kind: enough to pull the log rows

# -- what is counted ---------------------------------------------------------------------------
# Sources and their subjects: upstream (a deployment label, one event per attempt), stream (a
# deployment label, one per streamed request), gateway ("gateway", one per client request),
# quota (a tenant or group, one per refused request), request_log ("request_log": rows dropped,
# sampled by the evaluator), circuit (a deployment label: a gauge, 1 while not closed), health (a
# deployment label: a gauge, 1 while taken out of rotation, with the refusal's category).

BROKEN_STREAM_ENDS = frozenset({"interrupted", "stalled", "total_timeout", "first_byte_timeout", "upstream_error"})


def upstream_kind(category: str | None) -> str | None:
    """Which alert counts an upstream attempt's failure category, if any (None: it succeeded or
    was the request's own fault, e.g. request.invalid)."""
    if category is None:
        return None
    family = category.partition(".")[0]
    if family in ("auth", "permission"):
        return "auth"
    if family == "rate_limit":
        # "Request too large … tokens per min" is the request's size, not the provider's load
        return None if category == "rate_limit.request_too_large" else "rate_limit"
    if family in ("upstream", "network"):
        return "server"
    if category == "quota.exhausted":
        return "quota"
    return None


@dataclass(frozen=True, slots=True)
class Rule:
    """A built-in rule: what it watches. Its thresholds come from the config (config/alerts.py)."""

    name: str
    source: str
    kind: str  # which bad events count
    measure: str  # ratio (bad / events) | count (bad events) | gauge (the latest sample)
    subject_kind: str  # what the subject names, for people reading the alert
    summary: str  # str.format: {subject} {value} {threshold} {bad} {events} {window}
    category: str  # the taxonomy category when the events carry none
    hint: str  # what to check first (error-taxonomy.md's words)


RULES: dict[str, Rule] = {r.name: r for r in (
    Rule("upstream_auth", "upstream", "auth", "count", "deployment",
         "{subject} refused the gateway's provider key {bad} times in {window}",
         "auth.key_revoked",
         "The provider key was revoked or rotated (or lacks a permission): deploy the new key to this "
         "deployment's api_key_env / api_key_file and restart."),
    Rule("upstream_rate_limited", "upstream", "rate_limit", "ratio", "deployment",
         "{subject} answered 429 to {value} of attempts ({bad} of {events}) in {window}",
         "rate_limit.unspecified",
         "The provider's rate limit: lower concurrency, set the deployment's rpm/tpm, add a deployment to "
         "balance over, or raise the provider tier."),
    Rule("upstream_errors", "upstream", "server", "ratio", "deployment",
         "{subject} failed {value} of attempts ({bad} of {events}) with 5xx or network errors in {window}",
         "upstream.unavailable",
         "Nothing on the clients' side: check the provider's status page and the deployment's base_url, "
         "DNS and firewall; fallbacks should be serving meanwhile."),
    Rule("upstream_quota", "upstream", "quota", "count", "deployment",
         "{subject} says the provider account's quota is spent ({bad} refusals in {window})",
         "quota.exhausted",
         "Balance, billing, plan, monthly or daily quota of the provider account; waiting seconds won't help."),
    Rule("circuit_open", "circuit", "open", "gauge", "deployment",
         "the circuit of {subject} is open: the gateway stopped calling it",
         "capacity.circuit_open",
         "Every recent call to this deployment failed: see the provider's status and `seawall logs --status 5xx`."),
    Rule("deployment_out", "health", "out", "gauge", "deployment",
         "{subject} is out of rotation: the provider refused its key or its account",
         "auth.key_revoked",
         "The provider refused the deployment's key (revoked, rotated, lacking a permission) or its account is "
         "out of credit: fix the key (api_key_env / api_key_file) or the billing; `seawall deployments show` says "
         "which and since when, and a probe (or `seawall deployments test`) puts it back once it answers."),
    Rule("stream_interrupted", "stream", "broken", "ratio", "deployment",
         "{value} of streams from {subject} ended early ({bad} of {events}) in {window}",
         "stream.interrupted",
         "The stream ended without its terminal event: check proxy and gateway timeouts (read_s, total_s) "
         "and the provider's status."),
    Rule("gateway_errors", "gateway", "5xx", "ratio", "gateway",
         "the gateway answered {value} of requests ({bad} of {events}) with a 5xx in {window}",
         "upstream.server_error",
         "Clients are getting server errors: the other alerts name the deployment; `seawall logs --status 5xx` "
         "and the gateway's own log show the rest."),
    Rule("request_log_drops", "request_log", "dropped", "count", "request_log",
         "the request log dropped {bad} rows in {window}",
         "upstream.unavailable",
         "The request log's store is failing or too slow: check the disk or the database, and the gateway's "
         "log for 'request log:' errors."),
    Rule("quota_exhausted", "quota", "exhausted", "count", "tenant or group",
         "{bad} requests of {subject} were refused for a spent quota in {window}",
         "quota.exhausted",
         "A key quota is spent: raise it (seawall keys update --quota-tokens / --quota-usd) or tell its owner."),
)}


# -- sliding windows ---------------------------------------------------------------------------
class Tally:
    """One (source, subject)'s events in one bucket."""

    __slots__ = ("events", "bad", "examples")

    def __init__(self, events: int = 0, bad: dict[str, int] | None = None,
                 examples: dict[str, list[tuple[str, str | None]]] | None = None) -> None:
        self.events = events
        self.bad: dict[str, int] = bad if bad is not None else {}
        self.examples: dict[str, list[tuple[str, str | None]]] = examples if examples is not None else {}  # kind -> [(request id, category)]

    def merge(self, other: Tally) -> None:
        self.events += other.events
        for kind, n in other.bad.items():
            self.bad[kind] = self.bad.get(kind, 0) + n
        for kind, found in other.examples.items():
            kept = self.examples.setdefault(kind, [])
            kept += [tuple(e) for e in found[:MAX_EXAMPLES - len(kept)]]


class Windows:
    """Counts per (source, subject) in buckets of bucket_s seconds, keep_s of them kept.

    One per gateway, fed on the event loop (not thread-safe). `add` costs a few dict
    operations; summing a window happens at evaluation time, every few seconds."""

    def __init__(self, bucket_s: float, keep_s: float):
        self.bucket_s = bucket_s
        self._keep = max(1, int(keep_s / bucket_s) + 1)
        self._buckets: deque[tuple[int, dict[tuple[str, str], Tally]]] = deque()
        self._slot = -1
        self._current: dict[tuple[str, str], Tally] = {}

    def add(self, now: float, source: str, subject: str, kind: str | None = None, request_id: str | None = None,
            category: str | None = None, events: int = 1, bad: int = 1) -> None:
        slot = int(now // self.bucket_s)
        if slot != self._slot:
            self._rotate(slot)
        tally = self._current.get((source, subject))
        if tally is None:
            tally = self._current[(source, subject)] = Tally()
        tally.events += events
        if kind is not None:
            tally.bad[kind] = tally.bad.get(kind, 0) + bad
            if request_id is not None:
                examples = tally.examples.get(kind)
                if examples is None:
                    tally.examples[kind] = [(request_id, category)]
                elif len(examples) < MAX_EXAMPLES:
                    examples.append((request_id, category))

    def _rotate(self, slot: int) -> None:
        if slot < self._slot:  # the wall clock stepped back: count into the newest bucket
            return
        self._slot, self._current = slot, {}
        self._buckets.append((slot, self._current))
        while self._buckets and self._buckets[0][0] <= slot - self._keep:
            self._buckets.popleft()

    def since(self, slot: int) -> list[tuple[int, dict[tuple[str, str], Tally]]]:
        """The buckets from `slot` on (what another gateway's evaluator needs of this one's)."""
        return [(s, tallies) for s, tallies in self._buckets if s >= slot]

    @classmethod
    def combined(cls, bucket_s: float, keep_s: float,
                 parts: list[tuple[int, dict[tuple[str, str], Tally]]]) -> Windows:
        """One Windows summing several gateways' buckets (each (slot, tallies) one gateway's)."""
        merged: dict[int, dict[tuple[str, str], Tally]] = {}
        for slot, tallies in parts:
            into = merged.setdefault(slot, {})
            for subject, t in tallies.items():
                into.setdefault(subject, Tally()).merge(t)
        windows = cls(bucket_s, keep_s)
        for slot in sorted(merged):
            windows._buckets.append((slot, merged[slot]))
        if merged:
            windows._slot = max(merged)
            windows._current = merged[windows._slot]
        return windows

    def sum(self, source: str, kind: str, window_s: float, now: float) -> dict[str, Observation]:
        """Each subject of `source` over the last window_s: events, bad events of `kind`, examples."""
        first = int(now // self.bucket_s) - max(1, round(window_s / self.bucket_s)) + 1
        out: dict[str, Observation] = {}
        for slot, tallies in self._buckets:
            if slot < first:
                continue
            for (src, subject), t in tallies.items():
                if src != source:
                    continue
                o = out.get(subject)
                if o is None:
                    o = out[subject] = Observation()
                o.events += t.events
                o.bad += t.bad.get(kind, 0)
                o.examples += t.examples.get(kind, ())
        return out


@dataclass(slots=True)
class Observation:
    events: int = 0
    bad: int = 0
    examples: list[tuple[str, str | None]] = field(default_factory=list)

    def value(self, measure: str) -> float:
        if measure == "ratio":
            return self.bad / self.events if self.events else 0.0
        return float(self.bad)


# -- evaluation --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Limits:
    """A rule's tuning (config/alerts.py AlertRuleSettings has the same fields)."""

    threshold: float
    severity: str = "warning"
    min_events: int = 1
    window_s: float = 60.0
    for_s: float = 0.0
    clear_ratio: float = 0.5
    clear_for_s: float = 30.0
    cooldown_s: float = 60.0
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class AlertState:
    """One (rule, subject)'s standing: `last` is the latest breaching reading (the evidence an
    alert shows, kept after it resolves), `current` the latest value whatever it was."""

    firing: bool = False
    pending_since: float | None = None  # breaching since, not yet firing
    clear_since: float | None = None  # firing, and clear since
    first_seen: float | None = None  # when this episode first breached
    last_seen: float | None = None  # the last evaluation that saw it breaching
    fired_at: float | None = None
    resolved_at: float | None = None
    last: Reading | None = None
    current: float | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    value: float
    events: int
    bad: int
    examples: tuple[str, ...]
    category: str


@dataclass(frozen=True, slots=True)
class AlertChange:
    change: str  # fired | resolved
    rule: str
    subject: str
    state: AlertState
    at: float


def read(rule: Rule, limits: Limits, obs: Observation) -> Reading:
    """The value and its evidence; the category is the one most of the examples carry."""
    categories = Counter(c for _, c in obs.examples if c)
    category = categories.most_common(1)[0][0] if categories else rule.category
    return Reading(obs.value(rule.measure), obs.events, obs.bad, tuple(rid for rid, _ in obs.examples[:MAX_EXAMPLES]),
                   category)


def evaluate(states: dict[tuple[str, str], AlertState], windows: Windows, gauges: dict[tuple[str, str], float],
             rules: dict[str, Limits], now: float) -> tuple[dict[tuple[str, str], AlertState], list[AlertChange]]:
    """Every enabled rule over every subject it has seen; the new states and what changed."""
    new: dict[tuple[str, str], AlertState] = {}
    changes: list[AlertChange] = []
    for name, limits in rules.items():
        rule = RULES[name]
        if not limits.enabled:
            continue
        if rule.measure == "gauge":
            observed = {subject: gauge(v) for (src, subject), v in gauges.items() if src == rule.source}
        else:
            observed = windows.sum(rule.source, rule.kind, limits.window_s, now)
        subjects = set(observed) | {s for (r, s) in states if r == name}
        for subject in subjects:
            obs = observed.get(subject) or Observation()
            old = states.get((name, subject), AlertState())
            state, change = step(old, read(rule, limits, obs), limits, now)
            if change is not None:
                changes.append(AlertChange(change, name, subject, state, now))
            if not _forgettable(state, limits, now):
                new[(name, subject)] = state
    return new, changes


def gauge(sample: float | tuple[float, str | None, str | None]) -> Observation:
    """A gauge's sample: its value, or (value, category, request id) when one request explains it."""
    if not isinstance(sample, tuple):
        return Observation(events=1, bad=int(sample))
    value, category, request_id = sample
    return Observation(events=1, bad=int(value), examples=[(request_id, category)] if request_id else [])


def step(s: AlertState, r: Reading, limits: Limits, now: float) -> tuple[AlertState, str | None]:
    """One (rule, subject)'s next state after a reading, and "fired" / "resolved" / None."""
    breaching = r.events >= limits.min_events and r.value >= limits.threshold
    clear = r.value < limits.threshold * limits.clear_ratio
    if s.firing:
        s = replace(s, current=r.value, last=r, last_seen=now) if breaching else replace(s, current=r.value)
        if not clear:
            return replace(s, clear_since=None), None
        since = s.clear_since if s.clear_since is not None else now
        if now - since >= limits.clear_for_s:
            return replace(s, firing=False, clear_since=None, pending_since=None, resolved_at=now), "resolved"
        return replace(s, clear_since=since), None
    if not breaching:
        return replace(s, pending_since=None), None
    since = s.pending_since if s.pending_since is not None else now
    s = replace(s, pending_since=since, first_seen=since, last_seen=now, last=r, current=r.value)
    cooled = s.resolved_at is None or now - s.resolved_at >= limits.cooldown_s
    if now - since >= limits.for_s and cooled:
        return replace(s, firing=True, fired_at=now, clear_since=None), "fired"
    return s, None


def _forgettable(s: AlertState, limits: Limits, now: float) -> bool:
    """Resolved long enough ago that its cooldown no longer matters, and nothing pending."""
    return (not s.firing and s.pending_since is None
            and (s.resolved_at is None or now - s.resolved_at >= limits.cooldown_s))
