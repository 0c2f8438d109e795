"""A midjourney-proxy upstream (novicezk / trueai-org family): submit, fetch, list, and their failures.

Served at ``POST /mj/submit/{imagine,action,blend,describe}``, ``GET /mj/task/{id}/fetch`` and
``POST /mj/task/list-by-condition``. Shapes are reference/provider-errors.md §6: a submit answers
HTTP 200 with ``{"code", "description", "result", "properties"}`` even when it fails; a task is
polled until its ``status`` is SUCCESS (``progress`` "100%", ``imageUrl``) or FAILURE
(``failReason``); an unknown id fetches as 200 with an empty body; a wrong ``mj-api-secret`` is
401 with an empty body (checked against the settings' ``api_keys`` when set).

A task is not run: its state is read off the clock (``view``). It is SUBMITTED for one step, then
IN_PROGRESS (20 %, 40 %, …), then SUCCESS after ``STEPS`` steps of ``DEFAULT_STEP_MS`` (300 ms in
all, so tests are fast); ``interval_ms=N`` in the submit's fault sets the step.

Faults (``x-sim-fault`` or scripted rules; ``error=`` takes the names below):

- the submit is refused: ``queue_full`` (code 23), ``banned_prompt`` (24), ``validation_error`` (4),
  ``no_instance`` (3), ``system_error`` (9) at HTTP 200; ``discord_rate_limited`` (``status=429``:
  Discord's 429 body with ``retry_after``, ``global`` and ``X-RateLimit-*``; ``retry_after=`` sets
  the wait); ``invalid_secret`` (``status=401``, empty body); ``server_error`` (``status=500``, or
  any 5xx: Spring Boot's error JSON);
- the submit succeeds and the task then fails, its failReason Discord's message (§6.2):
  ``missing_access`` (50001), ``missing_permissions`` (50013), ``unknown_channel`` (10003),
  ``unknown_guild`` (10004), ``invalid_form_body`` (50035), ``discord_unauthorized``,
  ``not_in_server`` (the seeds' "bot not in the server" [unverified wording]),
  ``banned_prompt_detected`` (Midjourney's red embed), ``task_timeout`` (任务超时, after the last step).
"""

from __future__ import annotations

import functools
import json
import math
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from seawall.simulator import wire
from seawall.simulator.dialects.base import (
    ErrorContext,
    ErrorReply,
    Headers,
    pick_error,
)
from seawall.simulator.dialects.gemini import admit, adopt
from seawall.simulator.exchange import Exchange

PREFIX = "/mj/"
SUBMIT_ROUTE = "/mj/submit/{action}"
FETCH_ROUTE = "/mj/task/{id}/fetch"
LIST_ROUTE = "/mj/task/list-by-condition"
SUBMIT_ACTIONS = ("imagine", "action", "blend", "describe")
KEY_HEADER = b"mj-api-secret"
STEPS = 5  # SUBMITTED, then IN_PROGRESS 20/40/60/80 %, then SUCCESS
DEFAULT_STEP_MS = 60
MAX_TASKS = 10_000  # the oldest are forgotten past this (and then fetch as unknown)
INSTANCE_ID = "1118138338562560102"  # a Discord channel id, as midjourney-proxy reports its instance


# --- replies ---------------------------------------------------------------------------------------

def _json(status: int, body: Any, headers: Headers = ()) -> ErrorReply:
    return ErrorReply(status, json.dumps(body, ensure_ascii=False).encode(), headers=headers)


def submit_result(code: int, description: str, result: str | None = None, properties: dict | None = None,
                  status: int = 200) -> ErrorReply:
    """SubmitResultVO (§6.1)."""
    return _json(status, {"code": code, "description": description, "result": result,
                          "properties": properties or {}})


