"""The simulator's Azure OpenAI dialect, through the openai SDK's AzureOpenAI client."""

from __future__ import annotations

import aiohttp
import openai
import pytest

from seawall.simulator.config import SimulatorSettings

from .support import fault, user

VERSION = "2024-10-21"


def azure(base_url: str, key: str = "0123456789abcdef0123456789abcdef") -> openai.AsyncAzureOpenAI:
    return openai.AsyncAzureOpenAI(azure_endpoint=base_url, api_key=key, api_version=VERSION, max_retries=0)


async def test_completion_and_stream_on_a_deployment(base_url):
    client = azure(base_url)
    reply = await client.chat.completions.create(model="gpt-4o-mini", messages=user())
    assert reply.model == "gpt-4o-mini-2024-07-18" and reply.choices[0].message.content
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=user(), stream=True)
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == reply.choices[0].message.content


async def test_keys_and_azures_401(start_simulator):
    base_url = await start_simulator(SimulatorSettings(api_keys=("good-key",)))
    with pytest.raises(openai.AuthenticationError) as e:
        await azure(base_url, key="bad-key").chat.completions.create(model="gpt-4o-mini", messages=user())
    assert e.value.code == "401" and "invalid subscription key" in e.value.message
    assert (await azure(base_url, key="good-key").chat.completions.create(model="gpt-4o-mini", messages=user())).id


async def test_unknown_deployment(base_url):
    with pytest.raises(openai.NotFoundError) as e:
        await azure(base_url).chat.completions.create(model="no-such-deployment", messages=user())
    assert e.value.code == "DeploymentNotFound"


async def test_429_has_azures_wording_and_retry_after(base_url):
    with pytest.raises(openai.RateLimitError) as e:
        await azure(base_url).chat.completions.create(model="gpt-4o-mini", messages=user(), **fault("status=429"))
    assert e.value.code == "429" and "Please retry after 60 seconds" in e.value.message
    assert e.value.response.headers["retry-after"] == "60"


async def test_content_filter_error_and_finish_reason(base_url):
    client = azure(base_url)
    with pytest.raises(openai.BadRequestError) as e:
        await client.chat.completions.create(model="gpt-4o-mini", messages=user(), **fault("error=content_filter"))
    assert e.value.code == "content_filter" and e.value.param == "prompt"
    assert e.value.body["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    reply = await client.chat.completions.create(model="gpt-4o-mini", messages=user(),
                                                 **fault("error=content_filter_finish;tokens=20"))
    assert reply.choices[0].finish_reason == "content_filter" and len(reply.choices[0].message.content.split()) <= 3


async def test_azure_headers_and_a_missing_api_version(base_url):
    raw = await azure(base_url).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=user())
    assert raw.headers["apim-request-id"] == raw.headers["x-request-id"] and "x-ms-region" in raw.headers
    assert "x-ratelimit-remaining-tokens" in raw.headers and "openai-organization" not in raw.headers
    async with aiohttp.ClientSession() as http, http.post(
            base_url + "/openai/deployments/gpt-4o-mini/chat/completions", json={"messages": user()},
            headers={"api-key": "k"}) as r:
        assert r.status == 404 and (await r.json())["error"] == {"code": "404", "message": "Resource not found"}
