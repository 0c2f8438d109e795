"""The Responses conversation store: rows in both SQL stores (ownership, expiry, purge), and the
writer that keeps the request path off the disk."""

from __future__ import annotations

import asyncio

import pytest

from seawall.config import ResponsesSettings
from seawall.decide.ownership import Owner
from seawall.store.conversations import DAY_S, ConversationRecord, Conversations, conversation

EARLIER = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Wetter in Zürich? ☀"}]},
           {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Zürich"}'}]
INPUT = [{"type": "function_call_output", "call_id": "call_1", "output": "sonnig"}]
OUTPUT = [{"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
           "content": [{"type": "output_text", "text": "Es ist sonnig.", "annotations": []}]}]
NOW = 1_800_000_000.0


def record(response_id: str = "resp_a", key_id: str = "key_1", now: float = NOW,
           days: float = 30, tenant: str | None = None, grp: str | None = None) -> ConversationRecord:
    return conversation(response_id, key_id, "claude-sonnet-4-5", EARLIER, INPUT, OUTPUT, now, days,
                        response={"id": response_id, "object": "response", "status": "completed"}, tenant=tenant,
                        grp=grp)


def test_a_record_knows_its_parts():
    got = record()
    assert got.items == EARLIER + INPUT + OUTPUT and got.expires_at == NOW + 30 * DAY_S
    assert got.input_items == INPUT and got.output_items == OUTPUT


async def test_rows_round_trip_with_their_owner_and_expiry(any_store):
    shared = record("resp_t", "key_3", tenant="acme", grp="ops")
    await any_store.save_conversations([record(), record("resp_b", "key_2"), record("resp_old", now=NOW - 31 * DAY_S),
                                        shared])
    await any_store.save_conversations([record()])  # a retried batch: replaced, not refused
    got = await any_store.load_conversation("resp_a", NOW)
    assert got == record()
    assert await any_store.load_conversation("resp_t", NOW) == shared  # its tenant and group kept
    assert await any_store.load_conversation("resp_nope", NOW) is None
    assert await any_store.load_conversation("resp_old", NOW) is None  # expired, not yet purged
    assert await any_store.purge_conversations(NOW) == 1
    assert await any_store.load_conversation("resp_b", NOW) is not None
    assert await any_store.delete_conversation("resp_b") is True
    assert await any_store.delete_conversation("resp_b") is False
    assert await any_store.load_conversation("resp_b", NOW) is None


class FlakyRows:
    """A store that fails while `down`, and counts the batches it wrote."""

    def __init__(self, rows) -> None:
        self.rows, self.down, self.batches = rows, False, []

    async def save_conversations(self, rows):
        if self.down:
            raise OSError("disk gone")
        self.batches.append(len(rows))
        await self.rows.save_conversations(rows)

    async def load_conversation(self, response_id, now):
        return await self.rows.load_conversation(response_id, now)

    async def delete_conversation(self, response_id):
        return await self.rows.delete_conversation(response_id)

    async def purge_conversations(self, now):
        return await self.rows.purge_conversations(now)


def settings(**fields) -> ResponsesSettings:
    return ResponsesSettings(**{"flush_interval_s": 60, **fields})


async def test_pending_conversations_are_served_before_they_are_written(store):
    rows = FlakyRows(store)
    convos = Conversations(rows, settings(), clock=lambda: NOW)
    convos.save(record())
    assert await convos.load("resp_a", Owner("key_1")) == record()
    assert await convos.load("resp_a", Owner("key_2")) is None  # ownership holds in memory too
    assert rows.batches == [] and convos.stats()["pending"] == 1
    await convos.flush()
    assert rows.batches == [1] and convos.stats() == {"pending": 0, "written": 1, "dropped": 0, "purged": 0}
    fresh = Conversations(rows, settings(), clock=lambda: NOW)  # another gateway: reads the store
    assert await fresh.load("resp_a", Owner("key_1")) == record()
    assert await fresh.load("resp_a", Owner("key_2")) is None


async def test_share_within_lets_the_tenants_or_groups_keys_continue_and_no_one_else(store):
    rows = FlakyRows(store)
    convos = Conversations(rows, settings(), clock=lambda: NOW)
    convos.save(record("resp_t", "key_1", tenant="acme", grp="ops"))
    same_tenant, same_group = Owner("key_2", "acme"), Owner("key_3", "acme", "ops")
    for loads in (convos, Conversations(rows, settings(), clock=lambda: NOW)):  # pending here; from the store there
        assert await loads.load("resp_t", same_tenant) is None  # share_within: key, the default
        assert await loads.load("resp_t", same_tenant, "tenant") is not None
        assert await loads.load("resp_t", same_tenant, "group") is None
        assert await loads.load("resp_t", same_group, "group") is not None
        assert await loads.load("resp_t", Owner("key_4", "other", "ops"), "group") is None  # groups stay in tenants
        assert await loads.load("resp_t", Owner("key_4", "other"), "tenant") is None
        await convos.flush()
    assert await convos.delete("resp_t", Owner("key_4", "other"), "tenant") is False
    assert await convos.delete("resp_t", same_tenant, "tenant") is True
    assert await store.load_conversation("resp_t", NOW) is None


async def test_a_failing_store_keeps_rows_bounded_and_retries(store, caplog):
    rows = FlakyRows(store)
    convos = Conversations(rows, settings(max_pending=3, batch_size=2), clock=lambda: NOW)
    rows.down = True
    for i in range(5):
        convos.save(record(f"resp_{i}"))
    await convos.flush()
    assert convos.stats()["pending"] == 3 and convos.dropped == 2
    assert "writing 2 conversations failed" in caplog.text
    rows.down = False
    await convos.flush()
    assert rows.batches == [2, 1] and convos.written == 3
    assert await store.load_conversation("resp_4", NOW) is not None
    assert await store.load_conversation("resp_0", NOW) is None  # dropped, the oldest first


async def test_storing_off_keeps_nothing(store):
    convos = Conversations(store, settings(store=False), clock=lambda: NOW)
    convos.save(record())
    await convos.flush()
    assert not convos.enabled and await convos.load("resp_a", Owner("key_1")) is None


async def test_expiry_purge_and_delete_through_the_writer(store):
    clock = [NOW]
    convos = Conversations(store, settings(retention_days=1), clock=lambda: clock[0])
    convos.save(record(days=1))
    await convos.flush()
    assert await convos.load("resp_a", Owner("key_1")) is not None
    clock[0] = NOW + DAY_S + 1
    assert await convos.load("resp_a", Owner("key_1")) is None  # expired in the cache as in the store
    assert await convos.purge() == 1 and convos.purged == 1
    clock[0] = NOW
    convos.save(record("resp_b"))
    assert await convos.delete("resp_b", Owner("key_2")) is False
    assert await convos.delete("resp_b", Owner("key_1")) is True
    assert await convos.load("resp_b", Owner("key_1")) is None


async def test_the_background_writer_flushes_and_stop_writes_the_rest(store):
    convos = Conversations(store, settings(flush_interval_s=0.01, purge_interval_s=0.01), clock=lambda: NOW)
    convos.start()
    convos.save(record())
    for _ in range(200):
        if convos.written:
            break
        await asyncio.sleep(0.01)
    assert convos.written == 1
    convos.save(record("resp_last"))
    await convos.stop()
    assert await store.load_conversation("resp_last", NOW) is not None


@pytest.mark.parametrize("days", [0, -1])
def test_retention_must_be_positive(days):
    with pytest.raises(ValueError):
        ResponsesSettings(retention_days=days)
