"""`explain` over every input form: curl -i / -v dumps, bare bodies, SSE streams, client error text, bad input."""

import gzip
import json

import orjson
import pytest

from seawall.tools.explain import (
    Explanation,
    explain,
    parse_header_options,
    render,
    to_json,
)

NOW = 1_772_049_750.0  # 2026-02-25T20:02:30Z


def dump(status_line: str, headers: dict, body: str | bytes = "", crlf: bool = False) -> bytes:
    nl = "\r\n" if crlf else "\n"
    head = nl.join([status_line, *(f"{k}: {v}" for k, v in headers.items())]) + nl + nl
    return head.encode() + (body.encode() if isinstance(body, str) else body)


def j(obj) -> str:
    return json.dumps(obj, ensure_ascii=False)


OPENAI_TPM = j({"error": {"message": "Rate limit reached for gpt-4o-mini in project proj_X organization org-X on "
                                     "tokens per min (TPM): Limit 50000, Used 47949, Requested 3006. Please try again "
                                     "in 1.146s.", "type": "tokens", "param": None, "code": "rate_limit_exceeded"}})
GEMINI_MINUTE = j({"error": {"code": 429, "message": "You exceeded your current quota.", "status": "RESOURCE_EXHAUSTED",
                             "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                                 {"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
                                 {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "38s"}]}})
CLOUDFLARE_524 = ("<!DOCTYPE html>\n<html><head><title>api.openai.com | 524: A timeout occurred</title></head><body>"
                  "<span>Cloudflare Ray ID: <strong>8f3c2a1b9d4e7f60</strong></span> Performance &amp; security by "
                  "Cloudflare</body></html>")

