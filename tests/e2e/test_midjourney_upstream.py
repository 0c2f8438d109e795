"""The Midjourney task API end to end: a client speaking midjourney-proxy's dialect to the gateway,
the simulator playing two midjourney-proxy upstreams (one process, two deployments), its faults
scripted per test on the submit path (PUT /_sim/faults)."""

from __future__ import annotations

import json
import time

import pytest
from admin_cli import new_key
from conftest import free_port, http, own_stack, start_gateway

UPSTREAM_SECRET = "mj-upstream-secret-0001"


def _config(port: int) -> str:
    # A refused secret takes no deployment of this gateway out of rotation: tests refuse it on
    # purpose, and one test's refusal must not skip the next one's deployments (guarded_gateway's do).
    def dep(name: str, base: str) -> str:
        return (f"      - provider: midjourney\n        base_url: {base}\n        model: midjourney\n"
                f"        api_key_env: MJ_SECRET\n        name: {name}\n"
                f"        timeouts: {{connect_s: 2, read_s: 10}}\n        circuit: {{take_out_refused: false}}\n")

    root = f"http://127.0.0.1:{port}"
    return ("request_log:\n  flush_interval_s: 0.1\n"
            "models:\n"
            f"  - name: gpt-4o-mini\n    deployments:\n      - provider: openai\n        base_url: {root}/v1\n"
            f"        model: gpt-4o-mini\n        api_key_env: MJ_SECRET\n"
            # the second deployment's base_url keeps midjourney-proxy's /mj context path: both forms work
            f"  - name: midjourney\n    deployments:\n{dep('mj-primary', root)}{dep('mj-backup', root + '/mj')}")


# api_keys: the simulator then checks the mj-api-secret the gateway sends (401 otherwise)
upstream, gw, sim, client = own_stack("mj", _config, f"api_keys: [{UPSTREAM_SECRET}]\n",
                                      env={"MJ_SECRET": UPSTREAM_SECRET})


def on_submit(sim, fault: str, first_n: int | None = None) -> None:
    """The upstream's submits get `fault` (all of them, or the first N)."""
    match = {"path": "/mj/submit/*", **({"first_n": first_n} if first_n else {})}
    sim.set_faults([{"match": match, "fault": fault}])


def mj(gw, method: str, path: str, body: dict | None = None, key: str | None = None,
       bearer: bool = False) -> tuple[int, dict, dict | None]:
    headers = {"authorization": f"Bearer {key or gw.key}"} if bearer else {"mj-api-secret": key or gw.key}
    status, got, raw = http(method, gw.url + path, body, headers)
    return status, got, json.loads(raw) if raw.strip() else None


def poll(gw, task_id: str) -> list[dict]:
    """Fetch through the gateway until the task is final; every state seen."""
    seen = []
    for _ in range(300):
        status, _, task = mj(gw, "GET", f"/mj/task/{task_id}/fetch")
        assert status == 200, task
        seen.append(task)
        if task["status"] in ("SUCCESS", "FAILURE"):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"task {task_id} never finished: {seen[-1]}")


def test_imagine_then_fetch_until_success_with_an_image(gw, sim):
    status, headers, submitted = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "a lighthouse at dawn"})
    assert status == 200 and submitted["code"] == 1 and submitted["result"].isdigit()
    states = poll(gw, submitted["result"])
    done = states[-1]
    assert done["status"] == "SUCCESS" and done["progress"] == "100%" and done["imageUrl"].startswith("https://")
    assert done["id"] == submitted["result"] and done["prompt"] == "a lighthouse at dawn"
    assert "seawall_category" not in done
    assert {s["status"] for s in states} <= {"SUBMITTED", "IN_PROGRESS", "SUCCESS"}
    row = gw.log_row(headers["x-request-id"])
    assert (row["status"], row["deployment"], row["path"], row["operation"]) == (
        200, "mj-primary", "/mj/submit/imagine", "mj.imagine")
    assert row["model_requested"] == "midjourney"


