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
import os
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from seawall import __version__
from seawall.cluster.node import Cluster
from seawall.config import ResolvedDeployment, Settings, TraceSettings
from seawall.connections import ConnectionGuard
from seawall.console import self_key
from seawall.console.admin import AdminConsole
from seawall.console.deployments import DeploymentsAdmin
from seawall.console.support import Internal, Support
from seawall.decide.access import client_address, parse_cidr
from seawall.decide.cors import cors_headers, origin_allowed, preflight_headers
from seawall.decide.redact import Redactor
from seawall.decide.keys import bearer_token
from seawall.decide.routes import diagnose_route
from seawall.dialects import DIALECTS, listings
from seawall.dialects.gemini import METHODS as GEMINI_METHODS
from seawall.errors import SeawallError, error, method_not_allowed
from seawall.limits.quota import QuotaLedger
from seawall.observe.alerts import AlertMonitor
from seawall.observe.capture import CaptureBuilder
from seawall.observe.log import RequestLogWriter
from seawall.observe.metrics import Metrics, SeawallCollector
from seawall.pipeline.access import check_ip, check_model, may_use
from seawall.pipeline.auth import Authenticator
from seawall.pipeline.context import Principal, RequestContext, new_request_id, read_headers
from seawall.pipeline.egress import send_error, send_json, stream_error_event
from seawall.pipeline.flow import Pipeline
from seawall.pipeline.forward import Forwarder
from seawall.pipeline.health import Prober
from seawall.pipeline.ingress import ClientGone
from seawall.pipeline.multipart import UPLOADS
from seawall.pipeline.record import record
from seawall.pipeline.route import Router
from seawall.pipeline.responses import PREFIX, ResponsesDesk
from seawall.pipeline.tasks import TaskGateway
from seawall.providers.network import Network
from seawall.providers.transport import Transport
from seawall.store.base import RequestRecord, Store
from seawall.store.conversations import Conversations

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
    """Check a Gemini call's method and query (its key included); the operation it is."""
    model, _, method = path_model.rpartition(":")
    ctx.model_asked = model or None
    params = query_key(ctx, query)
    if method not in GEMINI_METHODS:
        raise error("route_not_found", method=ctx.method, path=ctx.path,
                    hint=f"Seawall serves Gemini's {', '.join(GEMINI_METHODS)} (POST); '{method}' is not served.")
    if method == "streamGenerateContent" and params.get("alt", [""])[0] != "sse":
        raise error("invalid_field", param="alt", expected="'sse' (…:streamGenerateContent?alt=sse)",
                    got=repr(params.get("alt", [None])[0]))
    return GEMINI_METHODS[method]


def gateway_transport(settings: Settings, routes: dict[str, list[ResolvedDeployment]],
                      environ: Mapping[str, str] | None) -> Transport:
    """The upstream transport with a route per deployment: its proxy and TLS (providers/network.py)."""
    network = Network(settings.network, environ)
    transport = Transport(network=network)
    for deployments in routes.values():
        for d in deployments:
            transport.add_route(d.label, network.for_deployment(d.spec))
    for who in network.unverified:
        log.warning("TLS certificates are NOT verified for %s (verify: false): anyone on the path can read and "
                    "change its traffic; use ca_file for a private CA instead", who)
    return transport


def gateway_tracing(settings: TraceSettings, environ: Mapping[str, str] | None):
    """OpenTelemetry's tracer when traces are on, imported only then (observe/traces.py)."""
    if not settings.enabled:
        return None
    from seawall.observe.traces import Tracing

    return Tracing(settings, environ or {})


