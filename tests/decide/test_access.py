"""Model globs, IP allowlists and X-Forwarded-For: pure decisions, as tables."""

import pytest

from seawall.decide.access import (
    client_address,
    ip_allowed,
    model_verdict,
    parse_address,
    parse_cidr,
    permitted_models,
)

CONFIGURED = ["gpt-4o", "gpt-4o-mini", "gpt-4.1-mini", "claude-3-5-sonnet", "text-embedding-3-small"]

PERMISSIONS = [  # id, key globs, group globs (None = no group), permitted (None = all)
    ("no lists: every model", [], None, None),
    ("group with no list: every model", [], [], None),
    ("key globs alone", ["gpt-4o*"], None, {"gpt-4o", "gpt-4o-mini"}),
    ("several globs", ["gpt-4o", "claude-*"], None, {"gpt-4o", "claude-3-5-sonnet"}),
    ("group alone is inherited", [], ["gpt-*"], {"gpt-4o", "gpt-4o-mini", "gpt-4.1-mini"}),
    ("key narrows its group", ["*-mini"], ["gpt-4o*"], {"gpt-4o-mini"}),
    ("key cannot widen its group", ["claude-*"], ["gpt-*"], set()),
    ("globs are case-sensitive", ["GPT-4O*"], None, set()),
    ("exact name", ["text-embedding-3-small"], None, {"text-embedding-3-small"}),
    ("? matches one character", ["gpt-4?-mini"], None, {"gpt-4o-mini"}),
]


@pytest.mark.parametrize("key,group,expected", [c[1:] for c in PERMISSIONS], ids=[c[0] for c in PERMISSIONS])
def test_permitted_models(key, group, expected):
    got = permitted_models(key, group, CONFIGURED)
    assert got == (None if expected is None else frozenset(expected))


VERDICTS = [  # id, model, permitted, expected
    ("unrestricted", "anything", None, None),
    ("permitted", "gpt-4o", {"gpt-4o"}, None),
    ("configured, not permitted", "gpt-4o-mini", {"gpt-4o"}, "forbidden"),
    ("not configured at all", "gpt-5", {"gpt-4o"}, "unknown"),
]


@pytest.mark.parametrize("model,permitted,expected", [c[1:] for c in VERDICTS], ids=[c[0] for c in VERDICTS])
def test_model_verdict(model, permitted, expected):
    allowed = None if permitted is None else frozenset(permitted)
    assert model_verdict(model, allowed, frozenset(CONFIGURED)) == expected


NETS = [parse_cidr("203.0.113.0/24"), parse_cidr("2001:db8::/32"), parse_cidr("10.1.2.3")]

ALLOWLIST = [  # id, ip, networks, allowed
    ("empty allowlist admits anyone", "198.51.100.7", [], True),
    ("in an IPv4 network", "203.0.113.200", NETS, True),
    ("outside every network", "198.51.100.7", NETS, False),
    ("in an IPv6 network", "2001:db8::42", NETS, True),
    ("IPv6 outside", "2001:db9::1", NETS, False),
    ("single address as /32", "10.1.2.3", NETS, True),
    ("IPv4-mapped IPv6 is the IPv4 address", "::ffff:203.0.113.9", NETS, True),
    ("unknown address is refused", None, NETS, False),
    ("garbage is refused", "not-an-ip", NETS, False),
]


@pytest.mark.parametrize("ip,networks,allowed", [c[1:] for c in ALLOWLIST], ids=[c[0] for c in ALLOWLIST])
def test_ip_allowed(ip, networks, allowed):
    assert ip_allowed(ip, networks) is allowed


@pytest.mark.parametrize("text", ["10.0.0.1/8", "300.1.1.1/32", "10.0.0.0/33", "2001:db8::/129", "", "abc"])
def test_parse_cidr_refuses(text):
    with pytest.raises(ValueError):
        parse_cidr(text)


@pytest.mark.parametrize("text,expected", [("1.2.3.4", "1.2.3.4"), ("1.2.3.4:5678", "1.2.3.4"),
                                           ("[2001:db8::1]:443", "2001:db8::1"), ("2001:db8::1", "2001:db8::1"),
                                           (" 1.2.3.4 ", "1.2.3.4"), ("unknown", None), ("", None)])
def test_parse_address(text, expected):
    got = parse_address(text)
    assert (str(got) if got else None) == expected


PROXIES = [parse_cidr("127.0.0.0/8"), parse_cidr("10.0.0.0/8")]

FORWARDED = [  # id, peer, X-Forwarded-For, trusted, (ip, ignored)
    ("no header: the peer", "127.0.0.1", None, PROXIES, ("127.0.0.1", False)),
    ("untrusted peer: header ignored", "198.51.100.9", "203.0.113.5", PROXIES, ("198.51.100.9", True)),
    ("no trusted proxies configured: ignored", "127.0.0.1", "203.0.113.5", [], ("127.0.0.1", True)),
    ("trusted peer: the client it names", "127.0.0.1", "203.0.113.5", PROXIES, ("203.0.113.5", False)),
    ("chain: first untrusted from the right", "127.0.0.1", "6.6.6.6, 203.0.113.5, 10.0.0.2", PROXIES,
     ("203.0.113.5", False)),
    ("a spoofed left entry is not believed", "10.0.0.1", "1.1.1.1, 198.51.100.4", PROXIES, ("198.51.100.4", False)),
    ("all hops trusted: the leftmost", "127.0.0.1", "10.0.0.5, 10.0.0.6", PROXIES, ("10.0.0.5", False)),
    ("garbled hop: judge by the peer", "127.0.0.1", "203.0.113.5, garbage", PROXIES, ("127.0.0.1", False)),
    ("ports are dropped", "127.0.0.1", "203.0.113.5:4000", PROXIES, ("203.0.113.5", False)),
]


@pytest.mark.parametrize("peer,header,trusted,expected", [c[1:] for c in FORWARDED], ids=[c[0] for c in FORWARDED])
def test_client_address(peer, header, trusted, expected):
    seen = client_address(peer, header, trusted)
    assert (seen.ip, seen.forwarded_ignored) == expected


def test_explanations_say_what_happened_to_the_header():
    assert "no X-Forwarded-For" in client_address("1.2.3.4", None, PROXIES).explain("1.2.3.4")
    ignored = client_address("198.51.100.9", "203.0.113.5", PROXIES).explain("198.51.100.9")
    assert "X-Forwarded-For '203.0.113.5' was ignored" in ignored and "198.51.100.9 is not in server.trusted_proxies" \
        in ignored
    believed = client_address("127.0.0.1", "203.0.113.5", PROXIES).explain("127.0.0.1")
    assert "trusted proxy 127.0.0.1" in believed
