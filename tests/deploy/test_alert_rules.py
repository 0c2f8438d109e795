"""The shipped alert rules and dashboard: valid for Prometheus (promtool, Debian's prometheus
package, installed by .ci/run), and firing on the synthetic series of seawall-alerts.test.yml.
That every metric they query is exported is checked against a real gateway in
tests/e2e/test_metrics_scrape.py."""

import json
import pathlib
import re
import subprocess

import pytest
import yaml
from system_tools import require

ROOT = pathlib.Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "seawall-alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "seawall-dashboard.json"
METRIC = re.compile(r"\bseawall_[a-z_]+")


def queried_metrics() -> set[str]:
    """Every seawall_* name in the rules' and the dashboard's expressions."""
    exprs = [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    exprs += [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]
    return {m for e in exprs for m in METRIC.findall(e)}


@pytest.fixture
def promtool() -> str:
    return require("promtool", "apt-get install prometheus")


def test_promtool_accepts_the_rules(promtool):
    out = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 9 rules found" in out.stdout


def test_the_alerts_fire_on_synthetic_series_and_only_then(promtool):
    out = subprocess.run([promtool, "test", "rules", "seawall-alerts.test.yml"], cwd=pathlib.Path(__file__).parent,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_five_alerts_are_there_and_the_dashboard_uses_only_recorded_rules_it_ships():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
    assert alerts == {"SeawallErrorBudgetBurn", "SeawallUpstream429Spike", "SeawallCircuitOpen",
                      "SeawallUpstreamQuotaExhausted", "SeawallStreamInterruptions"}
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    dashboard = json.loads(DASHBOARD.read_text())
    used = {m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"seawall:[a-z_:0-9]+", t["expr"])}
    assert used and used <= recorded
    assert all(p["title"] for p in dashboard["panels"]) and len({p["id"] for p in dashboard["panels"]}) == len(
        dashboard["panels"])
