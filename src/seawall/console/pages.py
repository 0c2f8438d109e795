"""The console: web pages at /console on a port of their own (console.port), served by the gateway
process. Operators sign in with the admin key; a key's owner signs in with that `sk-sw-` key and
sees only its own quota, limits and requests.

Every page is rendered on the server (Jinja2, autoescaped: a key name or a captured body holding
HTML shows as text), works without JavaScript (the CSP allows none), and reads and changes
things through the same functions as the admin API (AdminConsole.call, console/support.py), so
the pages and the API can't disagree.

Sessions: an HttpOnly, SameSite=Strict cookie (Secure over TLS) that expires after
console.session_ttl_s; every POST carries the session's CSRF token (the sign-in form a token of
its own), and a request whose Origin is another site is refused.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlencode, urlsplit

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape

from seawall import __version__
from seawall.console.charts import Series, line_chart
from seawall.console.self_key import key_view as owner_key_view
from seawall.console.sessions import COOKIE, LOGIN_COOKIE, Session, Sessions, same_token
from seawall.console.web import BadForm, Request, Response, read_request, redirect, send_response
from seawall.decide.keys import SEAWALL_PREFIX
from seawall.decide.ownership import ADMIN, Viewer
from seawall.errors import SeawallError

PREFIX = "/console"
_STATIC = {"/static/console.css": "text/css; charset=utf-8"}
Handler = Callable[[Request, Session], Awaitable[Response]]


class ConsoleApp:
    def __init__(self, gateway, ttl_s: float, clock: Callable[[], float] = time.time):
        self.gw, self.clock = gateway, clock
        cluster = getattr(gateway, "cluster", None)  # gateways on one Redis share their sign-ins
        self.sessions = cluster.sessions(ttl_s) if cluster is not None else Sessions(ttl_s)
        self.env = Environment(loader=PackageLoader("seawall.console", "templates"),
                               autoescape=select_autoescape(["html"], default=True), trim_blocks=True,
                               lstrip_blocks=True)
        self.env.filters["json"] = lambda v: orjson.dumps(v, option=orjson.OPT_INDENT_2).decode()
        self.env.filters["ms"] = lambda v: "-" if v is None else f"{v:.0f}"
        self.env.globals.update(version=__version__, prefix=PREFIX)
        from seawall.console import routes  # the page handlers: one module per group of pages

        self.routes: list[tuple[str, re.Pattern, Handler, bool]] = routes.table(self)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await send_response(send, redirect(PREFIX + "/") if path == "/" else self.page(
                "error.html", None, 404, title="Not found", message="Nothing here: the console is at /console."))
            return
        try:
            request = await read_request(scope, receive, PREFIX, self.gw.settings.server.body_timeout_s)
        except BadForm as e:
            await send_response(send, self.page("error.html", None, 400, title="Bad form", message=str(e)))
            return
        await send_response(send, await self.answer(request))

    async def answer(self, request: Request) -> Response:
        if request.method == "GET" and request.path in _STATIC:
            return self.static(request.path)
        if request.path in ("/login", "/login/"):
            return await self.login(request) if request.method == "POST" else self.login_form(request)
        if not self.gw.ready:
            return self.page("error.html", None, 503, title="Starting", message="The gateway is starting; retry.")
        session = await self.sessions.get(request.cookies.get(COOKIE), self.clock())
        if session is not None and not session.is_admin and self.gw.auth.principal(session.key_id) is None:
            await self.sessions.end_for_key(session.key_id)  # the key was revoked, expired or rotated: so is its sign-in
            session = None
        if session is None:
            expired = COOKIE in request.cookies
            response = redirect(f"{PREFIX}/login" + ("?expired=1" if expired else ""))
            if expired:
                response.clear_cookie(COOKIE, request.secure)
            return response
        if request.method == "POST":
            refused = self.refuse_forgery(request, session)
            if refused is not None:
                return refused
        for method, pattern, handler, admin_only in self.routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method and (session.is_admin or not admin_only):
                request.query.update({f"_{k}": v for k, v in match.groupdict().items()})
                try:
                    return await handler(request, session)
                except SeawallError as e:
                    return self.page("error.html", session, e.status, title=e.message, message=e.hint,
                                     code=e.code)
        return self.page("error.html", session, 404, title="Not found", message="No such page.")

    def refuse_forgery(self, request: Request, session: Session) -> Response | None:
        """A POST must carry the session's CSRF token and, when the browser says, come from here."""
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
            return self.page("error.html", session, 403, title="Refused", message="This form came from another site.")
        if not same_token(request.form.get("csrf"), session.csrf):
            return self.page("error.html", session, 403, title="Refused",
                             message="The form's security token is missing or wrong: reload the page and try again.")
        return None

    # -- sign in and out ---------------------------------------------------------------------------
    def login_form(self, request: Request, status: int = 200, problem: str | None = None) -> Response:
        token = secrets.token_urlsafe(24)
        response = self.page("login.html", None, status, csrf=token, problem=problem,
                             expired=request.query.get("expired") == "1")
        response.set_cookie(LOGIN_COOKIE, token, 600, request.secure, PREFIX + "/login")
        return response

    async def login(self, request: Request) -> Response:
        if not same_token(request.form.get("csrf"), request.cookies.get(LOGIN_COOKIE, "")):
            return self.login_form(request, 403, "The sign-in form expired or came from elsewhere: try again.")
        key = request.form.get("key", "").strip()
        now = self.clock()
        if await self.gw.admin.admits(key):
            who, target = (None, "admin"), "/overview"
        else:
            principal = None
            if key.startswith(SEAWALL_PREFIX):
                try:
                    principal = self.gw.auth.authenticate({"authorization": f"Bearer {key}"})
                except SeawallError:
                    principal = None
            if principal is None:  # one answer for every refusal: a sign-in page is no key oracle
                return self.login_form(request, 401, "That key was not accepted: use the admin key, or a live "
                                                     "sk-sw- key to see its own usage.")
            who, target = (principal.key_id, principal.name), "/me"
        try:
            token, _ = await self.sessions.start(*who, now)
        except OSError:  # kept in Redis (several gateways), which is not answering
            return self.login_form(request, 503, "Sign-ins are shared through Redis, which is not answering: "
                                                 "try again shortly.")
        response = redirect(PREFIX + target)
        response.set_cookie(COOKIE, token, int(self.sessions.ttl_s), request.secure)
        response.clear_cookie(LOGIN_COOKIE, request.secure, PREFIX + "/login")
        return response

    async def logout(self, request: Request, session: Session) -> Response:
        await self.sessions.end(request.cookies.get(COOKIE))
        response = redirect(PREFIX + "/login")
        response.clear_cookie(COOKIE, request.secure)
        return response

    # -- rendering ---------------------------------------------------------------------------------
    def page(self, template: str, session: Session | None, status: int = 200, **values) -> Response:
        body = self.env.get_template(template).render(session=session, **values)
        return Response(status, body.encode())

    def static(self, path: str) -> Response:
        from importlib import resources

        data = resources.files("seawall.console").joinpath("static", path.rsplit("/", 1)[1]).read_bytes()
        return Response(200, data, _STATIC[path].encode())

    def viewer(self, session: Session) -> Viewer:
        return ADMIN if session.is_admin else Viewer(session.key_id)

    def owner_view(self, session: Session) -> dict:
        principal = self.gw.auth.principal(session.key_id)
        quotas = self.gw.auth.quotas
        return owner_key_view(principal, quotas.balance(principal.key_id) if quotas is not None else None)


