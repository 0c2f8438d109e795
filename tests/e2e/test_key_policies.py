"""Context policies and size limits per key and per group, end to end.

Admin API and CLI against the shared gateway (the keys and groups made here are this file's own);
behaviour against a gateway of this file's own whose `ctx-small` model has a 200-token window in
front of a simulator that enforces the same window (its own count), so a 200 from the simulator
proves a trimmed request really fit, and its request counter proves a refusal never left."""

import json
import re

import pytest
from admin_cli import cli_json, new_key, run_cli, unique
from conftest import http, start_gateway, start_simulator

CHAT = "/v1/chat/completions"
WINDOW = 200
SIM_CONFIG = f"""stream_interval_ms: 0
models:
  - gpt-4o
  - {{id: tiny, context_window: {WINDOW}, max_output: 100}}
"""
SERVER_MAX_BODY = 1_048_576


def gateway_config(sim_port: int) -> str:
    def route(name: str, model: str, extra: str = "", small: bool = True) -> str:
        window = (f"    catalog: {{context_window: {WINDOW}, max_output_tokens: 100, tokenizer: o200k_base}}\n"
                  if small else "")
        return (f"  - name: {name}\n{window}{extra}    deployments:\n"
                f"      - provider: openai\n        base_url: http://127.0.0.1:{sim_port}/v1\n"
                f"        model: {model}\n        api_key_env: SIM_KEY\n")

    # Both small models keep the default policy (reject); only ctx-backed names a fallback_model.
    return (f"server:\n  max_body_bytes: {SERVER_MAX_BODY}\nrequest_log:\n  flush_interval_s: 0.1\nmodels:\n"
            + route("ctx-small", "tiny")
            + route("ctx-backed", "tiny", "    fallback_model: roomy\n")
            + route("roomy", "gpt-4o", small=False))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    sim = start_simulator(tmp_path_factory, "key-policy-sim", config=SIM_CONFIG)
    gw = start_gateway(tmp_path_factory, gateway_config(sim.port), "key-policy-gateway")
    yield sim, gw
    gw.proc.stop()
    sim.proc.stop()


def post(gw, key: str, body: dict | bytes, path: str = CHAT):
    status, headers, raw = http("POST", gw.url + path, body, {"authorization": f"Bearer {key}",
                                                             "content-type": "application/json"}, timeout=30)
    return status, headers, json.loads(raw) if raw else None


def admin(gw, method: str, path: str, body: dict | None = None):
    status, _, raw = http(method, gw.url + path, body, {"authorization": f"Bearer {gw.admin_key}"})
    return status, json.loads(raw)


def words(n: int, word: str = "apple") -> str:
    """n tokens both by o200k and by the simulator's count (one per word)."""
    return " ".join([word] * n)


def sim_count(messages: list[dict]) -> int:
    """The simulator's prompt count (simulator/text.py): words and punctuation, + 3 per message, + 3."""
    return sum(len(re.findall(r"\w+|[^\w\s]", m.get("content") or "")) + 3 for m in messages) + 3


def conversation(turns: int, size: int = 20) -> list[dict]:
    history = [{"role": "system", "content": "Answer briefly."}]
    for i in range(turns):
        history.append({"role": "user" if i % 2 == 0 else "assistant", "content": words(size, f"w{i}")})
    history.append({"role": "user", "content": "And now?"})
    return history


def upstream_calls(sim) -> int:
    return sim.stats()["requests"]["total"]


POLICY = ("context_policy", "max_messages", "max_images", "max_image_bytes", "max_body_bytes")


# -- admin API and CLI (the shared gateway) -------------------------------------------------------

