"""Schema-driven fuzzing with schemathesis against OpenAI's published API (tests/data, vendored):
valid and invalid requests generated from the spec for every operation, sent to a real gateway
with a real key. The bar is no 5xx from the gateway itself: every answer is the upstream's reply,
a 4xx naming what is wrong, or (for what the simulator can't serve) an upstream error the gateway
labels as such (502, never 500). Bounded: the operations the gateway serves get SERVED_EXAMPLES
each (chat completions fewer: its schema is slow to generate from), every other operation (a 404
or 405 to explain) OTHER_EXAMPLES; a minute or two in all."""

from __future__ import annotations

import pathlib

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.config import SchemathesisConfig
from schemathesis.core.errors import SchemathesisError
from schemathesis.generation.modes import GenerationMode

from conftest import own_stack

SPEC = pathlib.Path(__file__).resolve().parents[1] / "data" / "openai-openapi.yaml"
# Generating from chat/completions' schema costs ~0.4 s an example (valid) to ~0.7 s (invalid):
# it gets fewer. Shrinking is off: a failure is reported as found, within the time bound.
CHAT_EXAMPLES, SERVED_EXAMPLES, OTHER_EXAMPLES = 24, 60, 1
SERVED = r"^/(embeddings|models|models/\{model\})$"
BOUNDED = {"deadline": None, "suppress_health_check": list(HealthCheck), "database": None,
           "phases": [Phase.explicit, Phase.generate]}


def config(sim_port: int) -> str:
    dep = ("      - provider: openai\n        base_url: http://127.0.0.1:{port}/v1\n        model: {model}\n"
           "        api_key_env: SIM_KEY\n        circuit: {{failures_to_open: 100000}}\n")
    models = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "o4-mini")
    return ("request_log:\n  flush_interval_s: 0.5\nmodels:\n" +
            "".join(f"  - name: {m}\n    deployments:\n{dep.format(port=sim_port, model=m)}" for m in models))


upstream, gw, sim, client = own_stack("schemathesis", config)

_schema = schemathesis.openapi.from_path(SPEC, config=SchemathesisConfig.from_dict({"generation": {"mode": "all"}}))
chat = _schema.include(path="/chat/completions", method="POST")
served = _schema.include(path_regex=SERVED)
others = _schema.exclude(path_regex=SERVED).exclude(path="/chat/completions", method="POST")


def check(case, gw) -> None:
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {gw.key}"}  # a real key: past auth
    response = case.call(base_url=gw.base_url, timeout=30)
    assert response.status_code < 500 or response.status_code in (502, 503, 504), (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}")
    if response.status_code >= 400:  # the gateway's own answers carry a request ID
        assert response.headers.get("x-request-id", [""])[0].startswith("req_"), response.text[:300]


@chat.parametrize()
@settings(max_examples=CHAT_EXAMPLES, **BOUNDED)
def test_chat_completions(case, gw):
    check(case, gw)


@served.parametrize()
@settings(max_examples=SERVED_EXAMPLES, **BOUNDED)
def test_other_served_operations(case, gw):
    check(case, gw)


def test_every_other_operation_is_explained_not_failed(gw):
    """One valid and one invalid request for each of the ~280 operations the gateway doesn't
    serve (a loop rather than one pytest item each: collecting those took minutes)."""
    exercised = 0
    for found in others.get_all_operations():
        operation = found.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = operation.as_strategy(generation_mode=mode)
            except SchemathesisError:  # a payload it can't build (application/sdp): nothing to send
                continue

            @given(strategy)
            @settings(max_examples=OTHER_EXAMPLES, **BOUNDED)
            def one(case):
                check(case, gw)

            try:
                one()
            except Unsatisfiable:  # no invalid request exists for an operation without inputs
                continue
            exercised += 1
    assert exercised > 250


def test_the_spec_is_the_vendored_one():
    assert SPEC.exists() and (SPEC.parent / "openai-openapi.LICENSE").exists()
    paths = {(o.ok().method.upper(), o.ok().path) for o in served.get_all_operations()}
    assert {("GET", "/models"), ("GET", "/models/{model}"), ("POST", "/embeddings")} <= paths
