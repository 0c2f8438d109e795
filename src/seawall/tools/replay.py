"""Replay: what a captured request got then and what it gets now, side by side.

Pure functions over plain values: `answer_start` reads the beginning of an answer from any
dialect's reply or stream (or the error's message), `outcome` makes one side from a status, a
category, the reply and its timings, `compare` puts two sides together and names what changed,
`render` prints it for `seawall replay`. The gateway does the sending (console/support.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import orjson

from seawall.decide.redact import sse_events

ANSWER_CHARS = 160


@dataclass(frozen=True, slots=True)
class Outcome:
    request_id: str | None
    status: int | None
    category: str | None
    answer: str  # the answer's beginning, or the error's message
    latency_ms: float | None
    ttfb_ms: float | None
    stream_end: str | None = None
    via: str = ""  # how it was sent: "pipeline as key …", "deployment …", "original"


def answer_start(body: str | None, streamed: bool = False, limit: int = ANSWER_CHARS) -> str:
    """The first `limit` characters of the answer a reply carries: OpenAI's, Anthropic's or
    Gemini's (whole or streamed), else the error's message, else the body's beginning."""
    if not body:
        return ""
    if streamed or body.lstrip().startswith(("data:", "event:")):
        parts = []
        for event in sse_events(body):
            for line in event.split("\n"):
                if line.startswith("data:"):
                    parts.append(_text_of(_json(line[5:].strip()), delta=True))
        text = "".join(p for p in parts if p)
    else:
        text = _text_of(_json(body))
        if text is None:
            text = body.strip()
    return (text or "")[:limit]


def _json(text: str) -> object:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _text_of(data: object, delta: bool = False) -> str | None:
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("error"), dict):  # OpenAI's and Gemini's envelopes, Anthropic's error event
        return str(data["error"].get("message") or "")
    if isinstance(data.get("choices"), list) and data["choices"]:  # OpenAI chat, whole or chunk
        choice = data["choices"][0] if isinstance(data["choices"][0], dict) else {}
        part = choice.get("delta" if delta else "message") or {}
        return part.get("content") or "" if isinstance(part, dict) else ""
    if isinstance(data.get("content"), list):  # Anthropic message
        return "".join(b.get("text", "") for b in data["content"] if isinstance(b, dict))
    if isinstance(data.get("delta"), dict):  # Anthropic content_block_delta
        return data["delta"].get("text") or ""
    if isinstance(data.get("candidates"), list) and data["candidates"]:  # Gemini
        content = data["candidates"][0].get("content") if isinstance(data["candidates"][0], dict) else None
        parts = content.get("parts", []) if isinstance(content, dict) else []
        return "".join(p.get("text", "") for p in parts if isinstance(p, dict))
    if isinstance(data.get("data"), list):  # embeddings: no text to show
        return f"({len(data['data'])} embedding(s))"
    return "" if delta else None


def compare(original: Outcome, replayed: Outcome) -> dict:
    """Both sides and the names of what changed (status, category, answer, stream end); timings
    are shown, never counted as a change."""
    changed = [name for name in ("status", "category", "stream_end", "answer")
               if getattr(original, name) != getattr(replayed, name)]
    return {"original": asdict(original), "replay": asdict(replayed), "changed": changed}


def render(result: dict) -> str:
    """Two columns, the original and the replay, for `seawall replay`."""
    o, r = result["original"], result["replay"]
    rows = [("", "original", "replay"), ("request id", o["request_id"], r["request_id"]), ("via", o["via"], r["via"]),
            ("status", o["status"], r["status"]), ("category", o["category"] or "-", r["category"] or "-"),
            ("stream end", o["stream_end"] or "-", r["stream_end"] or "-"),
            ("latency ms", _ms(o["latency_ms"]), _ms(r["latency_ms"])),
            ("first byte ms", _ms(o["ttfb_ms"]), _ms(r["ttfb_ms"]))]
    width = max(len(str(row[1])) for row in rows) + 2
    lines = [f"{str(a).ljust(14)}{str(b).ljust(width)}{c}" for a, b, c in rows]
    lines += ["", f"answer then: {o['answer'] or '(none captured)'}", f"answer now:  {r['answer'] or '(empty)'}", ""]
    lines.append("changed: " + (", ".join(result["changed"]) if result["changed"] else "nothing"))
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