def test_the_callers_key_works_as_bearer_too_and_an_action_reaches_the_tasks_deployment(gw, sim):
    on_submit(sim, "interval_ms=1")
    _, _, submitted = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "a kite"}, bearer=True)
    parent = poll(gw, submitted["result"])[-1]
    upscale = next(b["customId"] for b in parent["buttons"] if b["label"] == "U2")
    status, _, child = mj(gw, "POST", "/mj/submit/action", {"taskId": parent["id"], "customId": upscale},
                          bearer=True)
    assert status == 200 and child["code"] == 1
    assert poll(gw, child["result"])[-1]["action"] == "UPSCALE"


def test_banned_prompt_is_a_clear_error_with_a_hint(gw, sim):
    on_submit(sim, "error=banned_prompt")
    status, headers, body = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "something banned"})
    assert status == 400
    assert body["code"] == 24 and body["result"] is None
    assert body["description"] == ("可能包含敏感词。Rephrase the prompt: Midjourney's moderation flagged a banned word; "
                                   "retrying the same prompt fails the same way.")  # the proxy's text, then the step
    assert body["category"] == "request.content_filter" and "Rephrase the prompt" in body["hint"]
    assert body["request_id"] == headers["x-request-id"] and body["properties"]["bannedWord"]
    row = gw.log_row(headers["x-request-id"])
    assert (row["status"], row["category"], row["attempts"]) == (400, "request.content_filter", 1)  # no fallback


def test_missing_access_task_failure_says_invite_the_bot(gw, sim):
    on_submit(sim, "error=missing_access")
    _, _, submitted = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "a kite"})
    assert submitted["code"] == 1  # Discord refuses the interaction after the submit (§6.2)
    failed = poll(gw, submitted["result"])[-1]
    assert failed["status"] == "FAILURE" and failed["failReason"] == "Missing Access"
    assert failed["seawall_category"] == "permission.channel" and failed["seawall_retry"] == "no"
    assert "Invite the Discord bot" in failed["seawall_hint"] and "permission" in failed["seawall_hint"].lower()


@pytest.mark.parametrize("variant,category,words", [
    ("missing_permissions", "permission.channel", "Use Application Commands"),
    ("not_in_server", "permission.channel", "Invite the Discord bot"),
    ("invalid_form_body", "request.invalid", "Fix the command"),
    ("banned_prompt_detected", "request.content_filter", "Rephrase the prompt"),
])
def test_other_discord_task_failures_are_classified_and_explained(gw, sim, variant, category, words):
    on_submit(sim, f"error={variant}")
    _, _, submitted = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "a kite"})
    failed = poll(gw, submitted["result"])[-1]
    assert (failed["status"], failed["seawall_category"]) == ("FAILURE", category)
    assert words in failed["seawall_hint"]


def test_queue_full_on_the_first_deployment_is_served_by_the_second(gw, sim):
    on_submit(sim, "error=queue_full", first_n=1)
    status, headers, submitted = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "a kite"})
    assert status == 200 and submitted["code"] == 1
    row = gw.log_row(headers["x-request-id"])
    assert row["deployment"] == "mj-backup" and row["attempts"] == 2
    assert [(a["deployment"], a["category"]) for a in row["attempts_detail"]] == [
        ("mj-primary", "capacity.queue_full"), ("mj-backup", None)]
    _, fetched_headers, _ = mj(gw, "GET", f"/mj/task/{submitted['result']}/fetch")
    assert gw.log_row(fetched_headers["x-request-id"])["deployment"] == "mj-backup"  # polled where it lives


def test_discord_429_everywhere_answers_429_with_its_wait(gw, sim):
    on_submit(sim, "status=429;retry_after=30")
    status, headers, body = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "a kite"})
    assert status == 429 and headers["retry-after"] == "30"
    assert body["category"] == "rate_limit.requests" and body["code"] == 9
    assert body["hint"].startswith("Wait 30 s")
    row = gw.log_row(headers["x-request-id"])
    assert [a["category"] for a in row["attempts_detail"]] == ["rate_limit.requests"] * 2  # both deployments


def test_upstream_5xx_everywhere_is_a_502_in_the_proxys_shape(gw, sim):
    on_submit(sim, "status=500")
    status, headers, body = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "a kite"})
    assert status == 502 and body["category"] == "upstream.server_error" and body["code"] == 9
    assert body["request_id"] == headers["x-request-id"] and body["hint"]


