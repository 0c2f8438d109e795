"""Claude Code against Seawall: the real CLI (`claude -p`), its ANTHROPIC_BASE_URL at the gateway and
a Seawall key in ANTHROPIC_API_KEY, against the embedded default and against an Anthropic
deployment. Claude Code sends what the gateway once refused: thinking, context_management,
output_config, cache_control, `system` turns, a dozen tools and five or more anthropic-beta
features; each run must answer, and what reaches the deployment must be what it sent.

The CLI is installed by .ci/run (npm, pinned); this test installs nothing. Without `claude` on
PATH it fails in CI and skips elsewhere, saying how to install it. The run is hermetic: HOME is a
fresh directory, telemetry and updates are off, and any connection other than to the gateway on
127.0.0.1 goes to a proxy that does not exist.
"""

import base64
import json
import os
import shutil
import subprocess

import pytest
from conftest import free_port, http, own_stack, start_embedded

CLAUDE_CODE = "@anthropic-ai/claude-code@2.1.332"
INSTALL = f"npm install -g {CLAUDE_CODE}"


def claude_binary() -> str:
    found = shutil.which("claude")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"Claude Code is not installed: .ci/run installs it ({INSTALL})")
        pytest.skip(f"Claude Code is not on PATH; install it with `{INSTALL}` to run this test")
    return found


def run_claude(base_url: str, key: str, model: str, home) -> subprocess.CompletedProcess:
    dead_proxy = f"http://127.0.0.1:{free_port()}"  # nothing listens: any call beyond the gateway fails
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "ANTHROPIC_BASE_URL": base_url,
           "ANTHROPIC_API_KEY": key, "DISABLE_TELEMETRY": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
           "DISABLE_AUTOUPDATER": "1", "DISABLE_ERROR_REPORTING": "1", "HTTPS_PROXY": dead_proxy,
           "HTTP_PROXY": dead_proxy, "NO_PROXY": "127.0.0.1,localhost"}
    return subprocess.run([claude_binary(), "-p", "Say hello", "--model", model], cwd=home, env=env,
                          capture_output=True, text=True, timeout=180)


def answered(run: subprocess.CompletedProcess) -> None:
    assert run.returncode == 0, f"claude exited {run.returncode}:\n{run.stdout}\n{run.stderr}"
    assert run.stdout.strip() and "API Error" not in run.stdout + run.stderr


@pytest.mark.parametrize("model", ["claude-sonnet-5-5", "claude-sonnet-4-5"])
def test_claude_code_answers_against_the_embedded_default(tmp_path, tmp_path_factory, model):
    claude_binary()
    gw = start_embedded(tmp_path_factory, "claude-demo")  # `seawall serve` as the README starts it
    try:
        home = tmp_path / "home"
        home.mkdir()
        answered(run_claude(f"http://127.0.0.1:{gw.port}", gw.key, model, home))
    finally:
        gw.proc.stop()
    assert "Traceback" not in gw.proc.output()


def config(sim_port: int) -> str:
    return ("request_log:\n  flush_interval_s: 0.1\nmodels:\n  - name: claude-sonnet-5-5\n    deployments:\n"
            f"      - provider: anthropic\n        base_url: http://127.0.0.1:{sim_port}\n"
            "        model: claude-sonnet-5-5\n        api_key_env: SIM_KEY\n        name: anthropic-direct\n")


upstream, gw, sim, _ = own_stack("claude-code", config)


def test_claude_code_answers_through_an_anthropic_deployment_with_its_features_intact(gw, sim, tmp_path):
    claude_binary()
    answered(run_claude(gw.url, gw.key, "claude-sonnet-5-5", tmp_path))
    requests = [r for r in json.loads(http("GET", sim.url + "/_sim/requests")[2])["requests"] if r["path"] == "/v1/messages"]
    assert requests, "Claude Code's request never reached the deployment"
    body = json.loads(base64.b64decode(requests[-1]["body_b64"]))
    # what the gateway once refused, passed through as Claude Code sent it
    assert body["thinking"]["type"] in ("enabled", "adaptive") and "context_management" in body
    assert any("cache_control" in block for block in body["system"] if isinstance(block, dict))
    assert len(body["tools"]) >= 5 and body["stream"] is True
    headers = requests[-1]["headers"]
    assert "claude-code-20250219" in headers["anthropic-beta"] and headers["x-api-key"] == "sk-sim-upstream"
    rows = gw.logs()
    assert rows and all(r["status"] == 200 and r["dialect"] == "anthropic" for r in rows)
    assert all(r["deployment"] == "anthropic-direct" and r["stream_end"] == "completed" for r in rows if r["streamed"])
