"""The ordered rules that turn a read error reply into a taxonomy category.

docs/reference/provider-errors.md §0 is the source; each rule names its section where the reason
is a provider quirk. Order is the whole point: the first rule that matches wins, so

    Seawall's own category > pages from a proxy > Midjourney/Discord codes > quota (any status)
    > one request over the per-minute budget > context length > content filter > keys > permissions
    > routes and models > rate limits > sizes > the provider's side > generic types > the status.

Codes are matched before messages, case-insensitively; messages are hints for bodies whose code says
little (one-api's Chinese messages, Anthropic's `invalid_request_error` with a credit balance).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from seawall.decide.bodies import ErrorFields
from seawall.decide.discord_rules import discord, midjourney
from seawall.decide.echoes import echoed_key, invalid_url


@dataclass(frozen=True, slots=True)
class Reply:
    """One error reply as the rules see it. `status` is 0 when nobody knows it."""

    status: int
    headers: Mapping[str, str]  # lower-case names
    f: ErrorFields
    provider: str | None  # stated by the caller or guessed from the reply
    wait_s: float | None  # the wait the reply names, in whatever form

    @property
    def text(self) -> str:
        return self.f.message[:MESSAGE_READ]

    @property
    def msg(self) -> str:
        return self.text.lower()


Found = tuple[str, str]  # category, why
MESSAGE_READ = 8192  # error messages are short; a huge one is read this far (a 10 MB body must not take seconds)


@dataclass(frozen=True, slots=True)
class Rule:
    """Matches when every condition it sets holds: a code among `ids`, `message`, status, provider."""

    category: str
    why: str
    ids: frozenset[str] = frozenset()
    message: re.Pattern[str] | None = None
    statuses: frozenset[int] | None = None  # None: any; an unknown status (0) matches every set
    providers: frozenset[str] | None = None

    def __call__(self, r: Reply) -> Found | None:
        if self.ids and not self.ids & r.f.ids():
            return None
        if self.message is not None and not self.message.search(r.msg):
            return None
        if self.statuses is not None and r.status and r.status not in self.statuses:
            return None
        if self.providers is not None and r.provider not in self.providers and r.f.shape not in self.providers:
            return None
        return self.category, self.why


def code(category: str, why: str, *ids: str, message: str | None = None, statuses=None, providers=None) -> Rule:
    return Rule(category, why, frozenset(i.lower() for i in ids), re.compile(message) if message else None,
                frozenset(statuses) if statuses else None, frozenset(providers) if providers else None)


def said(category: str, why: str, message: str, statuses=None, providers=None) -> Rule:
    return Rule(category, why, frozenset(), re.compile(message), frozenset(statuses) if statuses else None,
                frozenset(providers) if providers else None)


SERVER_SIDE = frozenset({408, *range(500, 600)})


# -- rules that are not a table row -------------------------------------------------------------------

def seawall_own(r: Reply) -> Found | None:
    """Seawall's own errors carry their category: trust it rather than guess again."""
    from seawall.decide.classify import ADVICE  # the one table of categories

    if r.f.shape == "seawall" and r.f.category in ADVICE:
        return r.f.category, f"Seawall's own error ({r.f.code}) names its category"
    return None


_CLOUDFLARE_CODES = {"1009": ("permission.region", "Cloudflare 1009: the site owner bans this country or region"),
                     "1015": ("rate_limit.unspecified", ("Cloudflare 1015: this IP is rate limited (Discord bans IPs "
                                                        "after 10,000 invalid requests in 10 minutes, §6.3)")),
                     "1020": ("permission.ip", "Cloudflare 1020: a firewall rule blocks this IP"),
                     "1006": ("permission.ip", "Cloudflare 1006: this IP is banned"),
                     "1007": ("permission.ip", "Cloudflare 1007: this IP is banned"),
                     "1008": ("permission.ip", "Cloudflare 1008: this IP is banned")}