def discord_rate_limited(ctx: ErrorContext) -> ErrorReply:
    """Discord's 429 as the proxy passes it on (§6.3): seconds with decimals in the body and in
    X-RateLimit-Reset-After, whole seconds in Retry-After."""
    wait = ctx.retry_after if ctx.retry_after is not None else 64.57
    headers = ((b"retry-after", b"%d" % max(1, math.ceil(wait))), (b"x-ratelimit-limit", b"10"),
               (b"x-ratelimit-remaining", b"0"), (b"x-ratelimit-reset", f"{ctx.now + wait:.3f}".encode()),
               (b"x-ratelimit-reset-after", f"{wait:g}".encode()), (b"x-ratelimit-bucket", b"abcd1234"),
               (b"x-ratelimit-scope", b"user"))
    return _json(429, {"message": "You are being rate limited.", "retry_after": wait, "global": False}, headers)


def spring_error(status: int, path: str) -> ErrorReply:
    """What Spring Boot answers for an exception in a controller (midjourney-proxy is Spring)."""
    reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
              504: "Gateway Timeout"}.get(status, "Error")
    return _json(status, {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime()), "status": status,
                          "error": reason, "path": path})


VARIANTS: dict[str, Callable[[ErrorContext], ErrorReply]] = {
    "queue_full": lambda ctx: submit_result(23, "队列已满，请稍后尝试", properties={"discordInstanceId": INSTANCE_ID}),
    "banned_prompt": lambda ctx: submit_result(24, "可能包含敏感词", properties={"promptEn": "", "bannedWord": "blood"}),
    "validation_error": lambda ctx: submit_result(4, "prompt不能为空"),
    "no_instance": lambda ctx: submit_result(3, "无可用的账号实例"),
    "system_error": lambda ctx: submit_result(9, "提交失败，系统异常"),
    "discord_rate_limited": discord_rate_limited,
    "invalid_secret": lambda ctx: ErrorReply(401, b""),
    "server_error": lambda ctx: spring_error(500, ctx.path),
}
DEFAULT_VARIANT = {401: "invalid_secret", 429: "discord_rate_limited", 500: "server_error"}

# Task failures: the submit succeeds, the task ends FAILURE with Discord's message (§6.2, §6.3).
TASK_FAILURES: dict[str, str] = {
    "missing_access": "Missing Access",
    "missing_permissions": "Missing Permissions",
    "unknown_channel": "Unknown Channel",
    "unknown_guild": "Unknown Guild",
    "invalid_form_body": "Invalid Form Body",
    "discord_unauthorized": "401: Unauthorized",
    "not_in_server": "bot not in server",
    "banned_prompt_detected": "[Banned prompt detected] Sorry! Our AI moderator thinks this prompt is probably "
                              "against our community standards.",
    "task_timeout": "任务超时",
}
_FAILS_AT_THE_END = frozenset({"task_timeout"})  # the others fail as the Discord interaction is refused


def fault_error(status: int | None, variant: str | None, ctx: ErrorContext) -> ErrorReply:
    return pick_error("midjourney", status, variant, ctx, VARIANTS, DEFAULT_VARIANT,
                      lambda s: spring_error(s, ctx.path), also_known=TASK_FAILURES)


def sim_fault_invalid(message: str) -> ErrorReply:
    return submit_result(4, f"x-sim-fault: {message}")


# --- tasks -----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SimTask:
    id: str
    action: str  # IMAGINE, UPSCALE, VARIATION, REROLL, BLEND, DESCRIBE
    prompt: str
    submitted: float  # epoch seconds
    step_s: float
    fail_reason: str | None = None
    fail_step: int = 1
    state: str | None = None


def _ms(t: float) -> int:
    return int(t * 1000)


