"""The Redis limiter: the in-process limiter's semantics (limits/memory.py), shared by every
gateway process that points at one Redis, so N processes enforce one global limit.

- One admission is one Lua script (admit.lua), so one round trip, atomic on the server: every
  applicable check (key and group; requests, tokens, concurrency) is made first, and only an
  admission that passes them all spends anything. The arithmetic is decide/gcra.py's, and the
  reply is judged by memory.py's own rules (the most restrictive window, the worst refusal).
- Time is Redis's (TIME inside the script): processes whose clocks disagree share one clock.
- Concurrency slots are leases, not counters: a slot is a member of a sorted set scored by its
  expiry (limits.lease_s, 30 s, ahead). A live process renews its leases every lease_s / 3 (one script call for
  all of them); a process that crashes stops renewing, so its slots free themselves within
  lease_s instead of leaking forever. A release is a ZREM of the admission's own lease.
- Failure policy (limits.on_redis_error): when Redis errs or is slower than limits.redis_timeout_ms,
  "open" counts in this process against this gateway's share of each limit (limits/share.py: the
  limit over the number of gateways, learned from their presence in Redis), "closed" refuses
  (LimiterUnavailable, a 503 with Retry-After). During an outage requests don't call Redis at all
  (they answer by the policy at once) while one probe at a time tries again after a doubling
  backoff (see Outage). Each incident is logged once when it starts and once when it ends, and
  counted (`stats`).
- The timeout is Redis's time, not the event loop's (limits/redis_timing.py): a loop busy with
  a burst no longer makes a healthy Redis look down.
- Presence: every gateway keeps its id in `<prefix>gateways` (a sorted set scored by expiry,
  renewed every lease_s / 3); their number is what each gateway's share divides by.

Keys: `<prefix>key:<id>:requests:<rpm>`, `…:rps:<rps>` and `…:tokens:<tpm>` (hashes {l: level,
t: time}, gone once drained), `<prefix>key:<id>:slots` (the leases); `group:<name>:…` and
`tenant:<name>:…` alike; prefix `seawall:rl:`. The script takes each check's period, so rps
(1 s) and rpm (60 s) buckets are the same code. Standalone Redis (or a
proxy in front of one); a Redis Cluster would need the keys of one admission in one hash slot.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
import uuid
from collections.abc import Callable
from importlib import resources
from typing import NamedTuple

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from seawall.config import LimitSettings, redact_url
from seawall.decide.gcra import Decision, Rate
from seawall.limits.base import (
    Admitted,
    LimiterUnavailable,
    Refused,
    RemoteLimiter,
    ScopeLimits,
)
from seawall.limits.memory import CONCURRENCY_RETRY_NS, _windows, _worse
from seawall.limits.redis_timing import LoopLag, redis_deadline
from seawall.limits.share import LOCAL, LocalShare

log = logging.getLogger("seawall.limits")

PREFIX = "seawall:rl:"
# Reconnect backoff: the first probe 100 ms after a failure, doubling to at most 5 s, so an
# outage costs Redis one attempt per process per 5 s, and a blip is over within a fraction of a second.
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.1, 5.0
# Connections opened at start, so a burst's admissions are one round trip each instead of a new
# connection's handshake (three round trips, with every other new connection's) first: with 8, two
# gateways on a loaded 2-core VM sometimes took over 50 ms of Redis's time in a burst of 80 and
# failed over; with 64, 0 of 10 runs did. Idle, they cost Redis a few KiB each.
WARM_CONNECTIONS = 64
_US_NS = 1000
_FAILURES = (RedisError, OSError, TimeoutError)  # asyncio.TimeoutError is TimeoutError since 3.11


def probe_delay(failures: int) -> float:
    """Seconds from a failure to the next probe of Redis, after `failures` in a row (>= 1)."""
    return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (failures - 1))


CALL, PROBE, SKIP = "call", "probe", "skip"


class Outage:
    """Redis's health as one process sees it: a small state machine, its clock an argument.

    Healthy: every admission calls Redis. Down: admissions SKIP Redis (answering by the policy
    at once) except one PROBE at a time, after probe_delay; a probe that succeeds ends the incident.
    """

    def __init__(self) -> None:
        self.down_since: float | None = None
        self.failures = 0
        self.probe_at = 0.0
        self.probing = False

    def begin(self, now: float) -> str:
        if self.down_since is None:
            return CALL
        if self.probing or now < self.probe_at:
            return SKIP
        self.probing = True
        return PROBE

    def failed(self, mode: str, now: float) -> bool:
        """A call or probe failed; True when this starts an incident (log it once)."""
        if mode == PROBE:
            self.probing = False
            self.failures += 1
            self.probe_at = now + probe_delay(self.failures)
            return False
        if self.down_since is not None:  # a call already in flight when the incident began
            return False
        self.down_since, self.failures, self.probe_at = now, 1, now + probe_delay(1)
        return True

    def succeeded(self, mode: str, now: float) -> float | None:
        """A call or probe answered; the outage's length when this ends one."""
        if mode != PROBE or self.down_since is None:
            return None
        lasted = now - self.down_since
        self.down_since, self.failures, self.probing = None, 0, False
        return lasted

    def abandoned(self, mode: str) -> None:
        """A probe was cancelled (its client left): let another request probe."""
        if mode == PROBE:
            self.probing = False

    def retry_after_s(self, now: float) -> int:
        """What a refused client is told: until the next probe, in whole seconds, at least 1."""
        return max(1, math.ceil(self.probe_at - now))


