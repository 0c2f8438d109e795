"""Gemini and Azure OpenAI upstreams: the official openai SDK through the gateway, the simulator
playing Gemini (`/v1beta/models/…:generateContent`) and Azure (`/openai/deployments/…`)."""

import openai
import pytest
from conftest import own_stack
from google import genai
from google.genai import types

HI = [{"role": "user", "content": "Say hello to the gateway"}]


def _config(port: int) -> str:
    def dep(provider: str, base: str, model: str, name: str, extra: str = "") -> str:
        return (f"      - provider: {provider}\n        base_url: {base}\n        model: {model}\n"
                f"        api_key_env: {provider.upper()}_KEY\n        name: {name}\n"
                f"        timeouts: {{connect_s: 2, read_s: 10}}\n"
                f"        circuit: {{failures_to_open: 1000, take_out_refused: false}}\n{extra}")

    gemini_base, azure_base = f"http://127.0.0.1:{port}/v1beta", f"http://127.0.0.1:{port}"
    return ("request_log:\n  flush_interval_s: 0.1\n"
            "models:\n"
            f"  - name: gemini-chat\n    deployments:\n{dep('gemini', gemini_base, 'gemini-2.5-flash', 'gemini-flash')}"
            f"  - name: gemini-then-azure\n    deployments:\n"
            f"{dep('gemini', gemini_base, 'gemini-2.5-pro', 'gemini-pro')}"
            f"{dep('azure', azure_base, 'gpt-4o-mini', 'azure-backup', '        api_version: 2024-10-21' + chr(10))}"
            f"  - name: azure-chat\n    deployments:\n{dep('azure', azure_base, 'gpt-4o', 'azure-gpt4o')}"
            f"  - name: gemini-embed\n    deployments:\n"
            f"{dep('gemini', gemini_base, 'gemini-embedding-001', 'gemini-embedder')}"
            f"  - name: azure-embed\n    deployments:\n"
            f"{dep('azure', azure_base, 'text-embedding-3-small', 'azure-embedder')}")


upstream, gw, sim, client = own_stack("gemini", _config, env={"GEMINI_KEY": "AIzaSyGeminiUpstreamKey0000000000000000",
                                                             "AZURE_KEY": "0123456789abcdef0123456789abcdef"})


def direct_gemini(sim, prompt: str):
    """What Gemini itself (the simulator) answers, asked with Google's own SDK."""
    g = genai.Client(api_key="AIza-direct", http_options=types.HttpOptions(base_url=sim.url, api_version="v1beta"))
    return g.models.generate_content(model="gemini-2.5-flash", contents=prompt)


def test_gemini_completion_is_an_openai_completion_with_geminis_text_model_and_usage(client, gw, sim):
    raw = client.chat.completions.with_raw_response.create(model="gemini-chat", messages=HI)
    reply = raw.parse()
    direct = direct_gemini(sim, HI[0]["content"])
    assert reply.object == "chat.completion" and reply.choices[0].message.content == direct.text
    assert reply.model == direct.model_version == "gemini-2.5-flash"
    assert reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (
        direct.usage_metadata.prompt_token_count, direct.usage_metadata.candidates_token_count)
    row = gw.log_row(raw.headers["x-request-id"])
    assert row["status"] == 200 and row["deployment"] == "gemini-flash"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (reply.usage.prompt_tokens,
                                                                reply.usage.completion_tokens)


def test_gemini_stream_arrives_as_openai_chunks_and_settles_usage(client, gw, sim):
    with client.chat.completions.with_streaming_response.create(
            model="gemini-chat", messages=HI, stream=True, stream_options={"include_usage": True}) as raw:
        request_id = raw.headers["x-request-id"]
        chunks = list(raw.parse())
    direct = direct_gemini(sim, HI[0]["content"])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == direct.text and len(chunks) > 2
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == direct.usage_metadata.candidates_token_count
    assert all(c.model == "gemini-2.5-flash" for c in chunks)
    row = gw.log_row(request_id)
    assert row["stream_end"] == "completed" and row["completion_tokens"] == chunks[-1].usage.completion_tokens


def test_gemini_stream_without_include_usage_gets_no_usage_chunk(client, sim):
    chunks = list(client.chat.completions.create(model="gemini-chat", messages=HI, stream=True))
    assert all(c.usage is None for c in chunks) and chunks[-1].choices[0].finish_reason == "stop"


def test_gemini_429_resource_exhausted_falls_back_to_the_azure_deployment(client, gw, sim):
    sim.set_faults([{"match": {"model": "gemini-2.5-pro"}, "fault": "status=429"}])
    raw = client.chat.completions.with_raw_response.create(model="gemini-then-azure", messages=HI)
    reply = raw.parse()
    assert reply.model == "gpt-4o-mini-2024-07-18" and reply.choices[0].message.content
    row = gw.log_row(raw.headers["x-request-id"])
    attempts = row["attempts_detail"]
    assert [a["deployment"] for a in attempts] == ["gemini-pro", "azure-backup"]
    assert attempts[0]["status"] == 429 and attempts[0]["category"] == "rate_limit.requests"


