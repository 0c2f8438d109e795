"""Every provider's real-shaped error replies (docs/reference/provider-errors.md, §0 rows and the
bodies of §1-§6) -> taxonomy category, retry advice, wait and the provider's own code."""

import pytest

from seawall.decide.classify import ADVICE, classify_failure, classify_reply

NOW = 1_772_049_750.0  # 2026-02-25T20:02:30Z


def oa(message, type_="invalid_request_error", code=None, param=None):
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def ant(type_, message, **extra):
    return {"type": "error", "error": {"type": type_, "message": message, **extra}, "request_id": "req_011CZuM63Dv3"}


def gem(code, status, message, *details):
    return {"error": {"code": code, "message": message, "status": status, "details": list(details)}}


def error_info(reason):
    return {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"}}


def quota_failure(quota_id, metric="generativelanguage.googleapis.com/generate_content_free_tier_requests"):
    return {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{"quotaMetric": metric, "quotaId": quota_id,
                            "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
                            "quotaValue": "20"}]}


def retry_info(delay):
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}


GEMINI_QUOTA_MESSAGE = ("You exceeded your current quota, please check your plan and billing details. For more "
                        "information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n"
                        "* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_"
                        "requests, limit: 20, model: gemini-2.5-flash\nPlease retry in 38.2s.")


def one(message, type_="one_api_error", rid="2025021912345678901234", **extra):
    return {"error": {"message": f"{message} (request id: {rid})", "type": type_, **extra}}


def relay(message, type_, code):
    return {"error": {"message": f"{message} (request id: 20250219123456)", "type": type_, "param": "", "code": code}}


def mj(code, description, result=None):
    return {"code": code, "description": description, "result": result, "properties": {}}


def mj_task(status, reason):
    return {"id": "1320098173412546", "action": "IMAGINE", "status": status, "prompt": "a cat", "promptEn": "a cat",
            "description": "/imagine a cat", "state": None, "submitTime": 1700000000000, "startTime": 1700000001000,
            "finishTime": 1700000002000, "imageUrl": None, "progress": "", "failReason": reason, "properties": {}}


def sw(code, category, status_type="invalid_request_error"):
    return {"error": {"message": "…", "type": status_type, "param": None, "code": code,
                      "request_id": "req_sw_0123456789", "hint": "Check …", "category": category}}


ANTHROPIC_RATE_HEADERS = {
    "anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "49",
    "anthropic-ratelimit-requests-reset": "2026-02-25T20:02:32Z",
    "anthropic-ratelimit-input-tokens-limit": "30000", "anthropic-ratelimit-input-tokens-remaining": "0",
    "anthropic-ratelimit-input-tokens-reset": "2026-02-25T20:02:37Z",
}

