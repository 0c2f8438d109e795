"""Midjourney through a task proxy of the midjourney-proxy family (novicezk, trueai-org, new-api's
MJ relay): a translation table, no I/O (docs/reference/provider-errors.md §6).

A task upstream fits no chat protocol: a client submits a job (`POST /mj/submit/imagine` →
`{"code": 1, "result": "<task id>"}`) and polls it (`GET /mj/task/{id}/fetch` → the task, whose
`status` ends SUCCESS with an `imageUrl` or FAILURE with a `failReason`). So this module has its
own small protocol, `TaskProvider`: build the submit, fetch and list requests, read the submit
reply and the task, and judge a failure with the shared classifier (decide/classify.py). It
declares no chat operation in `supports`, so routing never picks a Midjourney deployment for
chat or embeddings (pipeline/route.py).

Two quirks shape the reading (§6.1, §6.2): a submit answers HTTP 200 even when it fails (its
`code` says how), and Discord's refusals (Missing Access, Missing Permissions, …) arrive later,
as a task whose status is FAILURE, still at HTTP 200.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Protocol
from urllib.parse import quote

import orjson

from seawall.config import ResolvedDeployment
from seawall.decide.classify import Classification, classify_failure
from seawall.decide.discord_rules import discord_code_in
from seawall.errors import CHECK_FIRST, MIDJOURNEY_CHECK_FIRST
from seawall.providers.base import ErrorBody, UpstreamRequest

PROVIDER = "midjourney"
KEY_HEADER = "mj-api-secret"  # midjourney-proxy's ApiAuthorizeInterceptor; new-api's /mj relay reads it too
SUBMIT_ACTIONS = ("imagine", "action", "blend", "describe")
# Submit codes that mean the task exists (§6.1): submitted, already exists, queued behind others.
ACCEPTED = frozenset({1, 21, 22})
# midjourney-proxy's ReturnCode for Seawall's own refusals, so a client that reads `code` sees them.
NOT_FOUND, VALIDATION_ERROR, FAILURE, QUEUE_REJECTED, BANNED_PROMPT = 3, 4, 9, 23, 24
FINAL_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCEL"})


@dataclass(frozen=True, slots=True)
class SubmitReply:
    """A submit's answer, read. `accepted`: the task exists upstream and `task_id` names it."""

    code: int
    description: str
    task_id: str | None
    properties: dict = field(default_factory=dict)
    body: dict = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.code in ACCEPTED and bool(self.task_id)


class MalformedTaskReply(Exception):
    """The upstream answered 2xx with something that is not midjourney-proxy's JSON."""


class TaskProvider(Protocol):
    name: str
    supports: frozenset[str]  # no "chat" / "embeddings": routing never sends those here

    def build_submit(self, action: str, body: bytes, target: ResolvedDeployment) -> UpstreamRequest: ...

    def build_fetch(self, task_id: str, target: ResolvedDeployment) -> UpstreamRequest: ...

    def build_list(self, task_ids: list[str], target: ResolvedDeployment) -> UpstreamRequest: ...

    def read_submit(self, body: bytes) -> SubmitReply: ...

    def read_task(self, body: bytes) -> dict | None: ...

    def read_error(self, status: int, body: bytes) -> ErrorBody: ...


def task_base(base_url: str) -> str:
    """The proxy's root: a base_url given with its /mj context path keeps it once, not twice."""
    return base_url.rstrip("/").removesuffix("/mj")


