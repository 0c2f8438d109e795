"""Server-sent events framing: split a byte stream into complete events.

Written by hand because it sits on the streaming hot path and must hand back each event's exact
bytes (relayed untouched) as soon as its blank-line terminator arrives; the SSE client libraries
decode to text and re-frame, which would cost a copy per event and hide partial events.
Per the spec (html.spec.whatwg.org, "event stream"), events end with a blank line and lines may
end with LF, CRLF or CR; providers use LF (OpenAI, Anthropic) and sometimes CRLF (Gemini).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    raw: bytes  # the whole event including its terminating blank line
    event: str | None
    data: bytes  # data lines joined with b"\n"


class SSESplitter:
    """Feed bytes as they arrive; get back the events completed so far. One per stream."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        events = []
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            block, raw = buf[start:end], buf[start:end + 2]
            start = end + 2
            if block.strip():
                events.append(_parse(block, raw))
        self._buf = buf[start:]
        return events

    @property
    def pending(self) -> bytes:
        """Bytes of an event not yet terminated (what a cut stream leaves behind)."""
        return self._buf


def _parse(block: bytes, raw: bytes) -> SSEEvent:
    event = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            data.append(line[6:] if line[5:6] == b" " else line[5:])
        elif line.startswith(b"event:"):
            event = line[6:].strip().decode("utf-8", "replace")
        # comments (": keep-alive") and id/retry fields carry nothing Seawall uses
    return SSEEvent(raw, event, b"\n".join(data))
