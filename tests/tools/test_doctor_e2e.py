"""`seawall doctor` as a user runs it (a subprocess, real sockets) against the simulator and a gateway
process: every seeded misconfiguration is found and named as the first thing to fix, a healthy
endpoint passes, and the key never appears in the output.

The simulator and gateway come from tests/e2e/conftest.py's helpers (loaded by path: this folder
has its own conftest namespace); these fixtures are module-scoped processes of their own so fault
rules and rate limits set here touch no other test.
"""

from __future__ import annotations

import http.server
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

_E2E = Path(__file__).parents[1] / "e2e"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


e2e = _load("doctor_e2e_fixtures", _E2E / "conftest.py")
admin = _load("doctor_admin_cli", _E2E / "admin_cli.py")

KEY = "sk-test-DoctorKey0123456789abcdefghij"
ANTHROPIC_KEY = "sk-ant-api03-DoctorKey0123456789abcdefghijklmnopqrstuv"
# Neither a proxy nor a key from the machine running the tests may leak into a run.
_SCRUB = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "OPENAI_API_KEY", "ANTHROPIC_API_KEY",
          "GEMINI_API_KEY", "GOOGLE_API_KEY", "SEAWALL_KEY")


def doctor(*args: str, env: dict | None = None) -> tuple[int, dict, str]:
    clean = {k: v for k, v in os.environ.items() if k.upper() not in _SCRUB}
    done = subprocess.run([sys.executable, "-m", "seawall", "doctor", *args, "--json", "--timeout", "10"],
                          capture_output=True, text=True, timeout=120, env={**clean, **(env or {})}, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout), done.stdout


def by_name(report: dict) -> dict[str, dict]:
    return {c["name"]: c for c in report["checks"]}


def assert_first_fix(report: dict, category: str) -> None:
    assert report["first_fix"] is not None and report["first_fix"]["category"] == category, report


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    s = e2e.start_simulator(tmp_path_factory, "doctor-sim")
    yield s
    s.proc.stop()


@pytest.fixture
def clean_sim(sim):
    sim.reset()
    yield sim
    sim.reset()


@pytest.fixture(scope="module")
def limited_sim(tmp_path_factory):
    """5 requests per minute per model: a completion and a stream, then the ramp hits the limit at 4."""
    s = e2e.start_simulator(tmp_path_factory, "doctor-limited", config="stream_interval_ms: 0\nrate_limits: {rpm: 5}\n")
    yield s
    s.proc.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, sim):
    gw = e2e.start_gateway(tmp_path_factory, e2e.gateway_config(sim.port, e2e.free_port(), e2e.free_port()),
                           name="doctor-gateway")
    yield gw
    gw.proc.stop()


# -- against the simulator (a plain OpenAI-compatible upstream) -------------------------------------

def test_healthy_simulator_passes_every_check(clean_sim):
    code, report, out = doctor("--base-url", clean_sim.url + "/v1", "--api-key", KEY, "--concurrency", "4")
    checks = by_name(report)
    assert code == 0 and report["first_fix"] is None
    assert [c["status"] for c in report["checks"] if c["status"] != "pass"] == ["skipped"] * 3
    assert {n for n, c in checks.items() if c["status"] == "skipped"} == {"tls", "cors", "gateway"}
    assert "x-ratelimit-limit-requests" in checks["rate_limit_headers"]["evidence"]
    assert "4 at once: 4/4 ok" in checks["ramp"]["evidence"]
    assert KEY not in out and KEY[8:] not in out and checks["key"]["evidence"].startswith(f"prefix sk-, {len(KEY)} characters")


@pytest.mark.parametrize("where", ["env", "file"])
def test_key_with_a_trailing_newline(clean_sim, tmp_path, where):
    if where == "env":
        options, env = ["--api-key-env", "DOCTOR_KEY"], {"DOCTOR_KEY": KEY + "\n"}
    else:
        (tmp_path / "key.txt").write_text(KEY + "\n")
        options, env = ["--api-key-file", str(tmp_path / "key.txt")], {}
    code, report, out = doctor("--base-url", clean_sim.url + "/v1", *options, env=env)
    assert code == 1
    assert_first_fix(report, "auth.key_whitespace")
    key = by_name(report)["key"]
    assert f"1 trailing newline character(s) after character {len(KEY)}" in key["evidence"] and "…ghij" in key["evidence"]
    assert KEY[8:] not in out
    assert by_name(report)["completion"]["status"] == "pass"  # the rest ran with the key stripped


