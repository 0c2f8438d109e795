"""Golden tests for the Midjourney task adapter (providers/midjourney.py) and the pure decisions of
the gateway's task routes (pipeline/tasks.py): requests built, replies read, failures judged and
rendered, with no I/O."""

from __future__ import annotations

import orjson
import pytest

from seawall.config import ConfigError, Deployment, ResolvedDeployment, parse_settings
from seawall.errors import SeawallError
from seawall.pipeline import task_checks as tasks
from seawall.pipeline.route import Router
from seawall.providers import midjourney as mj
from seawall.providers.registry import adapter_for, task_adapter_for

P = mj.MidjourneyTasks()
BASE = "https://mj.example.com"
SECRET = "mj-secret-0001"


def target(base: str = BASE, name: str = "mj-a", **spec) -> ResolvedDeployment:
    dep = Deployment(**{"provider": "midjourney", "base_url": base, "model": "midjourney", "api_key_env": "K",
                        "name": name, **spec})
    return ResolvedDeployment("midjourney", dep, dep.base_url, SECRET)


def task(status: str, reason: str | None = None) -> dict:
    """A task as midjourney-proxy's fetch returns it (§6.2)."""
    return {"id": "1320098173412546", "action": "IMAGINE", "status": status, "prompt": "cat", "promptEn": "cat",
            "description": "/imagine cat", "state": None, "submitTime": 1700000000000, "startTime": 1700000001000,
            "finishTime": 1700000002000, "imageUrl": None, "progress": "", "failReason": reason, "properties": {}}


# -- config and registry -----------------------------------------------------------------------------

def test_a_midjourney_deployment_is_accepted_and_never_routed_for_chat():
    settings = parse_settings({"models": [{"name": "midjourney", "deployments": [
        {"provider": "midjourney", "base_url": BASE, "model": "midjourney", "api_key_env": "MJ"}]}]})
    dep = settings.models[0].deployments[0]
    assert dep.label == "midjourney/midjourney@mj.example.com"
    assert adapter_for("midjourney") is task_adapter_for("midjourney") is not None
    assert not {"chat", "embeddings"} & adapter_for("midjourney").supports
    router = Router({"midjourney": [ResolvedDeployment("midjourney", dep, BASE, SECRET)]})
    with pytest.raises(SeawallError) as e:
        router.candidates("midjourney", "chat")
    assert e.value.code == "operation_not_supported"


def test_a_midjourney_deployment_needs_its_secret_like_any_provider():
    with pytest.raises(ConfigError, match="api_key_env"):
        parse_settings({"models": [{"name": "mj", "deployments": [
            {"provider": "midjourney", "base_url": BASE, "model": "midjourney"}]}]})


# -- requests ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("base", [BASE, BASE + "/", BASE + "/mj", BASE + "/mj/"])
def test_urls_keep_one_mj_context_path(base):
    t = target(base.rstrip("/") if base.endswith("/mj/") else base)
    assert P.build_submit("imagine", b"{}", t).url == f"{BASE}/mj/submit/imagine"
    assert P.build_fetch("1320098173412546", t).url == f"{BASE}/mj/task/1320098173412546/fetch"
    assert P.build_list(["1"], t).url == f"{BASE}/mj/task/list-by-condition"


def test_submit_relays_the_body_with_the_secret_and_extra_headers():
    body = orjson.dumps({"prompt": "cat --ar 16:9", "base64Array": [], "notifyHook": "https://x/hook"})
    up = P.build_submit("imagine", body, target(headers={"x-team": "design"}))
    assert (up.method, up.body) == ("POST", body)
    assert up.headers["mj-api-secret"] == SECRET and up.headers["x-team"] == "design"
    assert "authorization" not in up.headers


def test_fetch_escapes_the_id_and_list_sends_ids():
    assert P.build_fetch("a/b", target()).url.endswith("/mj/task/a%2Fb/fetch")
    up = P.build_list(["1", "2"], target())
    assert (up.method, orjson.loads(up.body)) == ("POST", {"ids": ["1", "2"]})


# -- replies -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("body,code,task_id,accepted", [
    ({"code": 1, "description": "提交成功", "result": "1320098173412546", "properties": {"discordInstanceId": "9"}},
     1, "1320098173412546", True),
    ({"code": 22, "description": "排队中，前面还有2个任务", "result": "77", "properties": {"numberOfQueues": 2}},
     22, "77", True),
    ({"code": 21, "description": "任务已存在", "result": 78}, 21, "78", True),
    ({"code": 24, "description": "可能包含敏感词", "result": None}, 24, None, False),
    ({"code": 1, "description": "提交成功", "result": ""}, 1, None, False),
])
def test_read_submit(body, code, task_id, accepted):
    reply = P.read_submit(orjson.dumps(body))
    assert (reply.code, reply.task_id, reply.accepted) == (code, task_id, accepted)


