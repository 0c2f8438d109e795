"""The alerts: section: defaults documented truly, tuning keeps the other defaults, mistakes named."""

import pytest
import yaml

from seawall.config import ConfigError, default_settings, example_config, parse_settings
from seawall.config.alerts import BUILT_IN, AlertRules
from seawall.decide.alerts import RULES

MODELS = [{"name": "m", "deployments": [{"provider": "simulator", "model": "m"}]}]


def test_the_example_shows_the_real_defaults_of_every_rule():
    example = parse_settings(yaml.safe_load(example_config())).alerts
    assert example == default_settings().alerts
    assert set(RULES) == set(BUILT_IN) == set(AlertRules.model_fields)


def test_tuning_one_field_keeps_the_rules_other_defaults():
    rules = default_settings(alerts={"rules": {"upstream_errors": {"threshold": 0.5}}}).alerts.rules
    assert rules.upstream_errors.threshold == 0.5
    assert rules.upstream_errors.min_events == 10 and rules.upstream_errors.severity == "critical"


@pytest.mark.parametrize("alerts,expected", [
    ({"rules": {"upstream_eror": {}}}, "alerts.rules.upstream_eror: unknown field — did you mean 'upstream_errors'?"),
    ({"rules": {"upstream_errors": {"threshold": 5}}}, "rules.upstream_errors.threshold is a ratio"),
    ({"rules": {"upstream_auth": {"severity": "page"}}}, "alerts.rules.upstream_auth.severity"),
    ({"rules": {"upstream_auth": {"window_s": 1}}}, "rules.upstream_auth.window_s (1) is shorter than bucket_s"),
    ({"webhooks": [{"url": "hooks.slack.com/x"}]}, "alerts.webhooks.0.url: must be an http:// or https:// URL"),
    ({"webhooks": [{"url": "https://h.example", "format": "teams"}]}, "alerts.webhooks.0.format"),
    ({"interval_s": 0}, "alerts.interval_s"),
])
def test_mistakes_name_the_field(alerts, expected):
    with pytest.raises(ConfigError) as e:
        parse_settings({"models": MODELS, "alerts": alerts})
    assert expected in str(e.value)
