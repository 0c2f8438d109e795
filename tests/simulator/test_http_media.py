"""Legacy completions, images, audio, moderations, files and batches on the simulator, over real
HTTP, as the official openai SDK calls them."""

from __future__ import annotations

import json

import httpx2
import openai
import pytest

from seawall.simulator.images import png

from .support import fault

PNG = png(64, 64, (10, 20, 30))


async def test_legacy_completions(client):
    reply = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon a time", max_tokens=50)
    assert reply.object == "text_completion" and reply.choices[0].text and reply.model == "gpt-3.5-turbo-instruct-0914"
    texts = []
    stream = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon a time", max_tokens=50,
                                             stream=True, stream_options={"include_usage": True})
    async for chunk in stream:
        texts += [c.text for c in chunk.choices]
        usage = chunk.usage or None
    assert "".join(texts) == reply.choices[0].text and usage.completion_tokens == reply.usage.completion_tokens
    with pytest.raises(openai.NotFoundError):
        await client.completions.create(model="gpt-4o-mini", prompt="x")


async def test_images_generate_edit_and_vary(client, base_url):
    generated = await client.images.generate(model="dall-e-2", prompt="a lighthouse", size="256x256")
    async with httpx2.AsyncClient() as http:
        picture = (await http.get(generated.data[0].url)).content
    assert picture.startswith(b"\x89PNG") and picture[16:24] == b"\x00\x00\x01\x00\x00\x00\x01\x00"
    gpt = await client.images.generate(model="gpt-image-1", prompt="a lighthouse")
    assert gpt.data[0].b64_json and gpt.usage.output_tokens > 0
    edited = await client.images.edit(model="gpt-image-1", prompt="at night",
                                      image=[("a.png", PNG, "image/png"), ("b.png", PNG, "image/png")])
    assert edited.data[0].b64_json
    varied = await client.images.create_variation(image=("a.png", PNG, "image/png"), n=2)
    assert len(varied.data) == 2
    with pytest.raises(openai.BadRequestError) as info:
        await client.images.edit(prompt="x", image=("notes.txt", b"just some text", "text/plain"))
    assert info.value.code == "invalid_image_file" and info.value.param == "image"


async def test_speech_streamed_to_a_file_then_transcribed(client, tmp_path):
    target = tmp_path / "speech.wav"
    async with client.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="coral", input="Hello from the simulator. " * 4,
            response_format="wav") as response:
        assert response.headers["content-type"] == "audio/wav" and "content-length" not in response.headers
        await response.stream_to_file(target)
    data = target.read_bytes()
    assert data[:4] == b"RIFF" and len(data) > 100_000
    with target.open("rb") as audio:
        text = await client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert text.text and text.usage.seconds >= 6
    verbose = await client.audio.transcriptions.create(model="whisper-1", file=("speech.wav", data),
                                                       response_format="verbose_json",
                                                       timestamp_granularities=["word"])
    assert verbose.duration == pytest.approx(len(data) / 48_000, abs=0.01) and verbose.words
    english = await client.audio.translations.create(model="whisper-1", file=("speech.wav", data),
                                                     response_format="text")
    assert isinstance(english, str) and english.strip() == text.text


async def test_a_speech_stream_cut_mid_way(client):
    # A raw (binary) streamed body: the SDK hands the transport's error up as it is.
    with pytest.raises((openai.APIError, httpx2.RemoteProtocolError)):
        async with client.audio.speech.with_streaming_response.create(
                model="tts-1", voice="alloy", input="x" * 2000, **fault("cut_after=2")) as response:
            await response.read()


