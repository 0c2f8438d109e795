"""Key and group pre-flight overrides in process: compiled into the Principal when the key cache
loads (a real SQLite store), then applied by Preflight.check over the model's policy and limits."""

import pytest

from seawall.config import parse_settings, resolve_secrets
from seawall.console import fields
from seawall.decide.key_policy import KeyPolicy
from seawall.errors import SeawallError
from seawall.keyring import key_record, new_key
from seawall.pipeline.auth import Authenticator
from seawall.pipeline.route import Router
from seawall.pipeline.validate import Preflight
from seawall.providers.base import ApiRequest
from seawall.store.base import GroupRecord

SECRET = b"p" * 32


def dep(model: str) -> dict:
    return {"provider": "simulator", "model": model}


def preflight(*models: dict) -> Preflight:
    settings = parse_settings({"models": list(models)})
    return Preflight(settings.server, Router(resolve_secrets(settings, {}, "http://127.0.0.1:9")))


def chat(model: str, messages: list, **extra) -> ApiRequest:
    return ApiRequest("chat", model, {"model": model, "messages": messages, **extra})


def say(n: int) -> dict:
    return {"role": "user", "content": " ".join(["apple"] * n)}  # n + 1 (role) + 3 tokens on o200k


SMALL = {"name": "small", "catalog": {"context_window": 40}, "deployments": [dep("gpt-4o-mini")]}
LONG = [{"role": "system", "content": "hi"}, say(20), say(20), say(5)]  # 65 tokens; 17 without 1 and 2


async def refused(pf: Preflight, req: ApiRequest, key: KeyPolicy | None) -> SeawallError:
    with pytest.raises(SeawallError) as e:
        await pf.check(req, 100, key)
    return e.value


# -- Preflight.check with a key's overrides ---------------------------------------------------------

async def test_a_key_with_trim_trims_where_the_models_reject_refuses():
    pf = preflight(SMALL)
    assert (await refused(pf, chat("small", LONG), None)).code == "context_length_exceeded"
    checked = await pf.check(chat("small", LONG), 100, KeyPolicy(context_policy="trim"))
    assert checked.request.body["messages"] == [LONG[0], LONG[3]]
    assert checked.headers == [(b"x-seawall-trimmed-messages", b"2")]


async def test_a_key_with_reject_refuses_where_the_model_would_trim():
    pf = preflight({**SMALL, "context_policy": "trim"})
    assert (await pf.check(chat("small", LONG), 100)).headers == [(b"x-seawall-trimmed-messages", b"2")]
    err = await refused(pf, chat("small", LONG), KeyPolicy(context_policy="reject"))
    assert (err.code, err.status) == ("context_length_exceeded", 400)


async def test_a_key_with_truncate_output_lowers_max_tokens():
    pf = preflight(SMALL)
    checked = await pf.check(chat("small", [say(10)], max_tokens=30), 100, KeyPolicy(context_policy="truncate_output"))
    assert checked.request.body["max_tokens"] == 23  # 10 + 1 + 3 + 3 = 17 prompt tokens of 40


async def test_a_key_with_fallback_goes_to_the_models_fallback_model_only():
    roomy = {"name": "roomy", "deployments": [dep("gpt-4o")]}
    pf = preflight({**SMALL, "fallback_model": "roomy"}, roomy)
    checked = await pf.check(chat("small", LONG), 100, KeyPolicy(context_policy="fallback"))
    assert (checked.request.model, checked.routed.model) == ("small", "roomy")
    assert checked.headers == [(b"x-seawall-fallback-model", b"roomy")]
    alone = preflight(SMALL, roomy)  # no fallback_model configured: the key's fallback rejects
    assert (await refused(alone, chat("small", LONG), KeyPolicy(context_policy="fallback"))).code == \
        "context_length_exceeded"


async def test_a_keys_size_limits_override_the_models():
    pf = preflight({**SMALL, "request_limits": {"max_messages": 3}})
    four = [say(1)] * 4
    assert (await refused(pf, chat("small", four), None)).code == "too_many_messages"
    assert (await pf.check(chat("small", four), 100, KeyPolicy(max_messages=10))).headers == []
    err = await refused(pf, chat("small", [say(1)] * 3), KeyPolicy(max_messages=2))
    assert (err.status, err.code, err.param) == (413, "too_many_messages", "messages")
    assert "at most 2 per request" in err.message


