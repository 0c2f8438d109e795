"""Circuits and rotation, one for all the gateways on a Redis: a circuit opened by one is open in
the others within a poll (POLL_S), a deployment taken out of rotation (by a refusal or by an
operator's `seawall deployments disable`) is out everywhere, and a probe that brings one back
brings it back everywhere.

    a gateway's change ──(queued; the writer wakes)──▶ HSET seawall:cl:circuits  b:<label> | h:<label>
                                                      INCR seawall:cl:circuits:v   (one script)
    every POLL_S: GET …:v ──(moved?)──▶ HGETALL …circuits ──▶ adopt what others wrote since

A Redis that lost its data (restarted empty, flushed) is told by its epoch: a random id the first
gateway to find none writes, read with the version. When it changes, every gateway writes again
what it holds (deployments out of rotation, disabled by hand included, and circuits not closed):
a gateway started after the loss then learns them, though the one that made the change may have
gone.

Requests never wait on Redis for this: they read the local breakers and rotation as before; only
changes of state are written (a circuit opening or closing, not each failure), by a background
task. Failures in a row are counted by each gateway (one opening is enough for all).

One probe at a time: a half-open circuit is probed by whichever gateway takes a short lock first
(SET NX PX, for the cooldown), and a deployment out of rotation by the holder of a lease of its
own (lease.py: whoever probed it last keeps it while probing, and for probe_s after); the others
wait for the outcome, which reaches them like any change. The circuit's claim is the one Redis
call a request can make here, once per cooldown per gateway, and only for the request that would
be the probe.

Times cross processes (and machines) as wall-clock seconds: breakers run on the monotonic clock,
which means nothing in another process, so an open circuit travels as "open until <wall time>".
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import orjson

from seawall.cluster.lease import Lease
from seawall.cluster.link import Link
from seawall.decide.breaker import CLOSED, Breaker
from seawall.decide.health import Health
from seawall.observe.incident import stop
from seawall.pipeline.attempt import Retrier
from seawall.pipeline.health import Prober

log = logging.getLogger("seawall.cluster")

POLL_S = 0.25  # how stale another gateway's circuit may be here: well within the second promised
# A rotation probe's lock, while it runs: longer than any probe takes (it is shortened to probe_s
# when the probe is over; a gateway that dies mid-probe holds it at most this long).
PROBE_HELD_S = 60.0
PROBE_SETTLED_S = 5.0  # many polls: every gateway has adopted the outcome before another may probe
_WRITE = """
local v = 0
for i = 2, #ARGV, 2 do
  v = redis.call('INCR', KEYS[2])
  redis.call('HSET', KEYS[1], ARGV[i], v .. '|' .. ARGV[1] .. '|' .. ARGV[i + 1])
end
return v
"""
# The epoch (set here when missing: Redis is new or lost its data) and the version, in one call.
_READ = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
return {epoch, redis.call('GET', KEYS[2])}
"""


# -- pure: states as they travel ------------------------------------------------------------------
def breaker_out(b: Breaker, mono: float, wall: float) -> bytes:
    """A breaker as other processes read it: its monotonic times as wall-clock times."""
    if b.state == "closed":
        return b'{"state":"closed"}'
    return orjson.dumps({"state": b.state, "open_until": b.open_until - mono + wall, "cooldown_s": b.cooldown_s,
                         "probe_at": b.probe_at - mono + wall})


def breaker_in(raw: bytes, mono: float, wall: float) -> Breaker:
    """Another process's breaker, on this process's monotonic clock. Its failure count is its own."""
    d = orjson.loads(raw)
    if d["state"] == "closed":
        return CLOSED
    return Breaker(d["state"], 0, d["open_until"] - wall + mono, d["cooldown_s"], d["probe_at"] - wall + mono)


def health_out(h: Health) -> bytes:
    return orjson.dumps(h)


def health_in(raw: bytes) -> Health:
    return Health(**orjson.loads(raw))


def held(breakers: dict[str, Breaker], out: dict[str, Health], mono: float, wall: float) -> dict[str, bytes]:
    """What a gateway holds that isn't the default, as written to Redis: its circuits not closed and
    its deployments out of rotation (by a refusal or by hand)."""
    states = {"b:" + label: breaker_out(b, mono, wall) for label, b in breakers.items() if b.state != "closed"}
    states.update(("h:" + label, health_out(h)) for label, h in out.items())
    return states


def newer(entries: dict[bytes, bytes], seen: dict[str, int], me: str) -> list[tuple[str, bytes]]:
    """(field, state) written by other gateways since `seen` (updated in place), oldest first."""
    out: list[tuple[int, str, bytes]] = []
    for field, value in entries.items():
        version, writer, state = value.split(b"|", 2)
        name, v = field.decode(), int(version)
        if v <= seen.get(name, 0):
            continue
        seen[name] = v
        if writer.decode() != me:
            out.append((v, name, state))
    return [(name, state) for _, name, state in sorted(out)]


