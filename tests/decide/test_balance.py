"""Balancing decisions (decide/balance.py), with the config and routing rules that feed them:
no I/O, no clock, a seeded RNG where a draw is involved."""

import random
from collections import Counter

import pytest

from seawall.config import ConfigError, parse_settings, resolve_secrets
from seawall.decide.balance import Standing, choose, draw
from seawall.pipeline.route import Router

UP = Standing()


def s(weight: float = 1.0, healthy: bool = True, load: int = 0) -> Standing:
    return Standing(weight, healthy, load)


# -- ordered ----------------------------------------------------------------------------------------

def test_ordered_is_the_config_order_whatever_the_state():
    assert choose("ordered", [s(healthy=False), s(weight=9), s(load=5)], 0.99) == [0, 1, 2]


# -- weighted ---------------------------------------------------------------------------------------

def test_weighted_three_to_one_over_ten_thousand_seeded_draws():
    rng = random.Random(7)
    firsts = Counter(choose("weighted", [s(3), s(1)], rng.random())[0] for _ in range(10_000))
    # 10k Bernoulli(0.75) draws: standard deviation ~43, so ±250 is ~6 sigma.
    assert abs(firsts[0] - 7500) < 250 and firsts[0] + firsts[1] == 10_000


def test_weighted_draws_are_proportional_across_three():
    rng = random.Random(11)
    firsts = Counter(choose("weighted", [s(1), s(2), s(7)], rng.random())[0] for _ in range(10_000))
    assert abs(firsts[0] - 1000) < 200 and abs(firsts[1] - 2000) < 250 and abs(firsts[2] - 7000) < 300


@pytest.mark.parametrize("rand,first", [(0.0, 0), (0.74, 0), (0.75, 1), (0.999, 1)])
def test_weighted_shares_are_contiguous_slices_of_the_draw(rand, first):
    assert choose("weighted", [s(3), s(1)], rand)[0] == first


def test_weighted_the_rest_follow_in_config_order():
    assert choose("weighted", [s(1), s(1), s(1), s(1)], 0.6) == [2, 0, 1, 3]


def test_weighted_skips_open_circuits_and_puts_them_last():
    standings = [s(100, healthy=False), s(1), s(1, healthy=False), s(1)]
    for rand in (0.0, 0.3, 0.6, 0.99):
        order = choose("weighted", standings, rand)
        assert order[:2] in ([1, 3], [3, 1]) and order[2:] == [0, 2]


def test_weighted_every_circuit_open_gives_the_config_order_so_the_circuit_wait_applies():
    assert choose("weighted", [s(3, healthy=False), s(1, healthy=False)], 0.1) == [0, 1]


def test_weight_zero_is_a_standby_never_drawn_first_while_another_is_healthy():
    rng = random.Random(3)
    assert {choose("weighted", [s(0), s(1), s(0)], rng.random())[0] for _ in range(1000)} == {1}
    assert choose("weighted", [s(0), s(1, healthy=False)], 0.5) == [0, 1]  # the standby steps in


def test_draw_edges():
    assert draw([], 0.5) is None and draw([0, 0], 0.5) is None
    assert draw([1, 0], 0.0) == 0 and draw([0, 1], 0.0) == 1 and draw([2, 2], 1.0) == 1


# -- least in flight --------------------------------------------------------------------------------

def test_least_in_flight_picks_the_least_loaded_healthy_one():
    assert choose("least_in_flight", [s(load=4), s(load=1), s(load=2)], 0.5) == [1, 2, 0]


def test_least_in_flight_ties_go_to_the_larger_weight_then_the_config_order():
    assert choose("least_in_flight", [s(1, load=2), s(1, load=2), s(5, load=2)], 0.5) == [2, 0, 1]


def test_least_in_flight_skips_open_circuits_even_when_idle():
    assert choose("least_in_flight", [s(load=0, healthy=False), s(load=9)], 0.5) == [1, 0]


def test_least_in_flight_all_open_keeps_the_config_order():
    assert choose("least_in_flight", [s(load=3, healthy=False), s(load=0, healthy=False)], 0.5) == [0, 1]


def test_every_balance_tries_every_deployment_exactly_once():
    rng = random.Random(5)
    for balance in ("ordered", "weighted", "least_in_flight"):
        for _ in range(200):
            standings = [s(rng.choice([0, 1, 3]), rng.random() < 0.7, rng.randrange(5)) for _ in range(5)]
            assert sorted(choose(balance, standings, rng.random())) == [0, 1, 2, 3, 4]


