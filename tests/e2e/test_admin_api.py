"""The admin API over HTTP: bad input names its field, a wrong admin key learns nothing, and
without SEAWALL_ADMIN_KEY an admin key is made at first start, printed once, stored as a hash."""

import json
import os
import re
import sqlite3

import pytest
from admin_cli import new_key, unique
from conftest import http, start_gateway


def admin(gateway, method, path, body=None, key=None, raw=None):
    headers = {"authorization": f"Bearer {key or gateway.admin_key}"}
    if raw is not None:
        headers["content-type"] = "application/json"
    status, _, reply = http(method, gateway.url + path, raw if raw is not None else body, headers)
    return status, json.loads(reply)


BAD_KEYS = [  # id, body, status, code, param
    ("invalid CIDR", {"ip_allowlist": ["10.0.0.1/8"]}, 400, "admin_invalid_value", "ip_allowlist.0"),
    ("not an address", {"ip_allowlist": ["127.0.0.0/8", "10.0.0.300"]}, 400, "admin_invalid_value", "ip_allowlist.1"),
    ("allowlist not a list", {"ip_allowlist": "10.0.0.0/8"}, 400, "invalid_field", "ip_allowlist"),
    ("unknown group", {"group": "nobody-made-this"}, 400, "unknown_group", "group"),
    ("negative token quota", {"quota_tokens": -1}, 400, "admin_invalid_value", "quota_tokens"),
    ("negative cost quota", {"quota_usd": -0.5}, 400, "admin_invalid_value", "quota_usd"),
    ("fractional token quota", {"quota_tokens": 1.5}, 400, "invalid_field", "quota_tokens"),
    ("models as a string", {"models": "gpt-4o"}, 400, "invalid_field", "models"),
    ("empty model pattern", {"models": ["gpt-4o", " "]}, 400, "admin_invalid_value", "models.1"),
    ("enabled as a string", {"enabled": "yes"}, 400, "invalid_field", "enabled"),
    ("expiry not a time", {"expires_at": "tomorrow"}, 400, "admin_invalid_value", "expires_at"),
    ("expiry in the past", {"expires_at": "2020-01-01T00:00:00Z"}, 400, "admin_invalid_value", "expires_at"),
    ("metadata not an object", {"metadata": [1]}, 400, "invalid_field", "metadata"),
    ("unknown field", {"colour": "red"}, 400, "admin_unknown_field", "colour"),
]


@pytest.mark.parametrize("extra,status,code,param", [c[1:] for c in BAD_KEYS], ids=[c[0] for c in BAD_KEYS])
def test_bad_key_input_names_the_field(gateway, extra, status, code, param):
    got, body = admin(gateway, "POST", "/admin/keys", {"name": unique("bad"), **extra})
    assert (got, body["error"]["code"], body["error"]["param"]) == (status, code, param), body
    assert body["error"]["hint"] and body["error"]["category"] == "request.invalid"


def test_name_rules(gateway):
    status, body = admin(gateway, "POST", "/admin/keys", {"tenant": "acme"})
    assert (status, body["error"]["code"], body["error"]["param"]) == (400, "missing_field", "name")
    status, body = admin(gateway, "POST", "/admin/keys", {"name": 5})
    assert (status, body["error"]["code"], body["error"]["param"]) == (400, "invalid_field", "name")
    assert "expected a string, but got a number" in body["error"]["message"]
    taken = new_key(gateway)["name"]
    status, body = admin(gateway, "POST", "/admin/keys", {"name": taken})
    assert (status, body["error"]["code"], body["error"]["param"]) == (409, "duplicate_name", "name")
    other = new_key(gateway)
    status, body = admin(gateway, "PATCH", f"/admin/keys/{other['id']}", {"name": taken})
    assert (status, body["error"]["param"]) == (409, "name")


def test_malformed_and_non_object_bodies(gateway):
    status, body = admin(gateway, "POST", "/admin/keys", raw=b'{"name": "x",}')
    assert status == 400 and body["error"]["code"] == "invalid_json"
    status, body = admin(gateway, "POST", "/admin/keys", raw=b'["name"]')
    assert status == 400 and body["error"]["code"] == "body_not_object"
    status, body = admin(gateway, "POST", "/admin/groups", raw=b"")
    assert status == 400 and body["error"]["code"] == "empty_body"


def test_bad_group_input(gateway):
    name = unique("g")
    assert admin(gateway, "POST", "/admin/groups", {"name": name, "models": ["gpt-*"]})[0] == 201
    cases = [({"name": name}, 409, "name"), ({"name": unique("g"), "quota_tokens": -3}, 400, "quota_tokens"),
             ({"name": unique("g"), "models": [1]}, 400, "models.0"), ({"name": "  "}, 400, "name")]
    for body, status, param in cases:
        got, reply = admin(gateway, "POST", "/admin/groups", body)
        assert (got, reply["error"]["param"]) == (status, param), reply
    got, reply = admin(gateway, "PATCH", f"/admin/groups/{name}", {"name": "renamed"})
    assert (got, reply["error"]["param"]) == (400, "name")
    got, reply = admin(gateway, "GET", "/admin/groups/no-such-group")
    assert (got, reply["error"]["code"]) == (404, "admin_not_found")


def test_wrong_admin_key_reveals_nothing(gateway):
    real = new_key(gateway)["id"]
    replies = []
    for key in ("sw-admin-wrong", gateway.key, ""):  # wrong, an API key, none
        for path in (f"/admin/keys/{real}", "/admin/keys/key_doesnotexist", "/admin/no-such-route"):
            headers = {"authorization": f"Bearer {key}"} if key else {}
            status, _, body = http("GET", gateway.url + path, headers=headers)
            err = json.loads(body)["error"]
            del err["request_id"]
            replies.append((status, json.dumps(err, sort_keys=True)))
    assert len(set(replies)) == 1
    status, error = replies[0]
    assert status == 401 and json.loads(error)["code"] == "admin_unauthorized"


def test_unknown_admin_route_and_key(gateway):
    status, body = admin(gateway, "GET", "/admin/nothing")
    assert status == 404 and "/admin/keys" in body["error"]["hint"]
    status, body = admin(gateway, "POST", "/admin/keys/key_nope/revoke")
    assert (status, body["error"]["code"]) == (404, "admin_not_found")


def test_admin_key_made_at_first_start_is_printed_once_and_stored_hashed(tmp_path_factory, simulator):
    from conftest import free_port, gateway_config

    gw = start_gateway(tmp_path_factory, gateway_config(simulator.port, free_port(), free_port()), name="fresh",
                       env={"SEAWALL_ADMIN_KEY": ""})
    try:
        found = re.findall(r"Admin key \(.*shown only once.*\): (sw-admin-\w+)", gw.proc.output())
        assert len(found) == 1
        admin_key = found[0]
        status, body = admin(gw, "GET", "/admin/keys", key=admin_key)
        assert status == 200 and body["object"] == "list"
        assert admin(gw, "GET", "/admin/keys", key=gw.admin_key)[0] == 401  # the env key is not in play
        with sqlite3.connect(os.path.join(gw.data_dir, "seawall.db")) as db:
            dump = "\n".join(db.iterdump())
        assert admin_key not in dump and "admin_key_hash" in dump
    finally:
        gw.proc.stop()
