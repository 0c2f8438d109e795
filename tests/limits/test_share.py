"""limits/share.py and limits/redis_timing.py: a gateway's share of a limit while Redis is down,
and a timeout that times Redis rather than a busy event loop."""

import asyncio
import time

import pytest

from seawall.limits.base import Admitted, Refused, scope_limits
from seawall.limits.redis_timing import LoopLag, redis_deadline
from seawall.limits.share import LOCAL, LocalShare, share

SCOPE = scope_limits("tenant", "acme", rpm=20, tpm=1000, max_concurrency=5, rps=3)


@pytest.mark.parametrize("n,rpm,tpm,conc,rps", [(1, 20, 1000, 5, 3), (2, 10, 500, 2, 1), (3, 6, 333, 1, 1),
                                                (40, 1, 25, 1, 1)])
def test_share(n, rpm, tpm, conc, rps):
    s = share(SCOPE, n)
    assert (s.rpm.limit, s.tpm.limit, s.max_concurrency, s.rps.limit) == (rpm, tpm, conc, rps)
    assert (s.scope, s.id) == ("tenant", "acme")


def test_a_share_leaves_unset_limits_unset():
    only_rpm = scope_limits("key", "k", rpm=9, tpm=None, max_concurrency=None)
    s = share(only_rpm, 2)
    assert s.rpm.limit == 4 and s.tpm is None and s.max_concurrency is None and s.rps is None


def test_n_gateways_admit_no_more_than_the_limit_between_them():
    scope = scope_limits("key", "k", rpm=20, tpm=None, max_concurrency=None)
    gateways = [LocalShare(instances=4) for _ in range(4)]
    admitted = sum(isinstance(g.admit((scope,), 1), Admitted) for g in gateways for _ in range(50))
    assert admitted == 20


def test_a_local_admission_is_given_back_locally():
    scope = scope_limits("key", "k", rpm=None, tpm=None, max_concurrency=2)
    local = LocalShare(instances=2)
    first = local.admit((scope,), 0)
    assert isinstance(first, Admitted) and first.lease == LOCAL
    assert isinstance(local.admit((scope,), 0), Refused)
    local.finish((scope,), 0)
    assert isinstance(local.admit((scope,), 0), Admitted)


def started_lag() -> LoopLag:
    lag = LoopLag()
    lag.start()
    return lag


async def test_a_late_timer_gives_the_reply_time_to_be_read():
    loop = asyncio.get_running_loop()
    reply = loop.create_future()
    loop.call_later(0.01, reply.set_result, "OK")  # the reply arrives in 10 ms...
    loop.call_soon(time.sleep, 0.2)  # ...but the loop is busy for the first 200 ms
    async with redis_deadline(0.05, 1.0, started_lag()):
        assert await reply == "OK"


async def test_asyncio_timeout_alone_fails_the_same_call():
    """The failure redis_deadline exists for, on the same timeline."""
    loop = asyncio.get_running_loop()
    reply = loop.create_future()
    loop.call_later(0.01, reply.set_result, "OK")
    # Busy from the start, not from a timer: were both timers due in one turn of a late-starting
    # loop, the reply would be read before the timeout's turn and this would pass by luck.
    loop.call_soon(time.sleep, 0.2)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await reply


async def test_a_silent_redis_still_times_out_on_time():
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with redis_deadline(0.05, 1.0, started_lag()):
            await asyncio.sleep(10)
    assert time.monotonic() - started < 0.5


async def test_time_the_loop_spends_busy_does_not_count():
    """Four round trips (a new connection's handshake, then the command), each answered at once
    but read only after the loop was busy 40 ms: 160 ms of wall time, next to none of it Redis's.
    Six round trips of 20 ms with the loop free are 120 ms of Redis's time: past 100 ms."""
    loop = asyncio.get_running_loop()
    lag = started_lag()
    async with redis_deadline(0.1, 2.0, lag):
        for _ in range(4):
            loop.call_soon(time.sleep, 0.04)
            await asyncio.sleep(0)
    with pytest.raises(TimeoutError):
        async with redis_deadline(0.1, 2.0, lag):
            for _ in range(6):
                await asyncio.sleep(0.02)


async def test_a_loop_busy_past_the_cap_fails_the_call():
    loop = asyncio.get_running_loop()
    busy = [loop.call_later(0.01 + 0.06 * i, time.sleep, 0.06) for i in range(10)]  # late at every check
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with redis_deadline(0.05, 0.3, started_lag()):
            await asyncio.sleep(10)
    assert time.monotonic() - started < 1.0
    for handle in busy:
        handle.cancel()
