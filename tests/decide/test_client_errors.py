"""The text of client-side failures (SDK exceptions, tracebacks, browser, Node, curl, OS) -> category."""

import pytest

from seawall.decide.client_errors import classify_client_error

OPENAI_TRACEBACK = """Traceback (most recent call last):
  File "/app/main.py", line 12, in <module>
    r = client.chat.completions.create(model="gpt-4o", messages=msgs)
  File "/usr/lib/python3.11/site-packages/openai/_base_client.py", line 1047, in request
    raise self._make_status_error_from_response(err.response) from None
openai.RateLimitError: Error code: 429 - {'error': {'message': 'You exceeded your current quota, please check your \
plan and billing details.', 'type': 'insufficient_quota', 'param': None, 'code': 'insufficient_quota'}}"""

DNS_TRACEBACK = """Traceback (most recent call last):
  File "/usr/lib/python3.11/site-packages/httpx/_transports/default.py", line 69, in map_httpcore_exceptions
    yield
httpcore.ConnectError: [Errno -2] Name or service not known

The above exception was the direct cause of the following exception:

openai.APIConnectionError: Connection error."""

CASES = [  # id, text, category, retry, wait, code
    ("openai python quota traceback", OPENAI_TRACEBACK, "quota.exhausted", "no", None, "insufficient_quota"),
    ("openai python rpm", ("openai.RateLimitError: Error code: 429 - {'error': {'message': 'Rate limit reached for "
     "gpt-4o-mini in organization org-X on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again "
     "in 20s.', 'type': 'requests', 'param': None, 'code': 'rate_limit_exceeded'}}"), "rate_limit.requests", "wait",
     20.0, "rate_limit_exceeded"),
    ("openai python invalid key", ("openai.AuthenticationError: Error code: 401 - {'error': {'message': 'Incorrect API "
     "key provided: sk-proj-****abcd. You can find your API key at https://platform.openai.com/account/api-keys.', "
     "'type': 'invalid_request_error', 'param': None, 'code': 'invalid_api_key'}}"), "auth.key_invalid", "no", None,
     "invalid_api_key"),
    ("openai python context", ("openai.BadRequestError: Error code: 400 - {'error': {'message': \"This model's maximum "
     "context length is 128000 tokens. However, your messages resulted in 130412 tokens.\", 'type': "
     "'invalid_request_error', 'param': 'messages', 'code': 'context_length_exceeded'}}"), "request.context_length",
     "no", None, "context_length_exceeded"),
    ("anthropic python overloaded", ("anthropic.InternalServerError: Error code: 529 - {'type': 'error', 'error': "
     "{'type': 'overloaded_error', 'message': 'Overloaded'}, 'request_id': 'req_011CYK5n67SytMUxm8WMZUWY'}"),
     "upstream.overloaded", "backoff", None, "overloaded_error"),
    ("anthropic mid-stream APIStatusError without status", ("anthropic.APIStatusError: {'type': 'error', 'error': "
     "{'details': None, 'type': 'overloaded_error', 'message': 'Overloaded'}}"), "upstream.overloaded", "backoff",
     None, "overloaded_error"),
    ("anthropic python credit balance", ("anthropic.BadRequestError: Error code: 400 - {'type': 'error', 'error': "
     "{'type': 'invalid_request_error', 'message': 'Your credit balance is too low to access the Anthropic API.'}}"),
     "quota.exhausted", "no", None, None),
    ("google genai per-minute", ("google.genai.errors.ClientError: 429 RESOURCE_EXHAUSTED. {'error': {'code': 429, "
     "'message': 'You exceeded your current quota.', 'status': 'RESOURCE_EXHAUSTED', 'details': [{'@type': "
     "'type.googleapis.com/google.rpc.QuotaFailure', 'violations': [{'quotaId': "
     "'GenerateRequestsPerMinutePerProjectPerModel-FreeTier'}]}, {'@type': 'type.googleapis.com/google.rpc.RetryInfo', "
     "'retryDelay': '17s'}]}}"), "rate_limit.requests", "wait", 17.0, "RESOURCE_EXHAUSTED"),
    ("google genai invalid key", ("google.genai.errors.ClientError: 400 INVALID_ARGUMENT. {'error': {'code': 400, "
     "'message': 'API key not valid. Please pass a valid API key.', 'status': 'INVALID_ARGUMENT', 'details': "
     "[{'@type': 'type.googleapis.com/google.rpc.ErrorInfo', 'reason': 'API_KEY_INVALID'}]}}"), "auth.key_invalid",
     "no", None, "API_KEY_INVALID"),
    ("google genai server error", ("google.genai.errors.ServerError: 503 UNAVAILABLE. {'error': {'code': 503, "
     "'message': 'The model is overloaded. Please try again later.', 'status': 'UNAVAILABLE'}}"),
     "upstream.overloaded", "backoff", None, None),
    ("api_core resource exhausted", ("google.api_core.exceptions.ResourceExhausted: 429 Resource has been exhausted "
     "(e.g. check quota)."), "rate_limit.unspecified", "wait", None, None),
    ("openai-node rate limit", ("RateLimitError: 429 Rate limit reached for gpt-4o on tokens per min (TPM): Limit "
     "30000, Used 29000, Requested 2000. Please try again in 2s."), "rate_limit.tokens", "wait", 2.0, None),
    ("openai-node invalid key", ("Error: 401 Incorrect API key provided: sk-abc***wxyz. You can find your API key at "
     "https://platform.openai.com/account/api-keys."), "auth.key_invalid", "no", None, None),
    ("anthropic-node json", ('Error: 401 {"type":"error","error":{"type":"authentication_error","message":"invalid '
     'x-api-key"}}'), "auth.key_invalid", "no", None, "authentication_error"),
    ("httpx status error", ("httpx.HTTPStatusError: Client error '404 Not Found' for url "
     "'https://api.openai.com/chat/completions'"), "route.not_found", "no", None, None),
    ("requests http error", ("requests.exceptions.HTTPError: 503 Server Error: Service Unavailable for url: "
     "https://api.anthropic.com/v1/messages"), "upstream.unavailable", "backoff", None, None),
    ("axios status", "AxiosError: Request failed with status code 429", "rate_limit.unspecified", "wait", None, None),
    ("litellm wrapper", ("litellm.exceptions.RateLimitError: litellm.RateLimitError: OpenAIException - Error code: "
     "429 - {'error': {'message': 'You exceeded your current quota', 'type': 'insufficient_quota', 'param': None, "
     "'code': 'insufficient_quota'}}"), "quota.exhausted", "no", None, "insufficient_quota"),
    ("class name only", "openai.RateLimitError: Rate limit reached for gpt-4o on requests per min (RPM)",
     "rate_limit.requests", "wait", None, None),
    ("content filter finish reason", ("openai.ContentFilterFinishReasonError: Could not parse response content as the "
     "request was rejected by the content filter"), "request.content_filter", "no", None, None),
    # -- network -------------------------------------------------------------------------------------
    ("python dns traceback", DNS_TRACEBACK, "network.dns", "backoff", None, None),
    ("node enotfound", "Error: getaddrinfo ENOTFOUND api.openai.com", "network.dns", "backoff", None, None),
    ("node eai_again", ("FetchError: request to https://api.openai.com/v1/chat/completions failed, reason: "
     "getaddrinfo EAI_AGAIN api.openai.com"), "network.dns", "backoff", None, None),
    ("curl dns", "curl: (6) Could not resolve host: api.anthropic.com", "network.dns", "backoff", None, None),
    ("go no such host", ('Post "https://api.openai.com/v1/chat/completions": dial tcp: lookup api.openai.com: no such '
     'host'), "network.dns", "backoff", None, None),
    ("connection refused", "httpx.ConnectError: [Errno 111] Connection refused", "network.connect", "backoff", None,
     None),
    ("node econnrefused", "Error: connect ECONNREFUSED 127.0.0.1:8100", "network.connect", "backoff", None, None),
    ("node econnreset", "Error: read ECONNRESET", "network.connect", "backoff", None, None),
    ("socket hang up", "Error: socket hang up", "network.connect", "backoff", None, None),
    ("openai connection error alone", "openai.APIConnectionError: Connection error.", "network.connect", "backoff",
     None, None),
    ("connect timeout", "httpx.ConnectTimeout: timed out", "network.connect", "backoff", None, None),
    ("node connect etimedout", "Error: connect ETIMEDOUT 104.18.7.192:443", "network.connect", "backoff", None, None),
    ("read timeout", "openai.APITimeoutError: Request timed out.", "network.timeout", "backoff", None, None),
    ("httpx read timeout", "httpx.ReadTimeout: The read operation timed out", "network.timeout", "backoff", None,
     None),
    ("go deadline", ('Post "https://api.openai.com/v1/chat/completions": context deadline exceeded (Client.Timeout '
     'exceeded while awaiting headers)'), "network.timeout", "backoff", None, None),
    ("curl timeout", "curl: (28) Operation timed out after 30001 milliseconds with 0 bytes received",
     "network.timeout", "backoff", None, None),
    ("certificate", ("ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
     "unable to get local issuer certificate (_ssl.c:1006)"), "network.tls", "no", None, None),
    ("node self-signed", "Error: self-signed certificate in certificate chain", "network.tls", "no", None, None),
    ("node expired", "Error: certificate has expired", "network.tls", "no", None, None),
    ("wrong version number", "ssl.SSLError: [SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)",
     "network.tls", "no", None, None),
    ("curl certificate", "curl: (60) SSL certificate problem: self-signed certificate in certificate chain",
     "network.tls", "no", None, None),
    ("requests proxy", ("requests.exceptions.ProxyError: HTTPSConnectionPool(host='api.openai.com', port=443): Max "
     "retries exceeded with url: /v1/chat/completions (Caused by ProxyError('Unable to connect to proxy', "
     "NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused')))"),
     "network.proxy", "no", None, None),
    ("proxy auth", "HTTP/1.1 407 Proxy Authentication Required", "network.proxy", "no", None, None),
    ("chrome failed to fetch", "TypeError: Failed to fetch", "network.cors", "no", None, None),
    ("firefox networkerror", "TypeError: NetworkError when attempting to fetch resource.", "network.cors", "no",
     None, None),
    ("cors console", ("Access to fetch at 'https://api.openai.com/v1/chat/completions' from origin 'http://localhost:"
     "3000' has been blocked by CORS policy: No 'Access-Control-Allow-Origin' header is present."), "network.cors",
     "no", None, None),
    ("httpx incomplete chunked read", ("httpx.RemoteProtocolError: peer closed connection without sending complete "
     "message body (incomplete chunked read)"), "stream.interrupted", "backoff", None, None),
    ("undici terminated", "TypeError: terminated\n    at Fetch.onAborted\n  [cause]: SocketError: other side closed",
     "stream.interrupted", "backoff", None, None),
    ("aiohttp payload", "aiohttp.client_exceptions.ClientPayloadError: Response payload is not completed",
     "stream.interrupted", "backoff", None, None),
    ("undici body timeout", ("TypeError: fetch failed\n  [cause]: BodyTimeoutError: Body Timeout Error "
     "{ code: 'UND_ERR_BODY_TIMEOUT' }"), "stream.stalled", "backoff", None, None),
    ("node fetch failed refused", "TypeError: fetch failed\n  [cause]: Error: connect ECONNREFUSED 127.0.0.1:8100",
     "network.connect", "backoff", None, None),
    ("openai streaming api error", "openai.APIError: An error occurred during streaming", "upstream.server_error",
     "backoff", None, None),
    # -- Seawall's own refusals, as an SDK prints them (only the message) ------------------------------
    ("seawall 401 openai python", ("openai.AuthenticationError: Error code: 401 - Incorrect API key provided: sk-sw-Ab"
     "**********************************wxyz. Check that the key was copied whole, from this gateway, and has not been "
     "rotated."), "auth.key_invalid", "no", None, None),
    ("seawall 401 openai-node", "Error: 401 Incorrect API key provided: sk-sw-Ab****wxyz.", "auth.key_invalid", "no",
     None, None),
    ("seawall per-second 429", ("openai.RateLimitError: Error code: 429 - Rate limit reached for key key_0f3a on "
     "requests per second (RPS): limit 2. Please try again in 500ms. The key limit rps=2 (key key_0f3a) is spent: wait "
     "Retry-After, spread the requests, or ask the gateway's admin for a higher rps."), "rate_limit.requests", "wait",
     0.5, None),
    ("seawall concurrency 429", ("RateLimitError: 429 Too many requests in flight for group batch: limit 4 at once."),
     "rate_limit.concurrency", "wait", None, None),
    # -- a browser's fetch failure: bare, or with the console's reason ---------------------------------
    ("chrome refused connection", ("POST http://127.0.0.1:8100/v1/chat/completions net::ERR_CONNECTION_REFUSED\n"
     "TypeError: Failed to fetch"), "network.connect", "backoff", None, None),
    ("chrome name not resolved", ("POST http://gatway.local/v1/chat/completions net::ERR_NAME_NOT_RESOLVED\n"
     "TypeError: Failed to fetch"), "network.dns", "backoff", None, None),
    ("safari load failed", "TypeError: Load failed", "network.cors", "no", None, None),
]

