import asyncio
import logging

from seawall.observe.incident import Incident, stop


def test_an_incident_is_logged_once_when_it_starts_and_once_when_it_ends(caplog):
    incident = Incident(logging.getLogger("t"), "writer")
    with caplog.at_level(logging.WARNING, logger="t"):
        for _ in range(3):
            try:
                raise OSError("disk full")
            except OSError:
                incident.failed("writing %d rows failed", 5)
        incident.succeeded()
        incident.succeeded()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["writer: writing 5 rows failed (OSError: disk full)", "writer: works again"]
    assert caplog.records[0].exc_info is None  # an outage is one line, not a traceback


def test_a_failure_that_is_no_outage_keeps_its_traceback(caplog):
    incident = Incident(logging.getLogger("t"), "writer")
    with caplog.at_level(logging.WARNING, logger="t"):
        try:
            raise ValueError("a bug")
        except ValueError:
            incident.failed("writing failed")
    assert caplog.records[0].getMessage() == "writer: writing failed" and caplog.records[0].exc_info is not None


async def test_stop_waits_for_the_task_to_end():
    ended = []

    async def forever():
        try:
            await asyncio.sleep(3600)
        finally:
            ended.append(True)

    task = asyncio.create_task(forever())
    await asyncio.sleep(0)
    await stop(task)
    await stop(None)
    assert ended == [True] and task.cancelled()
