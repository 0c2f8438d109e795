"""Tenant scope, per-second limits and limits from the config file and the store, in process: the
pure merge rules (limits/base.py), GCRA over one second, the key cache compiling a key's scopes
(pipeline/auth.py) and the refusal a client sees (pipeline/admit.py). Fake clock, no I/O."""

from seawall.config import parse_settings
from seawall.decide.gcra import MINUTE_NS, NS, Rate, gcra
from seawall.limits.base import (
    NO_LIMITS,
    Admitted,
    Limits,
    Refused,
    scope_limits,
    stricter,
    with_defaults,
)
from seawall.limits.memory import MemoryLimiter
from seawall.pipeline.admit import refusal
from seawall.pipeline.auth import (
    configured_limits,
    split_keys,
    stored_limits,
    tenant_values,
)
from seawall.store.base import GroupRecord, KeyRecord, TenantRecord

MODELS = {"models": [{"name": "m", "deployments": [{"provider": "simulator", "model": "m"}]}]}


def configured(limits: dict):
    return configured_limits(parse_settings({**MODELS, "limits": limits}).limits)


def key(name: str, tenant: str | None = None, group: str | None = None, **limits) -> KeyRecord:
    return KeyRecord(id=f"key_{name}", name=name, key_hash=f"hash_{name}", key_prefix="sk-sw-", last4="abcd",
                     created_at=0.0, tenant=tenant, group=group, **limits)


def scopes_of(principals: dict, name: str) -> dict:
    """scope -> (rps, rpm, tpm, max_concurrency) of the key's compiled limits."""
    p = principals[f"hash_{name}"]
    return {s.scope: (s.rps and s.rps.limit, s.rpm and s.rpm.limit, s.tpm and s.tpm.limit, s.max_concurrency)
            for s in p.limits}


# -- the pure rules ---------------------------------------------------------------------------------
def test_stricter_takes_the_lower_limit_field_by_field_and_either_sources_lone_value():
    stored, config = Limits(rps=None, rpm=100, tpm=5000, max_concurrency=None), Limits(rps=2, rpm=10, tpm=None)
    assert stricter(stored, config) == Limits(rps=2, rpm=10, tpm=5000, max_concurrency=None)
    assert stricter(Limits(rpm=10), Limits(rpm=100)) == Limits(rpm=10)  # the config can't loosen the store either
    assert stricter(NO_LIMITS, NO_LIMITS) == NO_LIMITS


def test_defaults_fill_only_the_fields_a_scope_leaves_unset():
    assert with_defaults(Limits(tpm=100), Limits(rpm=600, tpm=1_000_000)) == Limits(rpm=600, tpm=100)
    assert with_defaults(NO_LIMITS, NO_LIMITS) == NO_LIMITS


