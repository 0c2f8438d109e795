import asyncio

from seawall.config import RequestLogSettings
from seawall.observe.log import RequestLogWriter
from seawall.store.base import RequestRecord


class FlakyStore:
    def __init__(self):
        self.rows, self.fail = [], False

    async def write_requests(self, rows):
        if self.fail:
            raise OSError("disk full")
        self.rows += [r.request_id for r in rows]


def rec(i: int) -> RequestRecord:
    return RequestRecord(request_id=f"req_{i}", ts=0.0, method="POST", path="/", status=200, latency_ms=1.0)


async def test_rows_survive_a_failing_store_and_are_written_in_order_later():
    store = FlakyStore()
    writer = RequestLogWriter(store, RequestLogSettings(batch_size=2, max_pending=10))
    for i in range(3):
        writer.submit(rec(i))
    store.fail = True
    await writer.flush()
    assert store.rows == [] and writer.stats() == {"pending": 3, "written": 0, "dropped": 0}
    store.fail = False
    await writer.flush()
    assert store.rows == ["req_0", "req_1", "req_2"] and writer.stats()["written"] == 3


async def test_memory_is_bounded_and_drops_are_counted():
    store = FlakyStore()
    writer = RequestLogWriter(store, RequestLogSettings(batch_size=100, max_pending=3))
    for i in range(5):
        writer.submit(rec(i))
    assert writer.stats() == {"pending": 3, "written": 0, "dropped": 2}
    await writer.flush()
    assert store.rows == ["req_2", "req_3", "req_4"]  # the oldest were dropped


async def test_background_task_flushes_on_its_interval_and_on_stop():
    store = FlakyStore()
    writer = RequestLogWriter(store, RequestLogSettings(flush_interval_s=0.05, batch_size=1000))
    writer.start()
    writer.submit(rec(1))
    await asyncio.sleep(0.2)
    assert store.rows == ["req_1"]
    writer.submit(rec(2))
    await writer.stop()
    assert store.rows == ["req_1", "req_2"]
