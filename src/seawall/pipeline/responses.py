"""Responses beyond one request: which conversation a `previous_response_id` continues, and the
routes that name a response by its id.

    POST /v1/responses (pipeline/flow.py)   previous_response_id: made by a deployment the request
                                            passed through to -> that deployment only, passed through;
                                            kept by the gateway (a translated one) -> its items, and
                                            the request translated for every deployment
    GET    /v1/responses/{id}               the owner deployment's answer, passed through; or the
    DELETE /v1/responses/{id}               gateway's own copy of a translated response
    POST   /v1/responses/{id}/cancel
    GET    /v1/responses/{id}/input_items

A response passed through lives in its upstream's store: the gateway remembers which deployment
made it, for whom (pipeline/issued.py, like Midjourney task ids: bounded in memory, and in Redis
when gateways share one). A translated one lives in the gateway's conversation store
(store/conversations.py). A response, passed through or translated, belongs to the key that made it (or its group's or
tenant's keys: server.share_within): any other key hears exactly what an unknown id gets.
"""

from __future__ import annotations

import hashlib
import time
import urllib.parse

import orjson

from seawall.config import ResolvedDeployment, ResponsesSettings
from seawall.decide.classify import classify_reply
from seawall.decide.ownership import Owner
from seawall.dialects import DIALECTS
from seawall.dialects.responses_face import ResponsesFace, references
from seawall.dialects.responses_reply import item_place
from seawall.errors import SeawallError, error
from seawall.pipeline.access import check_ip, check_model
from seawall.pipeline.attempt import transport_error, upstream_error
from seawall.pipeline.auth import Authenticator
from seawall.pipeline.context import RequestContext
from seawall.pipeline.egress import send_json
from seawall.pipeline.issued import Issued, IssuedIds, caller_of
from seawall.pipeline.route import passes_through
from seawall.providers.base import ApiRequest, AttemptRecord, Reply
from seawall.providers.registry import adapter_for
from seawall.providers.transport import Transport, UpstreamFailure
from seawall.store.conversations import ConversationRecord, Conversations

_ACTIONS = {("GET", ""): "retrieve", ("DELETE", ""): "delete", ("POST", "/cancel"): "cancel",
            ("GET", "/input_items"): "input_items"}
_ALLOWED = {"": "GET or DELETE", "/cancel": "POST", "/input_items": "GET"}
PREFIX = "/v1/responses/"
MAX_PAGE = 100  # input_items' limit, as OpenAI's API bounds it (1-100, default 20)


def same_upstream(plan: list[list[ResolvedDeployment]], made: ResolvedDeployment, response_id: str,
                  model: str, models_there: list[str]) -> list[ResolvedDeployment]:
    """The deployments of a request's plan that reach the upstream account holding a response it
    continues (its base URL and key: the response lives in that account's store), in plan order;
    none: the 400 saying where it lives."""
    found = [d for deployments in plan for d in deployments if d.base_url == made.base_url
             and d.api_key == made.api_key and passes_through(d, "responses", "responses")]
    if not found:
        raise SeawallError("previous_response_elsewhere", {"response_id": response_id, "deployment": made.label,
                                                            "model": model, "models": ", ".join(models_there)},
                           param="previous_response_id")
    return found


def route_of(method: str, path: str) -> tuple[str, str] | SeawallError:
    """(action, response id) for a /v1/responses/{id}… path, or the 404/405 that answers it."""
    rest = path[len(PREFIX):]
    response_id, _, tail = rest.partition("/")
    suffix = "/" + tail if tail else ""
    action = _ACTIONS.get((method, suffix))
    if response_id and action is not None:
        return action, urllib.parse.unquote(response_id)
    if response_id and suffix in _ALLOWED:
        return error("method_not_allowed", method=method, path=path, allowed=_ALLOWED[suffix])
    return error("route_not_found", method=method, path=path,
                 hint="This gateway serves POST /v1/responses, GET and DELETE /v1/responses/{id}, POST "
                      "/v1/responses/{id}/cancel and GET /v1/responses/{id}/input_items.")


