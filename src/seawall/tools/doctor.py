"""`seawall doctor`: the troubleshooting checklist gateway users are told to follow, run against an
endpoint.

Order (the gateway guides' "check the base URL, the key, the model name, the group and
permissions, the limits"; "strip the key, don't switch proxies, concurrency 1 then up"):

    key · base_url · proxy · dns · tcp · tls · cors · models · model · completion · stream ·
    rate_limit_headers · ramp · gateway_ready · gateway_key (a Seawall gateway's own view)

Every check runs or says why it was skipped; the first failure is the first thing to fix.
Judgements are pure: doctor_checks.py (key, URL, proxy, CORS) and doctor_replies.py (what came
back over HTTP); probes are in doctor_net.py. Requests are the smallest
that prove each point: one model list, one one-token completion, one short stream, and with
--concurrency N the ramp 1, 2, 4 … N, stopping at the first refused step.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from urllib.parse import urlsplit

from seawall.tools import doctor_checks as judge
from seawall.tools import doctor_net as net
from seawall.tools import doctor_replies as heard
from seawall.tools.doctor_api import api_for
from seawall.tools.doctor_checks import CheckResult, failed, passed, skipped
from seawall.tools.doctor_replies import Level, Reply

# Where the key comes from when no --api-key* option is given, first set wins: the provider's own
# variable for a known host, then OPENAI_API_KEY (what the OpenAI SDKs read).
KEY_ENVS = {"anthropic": ("ANTHROPIC_API_KEY",), "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
            "azure": ("AZURE_OPENAI_API_KEY",), "seawall": ("SEAWALL_KEY",)}
DEFAULT_KEY_ENV = "OPENAI_API_KEY"


@dataclass(frozen=True, slots=True)
class Options:
    base_url: str
    key: str | None  # as read, whitespace and all: the point is to see what the environment holds
    key_source: str
    model: str | None = None
    provider: str | None = None
    concurrency: int | None = None
    origin: str | None = None
    timeout: float = 15.0


def read_key(api_key: str | None, env_name: str | None, path: str | None, environ: Mapping[str, str],
             endpoint: str | None) -> tuple[str | None, str]:
    """(the key exactly as stored, where it came from / what was searched). Nothing is stripped."""
    if api_key is not None:
        return api_key, "--api-key"
    if env_name:
        return environ.get(env_name), f"${env_name}" + ("" if env_name in environ else " (not set)")
    if path:
        try:
            with open(path, encoding="utf-8", newline="") as handle:
                return handle.read(), f"the file {path}"
        except OSError as e:
            return None, f"the file {path} cannot be read ({e.strerror or e})"
    names = (*KEY_ENVS.get(endpoint or "", ()), DEFAULT_KEY_ENV)
    for name in names:
        if environ.get(name):
            return environ[name], f"${name}"
    return None, f"no --api-key/--api-key-env/--api-key-file, and {', '.join('$' + n for n in names)} not set"


def usable_key(raw: str | None) -> str | None:
    """The key the checks call with: the stored one stripped of what the key check already
    reported (whitespace, quotes, a 'Bearer ' prefix), so the rest of the list still runs."""
    key = (raw or "").strip().strip("\"'`").strip()
    if key.lower().startswith("bearer "):
        key = key[7:].strip()
    return key or None


async def diagnose(opts: Options, environ: Mapping[str, str], now: float) -> list[CheckResult]:
    endpoint = judge.endpoint_platform(opts.base_url, opts.provider)
    parts = urlsplit(opts.base_url)
    host = parts.hostname or ""
    checks = [judge.judge_key(opts.key, opts.key_source, endpoint, host),
              judge.judge_base_url(opts.base_url, opts.key, endpoint)]
    if checks[1].status == "fail" and not host:
        return checks + [skipped(n, "the base URL has no host") for n in _AFTER_URL]
    checks.append(judge.judge_proxy(opts.base_url, environ))
    port = _port(parts)
    proxy, _ = judge.proxy_for(opts.base_url, environ)
    target_host, target_port = (urlsplit(proxy).hostname or "", urlsplit(proxy).port or 80) if proxy else (host, port)
    via = f" (the proxy {judge.without_credentials(proxy)})" if proxy else ""
    addresses, why = await net.resolve(target_host, target_port, opts.timeout)
    if why:
        checks.append(failed("dns", "network.proxy" if proxy else "network.dns", why + via,
                             heard.TRANSPORT["proxy" if proxy else "dns"][1]))
        return checks + [skipped(n, "the host does not resolve") for n in _AFTER_URL[2:]]
    checks.append(passed("dns", f"{target_host}{via} -> {', '.join(addresses[:4])}"))
    took, why = await net.connect(addresses[0], target_port, opts.timeout)
    if why:
        checks.append(failed("tcp", "network.proxy" if proxy else "network.connect", why + via,
                             heard.TRANSPORT["proxy" if proxy else "connect"][1]))
        return checks + [skipped(n, "no TCP connection") for n in _AFTER_URL[3:]]
    checks.append(passed("tcp", f"connected to {addresses[0]}:{target_port}{via} in {took:.1f} ms"))
    checks.append(await _tls(parts, host, port, proxy, opts.timeout))
    async with net.Prober(opts.timeout) as prober:
        checks += await _http_checks(prober, opts, endpoint, now)
    return checks


_AFTER_URL = ("proxy", "dns", "tcp", "tls", "cors", "models", "model", "completion", "stream", "rate_limit_headers",
              "ramp", "gateway")


def _port(parts) -> int:
    try:
        return parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return 443 if parts.scheme == "https" else 80


async def _tls(parts, host: str, port: int, proxy: str | None, timeout: float) -> CheckResult:
    if parts.scheme != "https":
        return skipped("tls", "http:// — no TLS")
    if proxy:
        return skipped("tls", "TLS is tunnelled through the proxy; the HTTP checks below go through it")
    what, why = await net.handshake(host, port, timeout)
    if why and "WRONG_VERSION_NUMBER" in why:  # OpenSSL's word for a plain-HTTP answer to a ClientHello
        return failed("tls", "network.tls", f"{host}:{port} answers in plain HTTP, not TLS ({why})",
                      f"Use http:// for port {port}, or the port that serves https://.")
    if why:
        return failed("tls", "network.tls", why, heard.TRANSPORT["tls"][1])
    return passed("tls", what or "")


async def _http_checks(prober: net.Prober, opts: Options, endpoint: str | None, now: float) -> list[CheckResult]:
    base = opts.base_url.rstrip("/")
    checks: list[CheckResult] = []
    if opts.origin:
        preflight = await prober.request("OPTIONS", base + "/chat/completions", {
            "origin": opts.origin, "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type"})
        checks.append(judge.judge_cors(opts.origin, base, preflight.status, preflight.headers))
    else:
        checks.append(skipped("cors", "no --origin: a browser app's preflight was not tried"))
    key = usable_key(opts.key)
    if key is None:
        return checks + [skipped(n, "no key to call the API with") for n in _AFTER_URL[5:]]
    api = api_for(endpoint)
    base = api.base(base)
    auth = api.headers(key)
    listing = await prober.request("GET", base + "/models", auth)
    replies = [listing]
    retried = None
    if listing.status is not None and not heard.is_model_list(listing):
        fixed = judge.fixed_base_url(base)
        again = await prober.request("GET", fixed + "/models", auth) if fixed else None
        if again is not None and heard.is_model_list(again):
            retried = fixed
    models = heard.judge_models(listing, endpoint, f"{base}/models", now, retried)
    if retried:
        listing, base = again, retried
    checks.append(models)
    ids = heard.model_ids(listing.json()) if listing.status == 200 else []
    if models.status == "fail" and not retried and (
            models.category.startswith(("auth.", "network.")) or models.category in ("permission.ip", "route.base_url",
                                                                                     "route.not_found")):
        why = f"the model list failed ({models.category}); the same key and URL would fail the same way"
        checks += [skipped(n, why) for n in ("model", "completion", "stream", "rate_limit_headers", "ramp")]
        return checks + [r for r, _ in await _gateway(prober, base, auth, replies, opts.model)]
    model = opts.model or heard.choose_model(ids)
    if model is None:
        checks.append(skipped("model", "no --model given and the list names no chat model"))
        checks += [skipped(n, "no model to call") for n in ("completion", "stream", "rate_limit_headers", "ramp")]
        return checks + [r for r, _ in await _gateway(prober, base, auth, replies, None)]
    checks.append(heard.judge_model(model, ids, opts.model is not None) if ids else
                  skipped("model", f"the endpoint listed no models; {model} is tried below"))
    url, body = api.call(base, model, 1)
    one = await prober.request("POST", url, auth, body)
    replies.append(one)
    completion = heard.judge_completion(one, model, endpoint, url, now)
    checks.append(completion)
    # A refusal of the request itself (key, permission, model, route) would only repeat.
    final = completion.status == "fail" and completion.category.startswith(_FINAL)
    if final:
        checks.append(skipped("stream", f"the completion was refused ({completion.category}); a stream would be too"))
    else:
        stream_url, stream_body = api.call(base, model, 5, stream=True)
        stream = await prober.request("POST", stream_url, auth, stream_body)
        replies.append(stream)
        checks.append(heard.judge_stream(stream, endpoint, stream_url, now))
    gateway = await _gateway(prober, base, auth, replies, model)
    checks.append(heard.judge_rate_headers(replies, _gateway_limits(gateway)))
    if final:
        checks.append(skipped("ramp", f"the completion was refused ({completion.category}); a ramp would only "
                                      "repeat it"))
    else:
        checks.append(await _ramp(prober, url, auth, body, opts.concurrency, endpoint, now))
    return checks + [r for r, _ in gateway]


_FINAL = ("auth.", "permission.", "model.", "route.", "request.", "quota.")


async def _ramp(prober: net.Prober, url: str, auth: dict, body: dict, concurrency: int | None,
                endpoint: str | None, now: float) -> CheckResult:
    if not concurrency:
        return skipped("ramp", "no --concurrency N: the ramp 1, 2, 4 … N was not run")
    levels = []
    for size in heard.ramp_sizes(concurrency):
        got = await asyncio.gather(*(prober.request("POST", url, auth, body) for _ in range(size)))
        refusal = next((r for r in got if r.status != 200), None)
        levels.append(Level(size, tuple(r.status for r in got), tuple(r.elapsed_ms for r in got), refusal))
        if refusal is not None:
            break  # never more than the ramp needs: the step that fails is the answer
    return heard.judge_ramp(levels, endpoint, url, now)


async def _gateway(prober: net.Prober, base: str, auth: dict, replies: list[Reply],
                   model: str | None) -> list[tuple[CheckResult, object]]:
    """A Seawall gateway's own view: /readyz (circuits, log backlog) and the key's permissions."""
    if not heard.is_seawall(replies):
        return [(skipped("gateway", "not a Seawall gateway (no req_… x-request-id): no gateway view to read"), None)]
    root = base.rsplit("/v1", 1)[0]
    ready = await prober.request("GET", root + "/readyz")
    mine = await prober.request("GET", base + "/seawall/key", auth)
    body = mine.json() if mine.status == 200 else None
    return [(heard.judge_gateway_ready(ready, model), None),
            (heard.judge_gateway_key(mine, model), body.get("limits") if isinstance(body, dict) else None)]


def _gateway_limits(gateway: list[tuple[CheckResult, object]]) -> list | None:
    for _, limits in gateway:
        if isinstance(limits, list):
            return limits
    return None


# -- output ----------------------------------------------------------------------------------------

def first_fix(checks: list[CheckResult]) -> dict | None:
    first = next((c for c in checks if c.status == "fail"), None)
    return {"category": first.category, "fix": first.fix} if first else None


def to_json(checks: list[CheckResult]) -> str:
    return json.dumps({"checks": [asdict(c) for c in checks], "first_fix": first_fix(checks)}, ensure_ascii=False,
                      indent=2)


_MARK = {"pass": "pass", "fail": "FAIL", "warn": "warn", "skipped": "skip"}


def render(checks: list[CheckResult]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        tag = f" [{c.category}]" if c.category and c.status != "pass" else ""
        lines.append(f"{_MARK[c.status]:4}  {c.name:{width}}  {c.evidence}{tag}")
        if c.fix and c.status in ("fail", "warn"):
            lines.append(f"{'':4}  {'':{width}}  fix: {c.fix}")
    fix = first_fix(checks)
    counts = {s: sum(1 for c in checks if c.status == s) for s in _MARK}
    lines.append("")
    lines.append(f"{counts['pass']} passed, {counts['fail']} failed, {counts['warn']} warnings, "
                 f"{counts['skipped']} skipped")
    lines.append(f"first fix: [{fix['category']}] {fix['fix']}" if fix else "nothing to fix")
    return "\n".join(lines)


def run(base_url: str, api_key: str | None, api_key_env: str | None, api_key_file: str | None, model: str | None,
        provider: str | None, concurrency: int | None, origin: str | None, timeout: float, as_json: bool) -> int:
    """The command. 1 when a check failed, 0 otherwise."""
    environ = dict(os.environ)
    endpoint = judge.endpoint_platform(base_url, provider)
    key, source = read_key(api_key, api_key_env, api_key_file, environ, endpoint)
    opts = Options(base_url.strip(), key, source, model, provider, concurrency, origin, timeout)
    try:
        checks = asyncio.run(diagnose(opts, environ, time.time()))
    except Exception as e:  # noqa: BLE001 — a bug here must still leave an answer, not a traceback
        checks = [failed("doctor", "upstream.server_error", f"seawall doctor itself failed: {type(e).__name__}: "
                         f"{str(e)[:200]}", "Please report this with the command line (without the key).")]
    checks = [_scrubbed(c, key) for c in checks]
    print(to_json(checks) if as_json else render(checks))
    return 1 if any(c.status == "fail" for c in checks) else 0


def _scrubbed(check: CheckResult, key: str | None) -> CheckResult:
    """Belt and braces: an upstream that echoes the key whole must not get it printed."""
    secret = (key or "").strip()
    if len(secret) < 8 or (secret not in check.evidence and secret not in (check.fix or "")):
        return check
    return replace(check, evidence=check.evidence.replace(secret, "<key>"),
                   fix=check.fix.replace(secret, "<key>") if check.fix else check.fix)