class CircuitBoard:
    """One per gateway process with a Redis: shares its Retrier's breakers and rotation."""

    def __init__(self, link: Link, retrier: Retrier, prober: Prober):
        self.link, self.retrier, self.prober = link, retrier, prober
        self._hash, self._version_key = link.key("circuits"), link.key("circuits", "v")
        self._epoch_key = link.key("circuits", "epoch")
        self._write = link.redis.register_script(_WRITE)
        self._read = link.redis.register_script(_READ)
        self._epoch: bytes | None = None
        self._pending: dict[str, bytes] = {}  # field -> the state to write next
        self._seen: dict[str, int] = {}  # field -> the version adopted (or written) last
        self._version = -1
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._probers: dict[str, Lease] = {}  # deployment out of rotation -> who probes it
        self.on_lost: list[Callable[[], Awaitable[object]]] = []  # more to write again when Redis lost its data
        retrier.share, retrier.claim = self._share_breaker, self._claim_breaker_probe
        retrier.health.share = self._share_health
        prober.claim, prober.settle = self._claim_health_probe, self._settle_health_probe

    # -- this gateway's changes, queued by the request path --------------------------------------
    def _share_breaker(self, label: str, b: Breaker) -> None:
        self._queue("b:" + label, breaker_out(b, time.monotonic(), time.time()))

    def _share_health(self, label: str, h: Health) -> None:
        self._queue("h:" + label, health_out(h))

    def _queue(self, field: str, state: bytes) -> None:
        self._pending[field] = state
        self._wake.set()

    async def _claim_breaker_probe(self, label: str, b: Breaker) -> bool:
        return await self._claim("breaker", label, max(b.cooldown_s, 1.0))

    async def _claim_health_probe(self, label: str) -> bool:
        """Whether this gateway probes it: nobody else is, or this one did last (a lease per
        deployment, so its later probes stay its own while the others learn each outcome)."""
        found = self._probers.get(label)
        if found is None:
            found = self._probers[label] = Lease(self.link, f"probe:{label}", PROBE_HELD_S)
        return await found.renew() is not False  # Redis down: each gateway on its own

    async def _settle_health_probe(self, label: str, wait_s: float) -> None:
        """The probe is over (its outcome queued for the others): they leave it to this gateway for
        wait_s, and at least long enough to have heard the outcome."""
        await self._probers[label].renew(max(wait_s, PROBE_SETTLED_S))

    async def _claim(self, kind: str, label: str, ttl_s: float) -> bool:
        """Whether this gateway is the one to probe; with Redis down, every gateway is on its own."""
        taken = await self.link.call("claiming a probe", self.link.redis.set(
            self.link.key("probe", kind, label), self.link.gateway_id, nx=True, px=int(ttl_s * 1000)))
        return taken is None or bool(taken)

    # -- the background task ---------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="cluster-circuits")

    async def stop(self) -> None:
        await stop(self._task)
        await self.flush()  # a change made while stopping still reaches the others

    def _republish(self) -> None:
        """Redis lost its data: what this gateway holds goes out again (its own changes since win)."""
        states = held(self.retrier.breakers, self.retrier.health.out, time.monotonic(), time.time())
        log.warning("cluster state in Redis at %s was lost (restarted empty or flushed): writing again the %d "
                    "circuits and deployments out of rotation this gateway holds", self.link.where, len(states))
        for field, state in states.items():
            self._pending.setdefault(field, state)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self.flush()
            await self.poll()
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_S)
            except TimeoutError:
                pass
            self._wake.clear()

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        args = [self.link.gateway_id]
        for field, state in batch.items():
            args += [field, state]
        if await self.link.call("sharing a circuit", self._write(keys=[self._hash, self._version_key],
                                                                    args=args)) is None:
            for field, state in batch.items():  # kept for the next try, unless a newer change came meanwhile
                self._pending.setdefault(field, state)

    async def poll(self) -> None:
        read = await self.link.call("reading circuits", self._read(keys=[self._epoch_key, self._version_key],
                                                                   args=[uuid.uuid4().hex]))
        if read is None:
            return
        epoch, version = read[0], int(read[1] or 0)
        if epoch != self._epoch:
            if self._epoch is not None:
                self._republish()
                for write_again in self.on_lost:
                    await write_again()
            self._epoch, self._version = epoch, -1
            self._seen.clear()  # versions start again
        if version == self._version:
            return
        entries = await self.link.call("reading circuits", self.link.redis.hgetall(self._hash))
        if entries is None:
            return
        self._version = version
        mono, wall = time.monotonic(), time.time()
        for field, state in newer(entries, self._seen, self.link.gateway_id):
            kind, _, label = field.partition(":")
            if field in self._pending:
                continue  # this gateway changed it since: its own change goes out next
            if kind == "b":
                self.retrier.breakers[label] = breaker_in(state, mono, wall)
            elif kind == "h":
                self.retrier.health.adopt(label, health_in(state))