def test_the_default_variable_is_openai_api_key(clean_sim):
    code, report, _ = doctor("--base-url", clean_sim.url + "/v1", env={"OPENAI_API_KEY": " " + KEY})
    assert code == 1 and "from $OPENAI_API_KEY" in by_name(report)["key"]["evidence"]
    assert_first_fix(report, "auth.key_whitespace")


def test_anthropic_key_to_an_openai_route(clean_sim):
    code, report, out = doctor("--base-url", clean_sim.url + "/v1", "--api-key", ANTHROPIC_KEY)
    assert code == 1
    assert_first_fix(report, "auth.wrong_platform")
    assert "an Anthropic key" in by_name(report)["key"]["evidence"] and ANTHROPIC_KEY[7:] not in out


def test_base_url_without_v1(clean_sim):
    code, report, _ = doctor("--base-url", clean_sim.url, "--api-key", KEY)
    checks = by_name(report)
    assert code == 1
    assert_first_fix(report, "route.base_url")
    assert report["first_fix"]["fix"] == f"Set the base URL to {clean_sim.url}/v1."
    assert checks["models"]["category"] == "route.base_url" and "HTTP 404" in checks["models"]["evidence"]
    assert checks["completion"]["status"] == "pass"  # continued with the corrected base URL


def test_misspelled_model(clean_sim):
    code, report, _ = doctor("--base-url", clean_sim.url + "/v1", "--api-key", KEY, "--model", "gpt-4o-mni")
    assert code == 1
    assert_first_fix(report, "model.not_found")
    assert "Did you mean 'gpt-4o-mini'?" in report["first_fix"]["fix"]
    assert by_name(report)["completion"]["category"] == "model.not_found"


def test_port_nothing_listens_on():
    port = e2e.free_port()
    code, report, _ = doctor("--base-url", f"http://127.0.0.1:{port}/v1", "--api-key", KEY)
    checks = by_name(report)
    assert code == 1
    assert_first_fix(report, "network.connect")
    assert "nothing listens" in checks["tcp"]["evidence"]
    assert checks["models"]["status"] == "skipped" and checks["completion"]["status"] == "skipped"


def test_host_that_does_not_resolve():
    code, report, _ = doctor("--base-url", "http://doctor-no-such-host.invalid/v1", "--api-key", KEY)
    assert code == 1
    assert_first_fix(report, "network.dns")
    assert by_name(report)["tcp"]["status"] == "skipped"


def test_stream_cut_before_its_end(clean_sim):
    # The doctor's second chat request is its stream: cut it after two events.
    clean_sim.set_faults([{"match": {"model": "gpt-4o-mini", "path": "/v1/chat/completions", "every_nth": 2},
                           "fault": "cut_after=2"}])
    code, report, _ = doctor("--base-url", clean_sim.url + "/v1", "--api-key", KEY, "--model", "gpt-4o-mini")
    checks = by_name(report)
    assert code == 1
    assert_first_fix(report, "stream.interrupted")
    assert checks["completion"]["status"] == "pass"
    assert "without its terminal event" in checks["stream"]["evidence"]


def test_429_ramp(limited_sim):
    limited_sim.reset()
    code, report, _ = doctor("--base-url", limited_sim.url + "/v1", "--api-key", KEY, "--model", "gpt-4o-mini",
                             "--concurrency", "8")
    ramp = by_name(report)["ramp"]
    assert code == 1
    assert_first_fix(report, "rate_limit.requests")
    assert "first refused at 4 at once: HTTP 429" in ramp["evidence"] and "8 at once" not in ramp["evidence"]
    assert "at or below 2" in ramp["fix"]
    assert limited_sim.stats()["requests"]["by_path"]["/v1/chat/completions"] == 2 + 1 + 2 + 4