def chart_series(buckets: list[dict]) -> dict[str, object]:
    """The overview's charts from /admin/stats buckets."""
    starts = [b["start"] for b in buckets]
    categories: dict[str, int] = {}
    for b in buckets:
        for category, n in b["errors"].items():
            categories[category] = categories.get(category, 0) + n
    top = sorted(categories, key=lambda c: -categories[c])[:5]
    return {
        "requests": line_chart("Requests and errors", starts, [Series("requests", [b["requests"] for b in buckets]),
                                                               Series("errors", [b["error_count"] for b in buckets])]),
        "errors": line_chart("Errors by category", starts, [Series(c, [b["errors"].get(c, 0) for b in buckets])
                                                            for c in top]),
        "latency": line_chart("Latency (ms)", starts, [Series("p50", [b["p50_ms"] for b in buckets]),
                                                       Series("p99", [b["p99_ms"] for b in buckets])], " ms"),
        "ttft": line_chart("Time to first token, streams (ms)", starts,
                           [Series("p50", [b["ttft_p50_ms"] for b in buckets]),
                            Series("p99", [b["ttft_p99_ms"] for b in buckets])], " ms"),
        "tokens": line_chart("Tokens", starts, [Series("in", [b["prompt_tokens"] for b in buckets]),
                                                Series("out", [b["completion_tokens"] for b in buckets])]),
        "cost": line_chart("Cost (USD)", starts, [Series("cost", [b["cost_usd"] for b in buckets])]),
        "categories": sorted(categories.items(), key=lambda kv: -kv[1]),
    }


def page_link(query: dict[str, str], **changes: str | None) -> str:
    """The current filters with some changed (a None drops one), as a query string."""
    merged = {k: v for k, v in {**query, **changes}.items() if v and not k.startswith("_")}
    return "?" + urlencode(merged) if merged else ""


def key_path(key_id: str) -> str:
    return f"{PREFIX}/keys/{quote(key_id, safe='')}"
