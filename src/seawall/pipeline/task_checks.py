"""What the Midjourney task API accepts and how it answers a refusal: its routes, the key header,
body checks, and midjourney-proxy's error shape with Seawall's request ID, hint and category.
Pure: pipeline/tasks.py does the I/O."""

from __future__ import annotations

import math
import re

import orjson

from seawall.config import ResolvedDeployment
from seawall.decide.classify import Classification
from seawall.decide.keys import KeyProblem
from seawall.dialects.base import key_from
from seawall.errors import SeawallError, error
from seawall.pipeline.ingress import load_json
from seawall.providers import midjourney as mj
from seawall.providers.base import ErrorBody

PREFIX = "/mj/"
_FETCH = re.compile(r"^/mj/task/([^/]+)/fetch$")
LIST_PATH = "/mj/task/list-by-condition"
SERVED = ("POST /mj/submit/imagine", "POST /mj/submit/action", "POST /mj/submit/blend", "POST /mj/submit/describe",
          "GET /mj/task/{id}/fetch", "POST /mj/task/list-by-condition")
# Enough for a day of a busy team's tasks; each entry is a short id and a reference (~150 bytes).
DEFAULT_MAX_TASKS = 100_000


class MidjourneyCredential:
    """Where a midjourney-proxy client sends its key: `mj-api-secret`, or `Authorization: Bearer`
    (what new-api's relay and most HTTP tools send). Read by pipeline/auth.py."""

    name = "midjourney"
    key_how = "'mj-api-secret: sk-sw-...' or 'Authorization: Bearer sk-sw-...'"

    def credential(self, headers: dict[str, str]) -> tuple[str | None, KeyProblem | None]:
        return key_from(headers, mj.KEY_HEADER)


CREDENTIAL = MidjourneyCredential()


def route_of(method: str, path: str) -> tuple[str, str] | None:
    """(operation, argument) for a served /mj/ route: ("submit", action), ("fetch", id), ("list", "")."""
    if path.startswith("/mj/submit/") and method == "POST":
        action = path.removeprefix("/mj/submit/")
        return ("submit", action) if action in mj.SUBMIT_ACTIONS else None
    found = _FETCH.match(path)
    if found and method == "GET":
        return "fetch", found.group(1)
    if path == LIST_PATH and method == "POST":
        return "list", ""
    return None


def parse_body(raw: bytes, endpoint: str) -> dict:
    if not raw.strip():
        raise error("empty_body")
    try:
        body = load_json(raw)
    except orjson.JSONDecodeError as e:
        raise error("invalid_json", detail=str(e).split(":")[0]) from None
    if not isinstance(body, dict):
        raise error("body_not_object", got=type(body).__name__ if body is not None else "null")
    return body


def _text_field(body: dict, name: str, endpoint: str) -> str:
    value = body.get(name)
    if value is None:
        raise error("missing_field", param=name, endpoint=endpoint)
    if not isinstance(value, str):
        raise error("invalid_field", param=name, expected="a string", got=type(value).__name__)
    if not value.strip():
        raise error("invalid_value", param=name, expected="a non-empty string", got="an empty string")
    return value


def check_submit(action: str, body: dict) -> str | None:
    """Refuse a submit the proxy would refuse with code 4, naming the field; returns the taskId an
    action refers to (it must go to the deployment that holds that task)."""
    endpoint = f"POST /mj/submit/{action}"
    if action == "imagine":
        _text_field(body, "prompt", endpoint)
    elif action == "action":
        _text_field(body, "customId", endpoint)
        return _text_field(body, "taskId", endpoint)
    elif action == "describe":
        _text_field(body, "base64", endpoint)
    elif action == "blend":
        images = body.get("base64Array")
        if images is None:
            raise error("missing_field", param="base64Array", endpoint=endpoint)
        if not isinstance(images, list) or not 2 <= len(images) <= 5 or not all(isinstance(i, str) for i in images):
            raise error("invalid_value", param="base64Array", expected="a list of 2 to 5 base64 data-URL strings",
                        got=f"{len(images)} item(s)" if isinstance(images, list) else type(images).__name__)
    return None


def error_payload(err: SeawallError, request_id: str, properties: dict | None = None) -> dict:
    """midjourney-proxy's submit-result shape, so its clients read `code`, plus Seawall's facts."""
    upstream = int(err.provider_code) if err.provider_code and err.provider_code.isdigit() else None
    body = {"code": mj.mj_code(err.category, upstream), "description": err.sdk_message, "result": None,
            "properties": properties or {}, "request_id": request_id, "hint": err.hint, "category": err.category,
            "type": err.type}
    if err.param:
        body["param"] = err.param
    return body


def annotate(task: dict, cls: Classification) -> dict:
    """A FAILURE task with what Seawall makes of it (the proxy's own fields untouched)."""
    return {**task, "seawall_category": cls.category, "seawall_hint": mj.failure_hint(cls),
            "seawall_retry": cls.retry}


def refusal(target: ResolvedDeployment, status: int, cls: Classification, body: ErrorBody) -> SeawallError:
    """An upstream's refused submit or failed fetch as a catalog error: its description, its code,
    what to check first, and the wait it named."""
    if cls.category.startswith("auth.") and status == 401:  # the proxy refused the gateway's secret
        return SeawallError("upstream_auth_failed", {"deployment": target.label, "message": body.message},
                            category_override=cls.category, provider_code=body.code)
    headers: dict[str, str] = {}
    if cls.wait_s is not None:
        headers["retry-after"] = str(max(1, math.ceil(cls.wait_s)))
        headers["retry-after-ms"] = str(int(cls.wait_s * 1000))
    message = body.message or f"The Midjourney upstream {target.label} answered HTTP {status}."
    return SeawallError("upstream_error", {"message": message, "hint": mj.failure_hint(cls)}, headers=headers,
                        status_override=mj.submit_status(cls.category),
                        type_override="invalid_request_error" if cls.category.startswith("request.") else
                        "upstream_error", category_override=cls.category, provider_code=body.code)


# -- effects ---------------------------------------------------------------------------------------
