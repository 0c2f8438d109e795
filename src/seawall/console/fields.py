"""Reading admin API bodies: each field checked on its own, and a refusal names the field.

Pure: JSON values in, plain values or a SeawallError (param = the field) out. The same readers
serve create (required fields enforced) and update (only the fields sent).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

from seawall.decide.access import parse_cidr
from seawall.decide.key_policy import CONTEXT_POLICIES
from seawall.errors import SeawallError, error

_DURATION = re.compile(r"(\d+)\s*([mhdw])")
_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._@:/+-]{0,99}")


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
            dict: "an object", type(None): "null"}.get(type(value), type(value).__name__)


def _wrong_type(param: str, expected: str, value: object) -> SeawallError:
    return error("invalid_field", param=param, expected=expected, got=_type_name(value))


def _invalid(param: str, detail: str, fix: str) -> SeawallError:
    return error("admin_invalid_value", param=param, detail=detail, fix=fix)


def name(param: str, value: object) -> str:
    if not isinstance(value, str):
        raise _wrong_type(param, "a string", value)
    if not _NAME.fullmatch(value):
        raise _invalid(param, f"{value[:40]!r} is not a usable name",
                       "Use 1-100 letters, digits, spaces or . _ @ : / + -, starting with a letter or digit.")
    return value


def optional_name(param: str, value: object) -> str | None:
    return None if value is None else name(param, value)


def globs(param: str, value: object) -> list[str]:
    if not isinstance(value, list):
        raise _wrong_type(param, "an array of model names or glob patterns such as \"gpt-4o*\"", value)
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise _invalid(f"{param}.{i}", f"{item!r} is not a model name or pattern",
                           "Give each entry as a non-empty string such as \"gpt-4o*\" or \"claude-*\".")
    return [item.strip() for item in value]


def cidrs(param: str, value: object) -> list[str]:
    if not isinstance(value, list):
        raise _wrong_type(param, "an array of CIDRs such as \"10.0.0.0/8\"", value)
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _wrong_type(f"{param}.{i}", "a string", item)
        try:
            out.append(str(parse_cidr(item)))
        except ValueError as e:
            raise _invalid(f"{param}.{i}", f"{item!r} is not a valid CIDR ({e})",
                           "Write an IPv4 or IPv6 network such as 203.0.113.0/24, 2001:db8::/32 or a single "
                           "address; host bits after the prefix must be zero.") from None
    return out


def quota(param: str, value: object, integer: bool) -> int | float | None:
    if value is None:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise _wrong_type(param, "a whole number" if integer else "a number", value)
    if value < 0:
        raise _invalid(param, f"{value} is negative", "Give a quota of 0 or more, or null for no quota.")
    return value


def limit(param: str, value: object) -> int | None:
    """A rate or concurrency limit: a whole number of 1 or more, or null for none. Zero is
    refused rather than read as "blocked": a key that may never call is disabled instead."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(param, "a whole number", value)
    if value < 1:
        raise _invalid(param, f"{value} can never be met", "Give a limit of 1 or more, or null for no limit "
                       "(to stop a key altogether, disable it).")
    return value


LIMIT_READERS: dict[str, Callable[[str, object], object]] = {"rps": limit, "rpm": limit, "tpm": limit,
                                                              "max_concurrency": limit}


def context_policy(param: str, value: object) -> str | None:
    """The key's (group's) context policy, or null for the next level's. A key can't name a model
    to fall back to: `fallback` uses the model's own fallback_model (decide/key_policy.py)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise _wrong_type(param, "a string", value)
    if value not in CONTEXT_POLICIES:
        raise _invalid(param, f"{value[:40]!r} is not a context policy",
                       "Use reject, trim, truncate_output or fallback (to the model's own fallback_model), "
                       "or null for the group's or the model's policy.")
    return value


def size_limit(param: str, value: object, least: int = 1) -> int | None:
    """A pre-flight size limit (messages, images, bytes): a whole number, or null for the group's
    or the model's. Zero images is a real limit (text only); zero of the others could never pass."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong_type(param, "a whole number", value)
    if value < least:
        raise _invalid(param, f"{value} is below {least}", f"Give {least} or more, or null for the group's "
                       "or the model's limit.")
    return value


POLICY_READERS: dict[str, Callable[[str, object], object]] = {
    "context_policy": context_policy, "max_messages": size_limit,
    "max_images": lambda p, v: size_limit(p, v, least=0), "max_image_bytes": size_limit,
    "max_body_bytes": size_limit}


def boolean(param: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise _wrong_type(param, "true or false", value)
    return value


def mapping(param: str, value: object) -> dict:
    if not isinstance(value, dict):
        raise _wrong_type(param, "a JSON object", value)
    return value


def expiry(param: str, value: object, now: float) -> float | None:
    """null, epoch seconds, an ISO 8601 time (UTC unless it says otherwise) or a duration: 30d, 12h."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise _wrong_type(param, "an ISO 8601 time, a duration such as \"30d\", or epoch seconds", value)
    when = _when(value, now)
    if when is None:
        raise _invalid(param, f"{value!r} is not a time", "Give an ISO 8601 time such as 2026-12-31T23:59:00Z, "
                       "a duration such as 30d / 12h / 90m / 2w, or epoch seconds.")
    if when <= now:
        raise _invalid(param, f"{value!r} is in the past", "Give a future time, or revoke the key instead.")
    return when


def _when(value: float | str, now: float) -> float | None:
    if not isinstance(value, str):
        return float(value)
    m = _DURATION.fullmatch(value.strip())
    if m:
        return now + int(m.group(1)) * _SECONDS[m.group(2)]
    try:
        parsed = dt.datetime.fromisoformat(value.strip())  # 3.11+ reads a trailing Z
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()


Reader = Callable[[str, object], object]


def read(body: object, readers: dict[str, Reader], required: tuple[str, ...], endpoint: str) -> dict:
    """Check every field of a JSON body with its reader; refuse unknown fields by name."""
    if not isinstance(body, dict):
        raise error("body_not_object", got=_type_name(body))
    for field_name in body:
        if field_name not in readers:
            raise error("admin_unknown_field", param=field_name, known=", ".join(readers))
    for field_name in required:
        if field_name not in body:
            raise error("missing_field", param=field_name, endpoint=endpoint)
    return {k: readers[k](k, v) for k, v in body.items()}


def key_readers(now: float) -> dict[str, Reader]:
    return {"name": name, "tenant": optional_name, "group": optional_name, "models": globs, "ip_allowlist": cidrs,
            "expires_at": lambda p, v: expiry(p, v, now), "enabled": boolean,
            "quota_tokens": lambda p, v: quota(p, v, integer=True),
            "quota_usd": lambda p, v: quota(p, v, integer=False), "metadata": mapping, **LIMIT_READERS,
            **POLICY_READERS}


# PUT /admin/tenants/{name}: a tenant's record is its limits, nothing else.
TENANT_READERS: dict[str, Reader] = dict(LIMIT_READERS)

GROUP_READERS: dict[str, Reader] = {
    "name": name, "models": globs, "quota_tokens": lambda p, v: quota(p, v, integer=True),
    "quota_usd": lambda p, v: quota(p, v, integer=False), "metadata": mapping, **LIMIT_READERS,
    **POLICY_READERS}