class _Garbage(threading.Thread):
    """A port that answers, but not in HTTP (an SSH server's banner)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01garbage\r\n\r\n")


def test_port_that_does_not_speak_http():
    server = _Garbage()
    server.start()
    try:
        code, report, _ = doctor("--base-url", f"http://127.0.0.1:{server.port}/v1", "--api-key", KEY)
    finally:
        server.sock.close()
    models = by_name(report)["models"]
    assert code == 1
    assert_first_fix(report, "network.connect")
    assert "not HTTP" in models["evidence"] or "without an HTTP reply" in models["evidence"]


class _Loop(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", "/v1/elsewhere" if self.path.endswith("/models") else "/v1/models")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_redirect_loop_is_reported_not_followed():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Loop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, report, _ = doctor("--base-url", f"http://127.0.0.1:{server.server_port}/v1", "--api-key", KEY)
    finally:
        server.shutdown()
        server.server_close()
    models = by_name(report)["models"]
    assert code == 1
    assert_first_fix(report, "route.base_url")
    assert "redirect loop" in models["evidence"]


# -- against a Seawall gateway ----------------------------------------------------------------------

def test_healthy_gateway_passes_every_check(gateway, clean_sim):
    key = admin.new_key(gateway)["key"]  # a key as the gateway issues it (the e2e bootstrap key is short)
    code, report, out = doctor("--base-url", gateway.base_url, "--api-key", key, "--origin",
                               "https://chat.example.com", "--concurrency", "2")
    checks = by_name(report)
    assert code == 0 and report["first_fix"] is None, report
    assert [n for n, c in checks.items() if c["status"] != "pass"] == ["tls"]
    assert "no open circuits" in checks["gateway_ready"]["evidence"]
    assert "models: all" in checks["gateway_key"]["evidence"] and "limits: none" in checks["gateway_key"]["evidence"]
    assert key[6:] not in out


def test_gateway_key_endpoint_describes_the_caller(gateway):
    made = admin.new_key(gateway, "--models", "gpt-4o*", "--rpm", "100", "--tenant", "acme")
    status, headers, body = e2e.http("GET", gateway.base_url + "/seawall/key",
                                     headers={"authorization": f"Bearer {made['key']}"})
    view = json.loads(body)
    assert status == 200 and headers["cache-control"] == "no-store"
    assert (view["name"], view["tenant"], view["group"], view["all_models"]) == (made["name"], "acme", None, False)
    assert view["models"] == ["gpt-4o-mini"] and view["limits"][0]["rpm"] == 100
    assert made["key"] not in body.decode() and made["key"][6:] not in body.decode()
    status, _, body = e2e.http("GET", gateway.base_url + "/seawall/key", headers={"authorization": "Bearer nope"})
    assert status == 401 and json.loads(body)["error"]["category"] == "auth.key_invalid"


def test_gateway_model_the_key_may_not_use(gateway, clean_sim):
    made = admin.new_key(gateway, "--models", "gpt-4o*")
    code, report, _ = doctor("--base-url", gateway.base_url, "--api-key", made["key"], "--model", "slow")
    checks = by_name(report)
    assert code == 1
    assert_first_fix(report, "permission.model")
    assert checks["model"]["status"] == "warn" and checks["completion"]["category"] == "permission.model"
    assert checks["gateway_key"]["category"] == "permission.model" and "gpt-4o-mini" in checks["gateway_key"]["fix"]


def test_gateway_spent_quota(gateway, clean_sim):
    made = admin.new_key(gateway, "--quota-tokens", "1000")
    e2e.http("POST", gateway.base_url + "/chat/completions",
             {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5},
             {"authorization": f"Bearer {made['key']}"})
    used = admin.cli_json(gateway, "keys", "show", made["id"])["used_tokens"]
    admin.cli_json(gateway, "keys", "update", made["id"], "--quota-tokens", str(used))  # nothing left
    code, report, _ = doctor("--base-url", gateway.base_url, "--api-key", made["key"], "--model", "gpt-4o-mini")
    checks = by_name(report)
    assert code == 1
    assert_first_fix(report, "quota.exhausted")
    assert checks["completion"]["category"] == "quota.exhausted"
    assert f"{used} of {used} used" in checks["gateway_key"]["evidence"]
    assert "--quota-tokens" in checks["gateway_key"]["fix"]


def test_gateway_ramp_stops_where_the_keys_rpm_would_refuse(gateway, clean_sim):
    """rpm 3: the completion, the stream and the ramp's first step spend it; the doctor does not send
    the next step into a 429 it would then misreport, it names the limit."""
    made = admin.new_key(gateway, "--rpm", "3")
    code, report, _ = doctor("--base-url", gateway.base_url, "--api-key", made["key"], "--model", "gpt-4o-mini",
                             "--concurrency", "4")
    checks = by_name(report)
    assert code == 0 and report["first_fix"] is None, report
    assert [checks[n]["status"] for n in ("completion", "stream")] == ["pass", "pass"]
    ramp = checks["ramp"]
    assert (ramp["status"], ramp["category"]) == ("warn", "rate_limit.requests"), ramp
    assert ramp["evidence"].startswith("1 at once: 1/1 ok") and "stopped before 2 at once: the key's limit rpm 3" \
        in ramp["evidence"] and "429" not in ramp["evidence"]
    assert "x-ratelimit-limit-requests=3" in checks["rate_limit_headers"]["evidence"]
    assert "rpm 3" in checks["gateway_key"]["evidence"]


def test_gateway_low_rps_key_is_paced_not_misreported(gateway, clean_sim):
    """The issue's case: rps 1. The doctor reads the limit first, waits a second between its own
    requests, and stops the ramp where rps 1 refuses by design: no 429, no "even one request at a
    time is refused"."""
    made = admin.new_key(gateway, "--rps", "1")
    code, report, out = doctor("--base-url", gateway.base_url, "--api-key", made["key"], "--model", "gpt-4o-mini",
                               "--concurrency", "4")
    checks = by_name(report)
    assert code == 0 and report["first_fix"] is None, report
    assert [checks[n]["status"] for n in ("completion", "stream", "rate_limit_headers")] == ["pass"] * 3
    ramp = checks["ramp"]
    assert ramp["status"] == "warn" and ramp["evidence"].startswith("1 at once: 1/1 ok")
    assert "the key's limit rps 1 (key " in ramp["evidence"] and "refuses 2 at once by design" in ramp["evidence"]
    assert "rps 1" in checks["gateway_key"]["evidence"]
    assert "Even one request" not in out and "HTTP 429" not in out
    rows = gateway.logs("--status", "429", "--limit", "500")
    assert not [r for r in rows if r["key_id"] == made["id"]]  # the gateway refused none of the doctor's requests


