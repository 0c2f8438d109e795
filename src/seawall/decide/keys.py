"""Pure judgements about keys: a provider key read from config, or a client's Authorization header.

Most 401s people lose hours to are a key that is almost right: a trailing newline from an env
file, quotes kept from a shell line, a doubled "Bearer", another platform's key. These functions
name the mistake instead of answering "invalid key".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

SEAWALL_PREFIX = "sk-sw-"
SEAWALL_KEY_LENGTH = 40  # characters after the prefix (keyring.KEY_BODY_LENGTH)

# Key prefixes: (prefix, platform, how to name such a key). Longest first where one prefix starts
# another. Sources: docs/reference/provider-errors.md §1.6 (OpenAI), §3.6 (Anthropic), §4.5
# (Google), §5.3 (one-api/new-api). Used by the gateway's 401s and by `explain` alike.
KEY_PLATFORMS: tuple[tuple[str, str, str], ...] = (
    ("sk-ant-", "anthropic", "an Anthropic"),
    ("sk-proj-", "openai", "an OpenAI project"),
    ("sk-svcacct-", "openai", "an OpenAI service-account"),
    ("sk-admin-", "openai", "an OpenAI admin"),
    ("sk-sw-", "seawall", "a Seawall"),
    ("sk-or-", "openrouter", "an OpenRouter"),
    ("AIza", "gemini", "a Google (Gemini) API"),
    ("AQ.", "gemini", "a Google Vertex AI express"),
    ("xai-", "xai", "an xAI"),
    ("gsk_", "groq", "a Groq"),
)


def key_platform(key: str) -> tuple[str, str] | None:
    """(platform, how to name its key) for a recognised prefix, or None."""
    for prefix, platform, name in KEY_PLATFORMS:
        if key.startswith(prefix):
            return platform, name
    return None


_QUOTES = "\"'`\u201c\u201d\u2018\u2019"


def secret_problem(value: str) -> str | None:
    """What is wrong with a secret as stored, or None. Used for provider keys at start-up."""
    if value == "":
        return "is empty"
    found = whitespace_problem(value)
    if found:
        return f"has {found} — remove it (a copy-paste or env-file artefact)"
    return None


def whitespace_problem(value: str) -> str | None:
    """Describe stray characters around or inside a key, or None when it is clean."""
    if value[:1] in _QUOTES or value[-1:] in _QUOTES:
        return "quotes around it"
    if "\\n" in value or "\\r" in value:
        return "an escaped newline (\\n) in it"
    if value != value.strip():
        lead, trail = value[: len(value) - len(value.lstrip())], value[len(value.rstrip()):]
        where = " and ".join(w for w, s in (("leading", lead), ("trailing", trail)) if s)
        if "\n" in lead + trail or "\r" in lead + trail:
            return f"a {where} newline"
        return f"{where} whitespace"
    if any(c.isspace() for c in value):
        return "whitespace inside it"
    return None


@dataclass(frozen=True, slots=True)
class KeyProblem:
    code: str  # an errors.CATALOG code
    detail: str = ""
    platform: str = ""


def bearer_token(header: str | None) -> tuple[str | None, KeyProblem | None]:
    """Split an Authorization header into the key, or say what is wrong with its shape."""
    if header is None or header.strip() == "":
        return None, KeyProblem("missing_api_key")
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "bearer":
        if header.startswith(("sk-", "AIza")):
            return None, KeyProblem("malformed_auth_header", "the key was sent without 'Bearer ' in front")
        return None, KeyProblem("malformed_auth_header", f"scheme '{scheme[:20]}' instead of 'Bearer'")
    token = rest.lstrip(" ")
    if token.lower().startswith("bearer"):
        return None, KeyProblem("malformed_auth_header", "'Bearer' appears twice")
    if token == "":
        return None, KeyProblem("missing_api_key")
    return token, None


def diagnose_key(token: str) -> KeyProblem | None:
    """Shape problems of a key the lookup did not find: what went wrong, or None for plainly unknown."""
    stray = whitespace_problem(token)
    if stray:
        return KeyProblem("key_whitespace", stray)
    if token.startswith(SEAWALL_PREFIX):
        body = len(token) - len(SEAWALL_PREFIX)
        if body < SEAWALL_KEY_LENGTH:
            return KeyProblem("key_truncated", f"{body} characters after sk-sw- instead of {SEAWALL_KEY_LENGTH}")
    else:
        found = key_platform(token)
        if found is not None:
            return KeyProblem("wrong_platform_key", platform=found[1])
        if token.startswith("sk-") and len(token) == 51:
            return KeyProblem("wrong_platform_key", platform="an OpenAI (legacy) or one-api/new-api")
    return None


def mask_key(token: str) -> str:
    """How OpenAI shows a rejected key: the first characters, stars, the last four."""
    if len(token) <= 10:
        return "*" * len(token)
    return token[:6] + "*" * min(len(token) - 10, 40) + token[-4:]


def key_state(enabled: bool, revoked_at: float | None, expires_at: float | None, now: float) -> KeyProblem | None:
    """Why a known key may not call now, or None. Revoked wins over expired over disabled: the
    first is final, the second needs a new key, the third only an admin's switch."""
    if revoked_at is not None:
        return KeyProblem("key_revoked", detail=_utc(revoked_at))
    if expires_at is not None and expires_at <= now:
        return KeyProblem("key_expired", detail=_utc(expires_at))
    if not enabled:
        return KeyProblem("key_disabled")
    return None


def _utc(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
