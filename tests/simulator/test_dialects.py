import json
from dataclasses import replace

import pytest

from seawall.simulator.dialects import DIALECTS, ErrorContext, UnknownVariant, render_fault
from seawall.simulator.dialects.edge import html_page
from seawall.simulator.dialects.openai import error_body, mask_key, rate_limited, stream_error_event
from seawall.simulator.faults import KNOWN_DIALECTS

CTX = ErrorContext(request_id="req_" + "ab" * 16, organization="org-test", project="proj_test",
                   model="gpt-4o-mini", key="sk-proj-abcdefghijklmnop", rpm=3, tpm=50000, now=1_700_000_000)


def error_of(reply):
    return json.loads(reply.body)["error"]


def test_every_dialect_the_fault_syntax_accepts_has_a_table():
    assert set(DIALECTS) == set(KNOWN_DIALECTS)


def test_openai_envelope_has_all_four_keys_in_order():
    body = json.loads(error_body("m", "t", None, None))
    assert list(body["error"]) == ["message", "type", "param", "code"]


@pytest.mark.parametrize("key,masked", [
    ("sk-XG6GW" + "k" * 39 + "wlmi", "sk-XG6GW" + "*" * 39 + "wlmi"),  # a 51-char legacy key [rec]
    ("sk-proj-" + "x" * 40 + "abcd", "sk-proj-" + "*" * 40 + "abcd"),
    ("short", "short"),
])
def test_mask_key(key, masked):
    assert mask_key(key) == masked and len(mask_key(key)) == len(key)


