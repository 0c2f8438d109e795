"""Prometheus metrics, counted cheaply per request and turned into metric families at scrape time.

The record stage calls `Metrics.observe(ctx)` once per request: a few dict and list updates
keyed by label tuples (no prometheus_client objects on the hot path: a labelled Counter's
`.labels(...).inc()` takes a lock and builds a key per call). `SeawallCollector` is
prometheus_client's supported extension point: at scrape time it turns the plain counters into
metric families, and reads live state (circuit breakers, the request log writer) as it is then.

Each instance is scraped on its own and Prometheus sums across instances. With several worker
processes (`serve --workers N`), observe/worker_metrics.py merges the workers' families.

Labels are bounded (docs/reference/observability.md §6): `model` is a configured model name or
`other`; never a key, request id, client IP or raw model string.
"""

from __future__ import annotations

import bisect
import time
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from seawall.config import ResolvedDeployment
from seawall.pipeline.context import RequestContext

# OpenTelemetry GenAI semconv's advised boundaries for gen_ai.client.operation.duration and
# time_to_first_chunk (prometheus_client's defaults stop at 10 s; LLM calls run longer).
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)

# Configured provider -> semconv gen_ai.provider.name; the simulator and midjourney keep their own names.
PROVIDER_NAMES = {"openai": "openai", "anthropic": "anthropic", "gemini": "gcp.gemini", "azure": "azure.ai.openai",
                  "simulator": "simulator", "midjourney": "midjourney"}
NO_PROVIDER = "none"  # the gateway answered without calling an upstream
NO_MODEL = "none"  # the request named no model (refused before its body was read)
OTHER_MODEL = "other"  # a model that is not configured: raw strings would be unbounded

# How a relayed stream ended (RequestContext.stream_end) -> the streams_total outcome.
STREAM_OUTCOMES = {"completed": "completed", "client_disconnect": "client_disconnect",
                   "upstream_error": "upstream_error", "interrupted": "stream.interrupted",
                   "total_timeout": "stream.interrupted", "stalled": "stream.stalled",
                   "first_byte_timeout": "stream.stalled"}
CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "open": 2}


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status < 600 else "none"


def error_family(category: str | None) -> str:
    """The taxonomy category's prefix (rate_limit.tokens -> rate_limit); `none` for success."""
    return category.partition(".")[0] if category else "none"


def stream_outcome(stream_end: str | None) -> str:
    return STREAM_OUTCOMES.get(stream_end or "", "stream.interrupted")


def attempt_outcomes(deployments: list[str], failed: list[bool]) -> list[str]:
    """Each attempt's outcome: success; retry (the next attempt went to the same deployment);
    fallback (to another); give_up (the last one failed)."""
    out = []
    for i, (label, bad) in enumerate(zip(deployments, failed)):
        if not bad:
            out.append("success")
        elif i + 1 == len(deployments):
            out.append("give_up")
        else:
            out.append("retry" if deployments[i + 1] == label else "fallback")
    return out


class Histogram:
    """Bucket counts of one label set: bisect per sample, cumulated only at scrape time."""

    __slots__ = ("counts", "sum")

    def __init__(self) -> None:
        self.counts = [0] * (len(DURATION_BUCKETS) + 1)  # the last one: +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(DURATION_BUCKETS, value)] += 1
        self.sum += value

    def buckets(self) -> list[tuple[str, int]]:
        out, total = [], 0
        for bound, n in zip((*(str(b) for b in DURATION_BUCKETS), "+Inf"), self.counts):
            total += n
            out.append((bound, total))
        return out