_PAGE_BY_STATUS = {502: "upstream.bad_gateway", 521: "upstream.bad_gateway", 523: "upstream.bad_gateway",
                   504: "upstream.timeout", 524: "upstream.timeout", 522: "upstream.timeout", 408: "upstream.timeout",
                   413: "request.too_large", 429: "rate_limit.unspecified", 404: "route.not_found",
                   407: "network.proxy"}


def proxy_page(r: Reply) -> Found | None:
    """An HTML, empty or plain-text page instead of the provider's JSON: usually a proxy or CDN
    answered (error-taxonomy.md notes; the simulator's edge dialect reproduces Cloudflare's)."""
    f = r.f
    if not (f.is_html or f.is_empty or f.page_by):
        return None
    source = "an HTML page" if f.is_html else "an empty body" if f.is_empty else f"a plain-text page ({f.message})"
    by = f" from {f.page_by}" if f.page_by else ""
    if 200 <= r.status < 300:
        if f.is_empty and r.status == 204:
            return None
        return "upstream.malformed", f"HTTP {r.status} with {source}{by} where JSON was expected"
    why = f"{source}{by}: a proxy or CDN answered, not the provider"
    if f.code in _CLOUDFLARE_CODES:
        return _CLOUDFLARE_CODES[f.code]
    if "plain http request was sent to https port" in r.msg:
        return "route.base_url", "nginx: plain http:// was sent to an https port; use https:// in the base URL"
    if "header or cookie too large" in r.msg:
        return "request.too_large", f"{source}{by}: the request headers are too large"
    if r.status in _PAGE_BY_STATUS:
        return _PAGE_BY_STATUS[r.status], why
    if r.status == 403 and f.is_html:
        return ("permission.ip" if f.page_by == "cloudflare" else "permission.policy"), \
            f"{source}{by}: a proxy, CDN or firewall refused the request before the API saw it"
    if f.is_empty and 0 < r.status < 500:
        return None  # an empty 401 is midjourney-proxy's wrong secret (§6.1); the status decides
    return "upstream.malformed", why


def redirect(r: Reply) -> Found | None:
    if 300 <= r.status < 400:
        where = r.headers.get("location", "")
        return "route.base_url", (f"HTTP {r.status} redirect{' to ' + where if where else ''}: call the final URL "
                                  f"(https, host, path) directly; clients often turn a redirected POST into a GET")
    return None


def gemini_quota(r: Reply) -> Found | None:
    """Gemini's 429 says per-day quota or per-minute rate only in QuotaFailure.quotaId (§4.2);
    its message ("You exceeded your current quota") is the same for both."""
    if "resource_exhausted" not in r.f.ids() and not (r.provider == "gemini" and r.status == 429):
        return None
    ids = [q.lower() for q in r.f.quota_ids]
    daily = next((q for q in r.f.quota_ids if "perday" in q.lower()), None)
    if daily:
        return "quota.exhausted", f"quotaId {daily}: a per-day quota (its retryDelay is no use)"
    if any("perminute" in q for q in ids):
        kind = "tokens" if any("token" in q for q in ids) else "requests"
        return f"rate_limit.{kind}", f"quotaId {r.f.quota_ids[0]}: a per-minute {kind} limit"
    if re.search(r"per[ _]?day", r.msg):
        return "quota.exhausted", "the message names a per-day quota"
    if re.search(r"per[ _]?minute", r.msg):
        kind = "tokens" if "token" in r.msg else "requests"
        return f"rate_limit.{kind}", f"the message names a per-minute {kind} quota"
    return "rate_limit.unspecified", "RESOURCE_EXHAUSTED without a per-minute or per-day QuotaFailure"


def day_long_wait(r: Reply) -> Found | None:
    """A 429 that asks to wait a day or more is a quota (Azure trial tiers: 'retry after 86400 seconds', §2)."""
    if r.status == 429 and r.wait_s is not None and r.wait_s >= 86400:
        return "quota.exhausted", f"the reply asks to wait {r.wait_s:g} s: a quota, not a rate limit"
    return None