def test_rps_is_gcra_over_one_second():
    s = scope_limits("key", "k", None, None, None, rps=5)
    assert s.rps == Rate(5, NS) and s.rpm is None and s.rps_bucket == ("key", "k", "rps", 5)
    state, now = 0, 0
    for _ in range(5):  # a full bucket: a burst of 5
        d = gcra(state, now, 1, s.rps)
        assert d.allowed
        state = d.state
    refused = gcra(state, now, 1, s.rps)
    assert not refused.allowed and refused.retry_after_ns == NS // 5  # then one every 200 ms
    assert gcra(state, NS // 5, 1, s.rps).allowed


# -- the in-process limiter with tenant and rps scopes ---------------------------------------------
def test_a_tenant_is_one_bucket_shared_by_all_its_keys_and_its_refusal_names_it():
    tenant = scope_limits("tenant", "acme", rpm=3, tpm=None, max_concurrency=None)
    a = scope_limits("key", "key_a", rpm=100, tpm=None, max_concurrency=None)
    b = scope_limits("key", "key_b", rpm=100, tpm=None, max_concurrency=None)
    lim = MemoryLimiter()
    for scopes in ((a, tenant), (b, tenant), (a, tenant)):
        assert isinstance(lim.admit(scopes, 1, 0), Admitted)
    refused = lim.admit((b, tenant), 1, 0)
    assert isinstance(refused, Refused) and refused.scope is tenant and refused.kind == "requests"
    err = refusal(refused, 1)
    assert err.status == 429 and err.code == "rate_limit_requests"
    assert "(tenant acme)" in err.hint and "rpm=3" in err.hint
    assert err.headers["retry-after"] == "20"  # 3 per minute: the next in 20 s


def test_another_tenant_is_untouched_by_a_spent_one():
    acme = scope_limits("tenant", "acme", rpm=2, tpm=None, max_concurrency=1)
    globex = scope_limits("tenant", "globex", rpm=2, tpm=None, max_concurrency=1)
    lim = MemoryLimiter()
    assert isinstance(lim.admit((acme,), 1, 0), Admitted)
    assert lim.admit((acme,), 1, 0).kind == "concurrency"
    assert isinstance(lim.admit((globex,), 1, 0), Admitted)


def test_rps_refuses_within_the_second_with_its_own_period_and_rpm_still_counts():
    s = scope_limits("key", "k", rpm=4, tpm=None, max_concurrency=None, rps=2)
    lim = MemoryLimiter()
    first = lim.admit((s,), 1, 0)
    # The requests headers describe the tighter window now: rps 2 has 1 left, rpm 4 has 3.
    assert (first.requests.limit, first.requests.remaining) == (2, 1)
    assert isinstance(lim.admit((s,), 1, 0), Admitted)
    refused = lim.admit((s,), 1, 0)
    assert (refused.kind, refused.limit, refused.period_ns, refused.retry_after_ns) == ("requests", 2, NS, NS // 2)
    assert refusal(refused, 1).values["unit"] == "rps"
    assert isinstance(lim.admit((s,), 1, NS), Admitted)  # a second later: the rps bucket is full again
    assert isinstance(lim.admit((s,), 1, NS), Admitted)  # that makes 4: the rpm bucket is now empty
    by_minute = lim.admit((s,), 1, 2 * NS)
    assert (by_minute.limit, by_minute.period_ns) == (4, MINUTE_NS)
    assert refusal(by_minute, 1).values["unit"] == "rpm"


# -- the key cache: config-file limits combined with stored ones -----------------------------------
def test_every_key_of_a_tenant_gets_the_tenants_configured_limits_as_a_third_scope():
    conf = configured({"tenants": {"acme": {"rpm": 1000, "tpm": 2_000_000, "max_concurrency": 50}}})
    active, _ = split_keys([key("a", tenant="acme", rpm=5), key("b", tenant="acme", group="free"),
                            key("c", tenant="globex"), key("d")], 0.0,
                           [GroupRecord(name="free", created_at=0.0, rpm=10)], configured=conf)
    assert scopes_of(active, "a") == {"key": (None, 5, None, None), "tenant": (None, 1000, 2_000_000, 50)}
    assert scopes_of(active, "b") == {"group": (None, 10, None, None), "tenant": (None, 1000, 2_000_000, 50)}
    assert active["hash_a"].limits[-1] is active["hash_b"].limits[-1]  # one scope object, one set of buckets
    assert scopes_of(active, "c") == {} and scopes_of(active, "d") == {}  # no limits for them anywhere


def test_defaults_apply_to_every_key_and_every_tenant_without_their_own():
    conf = configured({"defaults": {"key": {"rpm": 600}, "tenant": {"tpm": 1_000_000}},
                       "tenants": {"acme": {"rpm": 1000}}})
    active, _ = split_keys([key("a", tenant="acme"), key("b", tenant="globex", rpm=5, tpm=50), key("c")], 0.0,
                           configured=conf)
    assert scopes_of(active, "a") == {"key": (None, 600, None, None), "tenant": (None, 1000, 1_000_000, None)}
    assert scopes_of(active, "b") == {"key": (None, 5, 50, None), "tenant": (None, None, 1_000_000, None)}
    assert scopes_of(active, "c") == {"key": (None, 600, None, None)}  # no tenant: no tenant scope


def test_config_and_stored_limits_of_a_group_or_key_combine_the_lower_winning():
    conf = configured({"groups": {"free": {"rpm": 10, "rps": 1}}, "keys": {"ci-bot": {"rpm": 5, "tpm": 900}}})
    groups = [GroupRecord(name="free", created_at=0.0, rpm=30, tpm=4000)]
    active, _ = split_keys([key("ci-bot", group="free", rpm=60, max_concurrency=2),
                            key("strict", group="free", rpm=1)], 0.0, groups, configured=conf)
    assert scopes_of(active, "ci-bot") == {"key": (None, 5, 900, 2), "group": (1, 10, 4000, None)}
    assert scopes_of(active, "strict") == {"key": (None, 1, None, None), "group": (1, 10, 4000, None)}


def test_stored_rps_reaches_the_compiled_scope():
    active, _ = split_keys([key("a", rps=3)], 0.0)
    assert scopes_of(active, "a") == {"key": (3, None, None, None)}


def test_without_a_config_nothing_changes():
    active, _ = split_keys([key("a", tenant="acme"), key("b", rpm=7)], 0.0)
    assert scopes_of(active, "a") == {} and scopes_of(active, "b") == {"key": (None, 7, None, None)}


def test_a_tenants_stored_limits_combine_with_the_configs_then_take_the_defaults():
    conf = configured({"defaults": {"tenant": {"max_concurrency": 8}}, "tenants": {"acme": {"rpm": 100, "tpm": 50}}})
    stored = [TenantRecord(name="acme", updated_at=0.0, rpm=1000, tpm=10, rps=3),
              TenantRecord(name="beta", updated_at=0.0, rpm=7)]
    assert tenant_values("acme", {t.name: stored_limits(t) for t in stored}, conf) == \
        Limits(rps=3, rpm=100, tpm=10, max_concurrency=8)
    active, _ = split_keys([key("a", tenant="acme"), key("b", tenant="beta"), key("c", tenant="gamma")], 0.0,
                           configured=conf, tenants=stored)
    assert scopes_of(active, "a") == {"tenant": (3, 100, 10, 8)}
    assert scopes_of(active, "b") == {"tenant": (None, 7, None, 8)}
    assert scopes_of(active, "c") == {"tenant": (None, None, None, 8)}  # only the default
