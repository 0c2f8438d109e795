"""Admin API body readers: each refusal names its field; durations and ISO times become epochs."""

import pytest

from seawall.console import fields
from seawall.errors import SeawallError

NOW = 1_800_000_000.0

EXPIRIES = [("30d", NOW + 30 * 86400), ("12h", NOW + 12 * 3600), ("2w", NOW + 14 * 86400),
            ("2027-03-01T00:00:00Z", 1803859200.0), ("2027-03-01T01:00:00+01:00", 1803859200.0),
            ("2027-03-01T00:00:00", 1803859200.0), (NOW + 5, NOW + 5), (None, None)]


@pytest.mark.parametrize("value,expected", EXPIRIES)
def test_expiry(value, expected):
    assert fields.expiry("expires_at", value, NOW) == expected


@pytest.mark.parametrize("body,param", [
    ({"name": "ok", "expires_at": "-1d"}, "expires_at"),
    ({"name": "ok", "expires_at": NOW - 1}, "expires_at"),
    ({"name": "ok", "expires_at": True}, "expires_at"),
    ({"name": "ok", "quota_usd": "5"}, "quota_usd"),
    ({"name": "ok", "quota_tokens": True}, "quota_tokens"),
    ({"name": "ok", "ip_allowlist": [None]}, "ip_allowlist.0"),
    ({"name": "-leading-dash"}, "name"),
    ({"name": "ok", "extra": 1}, "extra"),
])
def test_refusals_name_the_field(body, param):
    with pytest.raises(SeawallError) as e:
        fields.read(body, fields.key_readers(NOW), ("name",), "POST /admin/keys")
    assert e.value.param == param and e.value.status == 400


def test_a_good_body_is_normalised():
    got = fields.read({"name": "svc-a", "models": [" gpt-4o* "], "ip_allowlist": ["2001:DB8::/32", "10.1.2.3"],
                       "quota_tokens": 0, "quota_usd": 1}, fields.key_readers(NOW), ("name",), "POST /admin/keys")
    assert got == {"name": "svc-a", "models": ["gpt-4o*"], "ip_allowlist": ["2001:db8::/32", "10.1.2.3/32"],
                   "quota_tokens": 0, "quota_usd": 1}