# A client stack refusing to send the key's header (a newline, a carriage return or a typographic
# quote in it): the exact texts of h11 (via httpx/httpcore, the openai and anthropic SDKs), requests,
# http.client/urllib3, Node's http and fetch, Go's net/http and aiohttp. Never network.connect,
# though the SDKs wrap them in "Connection error.".
KEY = "sk-sw-ZIwnuqizSV7FsIAHnfZH91zGcx38Hef2kXaBEnxr"
HEADER_REFUSALS = [  # id, text, category, words of the evidence
    ("openai python (h11)", (f"httpcore.LocalProtocolError: Illegal header value b'Bearer {KEY}\\n'\n\nThe above "
     "exception was the direct cause of the following exception:\n\nopenai.APIConnectionError: Connection error."),
     "auth.key_whitespace", "trailing newline"),
    ("httpx", f"httpx.LocalProtocolError: Illegal header value b'Bearer {KEY} '", "auth.key_whitespace",
     "trailing whitespace"),
    ("requests", ("requests.exceptions.InvalidHeader: Invalid leading whitespace, reserved character(s), or return "
     f"character(s) in header value: 'Bearer {KEY}\\n'"), "auth.key_whitespace", "trailing newline"),
    ("http.client", f"ValueError: Invalid header value b'Bearer {KEY}\\r\\n'", "auth.key_whitespace",
     "trailing newline"),
    ("node http", 'TypeError [ERR_INVALID_CHAR]: Invalid character in header content ["authorization"]',
     "auth.key_whitespace", "authorization"),
    ("node http x-api-key", 'TypeError [ERR_INVALID_CHAR]: Invalid character in header content ["x-api-key"]',
     "auth.key_whitespace", "x-api-key"),
    ("node fetch", f'TypeError: Headers.append: "Bearer {KEY}\nexport" is an invalid header value.',
     "auth.key_whitespace", "whitespace inside"),
    ("go net/http", ('Post "http://127.0.0.1:8100/v1/chat/completions": net/http: invalid header field value for '
     '"Authorization"'), "auth.key_whitespace", "authorization"),
    ("go net/http, older", f'net/http: invalid header field value "Bearer {KEY}\\n" for key Authorization',
     "auth.key_whitespace", "trailing newline"),
    ("aiohttp", "ValueError: Forbidden control character detected in headers. Potential header injection attack.",
     "auth.key_whitespace", "newline"),
    ("httpx smart quotes", ("UnicodeEncodeError: 'ascii' codec can't encode character '\\u201c' in position 7: "
     "ordinal not in range(128) (header 'Authorization')"), "auth.key_whitespace", "outside ASCII"),
    ("node fetch smart quotes", ("TypeError: Cannot convert argument to a ByteString because the character at index 7 "
     "has a value of 8220 which is greater than 255."), "auth.key_whitespace", "outside ASCII"),
    ("another header is not the key", 'TypeError [ERR_INVALID_CHAR]: Invalid character in header content ["x-trace"]',
     "request.invalid", "x-trace"),
]


