"""Each fault, over real HTTP, as the official openai SDK experiences it
(exception classes per reference/provider-errors.md §1.3)."""

from __future__ import annotations

import json
import time

import aiohttp
import openai
import pytest

from seawall.simulator.config import RateLimits, SimulatorSettings

from .support import fault, user

STATUS_CASES = [  # header, exception class, status, code
    ("status=400", openai.BadRequestError, 400, None),
    ("status=401", openai.AuthenticationError, 401, "invalid_api_key"),
    ("status=403", openai.PermissionDeniedError, 403, "unsupported_country_region_territory"),
    ("status=404", openai.NotFoundError, 404, "model_not_found"),
    ("status=429", openai.RateLimitError, 429, "rate_limit_exceeded"),
    ("error=tokens", openai.RateLimitError, 429, "rate_limit_exceeded"),
    ("error=insufficient_quota", openai.RateLimitError, 429, "insufficient_quota"),
    ("error=request_too_large", openai.RateLimitError, 429, "rate_limit_exceeded"),
    ("status=409", openai.ConflictError, 409, None),
    ("status=500", openai.InternalServerError, 500, None),
    ("status=502", openai.InternalServerError, 502, "502"),  # the SDK stringifies codes
    ("status=503", openai.InternalServerError, 503, None),
    ("status=504", openai.InternalServerError, 504, "504"),
    ("status=529", openai.InternalServerError, 529, None),
]


@pytest.mark.parametrize("spec,exc_class,status,code", STATUS_CASES, ids=[c[0] for c in STATUS_CASES])
async def test_status_faults_raise_the_sdk_class(client, spec, exc_class, status, code):
    with pytest.raises(exc_class) as info:
        await client.chat.completions.create(model="gpt-4o-mini", messages=user(), **fault(spec))
    error = info.value
    assert error.status_code == status and error.code == code
    assert error.request_id.startswith("req_")
    assert error.response.headers["x-ratelimit-limit-requests"].isdigit()


async def test_429_carries_retry_headers_and_the_model(client):
    with pytest.raises(openai.RateLimitError) as info:
        spec = "status=429;retry_after=2;retry_after_ms=2000;x_should_retry=false"
        await client.chat.completions.create(model="gpt-4o", messages=user(), **fault(spec))
    headers = info.value.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"], headers["x-should-retry"]) == ("2", "2000", "false")
    assert info.value.type == "requests"
    assert "Rate limit reached for gpt-4o in organization org-" in info.value.message
    assert "Please try again in 2s." in info.value.message


async def test_oneapi_dialect(client):
    with pytest.raises(openai.InternalServerError) as info:
        await client.chat.completions.create(model="gpt-4o", messages=user(), **fault("status=503;dialect=oneapi"))
    assert "无可用渠道 (request id: " in info.value.message
    assert info.value.type == "one_api_error"
    with pytest.raises(openai.AuthenticationError) as auth:
        await client.chat.completions.create(model="gpt-4o", messages=user(), **fault("status=401;dialect=newapi"))
    assert auth.value.type == "new_api_error"


async def test_html_page_is_an_internal_server_error_with_text_body(client):
    with pytest.raises(openai.InternalServerError) as info:
        await client.chat.completions.create(model="gpt-4o", messages=user(), **fault("html=502"))
    response = info.value.response
    assert response.headers["content-type"] == "text/html" and response.headers["server"] == "cloudflare"
    assert "cf-ray" in response.headers and "x-request-id" not in response.headers
    assert "502 Bad Gateway" in response.text and isinstance(info.value.body, str)


async def test_reset_is_a_connection_error(client):
    with pytest.raises(openai.APIConnectionError) as info:
        await client.chat.completions.create(model="gpt-4o", messages=user(), **fault("reset"))
    assert not isinstance(info.value, openai.APITimeoutError)


async def test_hang_times_out(client):
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        await client.chat.completions.create(model="gpt-4o", messages=user(), timeout=0.3, **fault("hang"))
    assert 0.25 < time.monotonic() - started < 2


async def test_latency(client):
    started = time.monotonic()
    await client.chat.completions.create(model="gpt-4o", messages=user(), **fault("latency_ms=200"))
    assert time.monotonic() - started >= 0.2


async def test_malformed_json_reply(client):
    with pytest.raises(json.JSONDecodeError):
        await client.chat.completions.create(model="gpt-4o", messages=user(), **fault("malformed"))


async def test_cut_non_streaming_reply(client):
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(model="gpt-4o", messages=user(), **fault("cut_after=10"))


async def test_cut_stream_is_not_a_silent_finish(client):
    """Three events, then the connection drops inside the chunked body: the SDK raises
    APIConnectionError (caused by an incomplete chunked read) instead of ending the loop."""
    received = []
    stream = await client.chat.completions.create(model="gpt-4o", messages=user(), stream=True, **fault("cut_after=3"))
    with pytest.raises(openai.APIConnectionError) as info:
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 3 and received[-1].choices[0].finish_reason is None
    assert "incomplete chunked read" in str(info.value.__cause__)


