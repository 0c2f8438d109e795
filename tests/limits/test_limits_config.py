"""limits.* in the config file: what is accepted, and every refusal naming its field (the start
fails on it, as `seawall config check` does)."""

import subprocess
import sys

import pytest

from seawall.config import ConfigError, parse_settings

MODELS = {"models": [{"name": "m", "deployments": [{"provider": "simulator", "model": "m"}]}]}


def problems(limits: dict) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_settings({**MODELS, "limits": limits})
    return e.value.problems


def test_the_issues_example_is_accepted():
    limits = parse_settings({**MODELS, "limits": {
        "defaults": {"key": {"rpm": 600}, "tenant": {"tpm": 1_000_000}},
        "tenants": {"acme": {"rpm": 1000, "tpm": 2_000_000, "max_concurrency": 50}},
        "groups": {"free": {"rpm": 10}}, "keys": {"ci-bot": {"rpm": 5, "rps": 1}}}}).limits
    assert limits.tenants["acme"].max_concurrency == 50 and limits.defaults.key.rpm == 600
    assert limits.keys["ci-bot"].rps == 1 and limits.groups["free"].tpm is None


def test_none_is_the_default():
    limits = parse_settings(MODELS).limits
    assert limits.tenants == {} and limits.defaults.key.rpm is None and limits.redis_url is None


@pytest.mark.parametrize(("limits", "expected"), [
    ({"tenants": {"acme": {"rpm": 0}}}, "limits.tenants.acme.rpm: must be > 0, got 0"),
    ({"groups": {"free": {"tpm": -5}}}, "limits.groups.free.tpm: must be > 0, got -5"),
    ({"defaults": {"key": {"rps": 0}}}, "limits.defaults.key.rps: must be > 0"),
    ({"keys": {"ci-bot": {"max_concurrency": -1}}}, "limits.keys.ci-bot.max_concurrency: must be > 0"),
    ({"tenants": {"acme": {"rpm": "10/s"}}}, "limits.tenants.acme.rpm: must be a whole number such as 60"),
    ({"tenants": {"acme": {"rpm": "600"}}}, "limits.tenants.acme.rpm: must be a whole number"),
    ({"tenants": {"acme": {"tpm": 2.5}}}, "limits.tenants.acme.tpm: must be a whole number"),
    ({"tenants": {"acme": {"rps": True}}}, "limits.tenants.acme.rps: must be a whole number"),
    ({"tenants": {"acme": {"requests_per_minute": 5}}}, "limits.tenants.acme.requests_per_minute: unknown field"),
    ({"tenants": {"acme": {"rpmm": 5}}}, "limits.tenants.acme.rpmm: unknown field — did you mean 'rpm'?"),
    ({"defaults": {"keys": {"rpm": 5}}}, "limits.defaults.keys: unknown field — did you mean 'key'?"),
    ({"tenant": {"acme": {"rpm": 5}}}, "limits.tenant: unknown field — did you mean 'tenants'?"),
    ({"tenants": {"acme": 5}}, "limits.tenants.acme:"),
])
def test_limits_that_cant_be_met_or_read_are_refused_naming_the_field(limits, expected):
    found = problems(limits)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_seawall_config_check_reports_the_field(tmp_path):
    cfg = tmp_path / "seawall.yaml"
    cfg.write_text("models:\n  - name: m\n    deployments:\n      - provider: simulator\n        model: m\n"
                   "limits:\n  tenants:\n    acme: {rpm: 0, tpm: 2000000}\n")
    out = subprocess.run([sys.executable, "-m", "seawall", "config", "check", str(cfg)], capture_output=True,
                         text=True, timeout=30, check=False)
    assert out.returncode != 0
    assert "limits.tenants.acme.rpm: must be > 0" in out.stdout + out.stderr