DUMPS = [  # id, input, category, retry, wait, provider, code, request_id
    ("openai 429 tokens, HTTP/2", dump("HTTP/2 429", {"content-type": "application/json", "x-request-id": "req_abc123",
                                                      "x-ratelimit-remaining-tokens": "0", "retry-after-ms": "1146"},
                                       OPENAI_TPM),
     "rate_limit.tokens", "wait", 1.146, "openai", "rate_limit_exceeded", "req_abc123"),
    ("anthropic 529 with request-id", dump("HTTP/1.1 529 ", {"request-id": "req_011CZuM63Dv3", "server": "cloudflare"},
                                           j({"type": "error", "error": {"type": "overloaded_error",
                                                                          "message": "Overloaded"}})),
     "upstream.overloaded", "backoff", None, "anthropic", "overloaded_error", "req_011CZuM63Dv3"),
    ("anthropic body request_id", dump("HTTP/1.1 400 Bad Request", {"content-type": "application/json"},
                                       j({"type": "error", "error": {"type": "invalid_request_error", "message":
                                                                     "Your credit balance is too low to access the "
                                                                     "Anthropic API."},
                                          "request_id": "req_011CZuM63Dv3wRyxXFsStbAt"})),
     "quota.exhausted", "no", None, "anthropic", "invalid_request_error", "req_011CZuM63Dv3wRyxXFsStbAt"),
    ("anthropic 429 reset headers name the wait", dump("HTTP/1.1 429 Too Many Requests", {
        "anthropic-ratelimit-requests-remaining": "0", "anthropic-ratelimit-requests-reset": "2026-02-25T20:02:41Z",
        "x-should-retry": "true"}, j({"type": "error", "error": {"type": "rate_limit_error", "message": "Rate "
                                                                 "limited"}})),
     "rate_limit.requests", "wait", 11.0, "anthropic", "rate_limit_error", None),
    ("gemini 429 per minute", dump("HTTP/1.1 429 Too Many Requests", {"content-type": "application/json; charset=UTF-8",
                                                                     "server": "scaffolding on HTTPServer2"},
                                   GEMINI_MINUTE),
     "rate_limit.requests", "wait", 38.0, "gemini", "RESOURCE_EXHAUSTED", None),
    ("azure 429 retry-after, CRLF", dump("HTTP/1.1 429 Too Many Requests", {"apim-request-id": "6d1c-42",
                                                                           "retry-after": "60"},
                                         j({"error": {"code": "429", "message": "Requests to the ChatCompletions_Create"
                                                      " Operation have exceeded token rate limit of your current "
                                                      "OpenAI S0 pricing tier."}}), crlf=True),
     "rate_limit.tokens", "wait", 60.0, "azure", "429", "6d1c-42"),
    ("discord 429", dump("HTTP/1.1 429 TOO MANY REQUESTS", {"Content-Type": "application/json", "Retry-After": "65",
                                                           "X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0",
                                                           "X-RateLimit-Reset-After": "64.57",
                                                           "X-RateLimit-Bucket": "abcd1234",
                                                           "X-RateLimit-Scope": "user"},
                         j({"message": "You are being rate limited.", "retry_after": 64.57, "global": False})),
     "rate_limit.requests", "wait", 64.57, "discord", None, None),
    ("one-api request id in message", dump("HTTP/1.1 401 Unauthorized", {"content-type": "application/json"},
                                           j({"error": {"message": "无效的令牌 (request id: 2025021912345678901234)",
                                                        "type": "one_api_error"}})),
     "auth.key_invalid", "no", None, "one-api", "one_api_error", "2025021912345678901234"),
    ("new-api quota", dump("HTTP/1.1 403 Forbidden", {"x-oneapi-request-id": "20250219123456"},
                           j({"error": {"message": "用户额度不足, 剩余额度: ＄0.000000 (request id: 20250219123456)",
                                        "type": "new_api_error", "param": "", "code": "insufficient_user_quota"}})),
     "quota.exhausted", "no", None, "new-api", "insufficient_user_quota", "20250219123456"),
    ("cloudflare 524 page with cf-ray", dump("HTTP/1.1 524 ", {"server": "cloudflare", "cf-ray": "8f3c2a1b9d4e7f60-SJC",
                                                               "content-type": "text/html"}, CLOUDFLARE_524),
     "upstream.timeout", "backoff", None, None, None, None),
    ("seawall own error", dump("HTTP/1.1 401 Unauthorized", {"x-request-id": "req_sw_1"},
                               j({"error": {"message": "The API key has a trailing newline; keys never contain those.",
                                            "type": "invalid_request_error", "param": None, "code": "key_whitespace",
                                            "request_id": "req_sw_1", "hint": "Copy the key again and strip it.",
                                            "category": "auth.key_whitespace"}})),
     "auth.key_whitespace", "no", None, "seawall", "key_whitespace", "req_sw_1"),
    ("100 continue first", dump("HTTP/1.1 100 Continue", {}) + dump("HTTP/1.1 503 Service Unavailable",
                                                                    {"retry-after": "5"}, j({"error": {
                                                                        "message": "The engine is currently "
                                                                                   "overloaded, please try again "
                                                                                   "later", "type": "server_error"}})),
     "upstream.overloaded", "backoff", None, "openai", "server_error", None),
    ("proxy connect first", dump("HTTP/1.1 200 Connection established", {}) + dump(
        "HTTP/2 404", {}, j({"error": {"message": "The model `gpt-5x` does not exist or you do not have access to it.",
                                       "type": "invalid_request_error", "param": None, "code": "model_not_found"}})),
     "model.not_found", "fallback", None, "openai", "model_not_found", None),
    ("midjourney submit at 200", dump("HTTP/1.1 200 OK", {"content-type": "application/json"},
                                      j({"code": 23, "description": "队列已满，请稍后尝试", "result": None})),
     "capacity.queue_full", "wait", None, "midjourney-proxy", "23", None),
    ("gzip body", dump("HTTP/1.1 429 Too Many Requests", {"content-encoding": "gzip"},
                       gzip.compress(OPENAI_TPM.encode())),
     "rate_limit.tokens", "wait", 1.146, "openai", "rate_limit_exceeded", None),
    ("chunked body", dump("HTTP/1.1 500 Internal Server Error", {"transfer-encoding": "chunked"},
                          "1f\r\n" + j({"error": {"message": "boom"}})[:31] + "\r\n" +
                          f"{len(j({'error': {'message': 'boom'}})) - 31:x}\r\n" + j({"error": {"message": "boom"}})[31:]
                          + "\r\n0\r\n\r\n"),
     "upstream.server_error", "backoff", None, None, None, None),
]