def item_ids(record: ConversationRecord) -> list[dict]:
    """The input items with ids, as OpenAI lists them: a client's items may have none, so each
    gets one made from the response id and its place (the same at every listing)."""
    out = []
    for i, item in enumerate(record.input_items):
        kind = item.get("type", "message")
        if kind == "message" and isinstance(item.get("content"), str):  # the short form, listed in full
            item = {**item, "content": [{"type": "input_text" if item.get("role") != "assistant" else "output_text",
                                         "text": item["content"]}]}
        if not item.get("id"):
            digest = hashlib.sha256(f"{record.response_id}:{i}".encode()).hexdigest()[:48]
            item = {"id": ("msg_" if kind == "message" else "item_") + digest, "type": kind, **item}
        out.append({"type": kind, **item})
    return out


def page(items: list[dict], query: dict[str, str]) -> dict:
    """One page of input items: order (desc by default), limit (20), after (an item id)."""
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise error("invalid_value", param="order", expected="'asc' or 'desc'", got=repr(order))
    limit_text = query.get("limit", "20")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_PAGE:
        raise error("invalid_value", param="limit", expected=f"an integer from 1 to {MAX_PAGE}", got=repr(limit_text))
    limit = int(limit_text)
    ordered = items if order == "asc" else items[::-1]
    after = query.get("after")
    if after is not None:
        ids = [item["id"] for item in ordered]
        ordered = ordered[ids.index(after) + 1:] if after in ids else []
    shown = ordered[:limit]
    return {"object": "list", "data": shown, "first_id": shown[0]["id"] if shown else None,
            "last_id": shown[-1]["id"] if shown else None, "has_more": len(ordered) > limit}


