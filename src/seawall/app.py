"""The gateway as an ASGI app: wires the stages, stores and background tasks, and answers the
routes that are not the pipeline (health, model list, CORS preflight, unknown paths).

Raw ASGI rather than a framework: the route table is six entries, and on the measured stack a
framework's request/response objects cost a visible share of the ~0.3 ms per-request budget
(bench/peers/RESULTS.md). Built by a factory; importing this module does nothing.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping

from prometheus_client import CollectorRegistry

from seawall import __version__
from seawall.cluster.node import Cluster
from seawall.config import ResolvedDeployment, Settings, TraceSettings
from seawall.connections import ConnectionGuard
from seawall.console.admin import AdminConsole
from seawall.console.deployments import DeploymentsAdmin
from seawall.console.support import Internal, Support
from seawall.decide.access import client_address, parse_cidr
from seawall.decide.cors import cors_headers, origin_allowed, preflight_headers
from seawall.decide.redact import Redactor
from seawall.decide.routes import diagnose_route
from seawall.dialects import DIALECTS
from seawall.errors import SeawallError, error, method_not_allowed
from seawall.limits.quota import QuotaLedger
from seawall.observe.alerts import AlertMonitor
from seawall.observe.capture import CaptureBuilder
from seawall.observe.log import RequestLogWriter
from seawall.observe.metrics import Metrics, SeawallCollector
from seawall.pipeline.auth import Authenticator
from seawall.pipeline.context import (
    Principal,
    RequestContext,
    new_request_id,
    read_headers,
)
from seawall.pipeline.egress import send_error, stream_error_event
from seawall.pipeline.flow import Pipeline
from seawall.pipeline.forward import Forwarder
from seawall.pipeline.health import Prober
from seawall.pipeline.ingress import ClientGone
from seawall.pipeline.multipart import UPLOADS
from seawall.pipeline.paths import (
    API_OPERATIONS,
    CLIENT_DIALECTS,
    gemini_operation,
    gemini_path,
    query_key,
)
from seawall.pipeline.record import record
from seawall.pipeline.responses import PREFIX, ResponsesDesk
from seawall.pipeline.route import Router
from seawall.pipeline.tasks import TaskGateway
from seawall.plain_routes import PlainRoutes
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
                                 owners=self.cluster.task_ids() if self.cluster else None,
                                 health=self.pipeline.retrier.health)
        self.tasks.instances = lambda: self.pipeline.retrier.instances()  # as many as the chat retries count
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
        # families of paths with an id in them, each answering its own (the request log records them)
        self._families = {PREFIX: self.responses.handle}
        self.plain = PlainRoutes(self, metrics_token)  # health, model lists, the metrics scrape
        self._plain = self.plain.table(settings.metrics)
        self._paths = {path: method for method, path in (*API_OPERATIONS, *self._plain)}

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
        operation = API_OPERATIONS.get(key)
        path_model = None
        if operation is not None:
            ctx.dialect = CLIENT_DIALECTS.get(ctx.path, "openai")
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
                await self.plain.model(ctx, send, cors)
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
