"""Deeply nested JSON on every route that reads a body (a property test against a real gateway):
past MAX_JSON_DEPTH it is a 400 naming the depth, at once; at or under it, never a 5xx. Before
this, 255 to 1,024 levels were read, then failed to re-encode as a 500 labelled as an upstream
failure."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ADMIN_KEY, http, own_stack
from seawall.errors import error
from seawall.pipeline.ingress import MAX_JSON_DEPTH


def config(sim_port: int) -> str:
    root = f"http://127.0.0.1:{sim_port}"
    return ("models:\n"
            f"  - name: gpt-4o-mini\n    deployments:\n      - provider: openai\n        base_url: {root}/v1\n"
            "        model: gpt-4o-mini\n        api_key_env: SIM_KEY\n"
            f"  - name: text-embedding-3-small\n    deployments:\n      - provider: openai\n"
            f"        base_url: {root}/v1\n        model: text-embedding-3-small\n        api_key_env: SIM_KEY\n"
            f"  - name: midjourney\n    deployments:\n      - provider: midjourney\n        base_url: {root}\n"
            "        model: midjourney\n        api_key_env: SIM_KEY\n")


upstream, gw, sim, client = own_stack("nested", config)

NEST = "__NEST__"
ROUTES = {  # path -> bodies with the nested value in different places
    "/v1/chat/completions": [
        '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "metadata": __NEST__}',
        '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": __NEST__}]}',
        '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": true, '
        '"tools": [{"type": "function", "function": {"name": "f", "parameters": __NEST__}}]}',
    ],
    "/v1/embeddings": ['{"model": "text-embedding-3-small", "input": __NEST__}',
                       '{"model": "text-embedding-3-small", "input": "hi", "user": __NEST__}'],
    "/v1/messages": ['{"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": __NEST__}]}',
                     '{"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], '
                     '"metadata": __NEST__}'],
    "/v1beta/models/gpt-4o-mini:generateContent": ['{"contents": [{"role": "user", "parts": [__NEST__]}]}',
                                                   '{"contents": [{"parts": [{"text": "hi"}]}], '
                                                   '"generationConfig": __NEST__}'],
    "/v1beta/models/gpt-4o-mini:streamGenerateContent?alt=sse": ['{"contents": __NEST__}'],
    "/mj/submit/imagine": ['{"prompt": "a kite", "state": __NEST__}'],
    "/mj/task/list-by-condition": ['{"ids": __NEST__}'],
    "/admin/keys": ['{"name": "nested", "metadata": __NEST__}'],
}


def depth_before(template: str) -> int:
    """How many arrays and objects are open where the nested value goes (no brackets in strings)."""
    prefix = template[:template.index(NEST)]
    return sum(prefix.count(c) for c in "[{") - sum(prefix.count(c) for c in "]}")


def nested(kinds: list[bool]) -> str:
    """Arrays and objects, one per level as `kinds` says, around a string."""
    return "".join("[" if k else '{"k": ' for k in kinds) + '"x"' + "".join("]" if k else "}" for k in reversed(kinds))


def post(path: str, body: bytes) -> tuple[int, dict]:
    key = ADMIN_KEY if path.startswith("/admin/") else gw_key
    status, _, raw = http("POST", gw_url + path, body, {"authorization": f"Bearer {key}",
                                                        "content-type": "application/json"})
    return status, json.loads(raw) if raw.startswith(b"{") else {"raw": raw[:200].decode("latin-1")}


gw_url = gw_key = None


@pytest.fixture(autouse=True)
def _gateway(gw):
    global gw_url, gw_key
    gw_url, gw_key = gw.url, gw.key


def error_of(path: str, payload: dict) -> tuple[str | None, str]:
    if path.startswith("/mj/"):
        return payload.get("category"), payload.get("description", "")
    err = payload.get("error", {})
    if "details" in err:  # Gemini's envelope
        info = err["details"][0]
        return info["reason"].lower(), err["message"]
    return err.get("code"), err.get("message", "")


DEPTHS = st.one_of(st.integers(1, MAX_JSON_DEPTH + 12), st.integers(200, 320), st.integers(1000, 1100))


@pytest.mark.parametrize("path", list(ROUTES))
def test_nesting_is_refused_past_the_limit_and_never_a_5xx(path):
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.sampled_from(ROUTES[path]), DEPTHS.flatmap(lambda d: st.lists(st.booleans(), min_size=d, max_size=d)))
    def check(template, kinds):
        total = depth_before(template) + len(kinds)
        status, payload = post(path, template.replace(NEST, nested(kinds)).encode())
        assert status < 500, (total, status, payload)
        if total > MAX_JSON_DEPTH:
            code, message = error_of(path, payload)
            assert status == 400, (total, status, payload)
            assert code in ("json_too_deep", "request.invalid"), payload
            named = "more than 1024" if total > 1024 else f"nests {total} levels"
            assert named in message and str(MAX_JSON_DEPTH) in message, message

    check()


def test_an_exception_inside_the_gateway_is_not_an_upstream_failure():
    err = error("internal_error")
    assert err.status == 500 and not err.category.startswith("upstream.")
