"""The gateway's own alerts: fed by the record stage, evaluated on a timer, announced in the log
and to webhooks, read at `GET /admin/alerts` (and `seawall alerts`). No other server needed.

    record stage ──observe(ctx)──▶ Windows (decide/alerts.py: a few dict updates per request)
    every interval_s: tick() samples circuits and request-log drops, evaluate() decides, and each
    change is logged (WARNING fired, INFO resolved) and queued for the webhooks (observe/webhooks.py)

`GET /admin/alerts` answers (the console page reads this shape):

    {"object": "alerts", "enabled": true, "evaluated_at": "2026-11-24T01:02:03Z",
     "active": [ALERT, …],            firing now, critical first
     "recent": [ALERT + {"change": "fired" | "resolved", "at": …}, …],   newest first, alerts.history kept
     "rules": {"upstream_auth": {"source", "measure", "threshold", "severity", "window_s", …}, …},
     "webhooks": {"configured", "sent", "failed", "dropped", "queued"}}

    ALERT = {"rule": "upstream_auth", "severity": "critical", "state": "firing" | "resolved",
             "subject": "openai-main", "subject_kind": "deployment", "summary": "…",
             "value": 5.0, "current_value": 0.0, "threshold": 3.0, "measure": "count" | "ratio" | "gauge",
             "events": 5, "bad": 5,
             "window_s": 120.0, "category": "auth.key_invalid", "hint": "…", "check_first": "…" | null,
             "example_request_ids": ["req_…"], "first_seen", "last_seen", "fired_at", "resolved_at"}

`value`, `events`, `bad`, `category` and the examples are the latest evidence (the last
evaluation that found the rule breached); `current_value` is the latest value, whatever it was.
Times are UTC ISO 8601. A subject is a deployment label, a tenant or group, or the gateway: never
a key or a secret.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable

from seawall.config.alerts import AlertSettings
from seawall.decide.alerts import (BROKEN_STREAM_ENDS, RULES, AlertChange, AlertState, Limits, Windows, evaluate,
                                   upstream_kind)
from seawall.errors import CHECK_FIRST
from seawall.observe.incident import Incident, stop
from seawall.observe.webhooks import Notifier
from seawall.providers.transport import Transport
from seawall.pipeline.context import RequestContext

log = logging.getLogger("seawall.alerts")
_SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}


class AlertMonitor:
    """One per gateway. `circuits()` names the deployments whose circuit is not closed;
    `dropped()` is the request log's running count of dropped rows; `out_of_rotation()` the
    deployments the gateway took out of rotation, with the refusal's category and request."""

    def __init__(self, settings: AlertSettings, circuits: Callable[[], Iterable[str]], dropped: Callable[[], int],
                 out_of_rotation: Callable[[], dict[str, tuple[str | None, str | None]]] = dict,
                 transport: Transport | None = None):
        self.settings = settings
        self.limits = {name: Limits(**getattr(settings.rules, name).model_dump()) for name in RULES}
        keep = max((lim.window_s for lim in self.limits.values() if lim.enabled), default=settings.bucket_s)
        self.keep_s = keep
        self.windows = Windows(settings.bucket_s, keep)
        self.states: dict[tuple[str, str], AlertState] = {}
        self.recent: deque[dict] = deque(maxlen=settings.history)
        self.notifier = Notifier(settings.webhooks, settings.queue_size, transport)
        self.evaluated_at: float | None = None
        self._circuits, self._dropped, self._out = circuits, dropped, out_of_rotation
        self._dropped_seen = 0
        self._task: asyncio.Task | None = None
        self._incident = Incident(log, "alerts")
        self.shared = None  # cluster/alerts.py SharedAlerts, when gateways share a Redis

    # -- the record stage's part: per request, keep it tiny --------------------------------------
    def observe(self, ctx: RequestContext) -> None:
        now = time.time()
        add = self.windows.add
        rid = ctx.request_id
        if ctx.status >= 500:
            add(now, "gateway", "gateway", "5xx", rid, ctx.category)
        else:
            add(now, "gateway", "gateway")
        for a in ctx.attempts:
            add(now, "upstream", a.deployment, upstream_kind(a.category), rid, a.category)
        if ctx.streamed and ctx.deployment is not None:
            broken = ctx.stream_end in BROKEN_STREAM_ENDS
            add(now, "stream", ctx.deployment, "broken" if broken else None, rid, ctx.category)
        if ctx.error_code == "insufficient_quota" and not ctx.attempts:  # refused at admission, not by a provider
            add(now, "quota", quota_subject(ctx), "exhausted", rid, ctx.category)

    # -- the timer's part ------------------------------------------------------------------------
    def tick(self, now: float) -> list[AlertChange]:
        self.sample(now)
        return self.evaluate(self.windows, now)

    def sample(self, now: float) -> None:
        """What only the timer sees (the request log's drops) into this gateway's windows."""
        dropped = self._dropped()
        if dropped > self._dropped_seen:
            delta = dropped - self._dropped_seen
            self.windows.add(now, "request_log", "request_log", "dropped", events=delta, bad=delta)
        self._dropped_seen = dropped

    def evaluate(self, windows: Windows, now: float) -> list[AlertChange]:
        """The rules over `windows` (this gateway's, or every gateway's: cluster/alerts.py), announced."""
        gauges: dict = {("circuit", label): 1.0 for label in self._circuits()}
        gauges.update({("health", label): (1.0, category, request_id)
                       for label, (category, request_id) in self._out().items()})
        self.states, changes = evaluate(self.states, windows, gauges, self.limits, now)
        self.evaluated_at = now
        for change in changes:
            self._announce(change)
        return changes

    def _announce(self, change: AlertChange) -> None:
        alert = self.describe(change.rule, change.subject, change.state)
        self.recent.appendleft({"change": change.change, "at": _iso(change.at), **alert})
        if change.change == "fired":
            log.warning("alert firing: %s [%s] %s — %s (value %g, threshold %g, %s); check first: %s; requests: %s",
                        change.rule, alert["severity"], change.subject, alert["summary"], alert["value"],
                        alert["threshold"], alert["category"], alert["hint"],
                        ", ".join(alert["example_request_ids"]) or "-")
        else:
            log.info("alert resolved: %s %s — now %g (threshold %g), firing since %s", change.rule, change.subject,
                     alert["current_value"], alert["threshold"], alert["fired_at"])
        self.notifier.send(change.change, alert)

    def start(self) -> None:
        self._dropped_seen = self._dropped()
        self.notifier.start()
        # With other gateways on a Redis, one of them evaluates for all (cluster/alerts.py)
        self._task = asyncio.create_task(self._run() if self.shared is None else self.shared.run(), name="alerts")

    async def stop(self) -> None:
        await stop(self._task)
        await self.notifier.stop()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.interval_s)
            try:
                self.tick(time.time())
            except Exception:  # noqa: BLE001 - alerting must never take the gateway down
                self._incident.failed("evaluating the rules failed")
            else:
                self._incident.succeeded()

    # -- reading ---------------------------------------------------------------------------------
    def describe(self, name: str, subject: str, state: AlertState) -> dict:
        rule, limits, r = RULES[name], self.limits[name], state.last
        shown = f"{r.value:.0%}" if rule.measure == "ratio" else f"{r.value:g}"
        summary = rule.summary.format(subject=subject, value=shown, threshold=limits.threshold, bad=r.bad,
                                      events=r.events, window=f"{limits.window_s:g} s")
        return {"rule": name, "severity": limits.severity, "state": "firing" if state.firing else "resolved",
                "subject": subject, "subject_kind": rule.subject_kind, "summary": summary,
                "value": round(r.value, 4), "current_value": round(state.current or 0.0, 4),
                "threshold": limits.threshold, "measure": rule.measure,
                "events": r.events, "bad": r.bad, "window_s": limits.window_s, "category": r.category,
                "hint": rule.hint, "check_first": CHECK_FIRST.get(r.category),
                "example_request_ids": list(r.examples), "first_seen": _iso(state.first_seen),
                "last_seen": _iso(state.last_seen), "fired_at": _iso(state.fired_at),
                "resolved_at": None if state.firing else _iso(state.resolved_at)}

    def view(self) -> dict:
        if self.shared is not None:  # the evaluating gateway's view, the same on every gateway
            return self.shared.view() or self.local_view()
        return self.local_view()

    def local_view(self) -> dict:
        active = [self.describe(name, subject, s) for (name, subject), s in self.states.items() if s.firing]
        active.sort(key=lambda a: (_SEVERITY_ORDER[a["severity"]], a["rule"], a["subject"]))
        rules = {name: {"source": RULES[name].source, "measure": RULES[name].measure,
                        **getattr(self.settings.rules, name).model_dump()} for name in RULES}
        return {"object": "alerts", "enabled": True, "evaluated_at": _iso(self.evaluated_at), "active": active,
                "recent": list(self.recent), "rules": rules, "webhooks": self.notifier.stats()}


def disabled_view() -> dict:
    return {"object": "alerts", "enabled": False, "evaluated_at": None, "active": [], "recent": [], "rules": {},
            "webhooks": {"configured": 0, "sent": 0, "failed": 0, "dropped": 0, "queued": 0}}


def quota_subject(ctx: RequestContext) -> str:
    """Whose quota: the key's tenant, else its group (a key's own name is not an alert subject)."""
    p = ctx.principal
    if p is not None and p.tenant:
        return f"tenant {p.tenant}"
    if p is not None and p.group:
        return f"group {p.group}"
    return "keys without tenant or group"


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
