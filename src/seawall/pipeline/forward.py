"""Forward: OpenAI's endpoints the gateway does not serve itself (files, batches, fine-tuning, …)
passed on as they are to one named OpenAI-compatible deployment, when the operator says so
(`passthrough:` in the config, config/forward.py). Opt-in: these keep state at the upstream, so
the operator decides which account holds it.

    key -> access (the rule's name, as key permissions name a model) -> limits (requests and
    concurrency; a file carries no tokens) -> the upstream, with its key in place of the caller's
    -> the reply, streamed back as it arrives; every outcome logged like any request

Bodies stream both ways, never held whole (a 512 MB file upload, a batch's output download). An
upstream's refusal comes back in OpenAI's envelope with the request ID and what to check first
(its 401 about the gateway's provider key, never the caller's). One attempt: the deployment is
named, and a body already sent can't be sent again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from fnmatch import fnmatchcase

from seawall.config import PassthroughRule, ResolvedDeployment, ServerSettings
from seawall.decide.classify import classify_reply
from seawall.dialects import OPENAI
from seawall.errors import error
from seawall.pipeline.access import check_ip, check_model
from seawall.pipeline.admit import Admission
from seawall.pipeline.attempt import transport_error, upstream_error
from seawall.pipeline.auth import Authenticator
from seawall.pipeline.context import RequestContext
from seawall.pipeline.egress import base_headers, relayed_headers
from seawall.pipeline.ingress import DRAIN_LIMIT, drain, next_chunk
from seawall.providers.base import ApiRequest, AttemptRecord, UpstreamRequest
from seawall.providers.registry import adapter_for
from seawall.providers.transport import Transport, UpstreamFailure

log = logging.getLogger("seawall")

# The caller's request headers that never go on: the connection's own (RFC 9110 §7.6.1), its
# framing (the gateway frames the body), every credential and the caller's OpenAI account
# (the deployment's key carries its own), and the encoding (the gateway asks for identity).
_DROPPED = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                      "upgrade", "host", "content-length", "accept-encoding", "authorization",
                      "proxy-authorization", "x-api-key", "api-key", "x-goog-api-key", "cookie", "mj-api-secret",
                      "openai-organization", "openai-project", "user-agent", "x-forwarded-for", "forwarded",
                      "x-real-ip"})
# Of the reply's headers, what says what the body is and what the upstream did.
_RELAYED = ("content-type", "content-disposition", "openai-processing-ms", "openai-version")
_ERROR_BYTES = 1 << 20  # an error reply read to explain it (the rest is dropped with the connection)


@dataclass(frozen=True, slots=True)
class Route:
    rule: PassthroughRule
    target: ResolvedDeployment

    def matches(self, method: str, path: str) -> bool:
        return method in self.rule.methods and any(fnmatchcase(path, p) for p in self.rule.paths)


class Forwarder:
    """One per gateway. `limits`: a callable giving the pipeline's limiter (Redis-backed ones are
    set after construction)."""

    def __init__(self, rules: list[PassthroughRule], routes: dict[str, list[ResolvedDeployment]],
                 server: ServerSettings, auth: Authenticator, transport: Transport, limits):
        by_label = {d.label: d for ds in routes.values() for d in ds}
        self.routes = [Route(rule, by_label[rule.deployment]) for rule in rules]
        self.server, self.auth, self.transport, self._limits = server, auth, transport, limits

    def match(self, method: str, path: str) -> Route | None:
        return next((r for r in self.routes if r.matches(method, path)), None) if self.routes else None

    async def handle(self, ctx: RequestContext, route: Route, receive, send, cors: list[tuple[bytes, bytes]],
                     ready: bool) -> None:
        if not ready:
            raise error("not_ready")
        principal = ctx.principal = self.auth.authenticate(ctx.headers, OPENAI)
        check_ip(principal, ctx)
        check_model(principal, route.rule.name)
        ctx.request = ApiRequest("passthrough", route.rule.name, {})
        async with Admission(ctx, self._limits(), 0) as limit_headers:
            await self._forward(ctx, route.target, receive, send,
                                cors + [(k.encode(), v.encode()) for k, v in limit_headers.items()])

    async def _forward(self, ctx: RequestContext, target: ResolvedDeployment, receive, send,
                       extra: list[tuple[bytes, bytes]]) -> None:
        ctx.deployment = target.label
        headers = {k: v for k, v in ctx.headers.items() if k not in _DROPPED}
        if target.api_key:
            headers["authorization"] = "Bearer " + target.api_key
        headers.update(target.spec.headers)
        url = target.base_url + ctx.path.removeprefix("/v1") + (f"?{ctx.query.decode('latin-1')}" if ctx.query else "")
        declared = ctx.headers.get("content-length")
        length = int(declared) if declared is not None and declared.isdigit() else None
        has_body = length != 0 and (length is not None or "transfer-encoding" in ctx.headers)
        body = ClientBody(receive, self.server.body_timeout_s) if has_body else None
        record = AttemptRecord(target.label)
        ctx.attempts.append(record)
        started = time.perf_counter()
        try:
            try:
                response = await self.transport.open(UpstreamRequest(ctx.method, url, headers, body or b"", length),
                                                     target.spec.timeouts, target.label)
            except UpstreamFailure as f:
                err = transport_error(target, f)
                record.category, record.detail, record.proxy = err.category, f.detail, f.proxy
                if body is not None:
                    await body.drain()
                raise err from None
            if body is not None:
                await body.drain()  # answered before the body was whole: the caller still hears it
            record.status, record.proxy = response.status, response.proxy
            record.upstream_request_id = response.headers.get("x-request-id")
            if response.status >= 400:
                raw = await bounded_read(response)
                cls = classify_reply(response.status, response.headers, raw, now=time.time())
                record.category, record.detail = cls.category, f"HTTP {response.status}"
                raise upstream_error(target, response.status,
                                     adapter_for(target.spec.adapter_name).read_error(response.status, raw), cls, raw)
            await relay(send, ctx, response, extra)
        finally:
            record.latency_ms = round((time.perf_counter() - started) * 1000, 2)


class ClientBody:
    """The caller's body as it arrives, each chunk within `idle_s` of the last; `done` once whole."""

    def __init__(self, receive, idle_s: float):
        self._receive, self._idle_s, self.done = receive, idle_s, False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self.done:
            chunk, more = await next_chunk(self._receive, self._idle_s)
            self.done = not more
            if chunk:
                yield chunk

    async def drain(self) -> None:
        """What the caller is still sending, dropped (bounded), so it hears the answer."""
        if not self.done:
            await drain(self._receive, DRAIN_LIMIT)


