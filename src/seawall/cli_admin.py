"""`seawall keys …`, `seawall groups …`, `seawall tenants …`, `seawall alerts`, `seawall replay` and
`seawall bundle`: parse, call the admin API, print. Scripts depend on these spellings (issue 5), so
options are added, never renamed."""

from __future__ import annotations

import functools
import json
import sys

import click

from seawall.console.client import (
    DEFAULT_URL,
    AdminCallFailed,
    AdminClient,
    quote,
    render_groups,
    render_keys,
    render_record,
)


def _connection(command):
    """--url, --admin-key and --json on every command, so they can follow the subcommand."""
    @click.option("--url", envvar="SEAWALL_URL", default=DEFAULT_URL, show_default=True,
                  help="the gateway (or SEAWALL_URL)")
    @click.option("--admin-key", envvar="SEAWALL_ADMIN_KEY", help="the admin key (or SEAWALL_ADMIN_KEY)")
    @click.option("--json", "as_json", is_flag=True, help="machine-readable output")
    @functools.wraps(command)
    def wrapper(url: str, admin_key: str | None, as_json: bool, **kwargs):
        client = AdminClient(url, admin_key)
        try:
            result, text = command(client, **kwargs)
        except AdminCallFailed as e:
            if as_json and e.payload is not None:
                click.echo(json.dumps(e.payload))
            click.echo(f"seawall: {e.message}", err=True)
            sys.exit(e.exit_code)
        click.echo(json.dumps(result) if as_json else text)
    return wrapper


def _models(text: str | None) -> list[str] | None:
    return None if text is None else [m.strip() for m in text.split(",") if m.strip()]


def _metadata(pairs: tuple[str, ...]) -> dict | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r}: write it as name=value", param_hint="--meta")
        out[name] = value
    return out


def _body(**values) -> dict:
    """Only what was given: an update changes nothing it was not told to."""
    return {k: v for k, v in values.items() if v is not None}


_LIMIT_OPTIONS = [
    click.option("--rps", type=int, help="requests per second (smooth: GCRA over one second)"),
    click.option("--rpm", type=int, help="requests per minute (smooth: GCRA, no burst at a minute's edge)"),
    click.option("--tpm", type=int, help="tokens per minute (prompt estimate + max_tokens, settled with usage)"),
    click.option("--max-concurrency", type=int, help="requests in flight at once"),
]


# Pre-flight settings of a key or group (null: the group's, else the model's); the gateway checks them.
_POLICY_OPTIONS = [
    click.option("--context-policy", metavar="reject|trim|truncate_output|fallback",
                 help="a prompt too long for the model's window: refuse, drop old turns, lower max_tokens, or "
                      "use the model's own fallback_model"),
    click.option("--max-messages", type=int, help="messages per request (413 past it)"),
    click.option("--max-images", type=int, help="images per request (0: text only)"),
    click.option("--max-image-bytes", type=int, help="decoded bytes of one inline (data URL) image"),
    click.option("--max-body-bytes", type=int, help="request body bytes; only lowers the server's max_body_bytes"),
]


def _limits(clear: bool, **given: int | None) -> dict:
    """The limits to send: those given; with --clear-limits, null for the others (no limit)."""
    return {k: v for k, v in given.items() if clear or v is not None}


def _key_options(command):
    for decorator in reversed([
        click.option("--tenant", help="who the key belongs to (reports, limits)"),
        click.option("--group", help="a group made with `seawall groups create`"),
        click.option("--models", help="allowed models, comma-separated globs: 'gpt-4o*,claude-*'"),
        click.option("--ip", "ips", multiple=True, help="allowed client network (CIDR), repeatable"),
        click.option("--expires", help="ISO 8601 time or a duration: 30d, 12h, 2w"),
        click.option("--quota-tokens", type=int,
                     help="tokens the key may spend in all (prompt + completion); default: its group's"),
        click.option("--quota-usd", type=float, help="USD the key may spend in all, at the models' prices"),
        *_LIMIT_OPTIONS,
        *_POLICY_OPTIONS,
        click.option("--meta", "meta", multiple=True, help="metadata name=value, repeatable"),
    ]):
        command = decorator(command)
    return command


