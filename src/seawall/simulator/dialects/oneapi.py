"""one-api and new-api, the OpenAI-compatible gateways (reference/provider-errors.md §5).

Their errors keep OpenAI's envelope but append `` (request id: X)`` to the message and use
their own ``type`` (``one_api_error`` / ``new_api_error``). one-api's auth failures
(``abortWithMessage``) carry only ``message`` and ``type``; relay errors carry all four keys
with ``param: ""`` (a Go zero value, not null). new-api's ``abortWithOpenAiMessage`` carries
``message``, ``type`` and ``code``. Both send the id in ``X-Oneapi-Request-Id`` too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from seawall.simulator.dialects.base import ErrorContext, ErrorReply, UnknownVariant

_RATE_LIMIT = "当前分组上游负载已饱和，请稍后再试"  # one-api rewrites every upstream 429 to this


def gateway_request_id(ctx: ErrorContext) -> str:
    """one-api's id: local time ``YYYYMMDDhhmmss`` + 8 random digits (``common/helper``). The
    digits come from the simulator's own request id, so one reply's ids agree."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(ctx.now or None))
    digits = int(ctx.request_id.removeprefix("req_")[:12] or "0", 16) % 100_000_000
    return f"{stamp}{digits:08d}"


def _reply(status: int, error: dict[str, object], rid: str) -> ErrorReply:
    error["message"] = f"{error['message']} (request id: {rid})"
    body = json.dumps({"error": error}, ensure_ascii=False, separators=(",", ":")).encode()
    return ErrorReply(status, body, headers=((b"x-oneapi-request-id", rid.encode()),))


# variant -> (status, builder(ctx) -> error object without the request id)
Table = dict[str, tuple[int, Callable[[ErrorContext], dict[str, object]]]]


def _auth(message: str, type_: str, code: str | None) -> Callable[[ErrorContext], dict[str, object]]:
    if code is None:  # one-api abortWithMessage: message + type only
        return lambda ctx: {"message": message, "type": type_}
    return lambda ctx: {"message": message, "type": type_, "code": code}


def _relay(message: str, type_: str, code: str) -> Callable[[ErrorContext], dict[str, object]]:
    return lambda ctx: {"message": message.format(model=ctx.model or "gpt-4o-mini"), "type": type_,
                        "param": "", "code": code}


ONEAPI: Table = {
    "missing_token": (401, _auth("未提供令牌", "one_api_error", None)),
    "invalid_token": (401, _auth("无效的令牌", "one_api_error", None)),
    "token_exhausted": (401, _auth("该令牌额度已用尽", "one_api_error", None)),
    "token_expired": (401, _auth("该令牌已过期", "one_api_error", None)),
    "token_disabled": (401, _auth("该令牌状态不可用", "one_api_error", None)),
    "user_banned": (403, _auth("用户已被封禁", "one_api_error", None)),
    "model_forbidden": (403, lambda ctx: {"message": f"该令牌无权使用模型：{ctx.model or 'gpt-4o-mini'}",
                                          "type": "one_api_error"}),
    "invalid_url": (404, lambda ctx: {"message": f"Invalid URL ({ctx.method} {ctx.path})",
                                      "type": "invalid_request_error", "param": "", "code": ""}),
    "rate_limited": (429, _relay(_RATE_LIMIT, "requests", "rate_limit_exceeded")),
    "do_request_failed": (500, _relay(
        'Post "https://api.openai.com/v1/chat/completions": dial tcp: i/o timeout', "one_api_error",
        "do_request_failed")),
    "bad_response_status_code": (502, lambda ctx: {"message": "bad response status code 502",
                                                   "type": "upstream_error", "param": "502",
                                                   "code": "bad_response_status_code"}),
    "no_channel": (503, lambda ctx: {"message": f"当前分组 default 下对于模型 {ctx.model or 'gpt-4o-mini'} 无可用渠道",
                                     "type": "one_api_error"}),
}
ONEAPI_DEFAULT = {401: "invalid_token", 403: "model_forbidden", 404: "invalid_url", 429: "rate_limited",
                  500: "do_request_failed", 502: "bad_response_status_code", 503: "no_channel"}

NEWAPI: Table = {
    "missing_token": (401, _auth("未提供令牌", "new_api_error", "")),
    "invalid_token": (401, _auth("无效的令牌", "new_api_error", "")),
    "token_exhausted": (401, _auth("该令牌额度已用尽", "new_api_error", "")),
    "token_expired": (401, _auth("该令牌已过期", "new_api_error", "")),
    "model_forbidden": (403, lambda ctx: {"message": f"该令牌无权使用模型：{ctx.model or 'gpt-4o-mini'}",
                                          "type": "new_api_error", "code": "access_denied"}),
    "insufficient_user_quota": (403, lambda ctx: {"message": "用户额度不足, 剩余额度: ＄0.000000",
                                                  "type": "new_api_error", "param": "",
                                                  "code": "insufficient_user_quota"}),
    "invalid_url": ONEAPI["invalid_url"],
    # new-api passes an upstream 429 through unchanged (the rewrite is commented out).
    "rate_limited": (429, _relay(
        "Rate limit reached for {model} in organization org-upstream on requests per min (RPM): Limit 3, "
        "Used 3, Requested 1. Please try again in 20s.", "requests", "rate_limit_exceeded")),
    "concurrency": (429, _relay("令牌并发数已达上限", "new_api_error", "token_concurrency_limit_reached")),
    "do_request_failed": (500, _relay("请求上游地址失败", "new_api_error", "do_request_failed")),
    "bad_response_status_code": ONEAPI["bad_response_status_code"],
    "no_channel": (503, _relay("当前分组 default 下对于模型 {model} 无可用渠道", "new_api_error", "model_not_found")),
}
NEWAPI_DEFAULT = {401: "invalid_token", 403: "insufficient_user_quota", 404: "invalid_url", 429: "rate_limited",
                  500: "do_request_failed", 502: "bad_response_status_code", 503: "no_channel"}


def _fault_error(name: str, table: Table, defaults: dict[int, str],
                 status: int | None, variant: str | None, ctx: ErrorContext) -> ErrorReply:
    if variant is not None and variant not in table:
        raise UnknownVariant(f"unknown error variant {variant!r} for dialect {name} (known: {', '.join(table)})")
    chosen = variant or (defaults.get(status) if status is not None else None)
    if chosen is None:  # a status the gateway has no own body for: its generic upstream wrapper
        assert status is not None
        error: dict[str, object] = {"message": f"bad response status code {status}", "type": "upstream_error",
                                    "param": str(status), "code": "bad_response_status_code"}
        return _reply(status, error, gateway_request_id(ctx))
    default_status, build = table[chosen]
    return _reply(status or default_status, build(ctx), gateway_request_id(ctx))


def oneapi_fault_error(status: int | None, variant: str | None, ctx: ErrorContext) -> ErrorReply:
    return _fault_error("oneapi", ONEAPI, ONEAPI_DEFAULT, status, variant, ctx)


def newapi_fault_error(status: int | None, variant: str | None, ctx: ErrorContext) -> ErrorReply:
    return _fault_error("newapi", NEWAPI, NEWAPI_DEFAULT, status, variant, ctx)
