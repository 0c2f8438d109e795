"""A key added, then revoked, by another writer of the gateway's store (as another instance or
the admin tools would) takes effect on the running gateway within its refresh interval."""

import asyncio
import os
import time

import openai

from seawall.keyring import key_record, load_or_create_secret, new_key
from seawall.store.sqlite import SQLiteStore


async def write(gateway, action):
    store = SQLiteStore(os.path.join(gateway.data_dir, "seawall.db"))
    await store.open()
    try:
        await action(store, load_or_create_secret(gateway.data_dir))
    finally:
        await store.close()


def eventually(call, timeout=4.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except (openai.AuthenticationError, AssertionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_added_then_revoked_key(gateway, sim):
    key = new_key()
    asyncio.run(write(gateway, lambda store, secret: store.insert_key(key_record(secret, key, "lifecycle"))))
    with openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0) as client:
        assert eventually(lambda: client.models.list().data)
        asyncio.run(write(gateway, lambda store, secret: store.revoke_keys_named("lifecycle", time.time())))

        def refused():
            try:
                client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            except openai.AuthenticationError as e:
                assert e.code == "key_revoked"
                return e
            raise AssertionError("the revoked key is still accepted")

        err = eventually(refused)
    assert err.body["category"] == "auth.key_revoked" and key[-4:] in err.body["message"]
    assert key not in err.body["message"]
