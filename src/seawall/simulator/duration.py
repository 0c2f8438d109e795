"""Go-style duration strings, as OpenAI writes them in ``x-ratelimit-reset-*`` headers and in
"Please try again in 1.146s" messages (``6m0s``, ``1s``, ``120ms``, ``1.146s``).

The format is Go's ``time.Duration.String()``: under a second the largest fitting unit with a
fraction (``120ms``, ``1.5ms``, ``800µs``); from a second on ``[Nh][Nm]N[.fff]s`` where minutes
appear once hours or minutes are non-zero (``6m0s``, ``1h0m0s``).
"""

from __future__ import annotations

import math

_NS_PER = {"µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


def _fraction(value: int, unit: int) -> str:
    """``value / unit`` with trailing zeros (and a bare dot) dropped: 1146 ms → "1.146"."""
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    digits = len(str(unit)) - 1
    return f"{whole}.{rest:0{digits}d}".rstrip("0")


def format_go_duration(seconds: float) -> str:
    """Format a non-negative number of seconds the way Go's ``Duration.String`` does."""
    ns = round(seconds * 1e9)
    if ns <= 0:
        return "0s"
    if ns < _NS_PER["µs"]:
        return f"{ns}ns"
    if ns < _NS_PER["ms"]:
        return _fraction(ns, _NS_PER["µs"]) + "µs"
    if ns < _NS_PER["s"]:
        return _fraction(ns, _NS_PER["ms"]) + "ms"
    total_s, frac_ns = divmod(ns, _NS_PER["s"])
    hours, rem = divmod(total_s, 3600)
    minutes, secs = divmod(rem, 60)
    out = f"{hours}h" if hours else ""
    if hours or minutes:
        out += f"{minutes}m"
    return out + _fraction(secs * _NS_PER["s"] + frac_ns, _NS_PER["s"]) + "s"


def ceil_ms(seconds: float) -> int:
    """Whole milliseconds, rounded up so a client that waits exactly this long is never early.
    round() first: 0.006 * 1000 is 6.000000000000001 in floats and must not become 7."""
    return max(0, math.ceil(round(seconds * 1000, 6)))


def format_reset(seconds: float) -> str:
    """A reset / retry wait as OpenAI shows it: millisecond resolution, rounded up."""
    return format_go_duration(ceil_ms(seconds) / 1000)