@pytest.mark.parametrize("text,category,words", [c[1:] for c in HEADER_REFUSALS], ids=[c[0] for c in HEADER_REFUSALS])
def test_a_client_refusing_to_send_the_keys_header(text, category, words):
    c = classify_client_error(text)
    assert c.category == category and c.retry == "no", c.evidence
    assert words in c.evidence[0] and "never left" in c.evidence[0]
    assert KEY not in " ".join(c.evidence) and KEY[6:-4] not in " ".join(c.evidence)  # the key is never shown


@pytest.mark.parametrize("text", [CASES[i][1] for i, c in enumerate(CASES) if c[0].startswith("seawall")])
def test_seawalls_own_wording_names_seawall(text):
    assert classify_client_error(text).provider == "seawall"


def test_a_bare_fetch_failure_says_it_could_be_more_than_cors():
    c = classify_client_error("TypeError: Failed to fetch")
    assert c.category == "network.cors" and "down" in c.evidence[1] and "wrong URL" in c.evidence[1]


@pytest.mark.parametrize("text,category,retry,wait,code", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_client_error_text(text, category, retry, wait, code):
    c = classify_client_error(text, now=0.0)
    assert c is not None
    assert (c.category, c.retry) == (category, retry), c.evidence
    assert c.wait_s == (pytest.approx(wait) if wait is not None else None)
    if code is not None:
        assert c.provider_code == code
    assert c.evidence


@pytest.mark.parametrize("text", ["", "   \n", "hello world", "everything worked fine", "{not json", "x" * 100_000])
def test_unknown_text_is_none(text):
    assert classify_client_error(text) is None


def test_url_in_text_names_the_provider():
    c = classify_client_error("requests.exceptions.HTTPError: 529 Server Error: for url: "
                              "https://api.anthropic.com/v1/messages")
    assert c.provider == "anthropic" and c.category == "upstream.overloaded"


def test_a_huge_python_dict_is_not_evaluated():
    text = "openai.BadRequestError: Error code: 400 - {" + "'a': 1, " * 100_000 + "}"
    assert classify_client_error(text).category == "request.invalid"
