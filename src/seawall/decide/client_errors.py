"""The text of a failure as a client saw it -> a taxonomy category.

What people paste is rarely a clean reply: an SDK exception (`openai.RateLimitError: Error code:
429 - {...}`, `google.genai.errors.ClientError: 429 RESOURCE_EXHAUSTED. {...}`, openai-node's
`429 You exceeded ...`), a traceback whose root cause is three lines up, a browser's "Failed to
fetch", curl's `curl: (6) Could not resolve host`, Node's `getaddrinfo ENOTFOUND`. Pure: text in,
a Classification out (or None when the text names no known failure).

An SDK message that carries a status and a body goes through the reply classifier, so a pasted
exception and the raw reply get the same answer. Otherwise the rules below are read in order, most
specific first: a proxy or TLS failure usually also says "connection refused", and a traceback
names its root cause before the SDK's generic "Connection error.".
"""

from __future__ import annotations

import ast
import re

import orjson

from seawall.decide.bodies import guess_provider, normal_provider, read_error_fields
from seawall.decide.classify import ADVICE, Classification, classify_failure
from seawall.decide.keys import key_platform, whitespace_problem

BARE_FETCH_FAILURE = ("the browser's fetch failed without saying why: a CORS refusal, a gateway that is down or "
                      "not listening there, or a wrong URL all read so")

# (category, why, pattern) — case-insensitive, searched anywhere in the text, first match wins.
_NETWORK: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple((c, w, re.compile(p, re.IGNORECASE)) for c, w, p in (
    ("network.proxy", "the HTTP(S) proxy failed or refused the connection",
     (r"proxyerror|unable to connect to proxy|cannot connect to proxy|proxy authentication required|tunnel "
     r"connection failed|err_proxy_connection_failed|err_tunnel_connection_failed|proxyconnect tcp|could not "
     r"resolve proxy|clientproxyconnectionerror|socks[45]? (?:proxy|error|connection)|curl: \((?:5|97)\)")),
    ("network.tls", ("TLS spoken to a plain-HTTP port (or through an HTTP proxy): check http:// vs https:// and "
                    "the port"), r"wrong_version_number|wrong version number|err_ssl_protocol_error"),
    ("network.tls", "the TLS handshake or certificate check failed",
     (r"certificate_verify_failed|certificate verify failed|sslcertverificationerror|self[- ]signed certificate|"
     r"unable to get local issuer certificate|unable_to_verify_leaf_signature|unable_to_get_issuer_cert|"
     r"depth_zero_self_signed_cert|self_signed_cert_in_chain|cert_has_expired|certificate has expired|err_cert_|"
     r"x509: |tls: |tlsv1_alert|sslv3_alert|handshake failure|\beproto\b|hostname mismatch|"
     r"err_tls_cert_altname_invalid|ssl certificate problem|clientconnectorcertificateerror|clientsslerror|"
     r"\bsslerror\b|\[ssl[:\]]|pkix path building failed|valid certification path|curl: \((?:35|51|60)\)")),
    ("network.dns", "the host name does not resolve from this network",
     (r"enotfound|eai_again|getaddrinfo failed|name or service not known|nodename nor servname|temporary failure "
     r"in name resolution|no address associated with hostname|could not resolve host|nameresolutionerror|failed "
     r"to resolve|clientconnectordnserror|no such host|err_name_not_resolved|\[errno (?:-2|-3|-5|8|11001|11004)\]|"
     r"curl: \(6\)")),
    ("network.cors", "the browser blocked the call (CORS, mixed content or an extension)",
     (r"\bcors\b|access-control-allow-origin|cross-origin request blocked|err_blocked_by_client|mixed content|"
     r"preflight")),
    ("stream.stalled", "the stream went quiet past the idle timeout",
     r"und_err_body_timeout|body ?timeout ?error|stream (?:stalled|idle)|idle timeout|no chunk (?:for|within)"),
    ("stream.interrupted", "the stream ended before its terminal event",
     (r"incomplete chunked read|peer closed connection without sending complete message body|remoteprotocolerror|"
     r"chunkedencodingerror|incompleteread|response ended prematurely|clientpayloaderror|response payload is not "
     r"completed|transferencodingerror|typeerror: terminated|premature close|err_stream_premature_close|"
     r"unexpected eof|err_incomplete_chunked_encoding|stream (?:ended|closed) (?:before|without|unexpectedly)|"
     r"ended before it was complete|curl: \((?:18|92)\)")),
    ("network.connect", "connecting timed out: the host or port is unreachable (firewall, wrong port, VPN)",
     (r"connecttimeout|connect etimedout|connection timed out|und_err_connect_timeout|connect timeout error|"
     r"did not properly respond after a period of time|dial tcp [^\n]*i/o timeout")),
    ("network.timeout", "the client's own timeout fired before the reply",
     (r"readtimeout|read timed out|apitimeouterror|request timed out|timeouterror|timed out|esockettimedout|"
     r"etimedout|context deadline exceeded|client\.timeout exceeded|und_err_headers_timeout|headers timeout|"
     r"err_timed_out|aborted due to timeout|timeoutexception|socket timeout|curl: \(28\)")),
    ("network.connect", "the connection was refused, reset or dropped: host, port, firewall",
     (r"connection refused|econnrefused|econnreset|connection reset|connectionreseterror|ehostunreach|enetunreach|"
     r"no route to host|network is unreachable|connecterror|apiconnectionerror|connection error|remotedisconnected|"
     r"server disconnected|serverdisconnectederror|socket hang up|\bepipe\b|broken pipe|err_connection_|"
     r"err_internet_disconnected|err_network_changed|econnaborted|connection aborted|und_err_socket|fetch failed|"
     r"cannot connect to host|failed to establish a new connection|other side closed|empty reply from server|"
     r"curl: \((?:7|52|56)\)")),
    # Last: a browser's bare fetch failure hides its cause from the script on purpose (the same words
    # for a CORS refusal, a gateway that is down and a wrong URL); the checks say how to tell them apart.
    ("network.cors", BARE_FETCH_FAILURE,
     r"failed to fetch|networkerror when attempting to fetch|^\s*(?:typeerror: )?load failed"),
))

