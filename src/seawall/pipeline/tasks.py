"""Tasks: the Midjourney task API, in midjourney-proxy's dialect, in front of the configured task
upstreams (providers/midjourney.py translates; this module routes, falls back and remembers).

    POST /mj/submit/{imagine,action,blend,describe}  key → access → body → submit, falling back
                                                      on a transient refusal → remember the owner
    GET  /mj/task/{id}/fetch                          key → access → the owner → fetch → judge FAILURE
    POST /mj/task/list-by-condition                   key → access → one list call per owner

Kept apart from the chat attempt loop: a task is submitted once and polled many times, and each
poll must reach the deployment that holds the task, so the gateway keeps task id → deployment and
owner in its issued-id map (pipeline/issued.py: bounded in memory, and in Redis when gateways
share one, so a task submitted through one is fetched through any). Retry and fallback decisions are decide/retry.py's, as for chat.

Replies keep midjourney-proxy's shape. Seawall's own refusals and refused submits answer with an
HTTP status (as new-api's MJ relay does) and a body a midjourney-proxy client reads: `code`,
`description`, `result: null`, plus `request_id`, `hint` and `category`. A task that ended FAILURE
is still HTTP 200, as the proxies answer it, with `seawall_category`, `seawall_hint` and
`seawall_retry` added.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from seawall.config import ResolvedDeployment, ServerSettings
from seawall.decide.classify import ADVICE, Classification, classify_reply
from seawall.decide.disclosure import client_view
from seawall.decide.retry import (
    Failure,
    Fallback,
    GiveUp,
    RetryBudget,
    RetryPolicy,
    next_attempt,
)
from seawall.errors import SeawallError, error, method_not_allowed
from seawall.pipeline.access import check_ip, check_model
from seawall.pipeline.attempt import malformed, out_of_rotation, transport_error
from seawall.pipeline.auth import Authenticator
from seawall.pipeline.context import RequestContext
from seawall.pipeline.deadlines import BodyDeadlines
from seawall.pipeline.egress import send_json
from seawall.pipeline.health import DeploymentHealth
from seawall.pipeline.ingress import ClientGone, read_body
from seawall.pipeline.issued import Issued, IssuedIds, caller_of
from seawall.pipeline.task_checks import (
    CREDENTIAL,
    DEFAULT_MAX_TASKS,
    LIST_PATH,
    SERVED,
    annotate,
    check_submit,
    error_payload,
    parse_body,
    refusal,
    route_of,
)
from seawall.providers import midjourney as mj
from seawall.providers.base import ApiRequest, AttemptRecord
from seawall.providers.registry import task_adapter_for
from seawall.providers.transport import Transport, UpstreamFailure, UpstreamResponse

log = logging.getLogger("seawall.tasks")

# -- pure: the client's side -----------------------------------------------------------------------

class _Failed(Exception):
    def __init__(self, err: SeawallError, detail: str, wait_s: float | None = None, properties: dict | None = None):
        self.error, self.detail, self.wait_s, self.properties = err, detail, wait_s, properties


@dataclass(slots=True)
class _Submitted:
    target: ResolvedDeployment
    reply: mj.SubmitReply
    raw: bytes


class TaskGateway:
    """The /mj/ routes. One per gateway; its owner map and retry budgets are shared by requests."""

    def __init__(self, routes: dict[str, list[ResolvedDeployment]], server: ServerSettings, auth: Authenticator,
                 transport: Transport, deadlines: BodyDeadlines, max_tasks: int = DEFAULT_MAX_TASKS,
                 policy: RetryPolicy | None = None, owners: IssuedIds | None = None,
                 health: DeploymentHealth | None = None):
        self.server, self.auth, self.transport, self.deadlines = server, auth, transport, deadlines
        # the chat attempt loop's (app.py): a refused mj-api-secret takes the deployment out of
        # rotation, and probes bring it back, as for chat deployments
        self.health = health if health is not None else DeploymentHealth()
        self.policy = policy or RetryPolicy()
        self._budgets: dict[str, RetryBudget] = {}
        # gateways sharing the upstreams, whose retry budgets' floor is divided (decide/retry.py floor_share)
        self.instances: Callable[[], int] = lambda: 1
        # The first configured model with Midjourney deployments serves /mj/ (its name is what key
        # permissions name); its other deployments, if any, keep serving chat.
        self.model, self.targets = next(((name, [d for d in deps if task_adapter_for(d.spec.provider)])
                                         for name, deps in routes.items()
                                         if any(task_adapter_for(d.spec.provider) for d in deps)), (None, []))
        self.owners = owners if owners is not None else IssuedIds(max_tasks)  # task id -> deployment, owner
        self.owners.targets.update({t.label: t for t in self.targets})

    async def handle(self, ctx: RequestContext, receive, send, cors: list[tuple[bytes, bytes]], ready: bool) -> None:
        """Answer one /mj/ request; every outcome, error included, in midjourney-proxy's shape."""
        ctx.dialect = "midjourney"
        try:
            if not ready:
                raise error("not_ready")
            found = route_of(ctx.method, ctx.path)
            if found is None:
                raise self._unknown(ctx)
            operation, argument = found
            ctx.principal = self.auth.authenticate(ctx.headers, CREDENTIAL)
            check_ip(ctx.principal, ctx)
            if self.model is None:
                raise error("task_model_missing")
            check_model(ctx.principal, self.model)
            if operation == "submit":
                await self._submit(ctx, argument, receive, send, cors)
            elif operation == "fetch":
                await self._fetch(ctx, argument, send, cors)
            else:
                await self._list(ctx, receive, send, cors)
        except _Failed as failed:
            await self.send_error(send, ctx, failed.error, cors, failed.properties)
        except SeawallError as err:
            await self.send_error(send, ctx, err, cors)
        except (ClientGone, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("request %s failed", ctx.request_id)
            if not ctx.status:
                await self.send_error(send, ctx, error("internal_error"), cors)

    def _unknown(self, ctx: RequestContext) -> SeawallError:
        for served in SERVED:
            method, _, pattern = served.partition(" ")
            if re.fullmatch(pattern.replace("{id}", "[^/]+"), ctx.path) and method != ctx.method:
                return method_not_allowed(ctx.method, ctx.path, method)
        return error("route_not_found", method=ctx.method, path=ctx.path,
                     hint=f"This gateway serves the Midjourney task API: {', '.join(SERVED)}.")

    async def send_error(self, send, ctx: RequestContext, err: SeawallError, cors: list[tuple[bytes, bytes]],
                         properties: dict | None = None) -> None:
        ctx.dialect = "midjourney"
        ctx.category, ctx.error_code = err.category, err.provider_code or err.code
        err = client_view(err, ctx.error_detail)  # the log above keeps what the client may not see
        headers = cors + [(k.encode("latin-1"), v.encode("latin-1")) for k, v in err.headers.items()]
        await send_json(send, ctx, err.status, orjson.dumps(error_payload(err, ctx.request_id, properties)), headers)

    # -- submit ------------------------------------------------------------------------------------
    async def _submit(self, ctx: RequestContext, action: str, receive, send, cors) -> None:
        raw = await self.deadlines.bounded(lambda: read_body(receive, ctx.headers, self.server.max_body_bytes))
        body = parse_body(raw, f"POST /mj/submit/{action}")
        ctx.request = ApiRequest(f"mj.{action}", self.model, body, dialect="midjourney")
        parent = check_submit(action, body)
        candidates = self.targets
        if parent is not None:  # an action (upscale, variation, …) runs where its task lives
            owner = await self.owners.find(parent, caller_of(ctx), self.server.share_within)
            if owner is None:
                raise SeawallError("task_not_found", {"task_id": parent, "where": "to this gateway",
                                                      "why": _FORGOTTEN.format(limit=self.owners.limit)},
                                   param="taskId")
            candidates = [owner.target]
        available = [t for t in candidates if t.label not in self.health.out]
        if not available:
            raise out_of_rotation(self.model, candidates, self.health)
        done = await self._submit_anywhere(ctx, action, raw, available)
        ctx.deployment = done.target.label
        if done.reply.task_id:  # before the reply: the client may poll another gateway next
            await self.owners.remember(done.reply.task_id, Issued(done.target, caller_of(ctx), self.model))
        await send_json(send, ctx, 200, done.raw, cors)

    async def _submit_anywhere(self, ctx: RequestContext, action: str, raw: bytes,
                               candidates: list[ResolvedDeployment]) -> _Submitted:
        """Each deployment in order; a transient refusal (queue full, 429, 5xx, unreachable) falls
        back to the next, as decide/retry.py rules for chat."""
        history: list[Failure] = []
        i = 0
        while True:
            target = candidates[i]
            now = time.monotonic()
            budget = self._budget(target.label)
            if not any(f.deployment == i for f in history):
                budget.record_request(now)
            record = AttemptRecord(target.label)
            ctx.attempts.append(record)
            started = time.perf_counter()
            try:
                return await self._submit_once(target, action, raw, record)
            except _Failed as failed:
                record.category, record.detail = failed.error.category, failed.detail
                self.health.failed(target, failed.error.category, failed.detail, record.status, ctx.request_id)
                history.append(Failure(i, failed.error.category, failed.wait_s))
                allowed = budget.allows(now, self.instances())
                decision = next_attempt(history, len(candidates) - 1 - i, self.policy, allowed,
                                        ctx.elapsed_ms() / 1000, random.random())
                if isinstance(decision, GiveUp):
                    raise
                if isinstance(decision, Fallback):
                    i += 1
                else:
                    budget.record_retry(now)
                    record.detail += f"; retrying in {decision.wait_s:.3g} s"
                    await asyncio.sleep(decision.wait_s)
            finally:
                record.latency_ms = round((time.perf_counter() - started) * 1000, 2)

    async def _submit_once(self, target: ResolvedDeployment, action: str, raw: bytes,
                           record: AttemptRecord) -> _Submitted:
        adapter = task_adapter_for(target.spec.provider)
        response = await self._open(adapter.build_submit(action, raw, target), target)
        record.status = response.status
        body = await self._read(response, target)
        cls = mj.classify_submit(response.status, response.headers, body, time.time())
        if cls is None:
            try:
                reply = adapter.read_submit(body)
            except mj.MalformedTaskReply as e:
                raise _Failed(malformed(target, str(e)), str(e)) from None
            if reply.code in mj.ACCEPTED:
                return _Submitted(target, reply, body)
            cls = Classification("upstream.server_error", ADVICE["upstream.server_error"], None, str(reply.code),
                                 (f"midjourney-proxy code {reply.code}",), "midjourney-proxy")
        read = adapter.read_error(response.status, body)
        properties = _properties(body) if response.status < 300 else None
        detail = f"HTTP {response.status}" + (f", code {read.code}" if read.code else "") + f": {cls.category}"
        raise _Failed(refusal(target, response.status, cls, read), detail, cls.wait_s, properties)

    def _budget(self, label: str) -> RetryBudget:
        found = self._budgets.get(label)
        if found is None:
            found = self._budgets[label] = RetryBudget()
        return found

    async def _open(self, req, target: ResolvedDeployment) -> UpstreamResponse:
        try:
            return await self.transport.open(req, target.spec.timeouts, target.label)
        except UpstreamFailure as f:
            raise _Failed(transport_error(target, f), f.detail) from None

    @staticmethod
    async def _read(response: UpstreamResponse, target: ResolvedDeployment) -> bytes:
        try:
            return await response.read()
        except UpstreamFailure as f:
            raise _Failed(transport_error(target, f), f.detail) from None

    # -- fetch and list ----------------------------------------------------------------------------
    async def _fetch(self, ctx: RequestContext, task_id: str, send, cors) -> None:
        ctx.request = ApiRequest("mj.fetch", self.model, {"id": task_id}, dialect="midjourney")
        found = await self.owners.find(task_id, caller_of(ctx), self.server.share_within)
        if found is None:
            raise SeawallError("task_not_found", {"task_id": task_id, "where": "to this gateway",
                                                  "why": _FORGOTTEN.format(limit=self.owners.limit)})
        target = found.target
        ctx.deployment = target.label
        adapter = task_adapter_for(target.spec.provider)
        body = await self._call(ctx, target, adapter.build_fetch(task_id, target))
        try:
            task = adapter.read_task(body)
        except mj.MalformedTaskReply as e:
            raise malformed(target, str(e)) from None
        if task is None:
            await self.owners.forget(task_id)
            raise SeawallError("task_not_found", {"task_id": task_id, "where": f"to its upstream {target.label}",
                                                  "why": "the upstream no longer has it (restarted, or the task "
                                                         "expired there): submit it again."})
        cls = mj.classify_task(task)
        if cls is None:
            await send_json(send, ctx, 200, body, cors)
            return
        ctx.category, ctx.error_code = cls.category, cls.provider_code
        await send_json(send, ctx, 200, orjson.dumps(annotate(task, cls)), cors)

    async def _list(self, ctx: RequestContext, receive, send, cors) -> None:
        raw = await self.deadlines.bounded(lambda: read_body(receive, ctx.headers, self.server.max_body_bytes))
        body = parse_body(raw, "POST " + LIST_PATH)
        ctx.request = ApiRequest("mj.list", self.model, body, dialect="midjourney")
        ids = body.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise error("invalid_field", param="ids", expected="a list of task id strings",
                        got=type(ids).__name__ if ids is not None else "nothing")
        by_owner: dict[str, tuple[ResolvedDeployment, list[str]]] = {}
        caller = caller_of(ctx)
        # ids this gateway never handed out, or handed to another key, are left out, as the proxy omits unknown ids
        for task_id in ids:
            found = await self.owners.find(task_id, caller, self.server.share_within)
            if found is not None:
                by_owner.setdefault(found.target.label, (found.target, []))[1].append(task_id)
        tasks: list[dict] = []
        for target, wanted in by_owner.values():
            adapter = task_adapter_for(target.spec.provider)
            reply = await self._call(ctx, target, adapter.build_list(wanted, target))
            try:
                found = orjson.loads(reply)
            except orjson.JSONDecodeError:
                raise malformed(target, f"a task list that is not JSON: {reply[:100]!r}") from None
            for task in found if isinstance(found, list) else []:
                cls = mj.classify_task(task) if isinstance(task, dict) else None
                tasks.append(annotate(task, cls) if cls is not None else task)
        await send_json(send, ctx, 200, orjson.dumps(tasks), cors)

    async def _call(self, ctx: RequestContext, target: ResolvedDeployment, req) -> bytes:
        """One call to the task's own deployment (no fallback: no other one holds the task)."""
        record = AttemptRecord(target.label)
        ctx.attempts.append(record)
        started = time.perf_counter()
        try:
            response = await self._open(req, target)
            record.status = response.status
            body = await self._read(response, target)
            if response.status >= 300:
                cls = classify_reply(response.status, response.headers, body, time.time(),
                                     provider="midjourney-proxy" if not body.strip() else None)
                read = task_adapter_for(target.spec.provider).read_error(response.status, body)
                raise _Failed(refusal(target, response.status, cls, read), f"HTTP {response.status}: {cls.category}",
                              cls.wait_s)
            return body
        except _Failed as failed:
            record.category, record.detail = failed.error.category, failed.detail
            self.health.failed(target, failed.error.category, failed.detail, record.status, ctx.request_id)
            raise
        finally:
            record.latency_ms = round((time.perf_counter() - started) * 1000, 2)


_FORGOTTEN = ("the gateway keeps the last {limit} task ids in memory (and, with limits.redis_url, in Redis for "
              "every gateway sharing it), so a task submitted through a gateway not sharing them, before a "
              "restart, or long ago is unknown here.")


def _properties(body: bytes) -> dict | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    found = data.get("properties") if isinstance(data, dict) else None
    return found if isinstance(found, dict) else None
