"""The simulator's Gemini dialect, through Google's own SDK (google-genai) and on the wire."""

from __future__ import annotations

import base64
import json

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from seawall.simulator.config import SimulatorSettings

MODEL = "gemini-2.5-flash"
PROMPT = "Say something about gateways."


def sdk(base_url: str, key: str = "AIza-test", version: str = "v1beta") -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=base_url, api_version=version))


def fault(spec: str, **config) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(http_options=types.HttpOptions(headers={"x-sim-fault": spec}), **config)


class Answer:
    def __init__(self, status: int, headers, content: bytes):
        self.status_code, self.headers, self.content = status, headers, content

    def json(self):
        return json.loads(self.content)


async def post(base_url: str, path: str, body: object, headers: dict | None = None,
               key: str | None = "AIza-test") -> Answer:
    sent = {"x-goog-api-key": key} if key else {}
    async with aiohttp.ClientSession() as http, \
            http.post(base_url + path, json=body, headers={**sent, **(headers or {})}) as r:
        return Answer(r.status, r.headers, await r.read())


def user(text: str = PROMPT) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


@pytest.mark.parametrize("version", ["v1beta", "v1"])
async def test_generate_content_with_the_sdk(base_url, version):
    reply = await sdk(base_url, version=version).aio.models.generate_content(model=MODEL, contents=PROMPT)
    assert reply.text and reply.model_version == MODEL and reply.response_id
    assert reply.candidates[0].finish_reason == types.FinishReason.STOP
    usage = reply.usage_metadata
    assert usage.prompt_token_count > 0 and usage.candidates_token_count > 0
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count


async def test_stream_with_the_sdk_says_what_the_reply_says(base_url):
    client = sdk(base_url)
    whole = await client.aio.models.generate_content(model=MODEL, contents=PROMPT)
    chunks = [c async for c in await client.aio.models.generate_content_stream(model=MODEL, contents=PROMPT)]
    assert len(chunks) > 1 and "".join(c.text or "" for c in chunks) == whole.text
    assert [c.candidates[0].finish_reason for c in chunks][-1] == types.FinishReason.STOP
    assert all(c.candidates[0].finish_reason is None for c in chunks[:-1])
    assert chunks[-1].usage_metadata.candidates_token_count == whole.usage_metadata.candidates_token_count


async def test_stream_wire_format_has_crlf_framing_and_no_sentinel(base_url):
    r = await post(base_url, f"/v1beta/models/{MODEL}:streamGenerateContent?alt=sse", user())
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [e for e in r.content.split(b"\r\n\r\n") if e]
    assert all(e.startswith(b"data: ") for e in events) and b"[DONE]" not in r.content and b"event:" not in r.content
    assert "finishReason" in json.loads(events[-1][6:])["candidates"][0]


async def test_no_rate_limit_or_openai_headers(base_url):
    for spec in ("", "status=429"):
        r = await post(base_url, f"/v1beta/models/{MODEL}:generateContent", user(), {"x-sim-fault": spec})
        names = {k.lower() for k in r.headers}
        assert not {n for n in names if "ratelimit" in n or n.startswith("openai-") or n == "retry-after"}
        assert r.headers["content-type"] == "application/json; charset=UTF-8"


async def test_stream_without_alt_sse_is_one_json_array(base_url):
    r = await post(base_url, f"/v1beta/models/{MODEL}:streamGenerateContent", user())
    chunks = r.json()
    assert isinstance(chunks, list) and chunks[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_429_resource_exhausted_with_quota_failure_and_retry_info(base_url):
    with pytest.raises(errors.ClientError) as e:
        await sdk(base_url).aio.models.generate_content(model=MODEL, contents=PROMPT, config=fault("status=429"))
    assert (e.value.code, e.value.status) == (429, "RESOURCE_EXHAUSTED")
    details = {d["@type"].rsplit(".", 1)[1]: d for d in e.value.details["error"]["details"]}
    assert details["QuotaFailure"]["violations"][0]["quotaId"] == "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
    assert details["RetryInfo"]["retryDelay"] == "38s"
    r = await post(base_url, f"/v1/models/{MODEL}:generateContent", user(),
                   {"x-sim-fault": "status=429;retry_after=2.5"})
    retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}
    assert r.json()["error"]["details"][-1] == retry