# A client library refusing to send a header: a newline, a carriage return or a character outside
# Latin-1 in its value. In practice an API key read with its trailing newline, or pasted with
# typographic quotes. Exact texts from each stack's source: (stack, pattern); a `value` group is the
# refused value as the library printed it (a Python repr, or quoted), a `header` group its name.
_LITERAL = r"b?'(?:[^'\\]|\\.)*'|b?\"(?:[^\"\\]|\\.)*\""
_HEADER_REFUSALS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((who, re.compile(p, re.IGNORECASE | re.DOTALL)) for who, p in (
    ("h11 (httpx, httpcore: the openai and anthropic SDKs)", rf"illegal header value (?P<value>{_LITERAL})"),
    ("requests", (r"invalid leading whitespace, reserved character\(s\), or return character\(s\) in header "
                  rf"value: (?P<value>{_LITERAL})")),
    ("http.client / urllib3", rf"invalid header value (?P<value>{_LITERAL})"),
    ("Node's http", r"invalid character in header content \[\"(?P<header>[\w-]+)\"\]"),
    ("Node's fetch (undici)", r"headers\.(?:append|set): \"(?P<quoted>.*?)\" is an invalid header value"),
    ("Go's net/http", r"net/http: invalid header field value (?:for \"(?P<header>[\w-]+)\"|(?P<quoted>\".*?\") for key "
                      r"(?P<key_header>[\w-]+))"),
    ("aiohttp", (r"forbidden control character detected in headers|newline or carriage return character detected in "
                 r"http status message or header")),
    ("httpx", r"codec can't encode character .{0,80}?\(header '(?P<header>[\w-]+)'\)"),
    ("http.client", r"in putheader\b.*?unicodeencodeerror: 'latin-1' codec can't encode character"),
    ("Node's fetch (undici)", r"cannot convert argument to a bytestring because the character at index \d+ has a value "
                              r"of \d+"),
))
_KEY_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key", "mj-api-secret"})


