"""Faults: what can go wrong with a reply, as data, and the rules that decide when.

A fault comes from the ``x-sim-fault`` request header or from scripted rules (settings
``faults`` or ``PUT /_sim/faults``). Both use one syntax: ``;``-separated items, each
``key=value`` or a bare flag::

    status=429;retry_after=2        status=503;dialect=oneapi     error=insufficient_quota;status=429
    reset    hang    malformed      latency_ms=300                cut_after=3    stall_after=5
    html=502                        stream_error=server_error;after=2              tokens=400

Keys (see ``_KEYS``): ``status`` HTTP status with the dialect's exact error body, ``error``
its variant, ``dialect`` the body table (openai, oneapi, newapi), ``retry_after`` (seconds)
and ``retry_after_ms`` headers, ``x_should_retry`` true|false, ``latency_ms`` before the reply,
``interval_ms`` between stream events, ``think_ms`` (a stream's headers at once, then silence
before its first event, as a reasoning model thinks), ``hang`` (never answer), ``reset`` (TCP reset, no reply),
``cut_after`` (N stream events, or N body bytes, then drop the connection mid-body; no effect
when the reply is shorter), ``stall_after`` (N events / bytes, then silence with the connection
open), ``malformed`` (invalid JSON at 200; in a stream one broken ``data:`` line at event
``after``), ``html`` (a CDN/proxy HTML error page), ``stream_error`` (an in-stream
``{"error": ...}`` event of that type after ``after`` events; a Responses stream sends
``response.failed`` with that code, or an ``error`` event with ``stream_error_as=error``), ``echo_auth``
(an error reply whose message repeats the request's credential headers, as some relays do),
``tokens`` (shape the completion length; not a fault).

A rule pairs a ``Match`` (model glob, path glob, ``every_nth``, ``first_n``, ``probability``)
with a ``Fault``. Every rule whose model and path select a request counts it; the first rule
that fires wins. This module does no I/O; the app applies the chosen fault.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from fnmatch import fnmatchcase
from typing import Any

KNOWN_DIALECTS = ("openai", "oneapi", "newapi")
# Pages a CDN or reverse proxy in front of a provider sends; 52x are Cloudflare's own codes.
HTML_STATUSES = frozenset({500, 502, 503, 504, 520, 521, 522, 523, 524})
# Where ``stream_error`` / stream ``malformed`` land when ``after`` is not given: after the
# role chunk and a couple of content chunks, i.e. clearly mid-stream.
DEFAULT_AFTER = 3


@dataclass(frozen=True, slots=True)
class Fault:
    """One request's fault; the default instance means "behave normally"."""

    status: int | None = None
    error: str | None = None
    dialect: str = "openai"
    retry_after: float | None = None
    retry_after_ms: int | None = None
    x_should_retry: bool | None = None
    latency_ms: int = 0
    think_ms: int = 0
    interval_ms: int | None = None
    hang: bool = False
    reset: bool = False
    cut_after: int | None = None
    stall_after: int | None = None
    malformed: bool = False
    html: int | None = None
    stream_error: str | None = None
    stream_error_as: str | None = None  # Responses streams: "failed" (response.failed) or "error"
    after: int | None = None
    tokens: int | None = None
    echo_auth: bool = False


NO_FAULT = Fault()
_FLAGS = frozenset({"hang", "reset", "malformed", "echo_auth"})


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("must be >= 0")
    return number


def _non_negative_float(value: str) -> float:
    number = float(value)
    if not number >= 0 or number == float("inf"):
        raise ValueError("must be a finite number >= 0")
    return number


def _status(value: str) -> int:
    number = int(value)
    if not 100 <= number <= 599:
        raise ValueError("must be an HTTP status 100-599")
    return number


def _html(value: str) -> int:
    number = int(value)
    if number not in HTML_STATUSES:
        raise ValueError(f"must be one of {sorted(HTML_STATUSES)}")
    return number


def _dialect(value: str) -> str:
    if value not in KNOWN_DIALECTS:
        raise ValueError(f"must be one of {', '.join(KNOWN_DIALECTS)}")
    return value


def _stream_error_as(value: str) -> str:
    if value not in ("failed", "error"):
        raise ValueError("must be failed (a response.failed event) or error (an error event)")
    return value


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise ValueError("must be true or false")
    return lowered == "true"


def _name(value: str) -> str:
    if not value or not all(c.isalnum() or c in "_-." for c in value):
        raise ValueError("must be a non-empty name of letters, digits, '_', '-' or '.'")
    return value


