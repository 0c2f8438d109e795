import asyncio
import time

import pytest

from seawall.errors import SeawallError
from seawall.pipeline.deadlines import BodyDeadlines


@pytest.fixture
async def deadlines():
    d = BodyDeadlines(timeout_s=0.2)
    d.start()
    yield d
    await d.stop()


async def test_a_stalled_read_ends_in_body_timeout(deadlines):
    started = time.monotonic()
    with pytest.raises(SeawallError) as e:
        await deadlines.bounded(lambda: asyncio.sleep(60))
    assert e.value.code == "body_timeout" and e.value.status == 408
    assert 0.2 <= time.monotonic() - started < 0.5
    assert deadlines._waiting == {} and deadlines._expired == set()
    await asyncio.sleep(0)  # the task was uncancelled: it goes on normally


async def test_a_prompt_read_returns_its_body(deadlines):
    async def read():
        await asyncio.sleep(0.01)
        return b"{}"

    assert await deadlines.bounded(read) == b"{}"
    assert deadlines._waiting == {}


async def test_a_cancellation_that_is_not_ours_propagates(deadlines):
    task = asyncio.create_task(deadlines.bounded(lambda: asyncio.sleep(60)))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert deadlines._waiting == {}