@click.group("keys")
def keys() -> None:
    """Create, list, change, revoke and rotate API keys (through the gateway's admin API)."""


@keys.command("create")
@click.option("--name", required=True, help="a name unique among live keys")
@_key_options
@_connection
def keys_create(client: AdminClient, name: str, tenant, group, models, ips, expires, quota_tokens, quota_usd, rpm, tpm,
                max_concurrency, meta, rps, **policy):
    """Issue a key. It is printed once, here: store it now."""
    body = _body(name=name, tenant=tenant, group=group, models=_models(models), ip_allowlist=list(ips) or None,
                 expires_at=expires, quota_tokens=quota_tokens, quota_usd=quota_usd, rpm=rpm, tpm=tpm,
                 max_concurrency=max_concurrency, metadata=_metadata(meta), rps=rps, **policy)
    made = client.call("POST", "/admin/keys", body)
    text = f"{made['key']}\n(key {made['id']}, '{made['name']}': shown only once; store it now)"
    return {"key": made["key"], "id": made["id"], "name": made["name"]}, text


@keys.command("list")
@_connection
def keys_list(client: AdminClient):
    """Every key with its state (active, revoked, expired, disabled); never the key itself."""
    data = client.call("GET", "/admin/keys")["data"]
    return data, render_keys(data)


@keys.command("show")
@click.argument("ref")
@_connection
def keys_show(client: AdminClient, ref: str):
    """One key, by id or name."""
    record = client.call("GET", f"/admin/keys/{quote(ref)}")
    return record, render_record(record)


@keys.command("update")
@click.argument("ref")
@click.option("--name", help="rename the key")
@_key_options
@click.option("--clear-ips", is_flag=True, help="allow any client address again")
@click.option("--no-expiry", is_flag=True, help="remove the expiry")
@click.option("--enable/--disable", "enabled", default=None, help="switch the key on or off")
@click.option("--clear-limits", is_flag=True, help="remove the key's own rps, rpm, tpm and concurrency limits")
@click.option("--clear-policy", is_flag=True, help="remove the key's own context policy and size limits")
@_connection
def keys_update(client: AdminClient, ref: str, name, tenant, group, models, ips, expires, quota_tokens, quota_usd,
                rpm, tpm, max_concurrency, meta, clear_ips: bool, no_expiry: bool, enabled, clear_limits: bool, rps,
                clear_policy: bool, **policy):
    """Change the fields given (by id or name); --models '' returns to the group's models."""
    body = _body(name=name, tenant=tenant, group=group, models=_models(models), ip_allowlist=list(ips) or None,
                 expires_at=expires, quota_tokens=quota_tokens, quota_usd=quota_usd, metadata=_metadata(meta),
                 enabled=enabled)
    if clear_ips:
        body["ip_allowlist"] = []
    if no_expiry:
        body["expires_at"] = None
    body.update(_limits(clear_limits, rps=rps, rpm=rpm, tpm=tpm, max_concurrency=max_concurrency))
    body.update(_limits(clear_policy, **policy))
    record = client.call("PATCH", f"/admin/keys/{quote(ref)}", body)
    return record, render_record(record)


@keys.command("revoke")
@click.argument("ref")
@_connection
def keys_revoke(client: AdminClient, ref: str):
    """Revoke a key (by id or name): refused at once by this gateway, soon by the others."""
    record = client.call("POST", f"/admin/keys/{quote(ref)}/revoke")
    return record, f"revoked {record['id']} ('{record['name']}', {record['display']}) at {record['revoked_at']}"


@keys.command("rotate")
@click.argument("ref")
@_connection
def keys_rotate(client: AdminClient, ref: str):
    """Revoke a key and issue its replacement with the same settings; printed once."""
    made = client.call("POST", f"/admin/keys/{quote(ref)}/rotate")
    text = f"{made['key']}\n(key {made['id']} replaces {made['replaces']}, now revoked; shown only once)"
    return {"key": made["key"], "id": made["id"], "name": made["name"], "replaces": made["replaces"]}, text


