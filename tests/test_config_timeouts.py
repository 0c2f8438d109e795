"""Timeouts in the config: a model's block as defaults for its deployments, a deployment's own
fields overriding it field by field, and the start-up errors that name the field to fix.
(decide/timeouts.py's pure rules are tested here too: config.py is their one caller at start.)"""

import pytest

from seawall.config import ConfigError, Timeouts, parse_settings
from seawall.decide.timeouts import fired_values, merge, problems


def dep(model: str = "m", **timeouts) -> dict:
    d = {"provider": "simulator", "model": model}
    if timeouts:
        d["timeouts"] = timeouts
    return d


def route(*deployments: dict, **model_timeouts) -> dict:
    r = {"name": "chat", "deployments": list(deployments) or [dep()]}
    if model_timeouts:
        r["timeouts"] = model_timeouts
    return {"models": [r]}


def effective(raw: dict) -> list[Timeouts]:
    return [d.timeouts for d in parse_settings(raw).models[0].deployments]


def problems_of(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_settings(raw)
    return e.value.problems


# -- defaults and merging ------------------------------------------------------------------------

def test_defaults_keep_the_old_behaviour_first_byte_is_read_s_and_no_total():
    (t,) = effective(route())
    assert (t.connect_s, t.first_byte_s, t.read_s, t.total_s, t.keepalive_s) == (10, None, 600, None, 15)
    assert t.first_byte_limit_s == 600


def test_a_models_block_applies_to_every_deployment_without_its_own():
    a, b = effective(route(dep("a"), dep("b"), first_byte_s=30, total_s=120))
    assert a == b
    assert (a.first_byte_s, a.total_s, a.connect_s, a.read_s) == (30, 120, 10, 600)


def test_a_deployments_own_fields_override_the_models_field_by_field():
    inherits, overrides = effective(route(dep("a"), dep("b", first_byte_s=90, read_s=20),
                                          connect_s=3, first_byte_s=30, read_s=60))
    assert (inherits.connect_s, inherits.first_byte_s, inherits.read_s) == (3, 30, 60)
    assert (overrides.connect_s, overrides.first_byte_s, overrides.read_s) == (3, 90, 20)


def test_a_deployment_setting_a_field_to_its_default_value_still_overrides_the_model():
    (t,) = effective(route(dep(read_s=600), read_s=60))
    assert t.read_s == 600


def test_idle_s_is_another_name_for_read_s():
    (t,) = effective(route(dep(idle_s=7)))
    assert t.read_s == 7 and t.first_byte_limit_s == 7
    (t,) = effective(route(dep(), idle_s=8))  # on the model too
    assert t.read_s == 8


def test_merge_is_the_models_set_fields_then_the_deployments():
    assert merge({"connect_s": 3, "total_s": 60}, {"total_s": 30}) == {"connect_s": 3, "total_s": 30}
    assert merge({}, {}) == {}


# -- validation at start -------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["connect_s", "first_byte_s", "read_s", "idle_s", "total_s", "keepalive_s"])
@pytest.mark.parametrize("value", [0, -1])
def test_non_positive_values_are_refused_naming_the_field(field, value):
    (problem,) = problems_of(route(dep(**{field: value})))
    assert problem == f"models.0.deployments.0.timeouts.{field}: Input should be greater than 0"


def test_non_positive_values_on_the_model_are_refused_at_the_models_block():
    (problem,) = problems_of(route(dep(), total_s=0))
    assert problem == "models.0.timeouts.total_s: Input should be greater than 0"


def test_first_byte_shorter_than_connect_is_refused_naming_first_byte_s():
    (problem,) = problems_of(route(dep(connect_s=5, first_byte_s=2)))
    assert problem.startswith("models.0.deployments.0.timeouts.first_byte_s: 2 s is shorter than connect_s (5 s)")
    assert "raise first_byte_s or lower connect_s" in problem


def test_a_conflict_made_by_merging_points_at_the_block_that_set_the_field():
    # the model's first_byte_s against the default connect_s (10 s): reported once, at the model
    (problem,) = problems_of(route(dep("a"), dep("b"), first_byte_s=4))
    assert problem.startswith("models.0.timeouts.first_byte_s: 4 s is shorter than connect_s (10 s)")
    # the deployment's own first_byte_s against the model's connect_s: at the deployment
    (problem,) = problems_of(route(dep("a"), dep("b", first_byte_s=1), connect_s=2))
    assert problem.startswith("models.0.deployments.1.timeouts.first_byte_s: 1 s is shorter than connect_s (2 s)")


def test_total_shorter_than_connect_or_first_byte_is_refused_naming_total_s():
    (problem,) = problems_of(route(dep(connect_s=5, total_s=2)))
    assert problem.startswith("models.0.deployments.0.timeouts.total_s: 2 s is shorter than connect_s (5 s)")
    (problem,) = problems_of(route(dep(first_byte_s=30, total_s=20)))
    assert problem.startswith("models.0.deployments.0.timeouts.total_s: 20 s is shorter than first_byte_s (30 s)")


def test_limits_that_can_all_fire_are_accepted():
    # an idle limit longer than the total is harmless (the total fires first); an unset first_byte_s
    # is not compared with total_s, so total_s alone never needs read_s lowered
    (t,) = effective(route(dep(connect_s=2, first_byte_s=2, read_s=900, total_s=60)))
    assert t.total_s == 60
    (t,) = effective(route(dep(total_s=30)))
    assert t.total_s == 30 and t.first_byte_limit_s == 600


def test_an_unknown_timeout_field_is_named_with_a_suggestion():
    (problem,) = problems_of(route(dep(first_bytes_s=5)))
    assert problem == "models.0.deployments.0.timeouts.first_bytes_s: unknown field — did you mean 'first_byte_s'?"


@pytest.mark.parametrize("values,expected", [
    ({"connect_s": 10, "first_byte_s": None, "total_s": None}, []),
    ({"connect_s": 10, "first_byte_s": 10, "total_s": 10}, []),
    ({"connect_s": 10, "first_byte_s": 9.5, "total_s": None}, ["first_byte_s"]),
    ({"connect_s": 10, "first_byte_s": None, "total_s": 5}, ["total_s"]),
    ({"connect_s": 1, "first_byte_s": 30, "total_s": 20}, ["total_s"]),
    ({"connect_s": 10, "first_byte_s": 5, "total_s": 5}, ["first_byte_s", "total_s"]),
])
def test_problems_table(values, expected):
    assert [name for name, _ in problems(values)] == expected


# -- naming a timeout that fired -----------------------------------------------------------------

def test_fired_values_name_the_limit_its_value_and_where_to_change_it():
    v = fired_values("first_byte_s", 2.5, "gpt-4o", "openai-eu")
    assert v["field"] == "timeouts.first_byte_s" and v["seconds"] == "2.5" and v["missed"] == "sent no first byte"
    assert v["where"] == ("models[gpt-4o].timeouts.first_byte_s (every deployment of the model) or "
                          "timeouts.first_byte_s on its deployment openai-eu")
