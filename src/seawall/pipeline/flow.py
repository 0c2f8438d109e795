"""The one pipeline every API request travels:

    auth -> ingress -> access -> admit -> validate -> route -> attempt -> egress   (record: app.py)

Auth runs before the body is read, so an unauthenticated client can't make the gateway read
(and parse) a large body; its dialect, and so its key header, is known from the path already.

Ingress keeps the body in the client's own dialect. When no deployment the request may reach
speaks that dialect, it is translated to the canonical form here, once, before pre-flight, and
every check applies to it as to an OpenAI client's; otherwise it stays native, and the attempt
stage translates it only for a candidate of another vendor (pipeline/attempt.py).

Admission (rate limits, concurrency) runs before validate, so a key past its limits can't make
the gateway count tokens (the dearest check).

A Responses request is a dialect of its own, made per request (dialects/responses_face.py), and
may continue a response: pipeline/responses.py says where it lives (an upstream's store, or the
gateway's). A multipart upload (`upload`) travels the same stages with its body relayed as it
arrives, and a reply that is bytes (audio, a transcript) is relayed as it comes (`_deliver`).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import orjson

from seawall.config import ServerSettings
from seawall.decide.key_policy import body_limit, body_too_large
from seawall.dialects import DIALECTS
from seawall.dialects.base import ClientDialect
from seawall.dialects.responses_face import ResponsesFace
from seawall.errors import SeawallError, error
from seawall.limits.base import RemoteLimiter
from seawall.limits.memory import MemoryLimiter
from seawall.limits.quota import QuotaLedger
from seawall.pipeline.access import check_access
from seawall.pipeline.admit import Admission
from seawall.pipeline.attempt import Completed, Relaying, Retrier, Streaming, attempt
from seawall.pipeline.auth import Authenticator
from seawall.pipeline.context import RequestContext
from seawall.pipeline.count import count_locally
from seawall.pipeline.deadlines import BodyDeadlines
from seawall.pipeline.egress import relay_bytes, relay_stream, send_json
from seawall.pipeline.ingress import DEFAULT_MODELS, DRAIN_LIMIT, drain, read_body
from seawall.pipeline.multipart import Upload, UploadRules
from seawall.pipeline.quota import QuotaHold
from seawall.pipeline.responses import ResponsesDesk, same_upstream
from seawall.pipeline.route import Router
from seawall.pipeline.validate import FALLBACK_HEADER, Preflight
from seawall.providers.base import ApiRequest, Usage
from seawall.providers.transport import Transport


class Pipeline:
    def __init__(self, server: ServerSettings, auth: Authenticator, router: Router, transport: Transport,
                 quotas: QuotaLedger, responses: ResponsesDesk | None = None):
        self.server, self.auth, self.router, self.transport, self.quotas = server, auth, router, transport, quotas
        self.responses = responses  # previous_response_id's conversations (pipeline/responses.py)
        self.deadlines = BodyDeadlines(server.body_timeout_s)
        self.retrier = Retrier()
        self.preflight = Preflight(server, router)
        # In-process by default; server.py puts a RedisLimiter here when limits.redis_url is set.
        self.limiter: MemoryLimiter | RemoteLimiter = MemoryLimiter()

    async def handle(self, ctx: RequestContext, operation: str, receive, send,
                     cors: list[tuple[bytes, bytes]], path_model: str | None = None) -> None:
        """`ctx.dialect` is the client's (set from the route); `path_model` is a model named in
        the path (Gemini's `models/{model}:method`)."""
        dialect = DIALECTS[ctx.dialect]
        if operation == "responses":  # its rendering needs the request: a dialect of its own
            dialect = ctx.face = ResponsesFace()
        if ctx.principal is None:  # set already only for an admin's replay (app.py: replay)
            ctx.principal = self.auth.authenticate(ctx.headers, dialect)
        body = ctx.body = await self._read_body(ctx, receive)
        watcher = watch_disconnect(receive, ctx)
        try:
            try:
                asked = req = ctx.request = dialect.parse(operation, body, ctx.headers, path_model)
            except SeawallError:
                ctx.model_asked = ctx.model_asked or model_named(body)  # for the log row
                raise
            check_access(ctx, req)
            native_route = req.dialect == "openai" or self.router.serves_natively(req.model, req.operation,
                                                                                 req.dialect)
            pinned = None  # the deployments at the upstream holding the response a request continues
            if operation == "responses":  # continues a response: where it lives decides how it goes
                made = await self.responses.begin(ctx, dialect, req, native_route)
                if made is not None:
                    pinned = same_upstream(self.router.plan(req.model, req.operation, req.dialect), made,
                                           req.body["previous_response_id"], req.model, self.router.served_by(made))
                native_route = native_route and not dialect.earlier
            local_count = not native_route and req.operation == "count_tokens"
            if not native_route and not local_count:
                req = ctx.request = dialect.translate(req, self.router.lossy(req.model))
            quota = None if local_count else QuotaHold(ctx, self.quotas, len(body), self.preflight.price_of)
            async with Admission(ctx, self.limiter, len(body), quota) as limit_headers:  # cheap checks before counting
                # may repair it, or route it to a fallback; the key's own policy and limits over the model's
                checked = await self.preflight.check(req, len(body), ctx.principal.request_policy)
                ctx.request, req, cors = checked.request, checked.routed, cors + checked.headers
                if local_count:  # no deployment of the client's vendor: the gateway counts
                    reply, counted = count_locally(req, self.preflight.tokenizer(req.model))
                    ctx.usage = Usage()  # counting costs nothing
                    await send_json(send, ctx, 200, reply, cors + counted + _as_headers(limit_headers))
                    return
                async with quota:
                    candidates = pinned or self.retrier.arrange(self.router.plan(req.model, req.operation,
                                                                                 req.dialect))
                    outcome = await attempt(ctx, req, candidates, self.transport, self.retrier, dialect.translate)
                    if operation == "responses" and isinstance(outcome, Completed):
                        await self.responses.issued(ctx, dialect, outcome.target, outcome.reply)
                    await self._deliver(send, ctx, outcome, cors + _as_headers(limit_headers), dialect, asked, req)
                    if operation == "responses":
                        await self.responses.finish(ctx, dialect, outcome.target)
        finally:
            ctx.finished = True
            watcher.cancel()

    async def upload(self, ctx: RequestContext, operation: str, rules: UploadRules, receive, send,
                     cors: list[tuple[bytes, bytes]]) -> None:
        """A multipart upload (image edits and variations, transcriptions and translations):
        checked as it streams through to the deployment, never held whole (pipeline/multipart.py).
        Its text fields stand in for the body in the estimates: a file counts no tokens."""
        principal = ctx.principal = self.auth.authenticate(ctx.headers, DIALECTS["openai"])
        declared = ctx.headers.get("content-length")
        policy = principal.request_policy
        keyed = policy is not None and policy.max_body_bytes is not None and \
            policy.max_body_bytes < rules.max_body_bytes
        if keyed:  # the key's (or its group's) own body limit, below the endpoint's
            rules = replace(rules, max_body_bytes=policy.max_body_bytes)
        try:
            upload = Upload(receive, ctx.headers.get("content-type"), declared, rules, self.server.body_timeout_s)
        except SeawallError as e:
            await drain(receive, int(declared) if declared and declared.isdigit() else DRAIN_LIMIT)
            raise self._keyed(e, keyed, principal) from None
        watchers: list[asyncio.Task] = []  # the client's body read, its leaving is watched for (as handle's)
        upload.on_end = lambda: watchers.append(watch_disconnect(receive, ctx))
        try:
            fields = await self.deadlines.bounded(upload.head)
            model = fields.get("model") or DEFAULT_MODELS.get(operation)
            if not model:
                raise error("missing_part", param="model", endpoint=rules.endpoint)
            req = ctx.request = ApiRequest(operation, model, upload.reader.summary.fields, upload=upload)
            check_access(ctx, req)
            estimate = sum(len(v) for v in upload.reader.summary.fields.values())
            quota = QuotaHold(ctx, self.quotas, estimate, self.preflight.price_of)
            async with Admission(ctx, self.limiter, estimate, quota) as limit_headers:
                async with quota:
                    candidates = self.retrier.arrange(self.router.plan(model, operation, "openai"))
                    outcome = await attempt(ctx, req, candidates, self.transport, self.retrier)
                    await self._deliver(send, ctx, outcome, cors + _as_headers(limit_headers), DIALECTS["openai"],
                                        req, req)
        except SeawallError as e:
            await upload.drain()  # the client may still be sending: it hears the refusal, not a reset
            raise self._keyed(e, keyed, principal) from None
        finally:
            ctx.finished = True
            for watcher in watchers:
                watcher.cancel()

    @staticmethod
    def _keyed(err: SeawallError, keyed: bool, principal) -> SeawallError:
        """A body over the key's own limit says it is the key's, and whose."""
        if keyed and err.code == "body_too_large":
            return body_too_large(principal.request_policy, principal.name, principal.group)
        return err

    async def _deliver(self, send, ctx: RequestContext, outcome: Completed | Streaming | Relaying,
                       headers: list[tuple[bytes, bytes]], dialect: ClientDialect, asked: ApiRequest,
                       req: ApiRequest) -> None:
        """The answer to the client, in its dialect: a reply, a stream, or bytes relayed."""
        ctx.deployment = outcome.target.label
        if outcome.target.route != req.model:  # one of models[].fallbacks served: say which
            headers = served_by(headers, outcome.target.route)
        if isinstance(outcome, Completed):
            ctx.usage, ctx.model_served = outcome.reply.usage, outcome.reply.model
            reply = outcome.reply.body if outcome.reply.shape == dialect.name else \
                dialect.reply(asked, outcome.reply.body, ctx.request_id)
            await send_json(send, ctx, 200, reply, headers)
        elif isinstance(outcome, Relaying):
            ctx.streamed = req.operation == "speech"  # spoken as it is made
            await relay_bytes(send, ctx, outcome, headers)
        else:
            if outcome.shape != dialect.name:
                ctx.translator = dialect.stream(ctx.request_id, req.model)
            elif isinstance(dialect, ResponsesFace):  # a stream that breaks ends with the id it announced
                dialect.upstream = outcome.decoder
            await relay_stream(send, ctx, outcome, headers)

    async def _read_body(self, ctx: RequestContext, receive) -> bytes:
        """The body, up to the server's max_body_bytes or the key's (or its group's) lower one."""
        policy = ctx.principal.request_policy if ctx.principal is not None else None
        limit = body_limit(self.server.max_body_bytes, policy)
        try:
            return await self.deadlines.bounded(lambda: read_body(receive, ctx.headers, limit))
        except SeawallError as e:
            if e.code == "body_too_large" and policy is not None and limit < self.server.max_body_bytes:
                raise body_too_large(policy, ctx.principal.name, ctx.principal.group) from None
            raise


def _as_headers(limit_headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode(), v.encode()) for k, v in limit_headers.items()] if limit_headers else []


def model_named(body: bytes) -> str | None:
    """The model a body names, for the log row of a request refused before it was understood."""
    try:
        model = orjson.loads(body).get("model")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return model[:200] if isinstance(model, str) else None


def served_by(headers: list[tuple[bytes, bytes]], model: str) -> list[tuple[bytes, bytes]]:
    """x-seawall-fallback-model names the model that served: a runtime fallback's name replaces
    the one pre-flight set when the context fallback_model itself failed over."""
    return [h for h in headers if h[0] != FALLBACK_HEADER] + [(FALLBACK_HEADER, model.encode())]


def watch_disconnect(receive, ctx: RequestContext) -> asyncio.Task:
    """Cancel the request's task the moment its client disconnects, so the upstream call is
    dropped at once instead of running to the end for nobody (uvicorn's send() silently ignores
    writes after a disconnect, so without this a vanished client is never noticed)."""
    victim = asyncio.current_task()

    async def watch() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                if not ctx.finished and victim is not None:
                    ctx.client_gone = True
                    victim.cancel()
                return

    return asyncio.create_task(watch())
