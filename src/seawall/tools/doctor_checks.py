"""The judgements `seawall doctor` makes before any HTTP reply: the key, the base URL, the proxy
environment, a CORS preflight. Facts in, one CheckResult out; pure, no I/O, no clock.

Each function judges one point of the checklist gateway users are told to follow (status code,
base URL, key, model name, permissions, limits; strip the key, no proxy flip-flop, concurrency 1
then up). What came back over HTTP is judged in doctor_replies.py, the probes live in doctor_net.py,
the order in doctor.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit
from urllib.request import proxy_bypass_environment

from seawall.decide.bodies import guess_provider, read_error_fields
from seawall.decide.keys import (
    KEY_PLATFORMS,
    diagnose_key,
    key_platform,
    whitespace_problem,
)
from seawall.decide.routes import ENDPOINTS


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: str  # pass | fail | warn | skipped
    category: str | None  # a taxonomy category (docs/reference/error-taxonomy.md), None when it passed
    evidence: str
    fix: str | None = None


def passed(name: str, evidence: str) -> CheckResult:
    return CheckResult(name, "pass", None, evidence)


def skipped(name: str, why: str) -> CheckResult:
    return CheckResult(name, "skipped", None, why)


def failed(name: str, category: str, evidence: str, fix: str) -> CheckResult:
    return CheckResult(name, "fail", category, evidence, fix)


def warned(name: str, category: str | None, evidence: str, fix: str) -> CheckResult:
    return CheckResult(name, "warn", category, evidence, fix)


# -- the key ---------------------------------------------------------------------------------------

# Which key prefixes an endpoint takes. An empty set: no recognised provider prefix (Azure keys are
# 32 hex characters; one-api/new-api issue their own sk- keys, §5.3).
_ACCEPTS: dict[str, set[str]] = {"openai": {"openai"}, "anthropic": {"anthropic"}, "gemini": {"gemini"},
                                 "seawall": {"seawall"}, "azure": set(), "one-api": set(), "new-api": set(),
                                 "openrouter": {"openrouter"}, "xai": {"xai"}, "groq": {"groq"}}
# Where each platform serves the OpenAI-compatible API, for "point the base URL at the issuer".
HOME: dict[str, str] = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com/v1",
                        "gemini": "https://generativelanguage.googleapis.com/v1beta/openai",
                        "openrouter": "https://openrouter.ai/api/v1", "xai": "https://api.x.ai/v1",
                        "groq": "https://api.groq.com/openai/v1"}


def endpoint_platform(base_url: str, provider: str | None) -> str | None:
    """Who serves the base URL: the --provider given, else the host's provider, else None."""
    if provider:
        return provider
    return guess_provider({}, read_error_fields(None), base_url)[0]


def key_fingerprint(raw: str) -> str:
    """Enough to tell keys apart, never enough to use one: prefix, length, last 4, stray characters."""
    key = raw.strip().strip("\"'`")
    found = key_platform(key)
    prefix = next((p for p, platform, _ in KEY_PLATFORMS if found and platform == found[0] and key.startswith(p)),
                  key[:3] if len(key) >= 16 else "")
    last4 = key[-4:] if len(key) >= 16 else "(too short to show)"
    parts = [f"prefix {prefix or '(none shown)'}", f"{len(key)} characters", f"ends …{last4}"]
    lead, trail = raw[: len(raw) - len(raw.lstrip())], raw[len(raw.rstrip()):]
    if lead:
        parts.append(f"{len(lead)} leading {_chars(lead)}")
    if trail:
        parts.append(f"{len(trail)} trailing {_chars(trail)} after character {len(raw.rstrip())}")
    if raw.strip()[:1] in "\"'`" and raw.strip():
        parts.append("wrapped in quotes")
    return ", ".join(parts)


def _chars(s: str) -> str:
    names = {"\n": "newline", "\r": "carriage return", "\t": "tab", " ": "space"}
    return "/".join(dict.fromkeys(names.get(c, repr(c)) for c in s)) + " character(s)"