_RATE_IDS = frozenset({"rate_limit_exceeded", "rate_limit_error", "rate_limited", "too_many_requests",
                       "token_concurrency_limit_reached", "requests", "tokens", "slow_down"})
_RATE_WORDS = re.compile(r"rate limit|too many requests|负载已饱和|请求过于频繁|rate_limit")
_REQUEST_LIMIT = re.compile(r"\(rp[md]\)|requests per (?:min|day|hour)|call rate limit|request rate|"
                            r"number of requests")
_TOKEN_LIMIT = re.compile(r"\(tp[md]\)|tokens per (?:min|day|hour)|token rate limit|input tokens|output tokens|"
                          r"request tokens|prompt bytes|tokens? limit")


def rate_limit(r: Reply) -> Found | None:
    if r.status != 429 and not _RATE_IDS & r.f.ids() and not _RATE_WORDS.search(r.msg):
        return None
    ids, msg = r.f.ids(), r.msg
    if "负载已饱和" in msg:
        return "rate_limit.unspecified", "one-api rewrote the upstream's 429; its detail is lost (§5.2)"
    if "token_concurrency_limit_reached" in ids or re.search(r"concurren|并发", msg):
        return "rate_limit.concurrency", "too many requests in flight at once"
    if r.f.shape == "discord" or r.provider == "discord":
        scope = "global" if r.f.is_global or r.headers.get("x-ratelimit-global") == "true" else \
            r.headers.get("x-ratelimit-scope", "per-route")
        return "rate_limit.requests", f"Discord's {scope} rate limit"
    if "requests" in ids or _REQUEST_LIMIT.search(msg):
        return "rate_limit.requests", "a requests-per-period limit"
    if "tokens" in ids or _TOKEN_LIMIT.search(msg):
        return "rate_limit.tokens", "a tokens-per-period limit"
    for name in ("anthropic-ratelimit-requests-remaining", "x-ratelimit-remaining-requests"):
        if r.headers.get(name) == "0":
            return "rate_limit.requests", f"{name}: 0"
    for name in ("anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-input-tokens-remaining",
                 "anthropic-ratelimit-output-tokens-remaining", "x-ratelimit-remaining-tokens"):
        if r.headers.get(name) == "0":
            return "rate_limit.tokens", f"{name}: 0"
    return "rate_limit.unspecified", "a 429 that does not say which limit"


# -- the table ------------------------------------------------------------------------------------

