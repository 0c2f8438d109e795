"""multipart/form-data uploads (images edits and variations, audio transcriptions and
translations, files): checked as they stream through, forwarded byte for byte.

`MultipartReader` is sans-I/O (python-multipart parses): `feed` each chunk as it arrives, and it
tracks every part's name, filename, content type and size, keeps the text fields (small, bounded)
and the first bytes of each file (to tell an image by its magic number), and raises a SeawallError
naming the part the moment a rule breaks: a part over its limit, a non-image where an image must
be, a body that is not multipart at all; `finish` checks the end (the closing boundary came, the
required parts are there). File bytes are never kept: memory stays at the head of each file.

`Upload` runs a reader over an ASGI body for the gateway: `head()` reads until the fields the
routing needs (`model`) are complete, holding just those chunks; `body()` then yields the held
chunks and every later chunk as it arrives, unchanged, while the reader keeps checking, so the
upstream request can stream out as the client streams in. A violation mid-way raises from the
iterator: the caller abandons the upstream request (which never gets a complete body) and answers
the client with the error. The `model` field can be rewritten to the deployment's model name
(`body(replace={"model": …})`): its value lies in the held chunks, and only its bytes change
(multipart parts carry no lengths; the request's Content-Length changes by the difference,
`content_length(replace)`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from seawall.errors import SeawallError, error
from seawall.pipeline.ingress import DRAIN_LIMIT, ClientGone, next_chunk

SNIFF_BYTES = 16  # enough for every image magic number below
_IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpeg"), (b"GIF87a", "gif"), (b"GIF89a", "gif"))


def image_kind(head: bytes) -> str | None:
    """png, jpeg, webp or gif by the file's first bytes; None for anything else."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return next((kind for magic, kind in _IMAGE_MAGIC if head.startswith(magic)), None)


@dataclass(frozen=True, slots=True)
class UploadRules:
    """What one endpoint accepts."""

    endpoint: str  # "POST /v1/audio/transcriptions", for messages
    required: tuple[str, ...]  # parts that must be present (a file part or a field)
    max_file_bytes: int  # per file part (OpenAI: 25 MB of audio, 50 MB per image for GPT image models)
    max_body_bytes: int  # the whole body
    images: frozenset[str] = frozenset()  # file parts that must be images
    routing_fields: tuple[str, ...] = ("model",)  # read before anything is forwarded
    # False: the routing fields may be absent (images default to dall-e-2), so the head ends at the
    # first file part if they haven't come by then (the SDKs send fields before files).
    routing_required: bool = True
    max_field_bytes: int = 1024 * 1024  # a text field (a prompt, a JSON option)


MB = 1024 * 1024
_IMAGE_PARTS = frozenset({"image", "image[]", "mask"})
# OpenAI's limits (the published API): audio files up to 25 MB; images for GPT image models under
# 50 MB each, up to 16 (dall-e-2's 4 MB PNG is the upstream's to refuse); files up to 512 MB.
UPLOADS: dict[str, UploadRules] = {
    "/v1/audio/transcriptions": UploadRules("POST /v1/audio/transcriptions", ("file", "model"), 25 * MB, 26 * MB),
    "/v1/audio/translations": UploadRules("POST /v1/audio/translations", ("file", "model"), 25 * MB, 26 * MB),
    "/v1/images/edits": UploadRules("POST /v1/images/edits", ("prompt",), 50 * MB, 17 * 50 * MB, _IMAGE_PARTS,
                                    routing_required=False),
    "/v1/images/variations": UploadRules("POST /v1/images/variations", ("image",), 50 * MB, 51 * MB, _IMAGE_PARTS,
                                         routing_required=False),
    "/v1/files": UploadRules("POST /v1/files", ("file", "purpose"), 512 * MB, 513 * MB, routing_fields=("purpose",)),
}


@dataclass(slots=True)
class Part:
    name: str
    filename: str | None  # None: a text field
    content_type: str | None
    size: int = 0
    head: bytes = b""  # a file's first SNIFF_BYTES; a field's whole value
    value_start: int = -1  # where the value begins in the body (a byte offset)


@dataclass(slots=True)
class FormSummary:
    fields: dict[str, str] = field(default_factory=dict)  # the last value of each text field
    files: list[Part] = field(default_factory=list)

    def file(self, name: str) -> Part | None:
        return next((p for p in self.files if p.name == name), None)


