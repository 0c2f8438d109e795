"""Real-shaped replies (docs/reference/provider-errors.md) -> taxonomy category and retry advice."""

import pytest

from seawall.decide.classify import classify_reply, classify_transport, parse_go_duration, retry_wait


def oa(message, type_="invalid_request_error", code=None, param=None):
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


CASES = [  # id, status, headers, body, category, retry, wait
    ("openai invalid key", 401, {}, oa("Incorrect API key provided: sk-proj-****abcd.", code="invalid_api_key"),
     "auth.key_invalid", "no", None),
    ("openai missing key", 401, {}, oa("You didn't provide an API key. You need to provide your API key in an "
                                      "Authorization header using Bearer auth"), "auth.missing", "no", None),
    ("openai region", 403, {}, oa("Country, region, or territory not supported", "request_forbidden",
                                  "unsupported_country_region_territory"), "permission.region", "no", None),
    ("openai model not found", 404, {}, oa("The model `gpt-5x` does not exist or you do not have access to it.",
                                           code="model_not_found"), "model.not_found", "fallback", None),
    ("openai invalid url", 404, {}, oa("Invalid URL (POST /v1/chat/completion)"), "route.not_found", "no", None),
    ("openai context length", 400, {}, oa("This model's maximum context length is 128000 tokens. However, your "
                                          "messages resulted in 130412 tokens.", code="context_length_exceeded",
                                          param="messages"), "request.context_length", "no", None),
    ("openai quota 429", 429, {}, oa("You exceeded your current quota, please check your plan and billing details.",
                                     "insufficient_quota", "insufficient_quota"), "quota.exhausted", "no", None),
    ("openai credit balance", 429, {}, {"error": {"message": "You have no credits remaining.",
                                                  "type": "insufficient_quota", "code": "credit_balance_exhausted"}},
     "quota.exhausted", "no", None),
    ("openai rpm with retry-after-ms", 429, {"retry-after-ms": "1146", "retry-after": "2"},
     oa("Rate limit reached for gpt-4o-mini in organization org-X on requests per min (RPM): Limit 3, Used 3, "
        "Requested 1. Please try again in 20s.", "requests", "rate_limit_exceeded"),
     "rate_limit.requests", "wait", 1.146),
    ("openai tpm with reset header", 429, {"x-ratelimit-reset-tokens": "6m0s", "x-ratelimit-reset-requests": "1s"},
     oa("Rate limit reached for gpt-4o-mini on tokens per min (TPM): Limit 50000, Used 47949, Requested 3006.",
        "tokens", "rate_limit_exceeded"), "rate_limit.tokens", "wait", 1.0),
    ("openai request too large", 429, {}, oa("Request too large for gpt-4o in organization org-xxx on tokens per "
                                             "min (TPM): Limit 30000, Requested 34307.", "tokens",
                                             "rate_limit_exceeded"), "rate_limit.request_too_large", "no", None),
    ("azure token rate limit", 429, {"retry-after": "60"}, {"error": {"code": "429", "message": "Requests to the "
     "ChatCompletions_Create Operation ... have exceeded token rate limit of your current OpenAI S0 pricing tier."}},
     "rate_limit.tokens", "wait", 60.0),
    ("azure content filter", 400, {}, {"error": {"message": "The response was filtered", "type": None,
                                                 "param": "prompt", "code": "content_filter"}},
     "request.content_filter", "no", None),
    ("azure deployment not found", 404, {}, {"error": {"code": "DeploymentNotFound",
                                                       "message": "The API deployment for this resource does not exist."}},
     "model.not_found", "fallback", None),
    ("openai 500", 500, {}, oa("The server had an error while processing your request. Sorry about that!",
                               "server_error"), "upstream.server_error", "backoff", None),
    ("openai 503 overloaded", 503, {}, oa("The engine is currently overloaded, please try again later",
                                          "server_error"), "upstream.overloaded", "backoff", None),
    ("cloudflare 502 page", 502, {}, b"<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>",
     "upstream.bad_gateway", "backoff", None),
    ("cloudflare 524 page", 524, {}, b"<!DOCTYPE html><html><title>A timeout occurred</title></html>",
     "upstream.timeout", "backoff", None),
    ("empty 503", 503, {}, b"", "upstream.malformed", "backoff", None),
    ("truncated json 500", 500, {}, b'{"error": {"message": "The server', "upstream.server_error", "backoff", None),
    ("529 anthropic overloaded", 529, {}, {"type": "error", "error": {"type": "overloaded_error",
                                                                       "message": "Overloaded"}},
     "upstream.overloaded", "backoff", None),
    ("new-api 429 no detail", 429, {}, {"error": {"message": "当前分组上游负载已饱和，请稍后再试", "type": "one_api_error"}},
     "rate_limit.unspecified", "wait", None),
]


@pytest.mark.parametrize("status,headers,body,category,retry,wait", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classify_reply(status, headers, body, category, retry, wait):
    c = classify_reply(status, headers, body, now=1_000_000.0)
    assert (c.category, c.retry) == (category, retry)
    assert c.wait_s == (pytest.approx(wait) if wait is not None else None)
    assert f"HTTP {status}" in c.evidence


def test_html_evidence_says_a_proxy_answered():
    c = classify_reply(502, {}, b"<html><title>502 Bad Gateway</title></html>")
    assert any("proxy or CDN" in e for e in c.evidence)


def test_quota_is_never_a_wait_even_with_retry_after():
    c = classify_reply(429, {"retry-after": "20"}, oa("You exceeded your current quota", "insufficient_quota",
                                                      "insufficient_quota"))
    assert c.category == "quota.exhausted" and c.wait_s is None


@pytest.mark.parametrize("text,seconds", [("6m0s", 360.0), ("1.146s", 1.146), ("120ms", 0.12), ("1h2m3s", 3723.0),
                                          ("20s", 20.0), ("2m", 120.0)])
def test_parse_go_duration(text, seconds):
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5 minutes", "-1s"])
def test_parse_go_duration_rejects_garbage(text):
    assert parse_go_duration(text) is None


def test_retry_after_http_date_uses_now():
    wait = retry_wait({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, 429, now=1445412480.0)
    assert wait == pytest.approx(30.0)


def test_transport_kinds_map_to_network_categories():
    assert classify_transport("dns", "x").category == "network.dns"
    assert classify_transport("connect", "x").retry == "backoff"
    assert classify_transport("tls", "x").retry == "no"
    assert classify_transport("timeout", "x").category == "upstream.timeout"