def header_refusal(text: str, provider: str | None = None) -> Classification | None:
    """A client stack's own refusal to send a header: before any request left (auth.key_whitespace
    for a key's header; request.invalid for another header's value)."""
    for who, pattern in _HEADER_REFUSALS:
        m = pattern.search(text)
        if m is None:
            continue
        groups = m.groupdict()
        header = (groups.get("header") or groups.get("key_header") or "").lower()
        value = _refused_value(groups.get("value"), groups.get("quoted"))
        is_key = header in _KEY_HEADERS or (not header and (value is None or _looks_like_key(value)))
        if not is_key:
            return Classification("request.invalid", "no", None, None, (
                f"{who} refused to send the header {header or 'value'} (a newline, carriage return or non-Latin-1 "
                f"character in it): the request never left",), provider)
        token = value.split(" ", 1)[1] if value and value.lower().startswith("bearer ") else value
        found = whitespace_problem(token) if token else None
        what = found or ("a character outside ASCII in it (typographic quotes or an invisible character copied with "
                         "it)" if "encode" in m.group(0).lower() or "bytestring" in m.group(0).lower() else
                         "a newline or carriage return in it")
        return Classification("auth.key_whitespace", "no", None, None, (
            f"{who} refused to send the {header or 'API key'} header: the key has {what}; the request never left "
            f"this machine",), provider)
    return None


def _refused_value(literal: str | None, quoted: str | None) -> str | None:
    """The value as it was: a Python repr or Go's %q unescaped; undici's quotes hold it raw."""
    text = literal if literal is not None else quoted
    if text is None:
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text.strip('"') if quoted is not None else None
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _looks_like_key(value: str) -> bool:
    token = value.split(" ", 1)[1] if value.lower().startswith("bearer ") else value
    return value.lower().startswith("bearer ") or key_platform(token.strip()) is not None or (
        len(token.strip()) >= 20 and " " not in token.strip())


# An SDK exception's class when its text carries no status (§1.3, §3.3, google.api_core).
_CLASS_STATUS = {"badrequesterror": 400, "invalidrequesterror": 400, "authenticationerror": 401, "permissiondeniederror": 403,
                 "notfounderror": 404, "conflicterror": 409, "requesttoolargeerror": 413,
                 "unprocessableentityerror": 422, "ratelimiterror": 429, "internalservererror": 500,
                 "serviceunavailableerror": 503, "deadlineexceedederror": 504, "overloadederror": 529,
                 "invalidargument": 400, "unauthenticated": 401, "permissiondenied": 403, "notfound": 404,
                 "resourceexhausted": 429, "toomanyrequests": 429, "serviceunavailable": 503,
                 "deadlineexceeded": 504, "badgateway": 502}
_CLASS_ONLY: dict[str, tuple[str, str]] = {
    "contentfilterfinishreasonerror": ("request.content_filter", ("the reply stopped with finish_reason "
                                                                 "content_filter")),
    "lengthfinishreasonerror": ("request.context_length", ("the reply hit max_tokens (finish_reason length) before "
                                                          "the structured output was complete")),
}

_EXCEPTION = re.compile(r"(?<![\w.])([A-Za-z_][\w.]{0,80}?(?:Error|Exception|Exhausted|Denied|Unavailable|NotFound|"
                        r"Unauthenticated|Argument|Exceeded|TooManyRequests|BadGateway))\b")
# Where SDKs and HTTP libraries put the status, most specific first.
_STATUS_FORMS = (
    re.compile(r"Error code: (\d{3})(?: - )?(.*)", re.DOTALL),  # openai/anthropic python, litellm
    re.compile(r"(?:Client|Server)Error: (\d{3}) [A-Z_]+\.? ?(.*)", re.DOTALL),  # google-genai
    re.compile(r"(?:Client|Server) error '(\d{3})[^']*' for url '[^']*'(.*)", re.DOTALL),  # httpx
    re.compile(r"(\d{3}) (?:Client|Server) Error: [^\n]*? for url: \S+(.*)", re.DOTALL),  # requests
    re.compile(r"HTTP Error (\d{3}): ?(.*)", re.DOTALL),  # urllib
    re.compile(r"HTTP/\d(?:\.\d)? (\d{3})\b(.*)", re.DOTALL),
    re.compile(r"status(?: code|_code|Code)?[\s:=]+(\d{3})\b(.*)", re.DOTALL | re.IGNORECASE),  # axios, Go clients, logs
    re.compile(r"(?:GET|POST|PUT|PATCH|DELETE) https?://\S+ (\d{3})\b(.*)", re.DOTALL),  # a browser console
    re.compile(r"(?<![\w.])[\w.]{0,80}(?:Error|Exception|Exhausted|Denied|Unavailable|NotFound|Unauthenticated|"
               r"Argument|Exceeded|TooManyRequests|BadGateway): (\d{3})\b[ .:-]*(.*)", re.DOTALL),  # openai-node, api_core
    re.compile(r"\b([45]\d\d):? (?:Bad Request|Unauthorized|Payment Required|Forbidden|Not Found|Request Entity Too "
               r"Large|Payload Too Large|Too Many Requests|Internal Server Error|Bad Gateway|Service Unavailable|"
               r"Gateway Time-?out)\b(.*)", re.DOTALL | re.IGNORECASE),  # a status and its reason phrase anywhere
)
_URL = re.compile(r"https?://[^\s'\"<>)\]]+")
_MAX_TEXT = 256 * 1024  # an error text longer than this is read at both ends
_MAX_LITERAL = 200_000  # ast.literal_eval on a pasted dict; past this, the text is not an exception message


