"""Console sessions (console/sessions.py) and the page helpers: expiry by the clock, sign-out,
per-key sign-out, constant-time CSRF comparison; forms read into the admin API's bodies."""

from seawall.console.routes import key_form
from seawall.console.sessions import MAX_SESSIONS, Sessions, same_token


def test_a_session_lives_until_its_ttl_and_never_after():
    sessions = Sessions(ttl_s=60)
    token, made = sessions.start("key_a", "ci", now=1000.0)
    assert sessions.get(token, 1059.9) is made and not made.is_admin
    assert sessions.get(token, 1060.0) is None and sessions.get(token, 1000.0) is None  # forgotten once expired
    assert sessions.get("forged", 1000.0) is None and sessions.get(None, 1000.0) is None


def test_sign_out_and_a_revoked_key_end_sessions():
    sessions = Sessions(ttl_s=60)
    a, _ = sessions.start("key_a", "a", 0.0)
    a2, _ = sessions.start("key_a", "a", 0.0)
    admin, session = sessions.start(None, "admin", 0.0)
    assert session.is_admin and a != a2
    sessions.end(a)
    assert sessions.get(a, 1.0) is None and sessions.get(a2, 1.0) is not None
    sessions.end_for_key("key_a")
    assert sessions.get(a2, 1.0) is None and sessions.get(admin, 1.0) is not None


def test_sessions_are_bounded():
    sessions = Sessions(ttl_s=60)
    first, _ = sessions.start(None, "admin", 0.0)
    for _ in range(MAX_SESSIONS):
        sessions.start(None, "admin", 0.0)
    assert sessions.get(first, 1.0) is None and len(sessions._by_hash) == MAX_SESSIONS


def test_csrf_tokens_compare_whole():
    assert same_token("abc", "abc") and not same_token("abd", "abc") and not same_token("", "abc")
    assert not same_token(None, "abc") and not same_token("ab", "abc")


def test_key_forms_become_api_bodies():
    form = {"name": "ci", "tenant": "", "group": "", "models": "gpt-4o*, claude-*", "ip_allowlist": "10.0.0.0/8\n",
            "expires_at": "", "quota_tokens": "1000", "quota_usd": "2.5", "rpm": "60", "rps": "", "tpm": "x",
            "context_policy": "", "metadata": "team = ml\nowner=ana"}
    assert key_form(form, updating=False) == {
        "name": "ci", "models": ["gpt-4o*", "claude-*"], "ip_allowlist": ["10.0.0.0/8"], "quota_tokens": 1000,
        "quota_usd": 2.5, "rpm": 60, "tpm": "x", "metadata": {"team": "ml", "owner": "ana"}}
    updated = key_form({**form, "enabled": "on"}, updating=True)
    assert updated["tenant"] is None and updated["rps"] is None and updated["enabled"] is True
    assert updated["expires_at"] is None and updated["context_policy"] is None
    assert key_form({"name": "x"}, updating=True)["enabled"] is False  # an unticked box is sent as nothing
