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
from seawall.cli_admin import groups, keys
from seawall.config import ConfigError, Settings, default_settings, environ_snapshot, example_config, load_settings

DEFAULT_DATA_DIR = "./seawall-data"


def _settings(config: str | None) -> Settings:
    try:
        return load_settings(config) if config else default_settings()
    except ConfigError as e:
        raise click.ClickException(e.render()) from None


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
def serve(config: str | None, host: str | None, port: int | None, data_dir: str | None) -> None:
    """Start the gateway. With no --config: demo models served by the built-in simulator."""
    from seawall.server import ServeOptions, run

    settings = _settings(config)
    environ = environ_snapshot()
    options = ServeOptions(host=host or settings.server.host,
                           port=settings.server.port if port is None else port,
                           data_dir=_data_dir(data_dir, settings), demo=config is None,
                           bootstrap_key=environ.get("SEAWALL_BOOTSTRAP_KEY") or None,
                           admin_key=environ.get("SEAWALL_ADMIN_KEY") or None)
    sys.exit(run(settings, options, environ))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8200, show_default=True)
@click.option("--config", "config", type=click.Path(dir_okay=False), help="simulator YAML (models, pace, faults)")
def simulate(host: str, port: int, config: str | None) -> None:
    """Run the provider simulator: a fake OpenAI-compatible upstream with injectable faults."""
    from seawall.simulator.server import run

    try:
        run(host, port, config)
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
    from seawall.config import resolve_secrets

    problems: list[str] = []
    settings = None
    try:
        settings = load_settings(file)
        resolve_secrets(settings, environ_snapshot(), simulator_url="http://127.0.0.1:0/v1")
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
@click.option("--since", help="e.g. 10m, 2h, 1d, or an ISO 8601 time")
@click.option("--status", help="a code (429), a class (4xx, 5xx), 'error' or 'ok'")
@click.option("--request-id", help="one request")
@click.option("--model", help="requests for this model name")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per request")
@click.option("--config", "config", type=click.Path(dir_okay=False), help="read the data dir from this config")
@click.option("--data-dir", default=None, help="the gateway's data dir (default ./seawall-data)")
def logs(since: str | None, status: str | None, request_id: str | None, model: str | None, limit: int,
         as_json: bool, config: str | None, data_dir: str | None) -> None:
    """Read the request log, newest first."""
    from seawall.store.base import LogQuery

    directory = _data_dir(data_dir, _settings(config) if config else None)
    db = os.path.join(directory, "seawall.db")
    if not os.path.exists(db):
        raise click.ClickException(f"no request log at {db}: start the gateway first, or pass --data-dir")
    try:
        query = LogQuery(since=parse_since(since) if since else None, status=status, request_id=request_id,
                         model=model, limit=limit)
        rows = asyncio.run(_query(db, query))
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    if as_json:
        for row in rows:
            click.echo(json.dumps(dataclasses.asdict(row)))
        return
    click.echo(render_log_table(rows))


async def _query(db: str, query):
    from seawall.store.sqlite import SQLiteStore

    store = SQLiteStore(db)
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
    head = ("time (UTC)", "request id", "status", "model", "served by", "tries", "tokens in/out", "ms", "ttfb",
            "stream", "category")
    table = [head]
    for r in rows:
        when = dt.datetime.fromtimestamp(r.ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        tokens = "" if r.prompt_tokens is None else f"{r.prompt_tokens}/{r.completion_tokens}"
        table.append((when, r.request_id, str(r.status), r.model_requested or "-", r.deployment or "-",
                      str(r.attempts), tokens, f"{r.latency_ms:.0f}",
                      "" if r.ttfb_ms is None else f"{r.ttfb_ms:.0f}",
                      (r.stream_end or "?") if r.streamed else "", r.category or ""))
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table)


main.add_command(keys)
main.add_command(groups)
