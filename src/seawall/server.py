"""Run the gateway process: bind the port, start the embedded simulator when the config uses it,
provision keys (provisioning.py), serve with uvicorn (uvloop + httptools), print how to call it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import uvicorn

from seawall.accept import Listener, listen
from seawall.app import Gateway
from seawall.config import ConfigError, LimitSettings, Settings, resolve_metrics_token, resolve_secrets
from seawall.connections import GuardedProtocol
from seawall.decide.workers import streams_allowed
from seawall.keyring import SECRET_META, load_or_create_secret, load_or_create_shared_secret
from seawall.limits.base import RemoteLimiter
from seawall.limits.redis import RedisLimiter
from seawall.limits.sharing import share
from seawall.providers.network import TLSSettingsError
from seawall.providers.registry import adapter_for, task_adapter_for
from seawall.provisioning import provision_admin_key, provision_key, write_admin_key
from seawall.store.base import Store
from seawall.store.postgres import PostgresStore, StoreUnavailable, redact_url
from seawall.store.sqlite import SQLiteStore

log = logging.getLogger("seawall")


@dataclass(frozen=True, slots=True)
class ServeOptions:
    host: str
    port: int
    data_dir: str
    demo: bool  # no config file: the embedded default
    bootstrap_key: str | None  # SEAWALL_BOOTSTRAP_KEY: a known first key for automation
    admin_key: str | None = None  # SEAWALL_ADMIN_KEY: the admin API's key; else one made at first start
    database_url: str | None = None  # PostgreSQL shared with other gateways; None = SQLite in data_dir
    database_url_source: str = "store.url"  # where it came from, to name it when it doesn't work
    console_port: int | None = None  # --console-port: overrides console.port
    workers: int = 1  # --workers: more than one runs a supervisor and worker processes (workers.py)


class StartError(Exception):
    """The gateway can't start; the message says why and what to do."""


def bind(host: str, port: int, fix: str = "Pick another port with --port.", reuse_port: bool = False,
         listen: bool = True) -> socket.socket:
    """A listening socket; with reuse_port, one of several processes' sockets on the same port
    (workers.py), and with listen=False one that only holds the port for them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise StartError(f"cannot listen on {host}:{port}: {e.strerror} — is another process (another "
                         f"seawall?) using it? {fix}") from None
    if listen:
        sock.listen(4096)
    sock.setblocking(False)
    return sock


def check_providers(settings: Settings) -> None:
    missing = sorted({d.provider for m in settings.models for d in m.deployments if adapter_for(d.provider) is None})
    if missing:
        raise StartError(f"provider(s) {', '.join(missing)} are accepted by the config but not available in this "
                         f"version; use provider: openai (any OpenAI-compatible API) for now")


class ConsoleServer(uvicorn.Server):
    """The console's listener, beside the API's in the same process and loop. Signals are the API
    server's to catch (one handler per signal: a second server would take them over); it stops
    the console when it stops."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def bind_console(settings: Settings, options: ServeOptions) -> socket.socket | None:
    if not settings.console.enabled:
        return None
    port = settings.console.port if options.console_port is None else options.console_port
    return bind(settings.console.host, port, "The console needs a port of its own: pick another with --console-port "
                                             "or console.port (console.enabled: false serves no console).")


@dataclass
class Launch:
    """What one gateway process serves with, once the one-time work is done (here for one process;
    by the supervisor and each worker with --workers, workers.py)."""
    sock: socket.socket
    store: Store
    secret: bytes
    routes: dict
    metrics_token: str | None
    console_sock: socket.socket | None
    provision: Callable[[Store], Awaitable[None]] | None


OnStarted = Callable[["Gateway", "DrainingServer", str, "str | None"], None]


async def serve(settings: Settings, options: ServeOptions, environ: dict[str, str]) -> None:
    check_providers(settings)
    sock = bind(options.host, options.port)
    try:  # before the embedded simulator starts: a refused database then leaves nothing running
        store, secret = await open_store(options)
    except StartError:
        sock.close()
        raise
    sim_task, sim_url = None, None
    if settings.uses_embedded_simulator:
        sim_task, sim_url = start_embedded_simulator(settings)
    try:
        routes, metrics_token = resolve_config(settings, environ, sim_url)
        console_sock = bind_console(settings, options)  # after the config's own problems: those come first
    except StartError:
        sock.close()
        await store.close()
        if sim_task:
            sim_task.cancel()
        raise
    provision, printed = provisioner(secret, options)

    def say_started(app: Gateway, server: DrainingServer, api_url: str, console_url: str | None) -> None:
        print(banner(api_url, printed.get("key"), options, settings, printed.get("admin_key"), console_url,
                     open_files_line(1)), flush=True)

    try:
        await run_gateway(settings, options, environ,
                          Launch(sock, store, secret, routes, metrics_token, console_sock, provision), say_started)
    finally:
        if sim_task:
            sim_task.cancel()


