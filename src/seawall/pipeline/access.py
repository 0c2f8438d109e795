"""Access: may this principal use this model, from this address?

Everything needed was precompiled into the Principal when the key cache loaded (pipeline/auth.py),
so this stage is a set lookup and a few network membership tests, with no store round trip. The
address is the one the edge resolved (app.py, with server.trusted_proxies); an IP refusal says
how it was found.
"""

from __future__ import annotations

from seawall.decide.access import ip_allowed, model_verdict
from seawall.errors import SeawallError, error
from seawall.pipeline.context import Principal, RequestContext
from seawall.pipeline.route import suggest_model
from seawall.providers.base import ApiRequest


def check_access(ctx: RequestContext, request: ApiRequest) -> None:
    """Raise a SeawallError (permission.*, or model_not_found) to refuse; return to allow."""
    check_ip(ctx.principal, ctx)
    check_model(ctx.principal, request.model)


def check_ip(principal: Principal, ctx: RequestContext) -> None:
    if not ip_allowed(ctx.client_ip, principal.networks):
        via = (ctx.seen.explain(ctx.peer) if ctx.seen is not None
               else "the connection's address; no X-Forwarded-For header was sent")
        raise SeawallError("ip_not_allowed", {"ip": ctx.client_ip or "an unknown address",
                                              "allowlist": ", ".join(str(n) for n in principal.networks),
                                              "via": via})


def check_model(principal: Principal, model: str) -> None:
    verdict = model_verdict(model, principal.models, principal.catalog)
    if verdict is None:
        return
    allowed = sorted(principal.models or ())
    if verdict == "unknown":  # suggest only what this key may use: never reveal other models
        raise error("model_not_found", param="model", model=model, hint=_suggest(model, allowed))
    raise error("model_not_permitted", param="model", model=model, allowed=", ".join(allowed) or "none",
                group=f"group '{principal.group}'" if principal.group else "no group")


def may_use(principal: Principal, model: str) -> bool:
    return principal.models is None or model in principal.models


def _suggest(model: str, allowed: list[str]) -> str:
    if not allowed:
        return "This key may use no configured model; ask the gateway's admin for access."
    return suggest_model(model, allowed)