def judge_key(raw: str | None, source: str, endpoint: str | None, host: str) -> CheckResult:
    if not raw:
        return failed("key", "auth.missing", f"no key: {source}",
                      "Pass --api-key, --api-key-env NAME or --api-key-file PATH, or set the variable your client reads.")
    seen = f"{key_fingerprint(raw)} (from {source})"
    if raw.strip().lower().startswith("bearer"):
        return failed("key", "auth.malformed", f"{seen}: the value starts with 'Bearer'",
                      "Store the key alone; the client adds 'Bearer ' itself.")
    stray = whitespace_problem(raw)
    if stray:
        return failed("key", "auth.key_whitespace", f"{seen}: the key has {stray}; the checks below used it "
                      "stripped", f"Strip the key where it is stored ({source}): no newline, spaces or quotes, "
                      "then restart the client so it rereads it.")
    mine = key_platform(raw)
    shape = diagnose_key(raw)
    if shape is not None and shape.code == "key_truncated":
        return warned("key", "auth.key_invalid", f"{seen}: shorter than the keys Seawall issues ({shape.detail})",
                      "If the gateway refuses it, copy the key again, whole.")
    if mine is not None:
        platform, name = mine
        accepts = _ACCEPTS.get(endpoint or "")
        wrong = platform not in accepts if accepts is not None else platform in ("anthropic", "gemini")
        if wrong:
            where = endpoint or f"the OpenAI-compatible API at {host}"
            home = HOME.get(platform)
            return failed("key", "auth.wrong_platform", f"{seen}: {name} key sent to {where}",
                          f"Use a key issued by {endpoint or 'the service at ' + host}"
                          + (f", or point the base URL at {home}." if home else "."))
    return passed("key", seen)


# -- the base URL ----------------------------------------------------------------------------------

_VERSION = re.compile(r"/v\d+(?:alpha|beta)?\d*(?=/|$)")


def fixed_base_url(base_url: str) -> str | None:
    """The base URL with its mistake undone (a full endpoint cut off, /v1 added once), or None."""
    parts = urlsplit(base_url)
    path = re.sub(r"(?:/v1)+(?=/|$)", "/v1", parts.path.rstrip("/"))
    for endpoint in ENDPOINTS:
        if path.endswith(endpoint):
            path = path[: -len(endpoint)]
            break
    # Anthropic's and Google's SDKs take the bare host and add /v1 (/v1beta) themselves.
    native = endpoint in ("anthropic", "gemini", "google") and path == ""
    if not _VERSION.search(path) and "/openai" not in path and not native:
        path += "/v1"
    fixed = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
    return fixed if fixed != base_url.rstrip("/") else None