def resolve_config(settings: Settings, environ: dict[str, str], sim_url: str | None) -> tuple[dict, str | None]:
    """The routes (deployments with their keys) and the metrics token; a config problem refuses the start."""
    try:
        return resolve_secrets(settings, environ, sim_url), resolve_metrics_token(settings, environ)
    except ConfigError as e:
        raise StartError(e.render()) from None


def provisioner(secret: bytes, options: ServeOptions) -> tuple[Callable[[Store], Awaitable[None]], dict[str, str]]:
    """The start-up's key provisioning, and where it leaves the keys to print (key, admin_key)."""
    printed: dict[str, str] = {}

    async def provision(store: Store) -> None:
        # Gateways sharing a database provision one at a time: starting together on an empty one,
        # each would see no key and insert the same bootstrap key (a duplicate hash) or mint its
        # own admin key, of which only the last written would work.
        async with store.exclusive("provision") if isinstance(store, PostgresStore) else contextlib.nullcontext():
            key = await provision_key(store, secret, options)
            admin_key = await provision_admin_key(store, secret, options)
        if key:
            printed["key"] = key
        if admin_key:
            printed["admin_key"] = admin_key

    return provision, printed


async def run_gateway(settings: Settings, options: ServeOptions, environ: dict[str, str], launch: Launch,
                      on_started: OnStarted) -> None:
    """Build the app on launch's store and socket, serve until a signal drains it; on_started is
    called once it accepts connections."""
    sock, store = launch.sock, launch.store
    os.makedirs(options.data_dir, exist_ok=True)
    try:
        app = Gateway(settings, launch.routes, store, launch.secret, launch.provision, admin_key=options.admin_key,
                      metrics_token=launch.metrics_token, environ=environ)
    except TLSSettingsError as e:
        sock.close()
        await store.close()
        raise StartError(f"TLS settings: {e}") from None
    if settings.limits.redis_url:  # app.py builds the in-process limiter; a shared Redis replaces it
        app.pipeline.limiter = await shared_limiter(settings.limits)
        share(app.pipeline.limiter, app.quotas, app.pipeline.retrier)  # quotas, deployment caps, retry budgets
    server_settings = settings.server
    config = uvicorn.Config(app, http=functools.partial(GuardedProtocol, guard=app.connections), ws="none",
                            loop="none", lifespan="on", access_log=False, log_level="warning",
                            timeout_keep_alive=server_settings.keepalive_idle_s, server_header=False,
                            # on SIGTERM: requests in flight get this long, then are cancelled (app.py ends them)
                            timeout_graceful_shutdown=server_settings.drain_timeout_s,
                            # X-Forwarded-For is judged by the access stage against configured
                            # trusted proxies, not rewritten blindly for every request.
                            proxy_headers=False)
    server = DrainingServer(config, app)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.02)
    console_sock = launch.console_sock
    console, console_task, console_url = None, None, None
    if server.started and console_sock is not None:
        console, console_url = start_console(app, settings, console_sock)
        console_task = asyncio.create_task(console.serve(sockets=[console_sock]), name="console")
    if server.started:
        host, port = sock.getsockname()[:2]
        on_started(app, server, f"http://{host}:{port}/v1", console_url)
    try:
        await task
    finally:
        if console is not None:
            console.should_exit = True
            await console_task
        elif console_sock is not None:
            console_sock.close()
        if isinstance(app.pipeline.limiter, RemoteLimiter):
            await app.pipeline.limiter.close()
    if not server.started:
        raise StartError("the gateway failed to start; see the log lines above")


def start_console(app: Gateway, settings: Settings, sock: socket.socket) -> tuple[uvicorn.Server, str]:
    from seawall.console.pages import ConsoleApp

    c = settings.console
    # the same connection guard as the API's (head size and time caps, stalled heads per address)
    config = uvicorn.Config(ConsoleApp(app, c.session_ttl_s), http=functools.partial(GuardedProtocol, guard=app.connections),
                            ws="none", loop="none", lifespan="off",
                            access_log=False, log_level="warning", server_header=False, proxy_headers=False,
                            ssl_certfile=c.tls_cert_file, ssl_keyfile=c.tls_key_file)
    return ConsoleServer(config), console_url(settings, sock)


