"""The `alerts:` section: the gateway's own alerting (observe/alerts.py), on by default.

Each built-in rule (decide/alerts.py's RULES says what it watches) can be tuned or switched off
by name; webhooks receive every firing and resolution.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from seawall.config.base import _Strict
from seawall.decide.alerts import RULES


class AlertRuleSettings(_Strict):
    enabled: bool = True
    severity: Literal["critical", "warning", "info"] = "warning"
    # A ratio (0 < t <= 1: bad events / events) or a count (bad events in the window), as the
    # rule measures; decide/alerts.py's RULES says which.
    threshold: float = Field(gt=0)
    min_events: int = Field(1, ge=1, description="events in the window before a ratio is believed")
    window_s: float = Field(60.0, gt=0, description="the sliding window the value is measured over")
    for_s: float = Field(0.0, ge=0, description="how long the condition must hold before it fires")
    clear_ratio: float = Field(0.5, gt=0, le=1, description="resolves below threshold x this (hysteresis)")
    clear_for_s: float = Field(30.0, ge=0, description="how long it must stay below before it resolves")
    cooldown_s: float = Field(60.0, ge=0, description="after a resolution, the same alert fires again no sooner")


# Defaults: an operator learns within a minute (window 60 s, for 15 s at most, evaluated every
# 5 s); the ratio rules want enough traffic that two unlucky requests don't page anyone. A rule
# tuned in the file keeps these for every field it does not set.
BUILT_IN: dict[str, dict[str, object]] = {
    "upstream_auth": {"severity": "critical", "threshold": 3, "window_s": 120, "clear_for_s": 60},
    "upstream_rate_limited": {"threshold": 0.2, "min_events": 10, "for_s": 15},
    "upstream_errors": {"severity": "critical", "threshold": 0.25, "min_events": 10, "for_s": 15},
    "upstream_quota": {"severity": "critical", "threshold": 1, "window_s": 300, "clear_for_s": 60},
    "circuit_open": {"threshold": 1, "clear_for_s": 0},
    "deployment_out": {"severity": "critical", "threshold": 1, "clear_for_s": 0},
    "stream_interrupted": {"threshold": 0.1, "min_events": 10, "window_s": 120, "for_s": 15},
    "gateway_errors": {"severity": "critical", "threshold": 0.2, "min_events": 10, "for_s": 15},
    "request_log_drops": {"severity": "critical", "threshold": 1, "window_s": 120},
    "quota_exhausted": {"severity": "info", "threshold": 10, "window_s": 300},
}


def _rule(name: str):
    return Field(default_factory=lambda: AlertRuleSettings(**BUILT_IN[name]))


class AlertRules(_Strict):
    upstream_auth: AlertRuleSettings = _rule("upstream_auth")
    upstream_rate_limited: AlertRuleSettings = _rule("upstream_rate_limited")
    upstream_errors: AlertRuleSettings = _rule("upstream_errors")
    upstream_quota: AlertRuleSettings = _rule("upstream_quota")
    circuit_open: AlertRuleSettings = _rule("circuit_open")
    deployment_out: AlertRuleSettings = _rule("deployment_out")
    stream_interrupted: AlertRuleSettings = _rule("stream_interrupted")
    gateway_errors: AlertRuleSettings = _rule("gateway_errors")
    request_log_drops: AlertRuleSettings = _rule("request_log_drops")
    quota_exhausted: AlertRuleSettings = _rule("quota_exhausted")

    @model_validator(mode="before")
    @classmethod
    def _over_built_in(cls, data: object) -> object:
        if not isinstance(data, dict):
            return data
        return {name: {**BUILT_IN[name], **given} if name in BUILT_IN and isinstance(given, dict) else given
                for name, given in data.items()}


class WebhookSettings(_Strict):
    url: str  # may hold a secret (a Slack token in its path): only its scheme and host are ever logged
    format: Literal["slack", "json"] = "json"
    timeout_s: float = Field(5.0, gt=0)
    retries: int = Field(3, ge=0, le=10)

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL, e.g. https://hooks.slack.com/services/…")
        return v


class AlertSettings(_Strict):
    enabled: bool = True
    interval_s: float = Field(5.0, gt=0, description="how often the rules are evaluated")
    bucket_s: float = Field(5.0, gt=0, description="resolution of the sliding windows")
    history: int = Field(200, ge=1, description="resolved alerts kept in memory for /admin/alerts")
    queue_size: int = Field(100, ge=1, description="webhook messages waiting; past it the newest are dropped")
    rules: AlertRules = Field(default_factory=AlertRules)
    webhooks: list[WebhookSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _windows(self) -> AlertSettings:
        for name in AlertRules.model_fields:
            rule: AlertRuleSettings = getattr(self.rules, name)
            if RULES[name].measure == "ratio" and rule.threshold > 1:
                raise ValueError(f"rules.{name}.threshold is a ratio of events (0 < t <= 1), got {rule.threshold:g}; "
                                 f"write 5 % as 0.05")
            if rule.window_s < self.bucket_s:
                raise ValueError(f"rules.{name}.window_s ({rule.window_s:g}) is shorter than bucket_s "
                                 f"({self.bucket_s:g}); make the window at least one bucket")
        return self
