"""The official openai SDK, sync and async, streaming and not, through the gateway to the simulator."""

import openai
import pytest


def test_chat_completion(client, gateway, sim):
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello"}], max_tokens=20)
    reply = raw.parse()
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.content and reply.choices[0].finish_reason in ("stop", "length")
    assert reply.model.startswith("gpt-4o-mini")  # the upstream's own (dated) id: the model that served
    assert reply.usage.completion_tokens > 0
    request_id = raw.headers["x-request-id"]
    assert request_id.startswith("req_")
    row = gateway.log_row(request_id)
    assert row["status"] == 200 and row["model_requested"] == "gpt-4o-mini"
    assert row["deployment"] == "sim-primary" and row["attempts"] == 1
    assert (row["prompt_tokens"], row["completion_tokens"]) == (reply.usage.prompt_tokens, reply.usage.completion_tokens)
    assert row["streamed"] is False and row["latency_ms"] > 0 and row["ttfb_ms"] is not None


def test_stream_arrives_chunk_by_chunk_and_settles_usage(client, gateway, sim):
    with client.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Tell me a story"}], max_tokens=30,
            stream=True) as raw:
        request_id = raw.headers["x-request-id"]
        chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) > 3 and text
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    # The client did not ask for usage: the gateway asked upstream for it, and kept it to itself.
    assert all(c.usage is None for c in chunks)
    row = gateway.log_row(request_id)
    assert row["streamed"] is True and row["stream_end"] == "completed"
    assert row["completion_tokens"] > 0


def test_stream_with_include_usage_gets_the_usage_chunk(client, sim):
    chunks = list(client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=5, stream=True,
        stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0


async def test_async_chat_and_stream(aclient, sim):
    reply = await aclient.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content
    stream = await aclient.chat.completions.create(model="gpt-4o-mini", stream=True,
                                                   messages=[{"role": "user", "content": "hi"}])
    parts = [c async for c in stream]
    assert parts[-1].choices[0].finish_reason in ("stop", "length")


def test_embeddings_base64_default(client, sim):
    res = client.embeddings.create(model="text-embedding-3-small", input=["one", "two"])
    assert len(res.data) == 2 and len(res.data[0].embedding) == 1536
    assert res.usage.prompt_tokens > 0


def test_models_lists_configured_names(client):
    names = {m.id for m in client.models.list()}
    assert {"gpt-4o-mini", "with-fallback", "text-embedding-3-small"} <= names
    assert client.models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"


def test_unknown_model_is_not_found_with_did_you_mean(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="gpt-4o-mni", messages=[{"role": "user", "content": "hi"}])
    err = e.value.body
    assert e.value.code == "model_not_found" and "'gpt-4o-mini'" in err["hint"]
    assert err["request_id"] == e.value.response.headers["x-request-id"]
    assert err["category"] == "model.not_found"


def test_bad_key_is_authentication_error_with_hint(gateway):
    with openai.OpenAI(base_url=gateway.base_url, api_key="sk-ant-api03-" + "x" * 90, max_retries=0) as c:
        with pytest.raises(openai.AuthenticationError) as e:
            c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert e.value.code == "wrong_platform_key" and "Anthropic" in e.value.body["message"]
    with openai.OpenAI(base_url=gateway.base_url, api_key="sk-sw-" + "z" * 40, max_retries=0) as c:
        with pytest.raises(openai.AuthenticationError) as e:
            c.models.list()
    masked = e.value.body["message"].split(": ", 1)[1].split(".", 1)[0]  # "Incorrect API key provided: <masked>."
    assert e.value.code == "invalid_api_key" and masked.startswith("sk-sw-") and "zzzz" not in masked[6:-4]


def test_fallback_to_the_next_deployment_when_the_first_is_down(client, gateway, sim):
    raw = client.chat.completions.with_raw_response.create(model="with-fallback",
                                                           messages=[{"role": "user", "content": "hi"}])
    assert raw.parse().choices[0].message.content
    row = gateway.log_row(raw.headers["x-request-id"])
    assert row["attempts"] == 2 and row["deployment"] == "sim-backup"
    first, second = row["attempts_detail"]
    assert first["deployment"] == "dead" and first["category"] == "network.connect" and first["status"] is None
    assert second["status"] == 200


def test_every_deployment_down_is_a_clear_502(client):
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model="all-down", messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 502 and e.value.body["category"] == "network.connect"
    assert "dead" in e.value.body["message"] and e.value.body["hint"]
