"""The console in a real browser: Playwright driving Debian's chromium (never a downloaded one)
against a real gateway and the simulator. Sign in, create a key, make a failing request with it,
find it in the log, open it, replay it, download its bundle, sign in as the key's owner and see
only that key's rows. Screenshots are kept in tests/artifacts/console/ (gitignored).

In CI (CI set) a missing chromium fails the test; elsewhere it is skipped naming the package.
"""

import json
import re
import shutil
from pathlib import Path

import pytest
from conftest import ADMIN_KEY, BOOTSTRAP_KEY, free_port, http, start_gateway
from system_tools import require

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
PROVIDER_KEY = "sk-proj-BrowserTestProviderSecret0123456789"
HOSTILE = "<script>alert('name')</script><b>bold</b>"
HOSTILE_BODY = "<img src=x onerror=alert('body')> hello"


def chromium() -> str:
    return require("chromium", "apt-get install -y chromium")  # Debian's: never `playwright install`


def console_config(sim_port: int) -> str:
    dep = (f"      - provider: openai\n        base_url: http://127.0.0.1:{sim_port}/v1\n        model: gpt-4o-mini\n"
           "        api_key_env: SIM_KEY\n        name: sim-main\n        circuit: {failures_to_open: 1000}\n")
    return f"request_log:\n  flush_interval_s: 0.1\nmodels:\n  - name: gpt-4o-mini\n    deployments:\n{dep}"


@pytest.fixture(scope="module")
def gw(tmp_path_factory, simulator):
    port = free_port()
    gateway = start_gateway(tmp_path_factory, console_config(simulator.port), "console-gateway",
                            env={"SIM_KEY": PROVIDER_KEY, "SEAWALL_CONSOLE_PORT": str(port)})
    gateway.console = f"http://127.0.0.1:{port}/console"
    yield gateway
    gateway.proc.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    path = chromium()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, console: str, key: str) -> None:
    page.goto(console + "/login")
    page.fill("input[name=key]", key)
    page.click("form[action$='/login'] button[type=submit]")


