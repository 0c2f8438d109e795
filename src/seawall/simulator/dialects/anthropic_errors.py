"""Anthropic's error replies as the simulator renders them (`{"type": "error", "error": {...}}`,
`request-id`, `retry-after`), for faults, rate limits and the dialect's own refusals."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from typing import Any

import orjson

from seawall.simulator.dialects.base import (
    ErrorContext,
    ErrorReply,
    Headers,
    UnknownVariant,
)

RATE_LIMIT_DOCS = ("For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response "
                   "headers for current usage. Please reduce the prompt length or the maximum tokens requested, or "
                   "try again later. You may also contact sales at https://www.anthropic.com/contact-sales to "
                   "discuss your options for a rate limit increase.")  # [rec]


def error_reply(status: int, type_: str, message: str, request_id: str, headers: Headers = (),
                details: dict | None = None) -> ErrorReply:
    err: dict[str, Any] = {"type": type_, "message": message}
    if details:
        err["details"] = details
    body = {"type": "error", "error": err, "request_id": request_id}
    return ErrorReply(status, json.dumps(body).encode(), headers=headers)


def invalid(message: str, ctx: ErrorContext) -> ErrorReply:
    return error_reply(400, "invalid_request_error", message, ctx.request_id)


def _retry_after(seconds: float) -> Headers:
    return ((b"retry-after", b"%d" % max(1, math.ceil(seconds))),)


def rate_limited(ctx: ErrorContext, unit: str, limit: int, wait: float) -> ErrorReply:
    message = (f"This request would exceed the rate limit for your organization ({ctx.organization}) of "
               f"{limit:,} {unit}. {RATE_LIMIT_DOCS}")
    return error_reply(429, "rate_limit_error", message, ctx.request_id, _retry_after(wait))


def _rate_limit_429(ctx: ErrorContext) -> ErrorReply:
    reply = rate_limited(ctx, "requests per minute", ctx.rpm, 60 / ctx.rpm)
    # A fault's own retry_after is sent by the exchange already: not a second header.
    return reply if ctx.retry_after is None else dataclasses.replace(reply, headers=())


_CREDIT = ("Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade "
           "or purchase credits.")  # [rec]

VARIANTS: dict[str, tuple[int, Callable[[ErrorContext], ErrorReply]]] = {
    "invalid_request_error": (400, lambda ctx: invalid("max_tokens: Field required", ctx)),
    "credit_balance_too_low": (400, lambda ctx: invalid(_CREDIT, ctx)),  # [rec] quota at status 400
    "prompt_too_long": (400, lambda ctx: invalid(  # [rec]
        f"prompt is too long: {ctx.context_window + 8310} tokens > {ctx.context_window} maximum", ctx)),
    "authentication_error": (401, lambda ctx: error_reply(401, "authentication_error", "invalid x-api-key",
                                                          ctx.request_id)),  # [rec]
    "missing_api_key": (401, lambda ctx: error_reply(401, "authentication_error", "x-api-key header is required",
                                                     ctx.request_id)),
    "billing_error": (402, lambda ctx: error_reply(402, "billing_error", _CREDIT, ctx.request_id)),
    "permission_error": (403, lambda ctx: error_reply(403, "permission_error", "Request not allowed",
                                                      ctx.request_id)),
    "not_found_error": (404, lambda ctx: error_reply(404, "not_found_error", f"model: {ctx.model or 'claude-x'}",
                                                     ctx.request_id)),  # [rec]
    "request_too_large": (413, lambda ctx: error_reply(413, "request_too_large",
                                                       "Request exceeds the maximum allowed number of bytes.",
                                                       ctx.request_id)),
    "rate_limit_error": (429, _rate_limit_429),
    # The spend cap: no retry-after, a details code (§3.2) -> quota, not a rate limit.
    "enforced_spend_limit_reached": (429, lambda ctx: error_reply(
        429, "rate_limit_error", "You have reached your specified workspace API usage limits. You will regain "
        "access on the first of next month at 00:00 UTC.", ctx.request_id,
        details={"error_code": "enforced_spend_limit_reached"})),
    "api_error": (500, lambda ctx: error_reply(500, "api_error", "Internal server error", ctx.request_id)),  # [rec]
    "timeout_error": (504, lambda ctx: error_reply(504, "timeout_error", "Request timeout", ctx.request_id)),
    "overloaded_error": (529, lambda ctx: error_reply(529, "overloaded_error", "Overloaded", ctx.request_id)),  # [rec]
}
DEFAULT_VARIANT = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
                   403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                   429: "rate_limit_error", 500: "api_error", 504: "timeout_error", 529: "overloaded_error"}


def fault_error(status: int | None, variant: str | None, ctx: ErrorContext) -> ErrorReply:
    """``status`` alone picks its default variant; ``variant`` alone implies its status."""
    if variant is not None:
        if variant not in VARIANTS:
            raise UnknownVariant(f"unknown error variant {variant!r} for dialect anthropic "
                                 f"(known: {', '.join(VARIANTS)})")
        default_status, build = VARIANTS[variant]
        reply = build(ctx)
        return dataclasses.replace(reply, status=status or default_status)
    assert status is not None
    name = DEFAULT_VARIANT.get(status)
    if name:
        return VARIANTS[name][1](ctx)
    if status >= 500:
        return error_reply(status, "api_error", "Internal server error", ctx.request_id)
    return dataclasses.replace(invalid(f"Request failed with status {status}.", ctx), status=status)


_STREAM_ERRORS = {"overloaded_error": "Overloaded", "api_error": "Internal server error",
                  "rate_limit_error": "Rate limited"}


def stream_error_event(error_type: str) -> bytes:
    """Mid-stream failure at HTTP 200 (§3.5); ``overloaded`` and ``server_error`` (the openai
    dialect's names) map to Anthropic's types."""
    error_type = {"overloaded": "overloaded_error", "server_error": "api_error"}.get(error_type, error_type)
    return _event("error", {"type": "error", "error": {"type": error_type,
                                                      "message": _STREAM_ERRORS.get(error_type, "Internal server error")}})


# --- request -> plan -----------------------------------------------------------------------------


def _event(name: str, data: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
