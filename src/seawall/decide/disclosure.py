"""Disclosure: what of an upstream's error a client sees (server.upstream_error_detail).

    full               the upstream's own message, code and param, with Seawall's hint and category
    category_and_hint  Seawall's sentence naming the category, and the hint; nothing the upstream wrote
    generic            one sentence and a hint to quote the request ID; the category the status alone implies

new-api's users asked for the same (its PRs #5444 and #6794): an upstream's text can name the
operator's account, its balance or the relay behind it. Only errors that carry an upstream's
words are rewritten, and only on their way to the client: the status (which SDKs retry by),
Retry-After and the request ID stay; the request log and the gateway's own log keep all of it.
"""

from __future__ import annotations

from seawall.decide.classify import status_category
from seawall.errors import SeawallError

LEVELS = ("full", "category_and_hint", "generic")
# The catalog entries whose text comes from an upstream (errors.py).
UPSTREAM_WORDS = frozenset({"upstream_error", "upstream_auth_failed", "upstream_refused", "upstream_malformed",
                            "stream_interrupted"})


def client_view(err: SeawallError, level: str) -> SeawallError:
    if level == "full" or err.code not in UPSTREAM_WORDS:
        return err
    if level == "category_and_hint":
        return SeawallError("upstream_withheld", {"category": err.category, "hint": err.hint}, headers=err.headers,
                            status_override=err.status, type_override=err.type, category_override=err.category)
    return SeawallError("upstream_generic", {}, headers=err.headers, status_override=err.status,
                        type_override="upstream_error" if err.status >= 500 else "invalid_request_error",
                        category_override=status_category(err.status))
