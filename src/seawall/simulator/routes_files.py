"""Files and batches over HTTP: upload (a form), list, retrieve, download, delete a file;
create, retrieve, cancel and list batches. Storage is files.py's and batches.py's."""

from __future__ import annotations

import time
from urllib.parse import parse_qs

import orjson

from seawall.simulator import wire
from seawall.simulator.batches import ENDPOINTS, StoredBatch, new_batch_id, run_lines
from seawall.simulator.dialects import openai as oai
from seawall.simulator.exchange import Exchange
from seawall.simulator.files import MAX_FILE_BYTES, PURPOSES, no_such_file
from seawall.simulator.forms import read_form
from seawall.simulator.host import UNPARSABLE, Host, parse_json

FILE_FIELDS = frozenset({"file", "purpose", "expires_after[anchor]", "expires_after[seconds]"})
BATCH_FIELDS = frozenset({"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after"})


def _query(exchange: Exchange) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(exchange.query.decode("latin-1")).items()}


def _limit(query: dict[str, str], default: int, high: int) -> int | oai.ApiError:
    text = query.get("limit", str(default))
    if not text.isdigit():
        return oai.invalid_type("limit", "an integer", text)
    return int(text) if 1 <= int(text) <= high else oai.integer_out_of_range("limit", int(text), 1, high)


async def _front(host: Host, exchange: Exchange, read: bool = True) -> bool:
    if read:
        await wire.read_body(exchange.receive)
    return await host.admit(exchange, None)


# --- files -------------------------------------------------------------------------------------------

async def upload(host: Host, exchange: Exchange) -> None:
    form = await read_form(exchange.receive, exchange.content_type, MAX_FILE_BYTES, keep_files=True)
    if not await _front(host, exchange, read=False):
        return
    if isinstance(form, oai.ApiError):
        await exchange.reply_error(form)
        return
    for name in form.names():
        if name not in FILE_FIELDS:
            await exchange.reply_error(oai.unrecognized_argument(name))
            return
    upload_ = form.file("file")
    purpose = form.text("purpose")
    if upload_ is None or purpose is None:
        await exchange.reply_error(oai.missing_parameter("file" if upload_ is None else "purpose"))
        return
    if purpose not in PURPOSES:
        await exchange.reply_error(oai.invalid_value("purpose", purpose, PURPOSES))
        return
    filename = upload_.filename or "upload"
    if purpose == "batch" and not filename.endswith(".jsonl"):  # [rec-like wording]
        await exchange.reply_error(oai.ApiError(400, "Invalid file format for Batch API. Must be .jsonl", param="file"))
        return
    seconds = form.text("expires_after[seconds]")
    assert upload_.data is not None
    stored = host.state.files.add(filename, purpose, upload_.data, int(seconds) if seconds and seconds.isdigit()
                                  else None)
    await exchange.reply(orjson.dumps(stored.object()))


async def list_files(host: Host, exchange: Exchange) -> None:
    if not await _front(host, exchange):
        return
    query = _query(exchange)
    limit = _limit(query, 10_000, 10_000)
    order = query.get("order", "desc")
    if isinstance(limit, oai.ApiError) or order not in ("asc", "desc"):
        await exchange.reply_error(limit if isinstance(limit, oai.ApiError) else
                                   oai.invalid_value("order", order, ("asc", "desc")))
        return
    await exchange.reply(orjson.dumps(host.state.files.listing(query.get("purpose"), limit, order,
                                                               query.get("after"))))


async def retrieve_file(host: Host, exchange: Exchange, file_id: str) -> None:
    if await _front(host, exchange):
        stored = host.state.files.get(file_id)
        await (exchange.reply(orjson.dumps(stored.object())) if stored else exchange.reply_error(no_such_file(file_id)))


async def file_content(host: Host, exchange: Exchange, file_id: str) -> None:
    if await _front(host, exchange):
        stored = host.state.files.get(file_id)
        if stored is None:
            await exchange.reply_error(no_such_file(file_id))
        else:
            await exchange.reply(stored.data, content_type=b"application/octet-stream")


async def delete_file(host: Host, exchange: Exchange, file_id: str) -> None:
    if await _front(host, exchange):
        if host.state.files.delete(file_id):
            await exchange.reply(orjson.dumps({"id": file_id, "object": "file", "deleted": True}))
        else:
            await exchange.reply_error(no_such_file(file_id))


# --- batches -------------------------------------------------------------------------------------------

