"""Issue #18's "done when", against the embedded default (`seawall serve` with no config, as a
fresh install starts it): every call of the official openai SDK below answers, through the same
gateway and demo key, the simulator playing OpenAI, Anthropic and Gemini behind it."""

import base64
import io
import json
import wave

import pytest
from conftest import start_embedded

from seawall.simulator.images import png

TOOLS = [{"type": "function", "name": "get_weather", "description": "The weather in a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    gw = start_embedded(tmp_path_factory, name="embedded-openai-api")
    yield gw
    gw.proc.stop()


@pytest.fixture
def client(embedded):
    from openai import OpenAI

    with OpenAI(base_url=embedded.base_url, api_key=embedded.key, max_retries=0, timeout=30) as c:
        yield c


def wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(bytes(int(seconds * 16_000) * 2))
    return out.getvalue()


# OpenAI's own (passed through), Anthropic's and Gemini's (translated)
@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-sonnet-5-5", "gemini-2.5-flash"])
def test_responses_plain_streamed_tools_and_continued(client, model):
    plain = client.responses.create(model=model, input="Say hello")
    assert plain.status == "completed" and plain.output_text
    with client.responses.stream(model=model, input="Tell me a story") as stream:
        assert [e.type for e in stream][-1] == "response.completed"
        assert stream.get_final_response().output_text
    called = client.responses.create(model=model, input="What's the weather in Oslo?", tools=TOOLS,
                                     tool_choice="required")
    call = next(item for item in called.output if item.type == "function_call")
    answered = client.responses.create(model=model, previous_response_id=called.id, tools=TOOLS, input=[
        {"type": "function_call_output", "call_id": call.call_id, "output": json.dumps({"sky": "clear"})}])
    assert answered.output_text and answered.previous_response_id == called.id


def test_legacy_completions(client):
    assert client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon a time").choices[0].text


@pytest.mark.parametrize("model", ["dall-e-3", "imagen-4.0-generate-001"])
def test_images_generate(client, model):
    made = client.images.generate(model=model, prompt="a lighthouse", response_format="b64_json")
    assert base64.b64decode(made.data[0].b64_json).startswith(b"\x89PNG")


def test_images_edit(client):
    edited = client.images.edit(model="dall-e-2", image=("in.png", png(64, 64, (0, 90, 200)), "image/png"),
                                prompt="add a moon", size="256x256")
    assert edited.data[0].url or edited.data[0].b64_json


def test_speech_streamed_to_a_file_then_transcribed(client, tmp_path):
    target = tmp_path / "hello.wav"
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input="Hello there",
                                                            response_format="wav") as reply:
        reply.stream_to_file(target)
    with wave.open(str(target)) as w:
        assert w.getnframes() > 0
    heard = client.audio.transcriptions.create(model="whisper-1", file=("hello.wav", target.read_bytes()))
    assert heard.text
    assert client.audio.transcriptions.create(model="whisper-1", file=("silence.wav", wav(2.0))).text


def test_moderations(client):
    assert client.moderations.create(input="I will kill the process").results[0].flagged


def test_a_file_upload_and_a_batch_through_the_pass_through(client):
    line = {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}}
    uploaded = client.files.create(file=("in.jsonl", json.dumps(line).encode() + b"\n"), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.input_file_id == uploaded.id and batch.status in ("validating", "in_progress", "completed")
