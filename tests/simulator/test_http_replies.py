"""Successful replies over real HTTP, read with the official openai SDK."""

from __future__ import annotations

import asyncio
import math
import re
import time

import aiohttp
import openai
import orjson
import pytest

from seawall.simulator.config import RateLimits, SimulatorSettings
from seawall.simulator.text import count_tokens

from .support import fault, user

GO_DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+(\.\d+)?s)?$|^\d+(\.\d+)?(ms|µs|ns)$")


async def test_chat_completion(client: openai.AsyncOpenAI):
    raw = await client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=user())
    reply = raw.parse()
    assert re.fullmatch(r"chatcmpl-[A-Za-z0-9]{29}", reply.id)
    assert reply.object == "chat.completion" and reply.model == "gpt-4o-mini-2024-07-18"
    assert reply.service_tier == "default" and reply.system_fingerprint.startswith("fp_")
    assert abs(reply.created - time.time()) < 5
    choice = reply.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert choice.message.refusal is None and choice.logprobs is None
    assert reply.usage.completion_tokens == count_tokens(choice.message.content)
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert reply.usage.prompt_tokens_details.cached_tokens == 0
    assert reply.usage.completion_tokens_details.reasoning_tokens == 0
    assert re.fullmatch(r"req_[0-9a-f]{32}", raw.request_id)
    headers = raw.headers
    assert headers["openai-version"] == "2020-10-01"
    assert headers["openai-organization"].startswith("org-")
    assert headers["openai-processing-ms"].isdigit()
    for name in ("requests", "tokens"):
        assert headers[f"x-ratelimit-limit-{name}"].isdigit()
        assert headers[f"x-ratelimit-remaining-{name}"].isdigit()
        assert GO_DURATION.match(headers[f"x-ratelimit-reset-{name}"])


async def test_same_prompt_same_text_and_max_tokens_cuts(client: openai.AsyncOpenAI):
    first = await client.chat.completions.create(model="gpt-4o", messages=user("Describe a river."))
    again = await client.chat.completions.create(model="gpt-4o-2024-08-06", messages=user("Describe a river."))
    cut = await client.chat.completions.create(model="gpt-4o", messages=user("Describe a river."), max_tokens=3)
    assert first.choices[0].message.content == again.choices[0].message.content
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 3
    assert first.choices[0].message.content.startswith(cut.choices[0].message.content)


async def test_n_choices_and_reasoning_model(client: openai.AsyncOpenAI):
    reply = await client.chat.completions.create(model="gpt-4.1-nano", messages=user(), n=3)
    assert [c.index for c in reply.choices] == [0, 1, 2]
    reasoning = await client.chat.completions.create(model="o4-mini", messages=user(), max_completion_tokens=2000)
    assert reasoning.model == "o4-mini-2025-04-16"
    assert reasoning.usage.completion_tokens_details.reasoning_tokens >= 64


async def test_stream_with_usage(client: openai.AsyncOpenAI):
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=user(), stream=True, stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert len({chunk.id for chunk in chunks}) == 1
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks[:-1])
    assert chunks[-1].usage.completion_tokens == count_tokens(text) == len(chunks) - 3


async def test_stream_matches_the_non_streamed_text(client: openai.AsyncOpenAI):
    plain = await client.chat.completions.create(model="gpt-4o-mini", messages=user("same"))
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=user("same"), stream=True)
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
    assert text == plain.choices[0].message.content


async def test_stream_wire_format(base_url: str):
    request = {"model": "gpt-4o-mini", "messages": user(), "stream": True, "max_tokens": 3,
               "stream_options": {"include_obfuscation": False}}
    async with aiohttp.ClientSession() as session:
        async with session.post(base_url + "/v1/chat/completions", json=request,
                                headers={"authorization": "Bearer sk-x"}) as response:
            assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert response.headers["transfer-encoding"] == "chunked"
            raw = await response.read()
    events = raw.split(b"\n\n")
    assert events[-1] == b"" and events[-2] == b"data: [DONE]"
    payloads = [orjson.loads(event.removeprefix(b"data: ")) for event in events[:-2]]
    assert len(payloads) == 5 and all("obfuscation" not in p and "usage" not in p for p in payloads)
    assert payloads[-1]["choices"][0]["finish_reason"] == "length"