def console_url(settings: Settings, sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if settings.console.tls_cert_file else 'http'}://{shown}:{port}/console"


class DrainingServer(uvicorn.Server):
    """uvicorn's server, telling the app when it starts to drain (SIGTERM): /readyz then says so,
    and the requests uvicorn cancels after server.drain_timeout_s are ended well (Gateway._http)."""

    def __init__(self, config: uvicorn.Config, app: Gateway):
        super().__init__(config)
        self._app = app
        # called once drained: uvicorn then re-raises the SIGTERM it caught, ending the process
        # before anything after serve() runs
        self.on_drained: list[Callable[[], None]] = []
        self.listeners: list[Listener] = []

    async def startup(self, sockets=None) -> None:
        # uvicorn's listener (libuv's) accepts one connection per loop turn: accept.py's take all waiting
        await super().startup(sockets=[] if sockets else sockets)
        if self.started and sockets:
            self.listeners = listen(self, sockets)

    async def shutdown(self, sockets=None) -> None:
        self._app.begin_drain()
        for listener in self.listeners:
            await listener.close()
        await super().shutdown(sockets)
        for drained in self.on_drained:
            drained()


async def shared_limiter(limits: LimitSettings) -> RedisLimiter:
    """Rate limits counted in Redis. An unreachable Redis does not stop the start: it is an
    outage like one at run time, answered by limits.on_redis_error, and said here once."""
    limiter = RedisLimiter(limits)
    if await limiter.ping():
        log.info("rate limits: counted in Redis at %s, shared with every gateway using it", limiter.where)
    return limiter


async def open_store(options: ServeOptions) -> tuple[Store, bytes]:
    """The store and the server secret: SQLite and the secret file in the data dir, or PostgreSQL
    and the secret shared through it. PostgreSQL is opened here, before the app, so that a bad or
    unreachable database refuses the start with what to check instead of a traceback."""
    if not options.database_url:
        return SQLiteStore(os.path.join(options.data_dir, "seawall.db")), load_or_create_secret(options.data_dir)
    store = PostgresStore(options.database_url)
    try:
        await store.open()
        return store, await load_or_create_shared_secret(store)
    except StoreUnavailable as e:
        await store.close()
        raise StartError(f"{options.database_url_source}: {e}") from None


def start_embedded_simulator(settings: Settings) -> tuple[asyncio.Task, str]:
    from seawall.simulator.config import SimulatorSettings
    from seawall.simulator.server import serve_on_socket

    sock = bind("127.0.0.1", 0)
    sim = SimulatorSettings(stream_interval_ms=settings.simulator.stream_interval_ms)
    task = asyncio.create_task(serve_on_socket(sim, sock), name="embedded-simulator")
    return task, f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


async def reset_admin_key(database_url: str | None, data_dir: str) -> str:
    """`seawall admin reset-key`: a new admin key, written to the gateway's own store. Only who can
    read that store (the data dir's files, or the database's credentials) can do it: local access."""
    if database_url:
        store: Store = PostgresStore(database_url)
    elif os.path.exists(os.path.join(data_dir, "server.secret")):
        store = SQLiteStore(os.path.join(data_dir, "seawall.db"))
    else:
        raise StartError(f"no gateway data in {data_dir} (no server.secret there): pass the --data-dir the "
                         f"gateway runs with")
    try:
        await store.open()
        secret = await store.get_meta(SECRET_META) if database_url else load_or_create_secret(data_dir).hex()
        if secret is None:
            raise StartError("no gateway has started on this database yet: start one, and it prints an admin key")
        return await write_admin_key(store, bytes.fromhex(secret))
    except StoreUnavailable as e:
        raise StartError(str(e)) from None
    finally:
        await store.close()