def test_cli_sets_shows_lists_and_clears_a_keys_policy(gateway):
    made = new_key(gateway, "--context-policy", "trim", "--max-messages", "100", "--max-images", "5",
                   "--max-image-bytes", "1000000", "--max-body-bytes", "65536")
    shown = cli_json(gateway, "keys", "show", made["id"])
    assert {f: shown[f] for f in POLICY} == {"context_policy": "trim", "max_messages": 100, "max_images": 5,
                                             "max_image_bytes": 1000000, "max_body_bytes": 65536}
    listed = {k["id"]: k for k in cli_json(gateway, "keys", "list")}
    assert listed[made["id"]]["context_policy"] == "trim" and listed[made["id"]]["max_body_bytes"] == 65536
    text = run_cli(gateway, "keys", "list")
    assert text.returncode == 0 and "pre-flight" in text.stdout and "context_policy=trim" in text.stdout

    updated = cli_json(gateway, "keys", "update", made["name"], "--context-policy", "truncate_output",
                       "--max-images", "0")
    assert (updated["context_policy"], updated["max_images"], updated["max_messages"]) == ("truncate_output", 0, 100)
    cleared = cli_json(gateway, "keys", "update", made["name"], "--clear-policy", "--max-messages", "7")
    assert {f: cleared[f] for f in POLICY} == {"context_policy": None, "max_messages": 7, "max_images": None,
                                               "max_image_bytes": None, "max_body_bytes": None}


def test_rotate_keeps_the_keys_policy(gateway):
    made = new_key(gateway, "--context-policy", "fallback", "--max-body-bytes", "4096")
    rotated = cli_json(gateway, "keys", "rotate", made["name"])
    shown = cli_json(gateway, "keys", "show", rotated["id"])
    assert (shown["context_policy"], shown["max_body_bytes"]) == ("fallback", 4096)


def test_cli_sets_and_shows_a_groups_policy(gateway):
    name = unique("grp")
    made = cli_json(gateway, "groups", "create", "--name", name, "--context-policy", "trim", "--max-messages", "50",
                    "--max-body-bytes", "8192")
    assert (made["context_policy"], made["max_messages"], made["max_body_bytes"]) == ("trim", 50, 8192)
    updated = cli_json(gateway, "groups", "update", name, "--max-images", "2")
    assert (updated["max_images"], updated["max_messages"]) == (2, 50)
    shown = cli_json(gateway, "groups", "show", name)
    assert {f: shown[f] for f in POLICY} == {"context_policy": "trim", "max_messages": 50, "max_images": 2,
                                             "max_image_bytes": None, "max_body_bytes": 8192}
    assert cli_json(gateway, "groups", "update", name, "--clear-policy")["context_policy"] is None
    text = run_cli(gateway, "groups", "list")
    assert text.returncode == 0 and "pre-flight" in text.stdout


@pytest.mark.parametrize(("field", "value", "code"), [
    ("context_policy", "shorten", "admin_invalid_value"),
    ("context_policy", 3, "invalid_field"),
    ("max_messages", 0, "admin_invalid_value"),
    ("max_images", -1, "admin_invalid_value"),
    ("max_image_bytes", "1mb", "invalid_field"),
    ("max_body_bytes", 0, "admin_invalid_value"),
])
def test_bad_values_are_refused_naming_the_field(gateway, field, value, code):
    status, body = admin(gateway, "POST", "/admin/keys", {"name": unique("bad"), field: value})
    assert (status, body["error"]["code"], body["error"]["param"]) == (400, code, field), body
    assert body["error"]["hint"] and body["error"]["request_id"]
    status, body = admin(gateway, "POST", "/admin/groups", {"name": unique("bad"), field: value})
    assert (status, body["error"]["param"]) == (400, field)


def test_cli_names_the_bad_field(gateway):
    out = run_cli(gateway, "keys", "create", "--name", unique("bad"), "--context-policy", "shorten")
    assert out.returncode != 0 and "field: context_policy" in out.stderr and "reject, trim" in out.stderr


# -- behaviour (this file's own gateway) ----------------------------------------------------------

def test_a_key_with_trim_trims_where_the_models_reject_refuses(stack):
    sim, gw = stack
    trimmer = cli_json(gw, "keys", "create", "--name", unique("trimmer"), "--context-policy", "trim")["key"]
    messages = conversation(12)
    assert sim_count(messages) > WINDOW  # the simulator would refuse it whole

    sim.reset()
    status, _, body = post(gw, gw.key, {"model": "ctx-small", "messages": messages})
    assert (status, body["error"]["code"]) == (400, "context_length_exceeded"), body
    assert upstream_calls(sim) == 0  # the model's reject: refused before any upstream call

    status, headers, body = post(gw, trimmer, {"model": "ctx-small", "messages": messages})
    assert status == 200, body
    dropped = int(headers["x-seawall-trimmed-messages"])
    assert dropped > 0
    assert body["usage"]["prompt_tokens"] == sim_count([messages[0], *messages[1 + dropped:]])  # system kept


