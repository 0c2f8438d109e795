"""The request log's batched writer: `submit` never waits; a background task writes batches.

A response never waits on the disk. Rows wait in memory until the next flush (every
flush_interval_s, or sooner when batch_size rows are pending). If the store fails, the batch is
kept and retried; past max_pending rows the oldest are dropped and counted, and the first drop of
an incident is logged once, so a dead disk can't grow the gateway's memory without bound.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from seawall.config import RequestLogSettings
from seawall.observe.incident import Incident, flush_loop, stop
from seawall.store.base import RequestRecord, Store

log = logging.getLogger("seawall.log")


class RequestLogWriter:
    def __init__(self, store: Store, settings: RequestLogSettings):
        self._store, self._settings = store, settings
        self._pending: deque[RequestRecord] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.dropped = 0
        self.written = 0
        self._incident = Incident(log, "request log")

    def submit(self, record: RequestRecord) -> None:
        if len(self._pending) >= self._settings.max_pending:
            self._pending.popleft()
            self.dropped += 1
        self._pending.append(record)
        if len(self._pending) >= self._settings.batch_size:
            self._wake.set()

    def stats(self) -> dict[str, int]:
        return {"pending": len(self._pending), "written": self.written, "dropped": self.dropped}

    def start(self) -> None:
        self._task = asyncio.create_task(flush_loop(self._wake, self._settings.flush_interval_s, self.flush),
                                         name="request-log-writer")

    async def stop(self) -> None:
        """Write what is pending, then stop (called at shutdown)."""
        await stop(self._task)
        await self.flush()

    async def flush(self) -> None:
        while self._pending:
            n = min(len(self._pending), self._settings.batch_size)
            batch = [self._pending.popleft() for _ in range(n)]
            try:
                await self._store.write_requests(batch)
            except Exception:  # noqa: BLE001 - any store failure: keep the rows, retry next tick
                self._pending.extendleft(reversed(batch))
                while len(self._pending) > self._settings.max_pending:
                    self._pending.popleft()
                    self.dropped += 1
                self._incident.failed("writing %d rows failed; keeping them and retrying", n)
                return
            self._incident.succeeded()
            self.written += n
