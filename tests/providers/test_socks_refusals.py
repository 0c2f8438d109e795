"""What a SOCKS5 proxy's refusal means (providers/dial.py socks_refusal): python-socks raises one
ProxyError for every refusal, told apart only by its text; the authentication ones must not read
as a refused destination."""

import pytest

from seawall.providers.dial import socks_refusal

CASES = [  # id, what python-socks said, credentials in the proxy URL, what the client reads
    ("a wrong password", "Username and password authentication failure", True,
     "the proxy refused its credentials (SOCKS5 username/password authentication failed)"),
    ("no credentials for a proxy that asks for them", "No acceptable authentication methods were offered", False,
     "the proxy asks for a username and password (SOCKS5), and the proxy URL gives none"),
    ("credentials for a proxy that asks for another method", "No acceptable authentication methods were offered",
     True, "the proxy accepts none of the SOCKS5 authentication methods offered (username/password); it asks for "
           "another (No acceptable authentication methods were offered)"),
    ("a refused destination", "Connection not allowed by ruleset", True,
     "the proxy refused the connection to api.openai.com:443 (Connection not allowed by ruleset)"),
]


@pytest.mark.parametrize(("said", "gave", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_socks5_refusal_says_what_was_refused(said, gave, expected):
    assert socks_refusal(said, "api.openai.com", 443, gave) == expected