CASES = [  # id, status, headers, body, provider, category, retry, wait, code
    # -- OpenAI (§1) ------------------------------------------------------------------------------
    ("openai org mismatch", 401, {}, oa("OpenAI-Organization header should match organization for API key",
                                        code="mismatched_organization"), None, "auth.org_mismatch", "no", None,
     "mismatched_organization"),
    ("openai not a member", 401, {}, oa("You must be a member of an organization to use the API",
                                        code="no_organization"), None, "auth.org_mismatch", "no", None, None),
    ("openai ip not authorized", 401, {}, oa("IP not authorized"), None, "permission.ip", "no", None, None),
    ("openai model permission 403", 403, {}, oa("Project `proj_abc` does not have access to model `o3`",
                                                code="model_not_found"), None, "permission.model", "fallback", None,
     "model_not_found"),
    ("openai invalid url without /v1", 404, {}, oa("Invalid URL (POST /chat/completions)"), None, "route.base_url",
     "no", None, None),
    ("openai invalid url doubled /v1", 404, {}, oa("Invalid URL (POST /v1/v1/chat/completions)"), None,
     "route.base_url", "no", None, None),
    ("openai responses context window", 400, {}, oa("Your input exceeds the context window of this model. Please "
                                                    "adjust your input and try again.", code="context_length_exceeded"),
     None, "request.context_length", "no", None, "context_length_exceeded"),
    ("openai old context message", 400, {}, oa("This model's maximum context length is 16385 tokens. However, you "
                                               "requested 17001 tokens (13001 in the messages, 4000 in the "
                                               "completion)."), None, "request.context_length", "no", None, None),
    ("openai quota old null code", 429, {"retry-after": "20"},
     {"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                "type": "insufficient_quota", "param": None, "code": None}}, None, "quota.exhausted", "no", None,
     "insufficient_quota"),
    ("openai rpm message wait", 429, {}, oa("Rate limit reached for gpt-4o-mini in organization org-X on requests per "
                                            "min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s.",
                                            "requests", "rate_limit_exceeded"), None, "rate_limit.requests", "wait",
     20.0, "rate_limit_exceeded"),
    ("openai tpd", 429, {}, oa("Rate limit reached for gpt-4o on tokens per day (TPD): Limit 90000, Used 89000, "
                               "Requested 3000. Please try again in 6m0s.", "tokens", "rate_limit_exceeded"), None,
     "rate_limit.tokens", "wait", 360.0, None),
    ("openai rpm retry-after http date", 429, {"retry-after": "Wed, 25 Feb 2026 20:02:40 GMT"},
     oa("Rate limit reached for gpt-4o on requests per min (RPM)", "requests", "rate_limit_exceeded"), None,
     "rate_limit.requests", "wait", 10.0, None),
    ("openai 429 no detail, requests header at 0", 429, {"x-ratelimit-remaining-requests": "0",
                                                         "x-ratelimit-reset-requests": "120ms"},
     oa("Too many requests", "server_error"), None, "rate_limit.requests", "wait", 0.12, None),
    ("openai 503 slow_down", 503, {}, oa("Slow Down: a sudden increase in your request rate is impacting service "
                                         "reliability.", "service_unavailable_error", "slow_down"), None,
     "rate_limit.requests", "wait", None, "slow_down"),
    ("openai image safety system", 400, {}, oa("Your request was rejected as a result of our safety system.",
                                               code="content_policy_violation"), None, "request.content_filter", "no",
     None, "content_policy_violation"),
    ("openai account deactivated", 401, {}, oa("This key is associated with a deactivated account.",
                                               code="account_deactivated"), None, "permission.policy", "no", None,
     None),
    ("openai billing not active", 429, {}, oa("Your account is not active, please check your billing details on our "
                                              "website.", "billing_not_active", "billing_not_active"), None,
     "quota.exhausted", "no", None, None),
    ("openai anthropic key echoed", 401, {}, oa("Incorrect API key provided: sk-ant-a*****************************"
                                                "*****JgAA. You can find your API key at https://platform.openai.com/"
                                                "account/api-keys.", code="invalid_api_key"), None,
     "auth.wrong_platform", "no", None, "invalid_api_key"),
    ("openai gemini key echoed", 401, {}, oa("Incorrect API key provided: AIzaSyB1**************wxyz. You can find "
                                             "your API key at https://platform.openai.com/account/api-keys.",
                                             code="invalid_api_key"), None, "auth.wrong_platform", "no", None, None),
    ("openai key with newline echoed", 401, {}, oa("Incorrect API key provided: sk-proj-**********abc\n. You can find "
                                                   "your API key at https://platform.openai.com/account/api-keys.",
                                                   code="invalid_api_key"), None, "auth.key_whitespace", "no", None,
     None),
    ("openai doubled bearer echoed", 401, {}, oa("Incorrect API key provided: Bearer s**********************abcd. "
                                                 "You can find your API key at https://platform.openai.com/account/"
                                                 "api-keys.", code="invalid_api_key"), None, "auth.malformed", "no",
     None, None),
    ("openai seawall key sent upstream", 401, {}, oa("Incorrect API key provided: sk-sw-ab********wxyz. You can find "
                                                     "your API key at https://platform.openai.com/account/api-keys.",
                                                     code="invalid_api_key"), None, "auth.wrong_platform", "no", None,
     None),
    ("openai 502 cloudflare plain text", 502, {"server": "cloudflare"}, b"error code: 502", None,
     "upstream.bad_gateway", "backoff", None, None),
    ("openai 504 html", 504, {"server": "cloudflare"}, (b"<html>\r\n<head><title>504 Gateway Time-out</title></head>"
                                                       b"<body><center>cloudflare</center></body></html>"), None,
     "upstream.timeout", "backoff", None, None),
    ("responses api failed event", 0, {}, {"type": "response.failed", "response": {"id": "resp_1", "error": {
        "code": "rate_limit_exceeded", "message": "Rate limit reached for gpt-4.1 on tokens per min (TPM)"}}}, None,
     "rate_limit.tokens", "wait", None, "rate_limit_exceeded"),
    # -- Azure (§2) ---------------------------------------------------------------------------------
    ("azure 401 subscription key", 401, {"apim-request-id": "a1b2"},
     {"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API endpoint. Make "
                                         "sure to provide a valid key for an active subscription and use a correct "
                                         "regional API endpoint for your resource."}}, None, "auth.key_invalid",
     "no", None, "401"),
    ("azure call rate limit", 429, {}, {"error": {"code": "429", "message": "Requests to the ChatCompletions_Create "
     "Operation under Azure OpenAI API version 2024-02-15-preview have exceeded call rate limit of your current "
     "AIServices S0 pricing tier. Please retry after 7 seconds."}}, None, "rate_limit.requests", "wait", 7.0, "429"),
    ("azure trial retry after a day", 429, {}, {"error": {"code": "429", "message": "Requests to the Embeddings_Create "
     "Operation have exceeded call rate limit of your current OpenAI S0 pricing tier. Please retry after 86400 "
     "seconds."}}, None, "quota.exhausted", "no", None, "429"),
    ("azure content filter innererror", 400, {},
     {"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content management "
                           "policy.", "type": None, "param": "prompt", "code": "content_filter", "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": {}}}}, None,
     "request.content_filter", "no", None, "content_filter"),
    ("azure deployment not found", 404, {}, {"error": {"code": "DeploymentNotFound", "message": "The API deployment "
                                                       "for this resource does not exist."}}, None, "model.not_found",
     "fallback", None, "DeploymentNotFound"),
    # -- Anthropic (§3) -----------------------------------------------------------------------------
    ("anthropic invalid key", 401, {}, ant("authentication_error", "invalid x-api-key"), None, "auth.key_invalid",
     "no", None, "authentication_error"),
    ("anthropic missing key", 401, {}, ant("authentication_error", "x-api-key header is required"), None,
     "auth.missing", "no", None, None),
    ("anthropic missing key invalid_request type", 401, {}, ant("invalid_request_error", "x-api-key header is "
                                                                "required"), None, "auth.missing", "no", None, None),
    ("anthropic cors", 401, {}, ant("authentication_error", "CORS requests are not allowed for this Organization "
                                    "because of its CORS settings."), None, "network.cors", "no", None, None),
    ("anthropic credit balance at 400", 400, {}, ant("invalid_request_error", "Your credit balance is too low to "
                                                     "access the Anthropic API. Please go to Plans & Billing to upgrade "
                                                     "or purchase credits."), None, "quota.exhausted", "no", None,
     "invalid_request_error"),
    ("anthropic billing_error 402", 402, {}, ant("billing_error", "Your account has a billing problem."), None,
     "quota.exhausted", "no", None, "billing_error"),
    ("anthropic spend cap 429", 429, {"x-should-retry": "true"},
     ant("rate_limit_error", "You have reached your specified workspace API usage limits.",
         details={"error_code": "enforced_spend_limit_reached"}), None, "quota.exhausted", "no", None,
     "enforced_spend_limit_reached"),
    ("anthropic rpm", 429, {"retry-after": "12"}, ant("rate_limit_error", "This request would exceed your "
                                                      "organization's rate limit of 50 requests per minute."), None,
     "rate_limit.requests", "wait", 12.0, "rate_limit_error"),
    ("anthropic input tpm", 429, {"retry-after": "3"}, ant("rate_limit_error", "This request would exceed the rate "
                                                           "limit for your organization of 40,000 input tokens per "
                                                           "minute."), None, "rate_limit.tokens", "wait", 3.0, None),
    ("anthropic bytes per hour, header reset", 429, ANTHROPIC_RATE_HEADERS,
     ant("rate_limit_error", "This request would exceed your organization's rate limit of 20,000,000 prompt bytes "
                             "per hour (org: 5576611f, model: claude-sonnet-4-5-20250929)."), None,
     "rate_limit.tokens", "wait", 7.0, None),
    ("anthropic 429 no detail, headers say requests", 429, {**ANTHROPIC_RATE_HEADERS,
                                                            "anthropic-ratelimit-input-tokens-remaining": "10",
                                                            "anthropic-ratelimit-requests-remaining": "0"},
     ant("rate_limit_error", "Rate limited."), None, "rate_limit.requests", "wait", 2.0, None),
    ("anthropic concurrency", 429, {}, ant("rate_limit_error", "Number of concurrent connections has exceeded your "
                                                               "rate limit."), None, "rate_limit.concurrency",
     "wait", None, None),
    ("anthropic prompt too long", 400, {}, ant("invalid_request_error", "prompt is too long: 208310 tokens > 200000 "
                                                                        "maximum"), None, "request.context_length",
     "no", None, None),
    ("anthropic input + max_tokens", 400, {}, ant("invalid_request_error", "input length and `max_tokens` exceed "
                                                  "context limit: 197626 + 8192 > 200000, decrease input length or "
                                                  "`max_tokens` and try again"), None, "request.context_length",
     "no", None, None),
    ("anthropic model not found", 404, {}, ant("not_found_error", "model: claude-3-5-sonnet-2024"), None,
     "model.not_found", "fallback", None, "not_found_error"),
    ("anthropic route not found", 404, {}, ant("not_found_error", "Not found"), None, "route.not_found", "no", None,
     None),
    ("anthropic 413 from cloudflare", 413, {}, ant("request_too_large", "Request exceeds the maximum allowed number "
                                                                        "of bytes."), None, "request.too_large", "no",
     None, "request_too_large"),
    ("anthropic 403 permission", 403, {}, ant("permission_error", "Request not allowed"), None, "permission.policy",
     "no", None, "permission_error"),
    ("anthropic 403 model permission", 403, {}, ant("permission_error", "Your API key does not have permission to "
                                                    "use the specified model."), None, "permission.model", "fallback",
     None, None),
    ("anthropic 529", 529, {}, ant("overloaded_error", "Overloaded"), None, "upstream.overloaded", "backoff", None,
     "overloaded_error"),
    ("anthropic 500", 500, {}, ant("api_error", "Internal server error"), None, "upstream.server_error", "backoff",
     None, "api_error"),
    ("anthropic 504", 504, {}, ant("timeout_error", "Request timed out"), None, "upstream.timeout", "backoff", None,
     "timeout_error"),
    ("anthropic in-stream overloaded at 200", 200, {}, {"type": "error", "error": {"type": "overloaded_error",
                                                                                   "message": "Overloaded"}}, None,
     "upstream.overloaded", "backoff", None, "overloaded_error"),
    # -- Gemini (§4) --------------------------------------------------------------------------------
    ("gemini invalid key 400", 400, {}, gem(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                                            error_info("API_KEY_INVALID")), None, "auth.key_invalid", "no", None,
     "API_KEY_INVALID"),
    ("gemini expired key", 400, {}, gem(400, "INVALID_ARGUMENT", "API key expired. Please renew the API key.",
                                        error_info("API_KEY_INVALID")), None, "auth.key_expired", "no", None,
     "API_KEY_INVALID"),
    ("gemini unregistered callers", 403, {}, gem(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers "
                                                 "(callers without established identity). Please use API Key or other "
                                                 "form of API consumer identity to call this API."), None,
     "auth.missing", "no", None, "PERMISSION_DENIED"),
    ("gemini service disabled", 403, {}, gem(403, "PERMISSION_DENIED", "Generative Language API has not been used in "
                                             "project 123456 before or it is disabled. Enable it by visiting https://"
                                             "console.developers.google.com/apis/api/generativelanguage.googleapis.com"
                                             "/overview?project=123456 then retry.", error_info("SERVICE_DISABLED")),
     None, "permission.service_disabled", "no", None, "SERVICE_DISABLED"),
    ("gemini key service blocked", 403, {}, gem(403, "PERMISSION_DENIED", "Requests to this API generativelanguage."
                                                "googleapis.com method google.ai.generativelanguage.v1beta."
                                                "GenerativeService.GenerateContent are blocked.",
                                                error_info("API_KEY_SERVICE_BLOCKED")), None, "permission.policy",
     "no", None, "API_KEY_SERVICE_BLOCKED"),
    ("gemini leaked key", 403, {}, gem(403, "PERMISSION_DENIED", "Your API key was reported as leaked. Please use "
                                                                 "another API key."), None, "auth.key_revoked", "no",
     None, None),
    ("gemini bearer api key", 401, {}, gem(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. "
                                           "Expected OAuth 2 access token, login cookie or other valid authentication "
                                           "credential.", error_info("ACCESS_TOKEN_TYPE_UNSUPPORTED")), None,
     "auth.malformed", "no", None, "ACCESS_TOKEN_TYPE_UNSUPPORTED"),
    ("gemini region", 400, {}, gem(400, "FAILED_PRECONDITION", "User location is not supported for the API use."),
     None, "permission.region", "no", None, "FAILED_PRECONDITION"),
    ("gemini free tier country", 400, {}, gem(400, "FAILED_PRECONDITION", "Gemini API free tier is not available in "
                                              "your country. Please enable billing on your project in Google AI "
                                              "Studio."), None, "permission.region", "no", None, None),
    ("gemini context", 400, {}, gem(400, "INVALID_ARGUMENT", "The input token count (1234567) exceeds the maximum "
                                                             "number of tokens allowed (1048576)."), None,
     "request.context_length", "no", None, None),
    ("gemini bad request", 400, {}, gem(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unknown name "
                                                                 "\"foo\": Cannot find field."), None,
     "request.invalid", "no", None, "INVALID_ARGUMENT"),
    ("gemini model not found", 404, {}, gem(404, "NOT_FOUND", "models/gemini-1.0-pro is not found for API version "
                                            "v1beta, or is not supported for generateContent. Call ListModels to see "
                                            "the list of available models and their supported methods."), None,
     "model.not_found", "fallback", None, "NOT_FOUND"),
    ("gemini per-day quota", 429, {}, gem(429, "RESOURCE_EXHAUSTED", GEMINI_QUOTA_MESSAGE,
                                          quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
                                          retry_info("65205s")), None, "quota.exhausted", "no", None,
     "RESOURCE_EXHAUSTED"),
    ("gemini per-minute requests", 429, {}, gem(429, "RESOURCE_EXHAUSTED", GEMINI_QUOTA_MESSAGE,
                                                quota_failure("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
                                                retry_info("38s")), None, "rate_limit.requests", "wait", 38.0,
     "RESOURCE_EXHAUSTED"),
    ("gemini per-minute input tokens", 429, {}, gem(429, "RESOURCE_EXHAUSTED", GEMINI_QUOTA_MESSAGE,
                                                    quota_failure("GenerateContentInputTokensPerModelPerMinute-FreeTier",
                                                                  "generativelanguage.googleapis.com/generate_content_"
                                                                  "free_tier_input_token_count"),
                                                    retry_info("0.2s")), None, "rate_limit.tokens", "wait", 0.2, None),
    ("gemini per-minute, delay only in message", 429, {}, gem(429, "RESOURCE_EXHAUSTED", GEMINI_QUOTA_MESSAGE,
                                                              quota_failure("GenerateRequestsPerMinutePerProject"
                                                                            "PerModel")), None,
     "rate_limit.requests", "wait", 38.2, None),
    ("vertex 429 no quota failure", 429, {}, gem(429, "RESOURCE_EXHAUSTED", "Resource exhausted. Please try again "
                                                 "later. Please refer to https://cloud.google.com/vertex-ai/generative-"
                                                 "ai/docs/error-code-429 for more details."), None,
     "rate_limit.unspecified", "wait", None, "RESOURCE_EXHAUSTED"),
    ("gemini 503 overloaded", 503, {}, gem(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
     None, "upstream.overloaded", "backoff", None, "UNAVAILABLE"),
    ("gemini 503 high demand", 503, {}, gem(503, "UNAVAILABLE", "This model is currently experiencing high demand. "
                                                                "Spikes in demand are usually temporary."), None,
     "upstream.overloaded", "backoff", None, None),
    ("gemini 503 unavailable", 503, {}, gem(503, "UNAVAILABLE", "The service is currently unavailable."), None,
     "upstream.unavailable", "backoff", None, None),
    ("gemini 500", 500, {}, gem(500, "INTERNAL", "An internal error has occurred. Please retry or report in "
                                                 "https://developers.generativeai.google/guide/troubleshooting"), None,
     "upstream.server_error", "backoff", None, "INTERNAL"),
    ("gemini 504", 504, {}, gem(504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."), None,
     "upstream.timeout", "backoff", None, "DEADLINE_EXCEEDED"),
    ("gemini streamed array error", 429, {}, [gem(429, "RESOURCE_EXHAUSTED", GEMINI_QUOTA_MESSAGE,
                                                  quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier"))],
     None, "quota.exhausted", "no", None, None),
    # -- one-api / new-api (§5) ------------------------------------------------------------------------
    ("one-api missing token", 401, {}, one("未提供令牌"), None, "auth.missing", "no", None, "one_api_error"),
    ("one-api invalid token", 401, {}, one("无效的令牌"), None, "auth.key_invalid", "no", None, None),
    ("one-api token lookup failed", 401, {}, one("令牌验证失败"), None, "upstream.server_error", "backoff", None,
     None),
    ("one-api token exhausted", 401, {}, one("该令牌额度已用尽"), None, "quota.exhausted", "no", None, None),
    ("one-api named token exhausted", 401, {}, one("令牌 prod（#12）额度已用尽"), None, "quota.exhausted", "no", None,
     None),
    ("one-api token expired", 401, {}, one("该令牌已过期"), None, "auth.key_expired", "no", None, None),
    ("one-api token disabled", 401, {}, one("该令牌状态不可用"), None, "permission.key_disabled", "no", None, None),
    ("one-api user banned", 403, {}, one("用户已被封禁"), None, "permission.policy", "no", None, None),
    ("one-api ip subnet", 403, {}, one("该令牌只能在指定网段使用：10.0.0.0/8，当前 ip：203.0.113.9"), None,
     "permission.ip", "no", None, None),
    ("one-api model forbidden", 403, {}, one("该令牌无权使用模型：gpt-4o"), None, "permission.model", "fallback", None,
     None),
    ("new-api model forbidden access_denied", 403, {}, one("该令牌无权使用模型：gpt-4o", "new_api_error",
                                                          code="access_denied"), None, "permission.model",
     "fallback", None, "access_denied"),
    ("one-api no channel", 503, {}, one("当前分组 default 下对于模型 gpt-5 无可用渠道"), None, "model.not_found",
     "fallback", None, None),
    ("new-api no channel", 503, {}, relay("当前分组 vip 下对于模型 gpt-5 无可用渠道", "new_api_error",
                                          "model_not_found"), None, "model.not_found", "fallback", None,
     "model_not_found"),
    ("new-api user quota", 403, {}, relay("用户额度不足, 剩余额度: ＄0.000000", "new_api_error",
                                          "insufficient_user_quota"), None, "quota.exhausted", "no", None,
     "insufficient_user_quota"),
    ("new-api pre-consume", 403, {}, relay("预扣费额度失败, 用户剩余额度: ＄0.01, 需要预扣费额度: ＄0.02",
                                           "new_api_error", "pre_consume_token_quota_failed"), None,
     "quota.exhausted", "no", None, None),
    ("new-api body too large", 413, {}, relay("read request body failed: http: request body too large",
                                              "new_api_error", "read_request_body_failed"), None, "request.too_large",
     "no", None, None),
    ("new-api not implemented", 501, {}, relay("API not implemented", "new_api_error", "api_not_implemented"), None,
     "route.not_found", "no", None, None),
    ("new-api sensitive words", 400, {}, relay("敏感词检测失败", "new_api_error", "sensitive_words_detected"), None,
     "request.content_filter", "no", None, None),
    ("new-api upstream request failed", 500, {}, relay("请求上游地址失败", "new_api_error", "do_request_failed"), None,
     "upstream.bad_gateway", "backoff", None, None),
    ("one-api dial timeout", 500, {}, relay('Post "https://api.openai.com/v1/chat/completions": dial tcp: i/o timeout',
                                            "one_api_error", "do_request_failed"), None, "upstream.bad_gateway",
     "backoff", None, "do_request_failed"),
    ("one-api saturated 429", 429, {}, relay("当前分组上游负载已饱和，请稍后再试", "requests", "rate_limit_exceeded"),
     None, "rate_limit.unspecified", "wait", None, None),
    ("new-api concurrency", 429, {}, relay("令牌并发数已达上限", "new_api_error", "token_concurrency_limit_reached"),
     None, "rate_limit.concurrency", "wait", None, None),
    ("new-api daily entitlement", 429, {}, relay("daily limit exceeded", "new_api_error",
                                                 "entitlement_daily_limit_exceeded"), None, "quota.exhausted", "no",
     None, None),
    ("new-api no available key", 503, {}, relay("no available key", "new_api_error", "channel:no_available_key"), None,
     "capacity.circuit_open", "wait", None, None),
    ("one-api unknown route", 404, {}, {"error": {"message": "Invalid URL (POST /v1/chat/completion)",
                                                  "type": "invalid_request_error", "param": "", "code": ""}}, None,
     "route.not_found", "no", None, None),
    ("one-api bad response status", 502, {}, {"error": {"message": "bad response status code 502",
                                                        "type": "upstream_error", "param": "502",
                                                        "code": "bad_response_status_code"}}, None,
     "upstream.bad_gateway", "backoff", None, "bad_response_status_code"),
    # -- midjourney-proxy (§6.1, §6.2) -----------------------------------------------------------------
    ("mj submitted is not a failure", 200, {}, mj(1, "提交成功", "1320098173412546"), None, None, None, None, None),
    ("mj queued is not a failure", 200, {}, mj(22, "排队中，前面还有2个任务"), None, None, None, None, None),
    ("mj no account instance", 200, {}, mj(3, "无可用的账号实例"), None, "capacity.circuit_open", "wait", None, "3"),
    ("mj related task gone", 200, {}, mj(3, "关联任务不存在或已失效"), None, "request.invalid", "no", None, "3"),
    ("mj validation", 200, {}, mj(4, "prompt不能为空"), None, "request.invalid", "no", None, "4"),
    ("mj system failure", 200, {}, mj(9, "提交失败，系统异常"), None, "upstream.server_error", "backoff", None, "9"),
    ("mj queue full", 200, {}, mj(23, "队列已满，请稍后尝试"), None, "capacity.queue_full", "wait", None, "23"),
    ("mj banned prompt", 200, {}, mj(24, "可能包含敏感词"), None, "request.content_filter", "no", None, "24"),
    ("mj discord code copied", 200, {}, mj(50013, "Missing Permissions"), None, "permission.channel", "no", None,
     "50013"),
    ("new-api mj relay 400", 400, {}, {"description": "prompt不能为空 ", "type": "upstream_error", "code": 4}, None,
     "request.invalid", "no", None, "4"),
    ("mj task missing access", 200, {}, mj_task("FAILURE", "Missing Access"), None, "permission.channel", "no", None,
     "FAILURE"),
    ("mj task unknown channel", 200, {}, mj_task("FAILURE", "Unknown Channel"), None, "route.not_found", "no", None,
     None),
    ("mj task timeout", 200, {}, mj_task("FAILURE", "任务超时"), None, "upstream.timeout", "backoff", None, None),
    ("mj task banned", 200, {}, mj_task("FAILURE", "[Banned prompt detected] Sorry! Our AI moderator thinks this "
                                                   "prompt is probably against our community standards."), None,
     "request.content_filter", "no", None, None),
    ("mj task internal", 200, {}, mj_task("FAILURE", "[Internal Server Error] java.lang.NullPointerException"), None,
     "upstream.server_error", "backoff", None, None),
    ("mj task in progress is not a failure", 200, {}, mj_task("IN_PROGRESS", None), None, None, None, None, None),
    ("mj 401 empty body", 401, {}, b"", "midjourney-proxy", "auth.key_invalid", "no", None, None),
    # -- Discord (§6.3) ---------------------------------------------------------------------------------
    ("discord missing access", 403, {}, {"message": "Missing Access", "code": 50001}, None, "permission.channel",
     "no", None, "50001"),
    ("discord missing permissions", 403, {}, {"message": "Missing Permissions", "code": 50013}, None,
     "permission.channel", "no", None, "50013"),
    ("discord unknown channel", 404, {}, {"message": "Unknown Channel", "code": 10003}, None, "route.not_found", "no",
     None, "10003"),
    ("discord unauthorized", 401, {}, {"message": "401: Unauthorized", "code": 0}, None, "auth.key_invalid", "no",
     None, "0"),
    ("discord verify account", 403, {}, {"message": "You need to verify your account in order to perform this "
                                                    "action.", "code": 40002}, None, "permission.policy", "no", None,
     None),
    ("discord invalid form", 400, {}, {"message": "Invalid Form Body", "code": 50035, "errors": {}}, None,
     "request.invalid", "no", None, None),
    ("discord 429 bucket", 429, {"retry-after": "65", "x-ratelimit-reset-after": "64.57",
                                 "x-ratelimit-bucket": "abcd1234", "x-ratelimit-scope": "user"},
     {"message": "You are being rate limited.", "retry_after": 64.57, "global": False}, None, "rate_limit.requests",
     "wait", 64.57, None),
    ("discord 429 global", 429, {"x-ratelimit-global": "true", "x-ratelimit-scope": "global"},
     {"message": "You are being rate limited.", "retry_after": 1.5, "global": True}, None, "rate_limit.requests",
     "wait", 1.5, None),
    ("cloudflare 1015 ban", 429, {"server": "cloudflare"}, (b"<!DOCTYPE html><html><head><title>Access denied | "
                                                           b"discord.com used Cloudflare to restrict access</title>"
                                                           b"</head><body>Error code: 1015 You are being rate limited"
                                                           b"</body></html>"), None, "rate_limit.unspecified", "wait",
     None, "1015"),
    # -- proxies and CDNs --------------------------------------------------------------------------------
    ("cloudflare 524 plain text", 524, {}, b"error code: 524", None, "upstream.timeout", "backoff", None, "524"),
    ("cloudflare 522 page", 522, {"server": "cloudflare"}, (b"<!DOCTYPE html><html><head><title>api.example.com | 522: "
                                                           b"Connection timed out</title></head></html>"), None,
     "upstream.timeout", "backoff", None, None),
    ("cloudflare 1020 blocked", 403, {}, (b"<html><head><title>Access denied | api.example.com used Cloudflare to "
                                         b"restrict access</title></head><body>Error code 1020</body></html>"), None,
     "permission.ip", "no", None, "1020"),
    ("html 429 from a proxy", 429, {}, (b"<html><head><title>429 Too Many Requests</title></head><body><center>nginx"
                                       b"</center></body></html>"), None, "rate_limit.unspecified", "wait", None, None),
    ("html 404 page", 404, {}, b"<!DOCTYPE html><html><head><title>Error 404 (Not Found)!!1</title></head></html>",
     None, "route.not_found", "no", None, None),
    ("nginx plain http to https port", 400, {}, (b"<html><head><title>400 The plain HTTP request was sent to HTTPS "
                                                b"port</title></head></html>"), None, "route.base_url", "no", None,
     None),
    ("html 200 where json expected", 200, {}, b"<!doctype html><html><head><title>New API</title></head></html>",
     None, "upstream.malformed", "backoff", None, None),
    ("redirect", 301, {"location": "https://api.example.com/v1/chat/completions"}, b"", None, "route.base_url", "no",
     None, None),
    ("empty 504", 504, {}, b"", None, "upstream.timeout", "backoff", None, None),
    ("empty 429", 429, {}, b"", None, "rate_limit.unspecified", "wait", None, None),
    # -- Seawall's own errors (trust their category) -----------------------------------------------------
    ("seawall key whitespace", 401, {}, sw("key_whitespace", "auth.key_whitespace"), None, "auth.key_whitespace",
     "no", None, "key_whitespace"),
    ("seawall base url", 404, {}, sw("route_base_url", "route.base_url"), None, "route.base_url", "no", None, None),
    ("seawall upstream quota passed through", 429, {}, sw("insufficient_quota", "quota.exhausted"), None,
     "quota.exhausted", "no", None, None),
    ("seawall stream interrupted", 200, {}, sw("stream_interrupted", "stream.interrupted", "upstream_error"), None,
     "stream.interrupted", "backoff", None, None),
    ("seawall queue full with retry-after", 503, {"retry-after": "3"}, sw("queue_full", "capacity.queue_full",
                                                                          "server_error"), None,
     "capacity.queue_full", "wait", 3.0, "queue_full"),
]


@pytest.mark.parametrize("status,headers,body,provider,category,retry,wait,code", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_provider_replies(status, headers, body, provider, category, retry, wait, code):
    c = classify_failure(status, headers, body, now=NOW, provider=provider)
    if category is None:
        assert c is None
        return
    assert c is not None
    assert (c.category, c.retry) == (category, retry), c.evidence
    assert c.wait_s == (pytest.approx(wait) if wait is not None else None)
    if code is not None:
        assert c.provider_code == code
    assert c.category in ADVICE


@pytest.mark.parametrize("body,provider", [
    (ant("overloaded_error", "Overloaded"), "anthropic"),
    (gem(429, "RESOURCE_EXHAUSTED", "x"), "gemini"),
    (one("无效的令牌"), "one-api"),
    ({"error": {"message": "x", "type": "new_api_error", "code": ""}}, "new-api"),
    ({"message": "Missing Access", "code": 50001}, "discord"),
    (mj(23, "队列已满"), "midjourney-proxy"),
    (sw("key_whitespace", "auth.key_whitespace"), "seawall"),
    ({"error": {"code": "DeploymentNotFound", "message": "x"}}, "azure"),
    (oa("x"), "openai"),
])
def test_provider_is_guessed_from_the_body_shape(body, provider):
    assert classify_reply(400, {}, body).provider == provider


@pytest.mark.parametrize("headers,provider", [
    ({"anthropic-ratelimit-requests-limit": "50"}, "anthropic"),
    ({"request-id": "req_011CabcdEF"}, "anthropic"),
    ({"apim-request-id": "x"}, "azure"),
    ({"x-goog-api-client": "x"}, "gemini"),
    ({"x-ratelimit-bucket": "abcd"}, "discord"),
    ({"x-oneapi-request-id": "2025"}, "one-api"),
    ({"openai-processing-ms": "12", "x-request-id": "req_1"}, "openai"),
])
def test_provider_is_guessed_from_headers(headers, provider):
    assert classify_reply(500, headers, b"").provider == provider


def test_stated_provider_wins_over_the_guess():
    assert classify_reply(401, {}, b"", provider="mj").provider == "midjourney-proxy"


def test_codes_match_case_insensitively():
    body = {"error": {"message": "whatever", "type": "INSUFFICIENT_QUOTA", "code": None}}
    assert classify_reply(429, {}, body).category == "quota.exhausted"


def test_unknown_status_is_implied_by_the_body():
    c = classify_failure(0, {}, ant("rate_limit_error", "50 requests per minute"))
    assert c.category == "rate_limit.requests" and "the body implies HTTP 429" in c.evidence


def test_a_2xx_without_an_error_is_not_a_failure():
    assert classify_failure(200, {}, {"id": "chatcmpl-1", "choices": []}) is None
    assert classify_failure(204, {}, b"") is None


def test_gemini_per_day_retry_delay_is_not_a_wait():
    body = gem(429, "RESOURCE_EXHAUSTED", GEMINI_QUOTA_MESSAGE,
               quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier"), retry_info("65205s"))
    assert classify_reply(429, {}, body).wait_s is None


def test_infinite_retry_after_is_ignored():
    assert classify_reply(429, {"retry-after-ms": "inf"}, b"").wait_s is None


def test_gateway_behaviour_is_kept_for_a_3xx():
    assert classify_reply(302, {}, b"").category == "route.base_url"