def test_gateway_key_whose_rpm_the_checks_spent_skips_the_ramp_saying_why(gateway, clean_sim):
    made = admin.new_key(gateway, "--rpm", "2")
    code, report, _ = doctor("--base-url", gateway.base_url, "--api-key", made["key"], "--model", "gpt-4o-mini",
                             "--concurrency", "2")
    ramp = by_name(report)["ramp"]
    assert code == 0 and ramp["status"] == "skipped", report
    assert "the key's limit rpm 2" in ramp["evidence"] and "the checks above spent it" in ramp["evidence"]


@pytest.mark.parametrize(("args", "category"), [
    (["--api-key-env", "DOCTOR_KEY"], "auth.key_whitespace"),
    (["--api-key", ANTHROPIC_KEY], "auth.wrong_platform"),
    (["--model", "gpt-4o-mni"], "model.not_found"),
])
def test_gateway_misconfigurations(gateway, clean_sim, args, category):
    key = [] if args[0].startswith("--api-key") else ["--api-key", gateway.key]
    code, report, out = doctor("--base-url", gateway.base_url, *key, *args, env={"DOCTOR_KEY": gateway.key + "\n"})
    assert code == 1
    assert_first_fix(report, category)
    assert gateway.key[6:] not in out


def test_gateway_base_url_without_v1(gateway, clean_sim):
    code, report, _ = doctor("--base-url", gateway.url, "--api-key", gateway.key)
    assert code == 1
    assert_first_fix(report, "route.base_url")
    checks = by_name(report)
    assert checks["completion"]["status"] == "pass" and checks["gateway_key"]["status"] == "pass"


