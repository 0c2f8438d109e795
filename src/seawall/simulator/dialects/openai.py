"""OpenAI's error bodies: the envelope, the simulator's own errors, the fault table.

Wording is from reference/provider-errors.md §1.2 ([rec] = recorded or quoted verbatim by many
code bases; [unverified] = plausible, not confirmed). Envelope::

    {"error": {"message": ..., "type": ..., "param": ..., "code": ...}}

OpenAI pretty-prints error bodies with a 4-space indent and a final newline, unlike its
compact success bodies [rec, from memory of curl output; clients must not care].
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from seawall.simulator.dialects.base import (
    ErrorContext,
    ErrorReply,
    Headers,
    UnknownVariant,
)
from seawall.simulator.duration import format_reset

RATE_LIMIT_DOCS = "Visit https://platform.openai.com/account/rate-limits to learn more."
KEYS_URL = "https://platform.openai.com/account/api-keys"


@dataclass(frozen=True, slots=True)
class ApiError:
    """One OpenAI-shaped error, before rendering."""

    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | int | None = None

    def reply(self, headers: Headers = ()) -> ErrorReply:
        return ErrorReply(self.status, error_body(self.message, self.type, self.param, self.code), headers=headers)


def error_body(message: str, type_: str | None, param: str | None, code: str | int | None) -> bytes:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return (json.dumps(body, indent=4, ensure_ascii=False) + "\n").encode()


def mask_key(key: str) -> str:
    """OpenAI shows the first 8 and last 4 characters and stars the rest, keeping the length
    (``sk-XG6GW***************************************wlmi``) [rec]. Keys too short for that
    are shown whole [unverified]."""
    if len(key) <= 12:
        return key
    return key[:8] + "*" * (len(key) - 12) + key[-4:]


# --- errors the simulator decides on its own -------------------------------------------------

def missing_key() -> ApiError:  # [rec]
    return ApiError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization header "
        "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
        "username) if you're accessing the API from your browser and are prompted for a username and "
        f"password. You can obtain an API key from {KEYS_URL}.",
    )


def invalid_key(key: str) -> ApiError:  # [rec]
    return ApiError(
        401,
        f"Incorrect API key provided: {mask_key(key)}. You can find your API key at {KEYS_URL}.",
        code="invalid_api_key",
    )


def model_not_found(model: str) -> ApiError:  # [rec]
    return ApiError(404, f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found")


def not_a_chat_model() -> ApiError:  # [rec: the message embedding models get on chat]
    return ApiError(
        404,
        "This is not a chat model and thus not supported in the v1/chat/completions endpoint. "
        "Did you mean to use v1/completions?",
        param="model",
    )


def invalid_url(method: str, path: str) -> ApiError:  # [rec]
    return ApiError(404, f"Invalid URL ({method} {path})")


def unparsable_json() -> ApiError:  # [rec]
    return ApiError(
        400,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
        "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
        "valid JSON. If you have trouble figuring out how to fix this, please contact us through our "
        "help center at help.openai.com.)",
    )


def missing_model() -> ApiError:  # [rec]
    return ApiError(400, "you must provide a model parameter")


def check_request(body: object, known_fields: frozenset[str] | set[str], required: str) -> str | ApiError:
    """The checks every endpoint makes first, in OpenAI's order: a JSON object, a string
    `model`, no unknown argument, the endpoint's required field. Returns the model name."""
    if not isinstance(body, dict):
        return unparsable_json()
    model_name = body.get("model")
    if model_name is None:
        return missing_model()
    if not isinstance(model_name, str):
        return invalid_type("model", "a string", model_name)
    for field in body:
        if field not in known_fields:
            return unrecognized_argument(field)
    if required not in body:
        return missing_parameter(required)
    return model_name


def unrecognized_argument(name: str) -> ApiError:
    return ApiError(400, f"Unrecognized request argument supplied: {name}")


def missing_parameter(param: str) -> ApiError:
    return ApiError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")


