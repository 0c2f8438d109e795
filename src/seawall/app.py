"""The gateway as an ASGI app: wires the stages, stores and background tasks, and answers the
routes that are not the pipeline (health, model list, CORS preflight, unknown paths).

Raw ASGI rather than a framework: the route table is six entries, and on the measured stack a
framework's request/response objects cost a visible share of the ~0.3 ms per-request budget
(bench/peers/RESULTS.md). Built by a factory; importing this module does nothing.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import hmac
import logging
import time
import urllib.parse
from collections.abc import Awaitable, Callable

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from seawall import __version__
from seawall.config import ResolvedDeployment, Settings
from seawall.connections import ConnectionGuard
from seawall.console import self_key
from seawall.console.admin import AdminConsole
from seawall.decide.access import client_address, parse_cidr
from seawall.decide.cors import cors_headers, origin_allowed, preflight_headers
from seawall.decide.keys import bearer_token
from seawall.decide.routes import diagnose_route
from seawall.dialects import DIALECTS
from seawall.errors import SeawallError, error, method_not_allowed
from seawall.limits.quota import QuotaLedger
from seawall.observe.alerts import AlertMonitor
from seawall.observe.log import RequestLogWriter
from seawall.observe.metrics import Metrics, SeawallCollector
from seawall.pipeline.access import check_ip, check_model, may_use
from seawall.pipeline.auth import Authenticator
from seawall.pipeline.context import RequestContext, new_request_id, read_headers
from seawall.pipeline.egress import send_error, send_json, stream_error_event
from seawall.pipeline.flow import Pipeline
from seawall.pipeline.ingress import ClientGone
from seawall.pipeline.record import record
from seawall.pipeline.route import Router
from seawall.pipeline.tasks import TaskGateway
from seawall.providers.transport import Transport
from seawall.store.base import Store

log = logging.getLogger("seawall")

Provision = Callable[[Store], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]


def tune_gc() -> None:
    """Keep the cyclic GC off the hot path. Everything alive after start-up (modules, config,
    pools) is frozen out of collections, and the young generation is collected less often: the
    per-request objects are freed by reference counting anyway. Measured: without this, CPU per
    request grew ~20 % from 32 to 128 connections (more live objects for every collection)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


_GEMINI_PREFIXES = ("/v1beta/models/", "/v1/models/")  # google-genai 3.x calls /v1/…
_GEMINI_METHODS = ("generateContent", "streamGenerateContent")


def gemini_path(path: str) -> str | None:
    """'gemini-2.5-flash:generateContent' for a Gemini API path, else None."""
    for prefix in _GEMINI_PREFIXES:
        if path.startswith(prefix) and ":" in path:
            return path[len(prefix):]
    return None


def query_key(ctx: RequestContext, query: bytes) -> dict[str, list[str]]:
    """Gemini clients may send the key as ?key=: move it into the header the dialect reads."""
    params = urllib.parse.parse_qs(query.decode("latin-1"))
    if "key" in params and "x-goog-api-key" not in ctx.headers:
        ctx.headers["x-goog-api-key"] = params["key"][0]
    return params


def gemini_operation(ctx: RequestContext, path_model: str, query: bytes) -> str:
    """Check a Gemini call's method and query (its key included)."""
    _, _, method = path_model.rpartition(":")
    params = query_key(ctx, query)
    if method not in _GEMINI_METHODS:
        raise error("route_not_found", method=ctx.method, path=ctx.path,
                    hint=f"Seawall serves Gemini's {' and '.join(_GEMINI_METHODS)} (POST); '{method}' is not served.")
    if method == "streamGenerateContent" and params.get("alt", [""])[0] != "sse":
        raise error("invalid_field", param="alt", expected="'sse' (…:streamGenerateContent?alt=sse)",
                    got=repr(params.get("alt", [None])[0]))
    return "chat"