async def test_per_day_quota_variant(base_url):
    r = await post(base_url, f"/v1beta/models/{MODEL}:generateContent", user(), {"x-sim-fault": "error=quota_per_day"})
    quota = r.json()["error"]["details"][0]["violations"][0]["quotaId"]
    assert r.status_code == 429 and quota == "GenerateRequestsPerDayPerProjectPerModel-FreeTier"


async def test_stream_errors_raise_in_the_sdk(base_url):
    client = sdk(base_url)
    with pytest.raises(errors.ServerError) as e:
        async for _ in await client.aio.models.generate_content_stream(
                model=MODEL, contents=PROMPT, config=fault("stream_error=unavailable;after=1;tokens=40")):
            pass
    assert e.value.code == 503 and e.value.status == "UNAVAILABLE"
    received = []
    with pytest.raises(Exception) as cut:  # the connection drops mid-body: the HTTP client's own error
        async for chunk in await client.aio.models.generate_content_stream(
                model=MODEL, contents=PROMPT, config=fault("cut_after=2;tokens=40")):
            received.append(chunk)
    assert not isinstance(cut.value, errors.APIError)
    assert len(received) == 2 and all(c.candidates[0].finish_reason is None for c in received)


@pytest.mark.parametrize("spec,status,name,reason", [
    ("error=service_disabled", 403, "PERMISSION_DENIED", "SERVICE_DISABLED"),
    ("status=403", 403, "PERMISSION_DENIED", None),
    ("error=location_unsupported", 400, "FAILED_PRECONDITION", None),
    ("status=500", 500, "INTERNAL", None),
    ("status=503", 503, "UNAVAILABLE", None),
    ("status=504", 504, "DEADLINE_EXCEEDED", None),
])
async def test_fault_bodies_are_google_rpc_statuses(base_url, spec, status, name, reason):
    r = await post(base_url, f"/v1beta/models/{MODEL}:generateContent", user(), {"x-sim-fault": spec})
    err = r.json()["error"]
    assert (r.status_code, err["code"], err["status"]) == (status, status, name) and err["message"]
    reasons = [d.get("reason") for d in err.get("details", []) if d["@type"].endswith("ErrorInfo")]
    assert reasons == ([reason] if reason else [])


async def test_server_errors_are_the_sdks_server_error(base_url):
    with pytest.raises(errors.ServerError) as e:
        await sdk(base_url).aio.models.generate_content(model=MODEL, contents=PROMPT, config=fault("status=503"))
    assert e.value.code == 503 and "overloaded" in e.value.message


async def test_keys(start_simulator):
    base_url = await start_simulator(SimulatorSettings(api_keys=("AIza-good",)))
    with pytest.raises(errors.ClientError) as e:
        await sdk(base_url, key="AIza-bad").aio.models.generate_content(model=MODEL, contents=PROMPT)
    assert (e.value.code, e.value.status) == (400, "INVALID_ARGUMENT")  # 400, not 401: Google's way
    assert e.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert (await sdk(base_url, key="AIza-good").aio.models.generate_content(model=MODEL, contents=PROMPT)).text
    path = f"/v1beta/models/{MODEL}:generateContent"
    by_query = await post(base_url, path + "?key=AIza-good", user(), key=None)
    missing = await post(base_url, path, user(), key=None)
    bearer = await post(base_url, path, user(), {"authorization": "Bearer AIza-good"}, key=None)
    assert by_query.status_code == 200
    assert (missing.status_code, missing.json()["error"]["status"]) == (403, "PERMISSION_DENIED")
    assert (bearer.status_code, bearer.json()["error"]["status"]) == (401, "UNAUTHENTICATED")


@pytest.mark.parametrize("body,status,words", [
    ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, 400, "Please use a valid role: user, model."),
    ({**user(), "temperature": 0.2}, 400, 'Unknown name "temperature": Cannot find field.'),
    ({**user(), "generationConfig": {"max_tokens": 5}}, 400, "Unknown name \"max_tokens\" at 'generation_config'"),
    ({"contents": []}, 400, "contents is not specified"),
    ({"contents": [{"role": "user", "parts": []}]}, 400, "contents.parts must not be empty"),
])
async def test_request_validation_in_geminis_words(base_url, body, status, words):
    r = await post(base_url, f"/v1beta/models/{MODEL}:generateContent", body)
    assert r.status_code == status and words in r.json()["error"]["message"]
    assert r.json()["error"]["status"] == "INVALID_ARGUMENT"