def json_kind(value: object) -> str:
    """How OpenAI's validator names a JSON value's type ("expected an array, but got a string")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def invalid_type(param: str, expected: str, value: object) -> ApiError:
    return ApiError(
        400, f"Invalid type for '{param}': expected {expected}, but got {json_kind(value)} instead.",
        param=param, code="invalid_type",
    )


def integer_out_of_range(param: str, value: int, low: int | None, high: int | None) -> ApiError:
    if low is not None and value < low:
        return ApiError(
            400, f"Invalid '{param}': integer below minimum value. Expected a value >= {low}, but got {value} instead.",
            param=param, code="integer_below_min_value",
        )
    return ApiError(
        400, f"Invalid '{param}': integer above maximum value. Expected a value <= {high}, but got {value} instead.",
        param=param, code="integer_above_max_value",
    )


def invalid_value(param: str, value: object, supported: tuple[str, ...]) -> ApiError:
    """"Supported values are: 'a', 'b', and 'c'." (two: "'a' and 'b'")."""
    quoted = [f"'{item}'" for item in supported]
    if len(quoted) <= 2:
        listed = " and ".join(quoted)
    else:
        listed = ", ".join(quoted[:-1]) + f", and {quoted[-1]}"
    message = f"Invalid value: '{value}'. Supported values are: {listed}."
    return ApiError(400, message, param=param, code="invalid_value")


def unsupported_parameter(param: str, instead: str) -> ApiError:  # [rec: o-series and max_tokens]
    return ApiError(
        400, f"Unsupported parameter: '{param}' is not supported with this model. Use '{instead}' instead.",
        param=param, code="unsupported_parameter",
    )


def too_many_tokens(param: str, value: int, maximum: int) -> ApiError:
    return ApiError(
        400,
        f"{param} is too large: {value}. This model supports at most {maximum} completion tokens, "
        f"whereas you provided {value}.",
        param=param, code="invalid_value",
    )


def context_length(window: int, prompt: int, completion: int | None) -> ApiError:  # [rec], both variants
    if completion:
        message = (
            f"This model's maximum context length is {window} tokens. However, you requested "
            f"{prompt + completion} tokens ({prompt} in the messages, {completion} in the completion). "
            "Please reduce the length of the messages or completion."
        )
    else:
        message = (
            f"This model's maximum context length is {window} tokens. However, your messages resulted in "
            f"{prompt} tokens. Please reduce the length of the messages."
        )
    return ApiError(400, message, param="messages", code="context_length_exceeded")


def embedding_input_too_long(window: int, tokens: int) -> ApiError:  # [rec, embeddings wording]
    return ApiError(
        400,
        f"This model's maximum context length is {window} tokens, however you requested {tokens} tokens "
        f"({tokens} in your prompt; 0 for the completion). Please reduce your prompt; or completion length.",
    )


def invalid_input() -> ApiError:  # [rec: empty or ill-typed embeddings input]
    return ApiError(400, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.")


def stream_options_without_stream() -> ApiError:
    message = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
    return ApiError(400, message, param="stream_options")


def rate_limited(
    kind: str, model: str, ctx: ErrorContext, limit: int, used: float, requested: int, wait: float
) -> ApiError:
    """The 429 bodies of §1.2 [rec]: ``kind`` is ``requests``, ``tokens`` or
    ``request_too_large``."""
    if kind == "request_too_large":
        return ApiError(
            429,
            f"Request too large for {model} in organization {ctx.organization} on tokens per min (TPM): "
            f"Limit {limit}, Requested {requested}. The input or output tokens must be reduced in order "
            f"to run successfully. {RATE_LIMIT_DOCS}",
            type="tokens", code="rate_limit_exceeded",
        )
    if kind == "tokens":
        where, unit = f"in project {ctx.project} organization {ctx.organization}", "tokens per min (TPM)"
    else:
        where, unit = f"in organization {ctx.organization}", "requests per min (RPM)"
    return ApiError(
        429,
        f"Rate limit reached for {model} {where} on {unit}: Limit {limit}, Used {round(used)}, "
        f"Requested {requested}. Please try again in {format_reset(wait)}. {RATE_LIMIT_DOCS}",
        type=kind, code="rate_limit_exceeded",
    )


def sim_fault_invalid(message: str) -> ApiError:
    """A bad ``x-sim-fault`` header: the simulator's own complaint, in OpenAI's envelope."""
    return ApiError(400, f"x-sim-fault: {message}", param="x-sim-fault", code="sim_fault_invalid")


# --- the fault table: error=<variant>, and the variant each status= picks by default ----------

def _requests_429(ctx: ErrorContext) -> ApiError:
    wait = ctx.retry_after if ctx.retry_after is not None else 60 / ctx.rpm
    return rate_limited("requests", ctx.model or "gpt-4o-mini", ctx, ctx.rpm, ctx.rpm, 1, wait)


def _tokens_429(ctx: ErrorContext) -> ApiError:
    requested = min(1000, ctx.tpm)
    used = ctx.tpm - requested // 2
    wait = ctx.retry_after if ctx.retry_after is not None else (requested // 2) * 60 / ctx.tpm
    return rate_limited("tokens", ctx.model or "gpt-4o-mini", ctx, ctx.tpm, used, requested, wait)


def _too_large_429(ctx: ErrorContext) -> ApiError:
    return rate_limited("request_too_large", ctx.model or "gpt-4o-mini", ctx, ctx.tpm, 0, ctx.tpm + 4307, 0)


_SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"  # [rec]

VARIANTS: dict[str, tuple[int, Callable[[ErrorContext], ApiError]]] = {
    "invalid_request": (400, lambda ctx: unrecognized_argument("foo")),
    # what a strict OpenAI-compatible server answers to a field it does not know
    "unknown_stream_options": (400, lambda ctx: unrecognized_argument("stream_options")),
    "context_length_exceeded": (400, lambda ctx: context_length(ctx.context_window, ctx.context_window + 2412, None)),
    "missing_api_key": (401, lambda ctx: missing_key()),
    "invalid_api_key": (401, lambda ctx: invalid_key(ctx.key or "sk-proj-" + "x" * 152 + "abcd")),
    # [unverified wording; the code is what one-api reacts to]
    "account_deactivated": (401, lambda ctx: ApiError(
        401, "This key is associated with a deactivated account. If you feel this is an error, contact "
        "us through our help center at help.openai.com.", code="account_deactivated")),
    "unsupported_country_region_territory": (403, lambda ctx: ApiError(  # [rec]
        403, "Country, region, or territory not supported", type="request_forbidden",
        code="unsupported_country_region_territory")),
    "model_not_found": (404, lambda ctx: model_not_found(ctx.model or "gpt-5x")),
    "invalid_url": (404, lambda ctx: invalid_url(ctx.method, ctx.path)),
    "requests": (429, _requests_429),
    "tokens": (429, _tokens_429),
    "request_too_large": (429, _too_large_429),
    "insufficient_quota": (429, lambda ctx: ApiError(  # [rec]
        429, "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        type="insufficient_quota", code="insufficient_quota")),
    "credit_balance_exhausted": (429, lambda ctx: ApiError(  # [rec]
        429, "You have no credits remaining.", type="insufficient_quota", code="credit_balance_exhausted")),
    "server_error": (500, lambda ctx: ApiError(500, _SERVER_ERROR, type="server_error")),
    # OpenAI's Cloudflare edge answers these in OpenAI's envelope with an integer code
    # [rec: quoted in SDK issue reports as e.g. {'code': 502, 'message': 'Bad gateway.', ...}].
    "bad_gateway": (502, lambda ctx: ApiError(502, "Bad gateway.", type="cf_bad_gateway", code=502)),
    "service_unavailable": (503, lambda ctx: ApiError(
        503, "Service Unavailable.", type="cf_service_unavailable", code=503)),
    "gateway_timeout": (504, lambda ctx: ApiError(504, "Gateway timeout.", type="cf_gateway_timeout", code=504)),
    "overloaded": (503, lambda ctx: ApiError(  # [rec, 2023-era wording]
        503, "That model is currently overloaded with other requests. You can retry your request, or "
        "contact us through our help center at help.openai.com if the error persists. (Please include "
        f"the request ID {ctx.request_id} in your message.)", type="server_error")),
}

DEFAULT_VARIANT = {
    400: "invalid_request", 401: "invalid_api_key", 403: "unsupported_country_region_territory",
    404: "model_not_found", 429: "requests", 500: "server_error", 502: "bad_gateway",
    503: "overloaded", 504: "gateway_timeout",
}


def _generic(status: int) -> ApiError:
    """Statuses OpenAI has no known body for (409, 529...): the envelope with a plain message."""
    if status >= 500:
        return ApiError(status, _SERVER_ERROR, type="server_error")
    return ApiError(status, f"Request failed with status {status}.")


def fault_error(status: int | None, variant: str | None, ctx: ErrorContext) -> ErrorReply:
    """``status`` alone picks its default variant; ``variant`` alone implies its status; both
    send that variant's body with the given status."""
    if variant is not None:
        if variant not in VARIANTS:
            raise UnknownVariant(f"unknown error variant {variant!r} for dialect openai (known: {', '.join(VARIANTS)})")
        default_status, build = VARIANTS[variant]
        error = build(ctx)
        status = status or default_status
        return ApiError(status, error.message, error.type, error.param, error.code).reply()
    assert status is not None
    name = DEFAULT_VARIANT.get(status)
    return (VARIANTS[name][1](ctx) if name else _generic(status)).reply()


# In-stream errors (§1.5): `data: {"error": {...}}` at HTTP 200; the SDK raises APIError.
_STREAM_MESSAGES = {
    "server_error": _SERVER_ERROR,
    "rate_limit_exceeded": "Rate limit reached. Please try again later.",
    "overloaded": "That model is currently overloaded with other requests.",
}


def stream_error_event(error_type: str) -> bytes:
    message = _STREAM_MESSAGES.get(error_type, _SERVER_ERROR)
    body = {"error": {"message": message, "type": error_type, "param": None, "code": None}}
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"