class MultipartReader:
    """One per request body; not thread-safe."""

    def __init__(self, content_type: str | None, rules: UploadRules) -> None:
        kind, params = parse_options_header(content_type or "")
        boundary = params.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise error("not_multipart", got=(content_type or "none")[:100], endpoint=rules.endpoint)
        self.rules = rules
        self.summary = FormSummary()
        self.field_parts: list[Part] = []  # text fields with where their values lie (for splice)
        self.size = 0  # body bytes fed so far
        self.file_started = False  # a file part has begun
        self.image_seen = False  # an image part's first bytes have been checked
        self._ended = False
        self._offset = 0  # where the chunk being parsed starts in the body
        self._part: Part | None = None
        self._headers: dict[bytes, bytes] = {}
        self._name = self._value = b""
        self._field_bytes: list[bytes] = []
        self._failure: SeawallError | None = None
        self._parser = MultipartParser(boundary, {
            "on_part_begin": self._begin, "on_header_field": self._header_name, "on_header_value": self._header_value,
            "on_header_end": self._header_end, "on_headers_finished": self._headers_done,
            "on_part_data": self._data, "on_part_end": self._part_end, "on_end": self._end})

    # -- feeding ------------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.rules.max_body_bytes:
            raise error("body_too_large", limit=self.rules.max_body_bytes)
        try:
            self._parser.write(chunk)
        except MultipartParseError as e:
            raise error("multipart_malformed", detail=str(e)) from None
        self._offset += len(chunk)
        if self._failure is not None:
            raise self._failure

    def finish(self) -> FormSummary:
        """After the last chunk: the whole form, or the error naming what is wrong or missing."""
        if not self._ended:
            raise error("multipart_malformed", detail="the body ends before the closing boundary (was it cut short?)")
        present = set(self.summary.fields) | {p.name for p in self.summary.files}
        for name in self.rules.required:
            if name not in present:
                raise error("missing_part", param=name, endpoint=self.rules.endpoint)
        return self.summary

    def has(self, names: tuple[str, ...]) -> bool:
        return all(name in self.summary.fields for name in names)

    @property
    def ended(self) -> bool:
        return self._ended

    # -- python-multipart callbacks ----------------------------------------------------------------
    def _begin(self) -> None:
        self._headers, self._part, self._field_bytes = {}, None, []

    def _header_name(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._name.strip().lower()] = self._value.strip()
        self._name = self._value = b""

    def _headers_done(self) -> None:
        kind, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name")
        if kind != b"form-data" or name is None:
            self._fail(error("multipart_malformed", detail="a part has no Content-Disposition: form-data; name=..."))
            name = b""
        filename = params.get(b"filename")
        ctype = self._headers.get(b"content-type")
        self.file_started = self.file_started or filename is not None
        self._part = Part(name.decode("utf-8", "replace"), filename.decode("utf-8", "replace")
                          if filename is not None else None, ctype.decode("latin-1") if ctype else None)

    def _data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part is None or self._failure is not None:
            return
        if part.value_start < 0:
            part.value_start = self._offset + start
        part.size += end - start
        if part.filename is None:
            if part.size > self.rules.max_field_bytes:
                self._fail(error("part_too_large", param=part.name, endpoint=self.rules.endpoint,
                                 limit=self.rules.max_field_bytes))
                return
            self._field_bytes.append(data[start:end])
            return
        if len(part.head) < SNIFF_BYTES:
            part.head += data[start:start + SNIFF_BYTES - len(part.head)]
            if len(part.head) >= SNIFF_BYTES:
                self._check_image(part)
        if part.size > self.rules.max_file_bytes:
            self._fail(error("part_too_large", param=part.name, endpoint=self.rules.endpoint,
                             limit=self.rules.max_file_bytes))

    def _part_end(self) -> None:
        part = self._part
        if part is None or self._failure is not None:
            return
        if part.value_start < 0:
            part.value_start = self._offset  # an empty value
        if part.filename is None:
            part.head = b"".join(self._field_bytes)
            self.summary.fields[part.name] = part.head.decode("utf-8", "replace")
            self.field_parts.append(part)
        else:
            if len(part.head) < SNIFF_BYTES:
                self._check_image(part)
            self.summary.files.append(part)
        self._part = None

    def _end(self) -> None:
        self._ended = True

    def _check_image(self, part: Part) -> None:
        if part.name not in self.rules.images:
            return
        self.image_seen = True
        if image_kind(part.head) is None:
            self._fail(error("not_an_image", param=part.name, filename=part.filename or "no filename",
                             detail=f"it starts with {part.head[:8]!r}" if part.head else "it is empty"))

    def _fail(self, err: SeawallError) -> None:
        self._failure = self._failure or err


