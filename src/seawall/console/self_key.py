"""`GET /v1/seawall/key`: what the gateway knows about the calling key, for the key's own holder.

`seawall doctor` asks it so "is it my key, my gateway or the provider?" has one answer: the key's
name, tenant, group, the models it may use and its limits. Authenticated by the caller's own
gateway key, answered from the auth cache (no store round trip); never the key itself or its hash.
"""

from __future__ import annotations

import datetime as dt

import orjson

from seawall.limits.base import ScopeLimits
from seawall.limits.quota import Balance
from seawall.pipeline.access import check_ip
from seawall.pipeline.auth import Authenticator
from seawall.pipeline.context import Principal, RequestContext
from seawall.pipeline.egress import send_json

PATH = "/v1/seawall/key"


def key_view(p: Principal, balance: Balance | None = None) -> dict:
    """The caller's key as its holder may see it. `models` is what it may use now (every
    configured model when neither the key nor its group narrows it); `quota` what is left of its
    quota (null: none)."""
    models = p.catalog if p.models is None else p.models
    return {"object": "seawall.key", "id": p.key_id, "name": p.name, "tenant": p.tenant, "group": p.group,
            "expires_at": _iso(p.expires_at), "models": sorted(models), "all_models": p.models is None,
            "limits": [_limits(s) for s in p.limits],
            "quota": None if balance is None else _quota(balance)}


def _quota(b: Balance) -> dict:
    return {"tokens": None if b.limit_tokens is None else {
                "limit": b.limit_tokens, "used": b.used_tokens, "held": b.held_tokens, "remaining": b.remaining_tokens,
                "source": b.source_tokens},
            "usd": None if b.limit_usd is None else {
                "limit": b.limit_usd, "used": round(b.used_usd, 10), "held": round(b.held_usd, 10),
                "remaining": round(b.remaining_usd, 10), "source": b.source_usd}}


def _limits(s: ScopeLimits) -> dict:
    return {"scope": s.scope, "id": s.id, "rps": s.rps.limit if s.rps else None, "rpm": s.rpm.limit if s.rpm else None,
            "tpm": s.tpm.limit if s.tpm else None, "max_concurrency": s.max_concurrency}


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def answer(auth: Authenticator, ctx: RequestContext, send, cors: list[tuple[bytes, bytes]]) -> None:
    """A refusal (bad key, address outside the allowlist) propagates to the app, which renders it."""
    principal = ctx.principal = auth.authenticate(ctx.headers)
    check_ip(principal, ctx)
    balance = auth.quotas.balance(principal.key_id) if auth.quotas is not None else None
    await send_json(send, ctx, 200, orjson.dumps(key_view(principal, balance)),
                    [*cors, (b"cache-control", b"no-store")])
