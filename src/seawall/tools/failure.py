"""Read one pasted failure into its parts: status, headers, body, or the text of a client error.

What `seawall explain` is given, in the forms people have at hand:

    curl -i / -D -      HTTP/1.1 429 Too Many Requests / HTTP/2 429, headers, blank line, body
                        (several blocks when a proxy's CONNECT or a 100 Continue came first)
    curl -v             "< " response lines, "> " request lines, "* " curl's own notes
    a bare body         JSON, an HTML page, plain text, or an SSE stream (with --status or not)
    client error text   an SDK exception, a traceback, a browser or OS message

Pure: bytes in, a Failure out. Nothing here decides a category; it only says what was read and
what could not be (a dump cut inside its headers, a compressed body, binary data).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

import orjson

MAX_BYTES = 16 * 1024 * 1024  # a pasted failure; a larger input is read only this far
_STATUS_LINE = re.compile(rb"^HTTP/\d(?:\.\d)?[ \t]+(\d{3})\b[^\r\n]*\r?$", re.MULTILINE)
_HEADER = re.compile(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$")
_CURL_DATA = re.compile(r"^[{}] \[\d+ bytes data\]$")
_SSE_LINE = re.compile(rb"^(?:data|event):", re.MULTILINE)


@dataclass(slots=True)
class Failure:
    form: str  # http dump | curl -v | body | stream | text | empty | binary
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # response headers, lower-case names
    request_headers: dict[str, str] = field(default_factory=dict)
    request_line: str = ""  # "POST /v1/chat/completions" from curl -v
    truncated: bool = False  # the dump ends inside its headers
    body: bytes = b""
    text: str = ""  # the input as text (for client error messages)
    notes: list[str] = field(default_factory=list)  # what the reader noticed or could not read


def read_failure(data: bytes) -> Failure:
    notes: list[str] = []
    if len(data) > MAX_BYTES:
        notes.append(f"the input is {len(data)} bytes; only the first {MAX_BYTES} were read")
        data = data[:MAX_BYTES]
    data, note = _decompressed(data, "the input")
    notes += note
    if not data.strip():
        return Failure("empty", notes=notes)
    stripped = data.lstrip()
    if _STATUS_LINE.match(stripped):  # before the binary check: the body may be compressed
        return _dump(stripped, notes)
    if _looks_binary(data):
        return Failure("binary", text="", notes=notes + [f"the input is binary data ({len(data)} bytes), not text"])
    text = data.decode("utf-8", "replace")
    if re.match(rb"^[<>*] ", stripped) and re.search(rb"^(?:< HTTP/|\* )", stripped, re.MULTILINE):
        return _curl_verbose(text, notes)
    if _SSE_LINE.search(stripped[:4096]) and stripped[:1] not in (b"{", b"["):
        return Failure("stream", body=data, text=text, notes=notes)
    if stripped[:1] in (b"{", b"<") or (stripped[:1] == b"[" and _parses(stripped)):
        return Failure("body", body=data, text=text, notes=notes)
    return Failure("text", body=data, text=text, notes=notes)


def _dump(data: bytes, notes: list[str]) -> Failure:
    """curl -i: one or more status blocks; the last one is the reply (1xx and a proxy's
    `200 Connection established` come first)."""
    rest = data
    while True:
        m = _STATUS_LINE.match(rest)
        assert m is not None
        status = int(m.group(1))
        end = re.search(rb"\r?\n\r?\n", rest)
        head = rest[:end.start()] if end else rest
        body = rest[end.end():] if end else b""
        if end and _STATUS_LINE.match(body.lstrip()) and (status < 200 or b"connection established" in
                                                          head[:200].lower()):
            rest = body.lstrip()
            continue
        break
    headers, ignored = _headers(head.decode("utf-8", "replace").splitlines()[1:])
    if ignored:
        notes.append(f"{ignored} header line(s) could not be read and were ignored")
    if end is None:
        notes.append("the dump ends inside the headers (no blank line, no body): it was cut short")
    body, body_notes = _decoded_body(body, headers)
    return Failure("http dump", status, headers, body=body, text=data.decode("utf-8", "replace"),
                   notes=notes + body_notes, truncated=end is None)


def _curl_verbose(text: str, notes: list[str]) -> Failure:
    status = None
    response: list[str] = []
    request: list[str] = []
    info: list[str] = []
    body: list[str] = []
    in_body = False
    for line in text.splitlines():
        if line.startswith("< "):
            if line[2:].startswith("HTTP/"):
                m = re.match(r"HTTP/\d(?:\.\d)?\s+(\d{3})", line[2:])
                status, response, body, in_body = (int(m.group(1)) if m else None), [], [], False
            else:
                response.append(line[2:])
        elif line.rstrip() == "<":
            in_body = True
        elif line.startswith("> ") or line.rstrip() == ">":
            request.append(line[2:])
        elif line.startswith("* "):
            info.append(line[2:])
        elif _CURL_DATA.match(line.strip()):
            continue
        elif in_body or status is not None:
            body.append(line)
    headers, _ = _headers(response)
    request_headers, _ = _headers(request[1:])
    raw, body_notes = _decoded_body("\n".join(body).encode(), headers)
    form = "curl -v" if status is not None else "text"
    return Failure(form, status, headers, request_headers,
                   request_line=request[0].rsplit(" HTTP/", 1)[0] if request else "", body=raw,
                   text="\n".join(info) if status is None else text, notes=notes + body_notes)


def _headers(lines: list[str]) -> tuple[dict[str, str], int]:
    headers: dict[str, str] = {}
    ignored = 0
    last = None
    for line in lines:
        if line[:1] in (" ", "\t") and last:  # an obsolete folded continuation line
            headers[last] += " " + line.strip()
            continue
        m = _HEADER.match(line.strip())
        if m:
            last = m.group(1).lower()
            headers[last] = m.group(2) if last not in headers else headers[last] + ", " + m.group(2)
        elif line.strip():
            ignored += 1
    return headers, ignored


def _decoded_body(body: bytes, headers: dict[str, str]) -> tuple[bytes, list[str]]:
    notes: list[str] = []
    if "chunked" in headers.get("transfer-encoding", "").lower() and re.match(rb"^[0-9a-fA-F]+\r?\n", body):
        body = _dechunked(body)
        notes.append("the body was still chunk-encoded; decoded it")
    encoding = headers.get("content-encoding", "").lower()
    if encoding in ("gzip", "deflate") or body[:2] == b"\x1f\x8b":
        body, more = _decompressed(body, "the body")
        notes += more
    elif encoding and encoding != "identity":
        notes.append(f"the body is {encoding}-compressed and was not decoded: rerun curl with --compressed")
    return body, notes


def _dechunked(body: bytes) -> bytes:
    out, rest = [], body
    while True:
        m = re.match(rb"^([0-9a-fA-F]+)[^\r\n]*\r?\n", rest)
        if not m or int(m.group(1), 16) == 0:
            break
        size = int(m.group(1), 16)
        out.append(rest[m.end():m.end() + size])
        rest = rest[m.end() + size:].lstrip(b"\r\n")
    return b"".join(out)


def _decompressed(data: bytes, what: str) -> tuple[bytes, list[str]]:
    if data[:2] != b"\x1f\x8b":
        return data, []
    try:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = inflater.decompress(data, MAX_BYTES)
    except zlib.error:
        out = b""
    if not out:
        return data, [f"{what} looks gzip-compressed but does not decompress (cut short?)"]
    cut = "" if inflater.eof else " (it was cut short; read what there is)"
    return out, [f"{what} was gzip-compressed; decompressed it{cut}"]


def _parses(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def _looks_binary(data: bytes) -> bool:
    sample = data[:4096]
    if b"\x00" in sample:
        return True
    text = sample.decode("utf-8", "replace")
    odd = sum(1 for c in text if c == "\ufffd" or (ord(c) < 32 and c not in "\t\n\r\x1b\x0c"))
    return odd > len(text) * 0.1


# -- streams ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StreamEnd:
    """How an SSE stream ended: with an error event, a filter, its terminal event, or cut short."""

    outcome: str  # error | filtered | complete | interrupted
    detail: str
    error: dict | None = None  # the error event's JSON
    events: int = 0


FILTER_REASONS = {"content_filter", "safety", "blocklist", "prohibited_content", "spii", "image_safety",
                   "recitation", "refusal"}  # OpenAI finish_reason, Gemini finishReason, Anthropic stop_reason


def read_stream(body: bytes) -> StreamEnd:
    """OpenAI ends with `data: [DONE]` (§1.5), Anthropic with `message_stop` (§3.5), the Responses
    API with `response.completed` and Gemini with a candidate's `finishReason` (§4.4). An error
    can arrive mid-stream at HTTP 200 as `data: {"error": …}` or `event: error`."""
    events, cut_mid_event = _sse_events(body)
    last = ""
    for n, (name, data) in enumerate(events, 1):
        if data == b"[DONE]":
            return StreamEnd("complete", "the stream ends with data: [DONE]", events=n)
        try:
            chunk = _json(data)
        except ValueError:
            if name == "error":
                return StreamEnd("error", f"event {n} is an error event", {"error": {"message": data.decode(
                    "utf-8", "replace")[:300]}}, n)
            last = data.decode("utf-8", "replace")[:200]
            continue
        if not isinstance(chunk, dict):
            continue
        kind = str(chunk.get("type") or name or "")
        if name == "error" or chunk.get("error") or kind in ("error", "response.failed"):
            return StreamEnd("error", f"event {n} is an error event{f' ({kind})' if kind else ''}", chunk, n)
        if kind in ("message_stop", "response.completed"):
            return StreamEnd("complete", f"the stream ends with its terminal event ({kind})", events=n)
        reason = stop_reason(chunk)
        if reason and reason.lower() in FILTER_REASONS:
            return StreamEnd("filtered", f"event {n} stops with reason {reason}", events=n)
        if reason and "candidates" in chunk:
            return StreamEnd("complete", f"the last candidate has finishReason {reason}", events=n)
        last = data.decode("utf-8", "replace")[:200]
    cut = " (its last event is cut mid-line)" if cut_mid_event else ""
    return StreamEnd("interrupted", f"the stream ends after {len(events)} events without its terminal event{cut}; "
                                    f"last chunk: {last or '-'}", events=len(events))


def _sse_events(body: bytes) -> tuple[list[tuple[str | None, bytes]], bool]:
    """(event name, data) per event (html.spec.whatwg.org "event stream": blank line ends an event,
    lines end in LF, CRLF or CR), and whether the last one was cut off before its blank line."""
    text = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    blocks = text.split(b"\n\n")
    cut = bool(blocks[-1].strip()) and not blocks[-1].rstrip().endswith((b"}", b"]", b"[DONE]"))
    events = []
    for block in blocks:
        name, data = None, []
        for line in block.split(b"\n"):
            if line.startswith(b"data:"):
                data.append(line[5:].strip())
            elif line.startswith(b"event:"):
                name = line[6:].strip().decode("utf-8", "replace")
        if data or name:
            events.append((name, b"\n".join(data)))
    return events, cut


def stop_reason(chunk: dict) -> str | None:
    """Why a reply or stream chunk stopped: OpenAI finish_reason, Gemini finishReason or
    promptFeedback.blockReason (§4.4), Anthropic stop_reason."""
    feedback = chunk.get("promptFeedback")
    if isinstance(feedback, dict) and feedback.get("blockReason"):
        return "prohibited_content" if str(feedback["blockReason"]).lower() not in FILTER_REASONS \
            else str(feedback["blockReason"])
    for key in ("choices", "candidates"):
        for item in chunk.get(key) or ():
            if isinstance(item, dict):
                reason = item.get("finish_reason") or item.get("finishReason")
                if reason:
                    return str(reason)
    for holder in (chunk.get("delta"), chunk):
        if isinstance(holder, dict) and holder.get("stop_reason"):
            return str(holder["stop_reason"])
    return None


def _json(data: bytes) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise ValueError(str(e)) from None
