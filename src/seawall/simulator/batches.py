"""Batches: validate a batch's input file, answer every line with the simulator's own endpoint
logic (chat, embeddings, completions, moderations, responses), and report progress off the
clock: a batch is ``validating`` when made, ``in_progress`` for ``job_duration_s``, then
``completed`` (or ``failed`` when no line was valid), with its output and error files written.
The answers are computed when the batch is made (pure: ``run_lines``); only the status waits.
"""

from __future__ import annotations

import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from seawall.simulator.catalog import Catalog
from seawall.simulator.chat import plan_chat, render_reply
from seawall.simulator.completions import plan_completion, render_completion
from seawall.simulator.dialects import openai as oai
from seawall.simulator.embeddings import plan_embeddings, render_embeddings
from seawall.simulator.headers import new_completion_id, new_request_id
from seawall.simulator.moderations import plan_moderation, render_moderation
from seawall.simulator.responses import ResponseIds, final_status, output_items, plan_responses, response_object

ENDPOINTS = ("/v1/responses", "/v1/chat/completions", "/v1/embeddings", "/v1/completions", "/v1/moderations",
             "/v1/images/generations", "/v1/images/edits", "/v1/videos")
MAX_BATCHES = 1_000
_ids = random.Random()


def _chat(body: object, catalog: Catalog) -> tuple[bytes, int, int] | oai.ApiError:
    plan = plan_chat(body, catalog)
    if isinstance(plan, oai.ApiError):
        return plan
    return render_reply(plan, new_completion_id(), int(time.time())), plan.prompt_tokens, plan.completion_tokens


def _embeddings(body: object, catalog: Catalog) -> tuple[bytes, int, int] | oai.ApiError:
    plan = plan_embeddings(body, catalog)
    return plan if isinstance(plan, oai.ApiError) else (render_embeddings(plan), plan.prompt_tokens, 0)


def _completions(body: object, catalog: Catalog) -> tuple[bytes, int, int] | oai.ApiError:
    plan = plan_completion(body, catalog)
    if isinstance(plan, oai.ApiError):
        return plan
    return render_completion(plan, "cmpl-" + new_completion_id()[9:], int(time.time())), plan.prompt_tokens, \
        plan.completion_tokens


def _moderations(body: object, catalog: Catalog) -> tuple[bytes, int, int] | oai.ApiError:
    plan = plan_moderation(body, catalog)
    return plan if isinstance(plan, oai.ApiError) else (render_moderation(plan), plan.tokens, 0)


def _responses(body: object, catalog: Catalog) -> tuple[bytes, int, int] | oai.ApiError:
    plan = plan_responses(body, catalog, lambda _: None)  # batch lines have no previous responses here
    if isinstance(plan, oai.ApiError):
        return plan
    ids = ResponseIds.new(time.time())
    body_out = response_object(plan, ids, final_status(plan), output_items(plan, ids), completed_at=time.time())
    return orjson.dumps(body_out), plan.input_tokens, plan.output_tokens


RUNNERS: dict[str, Callable[[object, Catalog], tuple[bytes, int, int] | oai.ApiError]] = {
    "/v1/chat/completions": _chat, "/v1/embeddings": _embeddings, "/v1/completions": _completions,
    "/v1/moderations": _moderations, "/v1/responses": _responses,
}


@dataclass(slots=True)
class LineResults:
    output: list[bytes] = field(default_factory=list)
    errors: list[bytes] = field(default_factory=list)
    invalid: list[dict] = field(default_factory=list)  # input lines that are not requests at all
    input_tokens: int = 0
    output_tokens: int = 0


def _line_error(line: int, message: str, code: str = "invalid_request") -> dict:
    return {"code": code, "message": message, "param": None, "line": line}


def run_lines(data: bytes, endpoint: str, catalog: Catalog) -> LineResults:
    """Each JSONL line: ``{"custom_id", "method": "POST", "url": endpoint, "body"}``."""
    results = LineResults()
    runner = RUNNERS.get(endpoint)
    seen: set[str] = set()
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            results.invalid.append(_line_error(number, "This line is not parseable as valid JSON.",
                                               "invalid_json_line"))
            continue
        custom_id = line.get("custom_id") if isinstance(line, dict) else None
        if not isinstance(custom_id, str) or custom_id in seen:
            results.invalid.append(_line_error(number, "Each line needs a unique 'custom_id'.", "duplicate_custom_id"
                                               if custom_id in seen else "missing_required_parameter"))
            continue
        seen.add(custom_id)
        if line.get("url") != endpoint or line.get("method") != "POST":
            results.invalid.append(_line_error(number, f"The line's url must be {endpoint} with method POST, as the "
                                                       "batch's endpoint.", "mismatched_endpoint"))
            continue
        answer = runner(line.get("body"), catalog) if runner else oai.ApiError(
            400, f"The simulator does not run {endpoint} batches.")
        request_id = new_request_id()
        entry = {"id": f"batch_req_{_ids.getrandbits(96):024x}", "custom_id": custom_id}
        if isinstance(answer, oai.ApiError):
            body = orjson.loads(answer.reply().body)
            results.errors.append(orjson.dumps({**entry, "response": {"status_code": answer.status, "request_id":
                                                                      request_id, "body": body}, "error": None}))
        else:
            reply, tokens_in, tokens_out = answer
            results.input_tokens += tokens_in
            results.output_tokens += tokens_out
            results.output.append(orjson.dumps({**entry, "response": {"status_code": 200, "request_id": request_id,
                                                                      "body": orjson.loads(reply)}, "error": None}))
    return results


@dataclass(slots=True)
class StoredBatch:
    body: dict  # the batch object as made; status fields are filled in when it is looked at
    done_at: float  # time.time() the batch completes
    outcome: str  # completed | failed
    output_file_id: str | None
    error_file_id: str | None
    counts: dict
    cancelled_at: float | None = None

    def view(self, now: float) -> dict:
        body = dict(self.body)
        created = body["created_at"]
        if self.cancelled_at is not None:
            finished = now >= self.cancelled_at + 0.05  # "cancelling" a moment, as OpenAI stays in it a while
            body.update(status="cancelled" if finished else "cancelling", cancelling_at=int(self.cancelled_at),
                        cancelled_at=int(self.cancelled_at) if finished else None)
            return body
        if now < self.done_at:
            body.update(status="in_progress", in_progress_at=created)
            return body
        done = int(self.done_at)
        body.update(status=self.outcome, in_progress_at=created, finalizing_at=done, request_counts=self.counts,
                    output_file_id=self.output_file_id, error_file_id=self.error_file_id)
        body["completed_at" if self.outcome == "completed" else "failed_at"] = done
        return body

    def finished(self, now: float) -> bool:
        return self.cancelled_at is not None or now >= self.done_at


class BatchBoard:
    def __init__(self) -> None:
        self._batches: OrderedDict[str, StoredBatch] = OrderedDict()

    def put(self, stored: StoredBatch) -> None:
        self._batches[stored.body["id"]] = stored
        while len(self._batches) > MAX_BATCHES:
            self._batches.popitem(last=False)

    def get(self, batch_id: str) -> StoredBatch | None:
        return self._batches.get(batch_id)

    def listing(self, limit: int, after: str | None, now: float) -> dict:
        items = list(reversed(self._batches.values()))
        if after is not None:
            ids = [b.body["id"] for b in items]
            items = items[ids.index(after) + 1:] if after in ids else []
        page = [b.view(now) for b in items[:limit]]
        return {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None, "has_more": len(items) > limit}


def new_batch_id() -> str:
    return f"batch_{_ids.getrandbits(128):032x}"
