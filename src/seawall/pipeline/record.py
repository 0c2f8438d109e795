"""Record: every request, whatever its outcome, becomes one request-log row, handed to the
batched writer without waiting, one update of the metrics' counters (observe/metrics.py), and
counted for the gateway's alerts (observe/alerts.py): a few dict updates each. The requests
request_log.capture selects also hand the writer references to their bodies (observe/capture.py)."""

from __future__ import annotations

from seawall.observe.alerts import AlertMonitor
from seawall.observe.capture import selected, source_of
from seawall.observe.log import RequestLogWriter
from seawall.observe.metrics import Metrics
from seawall.pipeline.context import RequestContext
from seawall.pipeline.quota import PriceOf, no_prices, usage_cost
from seawall.providers.base import AttemptRecord
from seawall.store.base import RequestRecord


def to_record(ctx: RequestContext, latency_ms: float, cost_usd: float | None = None) -> RequestRecord:
    req = ctx.request
    usage = ctx.usage
    last = ctx.attempts[-1] if ctx.attempts else None
    return RequestRecord(
        request_id=ctx.request_id, ts=ctx.received_at, method=ctx.method, path=ctx.path, status=ctx.status,
        latency_ms=round(latency_ms, 3), dialect=ctx.dialect, operation=req.operation if req else None,
        key_id=ctx.principal.key_id if ctx.principal else None,
        tenant=ctx.principal.tenant if ctx.principal else None,
        model_requested=req.model if req else ctx.model_asked, model_served=ctx.model_served, deployment=ctx.deployment,
        category=ctx.category, error_code=ctx.error_code, attempts=len(ctx.attempts),
        attempts_detail=[attempt_entry(a) for a in ctx.attempts],
        prompt_tokens=usage.prompt_tokens if usage else None,
        completion_tokens=usage.completion_tokens if usage else None,
        ttfb_ms=round(ctx.ttfb_ms, 3) if ctx.ttfb_ms is not None else None, streamed=ctx.streamed,
        stream_end=ctx.stream_end, client_ip=ctx.client_ip,
        upstream_request_id=last.upstream_request_id if last else None, cost_usd=cost_usd)


def attempt_entry(a: AttemptRecord) -> dict:
    # By hand: dataclasses.asdict deep-copies recursively and is several times slower.
    entry = {"deployment": a.deployment, "status": a.status, "category": a.category, "latency_ms": a.latency_ms,
             "upstream_request_id": a.upstream_request_id, "detail": a.detail}
    if a.proxy is not None:  # only when one was used: most rows go direct
        entry["proxy"] = a.proxy
    return entry


def cost_of(ctx: RequestContext, price_of: PriceOf) -> float | None:
    """USD at the requested model's prices, as the quota charges it; None when the upstream
    reported no usage or the model has no price."""
    if ctx.usage is None or ctx.request is None:
        return None
    price = price_of(ctx.request.model)
    if price is None:
        return None
    return usage_cost(price, ctx.usage)


def record(writer: RequestLogWriter, ctx: RequestContext, metrics: Metrics | None = None,
           price_of: PriceOf = no_prices, alerts: AlertMonitor | None = None) -> None:
    latency_ms = ctx.elapsed_ms()
    cost = cost_of(ctx, price_of)
    writer.submit(to_record(ctx, latency_ms, cost))
    mode = writer.capture_mode
    if mode != "off" and selected(mode, ctx.status, ctx.stream_end):
        writer.capture(source_of(ctx))
    if metrics is not None:
        metrics.observe(ctx, latency_ms / 1000, cost)
    if alerts is not None:
        alerts.observe(ctx)
