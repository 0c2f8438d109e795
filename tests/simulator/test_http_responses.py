"""The Responses API on the simulator, over real HTTP, as the official openai SDK uses it."""

from __future__ import annotations

import asyncio

import httpx2
import openai
import pytest

from seawall.simulator.config import SimulatorSettings

from .support import fault

TOOLS = [{"type": "function", "name": "get_weather", "description": "The weather in a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


async def test_create_plain_and_retrieve(client):
    reply = await client.responses.create(model="gpt-4o-mini", input="Say hello", instructions="Be brief")
    assert reply.status == "completed" and reply.output_text and reply.id.startswith("resp_")
    assert reply.model == "gpt-4o-mini-2024-07-18" and reply.instructions == "Be brief"
    assert reply.usage.input_tokens > 0 and reply.usage.total_tokens == reply.usage.input_tokens + \
        reply.usage.output_tokens
    again = await client.responses.retrieve(reply.id)
    assert again.output_text == reply.output_text and again.status == "completed"
    items = await client.responses.input_items.list(reply.id)
    assert [(i.type, i.role, i.content[0].text) for i in items.data] == [("message", "user", "Say hello")]


async def test_stream_events_and_final_response(client):
    seen = []
    async with client.responses.stream(model="gpt-4o-mini", input="Tell me a story") as stream:
        async for event in stream:
            seen.append(event.type)
        final = await stream.get_final_response()
    assert seen[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                        "response.content_part.added"]
    assert seen[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                         "response.completed"]
    assert seen.count("response.output_text.delta") == final.usage.output_tokens
    stored = await client.responses.retrieve(final.id)
    assert stored.output_text == final.output_text


async def test_function_tool_round_trip_with_previous_response_id(client):
    first = await client.responses.create(model="gpt-4o-mini", input="What is the weather? Use get_weather.",
                                          tools=TOOLS)
    (call,) = first.output
    assert call.type == "function_call" and call.name == "get_weather" and call.arguments == '{"city":"gateways"}'
    second = await client.responses.create(model="gpt-4o-mini", previous_response_id=first.id, tools=TOOLS,
                                           input=[{"type": "function_call_output", "call_id": call.call_id,
                                                   "output": "sunny"}])
    assert second.output[0].type == "message" and second.output_text
    assert second.previous_response_id == first.id
    # The stored conversation grew: the earlier call's id is known, an unknown one is refused.
    with pytest.raises(openai.BadRequestError) as info:
        await client.responses.create(model="gpt-4o-mini", previous_response_id=first.id,
                                      input=[{"type": "function_call_output", "call_id": "call_nope", "output": "x"}])
    assert "call_nope" in info.value.message


async def test_streamed_function_call_arguments(client):
    deltas, done = [], None
    stream = await client.responses.create(model="gpt-4o-mini", input="hi", tools=TOOLS, tool_choice="required",
                                           stream=True)
    async for event in stream:
        if event.type == "response.function_call_arguments.delta":
            deltas.append(event.delta)
        elif event.type == "response.function_call_arguments.done":
            done = event
    assert done is not None and "".join(deltas) == done.arguments and done.name == "get_weather"


async def test_unknown_previous_response_and_unknown_ids(client):
    with pytest.raises(openai.NotFoundError) as info:
        await client.responses.create(model="gpt-4o-mini", input="hi", previous_response_id="resp_unknown")
    assert info.value.code == "previous_response_not_found" and info.value.param == "previous_response_id"
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve("resp_unknown")
    unstored = await client.responses.create(model="gpt-4o-mini", input="hi", store=False)
    with pytest.raises(openai.NotFoundError):
        await client.responses.retrieve(unstored.id)


async def test_delete_and_cancel(start_simulator):
    base = await start_simulator(SimulatorSettings(job_duration_s=30))
    async with openai.AsyncOpenAI(base_url=base + "/v1", api_key="k", max_retries=0) as sdk:
        done = await sdk.responses.create(model="gpt-4o-mini", input="hi")
        with pytest.raises(openai.BadRequestError):
            await sdk.responses.cancel(done.id)
        await sdk.responses.delete(done.id)
        with pytest.raises(openai.NotFoundError):
            await sdk.responses.retrieve(done.id)
        queued = await sdk.responses.create(model="gpt-4o-mini", input="hi", background=True)
        assert queued.status == "queued"
        assert (await sdk.responses.retrieve(queued.id)).status == "in_progress"
        cancelled = await sdk.responses.cancel(queued.id)
        assert cancelled.status == "cancelled" and (await sdk.responses.retrieve(queued.id)).status == "cancelled"


async def test_background_completes_after_job_duration(start_simulator):
    base = await start_simulator(SimulatorSettings(job_duration_s=0.2))
    async with openai.AsyncOpenAI(base_url=base + "/v1", api_key="k", max_retries=0) as sdk:
        queued = await sdk.responses.create(model="gpt-4o-mini", input="hi", background=True)
        await asyncio.sleep(0.3)
        finished = await sdk.responses.retrieve(queued.id)
        assert finished.status == "completed" and finished.output_text


@pytest.mark.parametrize("spec,last", [("stream_error=server_error", "response.failed"),
                                       ("stream_error=rate_limit_exceeded;stream_error_as=error;after=4", "error")])
async def test_a_stream_that_fails_mid_way(client, spec, last):
    seen = []
    stream = await client.responses.create(model="gpt-4o-mini", input="hi", stream=True, **fault(spec))
    async for event in stream:
        seen.append(event)
    assert seen[-1].type == last and len(seen) in (4, 5)
    if last == "response.failed":
        assert seen[-1].response.status == "failed" and seen[-1].response.error.code == "server_error"
    else:
        assert seen[-1].code == "rate_limit_exceeded" and seen[-1].sequence_number == 4


async def test_faults_apply_to_responses(client):
    with pytest.raises(openai.RateLimitError) as info:
        await client.responses.create(model="gpt-4o-mini", input="hi", **fault("status=429;retry_after=3"))
    assert info.value.response.headers["retry-after"] == "3"
    with pytest.raises(openai.InternalServerError):
        await client.responses.create(model="gpt-4o-mini", input="hi", **fault("status=503"))
    with pytest.raises(openai.APIError):
        stream = await client.responses.create(model="gpt-4o-mini", input="hi", stream=True, **fault("cut_after=5"))
        async for _ in stream:
            pass


async def test_recorded_requests(base_url, client):
    await client.responses.create(model="gpt-4o-mini", input="recorded")
    async with httpx2.AsyncClient() as http:
        got = (await http.get(base_url + "/_sim/requests?limit=1")).json()
        (one,) = got["requests"]
        assert one["method"] == "POST" and one["path"] == "/v1/responses" and '"recorded"' in one["body"]
        assert one["headers"]["authorization"] == "Bearer sk-test" and one["outcome"] == "ok"
        assert len(one["body_sha256"]) == 64 and one["body_bytes"] == len(one["body"].encode())
        await http.delete(base_url + "/_sim/requests")
        assert (await http.get(base_url + "/_sim/requests")).json()["requests"] == []