@click.group("groups")
def groups() -> None:
    """Key groups: the models their keys may use, and default quotas."""


def _group_options(command):
    for decorator in reversed([
        click.option("--models", help="allowed models, comma-separated globs; '' = all"),
        click.option("--quota-tokens", type=int, help="default token quota for the group's keys"),
        click.option("--quota-usd", type=float, help="default cost quota in USD"),
        *_LIMIT_OPTIONS,  # for all the group's keys together, on top of each key's own
        *_POLICY_OPTIONS,  # defaults for each of the group's keys
        click.option("--meta", "meta", multiple=True, help="metadata name=value, repeatable"),
    ]):
        command = decorator(command)
    return command


@groups.command("create")
@click.option("--name", required=True)
@_group_options
@_connection
def groups_create(client: AdminClient, name: str, models, quota_tokens, quota_usd, rpm, tpm, max_concurrency, meta,
                  rps, **policy):
    """Make a group."""
    body = _body(name=name, models=_models(models), quota_tokens=quota_tokens, quota_usd=quota_usd, rpm=rpm, tpm=tpm,
                 max_concurrency=max_concurrency, metadata=_metadata(meta), rps=rps, **policy)
    record = client.call("POST", "/admin/groups", body)
    return record, render_record(record)


@groups.command("list")
@_connection
def groups_list(client: AdminClient):
    """Every group."""
    data = client.call("GET", "/admin/groups")["data"]
    return data, render_groups(data)


@groups.command("show")
@click.argument("name")
@_connection
def groups_show(client: AdminClient, name: str):
    """One group."""
    record = client.call("GET", f"/admin/groups/{quote(name)}")
    return record, render_record(record)


@groups.command("update")
@click.argument("name")
@_group_options
@click.option("--clear-limits", is_flag=True, help="remove the group's rps, rpm, tpm and concurrency limits")
@click.option("--clear-policy", is_flag=True, help="remove the group's context policy and size limits")
@_connection
def groups_update(client: AdminClient, name: str, models, quota_tokens, quota_usd, rpm, tpm, max_concurrency, meta,
                  clear_limits: bool, rps, clear_policy: bool, **policy):
    """Change the fields given; a narrower model list or a new limit applies to the group's keys at once."""
    body = _body(models=_models(models), quota_tokens=quota_tokens, quota_usd=quota_usd, metadata=_metadata(meta))
    body.update(_limits(clear_limits, rps=rps, rpm=rpm, tpm=tpm, max_concurrency=max_concurrency))
    body.update(_limits(clear_policy, **policy))
    record = client.call("PATCH", f"/admin/groups/{quote(name)}", body)
    return record, render_record(record)


@click.group("tenants")
def tenants() -> None:
    """Tenants: the limits all of a tenant's keys share (a key names its tenant with --tenant)."""


@tenants.command("list")
@_connection
def tenants_list(client: AdminClient):
    """Every tenant a key names, the store holds limits for, or the config file sets."""
    data = client.call("GET", "/admin/tenants")["data"]
    lines = [f"{t['name']}  " + (",".join(f"{k}={t['effective'][k]}" for k in _LIMIT_NAMES
                                          if t["effective"].get(k) is not None) or "no limits") for t in data]
    return data, "\n".join(lines) or "no tenants"


@tenants.command("show")
@click.argument("name")
@_connection
def tenants_show(client: AdminClient, name: str):
    """One tenant: its stored limits, the config file's, and what its keys are held to."""
    record = client.call("GET", f"/admin/tenants/{quote(name)}")
    return record, render_record(record)


@tenants.command("set")
@click.argument("name")
@click.option("--rps", type=int, help="requests per second, for all the tenant's keys together")
@click.option("--rpm", type=int, help="requests per minute")
@click.option("--tpm", type=int, help="tokens per minute")
@click.option("--max-concurrency", type=int, help="requests in flight at once")
@_connection
def tenants_set(client: AdminClient, name: str, rps, rpm, tpm, max_concurrency):
    """Replace the tenant's stored limits (a limit not given is none afterwards; the config
    file's limits.tenants still apply, the lower of the two winning)."""
    record = client.call("PUT", f"/admin/tenants/{quote(name)}",
                         {"rps": rps, "rpm": rpm, "tpm": tpm, "max_concurrency": max_concurrency})
    return record, render_record(record)


