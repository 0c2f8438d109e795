"""The quota ledger: each limited key's balance in memory, spent without a store round trip, and
written behind to the store.

A request holds its estimate (`hold`), then settles its real cost (`settle`) or gives the hold
back (`release`). Holds and charges are plain in-memory arithmetic with no await between the
check and the change, so on one event loop concurrent requests can't together overspend.

Charges reach the store as increments (`used = used + n`), batched every `flush_interval_s`;
after each flush the ledger reads the stored totals back, so what other gateways sharing the
store spent is seen within one interval. (Across gateways the bound is therefore not exact: each
sees the others' spending up to one interval late. One gateway, or a shared Redis ledger, is.)
Flush and read-back run in one task, one after the other, so a charge is never counted twice
or missed: the stored total includes exactly the batches written, and what is still pending is
added on top.

With a shared Redis (limits/quota_redis.py), the balances themselves are kept there and this
ledger holds this gateway's view of them, its unwritten charges and the write-behind.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from seawall.decide.quota import Shortfall, charge, shortfall
from seawall.observe.incident import Incident, stop
from seawall.store.base import GroupRecord, KeyRecord, Store

if TYPE_CHECKING:
    from seawall.limits.quota_redis import SharedBalances

log = logging.getLogger("seawall.quota")


@dataclass(slots=True)
class Balance:
    limit_tokens: int | None
    limit_usd: float | None
    used_tokens: int = 0
    used_usd: float = 0.0
    held_tokens: int = 0
    held_usd: float = 0.0
    # Where each limit comes from ("the key's own" or "the default of group G"): what to change.
    source_tokens: str = "the key's own"
    source_usd: str = "the key's own"

    def source(self, unit: str) -> str:
        return self.source_tokens if unit == "tokens" else self.source_usd

    @property
    def remaining_tokens(self) -> int | None:
        return None if self.limit_tokens is None else max(self.limit_tokens - self.used_tokens, 0)

    @property
    def remaining_usd(self) -> float | None:
        return None if self.limit_usd is None else max(self.limit_usd - self.used_usd, 0.0)


@dataclass(slots=True)
class Hold:
    key_id: str
    balance: Balance
    tokens: int
    usd: float
    done: bool = False
    lease: bytes | None = None  # its lease in Redis (limits/quota_redis.py); None: held in this process


@dataclass(frozen=True, slots=True)
class Charged:
    tokens: int
    usd: float
    excess_tokens: int  # real usage past the limit, not charged (the balance stays >= 0)
    excess_usd: float


_OWN = "the key's own"


def effective_quota(key: KeyRecord, groups: dict[str, GroupRecord]) -> tuple[int | None, float | None, str, str]:
    """A key's own quota, else its group's default (tokens and USD each on its own), and where
    each came from."""
    group = groups.get(key.group) if key.group else None
    inherited = f"the default of group {key.group}"
    if key.quota_tokens is not None or group is None:
        tokens, source_tokens = key.quota_tokens, _OWN
    else:
        tokens, source_tokens = group.quota_tokens, inherited
    if key.quota_usd is not None or group is None:
        usd, source_usd = key.quota_usd, _OWN
    else:
        usd, source_usd = group.quota_usd, inherited
    return tokens, usd, source_tokens, source_usd


def take(b: Balance, key_id: str, tokens: int, usd: float) -> Hold | Shortfall:
    """Hold the estimate on `b` if it fits in what is neither spent nor held."""
    short = (shortfall("tokens", b.limit_tokens, b.used_tokens, b.held_tokens, tokens)
             or shortfall("usd", b.limit_usd, b.used_usd, b.held_usd, usd))
    if short is not None:
        return short
    b.held_tokens += tokens
    b.held_usd += usd
    return Hold(key_id, b, tokens, usd)


class QuotaLedger:
    def __init__(self, store: Store, flush_interval_s: float = 1.0):
        self._store, self._interval = store, flush_interval_s
        self.balances: dict[str, Balance] = {}
        self._pending: dict[str, list] = {}  # key id -> [tokens, usd] charged, not yet written
        self._task: asyncio.Task | None = None
        self._incident = Incident(log, "quota")
        self._reading = Incident(log, "quota")
        # With limits.redis_url (server.py): the balances are kept in Redis; these are this
        # gateway's view of them (limits/quota_redis.py), and requests await its hold and settle.
        self.shared: SharedBalances | None = None

    # -- the key cache tells the ledger which keys have a quota -----------------------------------
    def configure(self, keys: Iterable[KeyRecord], groups: Iterable[GroupRecord]) -> None:
        by_name = {g.name: g for g in groups}
        fresh: dict[str, Balance] = {}
        for k in keys:
            tokens, usd, source_tokens, source_usd = effective_quota(k, by_name)
            if tokens is None and usd is None:
                continue
            b = self.balances.get(k.id)
            if b is None:  # the store's total, plus what this gateway charged and hasn't written
                pending = self._pending.get(k.id, (0, 0.0))
                b = Balance(tokens, usd, k.used_tokens + pending[0], k.used_usd + pending[1])
            b.limit_tokens, b.limit_usd = tokens, usd
            b.source_tokens, b.source_usd = source_tokens, source_usd
            fresh[k.id] = b
        self.balances = fresh  # holds in flight keep their own Balance reference

    def balance(self, key_id: str) -> Balance | None:
        return self.balances.get(key_id)

    # -- the hot path -----------------------------------------------------------------------------
    def hold(self, key_id: str, tokens: int, usd: float) -> Hold | Shortfall | None:
        """None: the key has no quota. A Shortfall refuses and holds nothing."""
        b = self.balances.get(key_id)
        return None if b is None else take(b, key_id, tokens, usd)

    def release(self, hold: Hold) -> None:
        """The request cost nothing (refused or failed before any reply): give the hold back."""
        if hold.done:
            return
        hold.done = True
        hold.balance.held_tokens -= hold.tokens
        hold.balance.held_usd -= hold.usd

    def settle(self, hold: Hold, tokens: int, usd: float) -> Charged:
        """Replace the hold by the real cost. Idempotent: a second call charges nothing."""
        if hold.done:
            return Charged(0, 0.0, 0, 0.0)
        self.release(hold)
        return self.spend(hold.key_id, hold.balance, tokens, usd)

    def spend(self, key_id: str, b: Balance, tokens: int, usd: float) -> Charged:
        """Charge `b` the real cost, capped at its limit, and keep the charge for the store."""
        t, extra_t = charge(b.limit_tokens, b.used_tokens, tokens)
        u, extra_u = charge(b.limit_usd, b.used_usd, usd)
        b.used_tokens += t
        b.used_usd += u
        if t or u:
            self.charged(key_id, t, u)
        return Charged(int(t), u, int(extra_t), extra_u)

    def charged(self, key_id: str, tokens: float, usd: float) -> None:
        """A charge this gateway made, to be written to the store with the next flush."""
        pending = self._pending.setdefault(key_id, [0, 0.0])
        pending[0] += tokens
        pending[1] += usd

    # -- write-behind -------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="quota-ledger")

    async def stop(self) -> None:
        await stop(self._task)
        if self.shared is not None:
            await self.shared.close()
        await self.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.sync()

    async def flush(self) -> bool:
        """Write the pending charges; on failure keep them for the next try."""
        if not self._pending:
            return True
        batch, self._pending = self._pending, {}
        try:
            await self._store.add_usage([(k, v[0], v[1]) for k, v in batch.items()])
        except Exception:  # noqa: BLE001 - any store failure: keep the charges, retry next tick
            for k, (t, u) in batch.items():
                pending = self._pending.setdefault(k, [0, 0.0])
                pending[0] += t
                pending[1] += u
            self._incident.failed("writing usage for %d keys failed; keeping it and retrying", len(batch))
            return False
        self._incident.succeeded()
        return True

    async def sync(self) -> None:
        """Flush, then read back the stored totals (other gateways' charges included)."""
        if not await self.flush() or not self.balances:
            return
        if self.shared is not None:  # the shared totals are Redis's; the store lags them by every gateway's pending
            await self.shared.refresh()
            return
        try:
            stored = await self._store.load_usage(list(self.balances))
        except Exception:  # noqa: BLE001 - any store failure: keep the balances, try next tick
            self._reading.failed("reading usage back failed; balances kept as this gateway sees them")
            return
        self._reading.succeeded()
        for key_id, (tokens, usd) in stored.items():
            b = self.balances.get(key_id)
            if b is not None:
                pending = self._pending.get(key_id, (0, 0.0))
                b.used_tokens, b.used_usd = tokens + pending[0], usd + pending[1]
