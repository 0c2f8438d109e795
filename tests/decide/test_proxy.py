"""Which proxy a call takes: the deployment's, the server's, the environment's, NO_PROXY."""

import pytest

from seawall.decide.proxy import bypassed, choose, from_environment, proxy_problem, shown

ENV = {"HTTPS_PROXY": "http://corp:3128", "http_proxy": "http://plain:8080", "HTTP_PROXY": "http://upper:1",
       "NO_PROXY": "localhost,.internal,10.0.0.0/8,api.example.com:8443,::1"}

CASES = [  # id, scheme, host, port, own, server, env, expected (shown, setting) or None
    ("https by HTTPS_PROXY", "https", "api.openai.com", 443, None, None, ENV,
     ("http://corp:3128", "the environment variable HTTPS_PROXY")),
    ("lower-case wins over upper-case", "http", "example.org", 80, None, None, ENV,
     ("http://plain:8080", "the environment variable http_proxy")),
    ("NO_PROXY name", "https", "localhost", 443, None, None, ENV, None),
    ("NO_PROXY subdomain", "https", "llm.internal", 443, None, None, ENV, None),
    ("NO_PROXY CIDR", "http", "10.1.2.3", 80, None, None, ENV, None),
    ("NO_PROXY IPv6", "http", "[::1]", 80, None, None, ENV, None),
    ("NO_PROXY with a port: other port proxied", "https", "api.example.com", 443, None, None, ENV,
     ("http://corp:3128", "the environment variable HTTPS_PROXY")),
    ("NO_PROXY with a port: that port direct", "https", "api.example.com", 8443, None, None, ENV, None),
    ("ALL_PROXY when nothing else", "https", "x.org", 443, None, None, {"ALL_PROXY": "socks5h://s:1080"},
     ("socks5h://s:1080", "the environment variable ALL_PROXY")),
    ("a bare host:port is http", "https", "x.org", 443, None, None, {"https_proxy": "corp:3128"},
     ("http://corp:3128", "the environment variable https_proxy")),
    ("no variable: direct", "https", "x.org", 443, None, None, {}, None),
    ("the deployment's own wins, NO_PROXY or not", "https", "localhost", 443, "socks5://u:p@s:1080", None, ENV,
     ("socks5://u:***@s:1080", "deployment X's proxy")),
    ("the deployment says direct", "https", "x.org", 443, "direct", "http://srv:3128", ENV, None),
    ("the server's before the environment", "https", "x.org", 443, None, "http://srv:3128", ENV,
     ("http://srv:3128", "network.proxy")),
    ("the server's honours NO_PROXY", "https", "localhost", 443, None, "http://srv:3128", ENV, None),
    ("the server says direct", "https", "x.org", 443, None, "direct", ENV, None),
]


@pytest.mark.parametrize("scheme,host,port,own,server,env,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_choose(scheme, host, port, own, server, env, expected):
    proxies, no_proxy = from_environment(env)
    got = choose(scheme, host, port, own, "deployment X's proxy", server, proxies, no_proxy)
    assert (None if got is None else (got.shown, got.setting)) == expected


@pytest.mark.parametrize("entry,host,expected", [
    ("*", "anything", True), ("example.com", "example.com", True), ("example.com", "a.example.com", True),
    ("example.com", "badexample.com", False), ("*.example.com", "a.example.com", True),
    ("EXAMPLE.com", "example.COM", True), ("192.168.0.0/16", "192.168.4.4", True),
    ("192.168.1.1", "192.168.1.2", False), ("[::1]:80", "::1", True),
])
def test_no_proxy_entries(entry, host, expected):
    assert bypassed(host, 80, [entry]) is expected


@pytest.mark.parametrize("url,problem", [
    ("http://u:p@h:3128", None), ("socks5h://h:1080", None), ("direct", None),
    ("ftp://h:21", "starts with http://"), ("socks5://h", "needs its port"), ("http://:3128", "no host"),
    ("http://h:99999", "not a valid URL"),
])
def test_proxy_problem(url, problem):
    got = proxy_problem(url)
    assert (got is None) if problem is None else (problem in got)


def test_shown_never_has_the_password():
    assert shown("http://alice:s3cret@proxy.corp:3128") == "http://alice:***@proxy.corp:3128"
    assert shown("socks5h://[::1]:1080") == "socks5h://[::1]:1080"