async def test_unknown_model_is_googles_404(base_url):
    r = await post(base_url, "/v1beta/models/gemini-1.0-pro:generateContent", user())
    assert r.status_code == 404 and r.json()["error"]["status"] == "NOT_FOUND"
    assert r.json()["error"]["message"].startswith("models/gemini-1.0-pro is not found for API version v1beta")


async def test_generation_config_shapes_the_reply(base_url):
    config = {"maxOutputTokens": 3, "candidateCount": 2}
    r = await post(base_url, f"/v1beta/models/{MODEL}:generateContent", {**user(), "generationConfig": config},
                   {"x-sim-fault": "tokens=20"})
    body = r.json()
    assert [c["finishReason"] for c in body["candidates"]] == ["MAX_TOKENS", "MAX_TOKENS"]
    assert body["usageMetadata"]["candidatesTokenCount"] == 6


async def test_function_calling_mode_any_calls_a_function(base_url):
    tools = [{"functionDeclarations": [{"name": "get_weather"}]}]
    r = await post(base_url, f"/v1beta/models/{MODEL}:generateContent",
                   {**user(), "tools": tools, "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}})
    assert r.json()["candidates"][0]["content"]["parts"] == [{"functionCall": {"name": "get_weather", "args": {}}}]


async def test_an_unknown_fault_variant_is_named(base_url):
    r = await post(base_url, f"/v1beta/models/{MODEL}:generateContent", user(), {"x-sim-fault": "error=nope"})
    assert r.status_code == 400 and "unknown error variant 'nope' for dialect gemini" in r.json()["error"]["message"]


async def test_embeddings_with_the_sdk(base_url):
    config = types.EmbedContentConfig(output_dimensionality=8)
    reply = await sdk(base_url).aio.models.embed_content(model="gemini-embedding-001", contents=["one", "two"],
                                                         config=config)
    assert [len(e.values) for e in reply.embeddings] == [8, 8]
    assert reply.embeddings[0].values != reply.embeddings[1].values
    single = await post(base_url, "/v1beta/models/text-embedding-004:embedContent",
                        {"content": {"parts": [{"text": "one"}]}})
    assert len(single.json()["embedding"]["values"]) == 768
    wrong = await post(base_url, f"/v1beta/models/{MODEL}:batchEmbedContents", {"requests": []})
    assert wrong.status_code == 404 and "not supported for batchEmbedContents" in wrong.json()["error"]["message"]


async def test_imagen_predict(base_url):
    r = await post(base_url, "/v1beta/models/imagen-4.0-generate-001:predict",
                   {"instances": [{"prompt": "a red fox"}], "parameters": {"sampleCount": 2, "aspectRatio": "16:9"}})
    images = [base64.b64decode(p["bytesBase64Encoded"]) for p in r.json()["predictions"]]
    assert r.status_code == 200 and len(images) == 2 and all(i.startswith(b"\x89PNG") for i in images)
    assert images[0][16:24] == (1408 // 8).to_bytes(4, "big") + (768 // 8).to_bytes(4, "big")  # 16:9's size


@pytest.mark.parametrize("path, body, status, words", [
    ("imagen-4.0-generate-001:predict", {"instances": [{"prompt": "x"}], "parameters": {"sampleCount": 9}}, 400,
     "sampleCount"),
    ("imagen-4.0-generate-001:predict", {"instances": [{"prompt": "x"}], "parameters": {"aspectRatio": "2:1"}}, 400,
     "aspect ratio"),
    ("imagen-4.0-generate-001:predict", {"instances": []}, 400, "instance"),
    ("gemini-2.5-flash:predict", {"instances": [{"prompt": "x"}]}, 404, "not supported for predict"),
])
async def test_imagen_refusals(base_url, path, body, status, words):
    r = await post(base_url, "/v1beta/models/" + path, body)
    assert r.status_code == status and words in r.json()["error"]["message"]


async def test_a_filtered_prompt_makes_no_image(base_url):
    r = await post(base_url, "/v1beta/models/imagen-4.0-generate-001:predict",
                   {"instances": [{"prompt": "something forbidden"}], "parameters": {"sampleCount": 1}})
    assert r.status_code == 200 and r.json() == {}