def banner(base_url: str, key: str | None, options: ServeOptions, settings: Settings,
           admin_key: str | None = None, console_url: str | None = None, capacity: str | None = None) -> str:
    models = [m.name for m in settings.models]
    shown_key = key or "<your sk-sw- key>"
    mode = "embedded default: the built-in simulator plays the provider" if options.demo else "config"
    lines = [f"Seawall is listening on {base_url}  ({mode})",
             f"Models: {', '.join(models)}"]
    if key:
        lines.append(f"API key ({'demo key, the same at every start with this data dir' if options.demo else 'shown only once: store it now'}): {key}")
    elif options.bootstrap_key:
        lines.append("API key: the value of SEAWALL_BOOTSTRAP_KEY")
    if admin_key:
        lines.append(f"Admin key (for seawall keys / groups; shown only once: store it now): {admin_key}")
    elif options.admin_key:
        lines.append("Admin key: the value of SEAWALL_ADMIN_KEY")
    else:
        lines.append(f"Admin key: the one printed at the first start (lost it? seawall admin reset-key "
                     f"{log_source(options)})")
    lines += ["", "Try it:", *try_it(base_url, shown_key, settings), "",
              f"Request log: seawall logs {log_source(options)}     Stop: Ctrl+C"]
    if console_url:
        lines.insert(-1, f"Console: {console_url}  (sign in with the admin key, or an sk-sw- key for its own usage)")
    if capacity:
        lines.insert(2, capacity)
    return "\n".join(lines)


def try_it(base_url: str, key: str, settings: Settings) -> list[str]:
    """Calls that work for the configured models: a chat model's curl and Python; else an
    embeddings call; and a Midjourney submit when a model is served on the task API."""
    tasks = [m.name for m in settings.models if all(task_adapter_for(d.provider) for d in m.deployments)]
    others = [m.name for m in settings.models if m.name not in tasks]
    embeddings = {m.name for m in settings.models if any("embed" in n.lower() for n in (m.name, *(
        d.model or "" for d in m.deployments)))}
    chat = next((m for m in others if m not in embeddings), None)
    lines: list[str] = []
    if chat is not None:
        lines += [f"  curl {base_url}/chat/completions -H 'Authorization: Bearer {key}' \\",
                  "    -H 'Content-Type: application/json' \\",
                  f"    -d '{{\"model\": \"{chat}\", \"messages\": [{{\"role\": \"user\", \"content\": \"Hello!\"}}]}}'",
                  "",
                  "  # pip install openai (the gateway itself does not need it)",
                  "  from openai import OpenAI",
                  f"  client = OpenAI(base_url=\"{base_url}\", api_key=\"{key}\")",
                  f"  print(client.chat.completions.create(model=\"{chat}\", "
                  "messages=[{\"role\": \"user\", \"content\": \"Hello!\"}]).choices[0].message.content)"]
    elif others:
        lines += [f"  curl {base_url}/embeddings -H 'Authorization: Bearer {key}' \\",
                  "    -H 'Content-Type: application/json' \\",
                  f"    -d '{{\"model\": \"{others[0]}\", \"input\": \"Hello!\"}}'"]
    if tasks:
        root = base_url.removesuffix("/v1")
        lines += [*([""] if lines else []),
                  f"  curl {root}/mj/submit/imagine -H 'mj-api-secret: {key}' \\",
                  "    -H 'Content-Type: application/json' -d '{\"prompt\": \"a lighthouse at dawn\"}'",
                  f"  curl {root}/mj/task/<result>/fetch -H 'mj-api-secret: {key}'   # <result>: the submit's result"]
    return lines


def log_source(options: ServeOptions) -> str:
    """How `seawall logs` finds this gateway's log (the URL without its password: ask for it)."""
    if options.database_url:
        return f"--database-url '{redact_url(options.database_url)}'"
    return f"--data-dir {options.data_dir}"


def raise_open_file_limit() -> int | None:
    """Every connection is a file descriptor: take the hard limit rather than the soft one (often
    1,024), so a flood of connections meets the per-address caps of connections.py, not EMFILE.
    The soft limit now in force (inherited by worker processes), or None where there is none."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        return None if soft == resource.RLIM_INFINITY else soft
    except (ImportError, ValueError, OSError):  # no such limit (Windows), or not allowed: keep the soft one
        return None


def open_files_line(workers: int) -> str | None:
    """The banner's word on the open-file limit and the concurrent streams it leaves room for."""
    limit = raise_open_file_limit()  # already raised at start: this reads it
    if limit is None:
        return None
    where = "per process, " if workers > 1 else ""
    return (f"Open files: {limit:,} {where}about {streams_allowed(limit, workers):,} concurrent streams "
            f"(raise LimitNOFILE / ulimit -Hn for more)")


def loop_runner() -> asyncio.Runner:
    try:
        import uvloop

        return asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # uvloop has no Windows build
        return asyncio.Runner()


def run(settings: Settings, options: ServeOptions, environ: dict[str, str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    raise_open_file_limit()
    try:
        with loop_runner() as runner:
            if options.workers > 1:
                from seawall.workers import supervise

                runner.run(supervise(settings, options, environ))
            else:
                runner.run(serve(settings, options, environ))
    except StartError as e:
        print(f"seawall: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
