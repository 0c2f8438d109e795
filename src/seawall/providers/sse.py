"""Server-sent events framing: split a byte stream into complete event blocks.

Written by hand because it sits on the streaming hot path and must hand back each event's exact
bytes (relayed untouched) as soon as its blank-line terminator arrives; the SSE client libraries
decode to text and re-frame, which would cost a copy per event and hide partial events.
Per the spec (html.spec.whatwg.org, "event stream"), events end with a blank line and lines may
end with LF, CRLF or CR; providers use LF (OpenAI, Anthropic) and sometimes CRLF (Gemini).
Splitting is one `bytes.split` in C; lines are only parsed for blocks that aren't a single
`data: ` line (measured: a per-line Python parser was the whole extra cost of a stream over a
plain reply).

Substring tests on these hot paths use `bytes.find`, never `in`: on CPython 3.11 `x in some_bytes`
first tries `x` as an integer and builds and clears a TypeError every time (~1,700 instructions a
test; callgrind put the stream path's `in` tests at 11 % of a stream request's CPU).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from seawall.providers.base import MalformedReply

TERMINATOR = b"\n\n"


@dataclass(slots=True)
class SSEEvent:
    event: str | None
    data: bytes  # data lines joined with b"\n"


class SSESplitter:
    """Feed bytes as they arrive; get back the blocks completed so far (without their blank-line
    terminator). One per stream."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self._buf + chunk if self._buf else chunk
        held = b""
        if buf.find(b"\r") >= 0:
            if buf.endswith(b"\r"):  # its \n may open the next read: one CR LF, not two line ends
                buf, held = buf[:-1], b"\r"
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if buf.find(TERMINATOR) < 0:
            self._buf = buf + held
            return []
        blocks = buf.split(TERMINATOR)
        self._buf = blocks.pop() + held
        return blocks

    @property
    def pending(self) -> bytes:
        """Bytes of an event not yet terminated (what a cut stream leaves behind)."""
        return self._buf


def data_of(block: bytes) -> bytes:
    """The data of a block; the common single `data: ` line without parsing lines."""
    if block.startswith(b"data: ") and block.find(b"\n") < 0:
        return block[6:]
    return parse_block(block).data


def parse_block(block: bytes) -> SSEEvent:
    event = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode("utf-8", "replace")
        # comments (": keep-alive") and id/retry fields carry nothing Seawall uses
    return SSEEvent(event, b"\n".join(data))


def json_event(payload: bytes) -> dict:
    """A stream event's data as a JSON object, or MalformedReply saying what came instead."""
    try:
        chunk = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise MalformedReply(f"a stream event that is not JSON ({e.msg}): {payload[:80]!r}") from None
    if not isinstance(chunk, dict):
        raise MalformedReply(f"a stream event that is not a JSON object: {payload[:80]!r}")
    return chunk


def error_of(chunk: dict) -> dict | None:
    """An event's `error`, as an object (some upstreams send a bare string), or None."""
    if "error" not in chunk:
        return None
    err = chunk["error"]
    return err if isinstance(err, dict) else {"message": str(err)}
