"""The Responses endpoints over HTTP: create (JSON or typed SSE), retrieve, delete, cancel and
list input items. Decisions are responses.py's; what is kept between requests is
response_board.py's; this module reads requests and sends replies, faults included (a
``stream_error`` fault ends a Responses stream with ``response.failed``, or an ``error`` event
with ``stream_error_as=error``, as OpenAI ends one that fails mid-way)."""

from __future__ import annotations

import dataclasses
import time
from urllib.parse import parse_qs

import orjson

from seawall.simulator import wire
from seawall.simulator.dialects import openai as oai
from seawall.simulator.exchange import Exchange
from seawall.simulator.faults import DEFAULT_AFTER
from seawall.simulator.host import UNPARSABLE, Host, parse_json
from seawall.simulator.response_board import StoredResponse, now
from seawall.simulator.responses import (
    FAILURE_MESSAGES,
    ResponseIds,
    failure,
    final_status,
    output_items,
    plan_responses,
    render_events,
    response_object,
)

MAX_PAGE = 100


def not_found(response_id: str) -> oai.ApiError:  # [unverified wording]
    return oai.ApiError(404, f"Response with id '{response_id}' not found.")


async def create(host: Host, exchange: Exchange) -> None:
    body, model_name = parse_json(await wire.read_body(exchange.receive))
    if not await host.admit(exchange, model_name):
        return
    board = host.state.responses
    plan = oai.unparsable_json() if body is UNPARSABLE else plan_responses(
        body, host.state.catalog, board.conversation, exchange.fault.tokens)
    if isinstance(plan, oai.ApiError):
        await exchange.reply_error(plan)
        return
    if not await host.charge(exchange, plan.model, plan.cost):
        return
    ids = ResponseIds.new(time.time())
    items = output_items(plan, ids)
    final = response_object(plan, ids, final_status(plan), items, completed_at=time.time())
    fault = exchange.fault
    failing = plan.stream and fault.stream_error is not None
    if failing:
        assert fault.stream_error is not None
        message = FAILURE_MESSAGES.get(fault.stream_error, FAILURE_MESSAGES["server_error"])
        final = response_object(plan, ids, "failed", error={"code": fault.stream_error, "message": message})
    if plan.store:
        board.put(ids.response, StoredResponse(final, plan.input_items, plan.earlier + plan.input_items + tuple(items),
                                               plan.background, now() + host.state.settings.job_duration_s))
    if plan.background:
        await exchange.reply(orjson.dumps(response_object(plan, ids, "queued")))
    elif not plan.stream:
        await exchange.reply(orjson.dumps(final))
    else:
        events = render_events(plan, ids, time.time())
        if failing:
            assert fault.stream_error is not None
            # The shared exchange would write chat's error event: end the stream here instead.
            at = min(fault.after if fault.after is not None else DEFAULT_AFTER, len(events) - 1)
            events = events[:at] + [failure(plan, ids, fault.stream_error, at, fault.stream_error_as == "error")]
            exchange.fault = dataclasses.replace(fault, stream_error=None)
        await exchange.stream(events, host.stream_interval(exchange))
        if failing and exchange.outcome == "ok":
            exchange.outcome = "fault:stream_error"


async def _stored(host: Host, exchange: Exchange, response_id: str) -> StoredResponse | None:
    await wire.read_body(exchange.receive)
    if not await host.admit(exchange, None):
        return None
    stored = host.state.responses.get(response_id)
    if stored is None:
        await exchange.reply_error(not_found(response_id))
    return stored


async def retrieve(host: Host, exchange: Exchange, response_id: str) -> None:
    stored = await _stored(host, exchange, response_id)
    if stored is not None:
        await exchange.reply(orjson.dumps(stored.view(now())))


async def delete(host: Host, exchange: Exchange, response_id: str) -> None:
    if await _stored(host, exchange, response_id) is not None:
        host.state.responses.delete(response_id)
        await exchange.reply(orjson.dumps({"id": response_id, "object": "response", "deleted": True}))


async def cancel(host: Host, exchange: Exchange, response_id: str) -> None:
    stored = await _stored(host, exchange, response_id)
    if stored is None:
        return
    if not stored.background:  # [unverified wording]
        await exchange.reply_error(oai.ApiError(400, "Only responses created with background=true can be cancelled.",
                                                param="response_id"))
        return
    if stored.in_progress(now()):
        stored.cancelled = True
    await exchange.reply(orjson.dumps(stored.view(now())))


async def input_items(host: Host, exchange: Exchange, response_id: str) -> None:
    stored = await _stored(host, exchange, response_id)
    if stored is None:
        return
    query = {k: v[-1] for k, v in parse_qs(exchange.query.decode("latin-1")).items()}
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        await exchange.reply_error(oai.invalid_value("order", order, ("asc", "desc")))
        return
    limit_text = query.get("limit", "20")
    limit = int(limit_text) if limit_text.isdigit() else 0
    if not 1 <= limit <= MAX_PAGE:
        await exchange.reply_error(oai.integer_out_of_range("limit", limit, 1, MAX_PAGE) if limit_text.isdigit()
                                   else oai.invalid_type("limit", "an integer", limit_text))
        return
    items = list(stored.input_items if order == "asc" else reversed(stored.input_items))
    after = query.get("after")
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    page = items[:limit]
    await exchange.reply(orjson.dumps({"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                                       "last_id": page[-1]["id"] if page else None,
                                       "has_more": len(items) > limit}))
