import pytest

from seawall.decide.keys import bearer_token, diagnose_key, mask_key, secret_problem

GOOD = "sk-sw-" + "a" * 40

BEARER_CASES = [  # id, header, key, problem code, detail fragment
    ("well formed", f"Bearer {GOOD}", GOOD, None, ""),
    ("scheme is case-insensitive", f"bearer {GOOD}", GOOD, None, ""),
    ("no header", None, None, "missing_api_key", ""),
    ("blank header", "   ", None, "missing_api_key", ""),
    ("Bearer and nothing", "Bearer ", None, "missing_api_key", ""),
    ("key without Bearer", GOOD, None, "malformed_auth_header", "without 'Bearer '"),
    ("Bearer doubled", f"Bearer Bearer {GOOD}", None, "malformed_auth_header", "twice"),
    ("Basic auth", "Basic dXNlcjpwYXNz", None, "malformed_auth_header", "scheme 'Basic'"),
]


@pytest.mark.parametrize("header,key,code,detail", [c[1:] for c in BEARER_CASES], ids=[c[0] for c in BEARER_CASES])
def test_bearer_token(header, key, code, detail):
    token, problem = bearer_token(header)
    assert token == key
    assert (problem.code if problem else None) == code
    if problem:
        assert detail in problem.detail


DIAGNOSE_CASES = [  # id, token, code, detail or platform fragment
    ("a seawall key", GOOD, None, ""),
    ("trailing newline", GOOD + "\n", "key_whitespace", "a trailing newline"),
    ("leading space", " " + GOOD, "key_whitespace", "leading whitespace"),
    ("escaped newline from an env file", GOOD + "\\n", "key_whitespace", "escaped newline"),
    ("quotes kept", f'"{GOOD}"', "key_whitespace", "quotes"),
    ("anthropic key", "sk-ant-api03-" + "x" * 90, "wrong_platform_key", "Anthropic"),
    ("openai project key", "sk-proj-" + "x" * 150, "wrong_platform_key", "OpenAI project"),
    ("google key", "AIza" + "x" * 35, "wrong_platform_key", "Google"),
    ("legacy 51-char sk- key", "sk-" + "x" * 48, "wrong_platform_key", "legacy"),
    ("unknown shape goes to lookup", "sk-something-else", None, ""),
    ("truncated seawall key", "sk-sw-abcdef", "key_truncated", "6 characters after sk-sw- instead of 40"),
    ("whole-length seawall key: just unknown", "sk-sw-" + "q" * 40, None, ""),
]


@pytest.mark.parametrize("token,code,fragment", [c[1:] for c in DIAGNOSE_CASES], ids=[c[0] for c in DIAGNOSE_CASES])
def test_diagnose_key(token, code, fragment):
    problem = diagnose_key(token)
    assert (problem.code if problem else None) == code
    if problem:
        assert fragment in problem.detail + problem.platform


@pytest.mark.parametrize("value,fragment", [
    ("", "is empty"), ("key\n", "a trailing newline"), ("'key'", "quotes"), (" key", "leading whitespace"),
    ("ke y", "whitespace inside"),
])
def test_secret_problem_names_the_mistake(value, fragment):
    assert fragment in secret_problem(value)


def test_clean_secret_has_no_problem():
    assert secret_problem("sk-proj-abc123") is None


def test_mask_key_keeps_prefix_and_last_four_only():
    masked = mask_key("sk-sw-SECRETSECRETSECRET1234")
    assert masked.startswith("sk-sw-") and masked.endswith("1234") and "SECRET" not in masked


KEY_STATE_CASES = [  # id, enabled, revoked_at, expires_at, code
    ("fine", True, None, None, None),
    ("expires later", True, None, 2000.0, None),
    ("revoked", True, 500.0, None, "key_revoked"),
    ("expired", True, None, 999.0, "key_expired"),
    ("expires exactly now", True, None, 1000.0, "key_expired"),
    ("disabled", False, None, None, "key_disabled"),
    ("revoked wins over expired and disabled", False, 500.0, 900.0, "key_revoked"),
    ("expired wins over disabled", False, None, 900.0, "key_expired"),
]


@pytest.mark.parametrize("enabled,revoked_at,expires_at,code", [c[1:] for c in KEY_STATE_CASES],
                         ids=[c[0] for c in KEY_STATE_CASES])
def test_key_state(enabled, revoked_at, expires_at, code):
    from seawall.decide.keys import key_state

    problem = key_state(enabled, revoked_at, expires_at, now=1000.0)
    assert (problem.code if problem else None) == code


def test_key_state_says_when_in_utc():
    from seawall.decide.keys import key_state

    assert key_state(True, 0.0, None, now=1.0).detail == "1970-01-01 00:00:00 UTC"
