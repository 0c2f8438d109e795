"""The console refuses what it must, over plain HTTP (no browser): a forged or missing CSRF token,
a form from another site, an expired session, a key owner posting to an admin page, a stale
sign-in form; every page carries a CSP that runs no script."""

import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from conftest import ADMIN_KEY, BOOTSTRAP_KEY, free_port, start_gateway


def config(sim_port: int) -> str:
    return ("request_log:\n  flush_interval_s: 0.1\nconsole:\n  session_ttl_s: 2\nmodels:\n  - name: gpt-4o-mini\n"
            f"    deployments:\n      - provider: openai\n        base_url: http://127.0.0.1:{sim_port}/v1\n"
            "        model: gpt-4o-mini\n        api_key_env: SIM_KEY\n")


@pytest.fixture(scope="module")
def console(tmp_path_factory, simulator):
    port = free_port()
    gateway = start_gateway(tmp_path_factory, config(simulator.port), "console-security",
                            env={"SEAWALL_CONSOLE_PORT": str(port)})
    yield f"http://127.0.0.1:{port}/console"
    gateway.proc.stop()


class Browser:
    """urllib with a cookie jar and no redirect following: each answer as it is."""

    def __init__(self, base: str, tls=None):
        self.base, self.jar = base, http.cookiejar.CookieJar()

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect,
                                                  urllib.request.HTTPSHandler(context=tls))

    def go(self, method: str, path: str, form: dict | None = None, headers: dict | None = None):
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers or {})
        if data is not None:
            req.add_header("content-type", "application/x-www-form-urlencoded")
        try:
            with self.opener.open(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()

    def csrf(self, page: str) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', page).group(1)

    def sign_in(self, key: str) -> tuple[int, dict]:
        status, headers, page = self.go("GET", "/login")
        status, headers, _ = self.go("POST", "/login", {"csrf": self.csrf(page), "key": key})
        return status, headers


def test_every_page_forbids_scripts_and_framing(console):
    status, headers, _ = Browser(console).go("GET", "/login")
    assert status == 200 and "default-src 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"


def test_a_stale_sign_in_form_and_a_wrong_key_are_refused(console):
    b = Browser(console)
    assert b.go("POST", "/login", {"csrf": "made-up", "key": ADMIN_KEY})[0] == 403
    status, headers = b.sign_in("sw-admin-wrong-key-000000000000000000000000")
    assert status == 401 and not any(c.name == "seawall_console" for c in b.jar)
    assert b.go("GET", "/overview")[0] == 303


def test_forged_or_missing_csrf_and_foreign_origins_change_nothing(console):
    b = Browser(console)
    assert b.sign_in(ADMIN_KEY)[0] == 303
    cookie = next(c for c in b.jar if c.name == "seawall_console")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/console"
    _, _, page = b.go("GET", "/keys")
    token = b.csrf(page)
    for form, headers in (({"name": "forged", "csrf": "0" * len(token)}, {}), ({"name": "forged"}, {}),
                          ({"name": "forged", "csrf": token}, {"origin": "https://evil.example"})):
        status, _, body = b.go("POST", "/keys", form, headers)
        assert status == 403 and "Refused" in body
    assert "forged" not in b.go("GET", "/keys")[2]
    status, _, body = b.go("POST", "/keys", {"name": "made-here", "csrf": token})
    assert status == 200 and re.search(r"sk-sw-[A-Za-z0-9]{40}", body)


def test_an_expired_session_asks_to_sign_in_again(console):
    b = Browser(console)
    b.sign_in(ADMIN_KEY)
    token = next(c.value for c in b.jar if c.name == "seawall_console")
    assert b.go("GET", "/overview")[0] == 200
    time.sleep(2.2)  # console.session_ttl_s: 2; the cookie's Max-Age says the same, so a browser drops it
    assert b.go("GET", "/overview")[1]["location"].endswith("/console/login")
    # a client that keeps the cookie anyway is refused by the server, and told why
    status, headers, _ = Browser(console).go("GET", "/overview", headers={"cookie": f"seawall_console={token}"})
    assert status == 303 and headers["location"].endswith("/login?expired=1")
    assert "seawall_console=;" in headers["set-cookie"]
    assert "expired" in b.go("GET", "/login?expired=1")[2]


def test_a_key_owner_reaches_no_admin_page_or_action(console):
    b = Browser(console)
    assert b.sign_in(BOOTSTRAP_KEY)[1]["location"].endswith("/console/me")
    _, _, page = b.go("GET", "/me")
    token = b.csrf(page)
    assert b.go("GET", "/keys")[0] == 404 and b.go("GET", "/overview")[0] == 404
    assert b.go("POST", "/keys", {"name": "sneaky", "csrf": token})[0] == 404
    assert b.go("POST", "/requests/req_x/replay", {"csrf": token})[0] == 404
    assert b.go("GET", "/requests/req_x/bundle")[0] == 404
    status, _, _ = b.go("POST", "/logout", {"csrf": token})
    assert status == 303 and b.go("GET", "/me")[0] == 303


def test_over_tls_the_session_cookie_is_secure(tmp_path_factory, simulator):
    import importlib.util
    import ssl
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("raw_upstream", Path(__file__).parents[1] / "providers" /
                                                  "raw_upstream.py")
    raw_upstream = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(raw_upstream)
    ca, cert, key = raw_upstream.certificates(tmp_path_factory.mktemp("console-tls"))
    port = free_port()
    tls = f"console:\n  tls_cert_file: {cert}\n  tls_key_file: {key}\n  session_ttl_s: 2\n"
    gateway = start_gateway(tmp_path_factory, config(simulator.port).replace("console:\n  session_ttl_s: 2\n", tls),
                            "console-tls", env={"SEAWALL_CONSOLE_PORT": str(port)})
    try:
        b = Browser(f"https://127.0.0.1:{port}/console", ssl.create_default_context(cafile=ca))
        status, headers = b.sign_in(ADMIN_KEY)
        assert status == 303
        cookie = headers["set-cookie"]
        assert "seawall_console=" in cookie and "; Secure" in cookie and "HttpOnly" in cookie
        assert "Console: https://127.0.0.1:" in gateway.proc.output()
    finally:
        gateway.proc.stop()


def test_a_console_port_in_use_refuses_the_start_naming_the_setting(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "seawall", "serve", "--port", str(free_port()), "--data-dir",
                              str(tmp_path / "data")], env={**os.environ, "SEAWALL_CONSOLE_PORT": str(port)},
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "--console-port" in out.stderr
