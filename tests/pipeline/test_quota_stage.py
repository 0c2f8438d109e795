"""The quota stage in process: what is charged for each way a request can end."""

import pytest

from seawall.errors import SeawallError
from seawall.keyring import key_record, new_key
from seawall.limits.quota import QuotaLedger
from seawall.pipeline.context import Principal, RequestContext
from seawall.pipeline.quota import Price, QuotaHold, priced
from seawall.providers.base import ApiRequest, Usage


async def setup(store, **quota):
    record = key_record(b"s" * 32, new_key(), "k", **quota)
    await store.insert_key(record)
    ledger = QuotaLedger(store)
    ledger.configure(await store.load_keys(), [])
    ctx = RequestContext("req_1", "POST", "/v1/chat/completions", {}, "127.0.0.1")
    ctx.principal = Principal(record.id, "k")
    ctx.request = ApiRequest("chat", "m", {"model": "m", "messages": []})
    return ledger, ctx, record.id


def hold(ctx, ledger, prompt: int, completion: int, **options) -> QuotaHold:
    """A hold estimating `prompt` tokens (body bytes / 4) and `completion` (the request's max_tokens)."""
    ctx.request.body["max_tokens"] = completion
    return QuotaHold(ctx, ledger, prompt * 4, **options)


async def test_no_reply_charges_nothing(store):
    ledger, ctx, key = await setup(store, quota_tokens=100)
    with pytest.raises(RuntimeError):
        async with hold(ctx, ledger, 20, 30):
            assert ledger.balance(key).held_tokens == 50
            raise RuntimeError("upstream failed")
    b = ledger.balance(key)
    assert (b.used_tokens, b.held_tokens) == (0, 0)


async def test_a_reply_is_charged_its_usage_and_one_without_usage_its_estimate(store):
    ledger, ctx, key = await setup(store, quota_tokens=1000)
    async with hold(ctx, ledger, 20, 30):
        ctx.status, ctx.usage = 200, Usage(7, 3)
    assert ledger.balance(key).used_tokens == 10
    ctx.usage = None
    async with hold(ctx, ledger, 20, 30):
        ctx.status = 200
    assert ledger.balance(key).used_tokens == 60


async def test_a_cut_stream_is_charged_the_prompt_and_the_chunks_delivered(store):
    ledger, ctx, key = await setup(store, quota_tokens=1000)
    with pytest.raises(ConnectionError):
        async with hold(ctx, ledger, 20, 300):
            ctx.streamed, ctx.chunks = True, 4
            raise ConnectionError("client gone")
    b = ledger.balance(key)
    assert (b.used_tokens, b.held_tokens) == (24, 0)


async def test_a_usd_quota_needs_a_price(store):
    ledger, ctx, key = await setup(store, quota_usd=1.0)
    with pytest.raises(SeawallError) as e:
        async with hold(ctx, ledger, 20, 30, price_of=lambda model: None):
            pass
    assert e.value.code == "quota_price_unknown" and "'m'" in e.value.message
    async with hold(ctx, ledger, 20, 30, price_of=lambda model: Price(1e-6, 2e-6, 1e-6, 1e-6)):
        assert ledger.balance(key).held_usd == pytest.approx(20e-6 + 60e-6)
        ctx.status, ctx.usage = 200, Usage(10, 5)
    assert ledger.balance(key).used_usd == pytest.approx(10e-6 + 10e-6)


async def test_a_key_without_quota_is_not_held(store):
    ledger, ctx, _ = await setup(store)
    async with hold(ctx, ledger, 20, 30) as held:
        assert held.hold is None


# Anthropic's list prices for claude-sonnet-4-5 (USD per token): input 3, output 15, cache reads 0.3
# (0.1x), 5-minute cache writes 3.75 (1.25x), per 1M.
SONNET = Price(3e-6, 15e-6, 0.3e-6, 3.75e-6)


@pytest.mark.parametrize("prompt,completion,read,write,usd", [
    (1000, 100, 0, 0, 1000 * 3e-6 + 100 * 15e-6),
    (1000, 100, 800, 0, 200 * 3e-6 + 800 * 0.3e-6 + 100 * 15e-6),  # a cache hit: 0.1x on what it served
    (1000, 100, 0, 800, 200 * 3e-6 + 800 * 3.75e-6 + 100 * 15e-6),  # a cache write: 1.25x
    (1000, 0, 300, 700, 300 * 0.3e-6 + 700 * 3.75e-6),
], ids=["no cache", "cache read", "cache write", "all cached"])
def test_cache_reads_and_writes_are_priced_as_the_provider_prices_them(prompt, completion, read, write, usd):
    assert priced(SONNET, prompt, completion, read, write) == pytest.approx(usd)


async def test_a_usd_quota_settles_cache_tokens_at_their_prices(store):
    ledger, ctx, key = await setup(store, quota_usd=1.0)
    async with hold(ctx, ledger, 20, 30, price_of=lambda model: SONNET):
        ctx.status, ctx.usage = 200, Usage(10_000, 50, cache_read_tokens=9_000, cache_write_tokens=500)
    assert ledger.balance(key).used_usd == pytest.approx(500 * 3e-6 + 9_000 * 0.3e-6 + 500 * 3.75e-6 + 50 * 15e-6)
