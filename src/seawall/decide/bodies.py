"""Read any provider's error body into one set of fields, and say whose dialect it is.

Pure: a body (bytes, text or parsed JSON) in, an ErrorFields out. Every provider of
docs/reference/provider-errors.md has its own envelope:

    OpenAI / Azure     {"error": {"message", "type", "param", "code"}}          §1.1, §2 (Azure: code "429")
    Anthropic          {"type": "error", "error": {"type", "message"}, "request_id"}       §3.1
    Gemini / Vertex    {"error": {"code": 429, "message", "status", "details": [...]}}     §4.1
    one-api / new-api  OpenAI's envelope, own `type`, " (request id: X)" in the message     §5.1
    midjourney-proxy   submit {"code", "description", "result"}; task {"status", "failReason"}  §6
    Discord            {"message", "code"} or {"message", "retry_after", "global"}          §6.3
    Seawall            OpenAI's envelope plus `request_id`, `hint`, `category` inside `error`

The classifier (decide/classify.py) reads only these fields, never the raw shapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson


@dataclass(frozen=True, slots=True)
class ErrorFields:
    """The error fields every dialect has in some form, normalised for the rules."""

    message: str = ""
    type: str = ""
    code: str = ""
    status_name: str = ""  # Google's canonical status (RESOURCE_EXHAUSTED, …); a Midjourney task's status
    is_html: bool = False
    is_empty: bool = False
    parsed: bool = False
    shape: str = ""  # the dialect the body's shape names (a provider name), "" when it names none
    failed: bool = False  # the body itself says "this failed" (an error object, a FAILURE task, …)
    reasons: tuple[str, ...] = ()  # Gemini ErrorInfo.reason
    quota_ids: tuple[str, ...] = ()  # Gemini QuotaFailure quotaId and quotaMetric
    wait_s: float | None = None  # a wait the body names: Gemini RetryInfo.retryDelay, Discord retry_after
    detail_code: str = ""  # Anthropic error.details.error_code, Azure innererror.code
    is_global: bool = False  # Discord's global rate limit
    category: str = ""  # Seawall's own error.category
    hint: str = ""  # Seawall's own error.hint
    request_id: str = ""
    page_by: str = ""  # who rendered an HTML or plain-text error page (cloudflare, nginx, …)
    cut_json: bool = False  # looks like JSON but ends early

    def ids(self) -> frozenset[str]:
        """Every machine-readable code in the body, lower-cased: what the rules match first."""
        return frozenset(s.lower() for s in (self.code, self.type, self.status_name, self.detail_code,
                                             *self.reasons) if s)


_REQUEST_ID_IN_MESSAGE = re.compile(r"\(request id: ?([^)\s]+)\)", re.IGNORECASE)  # one-api/new-api, §5.1
_PROTO_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")  # google.protobuf.Duration as JSON: "38s", "0.2s"
_CLOUDFLARE_TEXT = re.compile(r"^\s*error code: (\d{3,4})\s*$", re.IGNORECASE)  # Cloudflare's plain-text error pages
_CLOUDFLARE_PAGE_CODE = re.compile(r"error(?: code)?:? ?(1\d{3})\b")  # 1015 rate limited, 1020 firewall, …

# Markers of the software that rendered an HTML error page, most specific first.
_PAGE_MARKERS = (("cloudflare", "cloudflare"), ("cf-error", "cloudflare"), ("awselb", "AWS load balancer"),
                 ("cloudfront", "CloudFront"), ("akamai", "Akamai"), ("openresty", "openresty"),
                 ("nginx", "nginx"), ("envoy", "envoy"), ("varnish", "Varnish"), ("apache", "Apache"),
                 ("google", "Google front end"), ("microsoft-azure-application-gateway", "Azure gateway"))


def read_error_fields(body: bytes | str | dict | list | None) -> ErrorFields:
    """Find message/type/code in an OpenAI, Azure, Anthropic, Google, gateway, Midjourney or Discord body."""
    if body is None or body == b"" or body == "":
        return ErrorFields(is_empty=True)
    if isinstance(body, (bytes, str)):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        if not text.strip():
            return ErrorFields(is_empty=True)
        head = text.lstrip()[:200].lower()
        if head.startswith(("<!doctype html", "<html", "<head", "<body")) or "<html" in head:
            page = text[:20_000].lower()
            by = next((name for marker, name in _PAGE_MARKERS if marker in page), "")
            cloudflare = _CLOUDFLARE_PAGE_CODE.search(page) if by == "cloudflare" else None
            return ErrorFields(message=_html_title(text), is_html=True, page_by=by,
                               code=cloudflare.group(1) if cloudflare else "")
        try:
            body = orjson.loads(text)
        except orjson.JSONDecodeError:
            cloudflare = _CLOUDFLARE_TEXT.match(text[:100])
            if cloudflare:
                return ErrorFields(message=text.strip(), code=cloudflare.group(1), page_by="cloudflare")
            return ErrorFields(message=text[:300], cut_json=head.startswith(("{", "[")))
    if isinstance(body, list):  # Gemini's streamed JSON array: an error can close it (§4.1)
        dicts = [item for item in body if isinstance(item, dict)]
        body = next((d for d in dicts if "error" in d), dicts[0] if dicts else body)
    if not isinstance(body, dict):
        return ErrorFields(message=str(body)[:300])
    return _read_object(body)


def _read_object(body: dict) -> ErrorFields:
    err = body.get("error")
    response = body.get("response")
    if err is None and isinstance(response, dict) and isinstance(response.get("error"), dict):
        err = response["error"]  # OpenAI Responses API `response.failed` event (§1.5)
    if isinstance(err, dict):
        return _read_error_object(body, err)
    if isinstance(err, str):
        # {"error": "..."} from some gateways; OAuth's {"error": "invalid_token", "error_description": ...}
        description = body.get("error_description")
        if isinstance(description, str):
            return ErrorFields(message=description, code=err, parsed=True, failed=True)
        return ErrorFields(message=err, parsed=True, failed=True, request_id=_request_id(body, {}, err))
    code = body.get("code")
    if body.get("type") == "error" and "message" in body:  # Responses API stream `error` event (§1.5)
        return ErrorFields(message=_text(body.get("message")), code=_text(code), parsed=True, shape="openai",
                           failed=True)
    if "failReason" in body or ("action" in body and isinstance(body.get("status"), str)):  # MJ task (§6.2)
        status = str(body.get("status") or "").upper()
        return ErrorFields(message=_text(body.get("failReason")), status_name=status, parsed=True,
                           shape="midjourney-proxy", failed=status == "FAILURE")
    if "description" in body and isinstance(code, int) and not isinstance(code, bool):  # MJ submit (§6.1)
        return ErrorFields(message=_text(body.get("description")), code=str(code), type=_text(body.get("type")),
                           parsed=True, shape="midjourney-proxy", failed=code not in (1, 21, 22))
    if "retry_after" in body or (isinstance(code, int) and not isinstance(code, bool)
                                 and isinstance(body.get("message"), str)):  # Discord (§6.3)
        wait = body.get("retry_after")
        return ErrorFields(message=_text(body.get("message")), code="" if code is None else str(code), parsed=True,
                           shape="discord", failed=True, is_global=body.get("global") is True,
                           wait_s=float(wait) if isinstance(wait, (int, float)) and wait >= 0 else None)
    message = _text(body.get("message") or body.get("detail") or body.get("msg") or body.get("error_msg"))
    return ErrorFields(message=message, code=_text(code), parsed=True, request_id=_request_id(body, {}, message))


def _read_error_object(body: dict, err: dict) -> ErrorFields:
    message = _text(err.get("message"))
    raw_code = err.get("code")
    code = _text(raw_code)
    type_ = _text(err.get("type"))
    status_name = err.get("status") if isinstance(err.get("status"), str) else ""
    reasons, quota_ids, wait = _google_details(err.get("details"))
    details = err.get("details")
    inner = err.get("innererror")
    detail_code = ""
    if isinstance(details, dict):  # Anthropic spend cap: error.details.error_code (§3.2)
        detail_code = _text(details.get("error_code"))
    elif isinstance(inner, dict):  # Azure content filter: innererror.code (§2)
        detail_code = _text(inner.get("code"))
    category = _text(err.get("category"))
    if category and "hint" in err:
        shape = "seawall"
    elif body.get("type") == "error":
        shape = "anthropic"
    elif isinstance(raw_code, int) and status_name:
        shape = "gemini"
    elif type_ in ("one_api_error", "new_api_error"):
        shape = type_.replace("_api_error", "-api")
    elif _REQUEST_ID_IN_MESSAGE.search(message):
        shape = "one-api"  # the family; new-api shares the suffix
    elif "type" not in err and ((isinstance(raw_code, str) and code.isdigit()) or isinstance(inner, dict)
                                or code[:1].isupper()):
        shape = "azure"  # Azure's `code` is a string status or CamelCase and `type` is absent (§2)
    elif "type" in err or "param" in err:
        shape = "openai"
    else:
        shape = ""  # {"error": {"message": ...}} alone: many servers answer so
    return ErrorFields(message=message, type=type_, code=code, status_name=status_name, parsed=True, shape=shape,
                       failed=True, reasons=reasons, quota_ids=quota_ids, wait_s=wait, detail_code=detail_code,
                       category=category, hint=_text(err.get("hint")), request_id=_request_id(body, err, message))


def _google_details(details: object) -> tuple[tuple[str, ...], tuple[str, ...], float | None]:
    """ErrorInfo reasons, QuotaFailure ids and the RetryInfo wait from google.rpc details (§4.1)."""
    reasons: list[str] = []
    quota_ids: list[str] = []
    wait = None
    for d in details if isinstance(details, list) else ():
        if not isinstance(d, dict):
            continue
        kind = str(d.get("@type", ""))
        if kind.endswith("ErrorInfo") and d.get("reason"):
            reasons.append(str(d["reason"]))
        elif kind.endswith("QuotaFailure"):
            for v in d.get("violations") or ():
                if isinstance(v, dict):
                    quota_ids += [str(v[k]) for k in ("quotaId", "quotaMetric") if v.get(k)]
        elif kind.endswith("RetryInfo"):
            m = _PROTO_DURATION.match(str(d.get("retryDelay", "")))
            wait = float(m.group(1)) if m else None
    return tuple(reasons), tuple(quota_ids), wait


def _request_id(body: dict, err: dict, message: str) -> str:
    for value in (body.get("request_id"), err.get("request_id"), body.get("requestId")):
        if isinstance(value, str) and value:
            return value
    m = _REQUEST_ID_IN_MESSAGE.search(message)
    return m.group(1) if m else ""


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()[:300]
    return str(value)


def _html_title(text: str) -> str:
    m = re.search(r"<title>(.*?)</title>", text[:20_000], re.IGNORECASE | re.DOTALL)
    return (" ".join(m.group(1).split()) if m else "HTML page")[:200]


# -- status the body implies -------------------------------------------------------------------------

# When only a body is at hand (an SDK's message, a pasted body, an in-stream error event at HTTP 200),
# its own codes say which status the provider meant. Anthropic's status map is §3.1; Google's §4.1.
IMPLIED_STATUS: dict[str, int] = {
    "invalid_request_error": 400, "context_length_exceeded": 400, "content_filter": 400,
    "invalid_api_key": 401, "authentication_error": 401, "billing_error": 402, "permission_error": 403,
    "request_forbidden": 403, "not_found_error": 404, "model_not_found": 404, "deploymentnotfound": 404,
    "request_too_large": 413, "insufficient_quota": 429, "rate_limit_exceeded": 429, "rate_limit_error": 429,
    "requests": 429, "tokens": 429, "api_error": 500, "server_error": 500, "timeout_error": 504,
    "overloaded_error": 529,
    "invalid_argument": 400, "failed_precondition": 400, "unauthenticated": 401, "permission_denied": 403,
    "not_found": 404, "resource_exhausted": 429, "internal": 500, "unavailable": 503, "deadline_exceeded": 504,
}


def implied_status(f: ErrorFields) -> int:
    """The HTTP status a body names or implies; 0 when it does not say."""
    if f.shape not in ("discord", "midjourney-proxy") and f.code.isdigit() and 100 <= int(f.code) <= 599:
        return int(f.code)  # Gemini's and OpenRouter's integer code, Azure's and LiteLLM's "429"
    if f.shape == "discord":
        return 429 if f.wait_s is not None else 0
    for value in (f.code, f.type, f.status_name):
        status = IMPLIED_STATUS.get(value.lower())
        if status:
            return status
    return 0


# -- whose reply is it ---------------------------------------------------------------------------------

PROVIDERS = ("openai", "azure", "anthropic", "gemini", "one-api", "new-api", "midjourney-proxy", "discord", "seawall")

ALIASES = {"google": "gemini", "vertex": "gemini", "vertex-ai": "gemini", "claude": "anthropic",
           "oneapi": "one-api", "newapi": "new-api", "midjourney": "midjourney-proxy", "mj": "midjourney-proxy",
           "azure-openai": "azure"}

# Host suffix -> provider (§1-§6). Longest match is not needed: the suffixes do not overlap.
_HOSTS = (("api.openai.com", "openai"), (".openai.azure.com", "azure"), (".cognitiveservices.azure.com", "azure"),
          (".services.ai.azure.com", "azure"), ("api.anthropic.com", "anthropic"),
          ("generativelanguage.googleapis.com", "gemini"), ("aiplatform.googleapis.com", "gemini"),
          ("discord.com", "discord"), ("discordapp.com", "discord"))


def normal_provider(name: str | None) -> str | None:
    if not name:
        return None
    key = name.strip().lower()
    return ALIASES.get(key, key)


def guess_provider(headers: Mapping[str, str], f: ErrorFields, url: str | None = None) -> tuple[str | None, str]:
    """Which provider wrote this reply, and the evidence. `headers` keys are lower-case.

    A distinctive body shape is the strongest sign (a gateway may forward another provider's
    headers), then the URL's host, then provider-only headers, then OpenAI's generic envelope,
    which one-api, new-api and many proxies copy."""
    if f.shape and f.shape != "openai":
        return f.shape, f"the body has {f.shape}'s error shape"
    host, path = _split_url(url)
    for suffix, provider in _HOSTS:
        if host == suffix.lstrip(".") or host.endswith(suffix):
            return provider, f"the URL's host {host}"
    if path.startswith("/mj/"):
        return "midjourney-proxy", "the URL's /mj/ path"
    names = set(headers)
    if {"apim-request-id", "x-ms-region", "x-ms-request-id"} & names or "azureml-model-session" in names:
        return "azure", "Azure headers (apim-request-id / x-ms-*)"
    if any(n.startswith("anthropic-") for n in names):
        return "anthropic", "anthropic-* headers"
    if "request-id" in names and "x-request-id" not in names and headers["request-id"].startswith("req_"):
        return "anthropic", "a request-id header with Anthropic's req_ ids"
    if any(n.startswith(("x-ratelimit-bucket", "x-ratelimit-scope", "x-ratelimit-global",
                         "x-ratelimit-reset-after")) for n in names):
        return "discord", "Discord's X-RateLimit-Bucket/Scope headers"
    if "x-oneapi-request-id" in names or "x-new-api-version" in names:
        return "one-api", "an X-Oneapi-Request-Id header (one-api / new-api)"
    if any(n.startswith("x-goog-") for n in names) or headers.get("server", "").lower().startswith(
            ("scaffolding on httpserver2", "esf")):
        return "gemini", "Google front-end headers"
    if any(n.startswith("openai-") for n in names) or "x-ratelimit-limit-requests" in names:
        return "openai", "openai-* / x-ratelimit-* headers"
    if path.startswith(("/v1beta/", "/v1/models/")) and ":" in path:
        return "gemini", "a Gemini API path"
    if path.endswith("/v1/messages"):
        return "anthropic", "Anthropic's /v1/messages path"
    if f.shape == "openai":
        return "openai", "OpenAI's error envelope (one-api, new-api and proxies copy it too)"
    return None, ""


def _split_url(url: str | None) -> tuple[str, str]:
    if not url:
        return "", ""
    try:
        parts = urlsplit(url if "://" in url else "https://" + url)
        return (parts.hostname or "").lower(), parts.path or ""
    except ValueError:
        return "", ""
