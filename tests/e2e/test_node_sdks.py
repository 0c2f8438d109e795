"""What openai-node and the Vercel AI SDK (`ai` + `@ai-sdk/openai`) print for Seawall's errors:
String(error), run by node against the gateway. Their modules live in tests/node (package.json,
package-lock.json); `.ci/run` installs them with `npm ci`."""

from __future__ import annotations

import json
import pathlib
import subprocess

import pytest
from system_tools import require, require_path

NODE_DIR = pathlib.Path(__file__).resolve().parents[1] / "node"
SUGGESTION = "Did you mean 'gpt-4o-mini'"


@pytest.fixture(scope="module")
def node() -> str:
    path = require("node", "apt-get install -y nodejs npm")
    require_path(str(NODE_DIR / "node_modules" / "@ai-sdk" / "openai"), "the Node SDKs",
                 f"npm ci --prefix {NODE_DIR}")
    return path


def printed(node: str, gateway, model: str) -> dict[str, str]:
    out = subprocess.run([node, str(NODE_DIR / "sdk_errors.mjs"), gateway.url, gateway.key, model],
                         capture_output=True, text=True, timeout=60, cwd=NODE_DIR, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_each_node_sdk_prints_the_suggestion(node, gateway):
    shown = printed(node, gateway, "gpt-4o-mni")
    assert set(shown) == {"openai-node", "openai-node stream", "ai generateText", "ai streamText"}
    for case, text in shown.items():
        assert SUGGESTION in text, (case, text)


def test_each_node_sdk_prints_what_to_do_when_a_stream_is_cut(node, gateway, sim):
    sim.set_faults([{"match": {"model": "gpt-4o-mini"}, "fault": "cut_after=4"}])
    shown = printed(node, gateway, "gpt-4o-mini")
    for case in ("openai-node stream", "ai streamText"):
        assert "ended before it was complete" in shown[case] and "retry the request" in shown[case], shown[case]