@pytest.mark.parametrize("data,category,retry,wait,provider,code,request_id", [c[1:] for c in DUMPS],
                         ids=[c[0] for c in DUMPS])
def test_curl_i_dumps(data, category, retry, wait, provider, code, request_id):
    e = explain(data, now=NOW)
    assert (e.category, e.retry) == (category, retry), e.evidence
    assert e.wait_seconds == (pytest.approx(wait) if wait is not None else None)
    assert e.provider == provider
    assert e.code == code
    assert e.request_id == request_id
    assert e.evidence and e.checks


def curl_v(request_headers: dict, path: str, status: str, headers: dict, body: str) -> bytes:
    lines = ["*   Trying 104.18.7.192:443...", "* Connected to api.openai.com (104.18.7.192) port 443",
             f"> POST {path} HTTP/2", *(f"> {k}: {v}" for k, v in request_headers.items()), ">",
             "{ [5 bytes data]", f"< {status}", *(f"< {k}: {v}" for k, v in headers.items()), "<", body,
             "* Connection #0 to host api.openai.com left intact"]
    return "\n".join(lines).encode()


INVALID_KEY = j({"error": {"message": "Incorrect API key provided: sk-proj-****wxyz. You can find your API key at "
                                      "https://platform.openai.com/account/api-keys.", "type": "invalid_request_error",
                           "param": None, "code": "invalid_api_key"}})


def test_curl_v_base_url_without_v1():
    body = j({"error": {"message": "Invalid URL (POST /chat/completions)", "type": "invalid_request_error",
                        "param": None, "code": None}})
    e = explain(curl_v({"Host": "api.openai.com", "Authorization": "Bearer sk-proj-abc"}, "/chat/completions",
                       "HTTP/2 404", {"x-request-id": "req_9f8e7d6c5b4a"}, body))
    assert (e.category, e.provider, e.request_id) == ("route.base_url", "openai", "req_9f8e7d6c5b4a")
    assert "https://api.openai.com/v1" in e.checks[0]


def test_curl_v_shows_quotes_around_the_sent_key():
    e = explain(curl_v({"Host": "api.openai.com", "Authorization": 'Bearer "sk-proj-abcdefwxyz"'},
                       "/v1/chat/completions", "HTTP/2 401", {}, INVALID_KEY))
    assert e.category == "auth.key_whitespace"
    assert any("quotes" in c for c in e.checks) and any("Strip" in c for c in e.checks)


def test_curl_v_anthropic_key_sent_to_openai():
    e = explain(curl_v({"Host": "api.openai.com", "Authorization": "Bearer sk-ant-api03-abcdef"},
                       "/v1/chat/completions", "HTTP/2 401", {}, INVALID_KEY))
    assert e.category == "auth.wrong_platform" and "Anthropic" in " ".join(e.evidence)


def test_curl_v_without_a_reply_reads_curls_own_notes():
    text = b"*   Trying 10.0.0.1:443...\n* connect to 10.0.0.1 port 443 failed: Connection refused\n" \
           b"curl: (7) Failed to connect to api.example.com port 443 after 3 ms: Couldn't connect to server"
    assert explain(text).category == "network.connect"


