"""A key's own pre-flight settings: context policy and size limits set on the key or its group
(admin API), over the model's and the server's. Pure: compiled once per key when the auth cache
loads (pipeline/auth.py), read by pre-flight (pipeline/validate.py) and where the body is read
(pipeline/flow.py).

Precedence, field by field: the key's own value, else its group's, else the model's
(models[].context_policy, models[].request_limits), else the server's (server.request_limits,
server.max_body_bytes). A key and group that set nothing compile to None: the fast path.

- `fallback` falls back to the model's own `fallback_model`; a model without one rejects. A key
  can't name the model to fall back to: that would reach models outside its permissions, at a
  price the operator did not choose.
- `trim` keeps the model's `trim_keep_first`.
- `max_body_bytes` can only lower the server's: the gateway never reads more than that.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import NamedTuple, Protocol

from seawall.decide.fit import Policy
from seawall.errors import SeawallError, error

CONTEXT_POLICIES = ("reject", "fallback", "trim", "truncate_output")


@dataclass(frozen=True, slots=True)
class KeyPolicy:
    """None = not set here: the next level's value applies."""

    context_policy: str | None = None
    max_messages: int | None = None
    max_images: int | None = None
    max_image_bytes: int | None = None
    max_body_bytes: int | None = None
    body_limit_of: str = "key"  # who set max_body_bytes: "key" or "group" (the 413 names it)


# The admin API's fields, and the store's columns (store/base.py POLICY_COLUMNS, migration 007).
POLICY_FIELDS = tuple(f.name for f in fields(KeyPolicy) if f.name != "body_limit_of")


class HasPolicy(Protocol):  # a KeyRecord or a GroupRecord
    context_policy: str | None
    max_messages: int | None
    max_images: int | None
    max_image_bytes: int | None
    max_body_bytes: int | None


class Sizes(NamedTuple):
    """The size limits that apply (the same names as config.RequestLimits)."""

    max_messages: int
    max_images: int
    max_image_bytes: int


def stored_policy(record: HasPolicy) -> KeyPolicy:
    return KeyPolicy(record.context_policy, record.max_messages, record.max_images, record.max_image_bytes,
                     record.max_body_bytes)


def compile_policy(key: KeyPolicy, group: KeyPolicy | None) -> KeyPolicy | None:
    """The key's value for each field, else its group's; None when neither sets any."""
    if group is None:
        merged = key
    else:
        merged = KeyPolicy(*(_first(getattr(key, f), getattr(group, f)) for f in POLICY_FIELDS),
                           body_limit_of="key" if key.max_body_bytes is not None else "group")
    return None if all(getattr(merged, f) is None for f in POLICY_FIELDS) else merged


def _first(own: object, inherited: object) -> object:
    return own if own is not None else inherited


class HasSizes(Protocol):  # config.RequestLimits, or Sizes
    max_messages: int
    max_images: int
    max_image_bytes: int


def sizes(model: HasSizes, policy: KeyPolicy) -> Sizes:
    """The model's (or the server's) size limits with the key's overrides on top."""
    return Sizes(_first(policy.max_messages, model.max_messages), _first(policy.max_images, model.max_images),
                 _first(policy.max_image_bytes, model.max_image_bytes))


@functools.cache  # few distinct (model policy, name) pairs; Policy is frozen, so hashable
def context_policy(model: Policy, name: str | None) -> Policy:
    """The model's policy with the key's choice of name; fallback only where the model has one."""
    if name is None or name == model.name:
        return model
    if name == "fallback" and not model.fallback_model:
        return Policy("reject", None, model.keep_first)
    return Policy(name, model.fallback_model, model.keep_first)


def body_limit(server_max: int, policy: KeyPolicy | None) -> int:
    if policy is None or policy.max_body_bytes is None:
        return server_max
    return min(server_max, policy.max_body_bytes)


def body_too_large(policy: KeyPolicy, key_name: str, group: str | None) -> SeawallError:
    """The 413 for a body over the key's (or its group's) max_body_bytes, naming whose it is."""
    scope = "group" if policy.body_limit_of == "group" else "key"
    return error("key_body_too_large", limit=policy.max_body_bytes, scope=scope,
                 name=group if scope == "group" else key_name)
