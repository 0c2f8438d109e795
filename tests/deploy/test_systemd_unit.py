"""The shipped systemd unit (deploy/systemd/seawall.service): systemd-analyze verify (Debian's
systemd package, installed by .ci/run) accepts it without a word, and it says what operating
Seawall needs: all cores, the open-file limit, a restart on failure, a stop that waits for the drain."""

import pathlib
import shutil
import subprocess
import sys

import pytest
from system_tools import require

from seawall.config import default_settings

UNIT = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "seawall.service"
INSTALLED_AT = "/opt/seawall/bin/seawall"  # where docs/operations.md installs it


def directives() -> dict[str, str]:
    out = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            name, _, value = line.partition("=")
            out[name] = value
    return out


@pytest.fixture
def systemd_analyze() -> str:
    return require("systemd-analyze", "apt-get install systemd")


def test_systemd_analyze_verifies_the_unit(systemd_analyze, tmp_path):
    # verify checks that ExecStart's program exists: point it at this checkout's seawall
    seawall = shutil.which("seawall", path=str(pathlib.Path(sys.executable).parent))
    assert seawall, "seawall is not installed in this environment (pip install -e .)"
    unit = tmp_path / "seawall.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED_AT, seawall))
    out = subprocess.run([systemd_analyze, "verify", str(unit)], capture_output=True, text=True)
    assert out.returncode == 0 and not out.stdout + out.stderr, out.stdout + out.stderr


def test_the_unit_runs_every_core_and_stops_after_the_drain():
    unit = directives()
    assert unit["ExecStart"].startswith(INSTALLED_AT + " serve ") and "--workers auto" in unit["ExecStart"]
    assert int(unit["LimitNOFILE"]) >= 65536
    assert unit["Restart"] == "on-failure" and unit["KillSignal"] == "SIGTERM" and unit["KillMode"] == "mixed"
    assert float(unit["TimeoutStopSec"]) > default_settings().server.drain_timeout_s
    assert unit["User"] == "seawall"
