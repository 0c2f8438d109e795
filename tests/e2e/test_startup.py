"""Starting the gateway the way the README says, and refusing to start on a bad config."""

import re
import subprocess
import sys
import time

import openai
from conftest import Proc, free_port


def test_embedded_default_prints_a_working_key_and_snippets(tmp_path):
    port = free_port()
    proc = Proc("demo", ["serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
                str(tmp_path / "out.log")).start()
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/readyz")
        deadline = time.monotonic() + 5
        while "Try it" not in proc.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        out = proc.output()
        base_url = f"http://127.0.0.1:{port}/v1"
        assert f"Seawall is listening on {base_url}" in out and "embedded default" in out
        key = re.search(r"API key \(demo key[^)]*\): (sk-sw-\w+)", out).group(1)
        assert f"curl {base_url}/chat/completions -H 'Authorization: Bearer {key}'" in out
        assert f'OpenAI(base_url="{base_url}", api_key="{key}")' in out
        with openai.OpenAI(base_url=base_url, api_key=key, max_retries=0) as client:
            reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
            assert reply.choices[0].message.content
            chunks = list(client.chat.completions.create(model="gpt-4o-mini", stream=True, max_tokens=5,
                                                         messages=[{"role": "user", "content": "Hi"}]))
            assert chunks[-1].choices[0].finish_reason in ("stop", "length")
            # Claude and Gemini demo models: the simulator plays Anthropic's and Google's APIs, so
            # the replies come through those adapters (Anthropic's dated model id says so).
            claude = client.chat.completions.create(model="claude-sonnet-5-5", max_tokens=20,
                                                    messages=[{"role": "user", "content": "Hi"}])
            assert claude.model == "claude-sonnet-5-5" and claude.id.startswith("msg_")
            # the retired name still answers, served by the current model
            old = client.chat.completions.create(model="claude-sonnet-4-5", max_tokens=20,
                                                 messages=[{"role": "user", "content": "Hi"}])
            assert old.model == "claude-sonnet-5-5"
            gemini = list(client.chat.completions.create(model="gemini-2.5-flash", stream=True, max_tokens=20,
                                                         messages=[{"role": "user", "content": "Hi"}]))
            assert "".join(c.choices[0].delta.content or "" for c in gemini if c.choices)
    finally:
        proc.stop()
    assert "Traceback" not in proc.output()


def start_and_fail(tmp_path, config: str, env: dict | None = None) -> tuple[int, str]:
    cfg = tmp_path / "seawall.yaml"
    cfg.write_text(config)
    out = subprocess.run([sys.executable, "-m", "seawall", "serve", "--config", str(cfg), "--port", str(free_port()),
                          "--data-dir", str(tmp_path / "data")], capture_output=True, text=True, timeout=30,
                         env={"PATH": "/usr/bin:/bin", **(env or {})})
    return out.returncode, out.stdout + out.stderr


MODEL = ("models:\n  - name: m\n    deployments:\n      - provider: openai\n        base_url: https://api.openai.com/v1\n"
         "        model: gpt-4o-mini\n        api_key_env: OPENAI_API_KEY\n")


def test_provider_key_with_a_trailing_newline_refuses_the_start(tmp_path):
    code, out = start_and_fail(tmp_path, MODEL, {"OPENAI_API_KEY": "sk-proj-abc\n"})
    assert code == 2
    assert "models.0.deployments.0 (m): the key in environment variable OPENAI_API_KEY has a trailing newline" in out
    assert "Traceback" not in out and "sk-proj-abc" not in out


def test_missing_provider_key_refuses_the_start(tmp_path):
    code, out = start_and_fail(tmp_path, MODEL)
    assert code != 0 and "OPENAI_API_KEY is not set" in out and "Traceback" not in out


def test_invalid_config_names_the_field(tmp_path):
    code, out = start_and_fail(tmp_path, MODEL.replace("provider: openai", "provider: opneai"))
    assert code != 0 and "models.0.deployments.0.provider" in out and "'opneai'" in out
    assert "Traceback" not in out


def test_port_in_use_is_explained(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        cfg = tmp_path / "seawall.yaml"
        cfg.write_text(MODEL)
        out = subprocess.run([sys.executable, "-m", "seawall", "serve", "--config", str(cfg), "--port", str(port),
                              "--data-dir", str(tmp_path / "d")], capture_output=True, text=True, timeout=30,
                             env={"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-x"})
    assert out.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in out.stderr


def test_config_check_json(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(MODEL)
    out = subprocess.run([sys.executable, "-m", "seawall", "config", "check", str(cfg), "--json"],
                         capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "k "})
    import json
    result = json.loads(out.stdout)
    assert out.returncode == 1 and result["valid"] is False and "trailing whitespace" in result["problems"][0]