_LIMIT_NAMES = ("rps", "rpm", "tpm", "max_concurrency")


# -- alerts (observe/alerts.py) ------------------------------------------------------------------
@click.command("alerts")
@_connection
def alerts(client: AdminClient):
    """The gateway's firing alerts (rule, subject, value against threshold, what to check first,
    example request ids) and its recent firings and resolutions."""
    view = client.call("GET", "/admin/alerts")
    return view, render_alerts(view)


def render_alerts(view: dict) -> str:
    if not view["enabled"]:
        return "alerts are switched off (alerts.enabled: false in the gateway's config)"
    lines = [f"firing: {len(view['active'])}" + ("" if view["active"] else " (all quiet)")]
    for a in view["active"]:
        lines += [f"  [{a['severity']}] {a['rule']}  {a['subject_kind']} {a['subject']}  since {a['fired_at']}",
                  f"    {a['summary']} (threshold {a['threshold']:g}, category {a['category']})",
                  f"    check first: {a['hint']}"]
        if a["example_request_ids"]:
            lines.append(f"    requests: {', '.join(a['example_request_ids'])}")
    if view["recent"]:
        lines.append("recent:")
        lines += [f"  {r['at']}  {r['change']:<8}  {r['rule']}  {r['subject']}" for r in view["recent"][:20]]
    hooks = view["webhooks"]
    if hooks["configured"]:
        lines.append(f"webhooks: {hooks['configured']} configured, {hooks['sent']} sent, {hooks['failed']} failed, "
                     f"{hooks['dropped']} dropped")
    return "\n".join(lines)


# -- the support path (console/support.py) ---------------------------------------------------------
@click.command("replay")
@click.argument("request_id")
@click.option("--deployment", help="send it straight to this deployment (no routing, limits or retries)")
@click.option("--model", help="ask for this model instead of the one the request named")
@_connection
def replay(client: AdminClient, request_id: str, deployment: str | None, model: str | None):
    """Send a captured request again, through the gateway's pipeline as the key that sent it (or
    straight to one deployment), and print what changed beside the original: status, category,
    the answer's beginning, timings."""
    from seawall.tools.replay import render

    result = client.call("POST", f"/admin/requests/{quote(request_id)}/replay",
                         _body(deployment=deployment, model=model), timeout_s=120.0)
    return result, render(result)


@click.command("bundle")
@click.argument("request_id")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False),
              help="where to write it (default seawall-bundle-REQUEST_ID.json; '-' for stdout)")
@click.option("--url", envvar="SEAWALL_URL", default=DEFAULT_URL, show_default=True, help="the gateway (or SEAWALL_URL)")
@click.option("--admin-key", envvar="SEAWALL_ADMIN_KEY", help="the admin key (or SEAWALL_ADMIN_KEY)")
def bundle(request_id: str, output: str | None, url: str, admin_key: str | None):
    """Write one redacted support bundle for a request: the request as sent upstream, every attempt
    (deployment, status, reply headers, timings, how a stream ended and its last chunk), the explain
    verdict, the gateway's version and config digest, the network path, the time in UTC."""
    client = AdminClient(url, admin_key)
    try:
        data = client.call("GET", f"/admin/requests/{quote(request_id)}/bundle")
    except AdminCallFailed as e:
        click.echo(f"seawall: {e.message}", err=True)
        sys.exit(e.exit_code)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if output == "-":
        click.echo(text, nl=False)
        return
    path = output or f"seawall-bundle-{request_id}.json"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    verdict = (data.get("explain") or {}).get("category") or "no failure found"
    click.echo(f"wrote {path} ({len(text.encode())} bytes; {len(data['attempts'])} attempt(s); {verdict}); "
               "secrets are redacted: check it before you send it")
