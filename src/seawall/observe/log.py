"""The request log's batched writer: `submit` never waits; a background task writes batches.

A response never waits on the disk. Rows wait in memory until the next flush (every
flush_interval_s, or sooner when batch_size rows are pending). If the store fails, the batch is
kept and retried; past max_pending rows the oldest are dropped and counted, and the first drop of
an incident is logged once, so a dead disk can't grow the gateway's memory without bound.

Captured bodies (observe/capture.py) ride along: the record stage hands over references, and the
flush redacts and writes them after the rows; captures older than capture_retention_days are
pruned from the store every PRUNE_INTERVAL_S.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from seawall.config import RequestLogSettings
from seawall.observe.capture import CaptureBuilder, CaptureSource
from seawall.observe.incident import Incident, flush_loop, stop
from seawall.store.base import RequestRecord, Store

log = logging.getLogger("seawall.log")

PRUNE_INTERVAL_S = 600.0
# Captures waiting to be written hold their requests' bodies (up to server.max_body_bytes each):
# bounded by count and by bytes, past which new ones are dropped and counted.
MAX_PENDING_CAPTURES = 1000
MAX_PENDING_CAPTURE_BYTES = 64 * 1024 * 1024


class RequestLogWriter:
    def __init__(self, store: Store, settings: RequestLogSettings, captures: CaptureBuilder | None = None):
        self._store, self._settings = store, settings
        self._pending: deque[RequestRecord] = deque()
        self.capture_mode = settings.capture if captures is not None else "off"  # read per request by record()
        self._builder = captures
        self._captures: list[CaptureSource] = []
        self._capture_bytes = 0
        self.captured = 0
        self.captures_dropped = 0
        self._pruned_at = 0.0
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

    def capture(self, source: CaptureSource) -> None:
        """Keep a selected request's bodies for the next flush, unless the pending ones are at
        their bound (the row is written either way)."""
        size = source.size()
        if len(self._captures) >= MAX_PENDING_CAPTURES or self._capture_bytes + size > MAX_PENDING_CAPTURE_BYTES:
            self.captures_dropped += 1
            return
        self._captures.append(source)
        self._capture_bytes += size

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
        await self._write_rows()
        if self._captures:
            await self._write_captures()
        if self._builder is not None and time.monotonic() - self._pruned_at >= PRUNE_INTERVAL_S:
            await self.prune()

    async def prune(self) -> int:
        self._pruned_at = time.monotonic()
        try:
            return await self._store.prune_captures(time.time() - self._settings.capture_retention_days * 86400)
        except Exception:  # noqa: BLE001 - the store is failing: the rows' incident says so; try next time
            return 0

    async def _write_captures(self) -> None:
        """Redact and write the pending captures (after their rows: the console finds a request by
        its row). A failed write drops them: bodies are the first thing to give up under pressure."""
        sources, self._captures, self._capture_bytes = self._captures, [], 0
        records = []
        for src in sources:
            try:
                records.append(self._builder.build(src))
            except Exception:  # noqa: BLE001 - one odd body must not lose the others
                log.exception("capturing request %s failed", src.request_id)
        try:
            await self._store.write_captures(records)
            self.captured += len(records)
        except Exception:  # noqa: BLE001
            self._incident.failed("writing %d captured requests failed; dropping them", len(records))

    async def _write_rows(self) -> None:
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
