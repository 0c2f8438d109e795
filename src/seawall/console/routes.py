"""The console's pages, one handler each; console/pages.py routes to them after the session and
CSRF checks. A handler reads its form, calls the admin API's own functions (AdminConsole.call,
console/support.py) and renders a template; a SeawallError becomes the error page.
"""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import orjson

from seawall.console.pages import PREFIX, ConsoleApp, chart_series, key_path, page_link
from seawall.console.sessions import Session
from seawall.console.support import hint_of
from seawall.console.web import Request, Response, redirect
from seawall.observe.alerts import disabled_view

_WINDOWS = {"1h": 3600, "24h": 86400, "7d": 7 * 86400}
_LIMIT_FIELDS = ("rps", "rpm", "tpm", "max_concurrency")
_POLICY_FIELDS = ("context_policy", "max_messages", "max_images", "max_image_bytes", "max_body_bytes")
_FILTERS = ("since", "until", "status", "category", "model", "key", "tenant", "request_id", "cursor")


def table(app: ConsoleApp) -> list:
    h = Pages(app)
    rows = [("GET", "/", h.home, False), ("POST", "/logout", app.logout, False), ("GET", "/me", h.me, False),
            ("GET", "/overview", h.overview, True),
            ("GET", "/requests", h.requests, False), ("GET", "/requests/(?P<id>[^/]+)", h.request, False),
            ("POST", "/requests/(?P<id>[^/]+)/replay", h.replay, True),
            ("GET", "/requests/(?P<id>[^/]+)/bundle", h.bundle, True),
            ("GET", "/keys", h.keys, True), ("POST", "/keys", h.create_key, True),
            ("GET", "/keys/(?P<ref>[^/]+)", h.key, True), ("POST", "/keys/(?P<ref>[^/]+)", h.update_key, True),
            ("POST", "/keys/(?P<ref>[^/]+)/(?P<action>revoke|rotate)", h.key_action, True),
            ("GET", "/groups", h.groups, True), ("POST", "/groups", h.create_group, True),
            ("GET", "/groups/(?P<name>[^/]+)", h.group, True), ("POST", "/groups/(?P<name>[^/]+)", h.update_group, True),
            ("GET", "/tenants", h.tenants, True), ("POST", "/tenants/(?P<name>[^/]+)", h.put_tenant, True),
            ("GET", "/deployments", h.deployments, True),
            ("POST", "/deployments/(?P<name>[^/]+)/test", h.test_deployment, True),
            ("GET", "/alerts", h.alerts, True)]
    return [(method, re.compile(path), handler, admin_only) for method, path, handler, admin_only in rows]


def _body(values: dict):
    async def read() -> dict:
        return values
    return read


def _number(text: str) -> object:
    """A form's number as JSON's; anything else passes through, for the API's reader to name."""
    text = text.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d*\.\d+", text):
        return float(text)
    return text


def _list(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,\s]+", text) if part.strip()]


def key_form(form: dict[str, str], updating: bool) -> dict:
    """A key's form as the admin API's body. Creating: blanks are left out (defaults); updating:
    a blank clears the field (the form shows every current value)."""
    body: dict = {}
    for name in ("name", "tenant", "group"):
        if form.get(name, "").strip() or updating and name != "name":
            body[name] = form.get(name, "").strip() or None
    for name in ("models", "ip_allowlist"):
        if name in form and (form[name].strip() or updating):
            body[name] = _list(form[name])
    if form.get("expires_at", "").strip() or updating:
        body["expires_at"] = form.get("expires_at", "").strip() or None
    for name in ("quota_tokens", "quota_usd", *_LIMIT_FIELDS, *_POLICY_FIELDS):
        value = form.get(name, "").strip()
        if value or updating:
            body[name] = (value if name == "context_policy" else _number(value)) if value else None
    if form.get("metadata", "").strip():
        pairs = [line.partition("=") for line in form["metadata"].splitlines() if line.strip()]
        body["metadata"] = {k.strip(): v.strip() for k, _, v in pairs}
    if updating:
        body["enabled"] = form.get("enabled") == "on"
    return body


