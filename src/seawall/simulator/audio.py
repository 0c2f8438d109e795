"""Audio: speech (text in, audio bytes out, produced chunk by chunk) and transcriptions and
translations (an uploaded file in, text out), validated like OpenAI (pure).

Speech lasts as long as its text takes to say (about 15 characters a second at speed 1.0) and
is a quiet tone: ``wav`` a RIFF header and 16-bit PCM at 24 kHz (what OpenAI sends), ``pcm``
the same samples raw, ``mp3`` MPEG-1 Layer III frames (valid headers, silent payload), and
``opus``/``aac``/``flac`` their containers' signatures before silent bytes: real enough for a
gateway relaying bytes, playable for wav and pcm. A transcription's length follows the file
(a WAV's header says its duration; other formats count 16 kB a second), its text the file's
digest, so the same upload gets the same words.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import orjson

from seawall.simulator.catalog import Catalog
from seawall.simulator.config import ModelSpec
from seawall.simulator.dialects import openai as oai
from seawall.simulator.forms import Form, FormFile
from seawall.simulator.text import compose, count_tokens

SPEECH_FIELDS = frozenset({"model", "input", "voice", "instructions", "response_format", "speed", "stream_format"})
VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin",
          "cedar")
SPEECH_FORMATS = {"mp3": b"audio/mpeg", "opus": b"audio/opus", "aac": b"audio/aac", "flac": b"audio/flac",
                  "wav": b"audio/wav", "pcm": b"audio/pcm"}
MAX_SPEECH_INPUT = 4096
CHARS_PER_SECOND = 15.0
SAMPLE_RATE = 24_000
CHUNK_BYTES = 8192  # what a speech reply is sent in, chunk by chunk
_MP3_FRAME = b"\xff\xfb\x90\x64" + bytes(413)  # MPEG-1 L3, 128 kbit/s, 44.1 kHz: 417-byte frames
_MP3_FRAMES_PER_SECOND = 44_100 / 1152
_SIGNATURES = {"opus": b"OggS\x00\x02" + bytes(20) + b"OpusHead", "aac": b"\xff\xf1\x50\x80\x02\x1f\xfc",
               "flac": b"fLaC\x00\x00\x00\x22"}

TRANSCRIPTION_FIELDS = frozenset({"file", "model", "language", "prompt", "response_format", "temperature",
                                  "timestamp_granularities[]", "include[]", "chunking_strategy", "stream"})
TRANSLATION_FIELDS = frozenset({"file", "model", "prompt", "response_format", "temperature"})
TEXT_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
AUDIO_EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")
MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # OpenAI's limit for audio uploads


@dataclass(frozen=True, slots=True)
class SpeechPlan:
    model: ModelSpec
    format: str
    seconds: float
    characters: int


@dataclass(frozen=True, slots=True)
class TranscriptionPlan:
    model: ModelSpec
    task: str  # transcribe | translate
    format: str
    seconds: float
    language: str
    words: tuple[str, ...]
    word_timestamps: bool

    @property
    def text(self) -> str:
        return "".join(self.words).strip()


def plan_speech(body: Any, catalog: Catalog) -> SpeechPlan | oai.ApiError:
    model_name = oai.check_request(body, SPEECH_FIELDS, "input")
    if isinstance(model_name, oai.ApiError):
        return model_name
    text = body["input"]
    if not isinstance(text, str):
        return oai.invalid_type("input", "a string", text)
    if len(text) > MAX_SPEECH_INPUT:
        return oai.ApiError(400, f"Invalid 'input': string too long. Expected a string with maximum length "
                                 f"{MAX_SPEECH_INPUT}, but got a string with length {len(text)} instead.",
                            param="input", code="string_above_max_length")
    if "voice" not in body:
        return oai.missing_parameter("voice")
    voice = body["voice"]
    if not (voice in VOICES or (isinstance(voice, dict) and isinstance(voice.get("id"), str))):
        return oai.invalid_value("voice", voice, VOICES)
    spec = catalog.find(model_name)
    if spec is None or spec.kind != "speech":
        return oai.model_not_found(model_name)
    fmt = body.get("response_format") or "mp3"
    if fmt not in SPEECH_FORMATS:
        return oai.invalid_value("response_format", fmt, tuple(SPEECH_FORMATS))
    speed = body.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4.0:
        return oai.ApiError(400, f"Invalid 'speed': expected a number between 0.25 and 4.0, got {speed!r}.",
                            param="speed", code="invalid_value")
    if body.get("instructions") is not None and spec.id in ("tts-1", "tts-1-hd"):  # [unverified wording]
        return oai.ApiError(400, "Instructions are not supported with this model.", param="instructions")
    if body.get("stream_format") not in (None, "audio", "sse"):
        return oai.invalid_value("stream_format", body["stream_format"], ("sse", "audio"))
    if body.get("stream_format") == "sse":  # [unverified wording]
        return oai.ApiError(400, "The simulator plays stream_format 'audio' only.", param="stream_format")
    seconds = max(0.5, len(text) / CHARS_PER_SECOND / speed)
    return SpeechPlan(spec, fmt, seconds, len(text))


def _tone(seconds: float) -> bytes:
    """16-bit mono PCM at 24 kHz: a quiet 440 Hz tone (one period repeated)."""
    period = [int(800 * math.sin(2 * math.pi * i * 440 / SAMPLE_RATE)) for i in range(SAMPLE_RATE // 440 * 1)]
    samples = int(seconds * SAMPLE_RATE)
    one = struct.pack(f"<{len(period)}h", *period)
    return (one * (samples // len(period) + 1))[:samples * 2]


def speech_chunks(plan: SpeechPlan) -> list[bytes]:
    """The audio file, in the pieces it is sent in."""
    if plan.format in ("wav", "pcm"):
        pcm = _tone(plan.seconds)
        fmt = struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)  # PCM, mono, 16-bit
        header = b"" if plan.format == "pcm" else (
            b"RIFF" + struct.pack("<I", 36 + len(pcm)) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", len(pcm)))
        data = header + pcm
    elif plan.format == "mp3":
        data = _MP3_FRAME * max(1, int(plan.seconds * _MP3_FRAMES_PER_SECOND))
    else:
        data = _SIGNATURES[plan.format] + bytes(int(plan.seconds * 4000))
    return [data[i:i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]


def wav_seconds(head: bytes) -> float | None:
    """A WAV file's duration from its header (the fmt and data chunks), None if it is not one."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    at, byte_rate = 12, 0
    while at + 8 <= len(head):
        kind, size = head[at:at + 4], struct.unpack("<I", head[at + 4:at + 8])[0]
        if kind == b"fmt " and at + 20 <= len(head):
            byte_rate = struct.unpack("<I", head[at + 16:at + 20])[0]
        if kind == b"data":
            return size / byte_rate if byte_rate else None
        at += 8 + size + (size & 1)
    return None


