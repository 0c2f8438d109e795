"""`seawall deployments list|show|test|disable|enable`: each deployment's state through the
gateway's admin API (console/deployments.py), the way `seawall keys` reads keys."""

from __future__ import annotations

import click

from seawall.cli_admin import _connection
from seawall.console.client import AdminClient, quote


@click.group("deployments")
def deployments() -> None:
    """Deployments: in rotation or not and why, circuit, in flight, queue, learned limits, last
    errors, proxy; probe one now; take one out of rotation by hand and back."""


@deployments.command("list")
@_connection
def deployments_list(client: AdminClient):
    """Every deployment and its state."""
    view = client.call("GET", "/admin/deployments")
    lines = [f"{'deployment':<32} {'state':<12} {'circuit':<10} {'in flight':>9} {'queued':>6}  why"]
    for d in view["data"]:
        out = d.get("out") or {}
        why = f"{out.get('category') or 'by hand'}: {out.get('reason')} (since {out.get('since')})" if out else ""
        lines.append(f"{d['name']:<32} {d['state']:<12} {d['circuit']:<10} {d['in_flight']:>9} {d['queued']:>6}  {why}")
    return view, "\n".join(lines)


@deployments.command("show")
@click.argument("name")
@_connection
def deployments_show(client: AdminClient, name: str):
    """One deployment in full."""
    view = client.call("GET", f"/admin/deployments/{quote(name)}")
    return view, render(view)


@deployments.command("test")
@click.argument("name")
@_connection
def deployments_test(client: AdminClient, name: str):
    """Probe it now (one token of chat, or an embedding): back in rotation if the provider
    answers, unless it was disabled by hand."""
    result = client.call("POST", f"/admin/deployments/{quote(name)}/test")
    head = (f"{name}: the probe ({result['kind']}) was answered in {result['latency_ms']:g} ms" if result["ok"] else
            f"{name}: the probe ({result['kind']}) failed: {result['category']}: {result['detail']}")
    return result, head + "\n" + render(result["deployment_state"])


@deployments.command("disable")
@click.argument("name")
@click.option("--reason", required=True, help="why (shown with the deployment until it is enabled)")
@_connection
def deployments_disable(client: AdminClient, name: str, reason: str):
    """Take it out of rotation until `enable` (no probe brings it back)."""
    view = client.call("POST", f"/admin/deployments/{quote(name)}/disable", {"reason": reason})
    return view, render(view)


@deployments.command("enable")
@click.argument("name")
@_connection
def deployments_enable(client: AdminClient, name: str):
    """Put it back in rotation."""
    view = client.call("POST", f"/admin/deployments/{quote(name)}/enable")
    return view, render(view)


def render(d: dict) -> str:
    lines = [f"deployment {d['name']} ({d['provider']} {d['upstream_model']}) for {', '.join(d['models'])}",
             f"  state: {d['state']}"]
    out = d.get("out")
    if out:
        by = "taken out by the gateway" if out["by"] == "gateway" else "disabled by hand"
        lines.append(f"  {by} since {out['since']}: {out['category'] + ': ' if out['category'] else ''}{out['reason']}")
        if out["next_probe_at"]:
            lines.append(f"  next probe at {out['next_probe_at']} ({out['failed_probes']} failed so far)")
    c = d.get("circuit_detail") or {"state": d["circuit"]}
    reopens = f", reopens in {c['reopens_in_s']:g} s" if c.get("reopens_in_s") else ""
    lines.append(f"  circuit: {c['state']}{reopens}")
    lines.append(f"  in flight: {d['in_flight']}, queued: {d['queued']}")
    if "base_url" in d:
        lines += [f"  base_url: {d['base_url']}", f"  proxy: {d['proxy']}", f"  TLS trusts: {d['tls']}"]
        learned = d["gate"]["learned_limits"]
        if learned:
            lines.append("  learned limits: " + ", ".join(f"{k} {v['left']} left for {v['for_s']:g} s"
                                                          for k, v in learned.items()))
        if d["last_errors"]:
            lines.append("  last errors:")
            lines += [f"    {e['at']}  {e['category']}  {e['status'] or '-'}  {e['detail']}  {e['request_id'] or ''}"
                      for e in d["last_errors"]]
    return "\n".join(lines)