def classify_client_error(text: str, now: float = 0.0, provider: str | None = None) -> Classification | None:
    """Classify the text of a client-side failure; None when it names nothing known."""
    if not text.strip():
        return None
    if len(text) > _MAX_TEXT:  # the cause is at the end of a traceback, the request at its start
        text = text[:_MAX_TEXT // 2] + "\n…\n" + text[-_MAX_TEXT // 2:]
    provider = normal_provider(provider) or _provider_in_text(text)
    refused = header_refusal(text, provider)  # before "Connection error.", which the SDKs wrap it in
    if refused is not None:
        return refused
    status, body, form = _status_and_body(text)
    if status or body is not None:
        found = classify_failure(status, {}, body if body is not None else "", now, provider)
        if found is not None and (status or found.provider_code):
            return _with(found, form)
    for category, why, pattern in _NETWORK:
        m = pattern.search(text)
        if m:
            return Classification(category, ADVICE[category], None, None,
                                  (f"the text says {m.group(0).strip()!r}", why), provider)
    for m in _EXCEPTION.finditer(text):
        name = m.group(1).rsplit(".", 1)[-1].lower()
        if name in _CLASS_ONLY:
            category, why = _CLASS_ONLY[name]
            return Classification(category, ADVICE[category], None, None, (f"{m.group(1)}", why), provider)
        if name in _CLASS_STATUS:
            found = classify_failure(_CLASS_STATUS[name], {}, text[m.end():m.end() + 2000].lstrip(": "), now,
                                     provider)
            if found is not None:
                return _with(found, f"{m.group(1)} means HTTP {_CLASS_STATUS[name]}")
    if re.search(r"an error occurred during streaming", text, re.IGNORECASE):
        return Classification("upstream.server_error", "backoff", None, None,
                              ("openai APIError: the provider sent an error event mid-stream; its body has the detail",),
                              provider)
    return None


def _with(found: Classification, note: str) -> Classification:
    return Classification(found.category, found.retry, found.wait_s, found.provider_code,
                          (note, *found.evidence), found.provider)


def _status_and_body(text: str) -> tuple[int, object | None, str]:
    """The status an SDK or HTTP library printed and the body after it (JSON or a Python dict
    repr), or a body alone (anthropic's mid-stream APIStatusError prints only the dict, §3.5)."""
    for form in _STATUS_FORMS:
        matches = list(form.finditer(text))
        if matches:
            m = matches[-1]  # a traceback ends with the exception that was raised
            status = int(m.group(1))
            if 100 <= status <= 599:
                rest = m.group(2)
                # no body after the status: an empty object, so the status decides (not "an empty reply")
                return status, _body_in(rest) or rest.strip().split("\n", 1)[0][:2000] or {}, \
                    f"the text reports HTTP {status}: {m.group(0).strip()[:80]!r}"
    body = _body_in(text)
    if isinstance(body, (dict, list)) and read_error_fields(body).failed:
        return 0, body, "the text carries an error body (no status)"
    return 0, None, ""


def _body_in(text: str) -> object | None:
    start = text.find("{")
    end = text.rfind("}")
    if start < 0 or end <= start:
        return None
    candidate = text[start:end + 1]
    try:
        return orjson.loads(candidate)
    except orjson.JSONDecodeError:
        pass
    if len(candidate) > _MAX_LITERAL:
        return None
    try:
        return ast.literal_eval(candidate)  # the SDKs print the body as a Python dict (None, True, '…')
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _provider_in_text(text: str) -> str | None:
    url = _URL.search(text)
    if url:
        guessed, _ = guess_provider({}, read_error_fields(None), url.group(0))
        if guessed:
            return guessed
    if re.search(r"\banthropic\.\w+Error", text):
        return "anthropic"
    if re.search(r"google\.genai|google\.api_core|generativelanguage", text):
        return "gemini"
    return None