async def test_upload_limits_and_bad_forms(base_url, client):
    with pytest.raises(openai.APIStatusError) as info:
        await client.audio.transcriptions.create(model="whisper-1", file=("big.wav", b"\0" * (25 * 1024 * 1024 + 1)))
    assert info.value.status_code == 413 and "Maximum content size limit (26214400) exceeded" in info.value.message
    async with httpx2.AsyncClient() as http:
        headers = {"authorization": "Bearer k"}
        broken = await http.post(base_url + "/v1/audio/transcriptions", content=b"--xx\r\nnot a part",
                                 headers={**headers, "content-type": "multipart/form-data; boundary=xx"})
        assert broken.status_code == 400 and "multipart" in broken.json()["error"]["message"]
        as_json = await http.post(base_url + "/v1/audio/transcriptions", json={"model": "whisper-1"}, headers=headers)
        assert as_json.status_code == 400 and "expected multipart/form-data" in as_json.json()["error"]["message"]
    with pytest.raises(openai.BadRequestError) as info:
        await client.audio.transcriptions.create(model="whisper-1", file=("notes.pdf", b"%PDF-1.7"))
    assert "Invalid file format" in info.value.message


async def test_moderations_and_faults(client):
    flagged = await client.moderations.create(input=["I will kill it", "a calm sentence"])
    assert [r.flagged for r in flagged.results] == [True, False] and flagged.results[0].categories.violence
    with pytest.raises(openai.RateLimitError) as info:
        await client.images.generate(prompt="x", **fault("status=429;retry_after=7"))
    assert info.value.response.headers["retry-after"] == "7"
    with pytest.raises(openai.InternalServerError):
        await client.moderations.create(input="x", **fault("status=502"))


async def test_files_and_batches(client):
    lines = [{"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question {i}"}]}}
             for i in range(3)]
    lines.append({"custom_id": "bad", "method": "POST", "url": "/v1/chat/completions",
                  "body": {"model": "gpt-nope", "messages": [{"role": "user", "content": "x"}]}})
    upload = await client.files.create(file=("in.jsonl", "\n".join(map(json.dumps, lines)).encode()), purpose="batch")
    assert upload.purpose == "batch" and upload.bytes > 0 and upload.id.startswith("file-")
    assert (await client.files.retrieve(upload.id)).filename == "in.jsonl"
    assert (await client.files.content(upload.id)).content == "\n".join(map(json.dumps, lines)).encode()
    batch = await client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                        completion_window="24h", metadata={"job": "nightly"})
    assert batch.status == "validating" and batch.metadata == {"job": "nightly"}
    done = await client.batches.retrieve(batch.id)
    assert done.status == "completed" and (done.request_counts.completed, done.request_counts.failed) == (3, 1)
    answers = [json.loads(line) for line in (await client.files.content(done.output_file_id)).text.splitlines()]
    assert [a["custom_id"] for a in answers] == ["q0", "q1", "q2"]
    assert answers[0]["response"]["body"]["object"] == "chat.completion"
    errors = (await client.files.content(done.error_file_id)).text
    assert '"custom_id":"bad"' in errors and "model_not_found" in errors
    assert batch.id in [b.id async for b in client.batches.list()]
    with pytest.raises(openai.APIStatusError):
        await client.batches.cancel(batch.id)  # already completed
    assert (await client.files.delete(upload.id)).deleted
    with pytest.raises(openai.NotFoundError) as info:
        await client.files.retrieve(upload.id)
    assert f"No such File object: {upload.id}" in info.value.message
    with pytest.raises(openai.BadRequestError):
        await client.files.create(file=("in.txt", b"x"), purpose="batch")


async def test_a_batch_in_progress_can_be_cancelled(start_simulator):
    from seawall.simulator.config import SimulatorSettings

    base = await start_simulator(SimulatorSettings(job_duration_s=60))
    async with openai.AsyncOpenAI(base_url=base + "/v1", api_key="k", max_retries=0) as sdk:
        line = {"custom_id": "a", "method": "POST", "url": "/v1/embeddings",
                "body": {"model": "text-embedding-3-small", "input": "hello"}}
        upload = await sdk.files.create(file=("in.jsonl", json.dumps(line).encode()), purpose="batch")
        batch = await sdk.batches.create(input_file_id=upload.id, endpoint="/v1/embeddings", completion_window="24h")
        assert (await sdk.batches.retrieve(batch.id)).status == "in_progress"
        assert (await sdk.batches.cancel(batch.id)).status == "cancelling"
