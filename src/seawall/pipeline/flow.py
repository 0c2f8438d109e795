"""The one pipeline every API request travels:

    auth -> ingress -> access -> validate -> admit -> route -> attempt -> egress   (record: app.py)

Auth runs before the body is read, so an unauthenticated client can't make the gateway read
(and parse) a large body; its dialect, and so its key header, is known from the path already.
"""

from __future__ import annotations

import asyncio

from seawall.config import ServerSettings
from seawall.limits.memory import MemoryLimiter
from seawall.pipeline.access import check_access
from seawall.pipeline.admit import Admission
from seawall.pipeline.attempt import Completed, Retrier, attempt
from seawall.pipeline.auth import Authenticator
from seawall.pipeline.context import RequestContext
from seawall.pipeline.deadlines import BodyDeadlines
from seawall.pipeline.egress import relay_stream, send_json
from seawall.pipeline.ingress import parse_openai, read_body
from seawall.pipeline.route import Router
from seawall.pipeline.validate import validate
from seawall.providers.transport import Transport


class Pipeline:
    def __init__(self, server: ServerSettings, auth: Authenticator, router: Router, transport: Transport):
        self.server, self.auth, self.router, self.transport = server, auth, router, transport
        self.deadlines = BodyDeadlines(server.body_timeout_s)
        self.retrier = Retrier()
        self.limiter = MemoryLimiter()  # in-process: limits hold per gateway process (Redis: later)

    async def handle(self, ctx: RequestContext, operation: str, receive, send,
                     cors: list[tuple[bytes, bytes]]) -> None:
        ctx.principal = self.auth.authenticate(ctx.headers)
        body = await self.deadlines.bounded(lambda: read_body(receive, ctx.headers, self.server.max_body_bytes))
        watcher = watch_disconnect(receive, ctx)
        try:
            req = ctx.request = parse_openai(operation, body, ctx.headers)
            check_access(ctx, req)
            req = ctx.request = validate(req)
            async with Admission(ctx, self.limiter, len(body)) as limit_headers:
                candidates = self.router.candidates(req.model, req.operation)
                outcome = await attempt(ctx, req, candidates, self.transport, self.retrier)
                ctx.deployment = outcome.target.label
                headers = cors + [(k.encode(), v.encode()) for k, v in limit_headers.items()] if limit_headers \
                    else cors
                if isinstance(outcome, Completed):
                    ctx.usage, ctx.model_served = outcome.reply.usage, outcome.reply.model
                    await send_json(send, ctx, 200, outcome.reply.body, headers)
                else:
                    await relay_stream(send, ctx, outcome, headers)
        finally:
            ctx.finished = True
            watcher.cancel()


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
