"""`seawall` command line: parses arguments and dispatches; the work is done elsewhere."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import re
import sys

import click

from seawall import __version__
from seawall.cli_admin import alerts, bundle, groups, keys, replay, tenants
from seawall.cli_deployments import deployments
from seawall.config import (ConfigError, Settings, database_url_problem, default_settings, environ_snapshot,
                            example_config, load_settings, with_cors_origins, with_redis_url)

DEFAULT_DATA_DIR = "./seawall-data"


def _settings(config: str | None) -> Settings:
    try:
        return load_settings(config) if config else default_settings()
    except ConfigError as e:
        raise click.ClickException(e.render()) from None


def _database_options(flag: str | None, environ: dict[str, str], settings: Settings | None) -> dict[str, str | None]:
    """The PostgreSQL URL, if any, and where it came from: --database-url, else SEAWALL_DATABASE_URL,
    else the config's store.url. A malformed one stops here, named by its source."""
    for url, source in ((flag, "--database-url"), (environ.get("SEAWALL_DATABASE_URL"), "SEAWALL_DATABASE_URL"),
                        (settings.store.url if settings else None, "store.url")):
        if url:
            problem = database_url_problem(url)
            if problem:
                raise click.ClickException(f"{source}: {problem}")
            return {"database_url": url, "database_url_source": source}
    return {"database_url": None}


def _with_redis(settings: Settings, flag: str | None, environ: dict[str, str]) -> Settings:
    """limits.redis_url from --redis, else SEAWALL_REDIS_URL, else the config; a malformed one
    stops here, named by its source."""
    for url, source in ((flag, "--redis"), (environ.get("SEAWALL_REDIS_URL"), "SEAWALL_REDIS_URL")):
        if url:
            try:
                return with_redis_url(settings, url, source)
            except ConfigError as e:
                raise click.ClickException(e.render()) from None
    return settings


