"""Uploads checked as they stream through the gateway (pipeline/multipart.py), on real
multipart bodies built by the openai SDK's own encoder and by httpx."""

from __future__ import annotations

import random
import tracemalloc

import httpx2
import openai
import pytest

from seawall.errors import SeawallError
from seawall.pipeline.ingress import ClientGone
from seawall.pipeline.multipart import MultipartReader, Upload, UploadRules, image_kind, splice

MB = 1024 * 1024
AUDIO = UploadRules("POST /v1/audio/transcriptions", ("file", "model"), 25 * MB, 26 * MB)
EDITS = UploadRules("POST /v1/images/edits", ("prompt",), 50 * MB, 200 * MB, images=frozenset({"image", "image[]",
                                                                                                "mask"}))
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(200)


def sdk_body(call) -> tuple[bytes, str]:
    """The body and Content-Type the official SDK sends for `call(client)`."""
    seen = {}

    def handler(request):
        seen["body"], seen["type"] = request.read(), request.headers["content-type"]
        return httpx2.Response(200, json={"text": "", "created": 0, "data": []})

    client = openai.OpenAI(api_key="k", base_url="http://up/v1", max_retries=0,
                           http_client=httpx2.Client(transport=httpx2.MockTransport(handler)))
    call(client)
    return seen["body"], seen["type"]


def transcription(audio: bytes = WAV, **extra) -> tuple[bytes, str]:
    return sdk_body(lambda c: c.audio.transcriptions.create(model="whisper-1", file=("speech.wav", audio, "audio/wav"),
                                                            language="en", **extra))


def receiver(body: bytes, step: int | None = None, seed: int = 1):
    """An ASGI receive that delivers `body` in pieces (random sizes unless `step`)."""
    rng = random.Random(seed)
    pieces, at = [], 0
    while at < len(body):
        size = step or rng.randint(1, 4096)
        pieces.append(body[at:at + size])
        at += size

    async def receive():
        chunk = pieces.pop(0) if pieces else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(pieces)}
    return receive


async def forward(body: bytes, ctype: str, rules=AUDIO, replace=None, step=None, declared=True):
    upload = Upload(receiver(body, step), ctype, str(len(body)) if declared else None, rules)
    fields = await upload.head()
    out = b"".join([chunk async for chunk in upload.body(replace)])
    return fields, out, upload


@pytest.mark.parametrize("step", [None, 1, 7, 65536])
async def test_forwarded_byte_for_byte_while_parts_are_read(step):
    body, ctype = transcription()
    fields, out, upload = await forward(body, ctype, step=step)
    assert out == body and fields == {"model": "whisper-1"}
    summary = upload.reader.finish()
    assert summary.fields == {"model": "whisper-1", "language": "en"}
    (audio,) = summary.files
    assert (audio.name, audio.filename, audio.content_type, audio.size) == ("file", "speech.wav", "audio/wav",
                                                                            len(WAV))
    assert upload.content_length() == len(body)


async def test_the_model_field_rewritten_and_the_length_with_it():
    body, ctype = transcription()
    _, out, upload = await forward(body, ctype, replace={"model": "whisper-large-v3"}, step=5)
    assert out == body.replace(b"\r\n\r\nwhisper-1\r\n", b"\r\n\r\nwhisper-large-v3\r\n")
    assert upload.content_length({"model": "whisper-large-v3"}) == len(out)
    again = MultipartReader(ctype, AUDIO)
    again.feed(out)
    assert again.finish().fields["model"] == "whisper-large-v3"


async def test_routing_fields_after_the_file_are_waited_for():
    body = httpx2.Request("POST", "http://x", files=[("file", ("a.mp3", b"\xff\xfb" * 5000, "audio/mpeg"))],
                          data={"model": "whisper-1"})
    raw = body.read()
    ctype = body.headers["content-type"]
    reordered = _reorder_model_last(raw, ctype)
    assert reordered.index(b'name="file"') < reordered.index(b'name="model"') and len(reordered) == len(raw)
    fields, out, _ = await forward(reordered, ctype, step=1000)
    assert fields == {"model": "whisper-1"} and out == reordered


def _reorder_model_last(raw: bytes, ctype: str) -> bytes:
    boundary = b"--" + ctype.split("boundary=")[1].encode()
    parts = [p for p in raw.split(boundary) if p not in (b"", b"--\r\n")]
    model = [p for p in parts if b'name="model"' in p]
    others = [p for p in parts if b'name="model"' not in p]
    return b"".join(boundary + p for p in others + model) + boundary + b"--\r\n"