BODIES = [  # id, body, status, provider, url, category, code
    ("openai body with --status", OPENAI_TPM, 429, None, None, "rate_limit.tokens", "rate_limit_exceeded"),
    ("anthropic body, no status: type implies 529", j({"type": "error", "error": {"type": "overloaded_error",
                                                                                  "message": "Overloaded"}}),
     None, None, None, "upstream.overloaded", "overloaded_error"),
    ("gemini body, no status: code says 429", GEMINI_MINUTE, None, None, None, "rate_limit.requests",
     "RESOURCE_EXHAUSTED"),
    ("html page with --status 502", "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", 502,
     None, None, "upstream.bad_gateway", None),
    ("cloudflare plain text, no status", "error code: 524", None, None, None, "upstream.timeout", "524"),
    ("text body with --status", "upstream request timeout", 504, None, None, "upstream.timeout", None),
    ("discord body", j({"message": "Missing Permissions", "code": 50013}), 403, None, None, "permission.channel",
     "50013"),
    ("midjourney task failure", j({"id": "1", "action": "IMAGINE", "status": "FAILURE", "failReason": "Missing Access",
                                   "progress": ""}), 200, None, None, "permission.channel", "FAILURE"),
    ("mj 401 empty body with --provider", "", 401, "midjourney", None, None, None),
    ("404 on a url without /v1", j({"error": {"message": "Not Found", "type": "invalid_request_error"}}), 404, None,
     "https://gw.example.com/chat/completions", "route.base_url", "invalid_request_error"),
    ("url names anthropic", j({"error": {"type": "authentication_error", "message": "invalid x-api-key"}}), 401, None,
     "https://api.anthropic.com/v1/messages", "auth.key_invalid", "authentication_error"),
]


@pytest.mark.parametrize("body,status,provider,url,category,code", [c[1:] for c in BODIES], ids=[c[0] for c in BODIES])
def test_bare_bodies(body, status, provider, url, category, code):
    e = explain(body.encode(), status=status, provider=provider, url=url, now=NOW)
    assert e.category == category, e.evidence
    assert e.code == code


def test_an_empty_401_is_midjourney_proxys_wrong_secret():
    e = explain(b" ", status=401, provider="midjourney")
    assert e.category is None or e.category.startswith("auth.")


def test_empty_body_with_status_is_judged_by_status():
    e = explain(b"\n", status=401, provider="midjourney-proxy")
    assert e.input == "empty" and e.category is None and "the input is empty" in e.evidence


STREAMS = [  # id, stream, status, category, code
    ("openai in-stream error", ('data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
                               'data: {"error": {"message": "The server had an error while processing your request.", '
                               '"type": "server_error", "param": null, "code": null}}\n\n'), None,
     "upstream.server_error", "server_error"),
    ("anthropic event: error", ('event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1"}}\n\n'
                               'event: ping\ndata: {"type": "ping"}\n\n'
                               'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", '
                               '"message": "Overloaded"}}\n\n'), None, "upstream.overloaded", "overloaded_error"),
    ("seawall stream error event", ('data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
                                   'data: {"error": {"message": "The upstream stream from sim ended before it was '
                                   'complete", "type": "upstream_error", "param": null, "code": "stream_interrupted", '
                                   '"request_id": "req_sw_9", "hint": "retry", "category": "stream.interrupted"}}\n\n'),
     None, "stream.interrupted", "stream_interrupted"),
    ("openai cut without [DONE]", ('data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
                                  'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"lo wo'), None,
     "stream.interrupted", None),
    ("anthropic cut before message_stop", ('event: message_start\ndata: {"type":"message_start"}\n\n'
                                          'event: content_block_delta\ndata: {"type":"content_block_delta","delta":'
                                          '{"type":"text_delta","text":"Hi"}}\n\n'), None, "stream.interrupted", None),
    ("openai content filter finish", ('data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":'
                                     '"content_filter"}]}\n\ndata: [DONE]\n\n'), None, "request.content_filter", None),
    ("gemini safety finish", ('data: {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "SAFETY",'
                             ' "index": 0}]}\r\n\r\n'), None, "request.content_filter", None),
    ("gemini in-stream error", ('data: {"candidates": [{"content": {"parts": [{"text": "x"}]}, "index": 0}]}\n\n'
                               'data: {"error": {"code": 503, "message": "The model is overloaded. Please try again '
                               'later.", "status": "UNAVAILABLE"}}\n\n'), None, "upstream.overloaded", "UNAVAILABLE"),
    ("responses api failed", ('event: response.created\ndata: {"type":"response.created"}\n\n'
                             'event: response.failed\ndata: {"type":"response.failed","response":{"error":{"code":'
                             '"rate_limit_exceeded","message":"Rate limit reached on requests per min (RPM)"}}}\n\n'),
     None, "rate_limit.requests", "rate_limit_exceeded"),
]


