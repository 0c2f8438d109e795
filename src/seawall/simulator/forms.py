"""multipart/form-data request bodies, read as they arrive (python-multipart does the parsing).

OpenAI's upload endpoints (images edits and variations, audio transcriptions and translations,
files) take forms: text fields plus file parts. ``read_form`` reads one from the ASGI receive
channel into a ``Form``: text fields whole, each file part as its name, filename, content type,
size, digest and first bytes (what a check needs: the magic number, a WAV header), and its bytes
only when the endpoint keeps them (``keep_files``: the files API stores uploads). A body past
``limit`` is read to its end, counted and refused with OpenAI's 413 (an upload cut off
mid-send would reach the client as a reset instead of the error).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from seawall.simulator import wire
from seawall.simulator.dialects import openai as oai

HEAD_BYTES = 4096  # enough for any magic number and a WAV header with extra chunks
MAX_TEXT_FIELD = 1024 * 1024  # prompts and JSON fields; a text part past this is refused


@dataclass(slots=True)
class FormFile:
    field: str
    filename: str | None
    content_type: str | None
    size: int = 0
    head: bytes = b""
    sha256: str = ""
    data: bytes | None = None  # the whole file, when the form was read with keep_files


@dataclass(slots=True)
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: dict[str, list[FormFile]] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[-1] if values else None

    def file(self, *names: str) -> FormFile | None:
        for name in names:
            if self.files.get(name):
                return self.files[name][0]
        return None

    def names(self) -> list[str]:
        return [*self.fields, *self.files]


def not_multipart(content_type: str) -> oai.ApiError:  # [rec, wording as the API sends it]
    return oai.ApiError(400, f"Invalid Content-Type header ({content_type or 'none'}), expected multipart/form-data. "
                             "(HINT: If you're using curl, you can pass -H 'Content-Type: multipart/form-data')")


def too_large(limit: int, size: int) -> oai.ApiError:  # [unverified type; message as reported by SDK users]
    return oai.ApiError(413, f"Maximum content size limit ({limit}) exceeded ({size} bytes read)", type="server_error")


def unparsable() -> oai.ApiError:  # [unverified]
    return oai.ApiError(400, "Could not parse multipart form data: the body is not valid multipart/form-data.")


class _Reader:
    """python-multipart callbacks that build the Form; one per body."""

    def __init__(self, keep_files: bool) -> None:
        self.form = Form()
        self.keep_files = keep_files
        self.ended = False
        self.problem: oai.ApiError | None = None
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._data: list[bytes] = []
        self._kept = 0
        self._size = 0
        self._hash = hashlib.sha256()
        self._is_file = False

    def callbacks(self) -> dict:
        return {"on_part_begin": self._begin, "on_header_field": self._field, "on_header_value": self._value,
                "on_header_end": self._header_end, "on_headers_finished": self._headers_done,
                "on_part_data": self._part_data, "on_part_end": self._part_end,
                "on_end": self._end}

    def _begin(self) -> None:
        self._headers, self._data, self._kept, self._size, self._hash = {}, [], 0, 0, hashlib.sha256()

    def _field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name, self._header_value = b"", b""

    def _headers_done(self) -> None:
        self._is_file = b"filename" in self._disposition()[1]

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        piece = data[start:end]
        self._size += len(piece)
        self._hash.update(piece)
        if self.keep_files or not self._is_file or self._kept < HEAD_BYTES:
            self._data.append(piece)
            self._kept += len(piece)

    def _disposition(self) -> tuple[bytes, dict[bytes, bytes]]:
        return parse_options_header(self._headers.get(b"content-disposition", b""))

    def _part_end(self) -> None:
        kind, params = self._disposition()
        name = params.get(b"name")
        if kind != b"form-data" or name is None:
            self.problem = self.problem or unparsable()
            return
        field_name = name.decode("utf-8", "replace")
        data = b"".join(self._data)
        if b"filename" in params:
            ctype = self._headers.get(b"content-type")
            part = FormFile(field_name, params[b"filename"].decode("utf-8", "replace"),
                            ctype.decode("latin-1") if ctype else None, self._size, data[:HEAD_BYTES],
                            self._hash.hexdigest(), data if self.keep_files else None)
            self.form.files.setdefault(field_name, []).append(part)
        elif self._size > MAX_TEXT_FIELD:
            self.problem = self.problem or oai.ApiError(400, f"The form field '{field_name}' is too long.",
                                                        param=field_name)
        else:
            self.form.fields.setdefault(field_name, []).append(data.decode("utf-8", "replace"))

    def _end(self) -> None:
        self.ended = True


async def read_form(receive: wire.Receive, content_type: str | None, limit: int,
                    keep_files: bool = False) -> Form | oai.ApiError:
    """The whole form, or the error OpenAI answers (not multipart, too large, malformed)."""
    kind, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        await wire.read_body(receive)
        return not_multipart(content_type or "")
    reader = _Reader(keep_files)
    parser = MultipartParser(boundary, reader.callbacks())
    size, broken = 0, False
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if chunk and size <= limit and not broken:
            try:
                parser.write(chunk)
            except MultipartParseError:
                broken = True
        if not message.get("more_body"):
            break
    if size > limit:
        return too_large(limit, size)
    if broken or not reader.ended:
        return unparsable()
    return reader.problem or reader.form
