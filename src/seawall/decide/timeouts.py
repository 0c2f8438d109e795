"""Upstream timeouts: how a model's `timeouts:` block and a deployment's merge, what is wrong with
a merged set, and how a timeout that fired is named. Pure: plain values in, plain values out
(config.py validates with it; the transport and the attempt/egress stages name errors with it).

    connect_s      TCP + TLS connect
    first_byte_s   from sending the request to the first byte of the reply (a stream: its first
                   event); unset: read_s, as before it existed
    read_s         idle: the longest silence between two chunks of a reply (alias idle_s)
    total_s        the whole upstream exchange, stream included; unset: no limit
    keepalive_s    not a limit: how often a slow stream's client gets a keep-alive comment

How they are enforced (providers/http1.py, http1_pool.py): connect_s bounds resolving,
connecting and the TLS handshake (and waiting for a free connection when the pool is full); one
timer per connection bounds each silence of the reply, first_byte_s until a stream's first event
(the transport's start_idle_timeout()) and read_s after, and the whole exchange from the request's
start when total_s is set. The per-read limit measures silence, so the first-byte clock restarts
at the reply's headers and at any bytes before the first event (an upstream's own SSE keep-alive
comments count as signs of life); it does not run while the gateway's reader is behind (the
socket is not read then). A limit that fires before the stream is committed is an
upstream.timeout the attempt loop falls back from; after it, the stream ends with an error event.
"""

from __future__ import annotations

from collections.abc import Mapping

# What did not happen in time, per limit, for the error message ("sent no first byte within 5 s").
_MISSED = {
    "connect_s": "could not be connected to",
    "first_byte_s": "sent no first byte",
    "read_s": "sent no chunk",
    "total_s": "did not finish its reply",
}


def merge(model: Mapping[str, float | None], deployment: Mapping[str, float | None]) -> dict[str, float | None]:
    """A deployment's effective block: the fields its model sets, overridden field by field by the
    fields the deployment sets itself (unset fields keep their defaults)."""
    return {**model, **deployment}


def problems(values: Mapping[str, float | None]) -> list[tuple[str, str]]:
    """(field, what is wrong — the fix) for one merged block; [] when it can be used.

    Only limits that make another one unreachable are refused: a first byte can't come before
    the connection, and a total shorter than either would fire first and make it meaningless.
    An idle limit longer than the total is harmless (the total fires first) and allowed."""
    connect, first, total = values["connect_s"], values.get("first_byte_s"), values.get("total_s")
    found = []
    if first is not None and connect is not None and first < connect:
        why = (f"{first:g} s is shorter than connect_s ({connect:g} s), so a slow connect would fail as a missing "
               "first byte — raise first_byte_s or lower connect_s")
        found.append(("first_byte_s", why))
    if total is not None and connect is not None and total < connect:
        found.append(("total_s", f"{total:g} s is shorter than connect_s ({connect:g} s) — raise total_s or lower connect_s"))
    elif total is not None and first is not None and total < first:
        why = (f"{total:g} s is shorter than first_byte_s ({first:g} s), so first_byte_s could never fire — raise "
               "total_s or lower first_byte_s")
        found.append(("total_s", why))
    return found


def fired_values(limit: str, seconds: float, model: str, deployment: str) -> dict[str, str]:
    """The values of a catalog message for a timeout that fired: which limit, its value, and
    where an operator changes it."""
    return {"deployment": deployment, "model": model, "field": f"timeouts.{limit}", "seconds": f"{seconds:g}",
            "missed": _MISSED.get(limit, "did not answer"),
            "where": f"models[{model}].timeouts.{limit} (every deployment of the model) or "
                     f"timeouts.{limit} on its deployment {deployment}"}
