"""What an error reply echoes of the request, and the mistake it shows.

OpenAI (and one-api, new-api, xAI, …) echo the rejected key, masked, and the path they could not
route (provider-errors.md §1.2, §5.2). A masked key still shows another platform's prefix, a doubled
"Bearer" or a newline at its end; a path shows a base URL without /v1 or with it twice. `explain`
applies the same judgements to the key and URL a `curl -v` dump shows were sent.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from seawall.decide.reply_rules import Found, Reply


# Key prefixes and their platform (§1.6, §3.6, §4.5, §5.3), longest first.
KEY_PLATFORMS = (("sk-ant-", "anthropic"), ("sk-proj-", "openai"), ("sk-svcacct-", "openai"), ("sk-admin-", "openai"),
                 ("sk-sw-", "seawall"), ("sk-or-", "openrouter"), ("AIza", "gemini"), ("AQ.", "gemini"),
                 ("xai-", "xai"), ("gsk_", "groq"))
_PLATFORM_NAMES = {"anthropic": "an Anthropic", "openai": "an OpenAI", "seawall": "a Seawall", "gemini": "a Google",
                   "openrouter": "an OpenRouter", "xai": "an xAI", "groq": "a Groq",
                   "openai or one-api": "an OpenAI (legacy) or one-api"}
_ACCEPTS = {"openai": {"openai"}, "anthropic": {"anthropic"}, "gemini": {"gemini"}, "seawall": {"seawall"}}
_QUOTES = "\"'`\u201c\u201d\u2018\u2019"


def key_problem(key: str, provider: str | None) -> Found | None:
    """What is wrong with a key as sent (or as a provider echoes it back masked), or None."""
    if key.lower().startswith("bearer"):
        return "auth.malformed", "'Bearer' is part of the key: the header says 'Bearer Bearer …'"
    if key[:1] in _QUOTES or key[-1:] in _QUOTES:
        return "auth.key_whitespace", "the key has quotes around it"
    if key != key.strip() or "\\n" in key or any(c.isspace() for c in key):
        return "auth.key_whitespace", "the key has a space or newline in or around it"
    platform = next((p for prefix, p in KEY_PLATFORMS if key.startswith(prefix)), None)
    if platform is None and key.startswith("sk-") and len(key) == 51 and provider in ("anthropic", "gemini"):
        platform = "openai or one-api"
    if platform and provider and platform not in _ACCEPTS.get(provider, set()):
        return "auth.wrong_platform", f"{_PLATFORM_NAMES.get(platform, platform)} key was sent to {provider}"
    return None


_ECHOED_KEY = re.compile(r"incorrect api key provided: (.*?)(?:\. you can|\.?\s*$)", re.IGNORECASE | re.DOTALL)


def echoed_key(r: Reply) -> Found | None:
    """OpenAI echoes the rejected key masked (first characters, last four, §1.2): enough to see
    another platform's prefix, a doubled Bearer, or a newline at the end."""
    m = _ECHOED_KEY.search(r.text)
    if not m:
        return None
    found = key_problem(m.group(1), r.provider if r.provider in ("openai", "azure") else "openai")
    return (found[0], f"the key OpenAI echoes back: {found[1]}") if found else None


_PATH_IN_MESSAGE = re.compile(r"(?:invalid url|unrecognized request url) \((\w+) ([^)\s]+)\)", re.IGNORECASE)
_ENDPOINTS = ("/chat/completions", "/completions", "/embeddings", "/responses", "/messages", "/models",
              "/images/generations", "/audio/transcriptions", "/audio/speech", "/moderations")


def misrouted_path(path: str) -> str | None:
    """The base-URL mistake a request path shows, or None (cf. decide/routes.py for Seawall's own)."""
    p = path.split("?", 1)[0].rstrip("/")
    if "/v1/v1/" in p + "/":
        return "'/v1' appears twice: the base URL already ends in /v1 and the client adds it again"
    for endpoint in _ENDPOINTS:
        if endpoint + endpoint in p:
            return f"{endpoint} appears twice: a full endpoint was set as the base URL"
    if "/openai/deployments/" in p or "/v1" in p or "/mj/" in p:
        return None  # Azure's classic paths have no /v1; Gemini's /v1beta contains it
    for endpoint in _ENDPOINTS:
        if p.endswith(endpoint):
            return f"the path {p} lacks /v1: the base URL should end in /v1"
    return None


def invalid_url(r: Reply) -> Found | None:
    """OpenAI (and one-api, new-api) name the path they could not route (§1.2, §5.2)."""
    m = _PATH_IN_MESSAGE.search(r.text)
    if not m:
        return None
    problem = misrouted_path(m.group(2))
    if problem:
        return "route.base_url", problem
    return "route.not_found", f"no {m.group(1)} {m.group(2)} on this API: check the path and the method"
