"""The console's HTTP plumbing: a request read from ASGI (query, cookies, a bounded form body), a
response written to it with the headers every page carries, and cookies set as the console's
sessions need them. No framework: the console is a handful of routes on raw ASGI like the rest
of the gateway, and its own port keeps it off the API's path.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, unquote

from seawall.errors import SeawallError
from seawall.pipeline.ingress import read_body

MAX_FORM_BYTES = 64 * 1024
# No script may run (the pages have none), styles and images only from the console itself;
# forms post only back to it; no page may be framed (clickjacking).
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; style-src 'self'; img-src 'self' data:; "
                                 b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"), (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store")]


class BadForm(Exception):
    """The body is not a form this console can read (too large, not urlencoded, too slow)."""


@dataclass(slots=True)
class Request:
    method: str
    path: str  # below /console, decoded: "/requests/req_…"
    query: dict[str, str]
    headers: dict[str, str]
    cookies: dict[str, str]
    secure: bool  # served over TLS: cookies get Secure
    form: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: bytes = b"text/html; charset=utf-8"
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def set_cookie(self, name: str, value: str, max_age: int, secure: bool, path: str = "/console") -> None:
        parts = [f"{name}={value}", f"Path={path}", f"Max-Age={max_age}", "HttpOnly", "SameSite=Strict"]
        if secure:
            parts.append("Secure")
        self.headers.append((b"set-cookie", "; ".join(parts).encode()))

    def clear_cookie(self, name: str, secure: bool, path: str = "/console") -> None:
        self.set_cookie(name, "", 0, secure, path)


def redirect(location: str, status: int = 303) -> Response:
    return Response(status, b"", headers=[(b"location", location.encode())])


async def read_request(scope: dict, receive, prefix: str, timeout_s: float) -> Request:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    cookies: dict[str, str] = {}
    if "cookie" in headers:
        jar = SimpleCookie()
        try:
            jar.load(headers["cookie"])
        except CookieError:
            pass
        cookies = {k: m.value for k, m in jar.items()}
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
    path = unquote(scope["path"])[len(prefix):] or "/"
    request = Request(scope["method"], path, query, headers, cookies, scope.get("scheme") == "https")
    if request.method == "POST":
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/x-www-form-urlencoded":
            raise BadForm(f"forms are sent as application/x-www-form-urlencoded, not {media or 'nothing'}")
        try:
            async with asyncio.timeout(timeout_s):
                body = await read_body(receive, headers, MAX_FORM_BYTES)
        except TimeoutError:
            raise BadForm("the form did not arrive in time") from None
        except SeawallError as e:  # body_too_large
            raise BadForm(e.message) from None
        request.form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return request


async def send_response(send, response: Response) -> None:
    headers = [(b"content-type", response.content_type), (b"content-length", str(len(response.body)).encode()),
               *SECURITY_HEADERS, *response.headers]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
