"""OpenTelemetry traces over OTLP (the `traces:` section, off by default).

One SERVER span per request and one CLIENT span per upstream attempt, its child, named and
attributed after OpenTelemetry's semantic conventions: HTTP's (http.request.method, url.path,
http.response.status_code, server.address, error.type) and GenAI's (gen_ai.operation.name,
gen_ai.provider.name, gen_ai.request.model, gen_ai.response.model, gen_ai.usage.input_tokens,
gen_ai.usage.output_tokens, gen_ai.response.finish_reasons; the names of
opentelemetry-semantic-conventions 0.66b2), plus the gateway's request id (seawall.request_id).
A caller's W3C `traceparent` is continued, and the attempt's own is sent upstream, so a request
can be followed from the client through the gateway to the provider.

Only app.py imports this module, and only when traces are enabled: with them off, nothing of
OpenTelemetry is loaded and a request pays an `is None` check where a trace would be touched.
Finished spans go to the SDK's BatchSpanProcessor: its thread encodes and exports them in
batches, off the event loop. One RequestTrace per request, owned by its task: not thread-safe.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from urllib.parse import urlsplit

import orjson
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from seawall import __version__
from seawall.config import ResolvedDeployment
from seawall.config.traces import ExporterTarget, TraceSettings, exporter_target
from seawall.observe.metrics import PROVIDER_NAMES  # gen_ai.provider.name, as the metrics' provider label
from seawall.pipeline.context import RequestContext
from seawall.providers.base import AttemptRecord, StreamEvent, UpstreamRequest

# gen_ai.operation.name's well-known values; other operations keep their own name
OPERATION_NAMES = {"chat": "chat", "responses": "chat", "embeddings": "embeddings",
                   "completions": "text_completion"}

_PROPAGATOR = TraceContextTextMapPropagator()


def build_exporter(target: ExporterTarget, settings: TraceSettings) -> SpanExporter:
    if target.protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
        except ImportError:
            raise RuntimeError("traces over gRPC need the OTLP gRPC exporter: pip install "
                               "opentelemetry-exporter-otlp-proto-grpc (or use protocol: http/protobuf)") from None
        return GrpcExporter(endpoint=target.endpoint, insecure=target.endpoint.startswith("http://"),
                            headers=target.headers or None, timeout=settings.export_timeout_s)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=target.endpoint, headers=target.headers or None,
                            timeout=settings.export_timeout_s)


class Tracing:
    """The gateway's tracer: its own provider (not the process-wide one: several gateways may
    share a process in tests), sampling new traces at sample_ratio and following a caller's choice."""

    def __init__(self, settings: TraceSettings, environ: Mapping[str, str], exporter: SpanExporter | None = None):
        self.target = exporter_target(settings, environ)
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": self.target.service_name, "service.version": __version__}),
            sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)))
        self.provider.add_span_processor(BatchSpanProcessor(
            exporter or build_exporter(self.target, settings), max_queue_size=settings.max_queue,
            schedule_delay_millis=settings.batch_delay_s * 1000,
            max_export_batch_size=min(512, settings.max_queue), export_timeout_millis=settings.export_timeout_s * 1000))
        self.tracer = self.provider.get_tracer("seawall", __version__)
        self.ratio = settings.sample_ratio

    def begin(self, ctx: RequestContext) -> None:
        # A new trace left out by sampling gets no spans at all, not the SDK's unrecorded ones:
        # those cost a third of a recorded request's CPU (bench/traces_cost.py). A caller's
        # traceparent is always handed to the SDK, which follows its sampled flag.
        if self.ratio < 1.0 and "traceparent" not in ctx.headers and random.random() >= self.ratio:
            return
        ctx.trace = RequestTrace(self, ctx)

    def close(self) -> None:
        """Export what is left and stop the exporter's thread (blocking: call it off the loop)."""
        self.provider.shutdown()


