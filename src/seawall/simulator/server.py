"""Serving the simulator: standalone (``run``) or inside the caller's event loop
(``serve_on_socket``), both with uvicorn, uvloop when available, and httptools.

Settings shared by both, and why:
- ``timeout_keep_alive=75``: nginx's default. Uvicorn's 5 s is shorter than most clients'
  pool idle times (aiohttp keeps connections 15 s), so a pooled client would keep reusing
  connections the server has just closed and see spurious disconnects.
- ``server_header=False``: replies carry ``server: cloudflare`` like api.openai.com's.
- no access log: a benchmark upstream should not spend its time logging.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import socket
import sys
from collections.abc import Iterator

import uvicorn

from seawall.simulator.app import build_app
from seawall.simulator.config import SimulatorSettings, load_simulator_settings

KEEP_ALIVE_SECONDS = 75
BACKLOG = 2048


def _config(settings: SimulatorSettings, *, embedded: bool, tls: tuple[str, str] | None = None) -> uvicorn.Config:
    config = uvicorn.Config(
        build_app(settings),
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",
        http="httptools",
        ws="none",
        lifespan="on",
        interface="asgi3",
        server_header=False,
        proxy_headers=False,  # no proxy in front; saves a middleware hop per request
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        backlog=BACKLOG,
        # Embedded, the process's logging belongs to the gateway: no dictConfig, no levels.
        log_config=None if embedded else uvicorn.config.LOGGING_CONFIG,
        log_level=None if embedded else "warning",
        # access_log=False would also strip the handlers of the process-wide "uvicorn.access"
        # logger (Config.configure_logging), silencing an embedding gateway's own access log;
        # so it is switched off after construction, where only this server's protocol reads it.
        access_log=True,
        # https: to play a provider behind TLS (a private CA's certificate, in the proxy tests)
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    config.access_log = False
    return config


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves the host process alone and stops promptly."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # Signals belong to the embedding application; uvicorn would otherwise replace its
        # SIGINT/SIGTERM handlers for as long as the simulator runs.
        yield

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Requests held open on purpose (hang, stall_after) never finish by themselves, and
        # uvicorn's graceful shutdown would wait for them forever. The owner is going away, so
        # abort them. No await before super().shutdown() closes the listeners, so no new
        # connection can slip in between.
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        await super().shutdown(sockets)


def _display_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def run(host: str, port: int, config_path: str | None, tls: tuple[str, str] | None = None) -> None:
    """Serve until interrupted. Binds first, then prints ``seawall simulator listening on
    http://HOST:PORT/v1`` (https with `tls`: certificate and key files; the real port when
    ``port`` is 0) and flushes, so a parent process can wait for that line and connect at once:
    the socket already listens."""
    settings = load_simulator_settings(config_path)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family, backlog=BACKLOG)
    actual_port = sock.getsockname()[1]
    server = uvicorn.Server(_config(settings, embedded=False, tls=tls))
    scheme = "https" if tls else "http"
    sys.stdout.write(f"seawall simulator listening on {scheme}://{_display_host(host)}:{actual_port}/v1\n")
    sys.stdout.flush()
    # uvicorn re-raises the signal that stopped it once shut down; for Ctrl-C that is a
    # KeyboardInterrupt, which uvicorn.run() also swallows.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])


async def serve_on_socket(settings: SimulatorSettings, sock: socket.socket) -> None:
    """Serve on an already-bound socket inside the running event loop until cancelled.

    On cancellation the server stops accepting, aborts open connections, runs the app's
    lifespan shutdown, closes ``sock`` and then re-raises ``CancelledError``.
    """
    server = _EmbeddedServer(_config(settings, embedded=True))
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        # Cancelling serve() itself would skip uvicorn's shutdown and leave the listener open;
        # ask it to exit instead (it checks every 0.1 s) and wait for that.
        server.should_exit = True
        await serving
        raise
