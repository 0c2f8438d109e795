"""The gateway's routes that are not API calls through the pipeline: liveness and readiness, the
model lists in each SDK's shape, and the metrics scrape. Not request-log material."""

from __future__ import annotations

import functools
import hmac
import time
import urllib.parse
from typing import TYPE_CHECKING

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from seawall import __version__
from seawall.config import MetricsSettings
from seawall.console import self_key
from seawall.decide.keys import bearer_token
from seawall.dialects import DIALECTS, listings
from seawall.errors import error
from seawall.pipeline.access import check_ip, check_model, may_use
from seawall.pipeline.context import RequestContext
from seawall.pipeline.egress import send_json
from seawall.pipeline.paths import anthropic_client

if TYPE_CHECKING:
    from seawall.app import Gateway

Headers = list[tuple[bytes, bytes]]


class PlainRoutes:
    """Each answer reads the gateway's live state (its readiness, circuits, registry) when asked."""

    def __init__(self, gateway: Gateway, metrics_token: str | None):
        self.gateway = gateway
        self._metrics_token = metrics_token.encode() if metrics_token else None

    def table(self, metrics: MetricsSettings) -> dict:
        g = self.gateway
        routes = {("GET", "/healthz"): self.healthz, ("GET", "/readyz"): self.readyz,
                  ("GET", "/v1/models"): self.models, ("GET", "/v1beta/models"): self.gemini_models,
                  ("GET", self_key.PATH): functools.partial(self_key.answer, g.auth)}
        if metrics.enabled:
            routes[("GET", metrics.path)] = self.metrics
        return routes

    async def healthz(self, ctx: RequestContext, send, cors: Headers) -> None:
        await send_json(send, ctx, 200, orjson.dumps({"status": "ok", "version": __version__}), cors)

    async def readyz(self, ctx: RequestContext, send, cors: Headers) -> None:
        g = self.gateway
        retrier = g.pipeline.retrier
        body = {"status": "ready" if g.ready else "starting", "pid": g.pid,  # which worker answered
                "models": len(g.router.model_names),
                "request_log": g.writer.stats(),
                "open_circuits": retrier.open_circuits(time.monotonic()),
                "out_of_rotation": {label: {"by": h.by, "category": h.category, "since": h.since}
                                    for label, h in retrier.health.out.items()},
                "deployments": retrier.gates.snapshot()}  # in flight, queued, held (pipeline/gate.py)
        if g.transport.network.unverified:
            body["tls_unverified"] = g.transport.network.unverified  # verify: false, said where it is seen
        await send_json(send, ctx, 200 if g.ready else 503, orjson.dumps(body), cors)

    async def metrics(self, ctx: RequestContext, send, cors: Headers) -> None:
        if self._metrics_token is not None:
            token, _ = bearer_token(ctx.headers.get("authorization"))
            if token is None or not hmac.compare_digest(token.encode(), self._metrics_token):
                raise error("metrics_unauthorized", path=ctx.path)
        body = generate_latest(self.gateway.registry)  # a few hundred series: built per scrape, off the request path
        ctx.status = 200
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", CONTENT_TYPE_LATEST.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _allowed_names(self, ctx: RequestContext) -> list[str]:
        # A refusal propagates to the gateway, which renders it (and knows how the address was found).
        g = self.gateway
        principal = ctx.principal = g.auth.authenticate(ctx.headers, DIALECTS[ctx.dialect])
        check_ip(principal, ctx)
        return [name for name in g.router.model_names if may_use(principal, name)]

    async def models(self, ctx: RequestContext, send, cors: Headers) -> None:
        """The models the key may use, in OpenAI's shape, or Anthropic's (paginated) for the
        Anthropic SDK and Claude Code, which send anthropic-version (and their key in x-api-key)."""
        if anthropic_client(ctx.headers):
            ctx.dialect = "anthropic"
        names = self._allowed_names(ctx)
        started = self.gateway.started_at
        if ctx.dialect == "anthropic":
            body = listings.anthropic_page(names, started, urllib.parse.parse_qs(ctx.query.decode("latin-1")))
        else:
            body = listings.openai_list(names, started)
        await send_json(send, ctx, 200, orjson.dumps(body), cors)

    async def gemini_models(self, ctx: RequestContext, send, cors: Headers) -> None:
        """Gemini's model list (`GET /v1beta/models`, google-genai's models.list), in its shape."""
        ctx.dialect = "gemini"
        await send_json(send, ctx, 200, orjson.dumps(listings.gemini_list(self._allowed_names(ctx))), cors)

    async def model(self, ctx: RequestContext, send, cors: Headers) -> None:
        """One model (`GET /v1/models/{name}`), if the key may use it."""
        g = self.gateway
        if anthropic_client(ctx.headers):
            ctx.dialect = "anthropic"
        principal = ctx.principal = g.auth.authenticate(ctx.headers, DIALECTS[ctx.dialect])
        check_ip(principal, ctx)
        name = ctx.path.removeprefix("/v1/models/")
        check_model(principal, name)
        g.router.require(name)
        entry = listings.anthropic_model(name, g.started_at) if ctx.dialect == "anthropic" else \
            listings.openai_model(name, g.started_at)
        await send_json(send, ctx, 200, orjson.dumps(entry), cors)