class Gateway:
    def __init__(self, settings: Settings, routes: dict[str, list[ResolvedDeployment]], store: Store,
                 secret: bytes, provision: Provision | None = None, admin_key: str | None = None,
                 metrics_token: str | None = None):
        self.settings, self.store, self._provision, self._admin_key = settings, store, provision, admin_key
        self.router = Router(routes)
        self.transport = Transport()
        # Charges are written at the request log's pace: kill -9 loses at most one flush interval of both.
        self.quotas = QuotaLedger(store, settings.request_log.flush_interval_s)
        self.auth = Authenticator(store, secret, settings.auth.refresh_interval_s, list(routes), self.quotas,
                                  settings.limits)
        self.alerts = AlertMonitor(settings.alerts, self._open_circuits, lambda: self.writer.dropped) \
            if settings.alerts.enabled else None
        self.admin = AdminConsole(store, secret, self.auth, settings.server.body_timeout_s, self.alerts)
        self._trusted = tuple(parse_cidr(c) for c in settings.server.trusted_proxies)
        self.writer = RequestLogWriter(store, settings.request_log)
        self.pipeline = Pipeline(settings.server, self.auth, self.router, self.transport, self.quotas)
        self.metrics = Metrics(routes)
        self.connections = ConnectionGuard(settings.server, self.metrics.connections_cut)  # server.py's protocol
        # A registry of our own, not prometheus_client's global one: several gateways may share a
        # process (tests), and the scrape shows only Seawall's families.
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(SeawallCollector(self.metrics, __version__, lambda: self.pipeline.retrier.breakers,
                                                self.writer.stats))
        # /mj/…: the Midjourney task API in front of provider: midjourney deployments (pipeline/tasks.py)
        self.tasks = TaskGateway(routes, settings.server, self.auth, self.transport, self.pipeline.deadlines)
        self.ready = False
        self.draining = False  # SIGTERM came (server.py): finishing what is in flight
        self._active = 0  # HTTP requests being handled (shutdown waits for the cancelled ones to record)
        self._cut_by_shutdown = 0
        self.started_at = int(time.time())
        self._origins = settings.server.cors_allowed_origins
        self._error_detail = settings.server.upstream_error_detail
        self._api = {("POST", "/v1/chat/completions"): "chat", ("POST", "/v1/embeddings"): "embeddings",
                     ("POST", "/v1/messages"): "chat"}
        self._dialects = {"/v1/messages": "anthropic"}  # paths whose clients speak another dialect
        self._plain = {("GET", "/healthz"): self._healthz, ("GET", "/readyz"): self._readyz,
                       ("GET", "/v1/models"): self._models, ("GET", "/v1beta/models"): self._gemini_models,
                       ("GET", self_key.PATH): functools.partial(self_key.answer, self.auth)}
        if settings.metrics.enabled:
            self._plain[("GET", settings.metrics.path)] = self._metrics
            self._metrics_token = metrics_token.encode() if metrics_token else None
        self._paths = {path: method for method, path in (*self._api, *self._plain)}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    # -- lifespan --------------------------------------------------------------------------------
    async def startup(self) -> None:
        await self.store.open()
        if self._provision:
            await self._provision(self.store)
        await self.auth.load()
        await self.admin.load(self._admin_key)
        self.auth.start()
        self.writer.start()
        self.quotas.start()
        self.pipeline.deadlines.start()
        if self.alerts is not None:
            self.alerts.start()
        tune_gc()
        self.ready = True

    def begin_drain(self) -> None:
        self.ready, self.draining = False, True
        log.info("stopping: no new connections; requests in flight get server.drain_timeout_s (%g s)",
                 self.settings.server.drain_timeout_s)

    async def shutdown(self) -> None:
        self.ready = False
        # Requests cancelled at the drain's end are still writing their last event and their log row.
        for _ in range(100):
            if not self._active:
                break
            await asyncio.sleep(0.02)
        if self._cut_by_shutdown:
            log.warning("stopping: ended %d request(s) still in flight after server.drain_timeout_s (%g s); "
                        "the request log marks their streams stream_end=shutdown", self._cut_by_shutdown,
                        self.settings.server.drain_timeout_s)
        if self.alerts is not None:
            await self.alerts.stop()
        await self.pipeline.deadlines.stop()
        await self.auth.stop()
        await self.writer.stop()
        await self.quotas.stop()
        await self.transport.close()
        await self.store.close()

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as e:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- HTTP ------------------------------------------------------------------------------------
    async def _http(self, scope, receive, send) -> None:
        self._active += 1
        try:
            await self._serve(scope, receive, send)
        finally:
            self._active -= 1

    async def _serve(self, scope, receive, send) -> None:
        client = scope.get("client")
        peer = client[0] if client else None
        ctx = RequestContext(new_request_id(), scope["method"], scope["path"], read_headers(scope["headers"]), peer)
        ctx.peer = peer
        if self._error_detail != "full":
            ctx.error_detail = self._error_detail
        forwarded = ctx.headers.get("x-forwarded-for")
        if forwarded is not None:  # judged, not believed: only a trusted proxy's header counts
            ctx.seen = client_address(peer, forwarded, self._trusted)
            ctx.client_ip = ctx.seen.ip
        origin = ctx.headers.get("origin")
        cors = cors_headers(origin, self._origins) if origin else []
        key = (ctx.method, ctx.path)
        operation = self._api.get(key)
        path_model = None
        if operation is not None:
            ctx.dialect = self._dialects.get(ctx.path, "openai")
        elif ctx.method == "POST" and (gemini := gemini_path(ctx.path)) is not None:
            ctx.dialect, operation, path_model = "gemini", "gemini", gemini
        try:
            if operation is not None:
                if not self.ready:
                    raise error("not_ready")
                if operation == "gemini":
                    operation = gemini_operation(ctx, path_model, scope.get("query_string", b""))
                in_flight = self.metrics.in_flight
                in_flight[ctx.dialect] += 1
                try:
                    await self.pipeline.handle(ctx, operation, receive, send, cors, path_model)
                finally:
                    in_flight[ctx.dialect] -= 1
            elif key in self._plain:
                if ctx.path.startswith("/v1beta/"):
                    query_key(ctx, scope.get("query_string", b""))
                await self._plain[key](ctx, send, cors)
                return  # probes, listings and scrapes are not request-log material
            elif ctx.path.startswith("/admin/"):
                await self.admin.handle(ctx, receive, send)
                return  # admin calls are not API traffic
            elif ctx.method == "OPTIONS":
                await self._preflight(ctx, send)
                return
            elif ctx.path.startswith("/mj/"):
                await self.tasks.handle(ctx, receive, send, cors, self.ready)  # answers its own errors
            elif ctx.method == "GET" and ctx.path.startswith("/v1/models/"):
                await self._model(ctx, send, cors)
                return
            else:
                raise self._unknown_route(ctx)
        except SeawallError as e:
            if ctx.status:  # the response has started: only a stream can still be ended well
                await self._end_stream(send, ctx, e)
            else:
                await send_error(send, ctx, e, cors)
        except ClientGone:
            ctx.client_gone, ctx.status = True, 499  # nginx's code for "client closed the request"
        except asyncio.CancelledError:
            if not ctx.client_gone and not self.draining:
                raise  # not ours to swallow
            asyncio.current_task().uncancel()
            if ctx.client_gone:
                ctx.status = ctx.status or 499
                if ctx.streamed and ctx.stream_end is None:
                    ctx.stream_end = "client_disconnect"
            else:  # server.drain_timeout_s has passed: end it in the client's dialect, say why
                await self._cut_by_drain(send, ctx, cors)
        except Exception:
            log.exception("request %s failed", ctx.request_id)
            err = error("internal_error")
            if ctx.status:
                await self._end_stream(send, ctx, err)
            else:
                await send_error(send, ctx, err, cors)
        record(self.writer, ctx, self.metrics, self.pipeline.preflight.price_of, self.alerts)

    def _open_circuits(self) -> list[str]:
        """Deployments whose circuit is not closed, for the circuit_open alert."""
        return [label for label, b in self.pipeline.retrier.breakers.items() if b.state != "closed"]

    def _unknown_route(self, ctx: RequestContext) -> SeawallError:
        allowed = self._paths.get(ctx.path)
        if allowed:
            return method_not_allowed(ctx.method, ctx.path, allowed)
        diagnosis = diagnose_route(ctx.path)
        return error(diagnosis.code, method=ctx.method, path=ctx.path, hint=diagnosis.hint)

    async def _cut_by_drain(self, send, ctx: RequestContext, cors: Headers) -> None:
        self._cut_by_shutdown += 1
        seconds = self.settings.server.drain_timeout_s
        try:
            if ctx.status:  # a stream under way: its dialect's error event, the SDK raises on it
                await self._end_stream(send, ctx, SeawallError("stream_shutdown", {"seconds": f"{seconds:g}"}))
                ctx.stream_end = "shutdown"
            else:
                err = error("not_ready")
                err.headers["retry-after"] = "1"
                if ctx.dialect not in DIALECTS:  # /mj/ (its own shape) and admin calls: OpenAI's envelope
                    ctx.dialect = "openai"
                await send_error(send, ctx, err, cors)
        except OSError:
            pass  # the connection went with the process's last moments: the log row still says it

    async def _end_stream(self, send, ctx: RequestContext, err: SeawallError) -> None:
        ctx.category, ctx.error_code, ctx.stream_end = err.category, err.code, "interrupted"
        await send({"type": "http.response.body", "body": stream_error_event(err, ctx), "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _preflight(self, ctx: RequestContext, send) -> None:
        origin = ctx.headers.get("origin")
        if origin and self._origins and origin_allowed(origin, self._origins):
            headers = preflight_headers(origin, self._origins, ctx.headers.get("access-control-request-headers"))
            ctx.status = 204
            await send({"type": "http.response.start", "status": 204,
                        "headers": [(b"x-request-id", ctx.request_id.encode()), *headers]})
            await send({"type": "http.response.body", "body": b""})
            return
        body = orjson.dumps({"error": {
            "message": f"Origin {origin!r} may not call this gateway from a browser.",
            "type": "invalid_request_error", "param": None, "code": "cors_origin_not_allowed",
            "request_id": ctx.request_id, "category": "network.cors",
            "hint": "Add the page's origin to server.cors_allowed_origins in the gateway config."}})
        await send_json(send, ctx, 403, body, [])

    # -- plain routes ----------------------------------------------------------------------------
    async def _healthz(self, ctx: RequestContext, send, cors: Headers) -> None:
        await send_json(send, ctx, 200, orjson.dumps({"status": "ok", "version": __version__}), cors)

    async def _readyz(self, ctx: RequestContext, send, cors: Headers) -> None:
        body = {"status": "ready" if self.ready else "starting", "models": len(self.router.model_names),
                "request_log": self.writer.stats(),
                "open_circuits": self.pipeline.retrier.open_circuits(time.monotonic()),
                "deployments": self.pipeline.retrier.gates.snapshot()}  # in flight, queued, held (pipeline/gate.py)
        await send_json(send, ctx, 200 if self.ready else 503, orjson.dumps(body), cors)

    async def _metrics(self, ctx: RequestContext, send, cors: Headers) -> None:
        if self._metrics_token is not None:
            token, _ = bearer_token(ctx.headers.get("authorization"))
            if token is None or not hmac.compare_digest(token.encode(), self._metrics_token):
                raise error("metrics_unauthorized", path=ctx.path)
        body = generate_latest(self.registry)  # a few hundred series: built per scrape, off the request path
        ctx.status = 200
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", CONTENT_TYPE_LATEST.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _model_entry(self, name: str) -> dict:
        return {"id": name, "object": "model", "created": self.started_at, "owned_by": "seawall"}

    async def _models(self, ctx: RequestContext, send, cors: Headers) -> None:
        """The models the key may use. Anthropic's SDK lists them here too, with its key in
        x-api-key (OpenAI's list shape carries the `data[].id` it reads)."""
        # A refusal propagates to _http, which renders it (and knows how the address was found).
        anthropic = "authorization" not in ctx.headers and "x-api-key" in ctx.headers
        if anthropic:
            ctx.dialect = "anthropic"
        principal = ctx.principal = self.auth.authenticate(ctx.headers, DIALECTS[ctx.dialect])
        check_ip(principal, ctx)
        data = [self._model_entry(name) for name in self.router.model_names if may_use(principal, name)]
        await send_json(send, ctx, 200, orjson.dumps({"object": "list", "data": data}), cors)

    async def _gemini_models(self, ctx: RequestContext, send, cors: Headers) -> None:
        """Gemini's model list (`GET /v1beta/models`, google-genai's models.list), in its shape."""
        ctx.dialect = "gemini"
        principal = ctx.principal = self.auth.authenticate(ctx.headers, DIALECTS["gemini"])
        check_ip(principal, ctx)
        models = [{"name": f"models/{name}", "displayName": name, "supportedGenerationMethods":
                   ["generateContent", "streamGenerateContent"]}
                  for name in self.router.model_names if may_use(principal, name)]
        await send_json(send, ctx, 200, orjson.dumps({"models": models}), cors)

    async def _model(self, ctx: RequestContext, send, cors: Headers) -> None:
        principal = ctx.principal = self.auth.authenticate(ctx.headers)
        check_ip(principal, ctx)
        name = ctx.path.removeprefix("/v1/models/")
        check_model(principal, name)
        self.router.require(name)
        await send_json(send, ctx, 200, orjson.dumps(self._model_entry(name)), cors)