class RequestTrace:
    __slots__ = ("_tracing", "span", "_attempt", "_open", "_provider", "_reasons")

    def __init__(self, tracing: Tracing, ctx: RequestContext):
        self._tracing = tracing
        parent = _PROPAGATOR.extract(ctx.headers) if "traceparent" in ctx.headers else Context()
        self.span = tracing.tracer.start_span(f"{ctx.method} {route_of(ctx.path)}", context=parent,
                                              kind=SpanKind.SERVER)
        self._attempt: Span | None = None
        self._open: Span | None = None  # a streamed attempt's span: it lasts until the stream ends
        self._provider: str | None = None
        self._reasons: list[str] = []

    # -- one per upstream attempt (pipeline/attempt.py) --------------------------------------------
    def attempt_began(self, ctx: RequestContext, target: ResolvedDeployment, upstream: UpstreamRequest) -> None:
        """The attempt's span starts, and its traceparent goes upstream with the request."""
        operation = OPERATION_NAMES.get(ctx.request.operation, ctx.request.operation) if ctx.request else "chat"
        model = target.spec.model or (ctx.request.model if ctx.request else "")
        provider = self._provider = PROVIDER_NAMES.get(target.spec.provider, target.spec.provider)
        span = self._attempt = self._tracing.tracer.start_span(
            f"{operation} {model}", context=set_span_in_context(self.span), kind=SpanKind.CLIENT)
        _PROPAGATOR.inject(upstream.headers, context=set_span_in_context(span))
        if span.is_recording():
            url = urlsplit(upstream.url)
            span.set_attributes({
                "gen_ai.operation.name": operation, "gen_ai.provider.name": provider,
                "gen_ai.system": provider,  # gen_ai.provider.name's older name, still read by many backends
                "gen_ai.request.model": model or "", "http.request.method": upstream.method,
                "server.address": url.hostname or "", "server.port": url.port or (443 if url.scheme == "https" else 80),
                # without the query: a Gemini key may ride in it
                "url.full": f"{url.scheme}://{url.netloc.rpartition('@')[2]}{url.path}",
                "seawall.deployment": target.label})

    def attempt_ended(self, record: AttemptRecord, outcome: object) -> None:
        """A failed or completed attempt's span ends here; a stream's when the stream does (finish)."""
        span, self._attempt = self._attempt, None
        if span is None:
            return
        if record.status is not None:
            span.set_attribute("http.response.status_code", record.status)
        if record.upstream_request_id:
            span.set_attribute("seawall.upstream_request_id", record.upstream_request_id)
        if record.category and outcome is None:  # failed: the gateway's category of the failure
            span.set_attribute("error.type", record.category)
            span.set_status(Status(StatusCode.ERROR, record.detail[:200]))
        decoder = getattr(outcome, "decoder", None)
        if decoder is not None:  # a stream: its finish reasons are read as the events pass
            outcome.decoder = _ReasonsOf(decoder, self._reasons)
            self._reasons += [ev.finish_reason for ev in outcome.first if ev.finish_reason]
        reply = getattr(outcome, "reply", None)
        if reply is not None:
            self._reasons += finish_reasons(reply.body, reply.shape)
        if outcome is not None and reply is None:
            self._open = span
        else:
            if reply is not None:
                _gen_ai_result(span, reply.model, reply.usage, self._reasons)
            span.end()

    # -- the request's end (app.py, after record) --------------------------------------------------
    def finish(self, ctx: RequestContext) -> None:
        span = self.span
        if self._attempt is not None:  # cancelled mid-attempt (the client left)
            self._attempt.set_attribute("error.type", ctx.category or "cancelled")
            self._attempt.end()
        if self._open is not None:
            if ctx.stream_end not in (None, "completed"):
                self._open.set_attribute("error.type", ctx.category or f"stream.{ctx.stream_end}")
                self._open.set_status(Status(StatusCode.ERROR, f"stream {ctx.stream_end}"))
            _gen_ai_result(self._open, ctx.model_served, ctx.usage, self._reasons)
            self._open.end()
        if not span.is_recording():
            return
        req = ctx.request
        attributes = {"http.request.method": ctx.method, "url.path": ctx.path, "url.scheme": "http",
                      "http.route": route_of(ctx.path), "http.response.status_code": ctx.status,
                      "seawall.request_id": ctx.request_id, "seawall.attempts": len(ctx.attempts)}
        if ctx.client_ip:
            attributes["client.address"] = ctx.client_ip
        if "user-agent" in ctx.headers:
            attributes["user_agent.original"] = ctx.headers["user-agent"]
        if req is not None:
            attributes["gen_ai.operation.name"] = OPERATION_NAMES.get(req.operation, req.operation)
            attributes["gen_ai.request.model"] = req.model
            attributes["gen_ai.request.stream"] = bool(req.stream)
        elif ctx.model_asked:
            attributes["gen_ai.request.model"] = ctx.model_asked
        if self._provider:
            attributes["gen_ai.provider.name"] = attributes["gen_ai.system"] = self._provider
        if ctx.deployment:
            attributes["seawall.deployment"] = ctx.deployment
        if ctx.stream_end:
            attributes["seawall.stream_end"] = ctx.stream_end
        span.set_attributes(attributes)
        _gen_ai_result(span, ctx.model_served, ctx.usage, self._reasons)
        if ctx.category:  # the catalog's category says what failed (docs/reference/error-taxonomy.md)
            span.set_attribute("error.type", ctx.category)
        if ctx.status >= 500 or (ctx.streamed and ctx.stream_end not in (None, "completed")):
            span.set_status(Status(StatusCode.ERROR, ctx.error_code or ctx.category or ""))
        span.end()


class _ReasonsOf:
    """A stream decoder that notes the finish reasons of the events it decodes (traced requests only)."""

    __slots__ = ("_decoder", "_reasons")

    def __init__(self, decoder, reasons: list[str]):
        self._decoder, self._reasons = decoder, reasons

    def feed(self, data: bytes) -> list[StreamEvent]:
        events = self._decoder.feed(data)
        self._reasons += [ev.finish_reason for ev in events if ev.finish_reason]
        return events

    def __getattr__(self, name: str):  # the Responses face reads its decoder's state
        return getattr(self._decoder, name)


def _gen_ai_result(span: Span, model: str | None, usage, reasons: list[str]) -> None:
    if model:
        span.set_attribute("gen_ai.response.model", model)
    if usage is not None:
        span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
    if reasons:
        span.set_attribute("gen_ai.response.finish_reasons", list(dict.fromkeys(reasons)))


def finish_reasons(body: bytes, shape: str) -> list[str]:
    """Why a complete reply ended, read from its body in its own dialect."""
    try:
        reply = orjson.loads(body)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(reply, dict):
        return []
    if shape == "anthropic":
        return [reply["stop_reason"]] if isinstance(reply.get("stop_reason"), str) else []
    if shape == "gemini":
        return [c["finishReason"] for c in reply.get("candidates") or () if isinstance(c, dict)
                and isinstance(c.get("finishReason"), str)]
    return [c["finish_reason"] for c in reply.get("choices") or () if isinstance(c, dict)
            and isinstance(c.get("finish_reason"), str)]


def route_of(path: str) -> str:
    """The path as a low-cardinality route: a Gemini path's model (and a stored response's id) become placeholders."""
    for prefix in ("/v1beta/models/", "/v1/models/"):
        if path.startswith(prefix) and ":" in path:
            return prefix + "{model}:" + path.rpartition(":")[2]
    if path.startswith("/v1/responses/"):
        return "/v1/responses/{id}" + ("/input_items" if path.endswith("/input_items") else "")
    return path
