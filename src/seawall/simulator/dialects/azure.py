"""Azure OpenAI: OpenAI's bodies and streams behind Azure's URLs, key header and error codes.

Served at ``POST /openai/deployments/{deployment}/chat/completions?api-version=…`` (and
``/embeddings``), and the v1 API (``/openai/v1/responses`` and OpenAI's other paths under
``/openai/v1/``, answered as OpenAI's: ``v1_scope``); the
deployment name is looked up in the simulator's model catalog (deploy ``gpt-4o-mini`` as
``gpt-4o-mini``). Key in ``api-key`` (or ``Authorization: Bearer`` for an Entra token). Wording
is reference/provider-errors.md §2: Azure's envelope is OpenAI's, but ``code`` is often a string
status (``"401"``, ``"429"``) and ``type``/``param`` are absent. Faults on this route are
rendered in Azure's dialect; ``error=content_filter_finish`` is not an error but a reply whose
output the filter stopped (``finish_reason: content_filter``, the text cut short).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from seawall.simulator import wire
from seawall.simulator.chat import plan_chat, render_events, render_reply
from seawall.simulator.dialects import openai as oai
from seawall.simulator.dialects.base import (
    ErrorContext,
    ErrorReply,
    Headers,
    pick_error,
)
from seawall.simulator.dialects.front import admit, adopt
from seawall.simulator.embeddings import plan_embeddings, render_embeddings
from seawall.simulator.exchange import Exchange
from seawall.simulator.faults import NO_FAULT
from seawall.simulator.headers import new_completion_id, retry_headers

PREFIX = "/openai/deployments/"
ROUTE = "/openai/deployments/{deployment}/{operation}"
FILTERED_FINISH = "content_filter_finish"
_FILTERED_PIECES = 3  # how much of the answer gets out before the output filter stops it


def azure_error(status: int, code: str, message: str, extra: dict[str, Any] | None = None,
                headers: tuple[tuple[bytes, bytes], ...] = ()) -> ErrorReply:
    body = {"error": {"code": code, "message": message, **(extra or {})}}
    return ErrorReply(status, json.dumps(body).encode(), headers=headers)


def invalid_key() -> ErrorReply:  # [rec]
    return azure_error(401, "401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure "
                       "to provide a valid key for an active subscription and use a correct regional API endpoint "
                       "for your resource.")


def missing_key() -> ErrorReply:  # [unverified: API Management's wording]
    return azure_error(401, "401", "Access denied due to missing subscription key. Make sure to include "
                       "subscription key when making requests to an API.")


def resource_not_found() -> ErrorReply:  # what a missing api-version or an unknown path gets [unverified]
    return azure_error(404, "404", "Resource not found")


def deployment_not_found() -> ErrorReply:  # [rec], second sentence [unverified]
    return azure_error(404, "DeploymentNotFound", "The API deployment for this resource does not exist. If you "
                       "created the deployment within the last 5 minutes, please wait a moment and try again.")


def rate_limited(ctx: ErrorContext, version: str = "2024-10-21") -> ErrorReply:  # [rec]
    wait = ctx.retry_after if ctx.retry_after is not None else 60
    seconds = max(1, math.ceil(wait))
    # the fault's own retry_after header is added by the exchange; Azure always sends one
    headers = () if ctx.retry_after is not None else ((b"retry-after", b"%d" % seconds),)
    return azure_error(429, "429", f"Requests to the ChatCompletions_Create Operation under Azure OpenAI API "
                       f"version {version} have exceeded token rate limit of your current OpenAI S0 pricing tier. "
                       f"Please retry after {seconds} seconds. Please go here: https://aka.ms/oai/quotaincrease if "
                       "you would like to further increase the default rate limit.", headers=headers)


def content_filter() -> ErrorReply:  # [unverified full body]
    filtered = {"filtered": True, "severity": "high"}
    safe = {"filtered": False, "severity": "safe"}
    return azure_error(400, "content_filter", "The response was filtered due to the prompt triggering Azure "
                       "OpenAI's content management policy. Please modify your prompt and retry. To learn more "
                       "about our content filtering policies please read our documentation: "
                       "https://go.microsoft.com/fwlink/?linkid=2198766",
                       {"type": None, "param": "prompt", "status": 400, "innererror": {
                           "code": "ResponsibleAIPolicyViolation",
                           "content_filter_result": {"hate": safe, "self_harm": safe, "sexual": safe,
                                                     "violence": filtered}}})


def _server_error(ctx: ErrorContext) -> ErrorReply:
    return azure_error(500, "InternalServerError", "The service encountered an internal error. Please retry.")


VARIANTS: dict[str, Callable[[ErrorContext], ErrorReply]] = {
    "invalid_api_key": lambda ctx: invalid_key(),
    "missing_api_key": lambda ctx: missing_key(),
    "deployment_not_found": lambda ctx: deployment_not_found(),
    "resource_not_found": lambda ctx: resource_not_found(),
    "content_filter": lambda ctx: content_filter(),
    "rate_limited": rate_limited,
    "server_error": _server_error,
    "service_unavailable": lambda ctx: azure_error(503, "ServiceUnavailable", "The service is temporarily "
                                                   "unable to process your request. Please try again later."),
}
DEFAULT_VARIANT = {400: "content_filter", 401: "invalid_api_key", 404: "deployment_not_found", 429: "rate_limited",
                   500: "server_error", 503: "service_unavailable"}


def fault_error(status: int | None, variant: str | None, ctx: ErrorContext) -> ErrorReply:
    return pick_error("azure", status, variant, ctx, VARIANTS, DEFAULT_VARIANT,
                      lambda s: azure_error(s, str(s), f"Request failed with status {s}."), also_known=[FILTERED_FINISH])


_OPERATIONS = ("/chat/completions", "/embeddings")


def parse_path(path: str) -> str | None:
    """``/openai/deployments/{deployment}/chat/completions`` (or ``/embeddings``) → the deployment."""
    for operation in _OPERATIONS:
        if path.startswith(PREFIX) and path.endswith(operation):
            deployment = path[len(PREFIX):-len(operation)]
            return deployment if deployment and "/" not in deployment else None
    return None


V1_PREFIX = "/openai/v1/"


def v1_scope(scope: dict) -> dict | None:
    """Azure OpenAI's v1 API (``/openai/v1/responses`` and the rest, the key in ``api-key``, the
    deployment name as the body's model) is OpenAI's API at another path: the request as OpenAI's
    routes read it, or None for any other path."""
    path = scope["path"]
    if not path.startswith(V1_PREFIX):
        return None
    headers = [(b"authorization", b"Bearer " + value) if name == b"api-key" else (name, value)
               for name, value in scope["headers"]]
    return {**scope, "path": "/v1/" + path[len(V1_PREFIX):], "headers": headers}


def _sim_fault_invalid(message: str) -> ErrorReply:
    return azure_error(400, "sim_fault_invalid", f"x-sim-fault: {message}")


class AzureExchange(Exchange):
    """An exchange answered with Azure's headers (§2): UUID request ids (also as
    ``apim-request-id``), the region, the two remaining-* rate-limit headers, no OpenAI
    organization or Cloudflare headers."""

    __slots__ = ()

    def headers(self, content_type: bytes, length: int | None, extra: Headers = ()) -> list[tuple[bytes, bytes]]:
        state = self.state
        out = [(b"content-type", content_type)]
        if length is not None:
            out.append((b"content-length", b"%d" % length))
        request_id = str(uuid.UUID(self.request_id[4:])).encode()
        snap = state.limiter.snapshot(self.model.id if self.model else None, state.limits_for(self.model),
                                      time.monotonic())
        out += [(b"x-request-id", request_id), (b"apim-request-id", request_id), (b"x-ms-region", b"East US"),
                (b"x-ratelimit-remaining-requests", b"%d" % snap.remaining_requests),
                (b"x-ratelimit-remaining-tokens", b"%d" % snap.remaining_tokens),
                (b"strict-transport-security", b"max-age=31536000; includeSubDomains; preload"),
                (b"x-content-type-options", b"nosniff")]
        if self.fault is not NO_FAULT:
            out.extend(retry_headers(self.fault))
        out.extend(extra)
        return out


async def handle(outer: Exchange, scope: dict, deployment: str) -> None:
    exchange = adopt(outer, scope, AzureExchange)
    try:
        await _chat(exchange, scope, deployment)
    finally:
        outer.outcome = exchange.outcome  # the app counts outcomes on the exchange it made


async def _chat(exchange: Exchange, scope: dict, deployment: str) -> None:
    raw = await wire.read_body(exchange.receive)
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    key, bearer = "", False
    for name, value in scope["headers"]:
        if name == b"api-key":
            key = value.decode("latin-1").strip()
        elif name == b"authorization" and value[:7].lower() == b"bearer ":
            bearer = True  # an Entra ID token: the simulator takes any
    allowed = exchange.state.settings.api_keys

    def key_problem() -> ErrorReply | None:
        if not key:
            return None if bearer else missing_key()
        return invalid_key() if allowed is not None and key not in allowed else None

    if not await admit(exchange, deployment, key_problem, fault_error, _sim_fault_invalid, key,
                       frozenset({FILTERED_FINISH})):
        return
    if not query.get("api-version"):
        await exchange.reply_error(resource_not_found())
        return
    spec = exchange.state.catalog.find(deployment)
    if spec is None:
        await exchange.reply_error(deployment_not_found())
        return
    exchange.model = spec
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict):
        body["model"] = spec.id  # Azure ignores the body's model: the deployment decides
    if exchange.path.endswith("/embeddings"):
        found = oai.unparsable_json() if body is None else plan_embeddings(body, exchange.state.catalog)
        await (exchange.reply_error(found) if isinstance(found, oai.ApiError)
               else exchange.reply(render_embeddings(found)))
        return
    plan = oai.unparsable_json() if body is None else plan_chat(body, exchange.state.catalog, exchange.fault.tokens)
    if isinstance(plan, oai.ApiError):
        await exchange.reply_error(plan)
        return
    if exchange.fault.error == FILTERED_FINISH:
        plan = dataclasses.replace(plan, choices=tuple((p[:_FILTERED_PIECES], "content_filter")
                                                       for p, _ in plan.choices))
    completion_id, created = new_completion_id(), int(time.time())
    if plan.stream:
        interval = exchange.fault.interval_ms
        if interval is None:
            interval = exchange.state.settings.stream_interval_ms
        await exchange.stream(render_events(plan, completion_id, created, exchange.state.padding), interval / 1000)
    else:
        await exchange.reply(render_reply(plan, completion_id, created))
