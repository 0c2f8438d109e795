"""The rest of OpenAI's API through the gateway with the official openai SDK: legacy completions,
moderations, images, audio, each passed through to an OpenAI-compatible deployment (the simulator),
logged, priced and refused with a reason where no deployment can serve it."""

import base64
import hashlib
import io
import json
import time
import uuid
import wave

import httpx2
import openai
import pytest
from conftest import http, own_stack

from seawall.simulator.images import png


def config(port: int) -> str:
    def model(name: str, provider: str = "openai", upstream: str | None = None, base: str = "/v1") -> str:
        return (f"  - name: {name}\n    deployments:\n      - provider: {provider}\n"
                f"        base_url: http://127.0.0.1:{port}{base}\n        model: {upstream or name}\n"
                f"        api_key_env: SIM_KEY\n        timeouts: {{connect_s: 2, read_s: 10}}\n"
                f"        circuit: {{failures_to_open: 1000, take_out_refused: false}}\n")

    return ("request_log:\n  flush_interval_s: 0.1\nmodels:\n"
            + model("gpt-3.5-turbo-instruct") + model("omni-moderation-latest") + model("dall-e-2")
            + model("dall-e-3") + model("gpt-image-1") + model("tts-1") + model("gpt-4o-mini-tts") + model("whisper-1")
            + model("images-by-another-name", upstream="dall-e-3")
            + model("claude-sonnet-4-5", "anthropic")
            + model("imagen-4.0-generate-001", "gemini", base="/v1beta"))


upstream, gw, sim, client = own_stack("endpoints", config)


def seen(sim, path: str) -> list[dict]:
    return [r for r in json.loads(http("GET", sim.url + "/_sim/requests")[2])["requests"] if r["path"] == path]


def test_legacy_completions(gw, sim, client):
    reply = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon a time", max_tokens=20)
    assert reply.object == "text_completion" and reply.choices[0].text
    row = gw.log_row(reply._request_id)
    assert row["operation"] == "completions" and row["prompt_tokens"] == reply.usage.prompt_tokens
    assert row["cost_usd"] > 0


def test_legacy_completions_streamed(gw, sim, client):
    stream = client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Once upon a time", stream=True,
                                       max_tokens=20)
    text = "".join(chunk.choices[0].text for chunk in stream if chunk.choices)
    assert text
    sent = json.loads(seen(sim, "/v1/completions")[0]["body"])
    assert sent["stream_options"] == {"include_usage": True}  # asked for, so usage settles exactly


def test_a_model_no_openai_compatible_deployment_serves_is_refused_naming_why(gw, sim, client):
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="claude-sonnet-4-5", prompt="hi")
    assert e.value.body["code"] == "endpoint_not_served"
    assert "POST /v1/completions" in e.value.message and "anthropic" in e.value.message
    assert seen(sim, "/v1/messages") == []


def test_moderations_with_and_without_a_model(gw, sim, client):
    flagged = client.moderations.create(model="omni-moderation-latest", input="I will kill the process")
    assert flagged.results[0].flagged and flagged.results[0].categories.violence
    default = client.moderations.create(input="a calm sentence")  # OpenAI's default model routes it
    assert not default.results[0].flagged
    assert json.loads(seen(sim, "/v1/moderations")[-1]["body"])["model"] == "omni-moderation-latest"


def test_images_generate_under_the_deployments_own_model_name(gw, sim, client):
    reply = client.images.generate(model="images-by-another-name", prompt="a lighthouse", size="1024x1024",
                                   response_format="b64_json")
    assert len(reply.data) == 1 and reply.data[0].b64_json
    assert json.loads(seen(sim, "/v1/images/generations")[0]["body"])["model"] == "dall-e-3"


def test_images_generated_by_imagen_on_a_gemini_deployment(gw, sim, client):
    reply = client.images.generate(model="imagen-4.0-generate-001", prompt="a lighthouse at dusk", n=2,
                                   size="1792x1024")
    assert len(reply.data) == 2 and all(base64.b64decode(d.b64_json).startswith(b"\x89PNG") for d in reply.data)
    sent = seen(sim, "/v1beta/models/imagen-4.0-generate-001:predict")
    assert json.loads(sent[0]["body"]) == {"instances": [{"prompt": "a lighthouse at dusk"}],
                                           "parameters": {"sampleCount": 2, "aspectRatio": "16:9"}}
    assert sent[0]["headers"]["x-goog-api-key"] == "sk-sim-upstream"
    assert gw.log_row(reply._request_id)["cost_usd"] == pytest.approx(2 * 0.04)


