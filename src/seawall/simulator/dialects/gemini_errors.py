"""Gemini's error replies as the simulator renders them (google.rpc.Status bodies with their
details: QuotaFailure, RetryInfo, ErrorInfo), for faults and for the dialect's own refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from seawall.simulator.dialects.base import (
    ErrorContext,
    ErrorReply,
    pick_error,
)

_TYPE = "type.googleapis.com/google.rpc."
SERVICE = "generativelanguage.googleapis.com"


def google_error(code: int, status: str, message: str, details: tuple[dict, ...] = (),
                 headers: tuple[tuple[bytes, bytes], ...] = ()) -> ErrorReply:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return ErrorReply(code, (json.dumps({"error": error}, indent=2) + "\n").encode(), headers=headers)


def _info(reason: str, **metadata: str) -> dict:
    return {"@type": _TYPE + "ErrorInfo", "reason": reason, "domain": "googleapis.com",
            "metadata": {"service": SERVICE, **metadata}}


# --- errors the simulator decides on its own -------------------------------------------------------

def api_key_invalid() -> ErrorReply:  # [rec]
    message = "API key not valid. Please pass a valid API key."
    return google_error(400, "INVALID_ARGUMENT", message, (
        _info("API_KEY_INVALID"), {"@type": _TYPE + "LocalizedMessage", "locale": "en-US", "message": message}))


def missing_key() -> ErrorReply:  # [rec]
    return google_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without "
                        "established identity). Please use API Key or other form of API consumer identity to call "
                        "this API.")


def bearer_key() -> ErrorReply:  # [rec wording]: an AIza key sent as an OAuth token
    return google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 "
                        "access token, login cookie or other valid authentication credential. See "
                        "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                        (_info("ACCESS_TOKEN_TYPE_UNSUPPORTED", method="google.ai.generativelanguage.v1beta."
                               "GenerativeService.GenerateContent"),))


def model_not_found(model: str, version: str = "v1beta", method: str = "generateContent") -> ErrorReply:  # [rec]
    return google_error(404, "NOT_FOUND", f"models/{model} is not found for API version {version}, or is not "
                        f"supported for {method}. Call ListModels to see the list of available models and "
                        "their supported methods.")


def invalid_argument(message: str, field: str | None = None) -> ErrorReply:
    details = ({"@type": _TYPE + "BadRequest", "fieldViolations": [{"field": field, "description": message}]},) \
        if field else ()
    return google_error(400, "INVALID_ARGUMENT", message, details)


def unknown_name(name: str, at: str | None = None) -> ErrorReply:  # [rec: protobuf JSON parser wording]
    where = f" at '{at}'" if at else ""
    return invalid_argument(f'Invalid JSON payload received. Unknown name "{name}"{where}: Cannot find field.',
                            at or name)


def sim_fault_invalid(message: str) -> ErrorReply:
    return invalid_argument(f"x-sim-fault: {message}", "x-sim-fault")


# --- the fault table -----------------------------------------------------------------------------

def _quota_429(ctx: ErrorContext, quota_id: str, metric: str, limit: int, delay: float) -> ErrorReply:
    model = ctx.model or "gemini-2.5-flash"
    seconds = f"{delay:g}"
    return google_error(429, "RESOURCE_EXHAUSTED", (  # message lines [unverified], fields [rec]
        "You exceeded your current quota, please check your plan and billing details. For more information on "
        "this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n"
        f"* Quota exceeded for metric: {SERVICE}/{metric}, limit: {limit}, model: {model}\n"
        f"Please retry in {seconds}s."), (
        {"@type": _TYPE + "QuotaFailure", "violations": [{
            "quotaMetric": f"{SERVICE}/{metric}", "quotaId": quota_id,
            "quotaDimensions": {"location": "global", "model": model}, "quotaValue": str(limit)}]},
        {"@type": _TYPE + "Help", "links": [{"description": "Learn more about Gemini API quotas",
                                             "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
        {"@type": _TYPE + "RetryInfo", "retryDelay": f"{int(delay) if delay == int(delay) else delay}s"}))


def _per_minute(ctx: ErrorContext) -> ErrorReply:
    delay = ctx.retry_after if ctx.retry_after is not None else 38.0
    return _quota_429(ctx, "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                      "generate_content_free_tier_requests", 10, delay)


def _per_day(ctx: ErrorContext) -> ErrorReply:
    delay = ctx.retry_after if ctx.retry_after is not None else 65205.0
    return _quota_429(ctx, "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                      "generate_content_free_tier_requests", 20, delay)


def _service_disabled(ctx: ErrorContext) -> ErrorReply:  # [unverified body]
    project = "573874658125"
    url = f"https://console.developers.google.com/apis/api/{SERVICE}/overview?project={project}"
    return google_error(403, "PERMISSION_DENIED", (
        f"Generative Language API has not been used in project {project} before or it is disabled. Enable it by "
        f"visiting {url} then retry. If you enabled this API recently, wait a few minutes for the action to "
        "propagate to our systems and retry."), (
        _info("SERVICE_DISABLED", consumer=f"projects/{project}", activationUrl=url, containerInfo=project,
              serviceTitle="Generative Language API"),))


VARIANTS: dict[str, Callable[[ErrorContext], ErrorReply]] = {
    "invalid_argument": lambda ctx: invalid_argument("Request contains an invalid argument."),
    "api_key_invalid": lambda ctx: api_key_invalid(),
    "context_length_exceeded": lambda ctx: invalid_argument(  # [unverified wording]
        "The input token count (1234567) exceeds the maximum number of tokens allowed (1048576)."),
    "location_unsupported": lambda ctx: google_error(  # [rec]
        400, "FAILED_PRECONDITION", "User location is not supported for the API use."),
    "free_tier_unavailable": lambda ctx: google_error(  # [doc]
        400, "FAILED_PRECONDITION", "Gemini API free tier is not available in your country. Please enable billing "
        "on your project in Google AI Studio."),
    "bearer_key": lambda ctx: bearer_key(),
    "permission_denied": lambda ctx: missing_key(),
    "service_disabled": _service_disabled,
    "not_found": lambda ctx: model_not_found(ctx.model or "gemini-1.0-pro"),
    "resource_exhausted": _per_minute,
    "quota_per_day": _per_day,
    "internal": lambda ctx: google_error(  # [unverified wording]
        500, "INTERNAL", "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting"),
    "unavailable": lambda ctx: google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
    "deadline_exceeded": lambda ctx: google_error(504, "DEADLINE_EXCEEDED", "Deadline expired before operation "
                                                  "could complete."),
}
DEFAULT_VARIANT = {400: "invalid_argument", 401: "bearer_key", 403: "permission_denied", 404: "not_found",
                   429: "resource_exhausted", 500: "internal", 503: "unavailable", 504: "deadline_exceeded"}
_STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
                 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def fault_error(status: int | None, variant: str | None, ctx: ErrorContext) -> ErrorReply:
    return pick_error("gemini", status, variant, ctx, VARIANTS, DEFAULT_VARIANT,
                      lambda s: google_error(s, _STATUS_NAMES.get(s, "UNKNOWN"), f"Request failed with status {s}."))


def stream_error_event(variant: str, ctx: ErrorContext) -> bytes:
    """An in-stream ``{"error": …}`` chunk (§4.4); unknown variants read as INTERNAL."""
    reply = VARIANTS.get(variant, VARIANTS["internal"])(ctx)
    return b"data: " + json.dumps(json.loads(reply.body)).encode() + b"\r\n\r\n"


# --- requests and replies --------------------------------------------------------------------------
