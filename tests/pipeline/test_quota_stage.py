"""The quota stage in process: what is charged for each way a request can end."""

import pytest

from seawall.errors import SeawallError
from seawall.keyring import key_record, new_key
from seawall.limits.quota import QuotaLedger
from seawall.pipeline.context import Principal, RequestContext
from seawall.pipeline.quota import QuotaHold
from seawall.providers.base import CanonicalRequest, Usage


async def setup(store, **quota):
    record = key_record(b"s" * 32, new_key(), "k", **quota)
    await store.insert_key(record)
    ledger = QuotaLedger(store)
    ledger.configure(await store.load_keys(), [])
    ctx = RequestContext("req_1", "POST", "/v1/chat/completions", {}, "127.0.0.1")
    ctx.principal = Principal(record.id, "k")
    ctx.request = CanonicalRequest("chat", "m", {"model": "m", "messages": []})
    return ledger, ctx, record.id


def hold(ctx, ledger, prompt: int, completion: int, **options) -> QuotaHold:
    """A hold estimating `prompt` tokens (body bytes / 4) and `completion` (the request's max_tokens)."""
    ctx.request.body["max_tokens"] = completion
    return QuotaHold(ctx, ledger, prompt * 4, **options)


async def test_no_reply_charges_nothing(store):
    ledger, ctx, key = await setup(store, quota_tokens=100)
    with pytest.raises(RuntimeError), hold(ctx, ledger, 20, 30):
        assert ledger.balance(key).held_tokens == 50
        raise RuntimeError("upstream failed")
    b = ledger.balance(key)
    assert (b.used_tokens, b.held_tokens) == (0, 0)


async def test_a_reply_is_charged_its_usage_and_one_without_usage_its_estimate(store):
    ledger, ctx, key = await setup(store, quota_tokens=1000)
    with hold(ctx, ledger, 20, 30):
        ctx.status, ctx.usage = 200, Usage(7, 3)
    assert ledger.balance(key).used_tokens == 10
    ctx.usage = None
    with hold(ctx, ledger, 20, 30):
        ctx.status = 200
    assert ledger.balance(key).used_tokens == 60


async def test_a_cut_stream_is_charged_the_prompt_and_the_chunks_delivered(store):
    ledger, ctx, key = await setup(store, quota_tokens=1000)
    with pytest.raises(ConnectionError), hold(ctx, ledger, 20, 300):
        ctx.streamed, ctx.chunks = True, 4
        raise ConnectionError("client gone")
    b = ledger.balance(key)
    assert (b.used_tokens, b.held_tokens) == (24, 0)


async def test_a_usd_quota_needs_a_price(store):
    ledger, ctx, key = await setup(store, quota_usd=1.0)
    with pytest.raises(SeawallError) as e, hold(ctx, ledger, 20, 30, price_of=lambda model: None):
        pass
    assert e.value.code == "quota_price_unknown" and "'m'" in e.value.message
    with hold(ctx, ledger, 20, 30, price_of=lambda model: (1e-6, 2e-6)):
        assert ledger.balance(key).held_usd == pytest.approx(20e-6 + 60e-6)
        ctx.status, ctx.usage = 200, Usage(10, 5)
    assert ledger.balance(key).used_usd == pytest.approx(10e-6 + 10e-6)


async def test_a_key_without_quota_is_not_held(store):
    ledger, ctx, _ = await setup(store)
    with hold(ctx, ledger, 20, 30) as held:
        assert held.hold is None