def test_gemini_429_with_no_deployment_left_hands_back_the_wait(client, sim):
    sim.set_faults([{"match": {"model": "gemini-2.5-flash"}, "fault": "status=429;retry_after=30"}])
    with pytest.raises(openai.RateLimitError) as e:
        client.chat.completions.create(model="gemini-chat", messages=HI)
    assert e.value.body["category"] == "rate_limit.requests" and e.value.code == "RESOURCE_EXHAUSTED"
    assert e.value.response.headers["retry-after"] == "30"  # RetryInfo.retryDelay "30s", in HTTP terms


def test_gemini_stream_cut_midway_raises_in_the_openai_sdk(client, gw, sim):
    sim.set_faults([{"match": {"model": "gemini-2.5-flash"}, "fault": "cut_after=2;tokens=60"}])
    received = []
    with client.chat.completions.with_streaming_response.create(model="gemini-chat", messages=HI, stream=True) as raw:
        request_id = raw.headers["x-request-id"]
        with pytest.raises(openai.APIError) as e:
            received.extend(raw.parse())
    assert received and all(c.choices[0].finish_reason is None for c in received if c.choices)
    assert "ended before it was complete" in str(e.value.message)
    assert gw.log_row(request_id)["stream_end"] == "interrupted"


def test_gemini_in_stream_error_after_the_first_chunk_raises_in_the_openai_sdk(client, gw, sim):
    sim.set_faults([{"match": {"model": "gemini-2.5-flash"}, "fault": "stream_error=unavailable;after=2;tokens=60"}])
    received = []
    with client.chat.completions.with_streaming_response.create(model="gemini-chat", messages=HI, stream=True) as raw:
        request_id = raw.headers["x-request-id"]
        with pytest.raises(openai.APIError) as e:
            received.extend(raw.parse())
    assert received and "overloaded" in e.value.message
    row = gw.log_row(request_id)
    assert row["stream_end"] == "upstream_error" and row["category"] == "upstream.overloaded"


def test_gemini_service_disabled_names_the_project_setting(client, sim):
    sim.set_faults([{"match": {"model": "gemini-2.5-flash"}, "fault": "error=service_disabled"}])
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="gemini-chat", messages=HI)
    assert e.value.status_code == 502 and e.value.body["category"] == "permission.service_disabled"
    assert "gemini-flash" in e.value.body["message"]


def test_a_parameter_gemini_cannot_express_is_a_400_naming_it(client, sim):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="gemini-chat", messages=HI, logprobs=True)
    assert e.value.code == "unsupported_parameter" and e.value.param == "logprobs"
    assert "gemini-flash" in e.value.message and e.value.body["hint"]
    assert sim.stats()["requests"]["total"] == 0  # refused before any upstream call


def test_azure_completion_and_stream(client, gw, sim):
    raw = client.chat.completions.with_raw_response.create(model="azure-chat", messages=HI)
    reply = raw.parse()
    assert reply.model == "gpt-4o-2024-08-06" and reply.usage.completion_tokens > 0
    assert gw.log_row(raw.headers["x-request-id"])["deployment"] == "azure-gpt4o"
    chunks = list(client.chat.completions.create(model="azure-chat", messages=HI, stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == reply.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == reply.usage.completion_tokens


def test_azure_content_filter_is_a_400_with_its_category(client, sim):
    sim.set_faults([{"match": {"model": "gpt-4o"}, "fault": "error=content_filter"}])
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="azure-chat", messages=HI)
    assert e.value.code == "content_filter" and e.value.body["category"] == "request.content_filter"


def test_azure_output_filter_ends_the_stream_with_content_filter(client, sim):
    sim.set_faults([{"match": {"model": "gpt-4o"}, "fault": "error=content_filter_finish"}])
    chunks = list(client.chat.completions.create(model="azure-chat", messages=HI, stream=True))
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "content_filter"


def test_gemini_embeddings_through_the_openai_sdk(client, sim):
    # the SDK asks for base64 by default and decodes it: the vectors must survive as float32
    res = client.embeddings.create(model="gemini-embed", input=["one", "two"], dimensions=8)
    g = genai.Client(api_key="AIza-direct", http_options=types.HttpOptions(base_url=sim.url, api_version="v1beta"))
    direct = g.models.embed_content(model="gemini-embedding-001", contents=["one", "two"],
                                    config=types.EmbedContentConfig(output_dimensionality=8))
    assert [d.embedding for d in res.data] == [pytest.approx(e.values, rel=1e-6) for e in direct.embeddings]


def test_azure_embeddings(client, sim):
    res = client.embeddings.create(model="azure-embed", input=["one", "two"])
    assert [len(d.embedding) for d in res.data] == [1536, 1536] and res.usage.prompt_tokens > 0