OPENAI = [  # status, variant, expected status, type, code, message fragment
    (429, None, 429, "requests", "rate_limit_exceeded",
     "Rate limit reached for gpt-4o-mini in organization org-test on requests per min (RPM): Limit 3, Used 3, "
     "Requested 1. Please try again in 20s."),
    (None, "tokens", 429, "tokens", "rate_limit_exceeded", "in project proj_test organization org-test on tokens"),
    (None, "insufficient_quota", 429, "insufficient_quota", "insufficient_quota", "You exceeded your current quota"),
    (429, "request_too_large", 429, "tokens", "rate_limit_exceeded", "Request too large for gpt-4o-mini"),
    (401, None, 401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-proj-"),
    (None, "missing_api_key", 401, "invalid_request_error", None, "You didn't provide an API key."),
    (403, None, 403, "request_forbidden", "unsupported_country_region_territory", "Country, region, or territory"),
    (404, None, 404, "invalid_request_error", "model_not_found", "The model `gpt-4o-mini` does not exist"),
    (400, "context_length_exceeded", 400, "invalid_request_error", "context_length_exceeded",
     "maximum context length is 128000 tokens"),
    (500, None, 500, "server_error", None, "The server had an error while processing your request."),
    (502, None, 502, "cf_bad_gateway", 502, "Bad gateway."),
    (503, None, 503, "server_error", None, "(Please include the request ID req_abab"),
    (504, None, 504, "cf_gateway_timeout", 504, "Gateway timeout."),
    (529, None, 529, "server_error", None, "The server had an error"),
    (409, None, 409, "invalid_request_error", None, "status 409"),
    (503, "server_error", 503, "server_error", None, "The server had an error"),
]


@pytest.mark.parametrize("status,variant,want_status,type_,code,fragment", OPENAI,
                         ids=[f"{c[0]}-{c[1]}" for c in OPENAI])
def test_openai_fault_table(status, variant, want_status, type_, code, fragment):
    reply = render_fault("openai", status, variant, CTX)
    error = error_of(reply)
    assert reply.status == want_status and reply.content_type == b"application/json"
    assert (error["type"], error["code"]) == (type_, code)
    assert fragment in error["message"]


def test_unknown_variant_names_the_known_ones():
    with pytest.raises(UnknownVariant, match="known: .*insufficient_quota"):
        render_fault("openai", 429, "nope", CTX)
    with pytest.raises(UnknownVariant, match="dialect oneapi"):
        render_fault("oneapi", 429, "nope", CTX)



@pytest.mark.parametrize("table", ["gemini", "azure", "midjourney"])
def test_pick_error_rules_for_table_dialects(table):
    """One picker for the Gemini, Azure and midjourney-proxy tables: an unknown variant lists the
    known ones (and those handled elsewhere), a variant with a status takes the status, a status
    alone its default variant or the dialect's generic reply."""
    from seawall.simulator.dialects import azure, gemini_errors, midjourney

    module = {"gemini": gemini_errors, "azure": azure, "midjourney": midjourney}[table]
    elsewhere = {"gemini": [], "azure": [azure.FILTERED_FINISH], "midjourney": list(midjourney.TASK_FAILURES)}[table]
    with pytest.raises(UnknownVariant, match=f"dialect {table} ") as info:
        module.fault_error(429, "nope", CTX)
    assert all(name in str(info.value) for name in [*module.VARIANTS, *elsewhere])
    name, build = next((n, b) for n, b in module.VARIANTS.items() if b(CTX).status not in (200, 418))
    assert module.fault_error(None, name, CTX).status == build(CTX).status
    assert module.fault_error(418, name, CTX).status == 418
    for status, default in module.DEFAULT_VARIANT.items():
        assert module.fault_error(status, None, CTX).body == module.VARIANTS[default](CTX).body
    assert module.fault_error(599, None, CTX).status == 599


def test_retry_after_shapes_the_429_wait():
    ctx = replace(CTX, retry_after=1.146)
    assert "Please try again in 1.146s." in error_of(render_fault("openai", 429, None, ctx))["message"]


def test_own_rate_limit_message_rounds_used():
    error = rate_limited("tokens", "gpt-4o", CTX, 50000, 47949.4, 3006, 1.146)
    assert "Limit 50000, Used 47949, Requested 3006. Please try again in 1.146s." in error.message
    assert (error.type, error.code, error.status) == ("tokens", "rate_limit_exceeded", 429)


def test_oneapi_auth_error_is_message_and_type_only_with_request_id():
    reply = render_fault("oneapi", 401, None, CTX)
    error = error_of(reply)
    assert list(error) == ["message", "type"] and error["type"] == "one_api_error"
    assert error["message"].startswith("无效的令牌 (request id: ")
    rid = error["message"].removeprefix("无效的令牌 (request id: ").removesuffix(")")
    assert len(rid) == 22 and rid.isdigit()
    assert dict(reply.headers)[b"x-oneapi-request-id"] == rid.encode()
    assert "无效的令牌".encode() in reply.body  # raw UTF-8, as Go's encoding/json writes it


def test_oneapi_relay_error_has_empty_string_param():
    error = error_of(render_fault("oneapi", 429, None, CTX))
    assert error["message"].startswith("当前分组上游负载已饱和，请稍后再试 (request id: ")
    assert error["param"] == "" and error["code"] == "rate_limit_exceeded"


def test_oneapi_no_channel_503_names_the_model():
    assert "对于模型 gpt-4o-mini 无可用渠道" in error_of(render_fault("oneapi", 503, None, CTX))["message"]


def test_newapi_shapes():
    error = error_of(render_fault("newapi", 401, None, CTX))
    assert error["type"] == "new_api_error" and error["code"] == "" and "(request id: " in error["message"]
    quota = render_fault("newapi", None, "insufficient_user_quota", CTX)
    assert quota.status == 403 and error_of(quota)["code"] == "insufficient_user_quota"


def test_gateway_generic_wrapper_for_other_statuses():
    error = error_of(render_fault("newapi", 504, None, CTX))
    assert (error["type"], error["code"], error["param"]) == ("upstream_error", "bad_response_status_code", "504")


def test_stream_error_event():
    event = stream_error_event("server_error")
    assert event.startswith(b"data: {") and event.endswith(b"}\n\n")
    assert json.loads(event[6:]) == {"error": {"message": "The server had an error while processing your request. "
                                               "Sorry about that!", "type": "server_error", "param": None,
                                               "code": None}}


@pytest.mark.parametrize("status,fragment,content_type", [
    (502, b"<title>502 Bad Gateway</title>", b"text/html"),
    (504, b"<center>cloudflare</center>", b"text/html"),
    (524, b"api.openai.com | 524: A timeout occurred", b"text/html; charset=UTF-8"),
])
def test_html_pages(status, fragment, content_type):
    page = html_page(status, "api.openai.com", "8f3c2a1b9d4e7f60-SJC")
    headers = dict(page.headers)
    assert page.status == status and fragment in page.body and page.content_type == content_type
    assert headers[b"server"] == b"cloudflare" and headers[b"cf-ray"] == b"8f3c2a1b9d4e7f60-SJC"
