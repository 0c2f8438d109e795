"""The access stage's cache-load half: a key row becomes a Principal with its permissions
precompiled, failing closed on rows the admin API would have refused."""

import pytest

from seawall.errors import SeawallError
from seawall.pipeline.access import check_ip, check_model
from seawall.pipeline.context import RequestContext
from seawall.pipeline.auth import principal_for
from seawall.store.base import KeyRecord

CATALOG = frozenset({"gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet"})


def key(**fields) -> KeyRecord:
    return KeyRecord(id="key_1", name="k", key_hash="h", key_prefix="sk-sw-abcd", last4="wxyz", created_at=0.0,
                     **fields)


def refusal(check, *args) -> SeawallError:
    with pytest.raises(SeawallError) as e:
        check(*args)
    return e.value


def test_group_models_are_inherited_and_narrowed():
    p = principal_for(key(group="team", models=["*-mini", "claude-*"]), {"team": ["gpt-*"]}, CATALOG)
    assert p.models == {"gpt-4o-mini"}
    check_model(p, "gpt-4o-mini")
    err = refusal(check_model, p, "gpt-4o")
    assert err.code == "model_not_permitted" and err.status == 403 and "gpt-4o-mini" in err.message
    assert "group 'team'" in err.hint
    assert refusal(check_model, p, "gpt-5").code == "model_not_found"


def test_a_group_the_store_no_longer_has_permits_nothing():
    p = principal_for(key(group="gone"), {}, CATALOG)
    assert p.models == frozenset()
    err = refusal(check_model, p, "gpt-4o")
    assert "Models it may use: none" in err.message


def from_ip(ip: str) -> RequestContext:
    return RequestContext("req_test", "POST", "/v1/chat/completions", {}, ip, peer=ip)


def test_allowlist_parsed_once_and_bad_rows_fail_closed():
    p = principal_for(key(ip_allowlist=["10.0.0.0/8", "bogus"]), {}, CATALOG)
    check_ip(p, from_ip("10.2.3.4"))
    err = refusal(check_ip, p, from_ip("192.0.2.1"))
    assert err.code == "ip_not_allowed" and "no X-Forwarded-For" in err.message
    only_bad = principal_for(key(ip_allowlist=["bogus"]), {}, CATALOG)
    assert refusal(check_ip, only_bad, from_ip("10.2.3.4")).code == "ip_not_allowed"
    anyone = principal_for(key(), {}, CATALOG)
    check_ip(anyone, from_ip("192.0.2.1"))
    assert anyone.models is None