def view(task: SimTask, now: float) -> dict:
    """The task as ``GET /mj/task/{id}/fetch`` shows it at ``now`` (pure: the clock is an argument)."""
    step = int((now - task.submitted) / task.step_s) if task.step_s > 0 else STEPS
    out: dict[str, Any] = {
        "id": task.id, "action": task.action, "customId": "", "botType": "MID_JOURNEY", "prompt": task.prompt,
        "promptEn": task.prompt, "description": f"/{task.action.lower()} {task.prompt}".strip(), "state": task.state,
        "submitTime": _ms(task.submitted), "startTime": None, "finishTime": None, "imageUrl": None,
        "status": "SUBMITTED", "progress": "0%", "failReason": None, "buttons": [],
        "properties": {"discordInstanceId": INSTANCE_ID, "finalPrompt": task.prompt},
    }
    if step >= 1:
        out["startTime"] = _ms(task.submitted + task.step_s)
    if task.fail_reason is not None and step >= task.fail_step:
        out.update(status="FAILURE", progress="", failReason=task.fail_reason,
                   finishTime=_ms(task.submitted + task.fail_step * task.step_s))
    elif step >= STEPS:
        out.update(status="SUCCESS", progress="100%", finishTime=_ms(task.submitted + STEPS * task.step_s),
                   imageUrl=f"https://cdn.discordapp.com/attachments/{INSTANCE_ID}/{task.id}/{task.id}.png",
                   buttons=_buttons(task) if task.action in ("IMAGINE", "VARIATION", "REROLL", "BLEND") else [])
    elif step >= 1:
        out.update(status="IN_PROGRESS", progress=f"{step * 100 // STEPS}%")
    return out


def _buttons(task: SimTask) -> list[dict]:
    def button(custom: str, label: str, emoji: str = "") -> dict:
        return {"customId": f"MJ::JOB::{custom}::{task.id}", "emoji": emoji, "label": label, "type": 2, "style": 2}

    return ([button(f"upsample::{i}", f"U{i}") for i in range(1, 5)] + [button("reroll::0", "", "🔄")]
            + [button(f"variation::{i}", f"V{i}") for i in range(1, 5)])


_ACTIONS = {"upsample": "UPSCALE", "variation": "VARIATION", "reroll": "REROLL"}


class TaskBoard:
    """The simulator's tasks, oldest forgotten past ``MAX_TASKS``. One per app, one event loop."""

    def __init__(self) -> None:
        self._tasks: OrderedDict[str, SimTask] = OrderedDict()
        self._rng = random.Random()

    def new_id(self, now: float) -> str:
        return f"{_ms(now)}{self._rng.randrange(1000):03d}"  # midjourney-proxy's ids: ms clock + digits

    def add(self, task: SimTask) -> None:
        self._tasks[task.id] = task
        while len(self._tasks) > MAX_TASKS:
            self._tasks.popitem(last=False)

    def get(self, task_id: str) -> SimTask | None:
        return self._tasks.get(task_id)

    def clear(self) -> None:
        self._tasks.clear()


def plan_submit(action: str, body: Any, board: TaskBoard, now: float) -> tuple[str, str] | ErrorReply:
    """(task action, prompt) for a valid submit, else the proxy's code-4 / code-3 refusal."""
    if not isinstance(body, dict):
        return submit_result(4, "请求参数错误")
    if action == "imagine":
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return submit_result(4, "prompt不能为空")
        return "IMAGINE", prompt
    if action == "describe":
        if not isinstance(body.get("base64"), str) or not body["base64"]:
            return submit_result(4, "base64不能为空")
        return "DESCRIBE", ""
    if action == "blend":
        images = body.get("base64Array")
        if not isinstance(images, list) or not 2 <= len(images) <= 5:
            return submit_result(4, "base64List参数错误")
        return "BLEND", ""
    parent_id, custom = body.get("taskId"), body.get("customId")
    if not isinstance(parent_id, str) or not parent_id:
        return submit_result(4, "taskId不能为空")
    if not isinstance(custom, str) or not custom:
        return submit_result(4, "customId不能为空")
    parent = board.get(parent_id)
    if parent is None or view(parent, now)["status"] != "SUCCESS":
        return submit_result(3, "关联任务不存在或已失效")
    kind = custom.split("::")[2] if custom.count("::") >= 3 else ""
    return _ACTIONS.get(kind, "VARIATION"), parent.prompt


# --- the routes ------------------------------------------------------------------------------------

