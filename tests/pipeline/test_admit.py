"""The admit stage: headers in, 429s out, slots released and tokens settled on every outcome."""

import asyncio

import pytest

from seawall.errors import SeawallError
from seawall.limits.base import Window, scope_limits
from seawall.limits.memory import MemoryLimiter
from seawall.pipeline.admit import (
    DEFAULT_COMPLETION_ESTIMATE,
    Admission,
    estimate_tokens,
    go_duration,
    limit_headers,
)
from seawall.pipeline.context import Principal, RequestContext
from seawall.providers.base import ApiRequest, Usage


def ctx_for(*scopes, body=None, operation="chat") -> RequestContext:
    ctx = RequestContext("req_1", "POST", "/v1/chat/completions", {}, "127.0.0.1")
    ctx.principal = Principal("key_a", "a", limits=tuple(s for s in scopes if s))
    ctx.request = ApiRequest(operation, "gpt-4o-mini", body if body is not None else {"max_tokens": 100})
    return ctx


RPM2 = scope_limits("key", "key_a", rpm=2, tpm=None, max_concurrency=None)
TPM1000 = scope_limits("key", "key_a", rpm=None, tpm=1000, max_concurrency=None)
ONE_AT_A_TIME = scope_limits("group", "team", rpm=None, tpm=None, max_concurrency=1)


async def test_a_key_without_limits_gets_no_headers():
    async with Admission(ctx_for(), MemoryLimiter(clock=lambda: 10**15), 400) as headers:
        assert headers == {}


async def test_headers_then_a_429_naming_the_limit():
    lim = MemoryLimiter(clock=lambda: 10**15)
    async with Admission(ctx_for(RPM2), lim, 40) as headers:
        assert headers == {"x-ratelimit-limit-requests": "2", "x-ratelimit-remaining-requests": "1",
                           "x-ratelimit-reset-requests": "30s"}
    async with Admission(ctx_for(RPM2), lim, 40) as headers:
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-reset-requests"] == "1m0s"
    with pytest.raises(SeawallError) as refused:
        async with Admission(ctx_for(RPM2), lim, 40):
            pass
    e = refused.value
    assert (e.status, e.code, e.category, e.type) == (429, "rate_limit_requests", "rate_limit.requests", "requests")
    assert (e.headers["retry-after-ms"], e.headers["retry-after"]) == ("30000", "30")
    assert "rpm=2" in e.hint and "key key_a" in e.hint


async def test_tokens_are_estimated_then_settled_with_usage():
    lim = MemoryLimiter(clock=lambda: 10**15)
    ctx = ctx_for(TPM1000, body={"max_tokens": 700})
    async with Admission(ctx, lim, 400) as headers:  # 400 bytes / 4 + 700 = 800
        assert headers["x-ratelimit-remaining-tokens"] == "200"
        ctx.usage = Usage(prompt_tokens=30, completion_tokens=20)
    async with Admission(ctx_for(TPM1000, body={"max_tokens": 700}), lim, 400) as headers:
        assert headers["x-ratelimit-remaining-tokens"] == "150"  # 1000 - 50 used - 800 estimated


async def test_a_tokens_refusal_and_a_request_that_can_never_fit():
    lim = MemoryLimiter(clock=lambda: 10**15)
    async with Admission(ctx_for(TPM1000, body={"max_tokens": 900}), lim, 0):
        pass  # no usage came back and nothing was streamed: refunded
    async with Admission(ctx_for(TPM1000, body={"max_tokens": 900}), lim, 0) as ctx_headers:
        assert ctx_headers["x-ratelimit-remaining-tokens"] == "100"
        with pytest.raises(SeawallError) as refused:
            async with Admission(ctx_for(TPM1000, body={"max_tokens": 200}), lim, 0):
                pass
    assert refused.value.code == "rate_limit_tokens" and refused.value.headers["retry-after"] == "6"
    with pytest.raises(SeawallError) as too_large:
        async with Admission(ctx_for(TPM1000, body={"max_tokens": 5000}), lim, 0):
            pass
    assert too_large.value.code == "rate_limit_request_too_large"
    assert too_large.value.headers["x-should-retry"] == "false" and "retry-after" not in too_large.value.headers


@pytest.mark.parametrize("outcome", ["ok", "error", "cancelled"])
async def test_a_concurrency_slot_is_released_on_every_outcome(outcome):
    lim = MemoryLimiter(clock=lambda: 10**15)
    held, go = asyncio.Event(), asyncio.Event()

    async def one() -> None:
        async with Admission(ctx_for(ONE_AT_A_TIME), lim, 0):
            held.set()
            await go.wait()
            if outcome == "error":
                raise SeawallError("upstream_timeout", {"deployment": "d", "seconds": 1})
            if outcome == "cancelled":
                await asyncio.sleep(10)

    task = asyncio.create_task(one())
    await held.wait()
    with pytest.raises(SeawallError) as busy:
        async with Admission(ctx_for(ONE_AT_A_TIME), lim, 0):
            pass
    assert busy.value.code == "rate_limit_concurrency" and busy.value.headers["retry-after"] == "1"
    go.set()
    await asyncio.sleep(0)
    if outcome == "cancelled":
        task.cancel()
    with pytest.raises((SeawallError, asyncio.CancelledError)) if outcome != "ok" else _nothing():
        await task
    assert lim.in_flight(ONE_AT_A_TIME) == 0


async def test_an_error_reply_carries_the_limit_headers():
    with pytest.raises(SeawallError) as failed:
        async with Admission(ctx_for(RPM2), MemoryLimiter(clock=lambda: 10**15), 0):
            raise SeawallError("upstream_timeout", {"deployment": "d", "seconds": 1}, headers={"retry-after": "7"})
    assert failed.value.headers["x-ratelimit-limit-requests"] == "2"
    assert failed.value.headers["retry-after"] == "7"  # the upstream's own wait is kept


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("body,operation,expected", [
    ({"max_tokens": 100}, "chat", 100 + 100),
    ({"max_completion_tokens": 50, "max_tokens": 100}, "chat", 100 + 50),
    ({}, "chat", 100 + DEFAULT_COMPLETION_ESTIMATE),
    ({"max_tokens": "lots"}, "chat", 100 + DEFAULT_COMPLETION_ESTIMATE),
    ({"input": "x"}, "embeddings", 100),
])
def test_estimate(body, operation, expected):
    assert estimate_tokens(ctx_for(body=body, operation=operation), 400) == expected


@pytest.mark.parametrize("reset_ns,expected", [(120_000_000, "120ms"), (1_000_000_000, "1s"),
                                               (360_000_000_000, "6m0s"), (1_500_000_001, "1.501s")])
def test_reset_is_a_go_duration(reset_ns, expected):
    assert limit_headers(Window(10, 5, reset_ns), None)["x-ratelimit-reset-requests"] == expected


@pytest.mark.parametrize("ns,expected", [(0, "0s"), (1, "1ms"), (999_000_001, "1s"), (59_999_000_000, "59.999s"),
                                         (60 * 10**9, "1m0s"), (61_500_000_000, "1m1.5s"), (3600 * 10**9, "1h0m0s")])
def test_go_duration_rounds_up_to_the_millisecond(ns, expected):
    assert go_duration(ns) == expected