class MidjourneyTasks:
    name = PROVIDER
    supports = frozenset({"tasks"})

    def _headers(self, target: ResolvedDeployment) -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": "application/json"}
        if target.api_key:
            headers[KEY_HEADER] = target.api_key
        return {**headers, **target.spec.headers}

    def build_submit(self, action: str, body: bytes, target: ResolvedDeployment) -> UpstreamRequest:
        """The client's JSON is relayed as sent: the proxy's fields (prompt, base64Array,
        notifyHook, state, botType, …) differ between forks, and none is Seawall's to judge."""
        return UpstreamRequest("POST", f"{task_base(target.base_url)}/mj/submit/{action}", self._headers(target), body)

    def build_fetch(self, task_id: str, target: ResolvedDeployment) -> UpstreamRequest:
        url = f"{task_base(target.base_url)}/mj/task/{quote(task_id, safe='')}/fetch"
        return UpstreamRequest("GET", url, self._headers(target), b"")

    def build_list(self, task_ids: list[str], target: ResolvedDeployment) -> UpstreamRequest:
        return UpstreamRequest("POST", f"{task_base(target.base_url)}/mj/task/list-by-condition",
                               self._headers(target), orjson.dumps({"ids": task_ids}))

    def read_submit(self, body: bytes) -> SubmitReply:
        data = _json(body)
        if not isinstance(data, dict) or not isinstance(data.get("code"), int) or isinstance(data.get("code"), bool):
            raise MalformedTaskReply(f"a submit reply without an integer 'code': {body[:100]!r}")
        result = data.get("result")
        properties = data.get("properties")
        return SubmitReply(data["code"], str(data.get("description") or ""),
                           str(result) if isinstance(result, (str, int)) and result != "" else None,
                           properties if isinstance(properties, dict) else {}, data)

    def read_task(self, body: bytes) -> dict | None:
        """The task, or None when the proxy does not know the id (it answers 200 with an empty
        body or `null`, §6.2)."""
        if not body.strip():
            return None
        data = _json(body)
        if data is None:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("status", ""), (str, type(None))):
            raise MalformedTaskReply(f"a task reply that is not a task object: {body[:100]!r}")
        return data

    def read_error(self, status: int, body: bytes) -> ErrorBody:
        data = _json(body) if body.strip() else None
        if isinstance(data, dict):
            message = data.get("description") or data.get("message") or data.get("error") or ""
            code = data.get("code")
            return ErrorBody(str(message), code=None if code is None else str(code), raw=body)
        if status == 401 and not body.strip():  # §6.1: a wrong or missing mj-api-secret
            return ErrorBody("the proxy refused the mj-api-secret (HTTP 401, empty body)", raw=body)
        return ErrorBody(body[:200].decode("utf-8", "replace") or f"HTTP {status}", raw=body)


def _json(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise MalformedTaskReply(f"not JSON: {body[:100]!r}") from None


# -- judging failures ------------------------------------------------------------------------------

def classify_submit(status: int, headers: Mapping[str, str], body: bytes, now: float) -> Classification | None:
    """A submit's outcome: None when the task was accepted, else why not (the shared classifier
    reads midjourney-proxy's codes at HTTP 200, Discord's bodies, 401 with an empty body, …)."""
    return classify_failure(status, headers, body, now, provider="midjourney-proxy" if status < 300 or not body.strip()
                            else None)


def classify_task(task: Mapping) -> Classification | None:
    """None unless the task ended FAILURE; then the failReason's category, retry advice and
    evidence, by the shared classifier (decide/discord_rules.py), as `seawall explain` reads it."""
    if str(task.get("status") or "").upper() != "FAILURE":
        return None
    found = classify_failure(200, {}, dict(task), provider="midjourney-proxy")
    code = discord_code_in(str(task.get("failReason") or ""))
    if found is not None and code is not None:  # Discord's own code is the useful one to show
        found = replace(found, provider_code=code, provider="discord")
    return found if found is not None else Classification("upstream.server_error", "backoff", None, None,
                                                          ("task FAILURE",), "midjourney-proxy")


def submit_status(category: str) -> int:
    """The HTTP status Seawall answers a refused submit with (new-api's MJ relay does the same:
    4xx instead of the proxy's 200, so clients that only read the status see the failure too)."""
    if category.startswith("request."):
        return 400
    if category.startswith("rate_limit."):
        return 429
    if category.startswith("capacity."):
        return 503
    if category == "upstream.timeout":
        return 504
    return 502  # the proxy, its Discord account or its channel: nothing the caller's request can fix


def mj_code(category: str, upstream_code: int | None = None) -> int:
    """The `code` a midjourney-proxy client reads: the upstream's own when it gave one."""
    if upstream_code is not None and upstream_code not in ACCEPTED:
        return upstream_code
    if category == "request.content_filter":
        return BANNED_PROMPT
    if category.startswith("request."):
        return VALIDATION_ERROR
    if category == "capacity.queue_full":
        return QUEUE_REJECTED
    if category in ("route.not_found", "model.not_found"):
        return NOT_FOUND
    return FAILURE


def failure_hint(cls: Classification) -> str:
    """What to check first for a Midjourney failure; a wait the reply names comes first."""
    hint = MIDJOURNEY_CHECK_FIRST.get(cls.category) or CHECK_FIRST.get(cls.category, "")
    if cls.wait_s is not None:
        return f"Wait {cls.wait_s:g} s (the retry_after the reply names) before submitting again. {hint}"
    return hint
