#!/usr/bin/env python3
"""What the alerts cost a request: AlertMonitor.observe (the record stage's call, observe/alerts.py)
on typical request contexts, timed with timeit, next to the request-log row the same stage builds.

    .venv/bin/python bench/alerts_cost.py [--n 200000]

Rows: µs per call for a successful chat request (one attempt), a streamed one, a request that
failed over (two attempts, the first a 429), and to_record (the log row) for scale. The monitor's
evaluation runs on its timer every alerts.interval_s, not per request; its cost per tick is shown
too, for the windows these requests filled.
"""

from __future__ import annotations

import argparse
import time
import timeit

from seawall.config.alerts import AlertSettings
from seawall.observe.alerts import AlertMonitor
from seawall.pipeline.context import RequestContext, new_request_id
from seawall.pipeline.record import to_record
from seawall.providers.base import AttemptRecord


def context(attempts: list[tuple[str, int, str | None]], streamed: bool = False) -> RequestContext:
    ctx = RequestContext(new_request_id(), "POST", "/v1/chat/completions", {}, "127.0.0.1")
    ctx.status, ctx.deployment, ctx.streamed = 200, attempts[-1][0], streamed
    ctx.stream_end = "completed" if streamed else None
    ctx.attempts = [AttemptRecord(d, status=s, category=c) for d, s, c in attempts]
    return ctx


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    n = parser.parse_args().n
    monitor = AlertMonitor(AlertSettings(), lambda: [], lambda: 0)
    cases = {
        "chat, one attempt": context([("openai-main", 200, None)]),
        "stream, one attempt": context([("openai-main", 200, None)], streamed=True),
        "429 then fallback": context([("openai-main", 429, "rate_limit.requests"), ("openai-backup", 200, None)]),
    }
    for name, ctx in cases.items():
        best = min(timeit.repeat(lambda c=ctx: monitor.observe(c), number=n, repeat=5)) / n
        print(f"observe, {name:<22} {best * 1e6:6.2f} µs")
    ctx = cases["chat, one attempt"]
    best = min(timeit.repeat(lambda: to_record(ctx), number=n, repeat=5)) / n
    print(f"to_record (log row), for scale  {best * 1e6:6.2f} µs")
    started = time.perf_counter()
    monitor.tick(time.time())
    print(f"one evaluation tick (every {monitor.settings.interval_s:g} s): {(time.perf_counter() - started) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
