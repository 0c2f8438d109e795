"""`seawall serve --workers N`: a supervisor process and N worker processes serving one port.

The supervisor does the one-time work (the config's checks, the store's migrations, key
provisioning, the embedded simulator, the console's socket), starts the workers, restarts one that
dies (after decide/workers.py's backoff) and drains them all on SIGTERM or SIGINT, then exits 0.
Each worker runs the gateway as one process does (server.run_gateway) on a socket of its own
bound with SO_REUSEPORT: the kernel spreads new connections over the workers, and a dead one's
share goes to the others. Where SO_REUSEPORT doesn't spread them, the workers share one listening
socket the supervisor made.

Each worker's event loop writes the time to a value it shares with the supervisor every second
(its heartbeat): one silent for server.worker_timeout_s is blocked, not dead, and the supervisor
kills it with SIGKILL and restarts it like one that died. One that has not said it serves within
server.worker_start_timeout_s (stuck connecting to its store, say) is killed the same way.

The console is served by worker 1 alone, on a socket the supervisor holds (so it stays bound, and
its waiting connections stay queued, while worker 1 restarts): a console page reads one process's
live state (its queues, its sessions), which would change from request to request were each
served by whichever worker the kernel picked.

Written here rather than taken from uvicorn's Multiprocess supervisor, which restarts a dead
worker at once (a crash loop spins), logs no exit status, runs a bare uvicorn.Server per worker
(ours builds the gateway, its limiter and console) and numbers no workers. Processes are
multiprocessing's, started by spawn: a fresh interpreter, none of the supervisor's event loop,
simulator or store connections carried over.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from seawall.config import Settings
from seawall.decide.workers import (HEARTBEAT_S, hung, restart_delay, start_overdue, worker_instances,
                                    workers_problem)
from seawall.observe.worker_metrics import WorkerFiles, forget_worker, merged_registry
from seawall.server import (Launch, ServeOptions, StartError, banner, bind, bind_console, check_providers,
                            console_url, loop_runner, open_files_line, open_store, provisioner, resolve_config,
                            run_gateway, start_embedded_simulator)

log = logging.getLogger("seawall")

# Linux spreads a port's connections over every socket bound to it with SO_REUSEPORT; on macOS and
# the BSDs the option lets them bind but one socket gets every connection.
REUSE_PORT = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
# How stale another worker's counters may be in a scrape (observe/worker_metrics.py): well under
# Prometheus' usual 15-60 s scrape interval, and each copy holds the event loop ~2 ms.
METRICS_COPY_S = 5.0
KILL_GRACE_S = 10.0  # after the drain: a worker still there is killed


@dataclass(frozen=True)
class Plan:
    """What every worker starts with (pickled to it)."""
    settings: Settings
    options: ServeOptions  # its port the one the supervisor holds (not 0)
    environ: dict[str, str]
    simulator_url: str | None
    metrics_dir: str


@dataclass
class Slot:
    """Worker number `number`: its current process, and how its last start went."""
    number: int
    process: multiprocessing.Process | None = None
    conn: Connection | None = None
    started_at: float = 0.0
    delay: float = 0.0  # the backoff before its latest start
    ready: bool = False
    killed_because: str = ""  # why the watchdog killed its current process, for the exit's log line
    beat: object = None  # a shared double: time.monotonic() of the worker's latest heartbeat


async def supervise(settings: Settings, options: ServeOptions, environ: dict[str, str]) -> None:
    for handler in logging.getLogger().handlers:  # the workers' lines say which worker wrote them; these, this
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [supervisor] %(name)s: %(message)s"))
    problem = workers_problem(options.workers, settings.limits.redis_url)
    if problem:
        raise StartError(problem)
    check_providers(settings)
    async with contextlib.AsyncExitStack() as stack:
        sock = bind(options.host, options.port, listen=not REUSE_PORT)
        if REUSE_PORT:  # bound without SO_REUSEPORT first: a port another gateway's workers use is refused
            port = sock.getsockname()[1]
            sock.close()
            sock = bind(options.host, port, reuse_port=True, listen=False)  # holds the port, takes no connection
        stack.callback(sock.close)
        store, secret = await open_store(options)
        provision, printed = provisioner(secret, options)
        try:
            await store.open()  # migrations, once, before any worker opens it
            await provision(store)
        finally:
            await store.close()
        simulator_url = None
        if settings.uses_embedded_simulator:  # one for all workers, in this process
            simulator, simulator_url = start_embedded_simulator(settings)
            stack.push_async_callback(stop_task, simulator)
        resolve_config(settings, environ, simulator_url)  # refused here once, not by every worker
        console_sock = bind_console(settings, options)
        if console_sock is not None:
            stack.callback(console_sock.close)
        metrics_dir = tempfile.mkdtemp(prefix="seawall-metrics-")
        stack.callback(shutil.rmtree, metrics_dir, True)
        host, port = sock.getsockname()[:2]
        plan = Plan(settings, dataclasses.replace(options, port=port), environ, simulator_url, metrics_dir)
        supervisor = Supervisor(plan, None if REUSE_PORT else sock, console_sock)

        def say_started(pids: list[int]) -> None:
            capacity = "\n".join(filter(None, [
                f"Workers: {len(pids)} processes (pids {', '.join(map(str, pids))}), supervisor pid {os.getpid()}",
                open_files_line(len(pids))]))
            print(banner(f"http://{host}:{port}/v1", printed.get("key"), options, settings,
                         printed.get("admin_key"),
                         console_url(settings, console_sock) if console_sock else None, capacity), flush=True)

        await supervisor.run(say_started)


async def stop_task(task: asyncio.Task) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class Supervisor:
    def __init__(self, plan: Plan, shared_sock: socket.socket | None, console_sock: socket.socket | None):
        self._plan, self._shared_sock, self._console_sock = plan, shared_sock, console_sock
        self._slots = [Slot(n) for n in range(1, plan.options.workers + 1)]
        self._events: asyncio.Queue[tuple[str, Slot | int]] = asyncio.Queue()
        self._stopping = False
        self._context = multiprocessing.get_context("spawn")

    async def run(self, on_started) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._events.put_nowait, ("signal", sig))
        try:
            for slot in self._slots:
                self._start(slot)
            watchdog = asyncio.create_task(self._watch(), name="worker-watchdog")
            try:
                if await self._until_all_ready():
                    on_started([slot.process.pid for slot in self._slots])
                    await self._supervise()
            finally:
                await stop_task(watchdog)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self._stop_all()

    async def _until_all_ready(self) -> bool:
        """Every worker serving (True), or stopped by a signal first (False); a worker that ends
        before it serves fails the start (it would again)."""
        while not all(slot.ready for slot in self._slots):
            kind, what = await self._events.get()
            if kind == "signal":
                log.info("%s while the workers started: stopping them", signal.Signals(what).name)
                return False
            if kind == "exit":
                raise StartError(f"worker {what.number} {self._ended(what)} before it served; see its log lines "
                                 f"above")
        return True

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            kind, what = await self._events.get()
            if kind == "signal":
                log.info("%s: draining %d workers (server.drain_timeout_s: %g s)",
                         signal.Signals(what).name, len(self._slots), self._plan.settings.server.drain_timeout_s)
                return
            if kind == "ready":
                log.info("worker %d is serving again (pid %d)", what.number, what.process.pid)
            elif kind == "exit":
                slot = what
                delay = restart_delay(time.monotonic() - slot.started_at, slot.delay)
                log.warning("worker %d (pid %d) %s after %.1f s; starting it again%s", slot.number,
                            slot.process.pid, self._ended(slot), time.monotonic() - slot.started_at,
                            f" in {delay:g} s" if delay else "")
                self._forget(slot)
                slot.delay = delay
                loop.call_later(delay, self._restart, slot)

    async def _watch(self) -> None:
        """Kill a worker whose heartbeat stopped, or that never came to serve: its death is then
        handled as any other (restarted, or failing the gateway's own start)."""
        server = self._plan.settings.server
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            now = time.monotonic()
            for slot in self._slots:
                if slot.process is None or slot.process.exitcode is not None or slot.killed_because:
                    continue
                if slot.ready and hung(slot.beat.value, now, server.worker_timeout_s):
                    self._kill(slot, f"sent no heartbeat for {now - slot.beat.value:.1f} s (server.worker_timeout_s: "
                                     f"{server.worker_timeout_s:g}): its event loop is blocked")
                elif not slot.ready and start_overdue(slot.started_at, now, server.worker_start_timeout_s):
                    self._kill(slot, f"was not serving {now - slot.started_at:.1f} s after it started "
                                     f"(server.worker_start_timeout_s: {server.worker_start_timeout_s:g}): its start "
                                     f"is stuck (its store, Redis or the network?)")

    def _kill(self, slot: Slot, because: str) -> None:
        log.warning("worker %d (pid %d) %s; killing it", slot.number, slot.process.pid, because)
        slot.ready, slot.killed_because = False, because  # killed once; its exit restarts it
        slot.process.kill()

    def _restart(self, slot: Slot) -> None:
        if not self._stopping:
            self._start(slot)

    def _start(self, slot: Slot) -> None:
        ours, theirs = self._context.Pipe()
        console = self._console_sock if slot.number == 1 else None
        slot.beat = self._context.RawValue("d", time.monotonic())
        slot.process = self._context.Process(target=worker_main, name=f"seawall-worker-{slot.number}",
                                             args=(slot.number, self._plan, theirs, slot.beat, self._shared_sock,
                                                   console))
        slot.process.start()
        theirs.close()  # the worker's end lives in the worker: its EOF then tells it the supervisor is gone
        slot.conn, slot.ready, slot.started_at, slot.killed_because = ours, False, time.monotonic(), ""
        loop = asyncio.get_running_loop()
        loop.add_reader(slot.process.sentinel, self._on_exit, slot, slot.process)
        loop.add_reader(ours.fileno(), self._on_message, slot, ours)

    def _on_message(self, slot: Slot, conn: Connection) -> None:
        try:
            conn.recv()  # the only message: "ready"
            slot.ready = True
            self._events.put_nowait(("ready", slot))
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(conn.fileno())

    def _on_exit(self, slot: Slot, process: multiprocessing.Process) -> None:
        asyncio.get_running_loop().remove_reader(process.sentinel)
        process.join()
        if not self._stopping and slot.process is process:
            self._events.put_nowait(("exit", slot))

    def _forget(self, slot: Slot) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(ValueError, OSError):
            loop.remove_reader(slot.conn.fileno())
        slot.conn.close()
        forget_worker(self._plan.metrics_dir, slot.process.pid)

    @staticmethod
    def _ended(slot: Slot) -> str:
        code = slot.process.exitcode
        if code is not None and code < 0:
            because = f" (it {slot.killed_because})" if slot.killed_because else ""
            return f"was killed by {signal.Signals(-code).name}{because}"
        return f"exited with status {code}"

    async def _stop_all(self) -> None:
        """SIGTERM to every worker: each drains within server.drain_timeout_s (server.py
        DrainingServer); one still running well after that is killed."""
        self._stopping = True
        running = [s.process for s in self._slots if s.process is not None and s.process.exitcode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self._plan.settings.server.drain_timeout_s + KILL_GRACE_S
        for process in running:
            while process.exitcode is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if process.exitcode is None:
                log.warning("worker pid %d did not stop after its drain: killing it", process.pid)
                process.kill()
                process.join()
        for slot in self._slots:
            if slot.conn is not None:
                slot.conn.close()


# -- in each worker ---------------------------------------------------------------------------------

def worker_main(number: int, plan: Plan, conn: Connection, beat, shared_sock: socket.socket | None,
                console_sock: socket.socket | None) -> None:
    """A worker process's life: its log lines say which worker wrote them."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format=f"%(asctime)s %(levelname)s [worker {number}] %(name)s: %(message)s")
    try:
        with loop_runner() as runner:
            runner.run(serve_worker(plan, conn, beat, shared_sock, console_sock))
    except StartError as e:
        log.error("%s", e)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


async def serve_worker(plan: Plan, conn: Connection, beat, shared_sock: socket.socket | None,
                       console_sock: socket.socket | None) -> None:
    hang_at_start()
    options = plan.options
    limits = plan.settings.limits  # while Redis is down, each worker counts against its own share (limits/share.py)
    settings = plan.settings.model_copy(update={"limits": limits.model_copy(update={
        "instances": worker_instances(limits.instances, options.workers)})})
    store, secret = await open_store(options)
    routes, metrics_token = resolve_config(settings, plan.environ, plan.simulator_url)
    sock = shared_sock or bind(options.host, options.port, reuse_port=True)
    files: list[WorkerFiles] = []

    def started(app, server, api_url: str, console_url: str | None) -> None:
        loop = asyncio.get_running_loop()
        mine = WorkerFiles(plan.metrics_dir, app.collector)
        files.append(mine)
        app.registry = merged_registry(mine, plan.metrics_dir)
        loop.create_task(copy_metrics(mine, server), name="worker-metrics")
        server.on_drained.append(mine.write)  # its last counts, before uvicorn re-raises the SIGTERM
        loop.create_task(heartbeat(beat), name="worker-heartbeat")
        hang_on_request(loop)

        def supervisor_gone() -> None:  # its end of the pipe closed: it died without draining us
            loop.remove_reader(conn.fileno())
            log.warning("the supervisor is gone: draining")
            server.should_exit = True

        loop.add_reader(conn.fileno(), supervisor_gone)
        conn.send("ready")

    try:
        await run_gateway(settings, options, plan.environ,
                          Launch(sock, store, secret, routes, metrics_token, console_sock, None), started)
    finally:
        for mine in files:
            mine.close()


async def copy_metrics(files: WorkerFiles, server) -> None:
    while not server.should_exit:
        files.write()
        await asyncio.sleep(METRICS_COPY_S)


async def heartbeat(beat) -> None:
    while True:
        beat.value = time.monotonic()
        await asyncio.sleep(HEARTBEAT_S)


def hang_at_start() -> None:
    """For the tests alone (SEAWALL_TEST_HANG_AT_START=<file>): while that file exists, a starting
    worker blocks before it serves, as one whose store never answers would."""
    flag = os.environ.get("SEAWALL_TEST_HANG_AT_START")
    if flag and os.path.exists(flag):
        time.sleep(3600)


def hang_on_request(loop: asyncio.AbstractEventLoop) -> None:
    """For the tests alone (SEAWALL_TEST_HANG_ON_SIGUSR1=1): SIGUSR1 blocks this worker's event
    loop, as a stuck C call would, so the supervisor's watchdog can be seen to kill it."""
    if os.environ.get("SEAWALL_TEST_HANG_ON_SIGUSR1") == "1":
        loop.add_signal_handler(signal.SIGUSR1, time.sleep, 3600)