async def bounded_read(response) -> bytes:
    """An error reply's first bytes (it explains itself in far fewer)."""
    parts, size = [], 0
    try:
        while size < _ERROR_BYTES and (chunk := await response.next_chunk()):
            parts.append(chunk)
            size += len(chunk)
    except UpstreamFailure:
        pass
    if size >= _ERROR_BYTES:
        response.close()
    return b"".join(parts)


async def relay(send, ctx: RequestContext, response, extra: list[tuple[bytes, bytes]]) -> None:
    """The upstream's reply, status and body as they come; cut short, the client's is cut too."""
    ctx.status = response.status
    await send({"type": "http.response.start", "status": response.status,
                "headers": base_headers(ctx, relayed_headers(response, _RELAYED) + extra)})
    try:
        while data := await response.next_chunk():
            if ctx.ttfb_ms is None:
                ctx.ttfb_ms = ctx.elapsed_ms()
            await send({"type": "http.response.body", "body": data, "more_body": True})
    except UpstreamFailure as f:
        response.close()
        ctx.category, ctx.error_code = "stream.interrupted", "stream_interrupted"
        log.warning("request %s: the reply from %s was cut (%s); the client's connection is closed, not ended as "
                    "if whole", ctx.request_id, ctx.deployment, f.detail)
        return  # left incomplete: the server closes the connection
    except BaseException:
        response.close()
        raise
    await send({"type": "http.response.body", "body": b""})
    ctx.finished = True