REFUSED = [  # id, body maker, rules, error code, param
    ("no file part", lambda: sdk_body(lambda c: c.post("/audio/transcriptions", cast_to=object,
                                                       body={"model": "whisper-1"}, files=[],
                                                       options={"headers": {"Content-Type": "multipart/form-data"}})),
     AUDIO, "missing_part", "file"),
    ("a text file as the image", lambda: sdk_body(lambda c: c.images.edit(
        prompt="x", image=("notes.txt", b"just some text here", "text/plain"))), EDITS, "not_an_image", "image"),
    ("the second image is a PDF", lambda: sdk_body(lambda c: c.images.edit(
        prompt="x", model="gpt-image-1",
        image=[("a.png", PNG, "image/png"), ("b.pdf", b"%PDF-1.7\n" * 4, "image/png")])),
     EDITS, "not_an_image", "image[]"),
    ("a tiny non-image", lambda: sdk_body(lambda c: c.images.edit(prompt="x", image=("a.png", b"GIF", "image/png"))),
     EDITS, "not_an_image", "image"),
    ("a file over its limit", lambda: transcription(bytes(2000)),
     UploadRules("POST /v1/audio/transcriptions", ("file",), 1000, 10 * MB), "part_too_large", "file"),
    ("a prompt over its limit", lambda: sdk_body(lambda c: c.images.edit(prompt="x" * 5000, image=("a.png", PNG))),
     UploadRules("POST /v1/images/edits", ("image",), MB, MB, max_field_bytes=4096), "part_too_large", "prompt"),
]


@pytest.mark.parametrize("make,rules,code,param", [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
async def test_refused_naming_the_part(make, rules, code, param):
    body, ctype = make()
    with pytest.raises(SeawallError) as info:
        await forward(body, ctype, rules=rules, step=333)
    assert (info.value.code, info.value.param) == (code, param)
    assert param in info.value.message and info.value.status in (400, 413)


@pytest.mark.parametrize("ctype,body,code", [
    ("application/json", b'{"model": "whisper-1"}', "not_multipart"),
    ("multipart/form-data", b"--x\r\n", "not_multipart"),  # no boundary
    ("multipart/form-data; boundary=xyz", b"this is not a form at all", "multipart_malformed"),
    ("multipart/form-data; boundary=xyz",
     b'--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--xyz\r\n'
     b'Content-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF', "multipart_malformed"),  # cut
    ("multipart/form-data; boundary=xyz", b'--xyz\r\nContent-Type: text/plain\r\n\r\nhello\r\n--xyz--\r\n',
     "multipart_malformed"),  # a part with no name
])
async def test_malformed_bodies(ctype, body, code):
    with pytest.raises(SeawallError) as info:
        await forward(body, ctype, step=4)
    assert info.value.code == code and info.value.status in (400, 415)


async def test_a_declared_length_over_the_limit_is_refused_before_reading():
    async def never():
        raise AssertionError("the body must not be read")
    with pytest.raises(SeawallError) as info:
        Upload(never, "multipart/form-data; boundary=x", str(27 * MB), AUDIO)
    assert info.value.code == "body_too_large" and info.value.status == 413


async def test_a_client_that_leaves_mid_upload():
    body, ctype = transcription()
    messages = [{"type": "http.request", "body": body[:body.index(b"language")], "more_body": True},
                {"type": "http.disconnect"}]

    async def receive():
        return messages.pop(0)
    upload = Upload(receive, ctype, None, AUDIO)
    await upload.head()
    with pytest.raises(ClientGone):
        async for _ in upload.body():
            pass


async def test_a_25_mb_upload_is_never_held_whole():
    audio = bytes(25 * MB - 4096)
    body, ctype = transcription(audio)
    receive = receiver(body, step=64 * 1024)
    tracemalloc.start()
    try:
        upload = Upload(receive, ctype, str(len(body)), AUDIO)
        await upload.head()
        sent = 0
        async for chunk in upload.body():
            sent += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sent == len(body) and upload.reader.finish().files[0].size == len(audio)
    assert peak < 2 * MB  # chunks pass through; only file heads and fields are kept


async def test_an_optional_model_stops_the_head_at_the_first_file():
    from seawall.pipeline.multipart import UPLOADS

    body, ctype = sdk_body(lambda c: c.images.edit(prompt="a hat", image=("a.png", PNG + bytes(100_000), "image/png")))
    upload = Upload(receiver(body, step=4096), ctype, str(len(body)), UPLOADS["/v1/images/edits"])
    assert await upload.head() == {} and upload.reader.size < 3 * 4096  # no model: dall-e-2, decided early
    with_model, ctype = sdk_body(lambda c: c.images.edit(prompt="a hat", model="gpt-image-1", image=("a.png", PNG)))
    fields, out, _ = await forward(with_model, ctype, rules=UPLOADS["/v1/images/edits"], step=50)
    assert fields == {"model": "gpt-image-1"} and out == with_model


def test_image_kinds_and_splice():
    assert [image_kind(h) for h in (PNG, b"\xff\xd8\xff\xdb", b"RIFF\0\0\0\0WEBPVP8", b"GIF89a", b"%PDF")] == [
        "png", "jpeg", "webp", "gif", None]
    assert splice([b"ab", b"cdef", b"gh"], [(3, 2, b"XYZ")]) == [b"ab", b"cXYZf", b"gh"]
    assert splice([b"ab", b"cd", b"ef"], [(1, 3, b"-"), (5, 1, b"+")]) == [b"a-", b"e+"]
    assert b"".join(splice([b"abc"], [(0, 0, b">")])) == b">abc"
