"""The access stage over HTTP with the official openai SDK: a model the key may not use (403,
the allowed models listed), a client address outside the key's allowlist (403, the address as
seen and what happened to X-Forwarded-For), /v1/models and did-you-mean limited to the key's
models."""

import openai
import pytest
from admin_cli import cli_json, new_key, unique
from conftest import free_port, gateway_config, start_gateway

HELLO = [{"role": "user", "content": "hi"}]


def sdk(gateway, key, **headers):
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=20,
                         default_headers=headers or None)


def test_model_not_permitted_lists_the_allowed_models(gateway, sim):
    made = new_key(gateway, "--models", "gpt-4o*,two-*")
    with sdk(gateway, made["key"]) as client:
        assert client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=5).choices
        with pytest.raises(openai.PermissionDeniedError) as e:
            client.chat.completions.create(model="slow", messages=HELLO)
    err = e.value
    assert err.status_code == 403 and err.code == "model_not_permitted" and err.body["param"] == "model"
    assert err.body["category"] == "permission.model"
    assert "may not use the model `slow`" in err.message and "gpt-4o-mini, two-sims" in err.message
    assert "no group" in err.body["hint"]


def test_a_key_narrows_its_group(gateway, sim):
    group = unique("grp")
    cli_json(gateway, "groups", "create", "--name", group, "--models", "gpt-*,two-*")
    made = new_key(gateway, "--group", group, "--models", "two-*,slow")  # slow: outside the group, stays out
    with sdk(gateway, made["key"]) as client:
        assert [m.id for m in client.models.list().data] == ["two-sims"]
        with pytest.raises(openai.PermissionDeniedError) as e:
            client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert e.value.code == "model_not_permitted" and f"group '{group}'" in e.value.body["hint"]
        with pytest.raises(openai.PermissionDeniedError):
            client.chat.completions.create(model="slow", messages=HELLO)
        with pytest.raises(openai.PermissionDeniedError) as e:
            client.models.retrieve("gpt-4o-mini")
        assert e.value.code == "model_not_permitted"
        assert client.models.retrieve("two-sims").id == "two-sims"


def test_models_lists_only_what_the_key_may_use(gateway, client):
    everything = {m.id for m in client.models.list().data}  # the bootstrap key: no restriction
    assert {"gpt-4o-mini", "slow", "two-sims", "text-embedding-3-small"} <= everything
    made = new_key(gateway, "--models", "text-embedding-*,gpt-4o-mini")
    with sdk(gateway, made["key"]) as restricted:
        assert sorted(m.id for m in restricted.models.list().data) == ["gpt-4o-mini", "text-embedding-3-small"]


def test_unknown_model_suggestions_come_from_the_keys_models(gateway, sim):
    made = new_key(gateway, "--models", "gpt-4o*")
    with sdk(gateway, made["key"]) as client:
        with pytest.raises(openai.NotFoundError) as e:
            client.chat.completions.create(model="gpt-4o-mimi", messages=HELLO)
        assert e.value.code == "model_not_found" and "Did you mean 'gpt-4o-mini'?" in e.value.body["hint"]
        with pytest.raises(openai.NotFoundError) as e:
            client.chat.completions.create(model="slw", messages=HELLO)  # close to 'slow', which it may not use
        hint = e.value.body["hint"]
        assert "slow" not in hint and "two-sims" not in hint and "gpt-4o-mini" in hint


def test_ip_outside_the_allowlist(gateway, sim):
    made = new_key(gateway, "--ip", "203.0.113.0/24", "--ip", "2001:db8::/32")
    with sdk(gateway, made["key"]) as client, pytest.raises(openai.PermissionDeniedError) as e:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    err = e.value
    assert err.code == "ip_not_allowed" and err.body["category"] == "permission.ip"
    assert "may not be used from 127.0.0.1" in err.message and "no X-Forwarded-For header" in err.message
    assert "203.0.113.0/24, 2001:db8::/32" in err.message and "trusted_proxies" in err.body["hint"]
    # A client claiming an allowed address is not believed: the peer is no trusted proxy.
    with sdk(gateway, made["key"], **{"X-Forwarded-For": "203.0.113.5"}) as client, \
            pytest.raises(openai.PermissionDeniedError) as e:
        client.models.list()
    assert e.value.code == "ip_not_allowed" and "may not be used from 127.0.0.1" in e.value.message
    assert ("X-Forwarded-For '203.0.113.5' was ignored because the peer 127.0.0.1 is not in "
            "server.trusted_proxies") in e.value.message
    inside = new_key(gateway, "--ip", "127.0.0.0/8")
    with sdk(gateway, inside["key"]) as client:
        assert client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=5).choices


@pytest.fixture(scope="module")
def proxied(tmp_path_factory, simulator):
    """A gateway behind a (pretend) proxy on loopback: its X-Forwarded-For is believed."""
    config = gateway_config(simulator.port, free_port(), free_port()).replace(
        "server:\n", "server:\n  trusted_proxies: [\"127.0.0.0/8\"]\n", 1)
    gw = start_gateway(tmp_path_factory, config, name="proxied")
    yield gw
    gw.proc.stop()


def test_forwarded_for_from_a_trusted_proxy(proxied, sim):
    made = new_key(proxied, "--ip", "203.0.113.0/24")
    with sdk(proxied, made["key"], **{"X-Forwarded-For": "203.0.113.5"}) as client:
        assert client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=5).choices
    with sdk(proxied, made["key"], **{"X-Forwarded-For": "203.0.113.5, 198.51.100.1"}) as client, \
            pytest.raises(openai.PermissionDeniedError) as e:
        client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert "may not be used from 198.51.100.1" in e.value.message
    assert "set by the trusted proxy 127.0.0.1" in e.value.message
    row = proxied.log_row(e.value.response.headers["x-request-id"])
    assert row["client_ip"] == "198.51.100.1" and row["category"] == "permission.ip"


def test_revoked_through_the_cli_is_refused_at_once(gateway, sim):
    made = new_key(gateway)
    with sdk(gateway, made["key"]) as client:
        assert client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=5).choices
        cli_json(gateway, "keys", "revoke", made["id"])
        with pytest.raises(openai.AuthenticationError) as e:
            client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert e.value.code == "key_revoked" and e.value.body["category"] == "auth.key_revoked"