async def test_stream_chunks_leave_as_produced(client: openai.AsyncOpenAI):
    """With 40 ms between events, the first chunk must arrive long before the last."""
    arrivals = []
    stream = await client.chat.completions.create(model="gpt-4o-mini", messages=user(), stream=True,
                                                  **fault("interval_ms=40;tokens=6"))
    async for _ in stream:
        arrivals.append(time.monotonic())
    assert len(arrivals) == 8  # role + 6 tokens + finish
    gaps = [b - a for a, b in zip(arrivals[:-1], arrivals[1:], strict=True)]
    assert min(gaps) > 0.025 and arrivals[-1] - arrivals[0] > 0.25


async def test_settings_pace_streams(start_simulator):
    base = await start_simulator(SimulatorSettings(stream_interval_ms=30))
    async with openai.AsyncOpenAI(base_url=base + "/v1", api_key="k", max_retries=0) as sdk:
        started = time.monotonic()
        stream = await sdk.chat.completions.create(model="gpt-4o-mini", messages=user(), stream=True,
                                                   **fault("tokens=5"))
        count = len([chunk async for chunk in stream])
    assert count == 7 and time.monotonic() - started >= 6 * 0.03


async def test_stamped_events_carry_their_send_time(start_simulator):
    """stamp_events: every event's JSON holds the monotonic time it was written, between the
    client's request and its read, and the chunks still parse for the SDK."""
    base = await start_simulator(SimulatorSettings(stream_interval_ms=5, stamp_events=True))
    before = time.monotonic_ns()
    async with aiohttp.ClientSession() as http:
        async with http.post(base + "/v1/chat/completions", headers={"authorization": "Bearer k"},
                             json={"model": "gpt-4o-mini", "messages": user(), "stream": True}) as resp:
            body = await resp.read()
    after = time.monotonic_ns()
    events = [line[6:] for line in body.split(b"\n") if line.startswith(b"data: {")]
    stamps = [orjson.loads(e)["x_sim_sent_ns"] for e in events]
    assert len(stamps) > 2 and before < stamps[0] and stamps == sorted(stamps) and stamps[-1] < after
    assert all(orjson.loads(e)["object"] == "chat.completion.chunk" for e in events)


async def test_embeddings_base64_default_and_float(client: openai.AsyncOpenAI):
    packed = await client.embeddings.create(model="text-embedding-3-small", input=["hello", "world"])
    assert [len(item.embedding) for item in packed.data] == [1536, 1536]
    assert math.fsum(x * x for x in packed.data[0].embedding) == pytest.approx(1.0, rel=1e-5)
    assert packed.usage.prompt_tokens == 2 and packed.model == "text-embedding-3-small"
    floats = await client.embeddings.create(model="text-embedding-3-small", input=["hello", "world"],
                                            encoding_format="float")
    assert floats.data[1].embedding == pytest.approx(packed.data[1].embedding, rel=1e-6)
    short = await client.embeddings.create(model="text-embedding-3-large", input=[[1, 2, 3]], dimensions=256)
    assert len(short.data[0].embedding) == 256 and short.usage.prompt_tokens == 3


async def test_models(client: openai.AsyncOpenAI):
    listed = [model.id async for model in client.models.list()]
    assert "gpt-4o-mini" in listed and "gpt-4o-mini-2024-07-18" in listed and "text-embedding-3-large" in listed
    one = await client.models.retrieve("o4-mini")
    assert one.id == "o4-mini" and one.object == "model" and one.owned_by == "system"
    with pytest.raises(openai.NotFoundError) as info:
        await client.models.retrieve("gpt-9")
    assert info.value.code == "model_not_found"


async def test_ratelimit_headers_count_down(start_simulator):
    base = await start_simulator(SimulatorSettings(rate_limits=RateLimits(rpm=60, tpm=6_000)))
    async with openai.AsyncOpenAI(base_url=base + "/v1", api_key="k", max_retries=0) as sdk:
        seen = []
        for _ in range(3):
            raw = await sdk.chat.completions.with_raw_response.create(model="gpt-4o", messages=user())
            seen.append((int(raw.headers["x-ratelimit-remaining-requests"]),
                         int(raw.headers["x-ratelimit-remaining-tokens"]), raw.headers["x-ratelimit-reset-requests"]))
    assert [s[0] for s in seen] == [59, 58, 57]
    assert seen[0][1] > seen[1][1] > seen[2][1]
    assert seen[0][2] == "1s" and seen[2][2].endswith("s")  # 60 rpm refills one per second


async def test_concurrent_requests(client: openai.AsyncOpenAI):
    replies = await asyncio.gather(*[
        client.chat.completions.create(model="gpt-4o-mini", messages=user(f"q{i}")) for i in range(50)])
    assert len({reply.id for reply in replies}) == 50
