"""What admission costs a request: the admit stage (pipeline/admit.py, entry and exit) with the
in-process limiter and with the Redis one, on the event loop the gateway uses (uvloop).

    .venv/bin/python bench/limiter_overhead.py [--n 20000] [--redis redis://127.0.0.1:6379/0]

A limited key (rpm and tpm) in a group with max_concurrency: the most a request checks (two
scopes, three checks). Limits high enough that nothing is refused. Redis is timed one admission
at a time (entry and exit; and the entry alone, which is what a request waits for) and 32 at a
time (what one process gets through). Prints JSON; keys it wrote are deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

from seawall.config import LimitSettings
from seawall.limits.base import scope_limits
from seawall.limits.memory import MemoryLimiter
from seawall.limits.redis import RedisLimiter
from seawall.pipeline.admit import Admission
from seawall.pipeline.context import Principal, RequestContext
from seawall.providers.base import CanonicalRequest

SCOPES = (scope_limits("key", "bench_key", rpm=1_000_000, tpm=100_000_000, max_concurrency=None),
          scope_limits("group", "bench_group", rpm=None, tpm=None, max_concurrency=10_000))


def context() -> RequestContext:
    ctx = RequestContext("req_bench", "POST", "/v1/chat/completions", {}, "127.0.0.1")
    ctx.principal = Principal("bench_key", "bench", limits=SCOPES)
    ctx.request = CanonicalRequest("chat", "gpt-4o-mini", {"max_tokens": 100})
    return ctx


async def admissions(limiter, n: int, concurrency: int) -> float:
    """Seconds per admission (entry + exit), n admissions, `concurrency` at a time."""
    ctx = context()

    async def worker(count: int) -> None:
        for _ in range(count):
            async with Admission(ctx, limiter, 400):
                pass

    started = time.perf_counter()
    await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))
    return (time.perf_counter() - started) / (n // concurrency * concurrency)


async def entry_only(limiter, n: int) -> float:
    """Seconds per admission's entry, one at a time: what a request waits before it goes
    upstream (the exit, settling and releasing, runs once the reply is sent)."""
    ctx, spent = context(), 0.0
    for _ in range(n):
        admission = Admission(ctx, limiter, 400)
        started = time.perf_counter()
        await admission.__aenter__()
        spent += time.perf_counter() - started
        await admission.__aexit__(None, None, None)
    return spent / n


async def main(n: int, url: str) -> dict:
    memory = MemoryLimiter()
    await admissions(memory, n // 10, 1)  # warm-up
    mem_s = min([await admissions(memory, n, 1) for _ in range(3)])
    prefix = f"seawall:rl:bench-{uuid.uuid4().hex[:8]}:"
    redis = RedisLimiter(LimitSettings(redis_url=url, redis_timeout_ms=1000), prefix=prefix)
    try:
        assert await redis.ping(), f"no Redis at {url}"
        await admissions(redis, max(n // 20, 100), 1)
        seq_s = min([await admissions(redis, n // 4, 1) for _ in range(2)])
        entry_s = min([await entry_only(redis, n // 4) for _ in range(2)])
        conc_s = min([await admissions(redis, n, 32) for _ in range(2)])
        assert redis.stats()["redis_errors"] == 0, redis.stats()
    finally:
        keys = [k async for k in redis._client.scan_iter(match=prefix + "*")]
        if keys:
            await redis._client.delete(*keys)
        await redis.close()
    return {"admissions": n, "memory_us": round(mem_s * 1e6, 2), "redis_sequential_us": round(seq_s * 1e6, 1),
            "redis_entry_only_us": round(entry_s * 1e6, 1),
            "redis_32_concurrent_us": round(conc_s * 1e6, 1),
            "redis_sequential_per_memory": round(seq_s / mem_s, 1),
            "redis_admissions_per_s_one_process": round(1 / conc_s)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:
        runner = asyncio.Runner()
    with runner:
        print(json.dumps(runner.run(main(args.n, args.redis)), indent=2))