class MidjourneyExchange(Exchange):
    """A Spring Boot reply: no provider request-id or rate-limit headers; extras (Discord's
    X-RateLimit-*) come with the reply that carries them."""

    __slots__ = ()

    def headers(self, content_type: bytes, length: int | None, extra: Headers = ()) -> list[tuple[bytes, bytes]]:
        out = [(b"content-type", content_type)]
        if length is not None:
            out.append((b"content-length", b"%d" % length))
        out.append((b"vary", b"Origin"))
        return out + list(extra)


def route(scope: dict, method: str, path: str, board: TaskBoard) -> tuple[Callable, str] | None:
    """The handler and route name for a midjourney-proxy path, or None."""
    if method == "POST" and path.startswith("/mj/submit/") and path[len("/mj/submit/"):] in SUBMIT_ACTIONS:
        return functools.partial(handle, scope=scope, board=board, action=path[len("/mj/submit/"):]), SUBMIT_ROUTE
    if method == "GET" and path.startswith("/mj/task/") and path.endswith("/fetch"):
        task_id = path[len("/mj/task/"):-len("/fetch")]
        if task_id and "/" not in task_id:
            return functools.partial(handle, scope=scope, board=board, task_id=task_id), FETCH_ROUTE
    if method == "POST" and path == LIST_ROUTE:
        return functools.partial(handle, scope=scope, board=board), LIST_ROUTE
    return None


async def handle(outer: Exchange, scope: dict, board: TaskBoard, action: str | None = None,
                 task_id: str | None = None) -> None:
    exchange = adopt(outer, scope, MidjourneyExchange)
    try:
        await _serve(exchange, scope, board, action, task_id)
    finally:
        outer.outcome = exchange.outcome  # the app counts outcomes on the exchange it made


def _secret(scope: dict) -> str | None:
    for name, value in scope["headers"]:
        if name == KEY_HEADER:
            return value.decode("latin-1")
    return None


async def _serve(exchange: Exchange, scope: dict, board: TaskBoard, action: str | None, task_id: str | None) -> None:
    raw = await wire.read_body(exchange.receive)
    secret = _secret(scope)
    allowed = exchange.state.settings.api_keys

    def key_problem() -> ErrorReply | None:  # §6.1: a wrong or missing secret is 401 with no body
        return ErrorReply(401, b"") if allowed is not None and secret not in allowed else None

    if not await admit(exchange, "midjourney", key_problem, fault_error, sim_fault_invalid, secret or "",
                       replies=frozenset(TASK_FAILURES)):
        return
    now = time.time()
    if task_id is not None:
        task = board.get(task_id)
        await exchange.reply(b"" if task is None else json.dumps(view(task, now), ensure_ascii=False).encode())
        return
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        body = None
    if action is None:  # list-by-condition
        ids = body.get("ids") if isinstance(body, dict) else None
        found = [view(t, now) for t in (board.get(i) for i in (ids if isinstance(ids, list) else [])
                                        if isinstance(i, str)) if t is not None]
        await exchange.reply(json.dumps(found, ensure_ascii=False).encode())
        return
    plan = plan_submit(action, body, board, now)
    if isinstance(plan, ErrorReply):
        await exchange.reply(plan.body)  # the proxy's refusals are HTTP 200
        return
    kind, prompt = plan
    fault = exchange.fault
    failure = fault.error if fault.error in TASK_FAILURES else None
    step_ms = fault.interval_ms if fault.interval_ms is not None else DEFAULT_STEP_MS
    task = SimTask(board.new_id(now), kind, prompt, now, step_ms / 1000,
                   TASK_FAILURES[failure] if failure else None, STEPS if failure in _FAILS_AT_THE_END else 1,
                   body.get("state") if isinstance(body.get("state"), str) else None)
    board.add(task)
    reply = submit_result(1, "提交成功", task.id, {"discordInstanceId": INSTANCE_ID, "discordChannelId": INSTANCE_ID})
    await exchange.reply(reply.body)