RULES: tuple[Callable[[Reply], Found | None], ...] = (
    seawall_own, proxy_page, redirect, midjourney, discord,
    # Quota and billing, whatever the status: waiting seconds won't help (§0: quota before rate limit).
    code("quota.exhausted", "the account's quota, balance or spend limit is used up",
         "insufficient_quota", "credit_balance_exhausted", "billing_not_active", "billing_hard_limit_reached",
         "billing_error", "enforced_spend_limit_reached", "insufficient_user_quota", "pre_consume_token_quota_failed",
         "entitlement_daily_limit_exceeded", "billing_disabled"),
    gemini_quota, day_long_wait,
    said("quota.exhausted", "the message says the quota, balance or spend limit is used up",
         r"credit balance is too low|exceeded your current quota|no credits|out of credits|"
         r"insufficient (?:balance|credits?|funds|quota)|spend(?:ing)? limit|usage limits?\b|quota (?:has been |is |"
         r"was )?(?:exhausted|exceeded|used up|not enough)|not enough quota|billing (?:details|hard limit)|"
         r"payment required|额度已用尽|额度不足|余额不足|"
         r"已欠费|预扣费额度失败"),
    said("rate_limit.request_too_large", "one request needs more tokens than the per-minute limit allows",
         r"request too large for .*per min|request too large .*\(tpm\)"),
    code("request.context_length", "prompt + max_tokens exceed the context window",
         "context_length_exceeded", "model_context_window_exceeded"),
    said("request.context_length", "the message says the input is longer than the context window",
         r"maximum context length|prompt is too long|context window|context length|exceeds? (?:the )?context limit|"
         r"input token count .*exceeds the maximum|too many (?:input )?tokens|reduce the length of the messages"),
    code("request.content_filter", "the provider's content filter", "content_filter", "content_policy_violation",
         "responsibleaipolicyviolation", "sensitive_words_detected", "prompt_blocked"),
    said("request.content_filter", "the message says a content or safety filter refused it",
         r"content management policy|content[_ ]polic|content filter|safety system|flagged|banned prompt|敏感词|"
         r"sensitive words"),
    # Keys (a 401 body can say "access denied" or "regional endpoint": keys come before permissions).
    echoed_key,
    said("network.cors", "Anthropic refuses browser (CORS) requests for this organization",
         r"cors requests are not allowed"),
    said("auth.missing", "the provider saw no key",
         r"didn't provide an api key|x-api-key header is required|unregistered callers|未提供令牌|"
         r"no api key (?:was )?(?:provided|found)|api key is (?:required|missing)|"
         r"missing (?:required )?(?:api key|subscription key|authentication|credentials|bearer)|"
         r"authorization header is (?:required|missing)"),
    code("auth.malformed", "an API key was sent where an OAuth token is expected", "access_token_type_unsupported"),
    said("auth.malformed", "the key is sent in the wrong header or shape",
         r"expected oauth 2 access token|invalid authorization header|authorization header (?:is )?malformed|"
         r"must (?:be|use) ['\"]?bearer"),
    code("auth.key_expired", "the key has expired", "api_key_expired"),
    said("auth.key_expired", "the message says the key expired",
         r"api key expired|(?:key|token) (?:has )?expired|已过期"),
    said("auth.key_revoked", "the key was revoked", r"revoked|reported as leaked|key has been deleted"),
    said("permission.key_disabled", "the key is disabled",
         r"令牌状态不可用|(?:key|token) (?:is |has been |was )?disabled|token status (?:is )?unavailable"),
    code("auth.org_mismatch", "organization or project header does not match the key",
         "mismatched_organization", "mismatched_project", "no_organization", "invalid_organization"),
    said("auth.org_mismatch", "organization or project header does not match the key",
         r"openai-organization header|member of an organization|organization.{0,40}does not match|mismatched "
         r"(?:organization|project)"),
    code("permission.ip", "the key may not be used from this IP address", "api_key_ip_address_blocked"),
    said("permission.ip", "the key may not be used from this IP address",
         r"ip not authorized|只能在指定网段使用|白名单|\bip(?: address)? .{0,40}?not (?:allowed|authorized|whitelisted|"
         r"in (?:the |your )?(?:allow|white)list)"),
    said("upstream.server_error", "one-api could not look the key up (its database failed, §5.2)", r"令牌验证失败"),
    said("auth.key_invalid", "the gateway does not know the key", r"无效的令牌"),
    code("auth.key_invalid", "the provider does not know the key",
         "invalid_api_key", "api_key_invalid", "channel:invalid_key", "authentication_error", "unauthenticated",
         "invalid_authentication"),
    # Permissions.
    code("permission.region", "the provider does not serve this country or region",
         "unsupported_country_region_territory"),
    said("permission.region", "the provider does not serve this country or region",
         r"country, region,? or territory|user location is not supported|not available in your (?:country|region)|"
         r"unsupported (?:country|region)|region (?:is )?not supported"),
    code("permission.service_disabled", "the API is not enabled for the key's cloud project", "service_disabled"),
    said("permission.service_disabled", "the API is not enabled for the key's cloud project",
         r"has not been used in project|it is disabled\. enable it|api (?:has not been|is not) enabled"),
    said("permission.channel", "Discord: the account cannot see or use the channel", r"missing (?:access|permissions)"),
    code("permission.model", "this key or project may not use the model", "model_not_found", statuses={403}),
    code("permission.model", "this key may not use the model", "permission_error", "permission_denied",
         "access_denied", message=r"\bmodel\b"),
    said("permission.model", "this key or group may not use the model",
         r"无权使用模型|does not have access to (?:the )?model|not allowed to (?:\w+ ){1,3}(?:from )?(?:this |the )?"
         r"model"),
    code("permission.policy", "an account, organization or key policy refuses it",
         "account_deactivated", "api_key_service_blocked", "consumer_suspended", "access_token_scope_insufficient",
         "api_key_http_referrer_blocked", "api_key_android_app_blocked", "api_key_ios_app_blocked"),
    said("permission.policy", "an account, organization or key policy refuses it",
         r"用户已被封禁|(?:account|organization|workspace|project) (?:has been |is |was )?(?:deactivated|suspended|"
         r"disabled|banned)|are blocked|"
         r"has been suspended|verify your account"),
    code("permission.policy", "the provider refuses this key the resource", "permission_error", "permission_denied",
         "request_forbidden", "access_denied"),
    # Routes and models.
    invalid_url,
    code("route.not_found", "the API does not implement this endpoint", "api_not_implemented"),
    said("route.not_found", "the API has no such endpoint",
         r"api not implemented|unknown (?:url|endpoint|route)|no route (?:matched|found)"),
    code("capacity.circuit_open", "the gateway has no working key left for this channel", "channel:no_available_key"),
    code("model.not_found", "the model (or Azure deployment) does not exist here",
         "model_not_found", "deploymentnotfound", "model_price_error"),
    code("model.not_found", "Anthropic names the unknown model", "not_found_error", message=r"^model:"),
    said("model.not_found", "the message says the model is unknown or has no channel",
         r"无可用渠道|no available channel|does not exist|is not found for api version|"
         r"model (?:not found|does not exist|not available)|unknown model|invalid model|not a valid model|"
         r"model [`'\"]?[\w.:/\-]+[`'\"]? (?:is )?(?:not found|does not exist)"),
    code("route.not_found", "the resource does not exist", "not_found_error"),
    rate_limit,
    # Sizes.
    code("request.too_large", "the request body is too large", "request_too_large", "read_request_body_failed"),
    said("request.too_large", "the request body is too large",
         r"request entity too large|payload too large|request too large|body (?:is )?too large"),
    # The provider's side: codes first (one-api's do_request_failed says "i/o timeout" in its message).
    code("upstream.overloaded", "the provider is overloaded", "overloaded_error", "server_is_overloaded"),
    code("upstream.timeout", "the provider or a proxy timed out",
         "timeout_error", "deadline_exceeded", "channel:response_time_exceeded"),
    code("upstream.bad_gateway", "the gateway could not reach its upstream (§5.2)", "do_request_failed"),
    code("upstream.malformed", "the upstream's reply was empty or unreadable", "empty_response"),
    code("upstream.unavailable", "the provider is unavailable", "service_unavailable_error"),
    said("upstream.overloaded", "the provider says it is overloaded", r"overloaded|high demand|over capacity"),
    said("upstream.timeout", "the provider or a proxy timed out", r"timed? ?out|deadline exceeded|超时",
         statuses=SERVER_SIDE),
    said("upstream.bad_gateway", "a gateway could not reach its upstream",
         r"请求上游地址失败|bad gateway|dial tcp|connection refused|upstream connect error", statuses=SERVER_SIDE),
    said("upstream.unavailable", "the provider is unavailable or in maintenance",
         r"service (?:is )?(?:temporarily )?unavailable|maintenance", statuses=SERVER_SIDE),
    # Codes that only name the status class (Gemini's UNAVAILABLE may still say "overloaded", above).
    code("upstream.unavailable", "the provider is unavailable", "unavailable"),
    code("upstream.server_error", "the provider failed internally", "api_error", "server_error", "internal"),
    code("request.invalid", "the provider refused the request as invalid",
         "invalid_request_error", "invalid_argument", "failed_precondition", "bad_request_body", "invalid_request",
         statuses={400, 409, 415, 422}),
)


def first_match(r: Reply) -> Found | None:
    for rule in RULES:
        found = rule(r)
        if found:
            return found
    return None