def usable_cores() -> int:
    """The cores this process may run on (a container's or taskset's share, not the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows: no affinity call
        return os.cpu_count() or 1


def _data_dir(explicit: str | None, settings: Settings | None) -> str:
    return explicit or (settings.store.data_dir if settings else DEFAULT_DATA_DIR)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="seawall")
def main() -> None:
    """Seawall: an LLM API gateway that makes provider failures rare, handled and self-explaining."""


@main.command()
@click.option("--config", "config", type=click.Path(dir_okay=False), help="YAML config; none = the embedded default")
@click.option("--host", default=None, help="listen address (default 127.0.0.1)")
@click.option("--port", type=int, default=None, help="listen port (default 8100)")
@click.option("--data-dir", default=None, help="where the SQLite store lives (default ./seawall-data)")
@click.option("--database-url", default=None,
              help="PostgreSQL shared by several gateways, postgresql://user:password@host:5432/db "
                   "(or SEAWALL_DATABASE_URL, or store.url in the config); default: SQLite in the data dir")
@click.option("--redis", "redis_url", default=None,
              help="Redis shared by several gateways for rate limits, redis://host:6379/0 "
                   "(or SEAWALL_REDIS_URL, or limits.redis_url in the config); default: in this process")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="let browser pages from ORIGIN (https://app.example.com, or '*' for any) call the gateway; "
                   "repeatable, added to server.cors_allowed_origins (the embedded default allows any)")
@click.option("--console-port", type=click.IntRange(0, 65535), default=None, envvar="SEAWALL_CONSOLE_PORT",
              help="the console's port (or SEAWALL_CONSOLE_PORT; default console.port, 8101; 0: any free port, "
                   "printed at start)")
@click.option("--workers", default="1", show_default=True, metavar="N|auto", envvar="SEAWALL_WORKERS",
              help="worker processes serving the port (or SEAWALL_WORKERS); auto: one per core this process may "
                   "use. More than one needs Redis (--redis)")
def serve(config: str | None, host: str | None, port: int | None, data_dir: str | None,
          database_url: str | None, redis_url: str | None, cors_origins: tuple[str, ...],
          console_port: int | None, workers: str) -> None:
    """Start the gateway. With no --config: demo models served by the built-in simulator."""
    from seawall.decide.workers import worker_count
    from seawall.server import ServeOptions, run

    try:
        count = worker_count(workers, usable_cores())
    except ValueError as e:
        raise click.BadParameter(str(e)) from None

    settings = _settings(config)
    environ = environ_snapshot()
    settings = _with_redis(settings, redis_url, environ)
    if cors_origins:
        try:
            settings = with_cors_origins(settings, list(cors_origins))
        except ConfigError as e:
            raise click.ClickException(e.render()) from None
    options = ServeOptions(host=host or settings.server.host,
                           port=settings.server.port if port is None else port,
                           data_dir=_data_dir(data_dir, settings), demo=config is None,
                           bootstrap_key=environ.get("SEAWALL_BOOTSTRAP_KEY") or None,
                           admin_key=environ.get("SEAWALL_ADMIN_KEY") or None, console_port=console_port,
                           workers=count,
                           **_database_options(database_url, environ, settings))
    sys.exit(run(settings, options, environ))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8200, show_default=True)
@click.option("--config", "config", type=click.Path(dir_okay=False), help="simulator YAML (models, pace, faults)")
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True),
              help="serve https with this certificate (PEM)")
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True), help="its private key (PEM)")
def simulate(host: str, port: int, config: str | None, tls_cert: str | None, tls_key: str | None) -> None:
    """Run the provider simulator: a fake OpenAI-compatible upstream with injectable faults."""
    from seawall.simulator.server import run

    if bool(tls_cert) != bool(tls_key):
        raise click.ClickException("--tls-cert and --tls-key go together")
    try:
        run(host, port, config, (tls_cert, tls_key) if tls_cert else None)
    except ValueError as e:
        raise click.ClickException(f"simulator config: {e}") from None


@main.group("config")
def config_group() -> None:
    """Check or print gateway configuration."""


@config_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="machine-readable result")
def config_check(file: str, as_json: bool) -> None:
    """Validate FILE without starting (provider keys are read from this environment too)."""
    from seawall.config import resolve_metrics_token, resolve_secrets

    problems: list[str] = []
    settings = None
    try:
        settings = load_settings(file)
        resolve_secrets(settings, environ_snapshot(), simulator_url="http://127.0.0.1:0/v1")
        resolve_metrics_token(settings, environ_snapshot())
    except ConfigError as e:
        problems = e.problems
    if as_json:
        click.echo(json.dumps({"file": file, "valid": not problems, "problems": problems,
                               "models": [m.name for m in settings.models] if settings else []}))
    elif problems:
        click.echo(f"{file}: not valid", err=True)
        for p in problems:
            click.echo(f"  - {p}", err=True)
    else:
        click.echo(f"{file}: valid ({len(settings.models)} models: {', '.join(m.name for m in settings.models)})")
    sys.exit(1 if problems else 0)


@config_group.command("example")
def config_example() -> None:
    """Print a complete, commented example config."""
    click.echo(example_config(), nl=False)


@main.command()
@click.argument("file", required=False, default="-")
@click.option("--status", type=int, help="the reply's HTTP status, when FILE is a bare body")
@click.option("--header", "headers", multiple=True, help="a reply header, 'Name: value' (repeatable)")
@click.option("--provider", help="openai, azure, anthropic, gemini, one-api, new-api, midjourney-proxy, discord")
@click.option("--url", help="the URL that was called (its host names the provider, its path the base URL)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable result")
def explain(file: str, status: int | None, headers: tuple[str, ...], provider: str | None, url: str | None,
            as_json: bool) -> None:
    """Explain one failure: a `curl -i` dump, a reply body, an SSE stream or a client's error text
    (FILE, or '-' / nothing for stdin). Says the category, whether to retry, and what to check first."""
    from seawall.tools.explain import run

    sys.exit(run(file, status, headers, provider, url, as_json))


@main.command()
@click.option("--base-url", help="what the client's base_url is, e.g. https://api.openai.com/v1 (with --deployment: "
                                 "its base_url)")
@click.option("--api-key", help="the key itself (visible in your shell history: prefer the next two)")
@click.option("--api-key-env", metavar="NAME", help="read the key from this environment variable, as stored")
@click.option("--api-key-file", metavar="PATH", help="read the key from this file, as stored (newlines kept)")
@click.option("--model", help="the model the client asks for (default: gpt-4o-mini if listed, else the first)")
@click.option("--provider", help="who serves the base URL (openai, anthropic, gemini, azure, seawall, one-api, …); "
                                 "default: guessed from the host")
@click.option("--concurrency", type=click.IntRange(1, 64), help="ramp 1, 2, 4 … N requests at once; report where "
                                                                "429s or latency start")
@click.option("--origin", help="a browser app's origin: also try its CORS preflight")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=15.0, show_default=True,
              help="seconds per request")
@click.option("--json", "as_json", is_flag=True, help="machine-readable result")
@click.option("--config", "config", type=click.Path(dir_okay=False),
              help="a gateway config: its network: section (proxy, trust_env, no_proxy, tls) applies, as in the "
                   "gateway")
@click.option("--deployment", metavar="NAME", help="with --config: check this deployment as the gateway calls it (its "
                                                   "base_url, key, proxy and TLS)")
def doctor(base_url: str | None, api_key: str | None, api_key_env: str | None, api_key_file: str | None,
           model: str | None, provider: str | None, concurrency: int | None, origin: str | None, timeout: float,
           as_json: bool, config: str | None, deployment: str | None) -> None:
    """Run the troubleshooting checklist against an endpoint: key shape, base URL, proxy, DNS, TCP,
    TLS, CORS, model list, model name, a one-token completion, a short stream, rate-limit headers,
    a concurrency ramp, and a Seawall gateway's own view. With no --api-key*: the provider's
    variable for a known host (ANTHROPIC_API_KEY, GEMINI_API_KEY, …), then OPENAI_API_KEY.
    Exit code 1 when a check fails."""
    from seawall.tools.doctor import run

    network, spec = None, None
    if deployment and not config:
        raise click.UsageError("--deployment needs --config (the gateway's config that defines it)")
    if config:
        try:
            settings = load_settings(config)
        except ConfigError as e:
            raise click.ClickException(e.render()) from None
        network = settings.network
        if deployment:
            specs = {d.label: d for m in settings.models for d in m.deployments}
            spec = specs.get(deployment)
            if spec is None:
                raise click.UsageError(f"no deployment {deployment!r} in {config}; its deployments: "
                                       f"{', '.join(specs)}")
            base_url = base_url or spec.base_url
            model = model or spec.model
            provider = provider or (spec.provider if spec.provider != "simulator" else None)
            if not (api_key or api_key_env or api_key_file):
                api_key_env, api_key_file = spec.api_key_env, spec.api_key_file
    if not base_url:
        raise click.UsageError("--base-url is required (or --config with --deployment)")
    sys.exit(run(base_url, api_key, api_key_env, api_key_file, model, provider, concurrency, origin, timeout,
                 as_json, network, spec))


@main.command()
@click.option("--since", help="e.g. 10m, 2h, 1d, or an ISO 8601 time")
@click.option("--status", help="a code (429), a class (4xx, 5xx), 'error' or 'ok'")
@click.option("--request-id", help="one request")
@click.option("--model", help="requests for this model name")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per request")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="read the data dir from this config")
@click.option("--data-dir", default=None, help="the gateway's data dir (default ./seawall-data)")
@click.option("--database-url", default=None, help="the gateways' PostgreSQL (or SEAWALL_DATABASE_URL, or store.url)")
def logs(since: str | None, status: str | None, request_id: str | None, model: str | None, limit: int,
         as_json: bool, config: str | None, data_dir: str | None, database_url: str | None) -> None:
    """Read the request log, newest first."""
    from seawall.store.base import LogQuery
    from seawall.store.postgres import PostgresStore, StoreUnavailable
    from seawall.store.sqlite import SQLiteStore

    settings = _settings(config) if config else None
    database = _database_options(database_url, environ_snapshot(), settings)
    if database["database_url"]:
        store = PostgresStore(database["database_url"])
    else:
        db = os.path.join(_data_dir(data_dir, settings), "seawall.db")
        if not os.path.exists(db):
            raise click.ClickException(f"no request log at {db}: start the gateway first, or pass --data-dir")
        store = SQLiteStore(db)
    try:
        query = LogQuery(since=parse_since(since) if since else None, status=status, request_id=request_id,
                         model=model, limit=limit)
        rows = asyncio.run(_query(store, query))
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    except StoreUnavailable as e:
        raise click.ClickException(f"{database['database_url_source']}: {e}") from None
    if as_json:
        for row in rows:
            click.echo(json.dumps(dataclasses.asdict(row)))
        return
    click.echo(render_log_table(rows))


async def _query(store, query):
    await store.open()
    try:
        return await store.query_requests(query)
    finally:
        await store.close()


def parse_since(text: str, now: float | None = None) -> float:
    now = dt.datetime.now(dt.timezone.utc).timestamp() if now is None else now
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd])", text.strip())
    if m:
        return now - float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {text!r}: use 10m, 2h, 1d or an ISO 8601 time") from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).timestamp()


def render_log_table(rows) -> str:
    if not rows:
        return "no requests match"
    head = ("time (UTC)", "request id", "status", "model", "served by", "tries", "tokens in/out", "cost $", "ms",
            "ttfb", "stream", "category")
    table = [head]
    for r in rows:
        when = dt.datetime.fromtimestamp(r.ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        tokens = "" if r.prompt_tokens is None else f"{r.prompt_tokens}/{r.completion_tokens}"
        table.append((when, r.request_id, str(r.status), r.model_requested or "-", r.deployment or "-",
                      str(r.attempts), tokens, "" if r.cost_usd is None else f"{r.cost_usd:.6f}", f"{r.latency_ms:.0f}",
                      "" if r.ttfb_ms is None else f"{r.ttfb_ms:.0f}",
                      (r.stream_end or "?") if r.streamed else "", r.category or ""))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table)


@main.group("admin")
def admin_group() -> None:
    """The admin key, with local access to the gateway's store."""