def _duration(upload: FormFile) -> float:
    return round(wav_seconds(upload.head) or upload.size / 16_000, 2)


def plan_transcription(form: Form, catalog: Catalog, task: str) -> TranscriptionPlan | oai.ApiError:
    known = TRANSCRIPTION_FIELDS if task == "transcribe" else TRANSLATION_FIELDS
    for name in form.names():
        if name not in known:
            return oai.unrecognized_argument(name)
    upload = form.file("file")
    if upload is None:
        return oai.missing_parameter("file")
    model_name = form.text("model")
    if model_name is None:
        return oai.missing_parameter("model")
    spec = catalog.find(model_name)
    if spec is None or spec.kind != "transcription" or (task == "translate" and spec.id != "whisper-1"):
        return oai.model_not_found(model_name)
    extension = (upload.filename or "").rpartition(".")[2].lower()
    if extension not in AUDIO_EXTENSIONS:  # [rec]
        listed = ", ".join(f"'{e}'" for e in AUDIO_EXTENSIONS)
        return oai.ApiError(400, f"Invalid file format. Supported formats: [{listed}]", param="file")
    fmt = form.text("response_format") or "json"
    if fmt not in TEXT_FORMATS:
        return oai.invalid_value("response_format", fmt, TEXT_FORMATS)
    if spec.id != "whisper-1" and fmt not in ("json", "text"):  # [unverified wording]
        return oai.ApiError(400, f"response_format '{fmt}' is not compatible with model '{spec.id}'. Use 'json' or "
                                 "'text'.", param="response_format", code="unsupported_value")
    if form.text("stream") == "true":  # [unverified wording]
        return oai.ApiError(400, "The simulator does not stream transcriptions.", param="stream")
    seconds = _duration(upload)
    words = compose(int(upload.sha256[:16], 16), max(1, int(seconds * 2.5)))
    language = "english" if task == "translate" else {"de": "german", "fr": "french", "es": "spanish"}.get(
        form.text("language") or "en", "english")
    return TranscriptionPlan(spec, task, fmt, seconds, language, words,
                             "word" in form.fields.get("timestamp_granularities[]", ()))


def _timestamp(seconds: float, comma: bool) -> str:
    ms = int(round(seconds * 1000))
    text = f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"
    return text.replace(".", ",") if comma else text


def render_transcription(plan: TranscriptionPlan) -> tuple[bytes, bytes]:
    """(body, content type) in the asked format."""
    text = plan.text
    if plan.format == "text":
        return (text + "\n").encode(), b"text/plain; charset=utf-8"
    if plan.format in ("srt", "vtt"):
        start, end = _timestamp(0, plan.format == "srt"), _timestamp(plan.seconds, plan.format == "srt")
        cue = f"{start} --> {end}\n{text}\n\n"
        cue = f"1\n{cue}" if plan.format == "srt" else f"WEBVTT\n\n{cue}"
        return cue.encode(), b"text/plain; charset=utf-8"
    tokens = count_tokens(text)
    usage: dict = {"type": "duration", "seconds": math.ceil(plan.seconds)} if plan.model.id == "whisper-1" else {
        "type": "tokens", "input_tokens": int(plan.seconds * 10), "output_tokens": tokens,
        "total_tokens": int(plan.seconds * 10) + tokens,
        "input_token_details": {"text_tokens": 0, "audio_tokens": int(plan.seconds * 10)}}
    if plan.format == "json":
        body: dict = {"text": text} if plan.task == "translate" else {"text": text, "usage": usage}
        return orjson.dumps(body), b"application/json"
    segment = {"id": 0, "seek": 0, "start": 0.0, "end": plan.seconds, "text": text, "tokens": list(range(tokens)),
               "temperature": 0.0, "avg_logprob": -0.25, "compression_ratio": 1.2, "no_speech_prob": 0.01}
    body = {"task": plan.task, "language": plan.language, "duration": plan.seconds, "text": text,
            "segments": [segment]}
    if plan.word_timestamps:
        step = plan.seconds / max(1, len(plan.words))
        body["words"] = [{"word": w.strip(), "start": round(i * step, 2), "end": round((i + 1) * step, 2)}
                         for i, w in enumerate(plan.words) if w.strip()]
    if plan.task == "transcribe":
        body["usage"] = usage
    return orjson.dumps(body), b"application/json"
