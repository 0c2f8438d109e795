"""Background writers' shared habits: a failure logged once when it starts and once when it ends
(however often it repeats meanwhile), flushing on a tick or when woken, and stopping a background
task cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable

from seawall.store.base import store_outage


class Incident:
    def __init__(self, log: logging.Logger, what: str):
        self._log, self._what = log, what
        self.open = False

    def failed(self, message: str, *args: object) -> None:
        """Call from an except block: the first failure of an incident is logged, on one line
        with the exception's type and text when it is an outage (a store or network that does
        not answer), with its traceback otherwise (a bug deserves one)."""
        if self.open:
            return
        self.open = True
        exc = sys.exc_info()[1]
        if exc is not None and store_outage(exc):
            self._log.warning(f"{self._what}: {message} (%s: %s)", *args, type(exc).__name__,
                              str(exc)[:200] or "no detail")
        else:
            self._log.exception(f"{self._what}: {message}", *args)

    def succeeded(self) -> None:
        if self.open:
            self._log.warning("%s: works again", self._what)
            self.open = False


async def stop(task: asyncio.Task | None) -> None:
    """Cancel a background task and wait until it has stopped."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def flush_loop(wake: asyncio.Event, interval_s: float, flush: Callable[[], Awaitable[None]]) -> None:
    """Run `flush` every `interval_s`, or as soon as `wake` is set (a batch is full); forever."""
    while True:
        try:
            await asyncio.wait_for(wake.wait(), interval_s)
        except TimeoutError:
            pass
        wake.clear()
        await flush()
