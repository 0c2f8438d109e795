"""Redaction: what may be kept of a request or reply once it leaves the request's path (captured
bodies, support bundles, the console). Pure: the secrets and paths are arguments.

- Headers that carry credentials keep their name and their scheme word ("Bearer [redacted]"),
  never the value.
- Every string is searched for the secrets the gateway knows (its provider keys, its tokens) and
  for the shapes of API keys (sk-…, sk-ant-…, AIza…, sw-admin-…): a Seawall key is stored only
  as a hash, so its shape is all there is to recognise it by.
- Configured JSON paths (`messages[*].content`, `metadata.email`) have their values replaced,
  in bodies and in each `data:` line of a stream.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import orjson

REDACTED = "[redacted]"

# Headers whose value is a credential, lower-case: the providers' (OpenAI/Azure/Anthropic/Gemini/
# midjourney-proxy) and the web's (cookies, proxy credentials).
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "api-key",
                            "mj-api-secret", "cookie", "set-cookie", "x-seawall-admin-key"})

# The shapes of API keys seen in the wild (decide/keys.py names their platforms): long runs after
# a known prefix, so ordinary words such as "sk-learn" are left alone.
KEY_SHAPES = re.compile(
    r"(?:sk-(?:ant-|proj-|svcacct-|admin-|sw-|or-)?[A-Za-z0-9_\-]{16,}"
    r"|sw-admin-[A-Za-z0-9]{16,}"
    r"|AIza[0-9A-Za-z_\-]{30,}"
    r"|xai-[A-Za-z0-9]{20,}"
    r"|gsk_[A-Za-z0-9]{20,})")

_SHAPE_MARKERS = ("sk-", "sw-admin-", "AIza", "xai-", "gsk_")  # each KEY_SHAPES alternative starts with one
_PATH_TOKEN = re.compile(r"([^.\[\]]+)|\[(\*|\d+)\]")


def path_problem(path: str) -> str | None:
    """What is wrong with a redaction path's spelling, or None."""
    if not path or path.startswith(".") or path.endswith(".") or ".." in path:
        return "write it as dot-separated names with [*] or [N] for list items, e.g. messages[*].content"
    rebuilt = "".join(m.group(0) for m in _PATH_TOKEN.finditer(path.replace(".", "")))
    if rebuilt != path.replace(".", ""):
        return "only names, [*] and [N] are understood, e.g. messages[*].content or metadata.email"
    return None


def parse_path(path: str) -> tuple[str | int, ...]:
    """'messages[*].content' -> ('messages', '*', 'content'); '[0]' -> 0; a bare '*' matches any key."""
    out: list[str | int] = []
    for part in path.split("."):
        for m in _PATH_TOKEN.finditer(part):
            name, index = m.groups()
            out.append(name if name is not None else ("*" if index == "*" else int(index)))
    return tuple(out)


