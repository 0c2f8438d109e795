"""Signatures the simulator puts on a model's thoughts (Anthropic's thinking blocks, Gemini's
thoughtSignature) and checks when a conversation sends them back: a random nonce and its HMAC
under a key of this process. Like a vendor's, they are valid only where they were made: a
signature from another vendor (or another simulator process) is refused.
"""

from __future__ import annotations

import base64
import hmac
import os

_KEY = os.urandom(32)


def sign() -> str:
    nonce = os.urandom(16)
    return base64.b64encode(nonce + hmac.digest(_KEY, nonce, "sha256")).decode()


def signed(signature: object) -> bool:
    text = str(signature)
    try:  # protobuf JSON clients (google-genai) may send the bytes back URL-safe encoded
        raw = base64.urlsafe_b64decode(text) if "-" in text or "_" in text else base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return len(raw) == 48 and hmac.compare_digest(raw[16:], hmac.digest(_KEY, raw[:16], "sha256"))
