"""The control API for tests, under ``/_sim/`` and without a key.

``GET /_sim/health`` → ``{"ok": true}``; ``GET /_sim/faults`` → the scripted rules in
canonical form; ``PUT /_sim/faults`` with a JSON list of rules (``[{"match": {...},
"fault": "status=503"}]``) replaces them and restarts their counters; ``GET /_sim/stats`` →
counters; ``GET /_sim/requests[?limit=N]`` → the last requests received, oldest first
(recorder.py), ``DELETE /_sim/requests`` forgets them; ``POST /_sim/reset`` clears counters,
recorded requests and rate-limit state; ``GET /_sim/images/{name}`` serves a generated image
(the ``url`` an images reply names, as OpenAI's point at its blob storage).
"""

from __future__ import annotations

import orjson
from urllib.parse import parse_qs

from pydantic import TypeAdapter, ValidationError

from seawall.simulator import wire
from seawall.simulator.config import FaultRuleSpec, describe_validation_error
from seawall.simulator.state import SimState

_RULES = TypeAdapter(list[FaultRuleSpec])
_OK = orjson.dumps({"ok": True})


async def _send(send: wire.Send, status: int, payload: object) -> None:
    body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _problem(message: str) -> dict[str, object]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


def _limit(query: bytes) -> int | None:
    values = parse_qs(query.decode("latin-1")).get("limit")
    return int(values[0]) if values and values[0].isdigit() else None


async def handle(state: SimState, method: str, path: str, receive: wire.Receive, send: wire.Send,
                 query: bytes = b"") -> None:
    route = (method, path.rstrip("/"))
    if method == "GET" and path.startswith("/_sim/images/") and path[len("/_sim/images/"):] in state.pictures:
        picture = state.pictures[path[len("/_sim/images/"):]]
        headers = [(b"content-type", b"image/png"), (b"content-length", b"%d" % len(picture))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": picture})
    elif route == ("GET", "/_sim/requests"):
        await _send(send, 200, {"keep": state.recorder.keep, "requests": state.recorder.listing(_limit(query))})
    elif route == ("DELETE", "/_sim/requests"):
        state.recorder.clear()
        await _send(send, 200, _OK)
    elif route == ("GET", "/_sim/health"):
        await _send(send, 200, _OK)
    elif route == ("GET", "/_sim/stats"):
        await _send(send, 200, state.stats.as_dict())
    elif route == ("GET", "/_sim/faults"):
        await _send(send, 200, [spec.model_dump() for spec in state.fault_specs])
    elif route == ("PUT", "/_sim/faults"):
        body = await wire.read_body(receive)
        try:
            specs = _RULES.validate_json(body or b"[]")
        except ValidationError as exc:
            await _send(send, 400, _problem(f"fault rules: {describe_validation_error(exc)}"))
            return
        state.replace_faults(specs)
        await _send(send, 200, [spec.model_dump() for spec in state.fault_specs])
    elif route == ("POST", "/_sim/reset"):
        state.reset()
        await _send(send, 200, _OK)
    else:
        await _send(send, 404, _problem(f"Invalid URL ({method} {path})"))