class _Plan(NamedTuple):
    """A scopes tuple's script arguments, built once per distinct limits (cached) and encoded
    already: encoding arguments is the largest share of redis-py's cost per call (profiled)."""

    checks: tuple[tuple[str, ScopeLimits, Rate | int], ...]  # (requests | tokens, scope, rate) | (concurrency, scope, limit)
    keys: list[bytes]
    argv: tuple[bytes | None, ...]  # per check: limit, period_us (0 = concurrency), cost (None: the tokens)
    slot_keys: tuple[bytes, ...]
    token_keys: tuple[bytes, ...]
    token_rates: tuple[tuple[bytes, bytes], ...]  # (limit, period_us) of each token bucket


def _script(name: str) -> str:
    return resources.files("seawall.limits").joinpath(name).read_text(encoding="utf-8")


def _with(name: str, part: str, function: str) -> str:
    """Script `name` with script `part` prefixed as a local function of (KEYS, ARGV), so one call
    can do both (admit.lua and finish.lua fold a quota's hold and settlement in)."""
    return f"local function {function}(KEYS, ARGV)\n{_script(part)}\nend\n{_script(name)}"


class RedisLimiter(RemoteLimiter):
    """One per process, shared by its requests. `clock_us` replaces Redis's TIME: tests only."""

    def __init__(self, settings: LimitSettings, prefix: str = PREFIX, lease_s: float | None = None,
                 clock_us: Callable[[], int] | None = None) -> None:
        if not settings.redis_url:
            raise ValueError("RedisLimiter needs limits.redis_url")
        self._settings = settings
        self.fail_open = not any(settings.fails_closed(scope) for scope in ("key", "group", "tenant"))
        self.where = redact_url(settings.redis_url)
        self._timeout_s = settings.redis_timeout_ms / 1000
        # redis_deadline judges the timeout and caps it at _cap_s. No socket_timeout in redis-py:
        # every call here is under redis_deadline or asyncio.timeout already, and with one redis-py
        # wraps each command's write in asyncio.wait_for, a task per call (~25 us of CPU a script
        # call, measured: 97 against 125 us an admission).
        self._cap_s = max(1.0, 20 * self._timeout_s)
        # No retries inside redis-py: one attempt within the timeout; reconnecting is the Outage's job.
        self._client = aioredis.Redis.from_url(settings.redis_url, socket_timeout=None,
                                               socket_connect_timeout=self._cap_s,
                                               retry=Retry(NoBackoff(), 0), health_check_interval=0)
        self._admit = self._client.register_script(_with("admit.lua", "quota_hold.lua", "quota_hold"))
        self._finish = self._client.register_script(_with("finish.lua", "quota_settle.lua", "quota_settle"))
        self._renew = self._client.register_script(_script("heartbeat.lua"))
        lease_s = settings.lease_s if lease_s is None else lease_s
        self._prefix, self._lease_s, self._lease_us = prefix, lease_s, str(int(lease_s * 1_000_000)).encode()
        self._clock_us = clock_us
        self._plans: dict[tuple[ScopeLimits, ...], _Plan] = {}
        self._id = uuid.uuid4().hex[:12]  # this process's leases: <id>:<n>
        self._serial = itertools.count()
        self._held: dict[str, tuple[bytes, ...]] = {}  # lease -> the slot keys it holds
        self._heartbeat: asyncio.Task | None = None
        self._presence: asyncio.Task | None = None
        self._lag = LoopLag()  # started with the first admission: it needs the running loop
        self.local = LocalShare(settings.instances or 1)  # while Redis is down and the policy is open
        self.outage = Outage()
        self.counts = {"redis_errors": 0, "incidents": 0, "admitted_locally": 0, "refused_locally": 0,
                       "refused_unavailable": 0}

    # -- the limiter ------------------------------------------------------------------------------
    async def admit(self, scopes: tuple[ScopeLimits, ...], tokens: int) -> Admitted | Refused:
        return (await self.admit_holding(scopes, tokens))[0]

    async def admit_holding(self, scopes: tuple[ScopeLimits, ...], tokens: int, hold_keys: tuple = (),
                            hold_args: tuple = ()) -> tuple[Admitted | Refused, list | None]:
        """admit, with a quota hold (limits/quota_redis.py: quota_hold.lua's keys and arguments
        but now_us) decided in the same script call: tried only when every limit admits, and the
        limits spend only when it is taken. Returns the outcome and the hold's reply; the reply
        is None when the hold was not tried (a limit refused, or Redis can't answer now). A hold
        refused leaves the outcome Admitted with no lease: nothing was spent."""
        plan = self._plan(scopes)
        now = time.monotonic()
        mode = self.outage.begin(now)
        if mode == SKIP:
            return self._unavailable(now, scopes, tokens), None
        lease = f"{self._id}:{next(self._serial)}"
        cost = str(tokens).encode()
        args = [self._now_arg(), lease, self._lease_us, *(cost if a is None else a for a in plan.argv), *hold_args]
        reply = await self._call(mode, self._admit, [*plan.keys, *hold_keys] if hold_keys else plan.keys, args)
        if reply is None:
            return self._unavailable(time.monotonic(), scopes, tokens), None
        checked = 1 + 4 * len(plan.checks)
        held = reply[checked:] if len(reply) > checked else None
        if held is not None and not held[0]:  # the limits admit, the quota doesn't: nothing spent
            reply[0] = 1
            lease = None
        outcome = _judge(plan, reply, lease)
        if lease is not None and plan.slot_keys and isinstance(outcome, Admitted):
            self._held[lease] = plan.slot_keys
            if self._heartbeat is None or self._heartbeat.done():
                self._heartbeat = asyncio.create_task(self._renew_leases(), name="redis-limiter-leases")
        return outcome, held

    def fails_closed(self, scope: str) -> bool:
        """Does limits.on_redis_error refuse `scope`'s requests while Redis is down?"""
        return self._settings.fails_closed(scope)

    @property
    def client(self) -> aioredis.Redis:
        return self._client

    @property
    def lease_s(self) -> float:
        return self._lease_s

    def script(self, name: str) -> AsyncScript:
        """One of this package's Lua scripts, on this limiter's connections (limits/quota_redis.py)."""
        return self._client.register_script(_script(name))

    async def run(self, script: AsyncScript, keys: list, args: list) -> list | None:
        """One script call for another shared count (quotas, deployment gates), under this
        limiter's timeout and outage state, so one Redis incident is one for them all: None when
        Redis can't answer now (down, slower than the timeout, or skipped during an outage)."""
        mode = self.outage.begin(time.monotonic())
        return None if mode == SKIP else await self._call(mode, script, keys, args)

    async def _call(self, mode: str, script: AsyncScript, keys: list, args: list) -> list | None:
        self._lag.start()
        try:
            async with redis_deadline(self._timeout_s, self._cap_s, self._lag):
                reply = await script(keys=keys, args=args)
        except _FAILURES as e:
            self._failed(mode, e)
            return None
        except BaseException:
            self.outage.abandoned(mode)
            raise
        self._succeeded(mode)
        return reply

    async def finish(self, scopes: tuple[ScopeLimits, ...], lease: str | None, token_delta: int,
                     settle_keys: tuple = (), settle_args: tuple = ()) -> list | None:
        """Give back the admission's slots and settle its token buckets, with a quota settlement
        (quota_settle.lua's keys and arguments) in the same script call when given: then its
        reply, or None when Redis could not take it (down, slow, or an outage on)."""
        slot_keys, buckets, delta = (), (), b"0"
        if lease == LOCAL:  # counted here while Redis was down: given back here
            self.local.finish(scopes, token_delta)
        elif lease is not None:
            plan = self._plan(scopes)
            slot_keys = self._held.pop(lease, ())
            if token_delta:
                buckets, delta = plan.token_keys, str(token_delta).encode()
        if not (slot_keys or buckets or settle_keys) or self.outage.down_since is not None:
            return None  # during an outage, leases expire on their own and the estimate stands
        args: list = [self._now_arg(), lease if slot_keys else b"", len(slot_keys)]
        for limit, period in plan.token_rates if buckets else ():
            args += (limit, period, delta)
        try:
            async with redis_deadline(self._timeout_s, self._cap_s, self._lag):
                return await self._finish(keys=[*slot_keys, *buckets, *settle_keys], args=[*args, *settle_args])
        except _FAILURES as e:
            self._failed(CALL, e)
            return None

    async def ping(self) -> bool:
        """At start: does Redis answer within a second? When it does, the scripts are loaded
        (the first admissions then need no NOSCRIPT round trip) and a few connections opened;
        when not, the outage starts here (and is logged once, here)."""
        try:
            async with asyncio.timeout(max(self._timeout_s, 1.0)):
                for script in (self._admit, self._finish, self._renew):
                    await self._client.script_load(script.script)
        except _FAILURES as e:
            self._failed(CALL, e)
            return False
        try:  # open a few connections now, so a first burst doesn't spend its timeout connecting
            async with asyncio.timeout(1.0):
                await asyncio.gather(*(self._client.ping() for _ in range(WARM_CONNECTIONS)))
        except _FAILURES:
            pass  # a connection opened later instead
        self._presence = asyncio.create_task(self._be_present(), name="redis-limiter-presence")
        return True

    async def close(self) -> None:
        self._lag.stop()
        for task in (self._heartbeat, self._presence):
            if task is not None:
                task.cancel()
        if self._presence is not None:
            try:  # leave at once, so the others' shares grow now rather than in lease_s
                async with asyncio.timeout(0.5):
                    await self._client.zrem(self._prefix + "gateways", self._id)
            except _FAILURES:
                pass
        await self._client.aclose()

    async def _be_present(self) -> None:
        """Keep this gateway's id in the presence set and learn how many gateways share the
        limits (unless limits.instances says), every lease_s / 3."""
        key = self._prefix + "gateways"
        while True:
            now_ms = int(time.time() * 1000)
            try:
                async with asyncio.timeout(max(self._timeout_s, 1.0)):  # off the request path
                    async with self._client.pipeline(transaction=False) as pipe:
                        pipe.zadd(key, {self._id: now_ms + int(self._lease_s * 1000)})
                        pipe.zremrangebyscore(key, "-inf", now_ms)
                        pipe.pexpire(key, int(self._lease_s * 2000))
                        pipe.zcard(key)
                        *_, present = await pipe.execute()
                if self._settings.instances is None:
                    self.local.instances = max(1, int(present))
            except _FAILURES:
                pass  # the last count stands; admissions report the outage
            await asyncio.sleep(self._lease_s / 3)

    def stats(self) -> dict[str, object]:
        return {"backend": "redis", "url": self.where, "healthy": self.outage.down_since is None,
                "leases_held": len(self._held), "instances": self.local.instances, **self.counts}

    # -- internals --------------------------------------------------------------------------------
    def _now_arg(self) -> bytes:
        return b"" if self._clock_us is None else str(self._clock_us()).encode()

    def _plan(self, scopes: tuple[ScopeLimits, ...]) -> _Plan:
        plan = self._plans.get(scopes)
        if plan is None:
            if len(self._plans) > 10_000:  # limits changed many times over: start the cache again
                self._plans.clear()
            plan = self._plans[scopes] = _build_plan(scopes, self._prefix)
        return plan

    def _unavailable(self, now: float, scopes: tuple[ScopeLimits, ...], tokens: int) -> Admitted | Refused:
        """Redis can't decide: count here against this gateway's share, unless a limit of a scope
        set to fail closed applies."""
        if self.fail_open or not any(self._settings.fails_closed(s.scope) for s in scopes):
            outcome = self.local.admit(scopes, tokens)
            self.counts["admitted_locally" if isinstance(outcome, Admitted) else "refused_locally"] += 1
            return outcome
        self.counts["refused_unavailable"] += 1
        raise LimiterUnavailable(self.outage.retry_after_s(now))

    def _failed(self, mode: str, e: BaseException) -> None:
        self.counts["redis_errors"] += 1
        if self.outage.failed(mode, time.monotonic()):
            self.counts["incidents"] += 1
            policy = (f"counting limited requests in this gateway against its share (1/{self.local.instances}) "
                      "of each limit") if self.fail_open else \
                "refusing requests under fail-closed limits with 503 limits_unavailable"
            log.warning("rate limits: Redis at %s is not answering (%s); %s until it does "
                        "(limits.on_redis_error: %s); retrying with backoff", self.where, _describe(e), policy,
                        self._settings.on_redis_error)

    def _succeeded(self, mode: str) -> None:
        lasted = self.outage.succeeded(mode, time.monotonic())
        if lasted is not None:
            log.warning("rate limits: Redis at %s answers again after %.1f s; counting resumes there "
                        "(so far %d requests admitted and %d refused on this gateway's share, %d refused "
                        "as unavailable)", self.where, lasted, self.counts["admitted_locally"],
                        self.counts["refused_locally"], self.counts["refused_unavailable"])

    async def _renew_leases(self) -> None:
        """Renew every lease this process holds, every third of lease_s, in one call; stops once
        a renewal finds none held (admit restarts it): not at once, or one request at a time
        would start a task per request."""
        while True:
            await asyncio.sleep(self._lease_s / 3)
            if not self._held:
                return
            if self.outage.down_since is not None:
                continue
            keys, args = [], [self._lease_us]
            for lease, slot_keys in list(self._held.items()):
                keys += slot_keys
                args += [lease] * len(slot_keys)
            try:
                async with asyncio.timeout(max(self._timeout_s, 1.0)):  # off the request path
                    await self._renew(keys=keys, args=args)
            except _FAILURES as e:
                self._failed(CALL, e)