def judge_base_url(base_url: str, key: str | None, endpoint: str | None) -> CheckResult:
    try:
        parts = urlsplit(base_url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as e:
        return failed("base_url", "route.base_url", f"{base_url!r} is not a URL ({e})",
                      "Use http(s)://<host>[:port]/v1.")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return failed("base_url", "route.base_url", f"{base_url!r} has no http:// or https:// scheme and host",
                      "Use http(s)://<host>[:port]/v1.")
    path = parts.path.rstrip("/")
    fixed = fixed_base_url(base_url)
    if "/v1/v1" in path + "/":
        return failed("base_url", "route.base_url", f"the path {path} has /v1 twice: the client adds the "
                      "endpoint after it", f"Set the base URL to {fixed}.")
    for ep in ENDPOINTS:
        if path.endswith(ep):
            return failed("base_url", "route.base_url", f"the path {path} is a full endpoint ({ep}); SDKs "
                          f"append {ep} to the base URL themselves", f"Set the base URL to {fixed}.")
    # Anthropic's and Google's SDKs take the bare host and add /v1 (/v1beta) themselves.
    native = endpoint in ("anthropic", "gemini", "google") and path == ""
    if not _VERSION.search(path) and "/openai" not in path and not native:
        return failed("base_url", "route.base_url", f"the path {path or '/'} lacks /v1: an SDK would call "
                      f"{path}/chat/completions, which OpenAI-style APIs don't serve",
                      f"Set the base URL to {fixed}.")
    mine = key_platform(key or "")
    if mine and endpoint in _ACCEPTS and mine[0] not in _ACCEPTS[endpoint] and mine[0] in HOME:
        return warned("base_url", "route.base_url", f"{parts.hostname} is {endpoint}'s, the key is "
                      f"{mine[1]} key", f"If the key is the right one, the host is wrong: use {HOME[mine[0]]}.")
    if parts.scheme == "http" and not _local(parts.hostname):
        return warned("base_url", "network.tls", f"http:// to {parts.hostname}: the key travels unencrypted",
                      "Use https:// for anything beyond this machine or a private network.")
    if native:
        return passed("base_url", f"{base_url} (the host, as {endpoint}'s SDK takes it: it adds the version path)")
    return passed("base_url", f"{base_url} (scheme, host and /v1 path look right)")


def _local(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith(("127.", "10.", "192.168.")) or host.endswith(".local")


# -- the proxy environment -------------------------------------------------------------------------

def proxy_for(url: str, env: Mapping[str, str]) -> tuple[str | None, str]:
    """(the proxy a client that honours the environment would use for url, the variable) or
    (None, why not). Lower-case names win, as in curl and Python's urllib."""
    parts = urlsplit(url)
    names = (f"{parts.scheme}_proxy", "all_proxy")
    for name in names:
        value = env.get(name) or env.get(name.upper())
        if value:
            no = env.get("no_proxy") or env.get("NO_PROXY") or ""
            if no and proxy_bypass_environment(parts.hostname or "", {"no": no}):
                return None, f"{name.upper()} is set but NO_PROXY ({no}) covers {parts.hostname}"
            return value, name.upper()
    return None, "no HTTP(S)_PROXY / ALL_PROXY set"


def without_credentials(proxy: str) -> str:
    parts = urlsplit(proxy if "://" in proxy else "http://" + proxy)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}"


def judge_proxy(url: str, env: Mapping[str, str]) -> CheckResult:
    proxy, why = proxy_for(url, env)
    if proxy is None:
        return passed("proxy", f"direct connection: {why}")
    return warned("proxy", "network.proxy", f"{why}={without_credentials(proxy)} applies to "
                  f"{urlsplit(url).hostname}: requests (and SDKs reading the environment) go through it",
                  "Make sure every process of the app sees the same proxy settings (don't mix direct and "
                  "proxied paths); to go direct, add the host to NO_PROXY.")


# -- CORS ------------------------------------------------------------------------------------------

def judge_cors(origin: str, base_url: str, status: int | None, headers: Mapping[str, str]) -> CheckResult:
    if origin.startswith("https://") and base_url.startswith("http://") and not _local(urlsplit(base_url).hostname
                                                                                    or ""):
        return failed("cors", "network.cors", f"an https page ({origin}) may not call an http:// API (mixed content)",
                      "Serve the API over https://.")
    allow = headers.get("access-control-allow-origin", "")
    allowed_headers = headers.get("access-control-allow-headers", "").lower()
    if status is None or allow not in (origin, "*"):
        got = f"HTTP {status}, " if status else ""
        return failed("cors", "network.cors", f"preflight from {origin}: {got}Access-Control-Allow-Origin "
                      f"{allow or 'absent'}", f"Allow the origin {origin} on the API (for Seawall: "
                      "server.cors_allowed_origins), or call the API from a server instead.")
    if "authorization" not in allowed_headers:  # a '*' does not cover Authorization (Fetch standard)
        return failed("cors", "network.cors", f"preflight from {origin}: Access-Control-Allow-Headers "
                      f"'{allowed_headers or 'absent'}' lacks authorization",
                      "The API must list 'authorization' in Access-Control-Allow-Headers.")
    return passed("cors", f"preflight from {origin}: HTTP {status}, origin and the authorization header allowed")