def test_a_key_with_fallback_uses_the_models_fallback_model_only(stack):
    _, gw = stack
    key = cli_json(gw, "keys", "create", "--name", unique("fb"), "--context-policy", "fallback")["key"]
    messages = conversation(12)
    status, headers, body = post(gw, key, {"model": "ctx-backed", "messages": messages})
    assert status == 200, body
    assert headers["x-seawall-fallback-model"] == "roomy" and body["model"].startswith("gpt-4o")
    status, _, body = post(gw, gw.key, {"model": "ctx-backed", "messages": messages})
    assert (status, body["error"]["code"]) == (400, "context_length_exceeded")  # the model's own: reject
    # a model without a fallback_model: the key's fallback can only reject
    status, _, body = post(gw, key, {"model": "ctx-small", "messages": messages})
    assert (status, body["error"]["code"]) == (400, "context_length_exceeded")


def test_a_groups_max_messages_applies_to_its_keys_and_a_keys_own_overrides_it(stack):
    sim, gw = stack
    group = unique("team")
    cli_json(gw, "groups", "create", "--name", group, "--max-messages", "3")
    member = cli_json(gw, "keys", "create", "--name", unique("member"), "--group", group)["key"]
    roomy = cli_json(gw, "keys", "create", "--name", unique("roomy"), "--group", group, "--max-messages", "10")["key"]
    four = {"model": "ctx-small", "messages": [{"role": "user", "content": f"turn {i}"} for i in range(4)]}

    sim.reset()
    status, headers, body = post(gw, member, four)
    assert status == 413, body
    err = body["error"]
    assert (err["code"], err["param"], err["category"]) == ("too_many_messages", "messages", "request.too_large")
    assert "at most 3 per request" in err["message"] and err["request_id"] == headers["x-request-id"]
    assert upstream_calls(sim) == 0

    assert post(gw, roomy, four)[0] == 200  # the key's own 10 over its group's 3
    assert post(gw, gw.key, four)[0] == 200  # no group, no override: the model's 2048

    cli_json(gw, "groups", "update", group, "--max-messages", "5")  # applies at once (the cache reloads)
    assert post(gw, member, four)[0] == 200


def test_a_keys_max_body_bytes_gives_a_413_naming_it(stack):
    sim, gw = stack
    name = unique("tight")
    tight = cli_json(gw, "keys", "create", "--name", name, "--max-body-bytes", "2000")["key"]
    body = {"model": "roomy", "messages": [{"role": "user", "content": words(600)}]}
    assert 2000 < len(json.dumps(body)) < SERVER_MAX_BODY

    sim.reset()
    status, headers, reply = post(gw, tight, body)
    assert status == 413, reply
    err = reply["error"]
    assert (err["code"], err["category"], err["type"]) == ("key_body_too_large", "request.too_large",
                                                          "invalid_request_error")
    assert "2000 bytes" in err["message"] and f"max_body_bytes of the key '{name}'" in err["message"]
    assert "raise max_body_bytes" in err["hint"] and err["request_id"] == headers["x-request-id"]
    assert tight not in json.dumps(reply)  # the key itself never appears
    assert upstream_calls(sim) == 0

    assert post(gw, gw.key, body)[0] == 200  # the server's 1 MiB applies to other keys
    small = {"model": "ctx-small", "messages": [{"role": "user", "content": "hi"}]}
    assert post(gw, tight, small)[0] == 200  # under its own limit the key works


def test_a_groups_max_body_bytes_is_named_as_the_groups(stack):
    _, gw = stack
    group = unique("uploads")
    cli_json(gw, "groups", "create", "--name", group, "--max-body-bytes", "1500")
    key = cli_json(gw, "keys", "create", "--name", unique("member"), "--group", group)["key"]
    status, _, reply = post(gw, key, {"model": "ctx-small", "messages": [{"role": "user", "content": words(300)}]})
    assert (status, reply["error"]["code"]) == (413, "key_body_too_large")
    assert f"max_body_bytes of the group '{group}'" in reply["error"]["message"]