def _build_plan(scopes: tuple[ScopeLimits, ...], prefix: str) -> _Plan:
    checks, keys, argv = [], [], []
    token_keys, token_rates = [], []
    for s in scopes:  # the order of memory.py: rates first, then concurrency
        for kind, rate, bucket in (("requests", s.rpm, s.rpm_bucket), ("requests", s.rps, s.rps_bucket),
                                   ("tokens", s.tpm, s.tpm_bucket)):
            if rate is not None:
                key = (prefix + ":".join(map(str, bucket))).encode()
                limit, period_us = str(rate.limit).encode(), str(rate.period_ns // _US_NS).encode()
                checks.append((kind, s, rate))
                keys.append(key)
                argv += (limit, period_us, b"1" if kind == "requests" else None)
                if kind == "tokens":
                    token_keys.append(key)
                    token_rates.append((limit, period_us))
    slot_keys = []
    for s in scopes:
        if s.max_concurrency is not None:
            key = (prefix + ":".join(map(str, s.slot)) + ":slots").encode()
            checks.append(("concurrency", s, s.max_concurrency))
            keys.append(key)
            argv += (str(s.max_concurrency).encode(), b"0", b"0")
            slot_keys.append(key)
    return _Plan(tuple(checks), keys, tuple(argv), tuple(slot_keys), tuple(token_keys), tuple(token_rates))


def _judge(plan: _Plan, reply: list, lease: str) -> Admitted | Refused:
    """The script's per-check answers, read by memory.py's rules: headers from the most
    restrictive scope; the refusal that waiting can't cure first, else the longest wait."""
    rated, refusals = [], []
    for i, (kind, scope, rate) in enumerate(plan.checks):
        allowed, wait_us, remaining, reset_us = reply[1 + 4 * i: 5 + 4 * i]
        if kind == "concurrency":
            if not allowed:
                refusals.append(("concurrency", scope, rate, CONCURRENCY_RETRY_NS, 0))
            continue
        d = Decision(bool(allowed), 0, -1 if wait_us < 0 else wait_us * _US_NS, remaining, reset_us * _US_NS)
        rated.append((kind, scope, None, rate, d))
        if not allowed:
            refusals.append(("too_large" if wait_us < 0 else kind, scope, rate.limit, d.retry_after_ns, rate.period_ns))
    requests, tokens = _windows(rated)
    if reply[0]:
        return Admitted(requests, tokens, lease)
    refusal = None
    for kind, scope, limit, wait_ns, period_ns in refusals:
        refusal = _worse(refusal, Refused(kind, scope, limit, wait_ns, requests, tokens, period_ns))
    return refusal


def _describe(e: BaseException) -> str:
    text = str(e) or "no answer"
    return f"{type(e).__name__}: {text[:200]}"
