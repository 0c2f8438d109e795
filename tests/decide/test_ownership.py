"""Ownership (decide/ownership.py): the admin sees all, a key's owner only its own; the rule every
"not found" answers by, so another key's id and an unknown id look the same."""

import pytest

from seawall.decide.ownership import ADMIN, Viewer, found, visible

OWNER = Viewer("key_a")
CASES = [  # id, owner of the thing, viewer, visible
    ("admin sees a key's", "key_a", ADMIN, True),
    ("admin sees a keyless one", None, ADMIN, True),
    ("owner sees its own", "key_a", OWNER, True),
    ("owner never another key's", "key_b", OWNER, False),
    ("owner never a keyless one", None, OWNER, False),
]


@pytest.mark.parametrize("owner,viewer,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_visible(owner, viewer, expected):
    assert visible(owner, viewer) is expected


def test_found_is_false_alike_for_missing_and_foreign():
    assert found(None, None, OWNER) is found(object(), "key_b", OWNER) is False
    assert found(object(), "key_a", OWNER) is True