def test_what_imagen_cannot_do_is_named_and_nothing_is_sent(gw, sim, client):
    for extra, param in (({"response_format": "url"}, "response_format"), ({"style": "vivid"}, "style"),
                         ({"n": 6}, "n")):
        with pytest.raises(openai.BadRequestError) as e:
            client.images.generate(model="imagen-4.0-generate-001", prompt="a cat", **extra)
        assert e.value.body["param"] == param and e.value.body["code"] == "unsupported_parameter"
    assert seen(sim, "/v1beta/models/imagen-4.0-generate-001:predict") == []


# -- audio and uploads ----------------------------------------------------------------------------------

def wav(seconds: float, rate: int = 16_000) -> bytes:
    frames = io.BytesIO()
    with wave.open(frames, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(int(seconds * rate) * 2))
    return frames.getvalue()


PNG = png(64, 64, (200, 30, 30))


def test_speech_streamed_to_a_file_and_priced_per_character(gw, sim, client, tmp_path):
    text = "The quick brown fox jumps over the lazy dog. " * 20
    target = tmp_path / "speech.wav"
    with client.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input=text,
                                                            response_format="wav") as reply:
        assert reply.headers["content-type"] == "audio/wav"
        reply.stream_to_file(target)
        request_id = reply.headers["x-request-id"]
    with wave.open(str(target)) as w:  # a whole WAV: its frames all arrived
        assert w.getnframes() > 0
    row = gw.log_row(request_id)
    assert row["operation"] == "speech" and row["streamed"] and row["stream_end"] == "completed"
    assert row["cost_usd"] == pytest.approx(len(text) * 15 / 1e6)


def test_speech_cut_mid_way_is_cut_for_the_client_too(gw, sim, client, tmp_path):
    sim.set_faults([{"match": {"model": "tts-1"}, "fault": "cut_after=3"}])
    with pytest.raises(httpx2.RemoteProtocolError, match="incomplete"):
        with client.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input="Hello " * 400,
                                                                response_format="mp3") as reply:
            reply.stream_to_file(tmp_path / "cut.mp3")  # never a short file passed as whole


def test_a_transcription_upload_reaches_the_upstream_byte_for_byte(gw, sim, client):
    audio = wav(3.0)
    reply = client.audio.transcriptions.create(model="whisper-1", file=("hello.wav", audio, "audio/wav"))
    assert reply.text
    sent = seen(sim, "/v1/audio/transcriptions")[0]
    assert sent["headers"]["authorization"] == "Bearer sk-sim-upstream"
    assert sent["headers"]["content-type"].startswith("multipart/form-data; boundary=")
    assert sent["body_bytes"] > len(audio) and hashlib.sha256(audio).hexdigest() != sent["body_sha256"]
    assert base64.b64decode(sent["body_b64"]).find(audio[:4096]) > 0  # the file, unchanged, in the form
    row = gw.log_row(reply._request_id)
    assert row["operation"] == "transcriptions" and row["cost_usd"] == pytest.approx(3 * 0.0001)


def test_a_translation_and_a_text_transcript(gw, sim, client):
    text = client.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav(1.0)), response_format="srt")
    assert "-->" in text
    translated = client.audio.translations.create(model="whisper-1", file=("b.wav", wav(1.0)))
    assert translated.text


def test_image_edit_and_variation(gw, sim, client):
    edited = client.images.edit(model="dall-e-2", image=("in.png", PNG, "image/png"), prompt="add a hat",
                                response_format="b64_json", size="256x256")
    assert edited.data[0].b64_json
    assert gw.log_row(edited._request_id)["cost_usd"] == pytest.approx(0.016)
    varied = client.images.create_variation(image=("in.png", PNG, "image/png"), n=2, size="512x512")
    assert len(varied.data) == 2
    assert gw.log_row(varied._request_id)["cost_usd"] == pytest.approx(2 * 0.018)


def raw_upload(gw, path: str, body: bytes, content_type: str) -> tuple[int, dict]:
    status, _, reply = http("POST", gw.url + path, body, {"authorization": f"Bearer {gw.key}",
                                                              "content-type": content_type})
    return status, json.loads(reply)["error"]


def form(*parts: tuple[str, str | None, bytes]) -> tuple[bytes, str]:
    out = b"".join(b'--B\r\nContent-Disposition: form-data; name="%s"%s\r\n\r\n%s\r\n'
                   % (name.encode(), b'; filename="%s"' % filename.encode() if filename else b"", value)
                   for name, filename, value in parts)
    return out + b"--B--\r\n", "multipart/form-data; boundary=B"


