"""Every error Seawall returns, in one catalog.

    SeawallError            an ErrorKind from CATALOG + the values for its message template
      .kind.status          the HTTP status it answers with
      .kind.type            OpenAI's `error.type` (what the official SDKs read)
      .kind.code            Seawall's own stable `error.code`
      .kind.category        the failure category (docs/reference/error-taxonomy.md)
      .kind.hint            what to check first, one sentence
      .sdk_message          the message and its next step: what an SDK's str(exception) shows

The gateway renders a SeawallError in the caller's dialect (pipeline/egress.py); `explain` and
`doctor` read the same entries, so a client's error, `explain` and `doctor` never disagree.
Foreign exceptions become SeawallErrors in exactly one place per boundary: the upstream transport
(providers/transport.py) and the attempt stage (pipeline/attempt.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ErrorKind:
    code: str
    status: int
    type: str
    category: str
    message: str  # str.format template
    hint: str  # str.format template too: hints may name the value that is wrong


def _kinds(*kinds: ErrorKind) -> dict[str, ErrorKind]:
    return {k.code: k for k in kinds}


_BAD = "invalid_request_error"

CATALOG: dict[str, ErrorKind] = _kinds(
    # -- the request itself ------------------------------------------------------------------
    ErrorKind("empty_body", 400, _BAD, "request.invalid",
              "The request body is empty.",
              "Send a JSON object as the body, with Content-Type: application/json."),
    ErrorKind("invalid_json", 400, _BAD, "request.invalid",
              "The request body is not valid JSON: {detail}.",
              "Check the JSON the client sends (quoting, trailing commas, a body cut short by a proxy)."),
    ErrorKind("invalid_utf8", 400, _BAD, "request.invalid",
              "The request body is not valid UTF-8 text.",
              "Encode the JSON body as UTF-8; binary data belongs in base64 strings."),
    ErrorKind("body_not_object", 400, _BAD, "request.invalid",
              "The request body must be a JSON object, not {got}.",
              "Wrap the parameters in one JSON object: {{\"model\": ..., \"messages\": [...]}}."),
    ErrorKind("missing_field", 400, _BAD, "request.invalid",
              "Missing required parameter: '{param}'.",
              "Add '{param}' to the request body; see the API reference for {endpoint}."),
    ErrorKind("invalid_field", 400, _BAD, "request.invalid",
              "Invalid type for '{param}': expected {expected}, but got {got}.",
              "Send '{param}' as {expected}."),
    # -- pre-flight checks (pipeline/validate.py, decide/schema.py, decide/fit.py) --------------
    ErrorKind("invalid_value", 400, _BAD, "request.invalid",
              "Invalid value for '{param}': expected {expected}, but got {got}.",
              "Send '{param}' as {expected}; see the API reference for the endpoint."),
    ErrorKind("model_unsupported_parameter", 400, _BAD, "request.invalid",
              "Unsupported parameter: '{param}' is not supported with the model `{model}`. {instead}",
              "{fix}"),
    ErrorKind("model_unsupported_value", 400, _BAD, "request.invalid",
              "Unsupported value: '{param}' does not support {got} with the model `{model}`. Only the default "
              "({default}) value is supported.",
              "Leave '{param}' out for `{model}`: reasoning models fix it."),
    ErrorKind("modality_not_supported", 400, _BAD, "request.invalid",
              "The model `{model}` does not accept {modality} input ('{param}').",
              "Send {modality} only to a model that reads it, or drop that content part."),
    ErrorKind("output_too_large", 400, _BAD, "request.invalid",
              "'{param}' is too large: {got}. The model `{model}` supports at most {limit} completion tokens.",
              "Lower '{param}' to {limit} or less."),
    ErrorKind("context_length_exceeded", 400, _BAD, "request.context_length",
              "This model's maximum context length is {window} tokens. However, you requested {total} tokens "
              "({prompt} in the messages, {completion} in the completion). Please reduce the length of the "
              "messages or completion.",
              "Cut at least {excess} tokens: shorten or summarize the conversation history{or_output}. The "
              "gateway's admin can also set context_policy trim or fallback for `{model}`."),
    ErrorKind("too_many_messages", 413, _BAD, "request.too_large",
              "Too many messages: {count}; this gateway accepts at most {limit} per request for `{model}`.",
              "Trim or summarize the conversation history to {limit} messages or fewer."),
    ErrorKind("too_many_images", 413, _BAD, "request.too_large",
              "Too many images: {count}; this gateway accepts at most {limit} per request for `{model}`.",
              "Send at most {limit} images per request; split the work across requests."),
    ErrorKind("image_too_large", 413, _BAD, "request.too_large",
              "The image at '{param}' is {size} bytes; this gateway accepts inline images of at most {limit} bytes.",
              "Resize or compress the image, or send it by https URL instead of a data URL."),
    ErrorKind("unsupported_content_type", 415, _BAD, "request.invalid",
              "Unsupported Content-Type '{got}': this endpoint takes application/json.",
              "Set the header Content-Type: application/json (form posts and text/plain are not read)."),
    ErrorKind("body_too_large", 413, _BAD, "request.too_large",
              "The request body is larger than this gateway accepts ({limit} bytes).",
              "Send less per request (split documents, shrink or link images), or raise "
              "server.max_body_bytes in the gateway config."),
    ErrorKind("key_body_too_large", 413, _BAD, "request.too_large",
              "The request body is larger than this API key accepts ({limit} bytes: max_body_bytes of the "
              "{scope} '{name}').",
              "Send less per request (split documents, shrink or link images), or ask the gateway's admin to "
              "raise max_body_bytes of the {scope} '{name}' (seawall {scope}s update)."),
    ErrorKind("body_timeout", 408, _BAD, "network.timeout",
              "The request body did not arrive within {seconds} seconds.",
              "Check the client's network and any proxy buffering the upload; the body must "
              "follow the headers without pause."),
    ErrorKind("json_too_deep", 400, _BAD, "request.invalid",
              "The JSON body nests {depth} levels deep; this gateway accepts at most {limit}.",
              "Flatten the structure: no API field needs more than a few dozen levels of nesting."),
    # -- the connection (connections.py): answered before any route is read ----------------------
    ErrorKind("bad_http_request", 400, _BAD, "request.invalid",
              "The request is not valid HTTP/1.1: {detail}.",
              "{hint}"),
    ErrorKind("request_line_too_long", 414, _BAD, "request.too_large",
              "The request line (method, path and query) is longer than this gateway accepts ({limit} bytes).",
              "Send parameters in the JSON body, not the URL; the gateway's operator sets "
              "server.max_request_line_bytes."),
    ErrorKind("headers_too_large", 431, _BAD, "request.too_large",
              "The request's headers are larger than this gateway accepts ({limit} bytes, request line included).",
              "Check what adds headers on the way (cookies, a proxy's tracing headers); the gateway's operator "
              "sets server.max_header_bytes."),
    ErrorKind("header_timeout", 408, _BAD, "network.timeout",
              "The request's headers did not arrive within {seconds} seconds.",
              "Check the client's network and any proxy between it and the gateway: a request's headers must "
              "arrive without pause."),
    ErrorKind("too_many_incomplete", 429, "requests", "rate_limit.concurrency",
              "Too many connections from {address} are still sending their headers ({limit} at once at most).",
              "Open fewer connections at once and send each request's headers without pause; behind a proxy "
              "that is not in server.trusted_proxies all clients share its address: the gateway's operator "
              "raises server.max_incomplete_per_client."),
    # -- multipart/form-data uploads (pipeline/multipart.py) ----------------------------------------
    ErrorKind("not_multipart", 415, _BAD, "request.invalid",
              "Unsupported Content-Type '{got}': {endpoint} takes multipart/form-data.",
              "Send the upload as a form (the SDKs do: file=...), with Content-Type: multipart/form-data; "
              "boundary=...."),
    ErrorKind("multipart_malformed", 400, _BAD, "request.invalid",
              "The multipart/form-data body is malformed: {detail}.",
              "Let the client library build the form; check that the boundary in Content-Type matches the body "
              "and that no proxy cut or re-encoded the body."),
    ErrorKind("missing_part", 400, _BAD, "request.invalid",
              "Missing required part '{param}' in the multipart/form-data body.",
              "Add the '{param}' part to the form; see the API reference for {endpoint}."),
    ErrorKind("part_too_large", 413, _BAD, "request.too_large",
              "The part '{param}' is larger than {endpoint} accepts ({limit} bytes).",
              "Send a smaller file (split or compress the audio, resize or recompress the image)."),
    ErrorKind("not_an_image", 400, _BAD, "request.invalid",
              "The part '{param}' ({filename}) is not a PNG, JPEG, WEBP or GIF image: {detail}.",
              "Upload an image file; its first bytes decide what it is, not its name or Content-Type."),
    # -- the Responses API on translated routes (dialects/responses.py, store/conversations.py) --------
    ErrorKind("previous_response_not_found", 404, _BAD, "request.invalid",
              "Previous response with id '{response_id}' not found.",
              "Continue a response this gateway made for this API key (or one it shares with: server.share_within) "
              "within responses.retention_days ({days} days); one made with store: false, by another key, or "
              "longer ago can't be continued: send the earlier turns as input items instead."),
    ErrorKind("response_not_found", 404, _BAD, "request.invalid",
              "Response with id '{response_id}' not found.",
              "Use the id of a response this gateway made for this API key (or one it shares with) within its "
              "retention ({days} days), and made with store: true."),
    ErrorKind("responses_store_off", 400, _BAD, "request.invalid",
              "'{param}' can't be used here: this gateway keeps no Responses conversations for models served "
              "through translation (responses.store is off).",
              "Send the earlier turns as input items instead, or ask the gateway's admin to set responses.store: "
              "true."),
    ErrorKind("previous_response_elsewhere", 400, _BAD, "request.invalid",
              "Previous response with id '{response_id}' lives at the upstream of the deployment {deployment}, "
              "which doesn't serve `{model}`.",
              "Continue it with a model that upstream serves ({models}), or send the earlier turns as input items."),
    ErrorKind("response_not_cancellable", 400, _BAD, "request.invalid",
              "Only responses created with background=true can be cancelled; '{response_id}' was not.",
              "Nothing to cancel: the response is complete (GET /v1/responses/{response_id} returns it)."),
    # -- routes and models ---------------------------------------------------------------------
    ErrorKind("route_not_found", 404, _BAD, "route.not_found",
              "Invalid URL ({method} {path}).",
              "{hint}"),
    ErrorKind("route_base_url", 404, _BAD, "route.base_url",
              "Invalid URL ({method} {path}).",
              "{hint}"),
    ErrorKind("method_not_allowed", 405, _BAD, "route.not_found",
              "Method {method} is not allowed on {path}; use {allowed}.",
              "Call {path} with {allowed}."),
    ErrorKind("model_not_found", 404, _BAD, "model.not_found",
              "The model `{model}` does not exist or you do not have access to it.",
              "{hint}"),
    ErrorKind("unsupported_parameter", 400, _BAD, "request.invalid",
              "Unsupported parameter: '{param}' can't be sent to {deployment}: {detail}.",
              "Remove '{param}' from the request, or use a model a deployment of your SDK's own vendor serves "
              "(a request passes through to it untouched)."),
    ErrorKind("operation_not_supported", 400, _BAD, "request.invalid",
              "The model `{model}` does not support {operation}.",
              "Use a model configured for {operation}; GET /v1/models lists them."),
    ErrorKind("endpoint_not_served", 400, _BAD, "request.invalid",
              "The model `{model}` can't serve {endpoint}: it is served by {providers} deployments, and {served_by}.",
              "Call {endpoint} with a model an OpenAI-compatible deployment serves (GET /v1/models lists the models "
              "this key may use), or ask the gateway's admin to add one for `{model}`."),
    # -- credentials (diagnosed in decide/keys.py) ----------------------------------------------
    ErrorKind("missing_api_key", 401, _BAD, "auth.missing",
              "You didn't provide an API key. Send it as {how}.",
              "Check that the client sets its API key and that no proxy strips the Authorization header."),
    ErrorKind("malformed_auth_header", 401, _BAD, "auth.malformed",
              "The Authorization header is malformed: {detail}.",
              "Send exactly 'Authorization: Bearer <key>': one 'Bearer', one space, then the key."),
    ErrorKind("key_whitespace", 401, _BAD, "auth.key_whitespace",
              "The API key has {detail}; keys never contain those.",
              "Copy the key again and strip surrounding spaces, newlines and quotes (env files, copy-paste)."),
    ErrorKind("wrong_platform_key", 401, _BAD, "auth.wrong_platform",
              "This is {platform} key, not a Seawall key.",
              "Seawall issues its own keys (sk-sw-...); keep provider keys in the gateway config only."),
    ErrorKind("key_truncated", 401, _BAD, "auth.key_invalid",
              "This Seawall key is {detail}: it was cut when it was copied.",
              "Copy the whole key again (sk-sw- and 40 more characters); a line break or a "
              "field-length limit may have cut it."),
    ErrorKind("invalid_api_key", 401, _BAD, "auth.key_invalid",
              "Incorrect API key provided: {masked}.",
              "Check that the key was copied whole, from this gateway, and has not been rotated."),
    ErrorKind("key_revoked", 401, _BAD, "auth.key_revoked",
              "This API key ({masked}) was revoked at {when}.",
              "The key was revoked or rotated: deploy its replacement everywhere it is used."),
    ErrorKind("demo_key_replaced", 401, _BAD, "auth.key_revoked",
              "This is an earlier demo key of this gateway ({masked}), replaced at {when}.",
              "Use the demo key `seawall serve` printed at its start; it stays the same at every start with "
              "the same data directory."),
    ErrorKind("key_expired", 401, _BAD, "auth.key_expired",
              "This API key ({masked}) expired at {when}.",
              "Ask the gateway's admin for a new key, or for a later expiry on this one."),
    ErrorKind("key_disabled", 403, "permission_error", "permission.key_disabled",
              "This API key ({masked}) is disabled.",
              "The key exists but was disabled by an admin: ask them to enable it."),
    # -- access (decide/access.py) ------------------------------------------------------------------
    ErrorKind("model_not_permitted", 403, "permission_error", "permission.model",
              "This API key may not use the model `{model}`. Models it may use: {allowed}.",
              "Pick one of those models, or ask the gateway's admin to allow `{model}` for this key or its "
              "group ({group})."),
    ErrorKind("ip_not_allowed", 403, "permission_error", "permission.ip",
              "This API key may not be used from {ip} ({via}). Its IP allowlist is: {allowlist}.",
              "Call from an allowed network or ask the admin to add {ip} to the key's allowlist. Behind a "
              "proxy or load balancer, add its address to server.trusted_proxies so X-Forwarded-For is read."),
    # A browser page's origin the gateway does not allow (decide/cors.py): readable by the page.
    ErrorKind("cors_origin_not_allowed", 403, "permission_error", "network.cors",
              "The origin {origin} may not call this gateway from a browser, so the request was not served.",
              "Add {origin} to server.cors_allowed_origins in the gateway config (or start it with "
              "seawall serve --cors-origin {origin}); '*' allows any origin."),
    # -- admin API (console/admin.py) ---------------------------------------------------------------
    ErrorKind("admin_unauthorized", 401, _BAD, "auth.key_invalid",
              "The admin API needs a valid admin key.",
              "Send 'Authorization: Bearer <admin key>': SEAWALL_ADMIN_KEY's value, or the key `seawall serve` "
              "printed at its first start (lost: seawall admin reset-key makes a new one)."),
    ErrorKind("metrics_unauthorized", 401, _BAD, "auth.key_invalid",
              "GET {path} needs the gateway's metrics token.",
              "Send 'Authorization: Bearer <token>' from the scraper (Prometheus: authorization.credentials_file), "
              "the token in metrics.token_env / metrics.token_file of the gateway config."),
    ErrorKind("admin_invalid_value", 400, _BAD, "request.invalid",
              "Invalid value for '{param}': {detail}.",
              "{fix}"),
    ErrorKind("admin_unknown_field", 400, _BAD, "request.invalid",
              "Unknown field '{param}'.",
              "Fields accepted here: {known}."),
    ErrorKind("unknown_group", 400, _BAD, "request.invalid",
              "The group '{group}' does not exist.",
              "Create it first (seawall groups create --name {group}); seawall groups list shows the groups."),
    ErrorKind("duplicate_name", 409, _BAD, "request.invalid",
              "A {thing} named '{name}' already exists.",
              "Pick another name, or change the existing {thing} with update."),
    ErrorKind("admin_not_found", 404, _BAD, "route.not_found",
              "No {thing} '{ref}'.",
              "{fix}"),
    # -- the request log, captures, replay, bundles (console/support.py) ---------------------------
    # One answer for an unknown id and for another key's (decide/ownership.py): ids can't be probed.
    ErrorKind("request_not_found", 404, _BAD, "route.not_found",
              "No request `{request_id}` in the request log.",
              "Use the x-request-id header a reply carried (seawall logs lists recent ones); a row is written "
              "within request_log.flush_interval_s of the reply."),
    ErrorKind("replay_not_captured", 409, _BAD, "request.invalid",
              "Request `{request_id}` has no captured body to replay.",
              "Only the requests request_log.capture selects keep their body (failed ones by default, for "
              "capture_retention_days); set capture: all to replay successes too."),
    ErrorKind("replay_truncated", 409, _BAD, "request.invalid",
              "The captured body of `{request_id}` was cut at {cap} bytes ({size} were sent): it can't be replayed "
              "as sent.",
              "Raise request_log.capture_max_body_bytes for the requests to come."),
    ErrorKind("unknown_deployment", 404, _BAD, "route.not_found",
              "No deployment named '{name}'.",
              "Name one of the configured deployments: {known}."),
    # -- rate limits (decide/gcra.py, pipeline/admit.py); type as OpenAI's own 429s ---------------
    ErrorKind("rate_limit_requests", 429, "requests", "rate_limit.requests",
              "Rate limit reached for {scope} {id} on {per_name}: limit {limit}. "
              "Please try again in {wait}.",
              "The {scope} limit {unit}={limit} ({scope} {id}) is spent: wait Retry-After, spread the requests, "
              "or ask the gateway's admin for a higher {unit}."),
    ErrorKind("rate_limit_tokens", 429, "tokens", "rate_limit.tokens",
              "Rate limit reached for {scope} {id} on tokens per minute (TPM): limit {limit}, requested {requested}. "
              "Please try again in {wait}.",
              "Wait Retry-After, or send a smaller max_tokens. The {scope} limit tpm={limit} ({scope} {id}) is "
              "spent; a request counts its prompt (bytes/4) plus max_tokens until its real usage is known."),
    ErrorKind("rate_limit_concurrency", 429, "requests", "rate_limit.concurrency",
              "Too many requests in flight for {scope} {id}: limit {limit} at once.",
              "The {scope} limit max_concurrency={limit} ({scope} {id}) is reached: wait for a reply before "
              "sending more, or lower the client's parallelism."),
    ErrorKind("rate_limit_request_too_large", 429, "tokens", "rate_limit.request_too_large",
              "Request too large for {scope} {id} on tokens per minute (TPM): limit {limit}, requested {requested}.",
              "Lower max_tokens or shorten the prompt. This one request counts more tokens than the {scope} limit "
              "tpm={limit} ({scope} {id}) allows in a minute, so waiting won't help."),
    # -- quotas: totals, not rates; waiting won't help ---------------------------------------------
    ErrorKind("insufficient_quota", 429, "insufficient_quota", "quota.exhausted",
              "You exceeded this key's {what} quota: {used} of {limit} used{held}, and this request needs up to "
              "{wanted}. Waiting won't help.",
              "The key's {what} quota ({source}) is spent: ask the gateway admin to raise it "
              "(seawall keys update {key} --quota-{unit} N); {smaller}"),
    ErrorKind("quota_price_unknown", 400, _BAD, "quota.exhausted",
              "This key has a USD quota, and the gateway knows no price for model '{model}', so it can't bill it.",
              "Ask the gateway admin to set a price for '{model}' in the config, or use a priced model."),
    # -- upstream --------------------------------------------------------------------------------
    ErrorKind("upstream_error", 502, "upstream_error", "upstream.server_error",
              "{message}",
              "{hint}"),
    ErrorKind("upstream_auth_failed", 502, "upstream_error", "auth.key_invalid",
              "The upstream {deployment} rejected the gateway's provider key: {message}",
              "Nothing on your side: the gateway operator must check the provider key configured "
              "for {deployment} (api_key_env / api_key_file)."),
    ErrorKind("upstream_refused", 502, "upstream_error", "permission.policy",
              "The upstream {deployment} refused the gateway's request: {message}",
              "Nothing your key can fix: the gateway operator must check the provider account behind "
              "{deployment} ({check})"),
    ErrorKind("upstream_unreachable", 502, "upstream_error", "network.connect",
              "Could not reach the upstream {deployment}: {detail}.",
              "Nothing on your side: the gateway cannot connect to {deployment}; check its base_url, "
              "DNS and firewall."),
    ErrorKind("upstream_proxy_failed", 502, "upstream_error", "network.proxy",
              "Could not reach the upstream {deployment} through the proxy {proxy}: {detail}.",
              "Nothing on your side: the gateway's proxy {proxy} (set by {setting}) must let it through; check "
              "the proxy's address, its credentials and that it allows the provider's host."),
    ErrorKind("upstream_pool_full", 503, "server_error", "capacity.queue_full",
              "The gateway could not send the request to {deployment}: {detail}.",
              "Retry after Retry-After or lower the client's parallelism. Operators: raise network.pool_size "
              "(connections per upstream origin) or the deployment's timeouts.connect_s (how long a request waits "
              "for one)."),
    ErrorKind("upstream_timeout", 504, "upstream_error", "upstream.timeout",
              "The upstream {deployment} did not answer within {seconds} seconds.",
              "Retry with backoff; for long generations use streaming or a larger timeout."),
    # One of the gateway's own limits (decide/timeouts.py), named with its value and where it is set.
    ErrorKind("gateway_timeout", 504, "upstream_error", "upstream.timeout",
              "The upstream {deployment} {missed} within {seconds} s, the gateway's {field} for it.",
              "Retry with backoff, or stream long generations. The gateway's operator sets this limit at "
              "{where}."),
    # total_s cutting a stream already under way: the client holds part of an answer, so this is
    # stream.interrupted (taxonomy: "ended without its terminal event; check proxy/gateway
    # timeouts"), not upstream.timeout ("timed out before the provider answered").
    ErrorKind("stream_total_timeout", 504, "upstream_error", "stream.interrupted",
              "The upstream stream from {deployment} was cut after {seconds} s, the gateway's {field} for a whole "
              "exchange: the answer is incomplete.",
              "Ask for a shorter answer (max_tokens) or retry. The gateway's operator sets this limit at {where}."),
    ErrorKind("upstream_malformed", 502, "upstream_error", "upstream.malformed",
              "The upstream {deployment} sent a reply that could not be read: {detail}.",
              "Retry with backoff; an HTML or truncated body usually means a proxy or CDN answered."),
    ErrorKind("stream_interrupted", 502, "upstream_error", "stream.interrupted",
              "The upstream stream from {deployment} ended before it was complete: {detail}.",
              "The answer is incomplete: retry the request; if it repeats, check proxy and "
              "gateway timeouts between you and the provider."),
    # An upstream's error as server.upstream_error_detail lets a client see it (decide/disclosure.py).
    ErrorKind("upstream_withheld", 502, "upstream_error", "upstream.server_error",
              "The upstream could not serve this request ({category}).",
              "{hint}"),
    ErrorKind("upstream_generic", 502, "upstream_error", "upstream.server_error",
              "The upstream could not serve this request.",
              "Retry with backoff; if it keeps failing, give the request ID to the gateway's operator."),
    # -- the gateway itself ----------------------------------------------------------------------
    ErrorKind("deployments_out", 503, "server_error", "capacity.circuit_open",
              "Every deployment of `{model}` is out of rotation: {deployment} since {since} (taken out by the "
              "{by}: {why}).",
              "Nothing on your side: the gateway operator must fix the provider key or account behind {deployment} "
              "(seawall deployments show {deployment}); a probe puts it back once it answers, or at once with "
              "seawall deployments test {deployment}."),
    ErrorKind("circuit_open", 503, "server_error", "capacity.circuit_open",
              "Every deployment of `{model}` is failing, so the gateway has stopped calling them for "
              "{seconds} s.",
              "Retry after Retry-After; check the provider's status page. `seawall logs --status 5xx` "
              "shows the failures that opened the circuit."),
    ErrorKind("queue_full", 503, "server_error", "capacity.queue_full",
              "The upstream is at capacity and can't take this request in time: {detail}.",
              "Retry after Retry-After or lower the client's parallelism. Operators: raise the deployment's "
              "max_concurrency, max_queue, max_queue_wait_s or rpm/tpm if the provider allows more, or add a "
              "deployment to fall back to."),
    # gateway.internal, never upstream.*: the upstream did nothing wrong (docs/hardening.md).
    ErrorKind("internal_error", 500, "server_error", "gateway.internal",
              "The gateway failed while handling this request.",
              "Retry with backoff and keep the request ID; the gateway's log has the details."),
    ErrorKind("stream_shutdown", 503, "server_error", "stream.interrupted",
              "The gateway is shutting down: it waited {seconds} s for this stream to finish, then ended it. "
              "The answer is incomplete.",
              "Retry the request: another gateway instance (or this one, restarted) serves it."),
    ErrorKind("store_unavailable", 503, "server_error", "upstream.unavailable",
              "The gateway's store ({store}) does not answer, so this admin request can't be served now.",
              "Retry after Retry-After. Operators: check the {store} at {where}; API requests are still "
              "served from the gateway's caches."),
    # The gateway's own dependency is down; taxonomy: upstream.unavailable, as for not_ready.
    ErrorKind("limits_unavailable", 503, "server_error", "upstream.unavailable",
              "The gateway cannot check this key's rate limits right now: the Redis that holds them "
              "does not answer.",
              "Retry after Retry-After ({seconds} s). Operators: check the Redis at limits.redis_url "
              "(seawall serve --redis); limits.on_redis_error: open would count on each gateway's share instead of refusing."),
    ErrorKind("not_ready", 503, "server_error", "upstream.unavailable",
              "The gateway is starting or stopping.",
              "Retry in a few seconds."),
    # -- Midjourney tasks (pipeline/tasks.py) -----------------------------------------------------
    ErrorKind("task_not_found", 404, _BAD, "route.not_found",
              "No Midjourney task `{task_id}` is known {where}.",
              "Fetch with the `result` id the submit returned, from this gateway; {why}"),
    ErrorKind("task_model_missing", 404, _BAD, "model.not_found",
              "This gateway has no Midjourney deployment configured.",
              "The gateway's admin adds a model whose deployments have provider: midjourney (a "
              "midjourney-proxy base_url and its mj-api-secret)."),
)


# What to check first for an upstream failure, per taxonomy category (error-taxonomy.md's column).
CHECK_FIRST: dict[str, str] = {
    "auth.missing": "The upstream got no key: check the provider key configured for this deployment.",
    "auth.key_invalid": "The upstream rejected the key: check the provider key configured for this deployment.",
    "auth.org_mismatch": "The organization or project header does not match the provider key's.",
    "permission.model": "This provider account may not use this model; ask for access or pick another model.",
    "permission.ip": "The provider refuses the gateway's IP address; check the provider's IP allowlist.",
    "permission.region": "The provider does not serve the gateway's country or region.",
    "permission.service_disabled": "Enable the API for the cloud project the provider key belongs to.",
    "permission.policy": "An account or organization policy refuses this; check the provider console.",
    "route.not_found": "The deployment's base_url or path is wrong for this provider (check /v1).",
    "model.not_found": "The deployment's upstream model id is wrong or not available to this account.",
    "rate_limit.requests": "The provider's requests-per-minute limit: honour Retry-After, lower concurrency.",
    "rate_limit.tokens": "The provider's tokens-per-minute limit: shorter prompts, lower max_tokens, spread requests.",
    "rate_limit.concurrency": "Too many requests in flight at the provider: lower concurrency.",
    "rate_limit.unspecified": "The provider rate-limited the request: honour Retry-After, then check quota.",
    "rate_limit.request_too_large": "This one request needs more tokens than the per-minute limit allows: "
                                    "cut its tokens; waiting won't help.",
    "quota.exhausted": "The provider account's balance or quota is spent; waiting won't help (billing, plan).",
    "request.invalid": "The request's JSON shape, field types or parameters for this model.",
    "request.context_length": "Prompt + max_tokens exceed the model's context window: trim the history.",
    "request.too_large": "The request body is too large for the provider: split the work.",
    "request.content_filter": "The provider's content filter blocked the prompt or the output.",
    "upstream.server_error": "Nothing on your side: retry with backoff and keep the request ID.",
    "upstream.bad_gateway": "A proxy between the gateway and the provider could not reach it; retry with backoff.",
    "upstream.unavailable": "The provider is down or in maintenance; retry with backoff.",
    "upstream.overloaded": "The provider is overloaded; back off and retry, or use another model.",
    "upstream.timeout": "The provider or a proxy timed out; retry, stream, or shorten the output.",
    "upstream.malformed": "The upstream reply could not be read (an HTML page or cut JSON): a proxy or CDN "
                          "likely answered; retry with backoff.",
    "network.dns": "The provider's host name does not resolve from the gateway.",
    "network.connect": "The gateway can't connect to the provider: host, port, firewall.",
    "network.tls": "TLS to the provider failed: certificates, an intercepting proxy, the clock.",
    "network.proxy": "The proxy between the gateway and the provider refused or failed: its address, "
                     "credentials and allowed hosts (network.proxy, a deployment's proxy, HTTPS_PROXY).",
    "stream.interrupted": "The stream ended early; retry, and check proxy timeouts on the way.",
    "stream.stalled": "The stream stalled past the idle timeout; retry.",
    # Categories the classifier can also give an upstream's reply (decide/reply_rules.py).
    "route.base_url": "The deployment's base_url is wrong for this provider: it must end in /v1, once.",
    "permission.key_disabled": "The provider (or gateway upstream) disabled the key configured for this deployment.",
    "permission.channel": "The Discord account behind the Midjourney deployment cannot use its channel.",
    "capacity.queue_full": "The upstream's queue is full: honour Retry-After, lower concurrency.",
    "capacity.circuit_open": "The upstream has no working account or key left for this model; retry later.",
}

# What to check first when a Midjourney task or submit fails (the seeds' order: the bot is in the
# server and may use the channel before anyone rewrites prompts); CHECK_FIRST covers the rest.
MIDJOURNEY_CHECK_FIRST: dict[str, str] = {
    "permission.channel": "Invite the Discord bot/account to the server, then give it View Channel, Send Messages "
                          "and Use Application Commands in the proxy's channel (Discord 50001 Missing Access / "
                          "50013 Missing Permissions); the prompt is not the problem.",
    "route.not_found": "Check the Discord server (guild) and channel ids configured in the proxy: Discord does "
                       "not know them.",
    "auth.key_invalid": "The proxy's credentials were refused: check its mj-api-secret in the deployment's key, "
                        "and the Discord user token configured in the proxy.",
    "auth.missing": "The proxy got no credentials: set the deployment's key (sent as mj-api-secret).",
    "request.invalid": "Fix the command: the prompt's parameters (--ar, --v, …) or the submitted fields "
                       "(prompt, base64Array, taskId/customId) are not valid for Midjourney.",
    "request.content_filter": "Rephrase the prompt: Midjourney's moderation flagged a banned word; retrying the "
                              "same prompt fails the same way.",
    "rate_limit.requests": "Discord rate-limited the account: wait the retry_after it names before submitting "
                           "again, and submit fewer tasks at once.",
    "rate_limit.unspecified": "The proxy rate-limited the request: wait, then submit fewer tasks at once.",
    "capacity.queue_full": "The proxy's task queue is full: submit again later, or add a deployment to fall back to.",
    "capacity.circuit_open": "The proxy has no usable Discord account: check its accounts in the proxy's console.",
    "permission.policy": "Discord wants the account verified (a captcha): log in to Discord with it and verify.",
    "upstream.timeout": "Midjourney did not finish the task in time: submit again; if it repeats, check the "
                        "proxy's Discord account and queue.",
}


@dataclass(slots=True)
class SeawallError(Exception):
    """A catalog error with its values. `headers` go on the response (Retry-After, …)."""

    code: str
    values: dict[str, object] = field(default_factory=dict)
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status_override: int | None = None  # upstream errors keep the upstream's status
    type_override: str | None = None
    category_override: str | None = None
    provider_code: str | None = None  # an upstream's own error.code, passed through to the client

    def __post_init__(self) -> None:
        Exception.__init__(self, self.code)

    @property
    def kind(self) -> ErrorKind:
        return CATALOG[self.code]

    @property
    def status(self) -> int:
        return self.status_override or self.kind.status

    @property
    def type(self) -> str:
        return self.type_override or self.kind.type

    @property
    def category(self) -> str:
        return self.category_override or self.kind.category

    @property
    def message(self) -> str:
        return self.kind.message.format_map(_Blank(self.values))

    @property
    def hint(self) -> str:
        return self.kind.hint.format_map(_Blank(self.values))

    @property
    def sdk_message(self) -> str:
        """The envelope's `message`: the official SDKs (openai, anthropic, google-genai, the Vercel
        AI SDK, langchain, litellm) print only that field, so the next step must be in it."""
        return with_next_step(self.message, self.hint)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# The next step an SDK shows after the message: the whole hint when it is this short, else its
# first sentence (hints lead with the step; the whole stays in the envelope's `hint` field), cut
# at a word if even that is longer.
NEXT_STEP_MAX = 200
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z`'(])")
_WORDS = re.compile(r"[a-z0-9]+")
_CJK_END = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]$")  # a Chinese, Japanese or Korean text's end


def with_next_step(message: str, hint: str) -> str:
    """The message, then the hint's most useful part, unless the message says it already. The
    message comes first and whole (an upstream's own text included)."""
    step = hint.strip()
    if len(step) > NEXT_STEP_MAX:
        step = _SENTENCE_END.split(step, maxsplit=1)[0]
    if len(step) > NEXT_STEP_MAX:
        step = step[:NEXT_STEP_MAX - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    words = " ".join(_WORDS.findall(step.lower()))
    if not words or words in " ".join(_WORDS.findall(message.lower())):
        return message
    message = message.rstrip()
    if message.endswith(('.', '?', '!', '。', '？', '！')):
        return f"{message} {step}"
    return f"{message}{'。' if _CJK_END.search(message) else '. '}{step}"


class _Blank(dict):
    """format_map mapping that leaves a missing value visible instead of raising KeyError."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def error(code: str, param: str | None = None, **values: object) -> SeawallError:
    if param is not None:
        values["param"] = param
    return SeawallError(code, values, param=param)


def method_not_allowed(method: str, path: str, allowed: str) -> SeawallError:
    """405 with the Allow header RFC 9110 §15.5.6 requires."""
    err = error("method_not_allowed", method=method, path=path, allowed=allowed)
    err.headers["allow"] = allowed
    return err