def test_a_key_not_allowed_midjourney_gets_403(gw, sim):
    made = new_key(gw, "--models", "gpt-4o-mini")
    status, _, body = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "a kite"}, key=made["key"])
    assert status == 403 and body["category"] == "permission.model"
    assert "`midjourney`" in body["description"] and body["result"] is None
    status, _, body = mj(gw, "GET", "/mj/task/123/fetch", key=made["key"])
    assert status == 403


def test_fetch_of_an_unknown_id_is_404_in_the_proxys_shape(gw, sim):
    status, headers, body = mj(gw, "GET", "/mj/task/1700000000000999/fetch")
    assert status == 404 and body["code"] == 3 and body["result"] is None
    assert "1700000000000999" in body["description"] and body["request_id"] == headers["x-request-id"]
    assert body["category"] == "route.not_found"


def test_bad_input_names_the_field_and_a_missing_key_says_how_to_send_it(gw, sim):
    status, _, body = mj(gw, "POST", "/mj/submit/imagine", {"promt": "typo"})
    assert status == 400 and body["param"] == "prompt" and body["code"] == 4
    status, _, body = mj(gw, "POST", "/mj/submit/action", {"taskId": "42", "customId": "MJ::JOB::x::1"})
    assert status == 404 and body["param"] == "taskId"
    status, _, raw = http("POST", gw.url + "/mj/submit/imagine", {"prompt": "x"})
    assert status == 401 and "mj-api-secret" in json.loads(raw)["description"]


def test_list_by_condition_lists_the_gateways_tasks(gw, sim):
    _, _, one = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "one"})
    on_submit(sim, "error=missing_access;interval_ms=0")
    _, _, two = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "two"})
    status, _, tasks = mj(gw, "POST", "/mj/task/list-by-condition", {"ids": [one["result"], two["result"], "x"]})
    assert status == 200 and sorted(t["id"] for t in tasks) == sorted([one["result"], two["result"]])
    failed = next(t for t in tasks if t["id"] == two["result"])
    assert failed["seawall_category"] == "permission.channel"


def test_chat_never_routes_to_a_midjourney_deployment(gw, sim):
    status, _, raw = http("POST", gw.base_url + "/chat/completions",
                          {"model": "midjourney", "messages": [{"role": "user", "content": "hi"}]},
                          {"authorization": f"Bearer {gw.key}"})
    assert status == 400 and json.loads(raw)["error"]["code"] == "operation_not_supported"


def test_a_wrong_upstream_secret_is_the_operators_problem_not_the_callers(gw, sim):
    on_submit(sim, "status=401")  # midjourney-proxy's answer to a wrong mj-api-secret: 401, empty body
    status, _, body = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "a kite"})
    assert status == 502 and body["category"] == "auth.key_invalid"
    assert "mj-primary" in body["description"] or "mj-backup" in body["description"]
    assert UPSTREAM_SECRET not in json.dumps(body) and "api_key_env" in body["hint"]


def test_a_failing_fetch_is_an_error_in_the_proxys_shape_and_the_task_stays_known(gw, sim):
    _, _, submitted = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "a kite"})
    sim.set_faults([{"match": {"path": "/mj/task/*", "first_n": 1}, "fault": "status=503"}])
    status, headers, body = mj(gw, "GET", f"/mj/task/{submitted['result']}/fetch")
    assert status == 502 and body["category"] == "upstream.unavailable" and body["code"] == 9
    assert body["request_id"] == headers["x-request-id"]
    assert poll(gw, submitted["result"])[-1]["status"] == "SUCCESS"  # the next poll reaches it


# -- a second gateway whose first deployments are down or slow ------------------------------------------

