"""Alerts evaluated once for all the gateways on a Redis, not once per gateway: one of them (the
holder of a lease, lease.py) evaluates the rules over every gateway's counts and sends the
webhooks; the others only count their own requests, as they always did, and show its view.

    every gateway, each beat (1 s): request-log drops sampled; its windows' last two buckets
        written as one field of `seawall:cl:alerts:w:<slot>` (field: the gateway's id; written
        whole, so a retry never counts twice); the lease renewed or asked for
    the holder, each alerts.interval_s: every gateway's buckets of the longest window read and
        summed (decide/alerts.py Windows.combined), the rules evaluated, changes logged and sent
        to webhooks, and its view and rule states written to `seawall:cl:alerts:view`
    the others: that view is what their GET /admin/alerts answers

The per-request work is unchanged (a few dict updates in this gateway's windows); Redis is only
touched by the beat. A new holder (the last one stopped or died: the lease lapses within
LEASE_S) starts from the states the last one wrote, so an alert already announced is not
announced again; a Redis that lost its data gets the lease and the states back from the evaluator
within a circuits poll (republish). With Redis down, each gateway evaluates its own counts, as one
alone would.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import asdict

import orjson

from seawall.cluster.lease import Lease
from seawall.cluster.link import Link
from seawall.decide.alerts import AlertState, Reading, Tally, Windows
from seawall.observe.alerts import AlertMonitor
from seawall.observe.incident import Incident

log = logging.getLogger("seawall.alerts")

LEASE_S = 3.0  # a dead evaluator is replaced within this (plus one beat)
BEAT_S = 1.0
_SEP = "\x1f"


# -- pure: what travels ---------------------------------------------------------------------------
def tallies_out(tallies: dict[tuple[str, str], Tally]) -> bytes:
    return orjson.dumps({f"{source}{_SEP}{subject}": [t.events, t.bad, t.examples]
                         for (source, subject), t in tallies.items()})


def tallies_in(raw: bytes) -> dict[tuple[str, str], Tally]:
    out: dict[tuple[str, str], Tally] = {}
    for name, (events, bad, examples) in orjson.loads(raw).items():
        source, _, subject = name.partition(_SEP)
        out[(source, subject)] = Tally(events, bad, {k: [tuple(e) for e in v] for k, v in examples.items()})
    return out


def states_out(states: dict[tuple[str, str], AlertState]) -> list:
    return [[rule, subject, asdict(s)] for (rule, subject), s in states.items()]


def states_in(rows: list) -> dict[tuple[str, str], AlertState]:
    out = {}
    for rule, subject, d in rows:
        last = d.pop("last")
        out[(rule, subject)] = AlertState(**d, last=Reading(**{**last, "examples": tuple(last["examples"])})
                                          if last else None)
    return out


class SharedAlerts:
    """One per gateway process with a Redis, beside its AlertMonitor (which it drives)."""

    def __init__(self, link: Link, monitor: AlertMonitor):
        self.link, self.monitor = link, monitor
        self.lease = Lease(link, "alerts", LEASE_S)
        self.leading = False
        self._view_key = link.key("alerts", "view")
        self._shown: dict | None = None
        self._evaluated_at = 0.0
        self._incident = Incident(log, "shared alerts")
        monitor.shared = self

    def view(self) -> dict | None:
        """The evaluating gateway's view (None: this one evaluates, or none has yet)."""
        return None if self.leading else self._shown

    async def run(self) -> None:
        while True:
            await asyncio.sleep(min(BEAT_S, self.monitor.settings.interval_s))
            try:
                await self.beat(time.time())
            except Exception:  # noqa: BLE001 - alerting must never take the gateway down
                self._incident.failed("a beat failed")
            else:
                self._incident.succeeded()

    async def beat(self, now: float) -> None:
        m = self.monitor
        m.sample(now)
        await self._publish(now)
        held = await self.lease.renew()
        due = now - self._evaluated_at >= m.settings.interval_s
        if held is None:  # Redis is not answering: on its own, as a gateway alone
            self.leading = True
            if due:
                self._evaluated_at = now
                m.evaluate(m.windows, now)
            return
        if not held:
            self.leading = False
            found = await self.link.call("reading the alerts", self.link.redis.get(self._view_key))
            if found:
                self._shown = orjson.loads(found)["view"]
            return
        if not self.leading:
            await self._take_over()
        if due:
            windows = await self._gathered(now)
            if windows is not None:
                self._evaluated_at = now
                m.evaluate(windows, now)
                await self._write_states()

    async def republish(self) -> None:
        """Redis lost its data (its lease and the states with it): the evaluator takes its lease
        back at once and writes its states again, before another gateway's beat could take over
        with none and announce a firing alert anew."""
        if self.leading and self.monitor.evaluated_at is not None and await self.lease.renew():
            await self._write_states()

    async def _write_states(self) -> None:
        m = self.monitor
        shared = {"view": m.local_view(), "states": states_out(m.states)}
        await self.link.call("writing the alerts", self.link.redis.set(self._view_key, orjson.dumps(shared),
                                                                      px=86_400_000))

    async def _take_over(self) -> None:
        """This gateway evaluates from now on, from where the last evaluator left off."""
        self.leading = True
        found = await self.link.call("reading the alerts", self.link.redis.get(self._view_key))
        if found:
            shared = orjson.loads(found)
            self.monitor.states = states_in(shared["states"])
            self.monitor.recent = deque(shared["view"]["recent"], maxlen=self.monitor.settings.history)
        log.info("alerts: this gateway evaluates the rules for every gateway on %s", self.link.where)

    def _slot_key(self, slot: int) -> str:
        return self.link.key("alerts", "w", str(slot))

    async def _publish(self, now: float) -> None:
        """This gateway's last two buckets (the one before may have changed since the last beat)."""
        w = self.monitor.windows
        recent = w.since(int(now // w.bucket_s) - 1)
        if not recent:
            return
        keep_ms = int((self.monitor.keep_s + 2 * w.bucket_s) * 1000)
        pipe = self.link.redis.pipeline(transaction=False)
        for slot, tallies in recent:
            if tallies:
                pipe.hset(self._slot_key(slot), self.link.gateway_id, tallies_out(tallies))
                pipe.pexpire(self._slot_key(slot), keep_ms)
        if len(pipe):
            await self.link.call("sharing alert counts", pipe.execute())

    async def _gathered(self, now: float) -> Windows | None:
        """Every gateway's buckets of the longest window, summed; None if Redis failed."""
        w = self.monitor.windows
        last = int(now // w.bucket_s)
        slots = range(last - int(self.monitor.keep_s / w.bucket_s), last + 1)
        pipe = self.link.redis.pipeline(transaction=False)
        for slot in slots:
            pipe.hgetall(self._slot_key(slot))
        found = await self.link.call("reading alert counts", pipe.execute())
        if found is None:
            return None
        parts = [(slot, tallies_in(raw)) for slot, by_gateway in zip(slots, found) for raw in by_gateway.values()]
        return Windows.combined(w.bucket_s, self.monitor.keep_s, parts)