@pytest.mark.parametrize("stream,status,category,code", [c[1:] for c in STREAMS], ids=[c[0] for c in STREAMS])
def test_sse_streams(stream, status, category, code):
    e = explain(stream.encode(), status=status)
    assert e.input == "stream"
    assert (e.category, e.code) == (category, code), e.evidence


def test_stream_inside_a_dump_with_its_status():
    stream = 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    e = explain(dump("HTTP/2 200", {"content-type": "text/event-stream", "request-id": "req_011CZstream"}, stream))
    assert (e.category, e.request_id) == ("upstream.overloaded", "req_011CZstream")
    assert any("at HTTP 200" in item for item in e.evidence)


@pytest.mark.parametrize("stream", [
    'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n',
    'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    'data: {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP", "index": 0}]}\n\n',
])
def test_a_completed_stream_is_no_failure(stream):
    e = explain(stream.encode())
    assert e.category is None and e.failed is False
    assert "did not fail" in e.checks[0]


TEXTS = [  # id, text, category, provider
    ("openai sdk exception", ("openai.RateLimitError: Error code: 429 - {'error': {'message': 'You exceeded your current "
                             "quota', 'type': 'insufficient_quota', 'param': None, 'code': 'insufficient_quota'}}"),
     "quota.exhausted", "openai"),
    ("anthropic sdk with request id", ("anthropic.RateLimitError: Error code: 429 - {'type': 'error', 'error': {'type': "
                                      "'rate_limit_error', 'message': '50 requests per minute'}, 'request_id': "
                                      "'req_011CYK5n67SytMUxm8WMZUWY'}"), "rate_limit.requests", "anthropic"),
    ("failed to fetch", "TypeError: Failed to fetch", "network.cors", None),
    ("connection refused", "httpx.ConnectError: [Errno 111] Connection refused", "network.connect", None),
    ("econnreset", "Error: read ECONNRESET\n    at TLSWrap.onStreamRead (node:internal/stream_base_commons:217:20)",
     "network.connect", None),
    ("enotfound", "Error: getaddrinfo ENOTFOUND api.openai.com", "network.dns", None),
    ("certificate", ("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in "
                    "certificate chain"), "network.tls", None),
    ("timeout", "openai.APITimeoutError: Request timed out.", "network.timeout", None),
    ("cut stream", ("httpx.RemoteProtocolError: peer closed connection without sending complete message body "
                   "(incomplete chunked read)"), "stream.interrupted", None),
]


@pytest.mark.parametrize("text,category,provider", [c[1:] for c in TEXTS], ids=[c[0] for c in TEXTS])
def test_client_error_texts(text, category, provider):
    e = explain(text.encode())
    assert (e.input, e.category, e.provider) == ("text", category, provider), e.evidence
    assert e.checks


SEAWALL_CHECKS = [  # id, what a user pasted, category, provider, words of the first check
    ("seawall's own 401", ("openai.AuthenticationError: Error code: 401 - Incorrect API key provided: sk-sw-Ab******"
                           "wxyz. Check that the key was copied whole, from this gateway, and has not been rotated."),
     "auth.key_invalid", "seawall", "This gateway does not know the key"),
    ("seawall's own per-second 429", ("Error: 429 Rate limit reached for key key_0f3a on requests per second (RPS): "
                                      "limit 1. Please try again in 1s."), "rate_limit.requests", "seawall",
     "Wait 1 s"),
    ("a key with its newline, refused by h11", ("httpx.LocalProtocolError: Illegal header value b'Bearer sk-sw-"
                                                "ZIwnuqizSV7FsIAHnfZH91zGcx38Hef2kXaBEnxr\\n'\nopenai.APIConnectionError: "
                                                "Connection error."), "auth.key_whitespace", None, "Strip the newline"),
]


@pytest.mark.parametrize("text,category,provider,first", [c[1:] for c in SEAWALL_CHECKS],
                         ids=[c[0] for c in SEAWALL_CHECKS])
def test_what_a_user_saw_gets_the_right_first_check(text, category, provider, first):
    e = explain(text.encode())
    assert (e.category, e.provider) == (category, provider), e.evidence
    assert e.checks[0].startswith(first), e.checks


def test_a_seawall_rate_limit_says_whose_limit_and_how_to_raise_it():
    e = explain(SEAWALL_CHECKS[1][1].encode())
    assert "gateway's own limit" in e.checks[1] and "--rps N" in e.checks[1]


def test_a_bare_failed_to_fetch_lists_the_possibilities_and_how_to_tell_them_apart():
    e = explain(b"TypeError: Failed to fetch")
    text = " ".join(e.checks)
    for possibility in ("gateway is down", "CORS", "mixed content", "extension"):
        assert possibility in text
    assert "ERR_CONNECTION_REFUSED" in text and "blocked by CORS policy" in text and "seawall doctor" in text
    cors = explain(b"Access to fetch at 'http://127.0.0.1:8100/v1/chat/completions' from origin 'http://localhost:3000' "
                   b"has been blocked by CORS policy: No 'Access-Control-Allow-Origin' header is present.")
    assert cors.category == "network.cors" and "allow this page's origin" in cors.checks[0]


def test_request_id_is_found_in_sdk_text():
    e = explain(TEXTS[1][1].encode())
    assert e.request_id == "req_011CYK5n67SytMUxm8WMZUWY"


def test_dns_check_names_the_host_from_the_url():
    e = explain(b"Error: getaddrinfo ENOTFOUND api.openai.com", url="https://api.openai.com/v1")
    assert e.checks[0] == "Try from the same machine: nslookup api.openai.com"


# -- what the checks say ------------------------------------------------------------------------------

def test_model_not_found_names_the_model_and_how_to_list():
    e = explain(j({"type": "error", "error": {"type": "not_found_error", "message": "model: claude-3-5-sonnet-2024"}})
                .encode(), status=404)
    assert "claude-3-5-sonnet-2024" in e.checks[0] and "GET /v1/models" in e.checks[1]


def test_context_length_says_how_much_to_cut():
    e = explain(j({"type": "error", "error": {"type": "invalid_request_error",
                                              "message": "prompt is too long: 208310 tokens > 200000 maximum"}})
                .encode(), status=400)
    assert e.checks[0] == "The input is 208310 tokens against a limit of 200000: cut at least 8310."


def test_openai_context_numbers_read_the_other_way_round():
    e = explain(j({"error": {"message": "This model's maximum context length is 128000 tokens. However, your messages "
                                        "resulted in 130412 tokens.", "code": "context_length_exceeded"}}).encode(),
                status=400)
    assert "130412 tokens against a limit of 128000" in e.checks[0]


def test_seawall_hint_comes_first():
    body = j({"error": {"message": "m", "type": "invalid_request_error", "param": None, "code": "route_base_url",
                        "request_id": "req_sw_2", "hint": "The path lacks '/v1'.", "category": "route.base_url"}})
    e = explain(body.encode(), status=404)
    assert e.checks[0] == "The path lacks '/v1'." and e.request_id == "req_sw_2"


def test_auth_missing_names_the_providers_header():
    e = explain(j({"type": "error", "error": {"type": "authentication_error", "message": "x-api-key header is "
                                                                                          "required"}}).encode(),
                status=401)
    assert e.category == "auth.missing" and "x-api-key" in e.checks[0]


def test_quota_is_never_a_wait_but_the_retry_after_is_evidence():
    body = j({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota",
                        "code": "insufficient_quota"}})
    e = explain(dump("HTTP/1.1 429 Too Many Requests", {"retry-after": "20"}, body))
    assert (e.category, e.retry, e.wait_seconds) == ("quota.exhausted", "no", None)
    assert "the reply also sends Retry-After: 20" in e.evidence