# -- config: balance, weight, fallbacks -------------------------------------------------------------

def dep(model: str, **extra) -> dict:
    return {"provider": "simulator", "model": model, **extra}


def model(name: str, *deployments: dict, **extra) -> dict:
    return {"name": name, "deployments": list(deployments or [dep(name)]), **extra}


def problems(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as e:
        parse_settings(raw)
    return e.value.problems


def test_defaults_keep_todays_behaviour():
    route = parse_settings({"models": [model("a")]}).models[0]
    assert route.balance == "ordered" and route.fallbacks == [] and route.deployments[0].weight == 1.0


def test_balance_and_weight_parse():
    route = parse_settings({"models": [model("a", dep("x", weight=3), dep("y", weight=0.5),
                                             balance="weighted")]}).models[0]
    assert route.balance == "weighted" and [d.weight for d in route.deployments] == [3, 0.5]


def test_an_unknown_balance_is_named():
    (p,) = problems({"models": [model("a", balance="round_robin")]})
    assert p.startswith("models.0.balance:") and "'round_robin'" in p and "least_in_flight" in p


def test_a_negative_weight_is_named():
    (p,) = problems({"models": [model("a", dep("x", weight=-1))]})
    assert p.startswith("models.0.deployments.0.weight:")


def test_weighted_with_every_weight_zero_is_refused():
    (p,) = problems({"models": [model("a", dep("x", weight=0), dep("y", weight=0), balance="weighted")]})
    assert p.startswith("models.0:") and "weight > 0" in p


def test_a_misspelled_fallback_gets_did_you_mean():
    (p,) = problems({"models": [model("gpt-4o", fallbacks=["gpt-4o-mnii"]), model("gpt-4o-mini")]})
    assert p == "models.0.fallbacks.0: 'gpt-4o-mnii' is not another configured model — did you mean 'gpt-4o-mini'?"


def test_a_model_cannot_fall_back_to_itself_or_twice_to_one():
    (p,) = problems({"models": [model("a", fallbacks=["a"]), model("b")]})
    assert p.startswith("models.0.fallbacks.0: 'a' is not another configured model")
    (p,) = problems({"models": [model("a", fallbacks=["b", "b"]), model("b")]})
    assert p == "models.0.fallbacks.1: 'b' is listed twice"


def test_a_cycle_of_fallbacks_is_refused_with_its_path():
    (p,) = problems({"models": [model("a", fallbacks=["b"]), model("b", fallbacks=["c"]),
                                model("c", fallbacks=["a"])]})
    assert p.startswith("models.0.fallbacks: the fallbacks go round in a circle (a → b → c → a)")


def test_fallbacks_and_the_context_fallback_model_coexist():
    s = parse_settings({"models": [model("a", fallbacks=["c"], context_policy="fallback", fallback_model="b"),
                                   model("b"), model("c")]})
    assert s.models[0].fallbacks == ["c"] and s.models[0].fallback_model == "b"


# -- routing: the fallback plan ---------------------------------------------------------------------

def router(*models: dict) -> Router:
    settings = parse_settings({"models": list(models)})
    return Router(resolve_secrets(settings, {"MJ_KEY": "mj-secret-0123456789"}, "http://127.0.0.1:9"))


def test_plan_is_the_model_then_its_fallbacks_breadth_first_each_once():
    r = router(model("a", fallbacks=["b", "c"]), model("b", fallbacks=["d", "c"]), model("c"), model("d"))
    assert [[d.route for d in deps] for deps in r.plan("a", "chat")] == [["a"], ["b"], ["c"], ["d"]]
    assert [deps[0].route for deps in r.plan("b", "chat")] == ["b", "d", "c"]
    assert [deps[0].route for deps in r.plan("c", "chat")] == ["c"]


def test_plan_leaves_out_fallbacks_that_cannot_serve_the_operation():
    r = router(model("chat", fallbacks=["mj", "other"]),
               model("mj", {"provider": "midjourney", "base_url": "https://mj.test", "model": "mj",
                            "api_key_env": "MJ_KEY"}),
               model("other"))
    assert [deps[0].route for deps in r.plan("chat", "chat")] == ["chat", "other"]
