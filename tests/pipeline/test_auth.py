"""The auth stage against a real SQLite store: each refusal names its cause."""

import time

import pytest

from seawall.errors import SeawallError
from seawall.keyring import key_record, new_key
from seawall.pipeline.auth import Authenticator

SECRET = b"k" * 32


async def add(store, **fields) -> str:
    key = new_key()
    await store.insert_key(key_record(SECRET, key, fields.pop("name", "k"), **fields))
    return key


def bearer(key: str) -> dict:
    return {"authorization": f"Bearer {key}"}


async def refused(auth: Authenticator, key: str) -> SeawallError:
    with pytest.raises(SeawallError) as e:
        auth.authenticate(bearer(key))
    return e.value


async def test_each_refusal_names_its_cause(store):
    good = await add(store, tenant="acme")
    revoked = await add(store, revoked_at=time.time() - 60)
    expired = await add(store, expires_at=time.time() - 60)
    disabled = await add(store, enabled=False)
    auth = Authenticator(store, SECRET, refresh_interval_s=1)
    await auth.load()
    assert auth.authenticate(bearer(good)).tenant == "acme"
    err = await refused(auth, revoked)
    assert (err.code, err.status, err.category) == ("key_revoked", 401, "auth.key_revoked")
    assert revoked not in err.message and revoked[-4:] in err.message and "UTC" in err.message
    assert (await refused(auth, expired)).code == "key_expired"
    err = await refused(auth, disabled)
    assert (err.code, err.status) == ("key_disabled", 403)
    assert (await refused(auth, new_key())).code == "invalid_api_key"


async def test_a_key_that_expires_between_reloads_is_refused_at_once(store):
    key = await add(store, expires_at=time.time() + 0.3)
    auth = Authenticator(store, SECRET, refresh_interval_s=3600)
    await auth.load()
    assert auth.authenticate(bearer(key))
    time.sleep(0.35)
    assert (await refused(auth, key)).code == "key_expired"


async def test_revocation_by_another_writer_applies_on_reload(store):
    key = await add(store, name="ci")
    auth = Authenticator(store, SECRET, refresh_interval_s=3600)
    await auth.load()
    assert auth.authenticate(bearer(key))
    await store.revoke_keys_named("ci", time.time())
    await auth.load()
    assert (await refused(auth, key)).code == "key_revoked"


async def test_limits_are_compiled_into_the_principal_and_a_group_scope_is_shared(store):
    from seawall.store.base import GroupRecord

    await store.insert_group(GroupRecord(name="team", created_at=1.0, rpm=10, max_concurrency=2))
    own = await add(store, name="own", group="team", tpm=5000)
    plain = await add(store, name="plain", group="team")
    free = await add(store, name="free")
    auth = Authenticator(store, SECRET, 60)
    await auth.load()
    a, b = auth.authenticate(bearer(own)), auth.authenticate(bearer(plain))
    assert [(s.scope, s.rpm and s.rpm.limit, s.tpm and s.tpm.limit) for s in a.limits] == [
        ("key", None, 5000), ("group", 10, None)]
    assert b.limits == (a.limits[1],) and b.limits[0] is a.limits[1]  # one group bucket for both keys
    assert auth.authenticate(bearer(free)).limits == ()  # no limits anywhere: the fast path
