"""decide/ownership.py: who may bring back an object another key made; the admin sees all, a key's
owner only its own; the rule every "not found" answers by."""

import pytest

from seawall.decide.ownership import ADMIN, Owner, Viewer, found, may_see, visible

ALICE = Owner("k-alice", tenant="acme", group="research")
ALICE_TOO = Owner("k-alice", tenant="acme", group="research")
BOB = Owner("k-bob", tenant="acme", group="research")  # same tenant, same group
CAROL = Owner("k-carol", tenant="acme", group="sales")  # same tenant, another group
MALLORY = Owner("k-mallory", tenant="globex", group="research")  # another tenant, a group of the same name
LONER = Owner("k-loner")  # no tenant, no group
DRIFTER = Owner("k-drifter")

CASES = [  # id, caller, owner, share_within, may see
    ("its own key, by the strictest rule", ALICE_TOO, ALICE, "key", True),
    ("a key of its group, rule key", BOB, ALICE, "key", False),
    ("a key of its group, rule group", BOB, ALICE, "group", True),
    ("a key of its tenant, rule group", CAROL, ALICE, "group", False),
    ("a key of its tenant, rule tenant", CAROL, ALICE, "tenant", True),
    ("another tenant's key, rule key", MALLORY, ALICE, "key", False),
    ("another tenant's key in a same-named group, rule group", MALLORY, ALICE, "group", False),
    ("another tenant's key, rule tenant", MALLORY, ALICE, "tenant", False),
    ("keys without a tenant share nothing by tenant", DRIFTER, LONER, "tenant", False),
    ("keys without a group share nothing by group", DRIFTER, LONER, "group", False),
    ("a tenant's key can't see a tenantless key's object", CAROL, LONER, "tenant", False),
    ("a tenantless key can't see a tenant's object", LONER, CAROL, "tenant", False),
]


@pytest.mark.parametrize("caller,owner,rule,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_may_see(caller, owner, rule, expected):
    assert may_see(caller, owner, rule) is expected


OWNER = Viewer("key_a")
VIEWER_CASES = [  # id, owner of the thing, viewer, visible
    ("admin sees a key's", "key_a", ADMIN, True),
    ("admin sees a keyless one", None, ADMIN, True),
    ("owner sees its own", "key_a", OWNER, True),
    ("owner never another key's", "key_b", OWNER, False),
    ("owner never a keyless one", None, OWNER, False),
]


@pytest.mark.parametrize("owner,viewer,expected", [c[1:] for c in VIEWER_CASES], ids=[c[0] for c in VIEWER_CASES])
def test_visible(owner, viewer, expected):
    assert visible(owner, viewer) is expected


def test_found_is_false_alike_for_missing_and_foreign():
    assert found(None, None, OWNER) is found(object(), "key_b", OWNER) is False
    assert found(object(), "key_a", OWNER) is True
