"""Every `seawall keys` and `seawall groups` command, as a subprocess against a real gateway."""

import json

import openai
import pytest
from admin_cli import cli_json, new_key, run_cli, unique

HELLO = [{"role": "user", "content": "hi"}]


def sdk(gateway, key):
    return openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=20)


def test_create_prints_the_key_once_and_it_works(gateway, sim):
    name = unique("ci")
    made = cli_json(gateway, "keys", "create", "--name", name, "--tenant", "acme", "--models", "gpt-4o*,two-*",
                    "--ip", "127.0.0.0/8", "--ip", "::1/128", "--expires", "30d", "--quota-tokens", "1000",
                    "--quota-usd", "2.5", "--meta", "team=search")
    assert made["key"].startswith("sk-sw-") and len(made["key"]) == 46 and made["id"].startswith("key_")
    with sdk(gateway, made["key"]) as client:
        assert client.chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=5).choices
    shown = cli_json(gateway, "keys", "show", name)
    assert shown["id"] == made["id"] and shown["state"] == "active" and shown["tenant"] == "acme"
    assert shown["models"] == ["gpt-4o*", "two-*"] and shown["ip_allowlist"] == ["127.0.0.0/8", "::1/128"]
    assert shown["quota_tokens"] == 1000 and shown["quota_usd"] == 2.5 and shown["metadata"] == {"team": "search"}
    assert shown["expires_at"] and shown["display"].endswith(made["key"][-4:])
    listed = cli_json(gateway, "keys", "list")
    assert made["id"] in {k["id"] for k in listed}
    assert made["key"] not in json.dumps(listed) + json.dumps(shown)  # shown once, at creation only

    text = run_cli(gateway, "keys", "create", "--name", unique("plain"))
    assert text.returncode == 0 and text.stdout.startswith("sk-sw-") and "shown only once" in text.stdout


def test_update_disable_enable(gateway, sim):
    made = new_key(gateway)
    with sdk(gateway, made["key"]) as client:
        updated = cli_json(gateway, "keys", "update", made["id"], "--disable", "--tenant", "beta")
        assert updated["enabled"] is False and updated["state"] == "disabled" and updated["tenant"] == "beta"
        with pytest.raises(openai.PermissionDeniedError) as e:
            client.models.list()
        assert e.value.code == "key_disabled"
        assert cli_json(gateway, "keys", "update", made["name"], "--enable")["state"] == "active"
        assert client.models.list().data


def test_rotate_then_revoke(gateway, sim):
    old = new_key(gateway, "--models", "gpt-4o-mini")
    rotated = cli_json(gateway, "keys", "rotate", old["name"])
    assert rotated["replaces"] == old["id"] and rotated["id"] != old["id"] and rotated["key"] != old["key"]
    assert cli_json(gateway, "keys", "show", rotated["id"])["models"] == ["gpt-4o-mini"]  # settings carried over
    with sdk(gateway, old["key"]) as client:
        with pytest.raises(openai.AuthenticationError) as e:
            client.models.list()
        assert e.value.code == "key_revoked"
    with sdk(gateway, rotated["key"]) as client:
        assert [m.id for m in client.models.list().data] == ["gpt-4o-mini"]
        revoked = cli_json(gateway, "keys", "revoke", rotated["name"])
        assert revoked["state"] == "revoked" and revoked["revoked_at"]
        # At once on the instance that revoked: no waiting for the refresh interval.
        with pytest.raises(openai.AuthenticationError) as e:
            client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
        assert e.value.code == "key_revoked" and rotated["key"][-4:] in e.value.message
    out = run_cli(gateway, "keys", "revoke", rotated["id"])
    assert out.returncode == 0 and "revoked" in out.stdout


def test_groups_commands(gateway, sim):
    name = unique("team")
    made = cli_json(gateway, "groups", "create", "--name", name, "--models", "gpt-*,two-*", "--quota-tokens", "500")
    assert made["name"] == name and made["models"] == ["gpt-*", "two-*"] and made["quota_tokens"] == 500
    assert name in {g["name"] for g in cli_json(gateway, "groups", "list")}
    assert cli_json(gateway, "groups", "show", name)["quota_tokens"] == 500
    key = new_key(gateway, "--group", name)
    with sdk(gateway, key["key"]) as client:
        assert sorted(m.id for m in client.models.list().data) == ["gpt-4o-mini", "two-sims"]
        updated = cli_json(gateway, "groups", "update", name, "--models", "two-*", "--quota-usd", "9")
        assert updated["models"] == ["two-*"] and updated["quota_usd"] == 9 and updated["quota_tokens"] == 500
        assert [m.id for m in client.models.list().data] == ["two-sims"]  # narrowed at once
    text = run_cli(gateway, "groups", "list")
    assert text.returncode == 0 and name in text.stdout and "two-*" in text.stdout


def test_text_output_is_readable(gateway):
    made = new_key(gateway, "--models", "gpt-4o*")
    listed = run_cli(gateway, "keys", "list")
    assert listed.returncode == 0 and listed.stdout.startswith("id") and made["name"] in listed.stdout
    shown = run_cli(gateway, "keys", "show", made["id"])
    assert shown.returncode == 0 and "gpt-4o*" in shown.stdout and made["key"] not in shown.stdout


def test_bad_input_names_the_field(gateway):
    out = run_cli(gateway, "keys", "create", "--name", unique("neg"), "--quota-tokens", "-5")
    assert out.returncode == 1 and "field: quota_tokens" in out.stderr and "negative" in out.stderr
    out = run_cli(gateway, "keys", "create", "--name", unique("cidr"), "--ip", "10.0.0.1/8", "--json")
    assert out.returncode == 1 and json.loads(out.stdout)["error"]["param"] == "ip_allowlist.0"
    out = run_cli(gateway, "keys", "create", "--name", unique("grp"), "--group", "no-such-group")
    assert out.returncode == 1 and "no-such-group" in out.stderr and "field: group" in out.stderr
    assert "Traceback" not in out.stderr


def test_unreachable_gateway_and_wrong_admin_key_are_sentences(gateway):
    out = run_cli(gateway, "keys", "list", url="http://127.0.0.1:9")
    assert out.returncode == 2 and "cannot reach the gateway at http://127.0.0.1:9" in out.stderr
    assert "SEAWALL_URL" in out.stderr and "Traceback" not in out.stderr
    out = run_cli(gateway, "keys", "list", admin_key="sw-admin-wrong")
    assert out.returncode == 1 and "admin key" in out.stderr and "admin_unauthorized" in out.stderr
    assert "Traceback" not in out.stderr
    out = run_cli(gateway, "keys", "show", "anything", "--admin-key", "sk-sw-notanadminkey")
    assert out.returncode == 1 and "admin_unauthorized" in out.stderr
