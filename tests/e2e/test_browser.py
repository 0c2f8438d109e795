"""A page on another origin calling the gateway with fetch(), in headless Chromium (Debian's
`chromium`, driven by Playwright): what its script can read. Without the CORS headers on every
answer, a browser gives the script only "TypeError: Failed to fetch", whatever happened."""

from __future__ import annotations

import http.server
import threading

import pytest
from conftest import free_port, gateway_config, start_embedded, start_gateway
from playwright.sync_api import sync_playwright
from system_tools import require

PAGE = b"<!doctype html><title>another origin</title><p>a browser app</p>"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run"]
# The page's script: a chat call as a browser app makes it, returning what the script can read.
CALL = """async ([url, key]) => {
  try {
    const r = await fetch(url + "/v1/chat/completions", {method: "POST",
      headers: {"Authorization": "Bearer " + key, "Content-Type": "application/json"},
      body: JSON.stringify({model: "gpt-4o-mini", messages: [{role: "user", content: "Hello!"}]})});
    return {status: r.status, body: await r.json(), requestId: r.headers.get("x-request-id")};
  } catch (e) {
    return {thrown: String(e)};
  }
}"""


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def page_origin():
    """A page served on another loopback port: another origin than the gateway's."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    chromium = require("chromium", "apt-get install -y chromium")  # Debian's: never `playwright install`
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, page_origin):
    page = browser.new_page()
    page.goto(page_origin + "/")
    yield page
    page.close()


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    gw = start_embedded(tmp_path_factory, "browser-embedded")
    yield gw
    gw.proc.stop()


def test_the_embedded_default_answers_a_page_on_any_origin(page, embedded):
    ok = page.evaluate(CALL, [embedded.url, embedded.key])
    assert ok["status"] == 200 and ok["body"]["choices"][0]["message"]["content"], ok
    refused = page.evaluate(CALL, [embedded.url, "sk-sw-" + "z" * 40])
    assert refused["status"] == 401 and refused["body"]["error"]["code"] == "invalid_api_key", refused
    assert refused["requestId"] == refused["body"]["error"]["request_id"]  # exposed to the script


def test_a_gateway_that_does_not_allow_the_origin_says_so_readably(page, page_origin, gateway):
    got = page.evaluate(CALL, [gateway.url, gateway.key])
    assert "thrown" not in got, got  # not "Failed to fetch": the script reads why
    error = got["body"]["error"]
    assert got["status"] == 403 and error["category"] == "network.cors" and error["code"] == "cors_origin_not_allowed"
    assert page_origin in error["message"] and "server.cors_allowed_origins" in error["message"]
    assert "--cors-origin" in error["message"]
    row = gateway.log_row(got["requestId"])
    assert (row["status"], row["category"]) == (403, "network.cors")


def test_an_origin_allowed_with_the_flag_is_served(tmp_path_factory, page, page_origin, simulator):
    """The same config as the refusing gateway's, plus --cors-origin for the page's origin."""
    gw = start_gateway(tmp_path_factory, gateway_config(simulator.port, free_port(), free_port()), "browser-flag",
                       args=("--cors-origin", page_origin))
    try:
        ok = page.evaluate(CALL, [gw.url, gw.key])
        assert ok["status"] == 200 and ok["body"]["choices"][0]["message"]["content"], ok
    finally:
        gw.proc.stop()