class Redactor:
    """Built once (the gateway's secrets and the configured paths); then only reads."""

    def __init__(self, secrets: Iterable[str] = (), paths: Sequence[str] = ()):
        known = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)
        alternatives = [re.escape(s) for s in known] + [KEY_SHAPES.pattern]
        self._pattern = re.compile("|".join(alternatives))
        # Substrings every match starts with: most text has none, and finding a literal is far
        # cheaper than trying the patterns at every position.
        self._marker_list = (*_SHAPE_MARKERS, *known)
        self._markers = re.compile("|".join(re.escape(m) for m in self._marker_list))
        self._paths = [parse_path(p) for p in paths]

    def text(self, value: str) -> str:
        # Short strings: one regex call; long ones (bodies): str's own substring search per marker,
        # which skips through text far faster than the regex tries each position.
        if (self._markers.search(value) is None if len(value) < 256
                else not any(marker in value for marker in self._marker_list)):
            return value
        return self._pattern.sub(REDACTED, value)

    def value(self, data: object) -> object:
        """A JSON value with the configured paths blanked and every string searched."""
        return self._strings(self._blank(data))

    def _strings(self, data: object) -> object:
        if isinstance(data, str):
            return self.text(data)
        if isinstance(data, dict):
            return {self.text(k) if isinstance(k, str) else k: self._strings(v) for k, v in data.items()}
        if isinstance(data, list):
            return [self._strings(v) for v in data]
        return data

    def headers(self, headers: Iterable[tuple[str, str]]) -> list[list[str]]:
        """[name, value] pairs (names lower-case), credentials replaced."""
        out = []
        for name, value in headers:
            lower = name.lower()
            if lower in SECRET_HEADERS:
                scheme, sep, _ = value.partition(" ")
                value = f"{scheme} {REDACTED}" if sep and scheme.lower() in ("bearer", "basic", "token") else REDACTED
            else:
                value = self.text(value)
            out.append([lower, value])
        return out

    def body(self, raw: bytes, cap: int) -> dict:
        """A captured body: the configured paths blanked (in JSON, or in each `data:` line of a
        stream), then its text searched for secrets, then cut at `cap` bytes on a character
        boundary. A body with nothing to redact keeps its exact bytes; one whose paths were
        blanked is re-serialized compactly. One pass of the search over the whole text, not one
        per JSON string: secrets and key shapes hold no character JSON escapes."""
        text = raw.decode("utf-8", "replace")
        if self._paths:
            if _looks_like_sse(text):
                text = self._stream_paths(text)
            else:
                try:
                    parsed = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    parsed = None
                blanked = self._blank(parsed) if parsed is not None else None
                if blanked is not None and blanked != parsed:
                    text = orjson.dumps(blanked).decode()
        text = self.text(text)
        encoded = text.encode()
        out = {"text": text, "bytes": len(raw), "truncated": len(encoded) > cap}
        if out["truncated"]:
            out["text"] = encoded[:cap].decode("utf-8", "ignore")
        return out

    def stream(self, text: str) -> str:
        """SSE text: each `data:` line's JSON with the paths blanked, then searched for secrets."""
        return self.text(self._stream_paths(text) if self._paths else text)

    def _blank(self, data: object) -> object:
        for path in self._paths:
            data = _blank(data, path)
        return data

    def _stream_paths(self, text: str) -> str:
        lines = []
        for line in text.split("\n"):
            if line.startswith("data:"):
                try:
                    parsed = orjson.loads(line[5:].strip())
                except orjson.JSONDecodeError:
                    lines.append(line)
                    continue
                blanked = self._blank(parsed)
                lines.append(line if blanked == parsed else "data: " + orjson.dumps(blanked).decode())
            else:
                lines.append(line)
        return "\n".join(lines)


def _looks_like_sse(text: str) -> bool:
    head = text.lstrip()[:16]
    return head.startswith(("data:", "event:", ":", "id:"))


def _blank(data: object, path: tuple[str | int, ...]) -> object:
    """`data` with the value(s) at `path` replaced (new containers only where something changed)."""
    if not path:
        return REDACTED
    step, rest = path[0], path[1:]
    if isinstance(data, dict):
        if step == "*":
            return {k: _blank(v, rest) for k, v in data.items()}
        if isinstance(step, str) and step in data:
            return {**data, step: _blank(data[step], rest)}
        return data
    if isinstance(data, list):
        if step == "*":
            return [_blank(v, rest) for v in data]
        if isinstance(step, int) and -len(data) <= step < len(data):
            copy = list(data)
            copy[step] = _blank(copy[step], rest)
            return copy
    return data


def sse_events(text: str) -> list[str]:
    """The complete events of SSE text (blank-line separated), in order; a trailing partial one
    (a stream cut mid-event) is kept last, as it is what the client saw last."""
    events = [e.strip("\n") for e in text.replace("\r\n", "\n").split("\n\n")]
    return [e for e in events if e.strip()]