class Metrics:
    """The gateway's counters. One per gateway, updated on its event loop only."""

    def __init__(self, routes: dict[str, list[ResolvedDeployment]]):
        # deployment label -> (provider, configured model), computed once
        self.deployments = {d.label: (PROVIDER_NAMES.get(d.spec.provider, d.spec.provider), name)
                            for name, ds in routes.items() for d in ds}
        self.model_provider = {name: self.deployments[ds[0].label][0] for name, ds in routes.items() if ds}
        self.requests: defaultdict[tuple, int] = defaultdict(int)
        self.errors: defaultdict[tuple, int] = defaultdict(int)
        self.tokens: defaultdict[tuple, int] = defaultdict(int)
        self.cost: defaultdict[tuple, float] = defaultdict(float)
        self.attempts: defaultdict[tuple, int] = defaultdict(int)
        self.fallbacks: defaultdict[tuple, int] = defaultdict(int)
        self.rate_limited: defaultdict[tuple, int] = defaultdict(int)
        self.streams: defaultdict[tuple, int] = defaultdict(int)
        self.durations: dict[tuple, Histogram] = {}
        self.ttft: dict[tuple, Histogram] = {}
        self.in_flight: defaultdict[str, int] = defaultdict(int)
        self.connections_cut: defaultdict[tuple, int] = defaultdict(int)  # (reason,): connections.py
        self._precreate()

    def _precreate(self) -> None:
        """Zero series for every configured model, so ratio alerts work from start-up."""
        for model, provider in self.model_provider.items():
            for dialect in ("openai", "anthropic", "gemini"):
                self.requests[(dialect, "chat", provider, model, "false", "2xx", "none")] += 0
            for token_type in ("input", "output"):
                self.tokens[(provider, model, token_type)] += 0
            self.cost[(provider, model)] += 0
            self.attempts[(provider, model, "success")] += 0
            self.streams[(provider, "completed")] += 0
            self.rate_limited[("upstream", "provider", provider)] += 0

    def observe(self, ctx: RequestContext, elapsed_s: float, cost_usd: float | None) -> None:
        """One finished request (the record stage)."""
        req = ctx.request
        model = NO_MODEL if req is None else req.model if req.model in self.model_provider else OTHER_MODEL
        attempts = ctx.attempts
        provider = self.deployments.get(attempts[-1].deployment, (NO_PROVIDER,))[0] if attempts else NO_PROVIDER
        stream = "true" if ctx.streamed or (req is not None and req.stream) else "false"
        category = ctx.category
        self.requests[(ctx.dialect, req.operation if req else "none", provider, model, stream,
                       status_class(ctx.status), error_family(category))] += 1
        if category is not None:
            self.errors[(provider, category)] += 1
        key = (ctx.dialect, provider, model, stream)
        h = self.durations.get(key)
        if h is None:
            h = self.durations[key] = Histogram()
        h.observe(elapsed_s)
        if len(attempts) == 1 and attempts[0].category is None:  # the common case: one attempt, answered
            a = attempts[0]
            self.attempts[(*self.deployments.get(a.deployment, (NO_PROVIDER, OTHER_MODEL)),
                           "success" if a.status is not None else "cancelled")] += 1
        elif attempts:
            self._attempts(ctx)
        elif ctx.status == 429 and category is not None and category.startswith("rate_limit."):
            self.rate_limited[("seawall", ctx.limited_by or "key", provider)] += 1
        if ctx.streamed:
            self.streams[(provider, stream_outcome(ctx.stream_end))] += 1
            if ctx.ttfb_ms is not None:
                key = (provider, model)
                h = self.ttft.get(key)
                if h is None:
                    h = self.ttft[key] = Histogram()
                h.observe(ctx.ttfb_ms / 1000)
        usage = ctx.usage
        if usage is not None:
            self.tokens[(provider, model, "input")] += usage.prompt_tokens
            self.tokens[(provider, model, "output")] += usage.completion_tokens
        if cost_usd is not None:
            self.cost[(provider, model)] += cost_usd

    def _attempts(self, ctx: RequestContext) -> None:
        labels = [a.deployment for a in ctx.attempts]
        failed = [a.category is not None for a in ctx.attempts]
        where = [self.deployments.get(label, (NO_PROVIDER, OTHER_MODEL)) for label in labels]
        for i, outcome in enumerate(attempt_outcomes(labels, failed)):
            a = ctx.attempts[i]
            if outcome == "success" and a.status is None:
                outcome = "cancelled"  # the client left before the upstream answered
            self.attempts[(*where[i], outcome)] += 1
            if a.status == 429:
                self.rate_limited[("upstream", "provider", where[i][0])] += 1
            if outcome == "fallback":
                self.fallbacks[(where[i][0], where[i + 1][0], error_family(a.category))] += 1


