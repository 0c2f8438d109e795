"""Running `seawall keys|groups …` as a subprocess against a gateway, the way scripts do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid


def run_cli(gateway, *args: str, admin_key: str | None = None, url: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "SEAWALL_URL": url or gateway.url, "SEAWALL_ADMIN_KEY": admin_key or gateway.admin_key}
    return subprocess.run([sys.executable, "-m", "seawall", *args], capture_output=True, text=True, timeout=30,
                          env=env, check=False)


def cli_json(gateway, *args: str):
    out = run_cli(gateway, *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_key(gateway, *options: str) -> dict:
    """A fresh key made through the CLI: {"key", "id", "name"}."""
    return cli_json(gateway, "keys", "create", "--name", unique("key"), *options)