def _check_batch(body: object, files) -> oai.ApiError | None:
    if not isinstance(body, dict):
        return oai.unparsable_json()
    for name in body:
        if name not in BATCH_FIELDS:
            return oai.unrecognized_argument(name)
    for name in ("input_file_id", "endpoint", "completion_window"):
        if name not in body:
            return oai.missing_parameter(name)
    if body["endpoint"] not in ENDPOINTS:
        return oai.invalid_value("endpoint", body["endpoint"], ENDPOINTS)
    if body["completion_window"] != "24h":
        return oai.invalid_value("completion_window", body["completion_window"], ("24h",))
    stored = files.get(body["input_file_id"])
    if stored is None:
        return no_such_file(body["input_file_id"], "input_file_id")
    if stored.purpose != "batch":  # [unverified wording]
        return oai.ApiError(400, f"Invalid 'input_file_id': '{stored.id}'. The file's purpose must be 'batch'.",
                            param="input_file_id", code="invalid_value")
    return None


async def create_batch(host: Host, exchange: Exchange) -> None:
    body, _ = parse_json(await wire.read_body(exchange.receive))
    if not await host.admit(exchange, None):
        return
    state = host.state
    problem = oai.unparsable_json() if body is UNPARSABLE else _check_batch(body, state.files)
    if problem is not None:
        await exchange.reply_error(problem)
        return
    source = state.files.get(body["input_file_id"])
    results = run_lines(source.data, body["endpoint"], state.catalog)
    now = time.time()
    output = state.files.add("batch_output.jsonl", "batch_output", b"\n".join(results.output) + b"\n") \
        if results.output else None
    errors = state.files.add("batch_errors.jsonl", "batch_output", b"\n".join(results.errors) + b"\n") \
        if results.errors else None
    total = len(results.output) + len(results.errors)
    batch = {
        "id": new_batch_id(), "object": "batch", "endpoint": body["endpoint"],
        "errors": {"object": "list", "data": results.invalid} if results.invalid else None,
        "input_file_id": source.id, "completion_window": "24h", "status": "validating", "output_file_id": None,
        "error_file_id": None, "created_at": int(now), "in_progress_at": None, "expires_at": int(now) + 86_400,
        "finalizing_at": None, "completed_at": None, "failed_at": None, "expired_at": None, "cancelling_at": None,
        "cancelled_at": None, "request_counts": {"total": total, "completed": 0, "failed": 0},
        "metadata": body.get("metadata"),
        "usage": {"input_tokens": results.input_tokens, "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens": results.output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                  "total_tokens": results.input_tokens + results.output_tokens},
    }
    counts = {"total": total, "completed": len(results.output), "failed": len(results.errors)}
    outcome = "failed" if results.invalid and not total else "completed"
    state.batches.put(StoredBatch(batch, now + state.settings.job_duration_s, outcome,
                                  output.id if output else None, errors.id if errors else None, counts))
    await exchange.reply(orjson.dumps(batch))


async def retrieve_batch(host: Host, exchange: Exchange, batch_id: str) -> None:
    if not await _front(host, exchange):
        return
    stored = host.state.batches.get(batch_id)
    if stored is None:  # [unverified wording]
        await exchange.reply_error(oai.ApiError(404, f"No batch found with id '{batch_id}'.", param="batch_id"))
    else:
        await exchange.reply(orjson.dumps(stored.view(time.time())))


async def cancel_batch(host: Host, exchange: Exchange, batch_id: str) -> None:
    if not await _front(host, exchange):
        return
    stored = host.state.batches.get(batch_id)
    now = time.time()
    if stored is None:
        await exchange.reply_error(oai.ApiError(404, f"No batch found with id '{batch_id}'.", param="batch_id"))
    elif stored.finished(now) and stored.cancelled_at is None:  # [unverified wording]
        status = stored.view(now)["status"]
        await exchange.reply_error(oai.ApiError(409, f"Cannot cancel a batch with status '{status}'."))
    else:
        if stored.cancelled_at is None:
            stored.cancelled_at = now
        await exchange.reply(orjson.dumps(stored.view(now)))


async def list_batches(host: Host, exchange: Exchange) -> None:
    if not await _front(host, exchange):
        return
    query = _query(exchange)
    limit = _limit(query, 20, 100)
    if isinstance(limit, oai.ApiError):
        await exchange.reply_error(limit)
    else:
        await exchange.reply(orjson.dumps(host.state.batches.listing(limit, query.get("after"), time.time())))