class Upload:
    """An upload request's body, checked on the way through. One per request. `idle_s`: the
    longest wait for the client's next chunk (body_timeout), None: unbounded."""

    def __init__(self, receive, content_type: str | None, content_length: str | None, rules: UploadRules,
                 idle_s: float | None = None) -> None:
        self.content_type = content_type or ""
        self._receive, self._idle_s = receive, idle_s
        self._done = False  # the client's body has been read to its end
        declared = int(content_length) if content_length and content_length.isdigit() else None
        self.declared = declared
        if declared is not None and declared > rules.max_body_bytes:
            raise error("body_too_large", limit=rules.max_body_bytes)
        self.reader = MultipartReader(content_type, rules)
        self._held: list[bytes] = []
        self.started = False  # body() has begun: what it yielded can't be yielded again
        self.on_end: Callable[[], None] | None = None  # called once the client's whole body is read

    async def _next(self) -> bytes | None:
        if self._done:
            return None
        chunk, more = await next_chunk(self._receive, self._idle_s)
        self._done = not more
        if self._done and self.on_end is not None:
            self.on_end()
        return chunk

    async def drain(self, limit: int = DRAIN_LIMIT) -> None:
        """Read the rest of the client's body and drop it (at most `limit` bytes), so a client
        still sending hears the refusal instead of a reset connection (ingress.py's reason)."""
        seen = 0
        try:
            while not self._done and seen <= limit:
                seen += len(await self._next() or b"")
        except (SeawallError, ClientGone):
            pass

    async def head(self) -> dict[str, str]:
        """Read until the routing fields are complete (or the body ends, or, when they are
        optional, a file begins) and the first image, if the endpoint takes one, has shown what it
        is: the routing fields' values. Only these first chunks are held; a file sent before
        required fields is held too, up to the limits."""
        rules = self.reader.rules
        while not self._done and (not self.reader.has(rules.routing_fields) and (
                rules.routing_required or not self.reader.file_started) or self._sniffing()):
            chunk = await self._next()
            if chunk:
                self.reader.feed(chunk)
                self._held.append(chunk)
        if self._done:
            self.reader.finish()
        return {name: self.reader.summary.fields[name] for name in rules.routing_fields
                if name in self.reader.summary.fields}

    def _sniffing(self) -> bool:
        """The endpoint takes images and none has shown its first bytes yet (a non-image is then
        refused before anything goes upstream)."""
        return bool(self.reader.rules.images) and not self.reader.image_seen

    def _spliced(self, replace: Mapping[str, str]) -> list[bytes]:
        """The held chunks with the named fields' values replaced."""
        fields = {p.name: p for p in self.reader.field_parts}
        edits = [(fields[n].value_start, fields[n].size, v.encode()) for n, v in replace.items() if n in fields]
        return splice(self._held, edits)

    def content_length(self, replace: Mapping[str, str] | None = None) -> int | None:
        """The forwarded body's length when the client declared one (None: send it chunked)."""
        if self.declared is None:
            return None
        fields = {p.name: p for p in self.reader.field_parts}
        return self.declared + sum(len(v.encode()) - fields[n].size for n, v in (replace or {}).items()
                                   if n in fields)

    async def body(self, replace: Mapping[str, str] | None = None) -> AsyncIterator[bytes]:
        """The body to forward: the held chunks (fields replaced as asked), then the rest as it
        arrives. Raises the reader's SeawallError when the rest breaks a rule; the last chunk is
        yielded only once the whole form has passed (finish), so an upstream never receives a
        complete body that breaks one."""
        self.started = True
        held = self._spliced(replace or {})
        self._held = []
        if self._done:
            self.reader.finish()
        for chunk in held:
            yield chunk
        while not self._done:
            chunk = await self._next()
            if chunk:
                self.reader.feed(chunk)
            if self._done:
                self.reader.finish()
            if chunk:
                yield chunk


def splice(chunks: list[bytes], edits: list[tuple[int, int, bytes]]) -> list[bytes]:
    """`chunks` laid end to end from offset 0, with each edit (start, length, new bytes) applied.
    Only the chunks an edit touches are joined: a large file held beside a field is not copied."""
    out = list(chunks)
    for start, length, new in sorted(edits, reverse=True):  # from the end: earlier offsets stay valid
        offsets, at = [], 0
        for chunk in out:
            offsets.append(at)
            at += len(chunk)
        first = max(i for i, o in enumerate(offsets) if o <= start)
        last = max(i for i, o in enumerate(offsets) if o <= max(start, start + length - 1))
        merged = b"".join(out[first:last + 1])
        at = start - offsets[first]
        out[first:last + 1] = [merged[:at] + new + merged[at + length:]]
    return out