def test_gateway_stream_cut(gateway, clean_sim):
    clean_sim.set_faults([{"match": {"model": "gpt-4o-mini", "path": "/v1/chat/completions", "every_nth": 2},
                           "fault": "cut_after=2"}])
    code, report, _ = doctor("--base-url", gateway.base_url, "--api-key", gateway.key, "--model", "gpt-4o-mini")
    checks = by_name(report)
    assert code == 1
    assert_first_fix(report, "stream.interrupted")
    assert checks["completion"]["status"] == "pass" and checks["stream"]["category"] == "stream.interrupted"


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_a_native_api_is_probed_as_its_sdk_calls_it(gateway, clean_sim, provider):
    """--provider anthropic / gemini: the key in x-api-key / x-goog-api-key, Messages /
    generateContent calls and their streams; here against the gateway, which speaks both."""
    code, report, out = doctor("--base-url", gateway.url, "--api-key", gateway.key, "--provider", provider,
                               "--model", "gpt-4o-mini", "--concurrency", "2")
    checks = by_name(report)
    assert code == 0 and report["first_fix"] is None, out
    assert checks["completion"]["status"] == checks["stream"]["status"] == checks["models"]["status"] == "pass"
    assert checks["ramp"]["status"] == "pass"
    expected = "/v1/messages" if provider == "anthropic" else "/v1beta/models/gpt-4o-mini:generateContent"
    assert expected in checks["completion"]["evidence"]


def test_an_openai_key_sent_to_a_native_anthropic_endpoint_is_the_first_fix(gateway, clean_sim):
    code, report, _ = doctor("--base-url", gateway.url, "--api-key", "sk-proj-" + "a" * 48, "--provider", "anthropic",
                             "--model", "gpt-4o-mini")
    assert code == 1
    assert_first_fix(report, "auth.wrong_platform")


# -- through a proxy: the gateway's rule, so the doctor and the gateway agree ----------------------

@pytest.fixture(scope="module")
def proxy():
    from proxy_servers import squid

    with squid() as p:
        yield p


def test_a_refused_proxy_password_is_the_first_fix(clean_sim, proxy):
    from proxy_servers import USER

    code, report, out = doctor("--base-url", clean_sim.url + "/v1", "--api-key", KEY,
                               env={"HTTP_PROXY": proxy.url("http", USER, "wrong")})
    checks = by_name(report)
    assert code == 1 and checks["proxy"]["status"] == "warn"
    assert_first_fix(report, "network.proxy")
    assert "407" in checks["models"]["evidence"] and "HTTP_PROXY" in checks["models"]["evidence"]
    assert "wrong" not in out


def test_the_config_network_section_is_followed(clean_sim, proxy, tmp_path):
    from proxy_servers import PASSWORD, USER

    config = tmp_path / "seawall.yaml"
    config.write_text(f'network:\n  proxy: "{proxy.url("http", USER, PASSWORD)}"\n'
                      "models:\n  - name: m\n    deployments: [{provider: simulator, model: gpt-4o-mini}]\n")
    before = access_log_size(proxy)
    code, report, _ = doctor("--base-url", clean_sim.url + "/v1", "--api-key", KEY, "--config", str(config),
                             env={"HTTP_PROXY": "http://127.0.0.1:9"})  # the config's proxy wins, as in the gateway
    checks = by_name(report)
    assert code == 0 and checks["completion"]["status"] == "pass", report
    assert "network.proxy" in checks["proxy"]["evidence"]
    assert f"{clean_sim.url}/v1/chat/completions" in access_log_since(proxy, before)


def test_a_deployment_is_checked_as_the_gateway_calls_it(clean_sim, proxy, tmp_path):
    """--deployment: its base_url, key and own proxy (over a server-wide proxy that goes nowhere)."""
    from proxy_servers import PASSWORD, USER

    config = tmp_path / "seawall.yaml"
    config.write_text('network:\n  proxy: "http://127.0.0.1:9"\n'
                      "models:\n  - name: m\n    deployments:\n"
                      f"      - {{provider: openai, base_url: '{clean_sim.url}/v1', model: gpt-4o-mini, "
                      f"api_key_env: DOCTOR_DEPLOYMENT_KEY, name: behind-squid, "
                      f"proxy: '{proxy.url('http', USER, PASSWORD)}'}}\n")
    before = access_log_size(proxy)
    code, report, _ = doctor("--config", str(config), "--deployment", "behind-squid",
                             env={"DOCTOR_DEPLOYMENT_KEY": KEY})
    checks = by_name(report)
    assert code == 0 and checks["completion"]["status"] == "pass", report
    assert "the proxy of deployment behind-squid" in checks["proxy"]["evidence"]
    assert f"{clean_sim.url}/v1/chat/completions" in access_log_since(proxy, before)


def access_log_size(proxy) -> int:
    with open(f"{proxy.folder}/access.log") as f:
        return len(f.read())


def access_log_since(proxy, offset: int) -> str:
    with open(f"{proxy.folder}/access.log") as f:
        return f.read()[offset:]
