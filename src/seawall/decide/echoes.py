"""What an error reply echoes of the request, and the mistake it shows.

OpenAI (and one-api, new-api, xAI, …) echo the rejected key, masked, and the path they could not
route (provider-errors.md §1.2, §5.2). A masked key still shows another platform's prefix, a doubled
"Bearer" or a newline at its end; a path shows a base URL without /v1 or with it twice. `explain`
applies the same judgements to the key and URL a `curl -v` dump shows were sent.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from seawall.decide.keys import key_platform, whitespace_problem
from seawall.decide.routes import base_url_mistake

if TYPE_CHECKING:
    from seawall.decide.reply_rules import Found, Reply


_ACCEPTS = {"openai": {"openai"}, "anthropic": {"anthropic"}, "gemini": {"gemini"}, "seawall": {"seawall"}}


def key_problem(key: str, provider: str | None) -> Found | None:
    """What is wrong with a key as sent (or as a provider echoes it back masked), or None."""
    if key.lower().startswith("bearer"):
        return "auth.malformed", "'Bearer' is part of the key: the header says 'Bearer Bearer …'"
    stray = whitespace_problem(key)
    if stray:
        return "auth.key_whitespace", f"the key has {stray}"
    platform, name = key_platform(key) or (None, None)
    if platform is None and key.startswith("sk-") and len(key) == 51 and provider in ("anthropic", "gemini"):
        platform, name = "openai or one-api", "an OpenAI (legacy) or one-api"
    if platform and provider and platform not in _ACCEPTS.get(provider, set()):
        return "auth.wrong_platform", f"{name} key was sent to {provider}"
    return None


# The masked key ends at the sentence after it: OpenAI's "You can find your API key at …", or the
# next step Seawall's own message carries ("Check that the key …").
_ECHOED_KEY = re.compile(r"incorrect api key provided: (.*?)(?:\.\s+(?=\S)|\.?\s*$)", re.IGNORECASE | re.DOTALL)


def echoed_key(r: Reply) -> Found | None:
    """OpenAI echoes the rejected key masked (first characters, last four, §1.2): enough to see
    another platform's prefix, a doubled Bearer, or a newline at the end. Seawall's own 401 echoes
    its sk-sw- key the same way, without OpenAI's pointer to platform.openai.com: a Seawall key
    that Seawall does not know, not one sent to the wrong platform."""
    m = _ECHOED_KEY.search(r.text)
    if not m:
        return None
    if seawall_echo(m.group(1), r.msg):
        return "auth.key_invalid", ("Seawall's own refusal of an sk-sw- key it does not know (OpenAI's would point "
                                    "to platform.openai.com)")
    found = key_problem(m.group(1), r.provider if r.provider in ("openai", "azure") else "openai")
    return (found[0], f"the key OpenAI echoes back: {found[1]}") if found else None


def seawall_echo(masked: str, message: str) -> bool:
    """A masked sk-sw- key in an "Incorrect API key provided" that OpenAI did not write."""
    return masked.startswith("sk-sw-") and "platform.openai.com" not in message.lower()


_PATH_IN_MESSAGE = re.compile(r"(?:invalid url|unrecognized request url) \((\w+) ([^)\s]+)\)", re.IGNORECASE)


def misrouted_path(path: str) -> str | None:
    """The base-URL mistake a request path shows, or None: decide/routes.py judges it."""
    return base_url_mistake(path)


def invalid_url(r: Reply) -> Found | None:
    """OpenAI (and one-api, new-api) name the path they could not route (§1.2, §5.2)."""
    m = _PATH_IN_MESSAGE.search(r.text)
    if not m:
        return None
    problem = misrouted_path(m.group(2))
    if problem:
        return "route.base_url", problem
    return "route.not_found", f"no {m.group(1)} {m.group(2)} on this API: check the path and the method"