async def test_stall_stream_times_out(client):
    received = []
    stream = await client.chat.completions.create(model="gpt-4o", messages=user(), stream=True, timeout=0.3,
                                                  **fault("stall_after=2"))
    with pytest.raises(openai.APITimeoutError):
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 2


async def test_stream_error_event_raises_api_error(client):
    received = []
    stream = await client.chat.completions.create(model="gpt-4o", messages=user(), stream=True,
                                                  **fault("stream_error=server_error;after=2"))
    with pytest.raises(openai.APIError) as info:
        async for chunk in stream:
            received.append(chunk)
    assert not isinstance(info.value, openai.APIStatusError)  # HTTP status was 200
    assert info.value.type == "server_error" and len(received) == 2


async def test_malformed_stream_line(client):
    stream = await client.chat.completions.create(model="gpt-4o", messages=user(), stream=True,
                                                  **fault("malformed;after=1"))
    received = []
    with pytest.raises(json.JSONDecodeError):
        async for chunk in stream:
            received.append(chunk)
    assert len(received) == 1


async def test_bad_fault_header_is_a_clear_400(client):
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(model="gpt-4o", messages=user(), **fault("status=42"))
    assert info.value.code == "sim_fault_invalid" and "status=42" in info.value.message
    with pytest.raises(openai.BadRequestError, match="unknown error variant"):
        await client.chat.completions.create(model="gpt-4o", messages=user(), **fault("error=nope"))


async def test_missing_and_wrong_keys(start_simulator):
    base = await start_simulator(SimulatorSettings(api_keys=("sk-good-key-0123456789",)))
    async with openai.AsyncOpenAI(base_url=base + "/v1", api_key="sk-good-key-0123456789", max_retries=0) as good:
        await good.chat.completions.create(model="gpt-4o", messages=user())
        with pytest.raises(openai.AuthenticationError) as missing:
            await good.chat.completions.create(model="gpt-4o", messages=user(),
                                               extra_headers={"Authorization": ""})
    assert missing.value.code is None and missing.value.body["message"].startswith("You didn't provide an API key.")
    async with openai.AsyncOpenAI(base_url=base + "/v1", api_key="sk-wrong-key-9876543210", max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError) as wrong:
            await bad.models.list()
    assert wrong.value.code == "invalid_api_key"
    assert "Incorrect API key provided: sk-wrong" + "*" * 11 + "3210." in wrong.value.message


async def test_own_validation_errors(client):
    with pytest.raises(openai.NotFoundError) as info:
        await client.chat.completions.create(model="gpt-9", messages=user())
    assert info.value.body["message"] == "The model `gpt-9` does not exist or you do not have access to it."
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model="gpt-4o", messages=[])
    assert bad.value.code == "empty_array"


async def test_unparsable_body(base_url):
    async with aiohttp.ClientSession() as session:
        async with session.post(base_url + "/v1/chat/completions", data=b"{nope",
                                headers={"authorization": "Bearer k", "content-type": "application/json"}) as response:
            assert response.status == 400
            error = (await response.json())["error"]
    assert error["message"].startswith("We could not parse the JSON body of your request.")
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", None, None)


async def test_invalid_url(client):
    with pytest.raises(openai.NotFoundError) as info:
        await client.post("/chat/completion", body={"model": "gpt-4o"}, cast_to=object)
    assert info.value.body["message"] == "Invalid URL (POST /v1/chat/completion)" and info.value.code is None


async def test_own_rate_limits(start_simulator):
    base = await start_simulator(SimulatorSettings(rate_limits=RateLimits(rpm=2, tpm=100_000)))
    async with openai.AsyncOpenAI(base_url=base + "/v1", api_key="k", max_retries=0) as sdk:
        for _ in range(2):
            await sdk.chat.completions.create(model="gpt-4o-mini", messages=user())
        with pytest.raises(openai.RateLimitError) as info:
            await sdk.chat.completions.create(model="gpt-4o-mini", messages=user())
        other_model = await sdk.chat.completions.create(model="gpt-4o", messages=user())
    error = info.value
    assert error.type == "requests" and error.code == "rate_limit_exceeded"
    assert "on requests per min (RPM): Limit 2, Used 2, Requested 1. Please try again in " in error.message
    headers = error.response.headers
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert 29 <= int(headers["retry-after"]) <= 30 and 29_000 < int(headers["retry-after-ms"]) <= 30_000
    assert other_model.choices  # limits are per model


async def test_request_too_large_for_tpm(start_simulator):
    base = await start_simulator(SimulatorSettings(rate_limits=RateLimits(rpm=100, tpm=50)))
    async with openai.AsyncOpenAI(base_url=base + "/v1", api_key="k", max_retries=0) as sdk:
        with pytest.raises(openai.RateLimitError) as info:
            await sdk.chat.completions.create(model="gpt-4o-mini", messages=user("word " * 100))
    assert info.value.body["message"].startswith("Request too large for gpt-4o-mini in organization org-")
    assert "retry-after" not in info.value.response.headers