@pytest.fixture(scope="module")
def shaky_gateway(tmp_path_factory, upstream):
    root = f"http://127.0.0.1:{upstream.port}"

    def dep(name: str, base: str, read_s: float = 10) -> str:
        return (f"      - provider: midjourney\n        base_url: {base}\n        model: midjourney\n"
                f"        api_key_env: MJ_SECRET\n        name: {name}\n"
                f"        timeouts: {{connect_s: 2, read_s: {read_s}}}\n")

    config = ("request_log:\n  flush_interval_s: 0.1\nmodels:\n  - name: mj\n    deployments:\n"
              f"{dep('mj-dead', f'http://127.0.0.1:{free_port()}')}{dep('mj-slow', root, read_s=0.5)}"
              f"{dep('mj-steady', root)}")
    gw = start_gateway(tmp_path_factory, config, name="mj-shaky-gateway", env={"MJ_SECRET": UPSTREAM_SECRET})
    yield gw
    gw.proc.stop()


def test_an_unreachable_deployment_and_a_timed_out_one_fall_back(shaky_gateway, sim):
    on_submit(sim, "hang", first_n=1)  # mj-slow's submit never answers; its read_s (0.5 s) ends the wait
    status, headers, submitted = mj(shaky_gateway, "POST", "/mj/submit/imagine", {"prompt": "a kite"})
    assert status == 200 and submitted["code"] == 1
    row = shaky_gateway.log_row(headers["x-request-id"])
    assert [(a["deployment"], a["category"]) for a in row["attempts_detail"]] == [
        ("mj-dead", "network.connect"), ("mj-slow", "upstream.timeout"), ("mj-steady", None)]
    assert poll(shaky_gateway, submitted["result"])[-1]["status"] == "SUCCESS"


# -- a gateway whose Midjourney deployment is taken out of rotation by a refused secret ----------------

@pytest.fixture(scope="module")
def guarded_gateway(tmp_path_factory, upstream):
    config = ("request_log:\n  flush_interval_s: 0.1\nmodels:\n  - name: midjourney\n    deployments:\n"
              f"      - provider: midjourney\n        base_url: http://127.0.0.1:{upstream.port}\n"
              "        model: midjourney\n        api_key_env: MJ_SECRET\n        name: mj-solo\n"
              "        circuit: {probe_s: 0.5, max_probe_s: 0.5}\n")
    gw = start_gateway(tmp_path_factory, config, name="mj-guarded-gateway", env={"MJ_SECRET": UPSTREAM_SECRET})
    yield gw
    gw.proc.stop()


def upstream_paths(sim) -> list[str]:
    return [r["path"] for r in json.loads(http("GET", sim.url + "/_sim/requests")[2])["requests"]]


def out_of_rotation(gw) -> list[str]:
    return json.loads(http("GET", gw.url + "/readyz")[2])["out_of_rotation"]


def test_a_refused_secret_takes_a_midjourney_deployment_out_and_a_probe_that_submits_nothing_brings_it_back(
        guarded_gateway, sim):
    gw = guarded_gateway
    sim.set_faults([{"match": {"path": "/mj/*"}, "fault": "status=401"}])  # the secret is refused everywhere
    status, _, body = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "a kite"})
    assert status == 502 and body["category"] == "auth.key_invalid"
    assert "mj-solo" in out_of_rotation(gw)
    status, headers, body = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "a kite"})
    assert status == 503 and body["category"] == "auth.key_invalid" and "mj-solo" in body["description"]
    assert gw.log_row(headers["x-request-id"])["attempts"] == 0  # answered without calling the upstream
    deadline = time.monotonic() + 15
    while "/mj/task/list-by-condition" not in upstream_paths(sim) and time.monotonic() < deadline:
        time.sleep(0.1)  # a probe every probe_s (0.5 s)
    assert "/mj/task/list-by-condition" in upstream_paths(sim)
    assert "mj-solo" in out_of_rotation(gw)  # refused too: it stays out
    sim.set_faults([])  # the secret works again: the next probe brings it back
    deadline = time.monotonic() + 15
    while "mj-solo" in out_of_rotation(gw) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "mj-solo" not in out_of_rotation(gw)
    status, _, submitted = mj(gw, "POST", "/mj/submit/imagine", {"prompt": "a kite"})
    assert status == 200 and submitted["code"] == 1
    paths = upstream_paths(sim)
    assert paths.count("/mj/submit/imagine") == 2  # the refused one and the last: every probe was a list
    assert "deployment mj-solo is back in rotation" in gw.proc.output()
