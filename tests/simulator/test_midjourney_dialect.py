"""The simulator's midjourney-proxy dialect: task states read off a clock (pure), then the routes
and every fault on the wire."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from multidict import CIMultiDict

from seawall.decide.classify import classify_reply
from seawall.simulator.config import SimulatorSettings
from seawall.simulator.dialects.base import ErrorContext, UnknownVariant
from seawall.simulator.dialects.midjourney import (
    STEPS,
    TASK_FAILURES,
    SimTask,
    TaskBoard,
    fault_error,
    view,
)

T0 = 1_700_000_000.0
STEP = 0.06


def task(fail_reason: str | None = None, fail_step: int = 1) -> SimTask:
    return SimTask("1700000000000123", "IMAGINE", "a lighthouse at dawn --ar 16:9", T0, STEP, fail_reason, fail_step)


# -- the clock decides the state (pure) -----------------------------------------------------------------

@pytest.mark.parametrize("steps_in,status,progress", [
    (0.5, "SUBMITTED", "0%"),
    (1.5, "IN_PROGRESS", "20%"),
    (3.5, "IN_PROGRESS", "60%"),
    (STEPS - 0.5, "IN_PROGRESS", "80%"),
    (STEPS + 0.5, "SUCCESS", "100%"),
])
def test_a_task_progresses_submitted_in_progress_success(steps_in, status, progress):
    seen = view(task(), T0 + steps_in * STEP)
    assert (seen["status"], seen["progress"]) == (status, progress)
    assert seen["submitTime"] == int(T0 * 1000)
    assert (seen["imageUrl"] is not None) == (status == "SUCCESS")
    assert (seen["finishTime"] is not None) == (status == "SUCCESS")


def test_a_finished_task_has_an_image_buttons_and_its_prompt():
    done = view(task(), T0 + (STEPS + 1) * STEP)
    assert done["imageUrl"].endswith(f"{done['id']}.png")
    assert [b["label"] for b in done["buttons"] if b["label"]] == ["U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4"]
    assert done["prompt"] == "a lighthouse at dawn --ar 16:9" and done["action"] == "IMAGINE"
    assert done["failReason"] is None and done["startTime"] == int((T0 + STEP) * 1000)


def test_a_refused_discord_interaction_fails_the_task_at_its_first_step():
    before, after = view(task("Missing Access"), T0 + 0.5 * STEP), view(task("Missing Access"), T0 + 1.5 * STEP)
    assert before["status"] == "SUBMITTED"
    assert (after["status"], after["progress"], after["failReason"]) == ("FAILURE", "", "Missing Access")
    assert after["imageUrl"] is None and after["finishTime"] == int((T0 + STEP) * 1000)


def test_a_timed_out_task_fails_only_after_its_last_step():
    assert view(task("任务超时", STEPS), T0 + (STEPS - 0.5) * STEP)["status"] == "IN_PROGRESS"
    assert view(task("任务超时", STEPS), T0 + (STEPS + 0.5) * STEP)["failReason"] == "任务超时"


def test_the_board_forgets_its_oldest_tasks_past_its_bound(monkeypatch):
    monkeypatch.setattr("seawall.simulator.dialects.midjourney.MAX_TASKS", 2)
    board = TaskBoard()
    for n in range(3):
        board.add(SimTask(str(n), "IMAGINE", "p", T0, STEP))
    assert board.get("0") is None and board.get("1") is not None and board.get("2") is not None


# -- the fault table (pure) -------------------------------------------------------------------------------

CTX = ErrorContext(request_id="req_1", organization="org", project="proj", path="/mj/submit/imagine", now=T0)


@pytest.mark.parametrize("variant,code,category", [
    ("queue_full", 23, "capacity.queue_full"),
    ("banned_prompt", 24, "request.content_filter"),
    ("validation_error", 4, "request.invalid"),
    ("no_instance", 3, "capacity.circuit_open"),
    ("system_error", 9, "upstream.server_error"),
])
def test_submit_refusals_are_http_200_with_the_proxys_code(variant, code, category):
    reply = fault_error(None, variant, CTX)
    body = json.loads(reply.body)
    assert (reply.status, body["code"], body["result"]) == (200, code, None)
    assert classify_reply(reply.status, {}, reply.body).category == category  # the shared classifier reads it


def test_discord_429_names_its_wait_in_the_body_and_the_headers():
    reply = fault_error(429, None, ErrorContext("req_1", "org", "proj", path="/mj/submit/imagine", retry_after=2.5,
                                                now=T0))
    headers = dict(reply.headers)
    assert reply.status == 429
    assert json.loads(reply.body) == {"message": "You are being rate limited.", "retry_after": 2.5, "global": False}
    assert headers[b"retry-after"] == b"3" and headers[b"x-ratelimit-reset-after"] == b"2.5"
    assert headers[b"x-ratelimit-remaining"] == b"0" and headers[b"x-ratelimit-scope"] == b"user"
    cls = classify_reply(429, {k.decode(): v.decode() for k, v in reply.headers}, reply.body)
    assert (cls.category, cls.wait_s) == ("rate_limit.requests", 2.5)


def test_a_wrong_secret_is_401_with_an_empty_body_and_5xx_is_springs_error_json():
    assert (fault_error(401, None, CTX).status, fault_error(401, None, CTX).body) == (401, b"")
    spring = fault_error(503, None, CTX)
    assert spring.status == 503 and json.loads(spring.body)["error"] == "Service Unavailable"
    assert json.loads(spring.body)["path"] == "/mj/submit/imagine"


def test_an_unknown_variant_names_the_known_ones():
    with pytest.raises(UnknownVariant, match="missing_access"):
        fault_error(None, "no_such_thing", CTX)


# -- over HTTP ---------------------------------------------------------------------------------------------

async def call(base_url: str, method: str, path: str, body: object = None, fault: str | None = None,
               secret: str | None = "mj-secret") -> tuple[int, CIMultiDict, bytes]:
    headers = {"mj-api-secret": secret} if secret else {}
    if fault:
        headers["x-sim-fault"] = fault
    async with aiohttp.ClientSession() as http, \
            http.request(method, base_url + path, json=body, headers=headers) as r:
        return r.status, CIMultiDict(r.headers), await r.read()


async def poll(base_url: str, task_id: str) -> list[dict]:
    """Every state the task shows until it is final (SUCCESS / FAILURE)."""
    seen: list[dict] = []
    for _ in range(400):
        status, _, body = await call(base_url, "GET", f"/mj/task/{task_id}/fetch")
        assert status == 200
        seen.append(json.loads(body))
        if seen[-1]["status"] in ("SUCCESS", "FAILURE"):
            return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"task {task_id} never finished: {seen[-1]}")


async def test_imagine_then_poll_until_success(base_url):
    status, _, body = await call(base_url, "POST", "/mj/submit/imagine", {"prompt": "a red kite"})
    submitted = json.loads(body)
    assert status == 200 and submitted["code"] == 1 and submitted["result"].isdigit()
    states = await poll(base_url, submitted["result"])
    assert states[-1]["status"] == "SUCCESS" and states[-1]["progress"] == "100%"
    assert states[-1]["imageUrl"].startswith("https://") and states[-1]["prompt"] == "a red kite"
    assert {s["status"] for s in states} <= {"SUBMITTED", "IN_PROGRESS", "SUCCESS"}


async def test_an_action_on_a_finished_task_makes_a_new_task(base_url):
    _, _, body = await call(base_url, "POST", "/mj/submit/imagine", {"prompt": "a red kite"}, fault="interval_ms=0")
    parent = (await poll(base_url, json.loads(body)["result"]))[-1]
    upscale = next(b["customId"] for b in parent["buttons"] if b["label"] == "U1")
    _, _, body = await call(base_url, "POST", "/mj/submit/action", {"taskId": parent["id"], "customId": upscale},
                            fault="interval_ms=0")
    child = (await poll(base_url, json.loads(body)["result"]))[-1]
    assert (child["action"], child["status"]) == ("UPSCALE", "SUCCESS")


@pytest.mark.parametrize("variant", sorted(TASK_FAILURES))
async def test_each_task_failure_ends_failure_with_its_fail_reason(base_url, variant):
    status, _, body = await call(base_url, "POST", "/mj/submit/imagine", {"prompt": "a red kite"},
                                 fault=f"error={variant};interval_ms=1")
    assert status == 200 and json.loads(body)["code"] == 1  # Discord's refusal comes later (§6.2)
    final = (await poll(base_url, json.loads(body)["result"]))[-1]
    assert (final["status"], final["failReason"]) == ("FAILURE", TASK_FAILURES[variant])


@pytest.mark.parametrize("fault,http,code", [("error=queue_full", 200, 23), ("error=banned_prompt", 200, 24),
                                             ("status=500", 500, None), ("status=401", 401, None)])
async def test_submit_faults_on_the_wire(base_url, fault, http, code):
    status, _, body = await call(base_url, "POST", "/mj/submit/imagine", {"prompt": "a red kite"}, fault=fault)
    assert status == http
    if code is not None:
        assert json.loads(body)["code"] == code
    if http == 401:
        assert body == b""


async def test_discord_429_on_the_wire_carries_retry_after(base_url):
    status, headers, body = await call(base_url, "POST", "/mj/submit/imagine", {"prompt": "x"},
                                       fault="status=429;retry_after=7.25")
    assert status == 429 and json.loads(body)["retry_after"] == 7.25
    assert headers["Retry-After"] == "8" and headers["X-RateLimit-Reset-After"] == "7.25"


async def test_validation_and_unknown_ids_as_the_proxy_answers_them(base_url):
    status, _, body = await call(base_url, "POST", "/mj/submit/imagine", {"prompt": "  "})
    assert status == 200 and json.loads(body)["code"] == 4
    status, _, body = await call(base_url, "POST", "/mj/submit/action", {"taskId": "404", "customId": "MJ::JOB::x::1"})
    assert json.loads(body)["code"] == 3
    status, _, body = await call(base_url, "GET", "/mj/task/123456/fetch")
    assert (status, body) == (200, b"")


async def test_list_by_condition_returns_the_known_tasks(base_url):
    _, _, body = await call(base_url, "POST", "/mj/submit/imagine", {"prompt": "a red kite"})
    task_id = json.loads(body)["result"]
    status, _, body = await call(base_url, "POST", "/mj/task/list-by-condition", {"ids": [task_id, "nope"]})
    assert status == 200 and [t["id"] for t in json.loads(body)] == [task_id]


async def test_the_secret_is_checked_when_the_settings_name_keys(start_simulator):
    url = await start_simulator(SimulatorSettings(api_keys=("mj-secret",)))
    assert (await call(url, "POST", "/mj/submit/imagine", {"prompt": "x"}, secret="wrong"))[:3:2] == (401, b"")
    assert (await call(url, "POST", "/mj/submit/imagine", {"prompt": "x"}, secret=None))[0] == 401
    assert (await call(url, "POST", "/mj/submit/imagine", {"prompt": "x"}))[0] == 200


async def test_scripted_faults_reach_the_mj_routes(start_simulator):
    url = await start_simulator(SimulatorSettings(faults=({"match": {"path": "/mj/submit/*", "first_n": 1},
                                                           "fault": "error=queue_full"},)))
    first = json.loads((await call(url, "POST", "/mj/submit/imagine", {"prompt": "x"}))[2])
    second = json.loads((await call(url, "POST", "/mj/submit/imagine", {"prompt": "x"}))[2])
    assert (first["code"], second["code"]) == (23, 1)


async def test_a_list_of_no_ids_answers_the_secrets_check_alone(start_simulator):
    """The gateway's probe of a Midjourney deployment (pipeline/health.py): no task made, the
    secret judged as for any call."""
    url = await start_simulator(SimulatorSettings(api_keys=("mj-secret",)))
    status, _, body = await call(url, "POST", "/mj/task/list-by-condition", {"ids": []}, secret="mj-secret")
    assert (status, json.loads(body)) == (200, [])
    assert (await call(url, "POST", "/mj/task/list-by-condition", {"ids": []}, secret="wrong"))[:3:2] == (401, b"")
