"""Timing Redis, not the event loop.

asyncio's timeouts run on the loop's clock. When the loop is busy (a burst of requests being
parsed, a pool opening connections for it), a 50 ms timeout fires while Redis's replies, long
since arrived, wait unread in their sockets: a healthy Redis looks down, and every gateway fails
open at once (seen: two gateways on one healthy Redis admitting up to 59 of a 20-rpm key's 80
simultaneous requests). An admission may need several round trips (a new connection's
handshake, then the script), each waiting for its turn on a busy loop.

`LoopLag` keeps a clock that stands still while the loop is busy: a tick every TICK_S notes how
late it ran, beyond NOISE_S of timer jitter, and sums it. `redis_deadline` is asyncio.timeout
measured on that clock: the time that passed minus the time the loop spent unable to read, so
what is timed is Redis (and the network). It also never fails a call whose reply was read
already and is only waiting for its task to run (uvloop reads sockets, then runs the woken tasks
in its next turn, after the timers). A cap on wall time (`cap_s`) still bounds every call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

TICK_S = 0.01
NOISE_S = 0.002  # timers run up to a millisecond or two late on an idle loop (libuv's clock ticks in ms)


class LoopLag:
    """The loop's busy time, summed (one per limiter; ticks only while started)."""

    def __init__(self) -> None:
        self.busy_s = 0.0
        self._due = 0.0
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        if self._handle is None:
            self._loop = asyncio.get_running_loop()
            self._due = self._loop.time() + TICK_S
            self._handle = self._loop.call_at(self._due, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        now = self._loop.time()
        self.busy_s += max(0.0, now - self._due - NOISE_S)
        self._due = now + TICK_S
        self._handle = self._loop.call_at(self._due, self._tick)

    def busy(self, now: float) -> float:
        """Busy time so far, including the stall the next tick has not yet noted."""
        return self.busy_s + max(0.0, now - self._due - NOISE_S)


@contextlib.asynccontextmanager
async def redis_deadline(timeout_s: float, cap_s: float, lag: LoopLag) -> AsyncIterator[None]:
    """Raise TimeoutError (cancelling the block) once `timeout_s` of the loop's free time has
    passed without the reply, or once `cap_s` of wall time has in any case."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    started = loop.time()
    busy_before = lag.busy(started)
    async with asyncio.timeout(None) as timeout:
        handle: asyncio.TimerHandle | None = None

        def check() -> None:
            nonlocal handle
            now = loop.time()
            waited = now - started - (lag.busy(now) - busy_before)  # Redis's share of the wait
            waiter = getattr(task, "_fut_waiter", None)  # what the task awaits now (asyncio.Task's, C or Python)
            answered = waiter is not None and waiter.done()
            if (answered or waited < timeout_s) and now - started < cap_s:
                handle = loop.call_at(now + max(timeout_s - waited, NOISE_S), check)
            else:
                timeout.reschedule(now)  # due: cancels the block, asyncio.timeout raises TimeoutError

        handle = loop.call_at(started + timeout_s, check)
        try:
            yield
        finally:
            handle.cancel()
