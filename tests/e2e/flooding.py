"""The flooding client of the tenant isolation test, in a module of its own: it runs in a spawned
process, which imports this module by name, and must not import the e2e conftest (a spawned
process's `conftest` may resolve to tests/conftest.py)."""

from __future__ import annotations

import asyncio
import time

import aiohttp

FLOOD_REQUESTS, FLOOD_CONCURRENCY = 200, 20
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


async def call(session: aiohttp.ClientSession, url: str, key: str) -> tuple[int, dict, float]:
    started = time.perf_counter()
    async with session.post(url, json=BODY, headers={"authorization": f"Bearer {key}"}) as r:
        body = await r.json()
        return r.status, body, time.perf_counter() - started


async def flood(url: str, key: str, started, stop) -> list[tuple[int, dict, float]]:
    """At least FLOOD_REQUESTS at FLOOD_CONCURRENCY, and on until `stop`: the flood lasts as long
    as the steady stream measured against it. `started` and `stop` are multiprocessing Events."""
    out: list[tuple[int, dict, float]] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        while len(out) < FLOOD_REQUESTS or not stop.is_set():
            out.append(await call(session, url, key))
            if len(out) >= FLOOD_CONCURRENCY:
                started.set()

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(FLOOD_CONCURRENCY)))
    return out


def flood_process(url: str, key: str, started, stop, results) -> None:
    """The flood in a process of its own: had it run on the test's event loop, the steady stream's
    latency would measure the flooding client's work too, not only the gateway's."""
    results.put(asyncio.run(flood(url, key, started, stop)))
