"""The quota ledger's balances kept in Redis (limits.redis_url), so every gateway holds and settles
against one balance per key and N gateways can't together spend past a quota.

- A hold is one script call (quota_hold.lua), a settlement one more (quota_settle.lua): atomic
  on the server, decide/quota.py's rules (a hold must fit in what is neither spent nor held; a
  charge never takes a balance past its limit). The limit travels with each call, as this
  gateway knows it (the key cache: an admin's change reaches Redis with the next request).
  For a key with rate limits too, they ride in the limiter's own calls (admit_and_hold,
  finish_and_settle: admit.lua and finish.lua run them as functions), so a quota adds no round
  trip: the hold is tried only when every limit admits, and the limits spend only when it is
  taken.
- Holds are leases, like the limiter's concurrency slots: members of a sorted set scored by their
  expiry (limits.lease_s), renewed by the live gateway every third of it (quota_renew.lua). A
  gateway killed mid-request stops renewing, and its holds are given back by the next hold on
  the key once they expire.
- A balance absent from Redis (the first request, or a Redis that lost its data) starts from
  what this gateway last knew: the store's total plus its own unwritten charges, or the total it
  last read from Redis.
- The store: each gateway writes the charges it settled (the ledger's increments, every flush
  interval, as without Redis), and reads the shared totals back from Redis, not from the store.
  Each charge is counted once in Redis and once in the store; a kill -9 loses from the store at
  most that gateway's unwritten interval, while Redis, which admission reads, keeps it.
- Redis down (the limiter's outage state, one incident for both): with limits.on_redis_error
  closed for keys, a quota'd request is refused (LimiterUnavailable: 503 limits_unavailable);
  open, this gateway spends from its share of what was left when it last heard from Redis:
  (limit - used - held) / N gateways. Charges made meanwhile are written to the store as usual
  and added to Redis once it answers again.

Keys: `<prefix>key:<id>` (hash: ut, uu used; ht, hu held) and `<prefix>key:<id>:holds`; prefix
`seawall:q:`. One per process; one event loop.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid

from seawall.decide.quota import Shortfall, share_of
from seawall.limits.base import Admitted, LimiterUnavailable, Refused, ScopeLimits
from seawall.limits.quota import Balance, Charged, Hold, QuotaLedger, take
from seawall.limits.redis import _FAILURES, RedisLimiter

PREFIX = "seawall:q:"
# Balances read back from Redis per flush interval beyond those this gateway used: with many
# quota'd keys, reading all of them twice a second would cost Redis more than the requests do.
READ_EACH_TIME = 500
_NONE = b""  # no limit of that unit


def _limit(value: float | None) -> bytes:
    return _NONE if value is None else repr(value).encode()


class SharedBalances:
    """Holds and settlements against the balances in Redis, on the limiter's connections."""

    def __init__(self, ledger: QuotaLedger, limiter: RedisLimiter, fail_closed: bool, prefix: str = PREFIX):
        self._ledger, self._limiter, self._fail_closed, self._prefix = ledger, limiter, fail_closed, prefix
        self._hold, self._settle = limiter.script("quota_hold.lua"), limiter.script("quota_settle.lua")
        self._renew = limiter.script("quota_renew.lua")
        self._lease_us = str(int(limiter.lease_s * 1_000_000)).encode()
        self._id = uuid.uuid4().hex[:12]  # this process's holds: <id>:<n>|tokens|usd
        self._serial = itertools.count()
        self._keys: dict[str, list[bytes]] = {}
        self._held: dict[bytes, bytes] = {}  # lease member -> its holds set, renewed while held
        self._renewing: asyncio.Task | None = None
        self._shares: dict[str, Balance] = {}  # while Redis is down: this gateway's share of each
        self._unsynced: dict[str, list] = {}  # key id -> [tokens, usd] charged while Redis was down
        self._used: set[str] = set()  # keys held since the last refresh
        self._turn = 0  # where the next refresh's slice of the other keys starts

    @property
    def limiter(self) -> RedisLimiter:
        return self._limiter

    def keys(self, key_id: str) -> list[bytes]:
        found = self._keys.get(key_id)
        if found is None:
            balance = f"{self._prefix}key:{key_id}"
            found = self._keys[key_id] = [balance.encode(), f"{balance}:holds".encode()]
        return found

    # -- the hot path -----------------------------------------------------------------------------
    async def hold(self, key_id: str, tokens: int, usd: float) -> Hold | Shortfall | None:
        """As QuotaLedger.hold, against the shared balance; raises LimiterUnavailable when Redis
        can't answer and quotas fail closed."""
        b = self._ledger.balances.get(key_id)
        if b is None:
            return None
        keys, args = self._holding(key_id, b, tokens, usd)
        reply = await self._limiter.run(self._hold, keys, [b"", *args])
        return self._held_by(key_id, b, reply, args[0], tokens, usd)

    async def admit_and_hold(self, scopes: tuple[ScopeLimits, ...], estimate: int, key_id: str, tokens: int,
                             usd: float) -> tuple[Admitted | Refused, Hold | Shortfall | None]:
        """The limiter's admission and this hold in one script call (RedisLimiter.admit_holding):
        a refusal by the limits holds nothing, a refusal by the quota spends no limit. The hold
        is None when the limits refused (or the key has no quota)."""
        b = self._ledger.balances.get(key_id)
        if b is None:
            return await self._limiter.admit(scopes, estimate), None
        keys, args = self._holding(key_id, b, tokens, usd)
        outcome, reply = await self._limiter.admit_holding(scopes, estimate, keys, args)
        if isinstance(outcome, Refused):
            return outcome, None
        try:
            held = self._held_by(key_id, b, reply, args[0], tokens, usd)
        except LimiterUnavailable:  # admitted on this gateway's share; the quota fails closed
            await self._limiter.finish(scopes, outcome.lease, 0)
            raise
        if not isinstance(held, Hold) and outcome.lease is not None:  # a share's refusal: give the slot back
            await self._limiter.finish(scopes, outcome.lease, 0)
        return outcome, held

    def _holding(self, key_id: str, b: Balance, tokens: int, usd: float) -> tuple[list[bytes], list]:
        """quota_hold.lua's keys and arguments but now_us: the lease member comes first."""
        member = f"{self._id}:{next(self._serial)}|{tokens}|{usd!r}".encode()
        return self.keys(key_id), [member, self._lease_us, tokens, repr(usd), _limit(b.limit_tokens),
                                   _limit(b.limit_usd), b.used_tokens, repr(b.used_usd)]

    def _held_by(self, key_id: str, b: Balance, reply: list | None, member: bytes, tokens: int,
                 usd: float) -> Hold | Shortfall:
        """quota_hold.lua's reply read (None: Redis can't answer, so this gateway's share decides)."""
        if reply is None:
            return self._hold_share(key_id, b, tokens, usd)
        held, unit, ut, uu, ht, hu = reply
        b.used_tokens, b.used_usd, b.held_tokens, b.held_usd = int(ut), float(uu), int(ht), float(hu)
        if not held:
            if unit == b"tokens":
                return Shortfall("tokens", b.limit_tokens, b.used_tokens, b.held_tokens, tokens)
            return Shortfall("usd", b.limit_usd, b.used_usd, b.held_usd, usd)
        keys = self.keys(key_id)
        self._held[member] = keys[1]
        self._used.add(key_id)
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.create_task(self._renew_holds(), name="quota-holds")
        return Hold(key_id, b, tokens, usd, lease=member)

    async def settle(self, hold: Hold, tokens: int, usd: float) -> Charged:
        """As QuotaLedger.settle: give the hold back, charge the real cost (idempotent)."""
        call = self._settling(hold, tokens, usd)
        if isinstance(call, Charged):
            return call
        reply = await self._limiter.run(self._settle, *call)
        return self._settled(hold, reply, tokens, usd)

    async def finish_and_settle(self, scopes: tuple[ScopeLimits, ...], lease: str | None, token_delta: int,
                                hold: Hold, tokens: int, usd: float) -> Charged:
        """The limiter's finish (RedisLimiter.finish) and this settlement in one script call."""
        call = self._settling(hold, tokens, usd)
        if isinstance(call, Charged):
            await self._limiter.finish(scopes, lease, token_delta)
            return call
        reply = await self._limiter.finish(scopes, lease, token_delta, *call)
        return self._settled(hold, reply, tokens, usd)

    async def release(self, hold: Hold) -> None:
        await self.settle(hold, 0, 0.0)

    def _settling(self, hold: Hold, tokens: int, usd: float) -> tuple[list[bytes], list] | Charged:
        """quota_settle.lua's keys and arguments, or what was charged without Redis."""
        if hold.done:
            return Charged(0, 0.0, 0, 0.0)
        hold.done = True
        b = hold.balance
        if hold.lease is None:  # held on this gateway's share while Redis was down
            b.held_tokens -= hold.tokens
            b.held_usd -= hold.usd
            return self._charge_here(hold.key_id, b, tokens, usd)
        self._held.pop(hold.lease, None)
        if not (tokens or usd) and self._limiter.outage.down_since is not None:
            return Charged(0, 0.0, 0, 0.0)  # nothing to charge; the hold's lease expires by itself
        return self.keys(hold.key_id), [hold.lease, hold.tokens, repr(hold.usd), tokens, repr(usd),
                                        _limit(b.limit_tokens), _limit(b.limit_usd), b.used_tokens, repr(b.used_usd)]

    def _settled(self, hold: Hold, reply: list | None, tokens: int, usd: float) -> Charged:
        if reply is None:  # charged here, added to Redis when it answers; the hold expires by itself
            return self._charge_here(hold.key_id, hold.balance, tokens, usd)
        b = hold.balance
        t, u = int(reply[0]), float(reply[1])
        b.used_tokens, b.used_usd, b.held_tokens, b.held_usd = int(reply[2]), float(reply[3]), int(reply[4]), float(reply[5])
        self._ledger.charged(hold.key_id, t, u)
        return Charged(t, u, max(tokens - t, 0), max(usd - u, 0.0))

    # -- Redis down ---------------------------------------------------------------------------------
    def _hold_share(self, key_id: str, b: Balance, tokens: int, usd: float) -> Hold | Shortfall:
        if self._fail_closed:
            raise LimiterUnavailable(self._limiter.outage.retry_after_s(time.monotonic()))
        share = self._shares.get(key_id)
        if share is None:  # what was left when this gateway last heard from Redis, over N gateways
            n = self._limiter.local.instances
            share = self._shares[key_id] = Balance(
                share_of(b.limit_tokens, b.used_tokens, b.held_tokens, n), share_of(b.limit_usd, b.used_usd, b.held_usd, n),
                b.used_tokens, b.used_usd, source_tokens=b.source_tokens, source_usd=b.source_usd)
        return take(share, key_id, tokens, usd)

    def _charge_here(self, key_id: str, b: Balance, tokens: int, usd: float) -> Charged:
        """A charge Redis can't take now: capped by what this gateway sees, written to the store
        by the ledger as usual, and added to Redis once it answers."""
        charged = self._ledger.spend(key_id, b, tokens, usd)
        if charged.tokens or charged.usd:
            unsynced = self._unsynced.setdefault(key_id, [0, 0.0])
            unsynced[0] += charged.tokens
            unsynced[1] += charged.usd
        return charged

    # -- every flush interval (QuotaLedger.sync) ------------------------------------------------------
    async def refresh(self) -> None:
        """Add what was charged while Redis was down, then read back the shared totals (_to_read)."""
        if self._limiter.outage.down_since is not None:
            return
        self._shares.clear()  # Redis answers: the next outage divides what is left then
        for key_id, (tokens, usd) in list(self._unsynced.items()):
            b = self._ledger.balances.get(key_id)
            seed = (b.used_tokens, b.used_usd) if b is not None else (0, 0.0)
            reply = await self._limiter.run(self._settle, self.keys(key_id), [
                b"", 0, "0", tokens, repr(usd), _NONE, _NONE, seed[0], repr(seed[1])])
            if reply is None:
                return
            del self._unsynced[key_id]
        ids = self._to_read()
        if not ids:
            return
        try:
            async with asyncio.timeout(max(self._limiter.lease_s / 3, 1.0)):  # off the request path
                async with self._limiter.client.pipeline(transaction=False) as pipe:
                    for key_id in ids:
                        pipe.hmget(self.keys(key_id)[0], "ut", "uu", "ht", "hu")
                    totals = await pipe.execute()
        except _FAILURES:
            return  # the request path reports the outage
        for key_id, (ut, uu, ht, hu) in zip(ids, totals, strict=True):
            b = self._ledger.balances.get(key_id)
            if b is not None and ut is not None:
                b.used_tokens, b.used_usd, b.held_tokens, b.held_usd = int(ut), float(uu), int(ht), float(hu)

    def _to_read(self) -> list[str]:
        """The balances to read this time: those this gateway used since the last read, and the
        next READ_EACH_TIME of the others in turn (the views of keys it doesn't serve stay within
        a few intervals of Redis without reading every key every interval)."""
        used, self._used = self._used, set()
        ids = list(self._ledger.balances)
        if len(ids) <= READ_EACH_TIME:
            return ids
        start = self._turn % len(ids)
        self._turn = start + READ_EACH_TIME
        return list(used.union(ids[start:start + READ_EACH_TIME], ids[:max(0, start + READ_EACH_TIME - len(ids))]))

    async def _renew_holds(self) -> None:
        """Renew every hold this process has, every third of the lease, in one call; stops once
        a renewal finds none held (hold restarts it). Not at once: one request at a time settles
        its hold before this task first runs, and would start a task per request."""
        while True:
            await asyncio.sleep(self._limiter.lease_s / 3)
            if not self._held:
                return
            if self._limiter.outage.down_since is not None:
                continue
            members = list(self._held.items())
            await self._limiter.run(self._renew, [k for _, k in members], [self._lease_us, *(m for m, _ in members)])

    async def close(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
