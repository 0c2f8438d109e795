"""Timing Redis, not the event loop.

asyncio's timeouts run on the loop's clock. When the loop is busy (a burst of requests being
parsed), a 50 ms timeout can fire while Redis's reply, long since arrived, waits unread in the
socket: healthy Redis looks down, and every gateway fails open at once (seen: two gateways on
one healthy Redis admitting 25 of a 20-rpm key's 80 requests). uvloop (libuv) even runs due
timers before it reads the sockets in each turn of the loop.

`redis_deadline` is asyncio.timeout, except that at the deadline it asks whether the loop, not
Redis, is to blame, and if so gives the call another period instead of failing it (up to
`cap_s` in all):
- the awaiting task's waiter is already done: the reply was read and the task merely waits its
  turn to run (uvloop reads sockets, then runs the woken tasks in the next turn, after its timers);
- the timer itself runs late (past LATE_S): the loop was busy at the deadline, and the reply may
  be sitting unread in the socket.
A timer that runs on time with the task still waiting fails the call as before. What is timed is
then Redis's time, to within LATE_S plus the moments the loop spent elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

LATE_S = 0.002  # a timer this late means the loop was busy; libuv's clock ticks in milliseconds


@contextlib.asynccontextmanager
async def redis_deadline(timeout_s: float, cap_s: float) -> AsyncIterator[None]:
    """Raise TimeoutError (cancelling the block) once `timeout_s` has passed with Redis to blame
    (see the module docstring), or once `cap_s` has in any case."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    started = loop.time()
    async with asyncio.timeout(None) as timeout:
        handle: asyncio.TimerHandle | None = None

        def check(due: float) -> None:
            nonlocal handle
            now = loop.time()
            waiter = getattr(task, "_fut_waiter", None)  # what the task awaits now (asyncio.Task's, C and Python)
            loop_to_blame = (waiter is not None and waiter.done()) or now - due > LATE_S
            if loop_to_blame and now - started + timeout_s <= cap_s:
                handle = loop.call_at(now + timeout_s, check, now + timeout_s)
            else:
                timeout.reschedule(now)  # due: cancels the block, asyncio.timeout raises TimeoutError

        handle = loop.call_at(started + timeout_s, check, started + timeout_s)
        try:
            yield
        finally:
            handle.cancel()