class SeawallCollector:
    """Turns Metrics (and the live state of the gateway) into metric families at scrape time."""

    def __init__(self, metrics: Metrics, version: str, breakers, log_stats, out_of_rotation=dict):
        self.m, self.version, self._breakers, self._log_stats = metrics, version, breakers, log_stats
        self._out = out_of_rotation  # deployment label -> its health, for those not in rotation

    def collect(self) -> Iterator:
        m = self.m
        yield _counter("seawall_requests", "Client requests, by outcome",
                       ("dialect", "operation", "provider", "model", "stream", "status_class", "error_family"),
                       m.requests)
        yield _counter("seawall_errors", "Failed requests, by taxonomy category", ("provider", "error_type"),
                       m.errors)
        yield _counter("seawall_tokens", "Tokens billed by the upstream", ("provider", "model", "token_type"),
                       m.tokens)
        yield _counter("seawall_cost_usd", "Cost in USD at the catalog's prices", ("provider", "model"), m.cost)
        yield _counter("seawall_upstream_attempts", "Upstream attempts, by outcome", ("provider", "model", "outcome"),
                       m.attempts)
        yield _counter("seawall_fallbacks", "Attempts that failed over to another deployment",
                       ("from_provider", "to_provider", "error_family"), m.fallbacks)
        yield _counter("seawall_rate_limited", "429s: the gateway's own limits (seawall) and upstreams' (upstream)",
                       ("source", "scope", "provider"), m.rate_limited)
        yield _counter("seawall_streams", "Streams relayed, by how they ended", ("provider", "outcome"), m.streams)
        yield _counter("seawall_connections_cut", "Connections refused before a request was read (connections.py)",
                       ("reason",), m.connections_cut)
        yield _histogram("seawall_request_duration_seconds", "Client-observed request duration",
                         ("dialect", "provider", "model", "stream"), m.durations)
        yield _histogram("seawall_time_to_first_token_seconds", "Time to the first streamed event sent",
                         ("provider", "model"), m.ttft)
        in_flight = GaugeMetricFamily("seawall_requests_in_flight", "API requests being served", labels=("dialect",))
        for dialect in ("openai", "anthropic", "gemini"):
            in_flight.add_metric((dialect,), m.in_flight[dialect])
        yield in_flight
        yield self._circuits()
        yield self._out_of_rotation()
        stats = self._log_stats()
        yield CounterMetricFamily("seawall_request_log_dropped", "Request log rows dropped (store unavailable)",
                                  value=stats["dropped"])
        yield GaugeMetricFamily("seawall_request_log_pending", "Request log rows waiting to be written",
                                value=stats["pending"])
        info = GaugeMetricFamily("seawall_build_info", "The gateway's version", labels=("version",))
        info.add_metric((self.version,), 1)
        yield info

    def _circuits(self) -> GaugeMetricFamily:
        """0 closed, 1 half-open, 2 open; the worst of a model's deployments at one provider.
        An open breaker whose cooldown is over lets the next request probe: half-open."""
        states = {where: 0 for where in self.m.deployments.values()}
        now = time.monotonic()
        for label, b in self._breakers().items():
            where = self.m.deployments.get(label)
            if where is not None:
                value = CIRCUIT_VALUES.get(b.state, 0)
                if value == 2 and now >= b.open_until:
                    value = 1
                states[where] = max(states[where], value)
        family = GaugeMetricFamily("seawall_circuit_state", "Circuit breaker: 0 closed, 1 half-open, 2 open",
                                   labels=("provider", "model"))
        for labels, value in states.items():
            family.add_metric(labels, value)
        return family


    def _out_of_rotation(self) -> GaugeMetricFamily:
        """How many of a model's deployments at a provider are out of rotation (a refused key, a
        spent account, or disabled by hand: decide/health.py)."""
        counts = {where: 0 for where in self.m.deployments.values()}
        for label in self._out():
            where = self.m.deployments.get(label)
            if where is not None:
                counts[where] += 1
        family = GaugeMetricFamily("seawall_deployments_out_of_rotation",
                                   "Deployments out of rotation: provider key refused, account spent, or disabled",
                                   labels=("provider", "model"))
        for labels, value in counts.items():
            family.add_metric(labels, value)
        return family


def _counter(name: str, doc: str, labels: tuple[str, ...], values: dict) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, value in list(values.items()):
        family.add_metric(key, value)
    return family


def _histogram(name: str, doc: str, labels: tuple[str, ...], values: dict[tuple, Histogram]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=labels)
    for key, h in list(values.items()):
        family.add_metric(key, h.buckets(), h.sum)
    return family