@admin_group.command("reset-key")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="read the data dir or store.url from "
                                                                          "this config")
@click.option("--data-dir", default=None, help="the gateway's data dir (default ./seawall-data)")
@click.option("--database-url", default=None, help="the gateways' PostgreSQL (or SEAWALL_DATABASE_URL, or store.url)")
def admin_reset_key(config: str | None, data_dir: str | None, database_url: str | None) -> None:
    """Make a new admin key, print it once, and retire the old one. It is written to the gateway's
    store, so only who can open that store can do it; a running gateway accepts it at once."""
    from seawall.server import StartError, reset_admin_key

    settings = _settings(config) if config else None
    environ = environ_snapshot()
    database = _database_options(database_url, environ, settings)
    try:
        key = asyncio.run(reset_admin_key(database["database_url"], _data_dir(data_dir, settings)))
    except StartError as e:
        raise click.ClickException(f"{database.get('database_url_source', '--data-dir')}: {e}") from None
    click.echo(f"New admin key (shown only once: store it now): {key}")
    click.echo("The previous admin key no longer works; running gateways accept this one at once.")
    if environ.get("SEAWALL_ADMIN_KEY"):
        click.echo("Note: SEAWALL_ADMIN_KEY is set here. A gateway started with it uses that variable's key "
                   "instead: change the variable and restart the gateway.", err=True)


main.add_command(keys)
main.add_command(groups)
main.add_command(tenants)
main.add_command(alerts)
main.add_command(deployments)
main.add_command(replay)
main.add_command(bundle)
