"""The keys a gateway makes at start so that someone can call it: the demo key (derived from the
server secret, the same at every start), a first key while the store has none, and the admin key
(only its keyed hash is kept)."""

from __future__ import annotations

import dataclasses
import itertools
import time
from typing import TYPE_CHECKING

from seawall.console.admin import ADMIN_HASH_META
from seawall.keyring import DEMO_KEY_NAME, demo_key, hash_key, key_record, new_admin_key, new_key
from seawall.store.base import Store

if TYPE_CHECKING:
    from seawall.server import ServeOptions


async def provision_key(store: Store, secret: bytes, options: ServeOptions) -> str | None:
    """Make sure someone can call the gateway; return a key to print, if one was made.

    Demo mode prints its `demo` key at every start: derived from the server secret (keyring.demo_key),
    so it stays the same for the same data dir. Otherwise a first key is made only while the
    store has none: SEAWALL_BOOTSTRAP_KEY's value if set (not printed: the operator knows it),
    else a new `default` key printed once.
    """
    if options.demo:
        return await provision_demo_key(store, secret)
    if await store.load_keys():
        return None
    if options.bootstrap_key:
        await store.insert_key(key_record(secret, options.bootstrap_key, "bootstrap"))
        return None
    key = new_key()
    await store.insert_key(key_record(secret, key, "default"))
    return key


async def provision_demo_key(store: Store, secret: bytes) -> str:
    """The derived demo key, stored (as its hash) at its first start. Another active `demo` key (a
    random one of an earlier version) is revoked: it then gets "use the key printed at start"."""
    keys = await store.load_keys()
    by_hash = {k.key_hash: k for k in keys}
    for generation in itertools.count():  # the next generation only if an admin revoked this one
        key = demo_key(secret, generation)
        record = by_hash.get(hash_key(secret, key))
        if record is None:
            await store.insert_key(key_record(secret, key, DEMO_KEY_NAME))
            break
        if record.revoked_at is None:
            break
    now = time.time()
    for old in keys:
        if old.name == DEMO_KEY_NAME and old.revoked_at is None and old.key_hash != hash_key(secret, key):
            await store.update_key(dataclasses.replace(old, revoked_at=now))
    return key


async def provision_admin_key(store: Store, secret: bytes, options: ServeOptions) -> str | None:
    """Without SEAWALL_ADMIN_KEY, make an admin key at the first start and return it to print
    once; only its keyed hash is kept (in the store's meta table)."""
    if options.admin_key or await store.get_meta(ADMIN_HASH_META):
        return None
    return await write_admin_key(store, secret)


async def write_admin_key(store: Store, secret: bytes) -> str:
    """A new admin key; the store keeps its keyed hash (replacing any earlier one), the caller
    prints it once. Running gateways read the new hash on its first use (console/admin.py)."""
    admin_key = new_admin_key()
    await store.set_meta(ADMIN_HASH_META, hash_key(secret, admin_key))
    return admin_key