def test_the_operator_and_the_key_owner_walk_through_the_console(gw, sim, browser, tmp_path):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    sign_in(page, gw.console, "sw-admin-not-the-right-key-0000000000000000")
    assert "That key was not accepted" in page.inner_text("#problem")
    shot(page, "01-wrong-admin-key")
    sign_in(page, gw.console, ADMIN_KEY)
    page.wait_for_url("**/console/overview")
    cookie = next(c for c in context.cookies() if c["name"] == "seawall_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]  # plain HTTP here
    shot(page, "02-overview")

    page.click("nav >> text=Keys")
    page.fill("#create-key input[name=name]", HOSTILE)  # refused by the API's name rule, and shown as text
    page.click("#create-key button[type=submit]")
    assert "is not a usable name" in page.inner_text("h1") and "<script>" in page.inner_text("h1")
    assert "<script>alert" not in page.content()
    shot(page, "03-hostile-name-refused")
    page.goto(gw.console + "/keys")
    page.fill("#create-key input[name=name]", "browser-test")
    page.fill("#create-key input[name=models]", "gpt-4o-mini")
    page.fill("#create-key input[name=rpm]", "600")
    page.fill("#create-key input[name=quota_tokens]", "100000")
    page.fill("#create-key textarea[name=metadata]", f"note={HOSTILE}")
    page.click("#create-key button[type=submit]")
    new_key = page.inner_text("#new-key").strip()
    assert re.fullmatch(r"sk-sw-[A-Za-z0-9]{40}", new_key)
    shot(page, "04-key-created")
    page.click("text=The key's settings")
    assert HOSTILE in page.input_value("#edit-key textarea[name=metadata]")  # metadata kept, shown as text
    assert "<script>alert" not in page.content()

    sim.set_faults([{"match": {"model": "gpt-4o-mini", "first_n": 2}, "fault": "status=503"}])
    status, headers, _ = http("POST", gw.base_url + "/chat/completions", {
        "model": "gpt-4o-mini", "messages": [{"role": "user", "content": HOSTILE_BODY}]},
        {"authorization": f"Bearer {new_key}"})
    assert status == 503
    failed_id = headers["x-request-id"]
    _, other, _ = http("POST", gw.base_url + "/chat/completions", {"model": "nope", "messages": [
        {"role": "user", "content": "x"}]}, {"authorization": f"Bearer {BOOTSTRAP_KEY}"})
    others_id = other["x-request-id"]
    gw.log_row(failed_id)
    gw.log_row(others_id)

    page.goto(gw.console + "/requests?status=5xx")
    page.click(f"a:text('{failed_id}')")
    assert page.inner_text("#status") == "503" and page.inner_text("#category").startswith("upstream.")
    page.wait_for_selector("#request-body")
    assert HOSTILE_BODY in page.inner_text("#request-body")  # the captured body, escaped
    shot(page, "05-request")

    page.click("#replay")
    page.wait_for_selector("#changed")
    assert page.inner_text("#replay-status") == "200" and "status" in page.inner_text("#changed")
    shot(page, "06-replay")

    page.goto(gw.console + f"/requests/{failed_id}")
    with page.expect_download() as download:
        page.click("#bundle")
    saved = tmp_path / "bundle.json"
    download.value.save_as(saved)
    text = saved.read_text()
    shutil.copy(saved, ARTIFACTS / "bundle.json")
    assert [s for s in (PROVIDER_KEY, new_key, BOOTSTRAP_KEY, ADMIN_KEY) if s in text] == []
    assert json.loads(text)["request"]["request_id"] == failed_id

    page.goto(gw.console + "/overview")
    assert int(page.inner_text("#total")) >= 3 and int(page.inner_text("#errors")) >= 2
    assert page.locator("svg.chart polyline, svg.chart circle").count() > 0
    page.goto(gw.console + "/deployments")
    page.click("form[action$='/deployments/sim-main/test'] button")
    assert page.inner_text("#test-status") == "200"
    shot(page, "07-deployments-tested")
    page.goto(gw.console + "/groups")
    page.fill("form[action$='/groups'] input[name=name]", "team-a")
    page.fill("form[action$='/groups'] input[name=rpm]", "120")
    page.click("form[action$='/groups'] button[type=submit]")
    page.wait_for_url("**/console/groups/team-a")
    assert page.input_value("input[name=rpm]") == "120"

    page.set_viewport_size({"width": 375, "height": 812})  # a phone
    page.goto(gw.console + f"/requests/{failed_id}")
    shot(page, "08-request-on-a-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.click("header form.signout button")
    page.wait_for_url("**/console/login")
    sign_in(page, gw.console, new_key)
    page.wait_for_url("**/console/me")
    assert "100000" in page.inner_text("#quota")
    shot(page, "09-key-owner")
    page.goto(gw.console + "/requests")
    listed = page.inner_text("table.log")
    assert failed_id in listed and others_id not in listed
    page.goto(gw.console + f"/requests/{failed_id}")
    assert page.inner_text("#status") == "503" and page.query_selector("#replay") is None
    assert HOSTILE_BODY in page.inner_text("#request-body")  # its own body, but not the upstream side:
    owner_sees = page.inner_text("main")
    assert "Attempt 1:" not in owner_sees and f"127.0.0.1:{sim.port}" not in owner_sees
    foreign = page.goto(gw.console + f"/requests/{others_id}")
    foreign_text = page.inner_text("main").replace(others_id, "ID")
    unknown = page.goto(gw.console + "/requests/req_00000000000000000000nope")
    assert foreign.status == unknown.status == 404
    assert foreign_text == page.inner_text("main").replace("req_00000000000000000000nope", "ID")
    assert page.goto(gw.console + "/keys").status == 404  # an owner sees no admin page
    shot(page, "10-owner-refused")
    assert dialogs == []  # no script from a key name or a body ever ran
    context.close()