def test_upstream_errors_keep_the_request_id_and_status_page():
    e = explain(dump("HTTP/1.1 500 Internal Server Error", {"x-request-id": "req_500"},
                     j({"error": {"message": "The server had an error", "type": "server_error"}})))
    assert "Keep the request ID req_500 for the provider's support." in e.checks
    assert "Check status.openai.com." in e.checks


# -- options -------------------------------------------------------------------------------------------

def test_header_options_add_to_the_body():
    headers, bad = parse_header_options(["Retry-After: 7", "broken"])
    assert headers == {"retry-after": "7"} and bad == ["broken"]
    e = explain(b'{"error": {"message": "Too many requests"}}', status=429, headers=headers, now=NOW)
    assert (e.category, e.wait_seconds) == ("rate_limit.unspecified", 7.0)


def test_retry_after_http_date_uses_now():
    e = explain(b"", status=429, headers={"retry-after": "Wed, 25 Feb 2026 20:03:00 GMT"}, now=NOW)
    assert e.wait_seconds is None  # an empty input says nothing; the header alone is not a failure
    e = explain(b'{"error": {"message": "slow down"}}', status=429,
                headers={"retry-after": "Wed, 25 Feb 2026 20:03:00 GMT"}, now=NOW)
    assert e.wait_seconds == pytest.approx(30.0)