_KEYS: dict[str, Any] = {
    "status": _status,
    "error": _name,
    "dialect": _dialect,
    "retry_after": _non_negative_float,
    "retry_after_ms": _non_negative_int,
    "x_should_retry": _boolean,
    "latency_ms": _non_negative_int,
    "think_ms": _non_negative_int,
    "interval_ms": _non_negative_int,
    "cut_after": _non_negative_int,
    "stall_after": _non_negative_int,
    "html": _html,
    "stream_error": _name,
    "stream_error_as": _stream_error_as,
    "after": _non_negative_int,
    "tokens": _non_negative_int,
}


@functools.lru_cache(maxsize=512)
def parse_fault(text: str) -> Fault:
    """Parse the header / rule syntax. Raises ``ValueError`` naming the offending item.

    Cached: a benchmark sends the same header thousands of times, and ``Fault`` is immutable.
    """
    values: dict[str, Any] = {}
    for raw in text.split(";"):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip().lower().replace("-", "_")
        if key in _FLAGS:
            if sep and value.strip().lower() not in ("", "true", "1"):
                raise ValueError(f"fault item {item!r}: {key} is a flag and takes no value")
            values[key] = True
        elif key in _KEYS:
            if not sep or not value.strip():
                raise ValueError(f"fault item {item!r}: {key} needs a value ({key}=...)")
            try:
                values[key] = _KEYS[key](value.strip())
            except ValueError as exc:
                raise ValueError(f"fault item {item!r}: {exc}") from None
        else:
            known = ", ".join(sorted([*_KEYS, *_FLAGS]))
            raise ValueError(f"fault item {item!r}: unknown key {key!r} (known: {known})")
    return Fault(**values) if values else NO_FAULT


def fault_from_mapping(mapping: Mapping[str, Any]) -> Fault:
    """The YAML / JSON object form (``{status: 429, retry_after: 2, reset: true}``)."""
    items = []
    for key, value in mapping.items():
        if isinstance(value, bool):
            if key.replace("-", "_") in _FLAGS:
                if value:
                    items.append(key)
                continue
            value = "true" if value else "false"
        items.append(f"{key}={value}")
    return parse_fault(";".join(items))


def format_fault(fault: Fault) -> str:
    """The canonical header form of ``fault``; ``parse_fault(format_fault(f)) == f``."""
    items = []
    for field in fields(Fault):
        value = getattr(fault, field.name)
        if value == field.default:
            continue
        if field.name in _FLAGS:
            items.append(field.name)
        elif isinstance(value, bool):
            items.append(f"{field.name}={'true' if value else 'false'}")
        else:
            items.append(f"{field.name}={value}")
    return ";".join(items)


@dataclass(frozen=True, slots=True)
class Match:
    """Which requests a rule counts (``model``/``path`` globs) and which of those it hits.

    ``every_nth``: the Nth, 2Nth... counted request. ``first_n``: only the first N counted.
    ``probability``: each otherwise-hit request, with the script's seeded RNG. All given
    conditions must hold. A request with no model (``GET /v1/models``) only matches ``*``.
    """

    model: str = "*"
    path: str = "*"
    every_nth: int | None = None
    first_n: int | None = None
    probability: float | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    match: Match
    fault: Fault


def selects(match: Match, model: str | None, path: str) -> bool:
    if match.model != "*" and (model is None or not fnmatchcase(model, match.model)):
        return False
    return match.path == "*" or fnmatchcase(path, match.path)


def fires(match: Match, seen: int, draw: float) -> bool:
    """Whether the ``seen``-th request this rule selected (1-based) gets the fault;
    ``draw`` is a uniform number in [0, 1) used only when ``probability`` is set."""
    if match.first_n is not None and seen > match.first_n:
        return False
    if match.every_nth is not None and seen % match.every_nth:
        return False
    return match.probability is None or draw < match.probability


class FaultScript:
    """The scripted rules plus their counters and RNG. One per app; replaced whole by
    ``PUT /_sim/faults`` (which restarts the counters and the RNG from ``seed``)."""

    def __init__(self, rules: Sequence[Rule] = (), seed: int = 0) -> None:
        self.rules = tuple(rules)
        self._seen = [0] * len(self.rules)
        self._rng = random.Random(seed)

    def pick(self, model: str | None, path: str) -> Fault | None:
        chosen = None
        for index, rule in enumerate(self.rules):
            if not selects(rule.match, model, path):
                continue
            self._seen[index] += 1
            draw = self._rng.random() if rule.match.probability is not None else 0.0
            if chosen is None and fires(rule.match, self._seen[index], draw):
                chosen = rule.fault
        return chosen