async def test_a_key_with_max_images_zero_takes_text_only():
    pf = preflight({"name": "eyes", "deployments": [dep("gpt-4o")]})
    image = {"role": "user", "content": [{"type": "text", "text": "what is it?"},
                                         {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}
    assert (await pf.check(chat("eyes", [image]), 100)).headers == []
    err = await refused(pf, chat("eyes", [image]), KeyPolicy(max_images=0))
    assert (err.status, err.code, err.param) == (413, "too_many_images", "messages[0].content[1]")
    small = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 800}}]}
    err = await refused(pf, chat("eyes", [small]), KeyPolicy(max_image_bytes=100))
    assert (err.code, err.param) == ("image_too_large", "messages[0].content[0].image_url.url")


# -- compiled when the key cache loads ------------------------------------------------------------

async def add_key(store, name: str, **fields) -> str:
    key = new_key()
    await store.insert_key(key_record(SECRET, key, name, **fields))
    return key


async def test_the_cache_compiles_key_over_group_into_the_principal(store):
    await store.insert_group(GroupRecord(name="team", created_at=1.0, context_policy="trim", max_messages=3,
                                         max_body_bytes=2048))
    plain = await add_key(store, "plain")
    member = await add_key(store, "member", group="team")
    own = await add_key(store, "own", group="team", max_messages=7, context_policy="reject")
    solo = await add_key(store, "solo", max_body_bytes=100)
    auth = Authenticator(store, SECRET, refresh_interval_s=60)
    await auth.load()

    def policy(key: str) -> KeyPolicy | None:
        return auth.authenticate({"authorization": f"Bearer {key}"}).request_policy

    assert policy(plain) is None  # nothing set: the fast path
    assert policy(member) == KeyPolicy("trim", 3, None, None, 2048, body_limit_of="group")
    assert policy(own) == KeyPolicy("reject", 7, None, None, 2048, body_limit_of="group")
    assert policy(solo) == KeyPolicy(max_body_bytes=100)


# -- the admin API's readers ----------------------------------------------------------------------

def read_key(body: dict) -> dict:
    return fields.read(body, fields.key_readers(0.0), (), "PATCH /admin/keys/{id}")


def test_admin_fields_accept_policies_and_limits_or_null():
    assert read_key({"context_policy": "truncate_output", "max_messages": 100, "max_images": 0,
                     "max_image_bytes": 1, "max_body_bytes": 4096}) == {
        "context_policy": "truncate_output", "max_messages": 100, "max_images": 0, "max_image_bytes": 1,
        "max_body_bytes": 4096}
    assert read_key({"context_policy": None, "max_body_bytes": None}) == {"context_policy": None,
                                                                          "max_body_bytes": None}
    group = fields.read({"context_policy": "trim"}, fields.GROUP_READERS, (), "PATCH /admin/groups/{name}")
    assert group == {"context_policy": "trim"}


@pytest.mark.parametrize(("body", "param", "code"), [
    ({"context_policy": "shorten"}, "context_policy", "admin_invalid_value"),
    ({"context_policy": 1}, "context_policy", "invalid_field"),
    ({"max_messages": 0}, "max_messages", "admin_invalid_value"),
    ({"max_messages": "100"}, "max_messages", "invalid_field"),
    ({"max_images": -1}, "max_images", "admin_invalid_value"),
    ({"max_image_bytes": 1.5}, "max_image_bytes", "invalid_field"),
    ({"max_body_bytes": True}, "max_body_bytes", "invalid_field"),
    ({"max_body_bytes": 0}, "max_body_bytes", "admin_invalid_value"),
])
def test_admin_fields_refuse_bad_values_naming_the_field(body, param, code):
    with pytest.raises(SeawallError) as e:
        read_key(body)
    assert (e.value.status, e.value.param, e.value.code) == (400, param, code)
