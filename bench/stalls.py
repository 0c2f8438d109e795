#!/usr/bin/env python3
"""Where the event loop stalls: `seawall serve` in this process, with probes, under any load.

  taskset -c 0 .venv/bin/python bench/stalls.py --report /tmp/stalls.txt -- serve --config gw.yaml --port 18100
  # drive it (wrk, bench/run's harness, ...), then SIGINT/SIGTERM it: the report is written on the way out

Probes (diagnostic only, none of this is in the product):
- a heartbeat on the loop every HEARTBEAT_S, and a watchdog thread that, when the heartbeat is
  older than --threshold-ms, takes the main thread's stack once per stall (sys._current_frames):
  a stall's duration and what the loop was doing while it lasted;
- gc.callbacks: every collection's generation and duration;
- with --debug, asyncio's debug mode with loop.slow_callback_duration = --threshold-ms (uvloop logs
  "Executing <Handle ...> took N seconds" for each slow callback).

The report groups stalls by the innermost frames of their stack, longest total first.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import os
import sys
import threading
import time
import traceback

HEARTBEAT_S = 0.001


class Probes:
    def __init__(self, threshold_s: float):
        self.threshold_s = threshold_s
        self.beat = time.perf_counter()
        self.stalls: list[tuple[float, list[str]]] = []  # (seconds, stack) per stall
        self.gc: collections.defaultdict[int, list[float]] = collections.defaultdict(list)
        self._gc_started = 0.0
        self._main = threading.main_thread().ident
        self._stop = threading.Event()

    # -- GC ------------------------------------------------------------------------------------
    def on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc[info["generation"]].append(time.perf_counter() - self._gc_started)

    # -- heartbeat (on the loop) and watchdog (a thread) ---------------------------------------
    async def heartbeat(self) -> None:
        while True:
            self.beat = time.perf_counter()
            await asyncio.sleep(HEARTBEAT_S)

    def watch(self) -> None:
        stack: list[str] | None = None
        began = 0.0
        while not self._stop.wait(HEARTBEAT_S):
            late = time.perf_counter() - self.beat
            if late > self.threshold_s and stack is None:
                began = self.beat
                frames = sys._current_frames()
                frame = frames.get(self._main)
                stack = [f"{os.path.relpath(fs.filename)}:{fs.lineno} {fs.name}"
                         for fs in traceback.extract_stack(frame)] if frame else ["?"]
                # other threads in Python code may hold the GIL the loop waits for: name their frame
                me = threading.get_ident()
                names = {t.ident: t.name for t in threading.enumerate()}
                stack += [f"  [thread {names.get(ident, ident)}] {os.path.relpath(f.f_code.co_filename)}:"
                          f"{f.f_lineno} {f.f_code.co_name}"
                          for ident, f in frames.items() if ident not in (me, self._main)]
            elif late <= self.threshold_s and stack is not None:
                self.stalls.append((self.beat - began, stack))
                stack = None

    def start(self) -> None:
        gc.callbacks.append(self.on_gc)
        threading.Thread(target=self.watch, name="stall-watchdog", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def report(self, depth: int) -> str:
        out = [f"stalls over {self.threshold_s * 1000:g} ms: {len(self.stalls)}"]
        if self.stalls:
            ds = sorted(d for d, _ in self.stalls)
            out.append(f"  duration ms: median {ds[len(ds) // 2] * 1000:.1f}, max {ds[-1] * 1000:.1f}, "
                       f"total {sum(ds) * 1000:.0f}")
            by_place: dict[tuple[str, ...], list[float]] = collections.defaultdict(list)
            for d, stack in self.stalls:
                own = [line for line in stack if not line.startswith("  [thread")]
                others = [line for line in stack if line.startswith("  [thread")]
                by_place[tuple(own[-depth:] + others)].append(d)
            for place, durations in sorted(by_place.items(), key=lambda kv: -sum(kv[1]))[:15]:
                out.append(f"\n  {len(durations)} stalls, total {sum(durations) * 1000:.0f} ms, "
                           f"max {max(durations) * 1000:.1f} ms, in:")
                out += [f"    {line}" for line in place]
        for gen in sorted(self.gc):
            ds = sorted(self.gc[gen])
            out.append(f"gc gen{gen}: {len(ds)} collections, total {sum(ds) * 1000:.1f} ms, "
                       f"max {ds[-1] * 1000:.2f} ms, over {self.threshold_s * 1000:g} ms: "
                       f"{sum(d > self.threshold_s for d in ds)}")
        return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", required=True, help="file the report is written to at exit")
    ap.add_argument("--threshold-ms", type=float, default=5.0)
    ap.add_argument("--depth", type=int, default=8, help="innermost frames that group stalls")
    ap.add_argument("--debug", action="store_true", help="asyncio debug mode, slow callbacks logged")
    ap.add_argument("--gc-stats", action="store_true", help="gc.DEBUG_STATS: each collection's generation sizes "
                                                              "and time, on stderr")
    ap.add_argument("seawall_args", nargs=argparse.REMAINDER, help="-- then `seawall` arguments")
    a = ap.parse_args()
    args = a.seawall_args[1:] if a.seawall_args[:1] == ["--"] else a.seawall_args

    from seawall import app as app_module
    from seawall.cli import main as seawall_main

    probes = Probes(a.threshold_ms / 1000)
    startup = app_module.Gateway.startup

    async def startup_with_probes(self) -> None:
        await startup(self)
        loop = asyncio.get_running_loop()
        if a.debug:
            loop.set_debug(True)
            loop.slow_callback_duration = a.threshold_ms / 1000
        self._probe_task = loop.create_task(probes.heartbeat())
        probes.start()
        if a.gc_stats:
            gc.set_debug(gc.DEBUG_STATS)

    app_module.Gateway.startup = startup_with_probes
    try:
        sys.argv = ["seawall", *args]
        seawall_main(standalone_mode=False)
    finally:
        probes.stop()
        with open(a.report, "w") as f:
            f.write(probes.report(a.depth))


if __name__ == "__main__":
    main()
