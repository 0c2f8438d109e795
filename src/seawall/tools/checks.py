"""What to check first for a failure, in order: the specifics the reply itself names, then the
category's general checks (the "check first" column of docs/reference/error-taxonomy.md,
written for the person holding the failing client; errors.CHECK_FIRST is the gateway operator's).

Pure: a category and the facts `explain` found in; a list of sentences out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from seawall.decide.echoes import misrouted_path

GENERAL: dict[str, tuple[str, ...]] = {
    "auth.missing": (("Make sure the client sends a key at all: the variable it reads is set in this process "
                     "(container, CI job, service unit), not only in your shell."),
                     ("A proxy or gateway between you and the API may strip the header: call the API directly "
                     "with curl to compare.")),
    "auth.malformed": (("Send the header in exactly the shape this API wants: one scheme word, one space, the key; "
                       "no doubled 'Bearer', no key in the wrong header."),),
    "auth.key_whitespace": (("Strip the key: no trailing newline, spaces or quotes (env files, YAML and copy-paste "
                            "add them)."),),
    "auth.wrong_platform": (("Use a key issued by the service the base URL points at: a provider key does not work "
                            "on a gateway, nor one provider's key on another's API."),),
    "auth.key_invalid": (("Copy the key again, whole, from the right account or project; a truncated, old or "
                         "rotated key fails the same way."),
                         ("Check which key the running process really uses (print its first and last 4 "
                         "characters).")),
    "auth.key_revoked": (("The key was revoked or rotated: issue a new one and deploy it everywhere the old one "
                         "lived."),),
    "auth.key_expired": ("The key has expired: issue a new one (or extend it) and deploy it.",),
    "auth.org_mismatch": (("The organization / project header must match the key's own organization and project; "
                          "drop the header or fix its value."),),
    "permission.model": (("This key, project or group may not use this model: ask for access, or pick a model it "
                         "may use."),),
    "permission.ip": (("The key has an IP allowlist: add the address the server sees (your NAT, proxy or cloud "
                      "egress IP), or call from an allowed network."),),
    "permission.region": (("The provider does not serve the country or region your traffic leaves from; a VPN or "
                          "proxy changes what it sees."),),
    "permission.service_disabled": (("Enable the API for the cloud project the key belongs to, then wait a few "
                                    "minutes."),),
    "permission.channel": (("The Discord account or bot must be in the server and may View Channel, Send Messages "
                           "and Use Application Commands in that channel."),),
    "permission.policy": (("An account, organization or enterprise policy refuses this: check the account's status "
                          "and that the capability is enabled for it."),),
    "permission.key_disabled": ("The key is disabled by its owner or an admin: enable it or use another.",),
    "route.base_url": (("Check the base URL: it ends in /v1 where the API needs it, /v1 is not doubled, it is not a "
                       "full endpoint path, and it names the right host and scheme."),),
    "route.not_found": ("Check the path and the HTTP method against the API's reference.",),
    "model.not_found": (("Check the model name: spelling, date suffix, retired models, and that this account may "
                        "see it."),),
    "rate_limit.requests": ("Lower the request rate or concurrency, spread requests out, and honour Retry-After.",),
    "rate_limit.tokens": (("Send fewer tokens per minute: shorter prompts, a lower max_tokens, long requests spread "
                          "out."),),
    "rate_limit.concurrency": ("Lower the number of requests in flight at once.",),
    "rate_limit.unspecified": (("Treat it as a rate limit (wait, back off), then check the account's quota and "
                               "balance: a 429 can also mean money."),),
    "rate_limit.request_too_large": (("This one request needs more tokens than the per-minute limit: cut its input "
                                     "or max_tokens, or raise the tier; waiting won't help."),),
    "quota.exhausted": ("Check balance, billing, plan and monthly or daily quota; waiting seconds won't help.",),
    "request.invalid": (("Check the JSON shape, field types, and parameters this model supports (the message "
                        "usually names the field)."),),
    "request.context_length": (("Make prompt + max_tokens fit the model's context window: trim or summarise the "
                               "history, or use a longer-context model."),),
    "request.too_large": (("Send less per request (split documents, shrink images) or check a proxy's body-size "
                          "limit."),),
    "request.content_filter": (("A content or safety filter blocked the prompt or the output: rephrase, or check "
                               "the filter settings of the deployment."),),
    "upstream.server_error": (("Nothing on your side: retry with backoff, keep the request ID, check the provider's "
                              "status page."),),
    "upstream.bad_gateway": (("A proxy between you and the provider could not reach it: retry with backoff; if it "
                             "lasts, check that proxy."),),
    "upstream.unavailable": (("The provider is down or in maintenance: retry with backoff, fall back to another "
                             "deployment."),),
    "upstream.overloaded": ("The provider is overloaded: back off, and fall back to another deployment or model.",),
    "upstream.timeout": (("A proxy or gateway timed out before the provider answered: raise its timeout, stream "
                         "the reply, or ask for shorter output."),),
    "upstream.malformed": (("The reply was not the API's JSON (an HTML page, cut JSON): a proxy or CDN answered, "
                           "or the URL points at a web page; retry with backoff and check the base URL."),),
    "network.dns": ("Check that the host name resolves from this machine (nslookup / dig), and its spelling.",),
    "network.connect": ("Check host, port and firewall: can this machine open a connection to it at all?",),
    "network.tls": (("Check certificates: the system CA store, a corporate proxy intercepting TLS (add its CA), "
                    "the system clock, and http:// vs https://."),),
    "network.proxy": (("Check HTTP(S)_PROXY / NO_PROXY: the proxy must be reachable and accept you; don't switch "
                      "between direct and proxied paths."),),
    "network.cors": (("The browser blocked the call: the API must allow this page's origin (CORS, also on error "
                     "replies); an https page cannot call an http URL; extensions can block it. Open the browser "
                     "console; call the API from a server instead."),),
    "network.timeout": (("The client's own timeout fired first: raise it, stream the reply, or ask for shorter "
                        "output."),),
    "stream.interrupted": (("The stream ended without its end event: check proxy and gateway timeouts on the way, "
                           "keep the last chunk, retry."),),
    "stream.stalled": ("No chunk arrived within the idle timeout: retry; check proxies that buffer streams.",),
    "capacity.queue_full": ("The service is shedding load: honour Retry-After and lower concurrency.",),
    "capacity.circuit_open": (("Every deployment for this model is failing: see the provider's status, retry "
                              "later or pick another model."),),
}

AUTH_HEADER = {"openai": "Authorization: Bearer <key>", "azure": "api-key: <key> (or Authorization: Bearer <Entra "
                                                                 "token>)",
               "anthropic": "x-api-key: <key> with anthropic-version: 2023-06-01",
               "gemini": "x-goog-api-key: <key> (or ?key=<key>)", "one-api": "Authorization: Bearer sk-<key>",
               "new-api": "Authorization: Bearer sk-<key>", "midjourney-proxy": "mj-api-secret: <secret>",
               "discord": "Authorization: <token> (bots: Bot <token>)", "seawall": "Authorization: Bearer sk-sw-<key>"}
MODEL_LIST = {"openai": "GET /v1/models", "anthropic": "GET /v1/models", "gemini": "GET /v1beta/models",
              "one-api": "GET /v1/models with the same key", "new-api": "GET /v1/models with the same key",
              "seawall": "GET /v1/models with the same key",
              "azure": "the deployment names in the Azure portal (Azure wants the deployment, not the model)"}
BILLING = {"openai": "the OpenAI platform's billing and usage-limit settings",
           "anthropic": "the Anthropic console's Plans & Billing and the workspace spend limits",
           "gemini": "billing for the key's project in Google AI Studio / Cloud console (free-tier quotas are daily)",
           "one-api": "the gateway console: the key's quota and the user's balance",
           "new-api": "the gateway console: the key's quota and the user's balance",
           "azure": "the Azure subscription's quota for the resource and region"}
STATUS_PAGE = {"openai": "status.openai.com", "anthropic": "status.anthropic.com", "discord": "discordstatus.com",
               "azure": "azure.status.microsoft"}

_MODEL = (re.compile(r"the model `([^`]+)`", re.IGNORECASE), re.compile(r"^model: (\S+)"), re.compile(r"models/([\w.\-]+)"),
          re.compile(r"模型 ?[:：]? ?([\w.\-]+)"))
_CONTEXT = (re.compile(r"prompt is too long: (\d+) tokens > (\d+)"),
            re.compile(r"maximum context length is (\d+) tokens.*?(?:resulted in|requested) (\d+) tokens", re.DOTALL),
            re.compile(r"input token count \((\d+)\) exceeds the maximum number of tokens allowed \((\d+)\)"))


@dataclass(frozen=True, slots=True)
class Facts:
    provider: str | None = None
    message: str = ""
    url: str | None = None
    wait_s: float | None = None
    request_id: str | None = None
    hint: str = ""  # a Seawall error's own hint
    key_note: str = ""  # what is wrong with the key that was sent, when the dump shows it


def checks_for(category: str | None, facts: Facts, succeeded: bool = False) -> list[str]:
    if category is None and succeeded:
        return [("This reply did not fail. If the client still reports an error, explain the client's own error "
                "text (with its traceback), or capture the failing exchange with `curl -i`.")]
    if category is None:
        return [("Paste the whole failure: `curl -i` output (status line, headers, body), or the body with "
                "--status N, or the full error text with its traceback.")]
    out = [facts.hint] if facts.hint else []
    out += _specific(category, facts)
    out += [c for c in GENERAL.get(category, ()) if c not in out]
    if facts.request_id and (category.startswith(("upstream.", "stream.")) or category == "capacity.circuit_open"):
        out.append(f"Keep the request ID {facts.request_id} for the provider's support.")
    page = STATUS_PAGE.get(facts.provider or "")
    if page and category.startswith(("upstream.", "capacity.")):
        out.append(f"Check {page}.")
    return out


def _specific(category: str, facts: Facts) -> list[str]:
    p = facts.provider or ""
    host = _host(facts.url)
    if facts.key_note and category in ("auth.key_whitespace", "auth.malformed"):
        first = [f"The key sent: {facts.key_note}."]
    else:
        first = []
    if category in ("auth.missing", "auth.malformed") and p in AUTH_HEADER:
        return first + [f"{p} expects the header {AUTH_HEADER[p]}."]
    if category == "auth.key_whitespace":
        return first + [("Strip the newline, spaces and quotes around the key where it is stored, e.g. "
                        "KEY=\"$(tr -d ' \\r\\n\"' < key.txt)\"; then restart the client so it rereads it.")]
    if category == "auth.wrong_platform":
        return first + [(f"Use a key issued by {p or 'the service at the base URL'} (sk-ant- is Anthropic, "
                        f"sk-proj- OpenAI, AIza Google, sk-sw- Seawall), or point the base URL at the platform "
                        f"that issued this key.")]
    if category == "route.base_url":
        fixed = _fixed_base_url(facts.url)
        return [f"Set the base URL to {fixed} (the SDK appends /chat/completions etc.)." if fixed else
                "Add /v1 to the base URL (https://<host>/v1), once; don't paste a full endpoint path."]
    if category == "model.not_found":
        name = _first(_MODEL, facts.message)
        listing = MODEL_LIST.get(p)
        return [f"Check the model name '{name}' (spelling, date suffix, retired)." if name else
                "Check the model name (spelling, date suffix, retired).",
                *([f"List the models this key may use: {listing}."] if listing else [])]
    if category.startswith("rate_limit.") and category != "rate_limit.request_too_large" and facts.wait_s:
        return [f"Wait {facts.wait_s:g} s before retrying (the reply says so), then slow down."]
    if category == "quota.exhausted" and p in BILLING:
        return [f"Check {BILLING[p]}."]
    if category == "request.context_length":
        numbers = _first_pair(_CONTEXT, facts.message)
        if numbers:
            limit, used = (numbers[1], numbers[0]) if "prompt is too long" in facts.message or "input token" in \
                facts.message else numbers
            if used > limit:
                return [f"The input is {used} tokens against a limit of {limit}: cut at least {used - limit}."]
    if category in ("network.dns", "network.connect", "network.tls") and host:
        command = {"network.dns": f"nslookup {host}", "network.connect": f"curl -v https://{host}/",
                   "network.tls": f"openssl s_client -connect {host}:443 -servername {host}"}[category]
        return [f"Try from the same machine: {command}"]
    if category == "permission.channel":
        return ["Check the channel id and that the account can open that channel in the Discord client."]
    return first


def _fixed_base_url(url: str | None) -> str | None:
    if not url or not misrouted_path(urlsplit(url if "://" in url else "https://" + url).path):
        return None
    parts = urlsplit(url if "://" in url else "https://" + url)
    path = re.sub(r"(?:/v1)+(?=/|$)", "/v1", parts.path)
    prefix = re.split(r"/(?:v1/)?(?:chat/completions|completions|embeddings|responses|messages|models)", path)[0]
    prefix = prefix.removesuffix("/v1")
    return f"{parts.scheme}://{parts.netloc}{prefix}/v1"


def _host(url: str | None) -> str:
    if not url:
        return ""
    try:
        return urlsplit(url if "://" in url else "https://" + url).hostname or ""
    except ValueError:
        return ""


def _first(patterns, text: str) -> str | None:
    for pattern in patterns:
        m = pattern.search(text)
        if m:
            return m.group(1)
    return None


def _first_pair(patterns, text: str) -> tuple[int, int] | None:
    for pattern in patterns:
        m = pattern.search(text)
        if m:
            return int(m.group(1)), int(m.group(2))
    return None