class ResponsesDesk:
    """One per gateway; its owner map is shared by requests."""

    def __init__(self, settings: ResponsesSettings, conversations: Conversations, auth: Authenticator,
                 transport: Transport, owners: IssuedIds | None = None, share_within: str = "key"):
        self.settings, self.conversations, self.auth, self.transport = settings, conversations, auth, transport
        # passed-through response id -> the deployment holding it, its owner, its model
        self.owners = owners if owners is not None else IssuedIds(settings.max_upstream_ids)
        self.share_within = share_within

    # -- POST /v1/responses, around the pipeline ------------------------------------------------------
    async def begin(self, ctx: RequestContext, face: ResponsesFace, req: ApiRequest,
                    native_route: bool) -> ResolvedDeployment | None:
        """Before routing: the deployment that made the response a request continues (None:
        none did), or the stored conversation loaded into `face.earlier` (the request is then
        translated for every deployment), and the items its item_references name.
        `native_route`: some deployment of the model would take the request as it is."""
        caller = caller_of(ctx)
        if isinstance(req.body.get("input"), list):
            await self._references(face, references(req.body["input"]), caller)
        previous = req.body.get("previous_response_id")
        if previous is None:
            return None
        made = await self.owners.find(previous, caller, self.share_within)
        if made is not None:
            return made.target
        if self.conversations.enabled:
            record = await self.conversations.load(previous, caller, self.share_within)
            if record is not None:
                face.earlier = record.items
                return None
        elif not native_route:
            raise error("responses_store_off", param="previous_response_id")
        raise SeawallError("previous_response_not_found", {"response_id": previous,
                                                            "days": f"{self.settings.retention_days:g}"},
                           param="previous_response_id")

    async def _references(self, face: ResponsesFace, ids: list[str], caller: Owner) -> None:
        """The items item_reference ids name, from the conversations that hold them (an item id
        the gateway made says which: dialects/responses_reply.item_id), for a translation."""
        loaded: dict[str, ConversationRecord | None] = {}
        for item in ids:
            place = item_place(item)
            if place is None or not self.conversations.enabled:
                continue
            response_id, index = place
            if response_id not in loaded:
                loaded[response_id] = await self.conversations.load(response_id, caller, self.share_within)
            record = loaded[response_id]
            output = record.output_items if record is not None else []
            if index < len(output) and output[index].get("id") == item:
                face.references[item] = output[index]

    async def issued(self, ctx: RequestContext, face: ResponsesFace, target: ResolvedDeployment, reply: Reply) -> None:
        """Before a passed-through reply goes out: remember who holds the response its id names
        (awaited: the client may bring the id to another gateway as soon as it has it)."""
        if face.turn is None and isinstance(reply.ref, str):
            await self.owners.remember(reply.ref, Issued(target, caller_of(ctx), ctx.request.model))

    async def finish(self, ctx: RequestContext, face: ResponsesFace, target: ResolvedDeployment) -> None:
        """After the answer: keep a translated conversation, or remember who holds a passed-through
        stream's response (its id is known once the stream has said it)."""
        if face.turn is not None:
            # kept with the key's tenant and group, whom share_within may share it with
            record = face.turn.record(caller_of(ctx), self.settings.retention_days)
            if record is not None:
                self.conversations.save(record)
            return
        response = face.upstream.response if face.upstream is not None else None
        response_id = response.get("id") if response else None
        if isinstance(response_id, str):
            await self.owners.remember(response_id, Issued(target, caller_of(ctx), ctx.request.model))

    # -- the routes naming a response -----------------------------------------------------------------
    async def handle(self, ctx: RequestContext, send, cors: list[tuple[bytes, bytes]], ready: bool) -> None:
        ctx.dialect = "responses"
        if not ready:
            raise error("not_ready")
        found = route_of(ctx.method, ctx.path)
        if isinstance(found, SeawallError):
            raise found
        action, response_id = found
        principal = ctx.principal = self.auth.authenticate(ctx.headers, DIALECTS["responses"])
        check_ip(principal, ctx)
        caller = caller_of(ctx)
        made = await self.owners.find(response_id, caller, self.share_within)
        if made is not None:
            check_model(principal, made.model)
            ctx.request = ApiRequest(f"responses.{action}", made.model, {}, dialect="responses")
            body = await self._at_owner(ctx, made, response_id)
            if action == "delete":
                await self.owners.forget(response_id)
            await send_json(send, ctx, 200, body, cors)
            return
        record = await self.conversations.load(response_id, caller, self.share_within) \
            if self.conversations.enabled else None
        if record is None:
            raise SeawallError("response_not_found", {"response_id": response_id,
                                                      "days": f"{self.settings.retention_days:g}"})
        check_model(principal, record.model)
        ctx.request = ApiRequest(f"responses.{action}", record.model, {}, dialect="responses")
        await send_json(send, ctx, 200, await self._kept(action, record, caller, ctx.query), cors)

    async def _kept(self, action: str, record: ConversationRecord, caller: Owner, query: bytes) -> bytes:
        """A translated response, answered from the gateway's own copy."""
        if action == "retrieve":
            return orjson.dumps(record.response or {"id": record.response_id, "object": "response",
                                                    "status": "completed", "model": record.model,
                                                    "output": record.output_items})
        if action == "delete":
            await self.conversations.delete(record.response_id, caller, self.share_within)
            return orjson.dumps({"id": record.response_id, "object": "response", "deleted": True})
        if action == "cancel":
            raise SeawallError("response_not_cancellable", {"response_id": record.response_id})
        params = {k: v[-1] for k, v in urllib.parse.parse_qs(query.decode("latin-1")).items()}
        return orjson.dumps(page(item_ids(record), params))

    async def _at_owner(self, ctx: RequestContext, made: Issued, response_id: str) -> bytes:
        """The same call at the deployment that made the response: its answer, or its refusal as ours."""
        target = made.target
        ctx.deployment = target.label
        suffix = ctx.path[len(PREFIX):].partition("/")[2]
        tail = urllib.parse.quote(response_id, safe="") + (f"/{suffix}" if suffix else "")
        adapter = adapter_for(target.spec.adapter_name)
        call = adapter.build_responses_call(ctx.method, tail, ctx.query.decode("latin-1"), target)
        record = AttemptRecord(target.label)
        ctx.attempts.append(record)
        started = time.perf_counter()
        try:
            try:
                response = await self.transport.open(call, target.spec.timeouts, target.label)
                record.status = response.status
                body = await response.read()
            except UpstreamFailure as f:
                err = transport_error(target, f)
                record.category, record.detail = err.category, f.detail
                raise err from None
            if response.status >= 300:
                cls = classify_reply(response.status, response.headers, body, now=time.time())
                record.category, record.detail = cls.category, f"HTTP {response.status}"
                raise upstream_error(target, response.status, adapter.read_error(response.status, body), cls, body)
            return body
        finally:
            record.latency_ms = round((time.perf_counter() - started) * 1000, 2)
