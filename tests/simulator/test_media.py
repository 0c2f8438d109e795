"""Legacy completions, images, audio and moderations on the simulator, decided without I/O."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest

from seawall.simulator.audio import plan_speech, plan_transcription, render_transcription, speech_chunks, wav_seconds
from seawall.simulator.catalog import Catalog
from seawall.simulator.completions import plan_completion, render_completion
from seawall.simulator.config import DEFAULT_MODELS
from seawall.simulator.dialects import openai as oai
from seawall.simulator.forms import Form, FormFile
from seawall.simulator.images import image_kind, plan_edit, plan_generation, png, render_images
from seawall.simulator.moderations import plan_moderation, render_moderation

CATALOG = Catalog(DEFAULT_MODELS)
SCHEMAS = json.loads((Path(__file__).parent.parent / "data" / "openai_schemas.json").read_text())


def _error(got, status, param=None, fragment=None):
    assert isinstance(got, oai.ApiError), got
    assert got.status == status and (param is None or got.param == param)
    assert fragment is None or fragment in got.message


def test_known_request_fields_match_the_spec():
    from seawall.simulator import audio, completions, images, moderations
    assert set(SCHEMAS["CreateCompletionRequest"]["properties"]) == completions.KNOWN_FIELDS
    assert set(SCHEMAS["CreateImageRequest"]["properties"]) == images.GENERATION_FIELDS
    assert set(SCHEMAS["CreateSpeechRequest"]["properties"]) == audio.SPEECH_FIELDS
    assert set(SCHEMAS["CreateModerationRequest"]["properties"]) == moderations.KNOWN_FIELDS
    assert set(SCHEMAS["CreateTranslationRequest"]["properties"]) == audio.TRANSLATION_FIELDS


COMPLETION_ERRORS = [  # id, body, status, param, fragment
    ("a chat model", {"model": "gpt-4o-mini", "prompt": "x"}, 404, "model", "This is a chat model"),
    ("no prompt", {"model": "davinci-002"}, 400, "prompt", None),
    ("unknown field", {"model": "davinci-002", "prompt": "x", "messages": []}, 400, None, "Unrecognized"),
    ("prompt a number", {"model": "davinci-002", "prompt": 3}, 400, "prompt", None),
    ("context", {"model": "gpt-3.5-turbo-instruct", "prompt": "x", "max_tokens": 5000}, 400, "prompt",
     "maximum context length is 4096"),
]


@pytest.mark.parametrize("body,status,param,fragment", [c[1:] for c in COMPLETION_ERRORS],
                         ids=[c[0] for c in COMPLETION_ERRORS])
def test_completion_errors(body, status, param, fragment):
    _error(plan_completion(body, CATALOG), status, param, fragment)


def test_completions_default_to_16_tokens_and_echo():
    plan = plan_completion({"model": "davinci-002", "prompt": ["a", "b"], "echo": True}, CATALOG, reply_tokens=40)
    assert [(echo, len(pieces), finish) for echo, pieces, finish in plan.choices] == [("a", 16, "length"),
                                                                                       ("b", 16, "length")]
    body = json.loads(render_completion(plan, "cmpl-1", 1))
    assert set(SCHEMAS["CreateCompletionResponse"]["required"]) <= set(body)
    assert body["choices"][0]["text"].startswith("a") and body["usage"]["completion_tokens"] == 32


def test_png_is_a_valid_file_of_the_asked_size():
    data = png(256, 128, (1, 2, 3))
    assert image_kind(data) == "png"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (256, 128)
    idat_length = struct.unpack(">I", data[33:37])[0]
    raw = zlib.decompress(data[41:41 + idat_length])
    assert len(raw) == 128 * (1 + 256 * 3) and raw[1:4] == b"\x01\x02\x03"


@pytest.mark.parametrize("head,kind", [(b"\x89PNG\r\n\x1a\nxxxx", "png"), (b"\xff\xd8\xff\xe0", "jpeg"),
                                       (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"), (b"GIF89a", "gif"),
                                       (b"hello world", None), (b"%PDF-1.7", None)])
def test_image_kind(head, kind):
    assert image_kind(head) == kind


GENERATION_ERRORS = [
    ("no prompt", {}, 400, "prompt", None),
    ("bad size", {"prompt": "x", "size": "100x100"}, 400, "size", "'256x256', '512x512', and '1024x1024'"),
    ("dall-e-3 n=2", {"prompt": "x", "model": "dall-e-3", "n": 2}, 400, "n", None),
    ("n too big", {"prompt": "x", "n": 11}, 400, "n", None),
    ("gpt-image response_format", {"prompt": "x", "model": "gpt-image-1", "response_format": "url"}, 400,
     "response_format", "Unknown parameter"),
    ("long prompt", {"prompt": "x" * 1001}, 400, "prompt", "maximum length 1000"),
    ("a chat model", {"prompt": "x", "model": "gpt-4o"}, 400, "model", None),
]


@pytest.mark.parametrize("body,status,param,fragment", [c[1:] for c in GENERATION_ERRORS],
                         ids=[c[0] for c in GENERATION_ERRORS])
def test_generation_errors(body, status, param, fragment):
    _error(plan_generation(body, CATALOG), status, param, fragment)


def test_generation_replies():
    urls = render_images(plan_generation({"prompt": "a cat", "n": 2}, CATALOG), 5, lambda picture: "http://x/1.png")
    assert urls == {"created": 5, "data": [{"url": "http://x/1.png"}] * 2}
    three = render_images(plan_generation({"prompt": "a cat", "model": "dall-e-3", "response_format": "b64_json"},
                                          CATALOG), 5, None)
    assert three["data"][0]["revised_prompt"] and three["data"][0]["b64_json"]
    gpt = render_images(plan_generation({"prompt": "a cat", "model": "gpt-image-1"}, CATALOG), 5, None)
    assert gpt["usage"]["total_tokens"] > 0 and gpt["size"] == "1024x1024"


def _file(field: str, head: bytes, name: str = "a.png", size: int | None = None) -> FormFile:
    return FormFile(field, name, "image/png", size if size is not None else len(head), head, "ab" * 32)


EDITS = [  # id, fields, files, expected error (status, param, fragment) or None
    ("png for dall-e-2", {"prompt": ["x"]}, {"image": [_file("image", png(8, 8, (0, 0, 0)))]}, None),
    ("no image", {"prompt": ["x"]}, {}, (400, "image", None)),
    ("no prompt", {}, {"image": [_file("image", png(8, 8, (0, 0, 0)))]}, (400, "prompt", None)),
    ("text file", {"prompt": ["x"]}, {"image": [_file("image", b"hello", "a.txt")]}, (400, "image", "Invalid image")),
    ("jpeg to dall-e-2", {"prompt": ["x"]}, {"image": [_file("image", b"\xff\xd8\xff\xe0")]}, (400, "image", "PNG")),
    ("png too large for dall-e-2", {"prompt": ["x"]},
     {"image": [_file("image", png(8, 8, (0, 0, 0)), size=5 << 20)]}, (400, "image", "less than 4 MB")),
    ("jpegs to gpt-image-1", {"prompt": ["x"], "model": ["gpt-image-1"]},
     {"image[]": [_file("image[]", b"\xff\xd8\xff\xe0"), _file("image[]", b"RIFF\0\0\0\0WEBP")]}, None),
    ("second image not one", {"prompt": ["x"], "model": ["gpt-image-1"]},
     {"image[]": [_file("image[]", b"\xff\xd8\xff\xe0"), _file("image[]", b"%PDF")]},
     (400, "image", "for image 2")),
    ("a mask that is not a png", {"prompt": ["x"]},
     {"image": [_file("image", png(8, 8, (0, 0, 0)))], "mask": [_file("mask", b"GIF89a")]}, (400, "mask", None)),
]


@pytest.mark.parametrize("fields,files,expected", [c[1:] for c in EDITS], ids=[c[0] for c in EDITS])
def test_edits(fields, files, expected):
    got = plan_edit(Form(fields, files), CATALOG)
    if expected is None:
        assert not isinstance(got, oai.ApiError), got
    else:
        _error(got, *expected)


def test_speech_wav_is_valid_and_lasts_as_long_as_the_text():
    plan = plan_speech({"model": "tts-1", "input": "x" * 150, "voice": "alloy", "response_format": "wav"}, CATALOG)
    data = b"".join(speech_chunks(plan))
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    assert wav_seconds(data[:64]) == pytest.approx(10.0)
    mp3 = b"".join(speech_chunks(plan_speech({"model": "tts-1", "input": "hi", "voice": "nova"}, CATALOG)))
    assert mp3[:2] == b"\xff\xfb" and len(mp3) % 417 == 0


SPEECH_ERRORS = [
    ("no voice", {"model": "tts-1", "input": "x"}, 400, "voice"),
    ("bad voice", {"model": "tts-1", "input": "x", "voice": "bob"}, 400, "voice"),
    ("bad format", {"model": "tts-1", "input": "x", "voice": "alloy", "response_format": "ogg"}, 400,
     "response_format"),
    ("too long", {"model": "tts-1", "input": "x" * 4097, "voice": "alloy"}, 400, "input"),
    ("speed", {"model": "tts-1", "input": "x", "voice": "alloy", "speed": 5}, 400, "speed"),
    ("instructions on tts-1", {"model": "tts-1", "input": "x", "voice": "alloy", "instructions": "calm"}, 400,
     "instructions"),
    ("a chat model", {"model": "gpt-4o", "input": "x", "voice": "alloy"}, 404, None),
]


@pytest.mark.parametrize("body,status,param", [c[1:] for c in SPEECH_ERRORS], ids=[c[0] for c in SPEECH_ERRORS])
def test_speech_errors(body, status, param):
    _error(plan_speech(body, CATALOG), status, param)


def _audio_form(fields: dict, name: str = "a.wav", head: bytes = b"", size: int = 32_000) -> Form:
    return Form({k: [v] for k, v in fields.items()}, {"file": [FormFile("file", name, "audio/wav", size, head,
                                                                          "0123456789abcdef" * 4)]})


def test_transcription_formats():
    wav = b"".join(speech_chunks(plan_speech({"model": "tts-1", "input": "x" * 45, "voice": "alloy",
                                              "response_format": "wav"}, CATALOG)))
    plan = plan_transcription(_audio_form({"model": "whisper-1", "response_format": "verbose_json"}, head=wav[:4096],
                                          size=len(wav)), CATALOG, "transcribe")
    assert plan.seconds == pytest.approx(3.0)
    body, ctype = render_transcription(plan)
    verbose = json.loads(body)
    assert ctype == b"application/json" and set(SCHEMAS["CreateTranscriptionResponseVerboseJson"]["required"]) <= \
        set(verbose)
    text, ctype = render_transcription(plan_transcription(_audio_form({"model": "whisper-1", "response_format":
                                                                       "text"}), CATALOG, "transcribe"))
    assert ctype.startswith(b"text/plain") and text.endswith(b"\n")
    srt, _ = render_transcription(plan_transcription(_audio_form({"model": "whisper-1", "response_format": "srt"}),
                                                     CATALOG, "translate"))
    assert srt.startswith(b"1\n00:00:00,000 --> 00:00:02,000\n")


TRANSCRIPTION_ERRORS = [
    ("not audio", {"model": "whisper-1"}, "notes.txt", 400, "file", "Invalid file format."),
    ("no model", {}, "a.wav", 400, "model", None),
    ("verbose on gpt-4o-transcribe", {"model": "gpt-4o-transcribe", "response_format": "verbose_json"}, "a.mp3", 400,
     "response_format", None),
    ("unknown field", {"model": "whisper-1", "colour": "red"}, "a.wav", 400, None, "Unrecognized"),
]


@pytest.mark.parametrize("fields,name,status,param,fragment", [c[1:] for c in TRANSCRIPTION_ERRORS],
                         ids=[c[0] for c in TRANSCRIPTION_ERRORS])
def test_transcription_errors(fields, name, status, param, fragment):
    _error(plan_transcription(_audio_form(fields, name), CATALOG, "transcribe"), status, param, fragment)


def test_moderation_flags_trigger_words():
    plan = plan_moderation({"input": ["I will kill it", "What a nice day"]}, CATALOG)
    body = json.loads(render_moderation(plan))
    assert set(SCHEMAS["CreateModerationResponse"]["required"]) <= set(body)
    assert [r["flagged"] for r in body["results"]] == [True, False]
    assert body["results"][0]["categories"]["violence"] and body["model"] == "omni-moderation-2024-09-26"
    parts = [{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": "u"}}]
    image = plan_moderation({"input": parts}, CATALOG)
    applied = json.loads(render_moderation(image))["results"][0]["category_applied_input_types"]
    assert applied["violence"] == ["text", "image"] and applied["hate"] == ["text"]
    _error(plan_moderation({"input": 5}, CATALOG), 400)
    _error(plan_moderation({"input": "x", "model": "gpt-4o"}, CATALOG), 404)