def test_status_option_overrides_the_dump():
    e = explain(dump("HTTP/1.1 200 OK", {}, j({"error": {"message": "x"}})), status=503)
    assert e.category == "upstream.unavailable" and any("overrides" in item for item in e.evidence)


def test_unknown_provider_option_is_reported():
    e = explain(OPENAI_TPM.encode(), status=429, provider="acme")
    assert e.category == "rate_limit.tokens" and any("unknown provider 'acme'" in item for item in e.evidence)


# -- bad input: an answer, never an exception ----------------------------------------------------------------

BAD = [  # id, input, status, form, category
    ("empty", b"", None, "empty", None),
    ("whitespace", b"  \n\t\n", None, "empty", None),
    ("binary", bytes(range(256)) * 20, None, "binary", None),
    ("unknown text", b"hello, the thing broke somehow", None, "text", None),
    ("truncated dump", b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-af", None,
     "http dump", "rate_limit.unspecified"),
    ("status line only", b"HTTP/2 502", None, "http dump", "upstream.bad_gateway"),
    ("truncated json body", b'{"error": {"message": "The server had an err', 500, "body", "upstream.server_error"),
    ("truncated json body, no status", b'{"error": {"message": "The server had an err', None, "body", None),
    ("json that is not an error", b'{"id": "chatcmpl-1", "choices": []}', None, "body", None),
    ("json array of numbers", b"[1, 2, 3]", None, "body", None),
    ("bad gzip", b"\x1f\x8b\x08\x00garbage", None, "binary", None),
]


@pytest.mark.parametrize("data,status,form,category", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_input_gets_an_answer(data, status, form, category):
    e = explain(data, status=status)
    assert (e.input, e.category) == (form, category)
    assert e.evidence and e.checks
    json.loads(to_json(e))
    assert "category" in render(e)


def test_truncated_dump_says_so():
    e = explain(BAD[4][1])
    assert any("cut short" in item for item in e.evidence)


def test_ten_megabyte_body_is_read():
    big = j({"error": {"message": "x" * 10_000_000, "type": "server_error"}}).encode()
    e = explain(dump("HTTP/1.1 500 Internal Server Error", {}, big.decode()))
    assert e.category == "upstream.server_error"
    assert len(to_json(e)) < 10_000


def test_ten_megabytes_of_text_is_read():
    e = explain(b"a" * 10_000_000 + b"\nError: connect ECONNREFUSED 127.0.0.1:8100")
    assert e.category == "network.connect"


def test_json_has_the_documented_keys():
    e = explain(OPENAI_TPM.encode(), status=429)
    doc = json.loads(to_json(e))
    assert {"category", "retry", "wait_seconds", "provider", "code", "evidence", "checks", "request_id"} <= set(doc)
    assert isinstance(e, Explanation)


@pytest.mark.parametrize("reason,category", [
    ("Invalid Form Body", "request.invalid"),
    ("bot not in server", "permission.channel"),
    ("Missing Access 50001", "permission.channel"),
])
def test_midjourney_task_failures_explain_as_the_gateway_judges_them(reason, category):
    from seawall.providers.midjourney import classify_task

    task = {"id": "1", "action": "IMAGINE", "status": "FAILURE", "progress": "0%", "failReason": reason}
    assert explain(orjson.dumps(task), 200).category == category == classify_task(task).category