@pytest.mark.parametrize("path, parts, status, code, param", [
    ("/v1/audio/transcriptions", [("model", None, b"whisper-1")], 400, "missing_part", "file"),
    ("/v1/images/edits", [("prompt", None, b"a hat"), ("image", "x.png", b"%PDF-1.7 not an image at all")],
     400, "not_an_image", "image"),
    ("/v1/images/variations", [("model", None, b"dall-e-2")], 400, "missing_part", "image"),
])
def test_bad_uploads_are_named_and_nothing_is_sent(gw, sim, path, parts, status, code, param):
    body, ctype = form(*parts)
    got, err = raw_upload(gw, path, body, ctype)
    assert (got, err["code"], err["param"]) == (status, code, param) and err["request_id"]
    assert seen(sim, path) == []


def test_a_malformed_or_mislabelled_body(gw, sim):
    got, err = raw_upload(gw, "/v1/audio/transcriptions", b"--B\r\nnot a part header\r\n", "multipart/form-data; "
                                                                                          "boundary=B")
    assert (got, err["code"]) == (400, "multipart_malformed")
    got, err = raw_upload(gw, "/v1/audio/transcriptions", b'{"model": "whisper-1"}', "application/json")
    assert (got, err["code"]) == (415, "not_multipart") and "multipart/form-data" in err["message"]
    assert seen(sim, "/v1/audio/transcriptions") == []


def test_an_audio_file_over_25_mb_is_refused_naming_the_part(gw, sim, client):
    with pytest.raises(openai.APIStatusError) as e:
        client.audio.transcriptions.create(model="whisper-1", file=("big.wav", wav(1.0) + bytes(25 * 1024 * 1024)))
    assert e.value.status_code == 413 and e.value.body["code"] == "part_too_large" and e.value.body["param"] == "file"
    assert all(r["outcome"] != "ok" for r in seen(sim, "/v1/audio/transcriptions"))  # never a whole request


# -- quotas ------------------------------------------------------------------------------------------------

def key_with(gw, **fields) -> openai.OpenAI:
    status, _, body = http("POST", gw.url + "/admin/keys", {"name": f"quota-{uuid.uuid4().hex[:10]}", **fields},
                           {"authorization": f"Bearer {gw.admin_key}"})
    assert status == 201, body
    return openai.OpenAI(base_url=gw.base_url, api_key=json.loads(body)["key"], max_retries=0)


def test_a_usd_quota_is_charged_per_image_and_refuses_once_spent(gw, sim):
    limited = key_with(gw, quota_usd=0.05)
    limited.images.generate(model="dall-e-3", prompt="a boat", size="1024x1024")  # $0.04
    with pytest.raises(openai.RateLimitError) as e:
        limited.images.generate(model="dall-e-3", prompt="a boat", size="1024x1024")
    assert e.value.body["code"] == "insufficient_quota" and "$0.0400 of $0.0500" in e.value.message
    assert len(seen(sim, "/v1/images/generations")) == 1


def test_a_usd_quota_key_and_a_model_without_a_price(gw, sim):
    with pytest.raises(openai.BadRequestError) as e:  # billed by audio tokens its reply doesn't report
        key_with(gw, quota_usd=1).audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input="hi")
    assert e.value.body["code"] == "quota_price_unknown"
    assert seen(sim, "/v1/audio/speech") == []


def test_a_keys_own_body_limit_bounds_its_uploads(gw, sim):
    limited = key_with(gw, max_body_bytes=100_000)
    with pytest.raises(openai.APIStatusError) as e:
        limited.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav(10.0)))  # 320 kB
    assert e.value.status_code == 413 and e.value.body["code"] == "key_body_too_large"
    assert "max_body_bytes of the key" in e.value.message
    assert limited.audio.transcriptions.create(model="whisper-1", file=("a.wav", wav(1.0))).text  # 32 kB


def test_a_client_that_leaves_while_its_upload_is_transcribed_is_noticed(gw, sim):
    sim.set_faults([{"match": {"model": "whisper-1"}, "fault": "latency_ms=3000"}])
    body, ctype = form(("model", None, b"whisper-1"), ("file", "a.wav", wav(1.0)))
    with pytest.raises(OSError):  # the client gives up after half a second
        http("POST", gw.url + "/v1/audio/transcriptions", body,
             {"authorization": f"Bearer {gw.key}", "content-type": ctype}, timeout=0.5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        rows = [r for r in gw.logs() if r["path"] == "/v1/audio/transcriptions" and r["status"] == 499]
        if rows:
            break
        time.sleep(0.2)
    assert rows and rows[-1]["latency_ms"] < 2500  # the upstream call was dropped, not waited for
