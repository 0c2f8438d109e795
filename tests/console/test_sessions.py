"""Console sessions (console/sessions.py) and the page helpers: expiry by the clock, sign-out,
per-key sign-out, constant-time CSRF comparison; forms read into the admin API's bodies."""

import uuid

import pytest

from seawall.cluster.link import Link
from seawall.cluster.sessions import RedisSessions
from seawall.console.routes import key_form
from seawall.console.sessions import MAX_SESSIONS, Sessions, same_token

REDIS_URL = "redis://127.0.0.1:6379/0"  # the machine's Redis; each test's keys under a prefix of its own


@pytest.fixture(params=["memory", "redis"])
async def sessions(request):
    """The same sessions in this process's memory and in Redis (cluster/sessions.py)."""
    if request.param == "memory":
        yield Sessions(ttl_s=60)
        return
    link = Link(REDIS_URL, prefix=f"seawall-test:{uuid.uuid4().hex}:")
    yield RedisSessions(link, ttl_s=60)
    keys = await link.redis.keys(link.prefix + "*")
    if keys:
        await link.redis.delete(*keys)
    await link.close()


async def test_a_session_lives_until_its_ttl_and_never_after(sessions):
    token, made = await sessions.start("key_a", "ci", now=1000.0)
    assert await sessions.get(token, 1059.9) == made and not made.is_admin
    assert await sessions.get(token, 1060.0) is None and await sessions.get(token, 1000.0) is None  # forgotten once expired
    assert await sessions.get("forged", 1000.0) is None and await sessions.get(None, 1000.0) is None


async def test_sign_out_and_a_revoked_key_end_sessions(sessions):
    a, _ = await sessions.start("key_a", "a", 0.0)
    a2, _ = await sessions.start("key_a", "a", 0.0)
    admin, session = await sessions.start(None, "admin", 0.0)
    assert session.is_admin and a != a2
    assert (await sessions.get(admin, 1.0)).is_admin
    await sessions.end(a)
    assert await sessions.get(a, 1.0) is None and await sessions.get(a2, 1.0) is not None
    await sessions.end_for_key("key_a")
    assert await sessions.get(a2, 1.0) is None and await sessions.get(admin, 1.0) is not None


async def test_sessions_are_bounded():
    sessions = Sessions(ttl_s=60)
    first, _ = await sessions.start(None, "admin", 0.0)
    for _ in range(MAX_SESSIONS):
        await sessions.start(None, "admin", 0.0)
    assert await sessions.get(first, 1.0) is None and len(sessions._by_hash) == MAX_SESSIONS


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
