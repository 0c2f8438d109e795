"""The Responses conversations the gateway keeps for `previous_response_id` on translated routes.

A row is one response's whole conversation (the earlier turns it continued, its own input, its
output) with the model, the key that made it (and the key's tenant and group) and its expiry
(`responses.retention_days`), so a follow-up loads one row. Rows belong to the key that made them,
or to its group's or tenant's keys too under server.share_within (decide/ownership.py, as for
passed-through ids): `load` asks for the id *and* the caller, so anyone else's id answers exactly
like an unknown one.

`Conversations` keeps the request path off the disk, as observe/log.py does for the request
log: `save` never waits (rows are written in batches by a background task, and kept in memory,
bounded, while the store is down); `load` first looks at what is still pending and at a small
cache of recent conversations (an agent's next turn usually follows at once), then at the store.
A background purge deletes expired rows every `purge_interval_s`. With several gateways on one
PostgreSQL, a follow-up that lands on another gateway within `flush_interval_s` of the response
may not find it yet; the caller answers it as unknown.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from seawall.config import ResponsesSettings
from seawall.decide.ownership import Owner, may_see
from seawall.observe.incident import Incident, flush_loop, stop

log = logging.getLogger("seawall.conversations")

DAY_S = 86_400.0
RECENT = 256  # recently written conversations kept in memory for the next turn


@dataclass(slots=True)
class ConversationRecord:
    response_id: str
    key_id: str
    model: str
    created_at: float
    expires_at: float
    items: list[dict]  # earlier turns, then this request's input, then the output
    input_start: int
    output_start: int
    response: dict | None = None  # the response object as it was sent
    tenant: str | None = None  # the making key's, for server.share_within
    grp: str | None = None

    @property
    def owner(self) -> Owner:
        return Owner(self.key_id, self.tenant, self.grp)

    @property
    def input_items(self) -> list[dict]:
        return self.items[self.input_start:self.output_start]

    @property
    def output_items(self) -> list[dict]:
        return self.items[self.output_start:]


def conversation(response_id: str, key_id: str, model: str, earlier: Sequence[dict], input_items: Sequence[dict],
                 output: Sequence[dict], now: float, retention_days: float,
                 response: dict | None = None, tenant: str | None = None, grp: str | None = None) -> ConversationRecord:
    """The record of one response: `earlier` is the conversation its previous_response_id
    named (its `items`), or nothing."""
    items = [*earlier, *input_items, *output]
    return ConversationRecord(response_id, key_id, model, now, now + retention_days * DAY_S, items, len(earlier),
                              len(earlier) + len(input_items), response, tenant, grp)


class ConversationRows(Protocol):
    """What a store (sqlite.py, postgres.py) provides for conversations."""

    async def save_conversations(self, rows: list[ConversationRecord]) -> None:
        """Insert or replace (a retried batch may have been written already)."""

    async def load_conversation(self, response_id: str, now: float) -> ConversationRecord | None:
        """The row with this id not expired at `now`, else None (whose it is: Conversations judges)."""

    async def delete_conversation(self, response_id: str) -> bool: ...

    async def purge_conversations(self, now: float) -> int:
        """Delete the rows expired at `now`; how many."""


class Conversations:
    def __init__(self, rows: ConversationRows, settings: ResponsesSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self._rows, self._settings, self._clock = rows, settings, clock
        self._pending: OrderedDict[str, ConversationRecord] = OrderedDict()
        self._recent: OrderedDict[str, ConversationRecord] = OrderedDict()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._incident = Incident(log, "responses conversation store")
        self.written = self.dropped = self.purged = 0

    @property
    def enabled(self) -> bool:
        return self._settings.store

    def save(self, record: ConversationRecord) -> None:
        """Queue a conversation for writing; never waits."""
        if not self._settings.store:
            return
        self._pending[record.response_id] = record
        self._remember(record)
        while len(self._pending) > self._settings.max_pending:
            self._pending.popitem(last=False)
            self.dropped += 1
        if len(self._pending) >= self._settings.batch_size:
            self._wake.set()

    def _remember(self, record: ConversationRecord) -> None:
        self._recent[record.response_id] = record
        self._recent.move_to_end(record.response_id)
        while len(self._recent) > RECENT:
            self._recent.popitem(last=False)

    async def load(self, response_id: str, caller: Owner, share_within: str = "key") -> ConversationRecord | None:
        """The conversation if `caller` may see it (its key made it, or shares with it under
        `share_within`) and it has not expired; None otherwise (the caller can't tell, and must
        not tell the client, which)."""
        now = self._clock()
        found = self._pending.get(response_id) or self._recent.get(response_id)
        if found is None:
            found = await self._rows.load_conversation(response_id, now)
            if found is not None:
                self._remember(found)
        if found is None or found.expires_at <= now or not may_see(caller, found.owner, share_within):
            return None
        return found

    async def delete(self, response_id: str, caller: Owner, share_within: str = "key") -> bool:
        if await self.load(response_id, caller, share_within) is None:
            return False
        pending = self._pending.pop(response_id, None) is not None
        self._recent.pop(response_id, None)
        return await self._rows.delete_conversation(response_id) or pending

    def stats(self) -> dict[str, int]:
        return {"pending": len(self._pending), "written": self.written, "dropped": self.dropped,
                "purged": self.purged}

    def start(self) -> None:
        writer = flush_loop(self._wake, self._settings.flush_interval_s, self.flush)
        self._tasks = [asyncio.create_task(writer, name="conversation-writer"),
                       asyncio.create_task(self._purge_loop(), name="conversation-purge")]

    async def stop(self) -> None:
        """Write what is pending, then stop (called at shutdown)."""
        for task in self._tasks:
            await stop(task)
        await self.flush()

    async def _purge_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.purge_interval_s)
            await self.purge()

    async def flush(self) -> None:
        while self._pending:
            batch = list(self._pending.values())[:self._settings.batch_size]
            try:
                await self._rows.save_conversations(batch)
            except Exception:  # noqa: BLE001 - any store failure: keep the rows, retry next tick
                self._incident.failed("writing %d conversations failed; keeping them and retrying", len(batch))
                return
            self._incident.succeeded()
            for record in batch:
                if self._pending.get(record.response_id) is record:
                    del self._pending[record.response_id]
            self.written += len(batch)

    async def purge(self) -> int:
        now = self._clock()
        for response_id in [r for r, record in self._recent.items() if record.expires_at <= now]:
            del self._recent[response_id]
        try:
            count = await self._rows.purge_conversations(now)
        except Exception:  # noqa: BLE001 - the next purge tries again
            self._incident.failed("purging expired conversations failed")
            return 0
        self.purged += count
        return count
