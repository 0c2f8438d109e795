"""How long a circuit opened in one gateway process takes to be open in another (cluster/circuits.py):
two processes, each with its own Retrier and CircuitBoard on one Redis; A opens (then closes) a
breaker the way the attempt loop does, B watches its own breakers every millisecond.

    .venv/bin/python bench/cluster_propagation.py [--n 40] [--redis redis://127.0.0.1:6379/0]

Both processes read the same wall clock (one machine). Prints JSON: the delay to see an opening
and a closing, in ms (p50, p95, max). The poll interval (POLL_S, 0.25 s) bounds it from above
when B's poll is the one that finds the change; keys it wrote are deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import statistics
import time
import uuid


def _board(url: str, prefix: str):
    from seawall.cluster.circuits import CircuitBoard
    from seawall.cluster.link import Link
    from seawall.pipeline.attempt import Retrier
    from seawall.pipeline.health import Prober

    retrier = Retrier()
    board = CircuitBoard(Link(url, prefix=prefix), retrier, Prober(retrier.health, [], None))
    return retrier, board


def opener(url: str, prefix: str, orders: mp.Queue, done: mp.Queue) -> None:
    from seawall.decide.breaker import CLOSED, Breaker

    async def run() -> None:
        retrier, board = _board(url, prefix)
        board.start()
        while (order := await asyncio.to_thread(orders.get)) is not None:
            b = Breaker("open", 0, time.monotonic() + 60, 60.0) if order == "open" else CLOSED
            done.put(time.time())
            retrier.set_breaker("dep", b)
        await board.stop()

    asyncio.run(run())


def watcher(url: str, prefix: str, wanted: mp.Queue, seen: mp.Queue) -> None:
    async def run() -> None:
        retrier, board = _board(url, prefix)
        await board.poll()
        board.start()
        while (state := await asyncio.to_thread(wanted.get)) is not None:
            while retrier.breakers.get("dep") is None or retrier.breakers["dep"].state != state:
                await asyncio.sleep(0.001)
            seen.put(time.time())
        await board.stop()

    asyncio.run(run())


def summary(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"p50": round(statistics.median(ms), 1), "p95": round(ms[int(len(ms) * 0.95) - 1], 1),
            "max": round(ms[-1], 1), "n": len(ms)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    prefix = f"seawall-bench:{uuid.uuid4().hex}:"
    ctx = mp.get_context("spawn")
    orders, done, wanted, seen = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Queue()
    a = ctx.Process(target=opener, args=(args.redis, prefix, orders, done))
    b = ctx.Process(target=watcher, args=(args.redis, prefix, wanted, seen))
    a.start(), b.start()
    time.sleep(2)  # both started and polling
    delays: dict[str, list[float]] = {"open": [], "closed": []}
    for i in range(args.n):
        state = "open" if i % 2 == 0 else "closed"
        wanted.put(state)
        orders.put(state)
        sent = done.get(timeout=10)
        delays[state].append((seen.get(timeout=10) - sent) * 1000)
        time.sleep(random.uniform(0.05, 0.3))  # not in step with B's poll: a change comes at any moment of it
    orders.put(None), wanted.put(None)
    a.join(10), b.join(10)

    async def clean() -> None:
        import redis.asyncio as aioredis

        r = aioredis.Redis.from_url(args.redis)
        keys = await r.keys(prefix + "*")
        if keys:
            await r.delete(*keys)
        await r.aclose()

    asyncio.run(clean())
    print(json.dumps({"poll_s": 0.25, "opened_ms": summary(delays["open"]), "closed_ms": summary(delays["closed"])}))


if __name__ == "__main__":
    main()