class Gateway:
    def __init__(self, settings: Settings, routes: dict[str, list[ResolvedDeployment]], store: Store,
                 secret: bytes, provision: Provision | None = None, admin_key: str | None = None,
                 metrics_token: str | None = None, environ: Mapping[str, str] | None = None):
        self.settings, self.store, self._provision, self._admin_key = settings, store, provision, admin_key
        self.router = Router(routes)
        # Gateways on one Redis share circuits, issued ids, alerts and console sessions (cluster/)
        self.cluster = Cluster(settings, [d for ds in routes.values() for d in ds]) if settings.limits.redis_url \
            else None
        self.transport = gateway_transport(settings, routes, environ)
        # Charges are written at the request log's pace: kill -9 loses at most one flush interval of both.
        self.quotas = QuotaLedger(store, settings.request_log.flush_interval_s)
        # key permissions name models and passthrough rules alike (config/forward.py)
        self.auth = Authenticator(store, secret, settings.auth.refresh_interval_s,
                                  [*routes, *(rule.name for rule in settings.passthrough)], self.quotas,
                                  settings.limits)
        self.alerts = AlertMonitor(settings.alerts, self._open_circuits, lambda: self.writer.dropped,
                                   self._out_of_rotation, self.transport) if settings.alerts.enabled else None
        self.admin = AdminConsole(store, secret, self.auth, settings.server.body_timeout_s, self.alerts)
        self._trusted = tuple(parse_cidr(c) for c in settings.server.trusted_proxies)
        # Everything secret the gateway holds, so redaction finds it wherever it shows (decide/redact.py)
        self.redactor = Redactor([d.api_key for ds in routes.values() for d in ds if d.api_key]
                                 + [s for s in (admin_key, metrics_token) if s],
                                 settings.request_log.capture_redact_paths)
        log_settings = settings.request_log
        self.writer = RequestLogWriter(store, log_settings, CaptureBuilder(self.redactor, log_settings.capture_max_body_bytes)
                                       if log_settings.capture != "off" else None)
        self._capture_all = log_settings.capture == "all"  # keep whole streams, not only their tails
        self.conversations = Conversations(store, settings.responses)  # translated Responses, kept for later turns
        self.responses = ResponsesDesk(settings.responses, self.conversations, self.auth, self.transport,
                                       self.cluster.response_ids() if self.cluster else None,
                                       settings.server.share_within)
        self.pipeline = Pipeline(settings.server, self.auth, self.router, self.transport, self.quotas, self.responses)
        self.forwarder = Forwarder(settings.passthrough, routes, settings.server, self.auth, self.transport,
                                   lambda: self.pipeline.limiter)  # files, batches, … when configured
        self.prober = Prober(self.pipeline.retrier.health, [d for ds in routes.values() for d in ds], self.transport)
        self.admin.deployments = DeploymentsAdmin([d for ds in routes.values() for d in ds], self.pipeline.retrier,
                                                  self.prober, self.transport)
        self.metrics = Metrics(routes)
        self.tracing = gateway_tracing(settings.traces, environ)  # None unless traces.enabled
        # The request log's pages, bundles, replays and deployments' health (admin API and console)
        self.support = Support(store, self.auth, settings, routes, self.transport, self.pipeline.retrier,
                               self.redactor, self.replay)
        self.admin.support = self.support
        self.connections = ConnectionGuard(settings.server, self.metrics.connections_cut)  # server.py's protocol
        # A registry of our own, not prometheus_client's global one: several gateways may share a
        # process (tests), and the scrape shows only Seawall's families.
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = SeawallCollector(self.metrics, __version__, lambda: self.pipeline.retrier.breakers,
                                          self.writer.stats, lambda: self.pipeline.retrier.health.out)
        self.registry.register(self.collector)  # with --workers, the workers' merged files instead (workers.py)
        # /mj/…: the Midjourney task API in front of provider: midjourney deployments (pipeline/tasks.py)
        self.tasks = TaskGateway(routes, settings.server, self.auth, self.transport, self.pipeline.deadlines,
                                 owners=self.cluster.task_ids() if self.cluster else None)
        if self.cluster is not None:
            self.cluster.attach(self)
        self.ready = False
        self.draining = False  # SIGTERM came (server.py): finishing what is in flight
        self._active = 0  # HTTP requests being handled (shutdown waits for the cancelled ones to record)
        self._cut_by_shutdown = 0
        self.started_at = int(time.time())
        self.pid = os.getpid()
        self._origins = settings.server.cors_allowed_origins
        self._error_detail = settings.server.upstream_error_detail
        self._api = {("POST", "/v1/chat/completions"): "chat", ("POST", "/v1/embeddings"): "embeddings",
                     ("POST", "/v1/messages"): "chat", ("POST", "/v1/messages/count_tokens"): "count_tokens",
                     ("POST", "/v1/responses"): "responses", ("POST", "/v1/completions"): "completions",
                     ("POST", "/v1/moderations"): "moderations", ("POST", "/v1/images/generations"): "images",
                     ("POST", "/v1/audio/speech"): "speech",
                     # multipart uploads, relayed as they arrive (pipeline/multipart.py UPLOADS)
                     ("POST", "/v1/images/edits"): "image_edits", ("POST", "/v1/images/variations"): "image_variations",
                     ("POST", "/v1/audio/transcriptions"): "transcriptions",
                     ("POST", "/v1/audio/translations"): "translations"}
        # paths whose clients speak another dialect
        self._dialects = {"/v1/messages": "anthropic", "/v1/messages/count_tokens": "anthropic",
                          "/v1/responses": "responses"}
        # families of paths with an id in them, each answering its own (the request log records them)
        self._families = {PREFIX: self.responses.handle}
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
        self.conversations.start()
        self.quotas.start()
        self.pipeline.deadlines.start()
        if self.alerts is not None:
            self.alerts.start()
        self.prober.start()
        if self.cluster is not None:
            await self.cluster.start()
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
        await self.prober.stop()
        if self.cluster is not None:
            await self.cluster.stop()
        await self.pipeline.deadlines.stop()
        await self.auth.stop()
        await self.writer.stop()
        await self.conversations.stop()
        await self.quotas.stop()
        await self.transport.close()
        await self.store.close()
        if self.tracing is not None:  # the last spans are exported (the SDK blocks: off the loop)
            await asyncio.to_thread(self.tracing.close)

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
        if self.tracing is not None:  # a span left unended (probes, admin calls) is never exported
            self.tracing.begin(ctx)
        if self._error_detail != "full":
            ctx.error_detail = self._error_detail
        forwarded = ctx.headers.get("x-forwarded-for")
        if forwarded is not None:  # judged, not believed: only a trusted proxy's header counts
            ctx.seen = client_address(peer, forwarded, self._trusted)
            ctx.client_ip = ctx.seen.ip
        origin = ctx.headers.get("origin")
        refused = origin is not None and not origin_allowed(origin, self._origins, ctx.headers.get("host"))
        cors = cors_headers(origin, self._origins, refused) if origin else []
        key = (ctx.method, ctx.path)
        operation = self._api.get(key)
        path_model = None
        if operation is not None:
            ctx.dialect = self._dialects.get(ctx.path, "openai")
        elif ctx.method == "POST" and (gemini := gemini_path(ctx.path)) is not None:
            ctx.dialect, operation, path_model = "gemini", "gemini", gemini
        try:
            if refused and ctx.method != "OPTIONS" and not ctx.path.startswith("/admin/"):
                await self._refuse_origin(ctx, send, origin, cors)  # before anything is read or counted
            elif operation is not None:
                if not self.ready:
                    raise error("not_ready")
                if operation == "gemini":
                    operation = gemini_operation(ctx, path_model, scope.get("query_string", b""))
                if self._capture_all:
                    ctx.stream_log = []
                in_flight = self.metrics.in_flight
                in_flight[ctx.dialect] += 1
                try:
                    if ctx.path in UPLOADS:
                        await self.pipeline.upload(ctx, operation, UPLOADS[ctx.path], receive, send, cors)
                    else:
                        await self.pipeline.handle(ctx, operation, receive, send, cors, path_model)
                finally:
                    in_flight[ctx.dialect] -= 1
            elif key in self._plain:
                ctx.query = scope.get("query_string", b"")
                if ctx.path.startswith("/v1beta/"):
                    query_key(ctx, ctx.query)
                await self._plain[key](ctx, send, cors)
                return  # probes, listings and scrapes are not request-log material
            elif ctx.path.startswith("/admin/"):
                await self.admin.handle(ctx, receive, send, scope.get("query_string", b""))
                return  # admin calls are not API traffic
            elif ctx.method == "OPTIONS":
                await self._preflight(ctx, send, refused)
                if not refused:
                    return  # a refused origin's preflight is logged: its request ID finds why
            elif ctx.path.startswith("/mj/"):
                await self.tasks.handle(ctx, receive, send, cors, self.ready)  # answers its own errors
            elif (family := self._family(ctx.path)) is not None:
                ctx.query = scope.get("query_string", b"")
                await family(ctx, send, cors, self.ready)
            elif ctx.method == "GET" and ctx.path.startswith("/v1/models/"):
                await self._model(ctx, send, cors)
                return
            elif (forward := self.forwarder.match(ctx.method, ctx.path)) is not None:
                ctx.query = scope.get("query_string", b"")
                await self.forwarder.handle(ctx, forward, receive, send, cors, self.ready)
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
        if ctx.trace is not None:
            ctx.trace.finish(ctx)

    async def replay(self, row: RequestRecord, body: bytes, operation: str | None, model: str | None,
                     headers: dict[str, str]) -> Internal:
        """Send a captured request through the pipeline again, in-process, as the key that sent it
        (its settings now: a fix shows as a change), from the address it came from; recorded in
        the log like any request. A key no longer live is replaced by an unlimited admin principal."""
        ctx = RequestContext(new_request_id(), row.method, row.path, dict(headers), row.client_ip)
        ctx.dialect = row.dialect or "openai"
        path_model = gemini_path(row.path) if ctx.dialect == "gemini" else None
        if path_model is not None and model is not None:
            path_model = f"{model}:{path_model.rpartition(':')[2]}"
            ctx.path = row.path[:row.path.index(gemini_path(row.path))] + path_model
        live = self.auth.principal(row.key_id) if row.key_id else None
        ctx.principal = live or Principal("admin:replay", "admin (replay)", catalog=self.auth.catalog)
        parts: list[bytes] = []
        sent = [body]

        async def receive() -> dict:
            if sent:
                return {"type": "http.request", "body": sent.pop(), "more_body": False}
            await asyncio.Event().wait()  # no disconnect: the pipeline's watcher is cancelled at its end
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                parts.append(message["body"])

        try:
            await self.pipeline.handle(ctx, "chat" if ctx.dialect == "gemini" else (operation or "chat"), receive,
                                       send, [], path_model)
        except SeawallError as e:
            if ctx.status:
                await self._end_stream(send, ctx, e)
            else:
                await send_error(send, ctx, e, [])
        record(self.writer, ctx, self.metrics, self.pipeline.preflight.price_of, self.alerts)
        return Internal(ctx.request_id, ctx.status, ctx.category, b"".join(parts).decode("utf-8", "replace"),
                        ctx.streamed, ctx.stream_end, round(ctx.elapsed_ms(), 2), ctx.ttfb_ms,
                        f"pipeline, as key {live.key_id}" if live else "pipeline, as the admin (no live key)")

    def _family(self, path: str):
        return next((serve for prefix, serve in self._families.items() if path.startswith(prefix)), None)

    def _open_circuits(self) -> list[str]:
        """Deployments whose circuit is not closed, for the circuit_open alert."""
        return [label for label, b in self.pipeline.retrier.breakers.items() if b.state != "closed"]

    def _out_of_rotation(self) -> dict[str, tuple[str | None, str | None]]:
        """Deployments the gateway took out of rotation: (the refusal's category, the request it came with)."""
        return {label: (h.category, h.request_id) for label, h in self.pipeline.retrier.health.out.items()
                if h.by == "gateway"}

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
        event = stream_error_event(err, ctx)
        ctx.prev_sent, ctx.last_sent = ctx.last_sent, event
        await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def _preflight(self, ctx: RequestContext, send, refused: bool) -> None:
        origin = ctx.headers.get("origin")
        if not origin:
            raise error("cors_origin_not_allowed", origin="(none: OPTIONS without an Origin header is not a "
                                                          "browser's preflight)")
        headers = preflight_headers(origin, self._origins, ctx.headers.get("access-control-request-headers"),
                                    refused)
        if refused:
            ctx.category, ctx.error_code = "network.cors", "cors_origin_not_allowed"
        ctx.status = 204
        await send({"type": "http.response.start", "status": 204,
                    "headers": [(b"x-request-id", ctx.request_id.encode()), *headers]})
        await send({"type": "http.response.body", "body": b""})

    async def _refuse_origin(self, ctx: RequestContext, send, origin: str, cors: Headers) -> None:
        """The page's own script reads why (its origin may read this answer); nothing is served."""
        err = error("cors_origin_not_allowed", origin=origin)
        if ctx.path.startswith("/mj/"):
            await self.tasks.send_error(send, ctx, err, cors)  # in midjourney-proxy's shape
        else:
            await send_error(send, ctx, err, cors)

    # -- plain routes ----------------------------------------------------------------------------
    async def _healthz(self, ctx: RequestContext, send, cors: Headers) -> None:
        await send_json(send, ctx, 200, orjson.dumps({"status": "ok", "version": __version__}), cors)

    async def _readyz(self, ctx: RequestContext, send, cors: Headers) -> None:
        body = {"status": "ready" if self.ready else "starting", "pid": self.pid,  # which worker answered
                "models": len(self.router.model_names),
                "request_log": self.writer.stats(),
                "open_circuits": self.pipeline.retrier.open_circuits(time.monotonic()),
                "out_of_rotation": {label: {"by": h.by, "category": h.category, "since": h.since}
                                    for label, h in self.pipeline.retrier.health.out.items()},
                "deployments": self.pipeline.retrier.gates.snapshot()}  # in flight, queued, held (pipeline/gate.py)
        if self.transport.network.unverified:
            body["tls_unverified"] = self.transport.network.unverified  # verify: false, said where it is seen
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

    async def _models(self, ctx: RequestContext, send, cors: Headers) -> None:
        """The models the key may use, in OpenAI's shape, or Anthropic's (paginated) for the
        Anthropic SDK and Claude Code, which send anthropic-version (and their key in x-api-key)."""
        # A refusal propagates to _http, which renders it (and knows how the address was found).
        if anthropic_client(ctx.headers):
            ctx.dialect = "anthropic"
        principal = ctx.principal = self.auth.authenticate(ctx.headers, DIALECTS[ctx.dialect])
        check_ip(principal, ctx)
        names = [name for name in self.router.model_names if may_use(principal, name)]
        if ctx.dialect == "anthropic":
            body = listings.anthropic_page(names, self.started_at, urllib.parse.parse_qs(ctx.query.decode("latin-1")))
        else:
            body = listings.openai_list(names, self.started_at)
        await send_json(send, ctx, 200, orjson.dumps(body), cors)

    async def _gemini_models(self, ctx: RequestContext, send, cors: Headers) -> None:
        """Gemini's model list (`GET /v1beta/models`, google-genai's models.list), in its shape."""
        ctx.dialect = "gemini"
        principal = ctx.principal = self.auth.authenticate(ctx.headers, DIALECTS["gemini"])
        check_ip(principal, ctx)
        names = [name for name in self.router.model_names if may_use(principal, name)]
        await send_json(send, ctx, 200, orjson.dumps(listings.gemini_list(names)), cors)

    async def _model(self, ctx: RequestContext, send, cors: Headers) -> None:
        if anthropic_client(ctx.headers):
            ctx.dialect = "anthropic"
        principal = ctx.principal = self.auth.authenticate(ctx.headers, DIALECTS[ctx.dialect])
        check_ip(principal, ctx)
        name = ctx.path.removeprefix("/v1/models/")
        check_model(principal, name)
        self.router.require(name)
        entry = listings.anthropic_model(name, self.started_at) if ctx.dialect == "anthropic" else \
            listings.openai_model(name, self.started_at)
        await send_json(send, ctx, 200, orjson.dumps(entry), cors)


def anthropic_client(headers: dict[str, str]) -> bool:
    """The Anthropic SDK (and Claude Code) always send anthropic-version; a bare x-api-key says so too."""
    return "anthropic-version" in headers or ("x-api-key" in headers and "authorization" not in headers)