@pytest.mark.parametrize("raw", [b"<html>502</html>", b'{"code": "1"}', b"[1]", b'{"description": "x"}'])
def test_read_submit_refuses_what_is_not_a_submit_result(raw):
    with pytest.raises(mj.MalformedTaskReply):
        P.read_submit(raw)


def test_read_task_knows_the_proxys_unknown_id_answers():
    assert P.read_task(b"") is None and P.read_task(b"null") is None and P.read_task(b"  ") is None
    assert P.read_task(orjson.dumps(task("SUCCESS")))["status"] == "SUCCESS"
    with pytest.raises(mj.MalformedTaskReply):
        P.read_task(b'{"status": 3}')
    with pytest.raises(mj.MalformedTaskReply):
        P.read_task(b"<html>")


def test_read_error():
    assert P.read_error(401, b"").message.startswith("the proxy refused the mj-api-secret")
    read = P.read_error(429, b'{"message": "You are being rate limited.", "retry_after": 2.5, "global": false}')
    assert read.message == "You are being rate limited."
    assert P.read_error(200, submit(23, "队列已满")).code == "23"
    assert P.read_error(500, b'{"status": 500, "error": "Internal Server Error"}').message == "Internal Server Error"


# -- judging failures --------------------------------------------------------------------------------

def submit(code: int, description: str) -> bytes:
    return orjson.dumps({"code": code, "description": description, "result": None, "properties": {}})


@pytest.mark.parametrize("status,headers,body,category,wait", [
    (200, {}, submit(23, "队列已满，请稍后尝试"), "capacity.queue_full", None),
    (200, {}, submit(24, "可能包含敏感词"), "request.content_filter", None),
    (200, {}, submit(4, "prompt不能为空"), "request.invalid", None),
    (200, {}, submit(3, "无可用的账号实例"), "capacity.circuit_open", None),
    (200, {}, submit(50013, "Missing Permissions"), "permission.channel", None),
    (401, {}, b"", "auth.key_invalid", None),
    (429, {"retry-after": "3", "x-ratelimit-scope": "user"},
     b'{"message": "You are being rate limited.", "retry_after": 2.5, "global": false}', "rate_limit.requests", 2.5),
    (500, {}, b'{"status": 500, "error": "Internal Server Error", "path": "/mj/submit/imagine"}',
     "upstream.server_error", None),
])
def test_classify_submit(status, headers, body, category, wait):
    found = mj.classify_submit(status, headers, body, now=0.0)
    assert (found.category, found.wait_s) == (category, wait)


@pytest.mark.parametrize("code", [1, 21, 22])
def test_an_accepted_submit_is_no_failure(code):
    assert mj.classify_submit(200, {}, orjson.dumps({"code": code, "description": "", "result": "1"}), 0.0) is None


@pytest.mark.parametrize("reason,category,code", [
    ("Missing Access", "permission.channel", "50001"),
    ("Missing Access 50001", "permission.channel", "50001"),
    ("Missing Permissions 50013", "permission.channel", "50013"),
    ("bot not in server", "permission.channel", "FAILURE"),
    ("The bot is not a member of the Discord server", "permission.channel", "FAILURE"),
    ("Invalid Form Body", "request.invalid", "50035"),
    ("Unknown Channel", "route.not_found", "10003"),
    ("[Banned prompt detected] Sorry! Our AI moderator thinks this prompt is against our community standards.",
     "request.content_filter", "FAILURE"),  # the shared rules keep the task's status as its code
    ("任务超时", "upstream.timeout", "FAILURE"),
    ("[Internal Server Error] java.lang.NullPointerException", "upstream.server_error", "FAILURE"),
    ("something nobody has seen", "upstream.server_error", "FAILURE"),
])
def test_classify_task_failures(reason, category, code):
    found = mj.classify_task(task("FAILURE", reason))
    assert (found.category, found.provider_code) == (category, code)


@pytest.mark.parametrize("status", ["NOT_START", "SUBMITTED", "IN_PROGRESS", "SUCCESS", "MODAL"])
def test_a_task_not_failed_is_no_failure(status):
    assert mj.classify_task(task(status)) is None


@pytest.mark.parametrize("category,status,code", [
    ("request.content_filter", 400, 24), ("request.invalid", 400, 4), ("capacity.queue_full", 503, 23),
    ("rate_limit.requests", 429, 9), ("permission.channel", 502, 9), ("upstream.timeout", 504, 9),
    ("route.not_found", 502, 3), ("auth.key_invalid", 502, 9),
])
def test_submit_status_and_code(category, status, code):
    assert (mj.submit_status(category), mj.mj_code(category)) == (status, code)
    assert mj.mj_code(category, 24) == 24 and mj.mj_code(category, 1) == code  # the upstream's own code wins