def group_form(form: dict[str, str], updating: bool) -> dict:
    body = {k: v for k, v in key_form(form, updating).items()
            if k in ("name", "models", "quota_tokens", "quota_usd", "metadata", *_LIMIT_FIELDS, *_POLICY_FIELDS)}
    if updating:
        body.pop("name", None)
    return body


class Pages:
    def __init__(self, app: ConsoleApp):
        self.app, self.gw = app, app.gw

    async def call(self, method: str, path: str, body: dict | None = None) -> object:
        return (await self.gw.admin.call(method, path, _body(body or {})))[1]

    # -- home, overview, the key owner's page ------------------------------------------------------
    async def home(self, request: Request, session: Session) -> Response:
        return redirect(PREFIX + ("/overview" if session.is_admin else "/me"))

    async def overview(self, request: Request, session: Session) -> Response:
        window = request.query.get("window") if request.query.get("window") in _WINDOWS else "1h"
        stats = await self.gw.support.stats({"since": window}, self.app.viewer(session))
        buckets = stats["buckets"]
        total = sum(b["requests"] for b in buckets)
        errors = sum(b["error_count"] for b in buckets)
        return self.app.page("overview.html", session, window=window, windows=list(_WINDOWS), charts=chart_series(
            buckets), total=total, errors=errors, tokens=sum(b["prompt_tokens"] + b["completion_tokens"] for b in buckets),
            cost=sum(b["cost_usd"] for b in buckets), bucket_s=stats["bucket_s"])

    async def me(self, request: Request, session: Session) -> Response:
        if session.is_admin:
            return redirect(PREFIX + "/overview")
        viewer = self.app.viewer(session)
        recent = await self.gw.support.list_requests({"limit": "20"}, viewer)
        errors = await self.gw.support.list_requests({"limit": "20", "status": "error"}, viewer)
        for row in errors["data"]:
            row["hint"] = hint_of(_record(row), None)
        return self.app.page("me.html", session, key=self.app.owner_view(session), recent=recent["data"],
                             errors=errors["data"])

    # -- the request log ---------------------------------------------------------------------------
    async def requests(self, request: Request, session: Session) -> Response:
        filters = {k: request.query[k] for k in _FILTERS if request.query.get(k)}
        if not session.is_admin:
            filters.pop("key", None)
        page = await self.gw.support.list_requests({**filters, "limit": "50"}, self.app.viewer(session))
        names = await self.key_names() if session.is_admin else {}
        return self.app.page("requests.html", session, rows=page["data"], filters=filters, names=names,
                             next_link=page_link(filters, cursor=page["next_cursor"]) if page["has_more"] else None,
                             first_link=page_link(filters, cursor=None) if "cursor" in filters else None)

    async def request(self, request: Request, session: Session) -> Response:
        view = await self.gw.support.request(request.query["_id"], self.app.viewer(session))
        names = await self.key_names() if session.is_admin else {}
        return self.app.page("request.html", session, r=view, capture=view["capture"], names=names,
                             deployments=sorted(self.gw.support.deployments), models=self.gw.router.model_names)

    async def replay(self, request: Request, session: Session) -> Response:
        request_id = request.query["_id"]
        result = await self.gw.support.replay(request_id, request.form.get("deployment") or None,
                                              request.form.get("model") or None)
        return self.app.page("replay.html", session, request_id=request_id, result=result)

    async def bundle(self, request: Request, session: Session) -> Response:
        request_id = request.query["_id"]
        data = await self.gw.support.bundle(request_id)
        filename = re.sub(r"[^A-Za-z0-9_.-]", "_", f"seawall-bundle-{request_id}.json")
        return Response(200, orjson.dumps(data, option=orjson.OPT_INDENT_2), b"application/json",
                        [(b"content-disposition", f'attachment; filename="{filename}"'.encode())])

    async def key_names(self) -> dict[str, str]:
        return {k.id: k.name for k in await self.gw.store.load_keys()}

    # -- keys --------------------------------------------------------------------------------------
    async def keys(self, request: Request, session: Session) -> Response:
        keys = (await self.call("GET", "/admin/keys"))["data"]
        groups = (await self.call("GET", "/admin/groups"))["data"]
        keys.sort(key=lambda k: (k["state"] != "active", k["name"].lower()))
        return self.app.page("keys.html", session, keys=keys, groups=groups)

    async def create_key(self, request: Request, session: Session) -> Response:
        made = await self.call("POST", "/admin/keys", key_form(request.form, updating=False))
        return self.app.page("key_created.html", session, made=made, replaces=None)

    async def key(self, request: Request, session: Session) -> Response:
        key = await self.call("GET", f"/admin/keys/{quote(request.query['_ref'], safe='')}")
        groups = (await self.call("GET", "/admin/groups"))["data"]
        return self.app.page("key.html", session, k=key, groups=groups, saved=request.query.get("saved") == "1")

    async def update_key(self, request: Request, session: Session) -> Response:
        key = await self.call("PATCH", f"/admin/keys/{quote(request.query['_ref'], safe='')}",
                              key_form(request.form, updating=True))
        return redirect(key_path(key["id"]) + "?saved=1")

    async def key_action(self, request: Request, session: Session) -> Response:
        action = request.query["_action"]
        result = await self.call("POST", f"/admin/keys/{quote(request.query['_ref'], safe='')}/{action}")
        if action == "rotate":
            return self.app.page("key_created.html", session, made=result, replaces=result["replaces"])
        return redirect(key_path(result["id"]))

    # -- groups and tenants ------------------------------------------------------------------------
    async def groups(self, request: Request, session: Session) -> Response:
        return self.app.page("groups.html", session, groups=(await self.call("GET", "/admin/groups"))["data"])

    async def create_group(self, request: Request, session: Session) -> Response:
        group = await self.call("POST", "/admin/groups", group_form(request.form, updating=False))
        return redirect(f"{PREFIX}/groups/{quote(group['name'], safe='')}")

    async def group(self, request: Request, session: Session) -> Response:
        group = await self.call("GET", f"/admin/groups/{quote(request.query['_name'], safe='')}")
        return self.app.page("group.html", session, g=group, saved=request.query.get("saved") == "1")

    async def update_group(self, request: Request, session: Session) -> Response:
        group = await self.call("PATCH", f"/admin/groups/{quote(request.query['_name'], safe='')}",
                                group_form(request.form, updating=True))
        return redirect(f"{PREFIX}/groups/{quote(group['name'], safe='')}?saved=1")

    async def tenants(self, request: Request, session: Session) -> Response:
        return self.app.page("tenants.html", session, tenants=(await self.call("GET", "/admin/tenants"))["data"])

    async def put_tenant(self, request: Request, session: Session) -> Response:
        body = {name: _number(request.form[name]) if request.form.get(name, "").strip() else None
                for name in _LIMIT_FIELDS}
        await self.call("PUT", f"/admin/tenants/{quote(request.query['_name'], safe='')}", body)
        return redirect(f"{PREFIX}/tenants")

    # -- deployments and alerts --------------------------------------------------------------------
    async def deployments(self, request: Request, session: Session) -> Response:
        return self.app.page("deployments.html", session, deployments=await self._deployments(), tested=None)

    async def test_deployment(self, request: Request, session: Session) -> Response:
        """"Test now": the admin API's probe, so an answer brings a deployment out of rotation back."""
        name = request.query["_name"]
        outcome = await self.call("POST", f"/admin/deployments/{quote(name, safe='')}/test")
        return self.app.page("deployments.html", session, deployments=await self._deployments(),
                             tested={"name": name, "outcome": outcome})

    async def _deployments(self) -> list[dict]:
        """Each deployment's full view (GET /admin/deployments/{name}): state, circuit, gate, errors."""
        listing = await self.call("GET", "/admin/deployments")
        return [await self.call("GET", f"/admin/deployments/{quote(d['name'], safe='')}") for d in listing["data"]]

    async def alerts(self, request: Request, session: Session) -> Response:
        view = self.gw.alerts.view() if self.gw.alerts is not None else disabled_view()
        return self.app.page("alerts.html", session, alerts=view, now=time.time())


def _record(row: dict):
    """A log row's view back as a RequestRecord (for hint_of)."""
    from seawall.store.base import RequestRecord

    return RequestRecord(**{k: v for k, v in row.items() if k not in ("object", "time", "hint")})