def test_failure_hints_say_what_to_check_first():
    channel = mj.classify_task(task("FAILURE", "Missing Access"))
    assert mj.failure_hint(channel).startswith("Invite the Discord bot")
    limited = mj.classify_submit(429, {}, b'{"message": "You are being rate limited.", "retry_after": 2.5}', 0.0)
    assert mj.failure_hint(limited).startswith("Wait 2.5 s")
    assert "Nothing on your side" in mj.failure_hint(mj.classify_task(task("FAILURE", "[Internal Server Error] x")))


# -- the gateway's side: pipeline/tasks.py's pure parts ---------------------------------------------

@pytest.mark.parametrize("method,path,found", [
    ("POST", "/mj/submit/imagine", ("submit", "imagine")),
    ("POST", "/mj/submit/blend", ("submit", "blend")),
    ("POST", "/mj/submit/shorten", None),
    ("GET", "/mj/submit/imagine", None),
    ("GET", "/mj/task/1320098173412546/fetch", ("fetch", "1320098173412546")),
    ("POST", "/mj/task/1/fetch", None),
    ("POST", "/mj/task/list-by-condition", ("list", "")),
    ("GET", "/mj/task/a/b/fetch", None),
])
def test_route_of(method, path, found):
    assert tasks.route_of(method, path) == found


@pytest.mark.parametrize("action,body,code,param", [
    ("imagine", {}, "missing_field", "prompt"),
    ("imagine", {"prompt": 5}, "invalid_field", "prompt"),
    ("imagine", {"prompt": "  "}, "invalid_value", "prompt"),
    ("action", {"taskId": "1"}, "missing_field", "customId"),
    ("action", {"customId": "MJ::JOB::upsample::1::x"}, "missing_field", "taskId"),
    ("describe", {"base64": ""}, "invalid_value", "base64"),
    ("blend", {"base64Array": ["a"]}, "invalid_value", "base64Array"),
    ("blend", {}, "missing_field", "base64Array"),
])
def test_check_submit_names_the_field(action, body, code, param):
    with pytest.raises(SeawallError) as e:
        tasks.check_submit(action, body)
    assert (e.value.code, e.value.param, e.value.status) == (code, param, 400)


def test_check_submit_passes_good_bodies_and_returns_an_actions_task():
    assert tasks.check_submit("imagine", {"prompt": "cat"}) is None
    assert tasks.check_submit("blend", {"base64Array": ["a", "b"]}) is None
    assert tasks.check_submit("action", {"taskId": "42", "customId": "MJ::JOB::upsample::1::x"}) == "42"


@pytest.mark.parametrize("raw,code", [(b"", "empty_body"), (b"{", "invalid_json"), (b"[1]", "body_not_object")])
def test_parse_body_refusals(raw, code):
    with pytest.raises(SeawallError) as e:
        tasks.parse_body(raw, "POST /mj/submit/imagine")
    assert e.value.code == code


def test_error_payload_is_a_submit_result_with_seawalls_facts():
    """`description` is what midjourney-proxy's clients print: the proxy's own text, then the next step."""
    err = SeawallError("upstream_error", {"message": "可能包含敏感词", "hint": "Rephrase."}, status_override=400,
                       category_override="request.content_filter", provider_code="24")
    body = tasks.error_payload(err, "req_1", {"bannedWord": "x"})
    assert body == {"code": 24, "description": "可能包含敏感词。Rephrase.", "result": None, "properties": {"bannedWord": "x"},
                    "request_id": "req_1", "hint": "Rephrase.", "category": "request.content_filter",
                    "type": "upstream_error"}
    missing = tasks.error_payload(SeawallError("missing_field", {"param": "prompt", "endpoint": "e"},
                                               param="prompt"), "req_2")
    assert (missing["code"], missing["param"]) == (4, "prompt")


def test_annotate_keeps_the_task_and_adds_seawalls_reading():
    failed = task("FAILURE", "Missing Permissions")
    seen = tasks.annotate(failed, mj.classify_task(failed))
    assert {k: seen[k] for k in failed} == failed
    assert (seen["seawall_category"], seen["seawall_retry"]) == ("permission.channel", "no")


@pytest.mark.parametrize("headers,token,problem", [
    ({"mj-api-secret": "sk-sw-abc"}, "sk-sw-abc", None),
    ({"authorization": "Bearer sk-sw-abc"}, "sk-sw-abc", None),
    ({"mj-api-secret": " ", "authorization": "Bearer sk-sw-abc"}, "sk-sw-abc", None),
    ({}, None, "missing_api_key"),
    ({"authorization": "sk-sw-abc"}, None, "malformed_auth_header"),
])
def test_the_callers_key_comes_from_mj_api_secret_or_bearer(headers, token, problem):
    got, found = tasks.CREDENTIAL.credential(headers)
    assert got == token and (found.code if found else None) == problem
