"""Why a path matched no route: the likely base-URL mistake, named.

The commonest 404s behind an OpenAI-compatible gateway are base-URL mistakes in the client's
config: `/v1` missing or doubled, a full endpoint pasted where the base URL goes, or another API
family's path. `diagnose_route` turns the path into one sentence that says which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Endpoints SDKs build by appending to the base URL (OpenAI's, and Anthropic's /messages).
ENDPOINTS = ("/chat/completions", "/completions", "/embeddings", "/responses", "/messages", "/models",
             "/images/generations", "/audio/transcriptions", "/audio/speech", "/moderations")
SERVED = ("/v1/chat/completions", "/v1/responses", "/v1/completions", "/v1/embeddings", "/v1/images/generations",
          "/v1/images/edits", "/v1/images/variations", "/v1/audio/speech", "/v1/audio/transcriptions",
          "/v1/audio/translations", "/v1/moderations", "/v1/models", "/v1/messages",
          "/v1beta/models/{model}:generateContent")
# OpenAI's API families that keep state at OpenAI (files, batches, fine-tuning, …): an operator
# may pass them through to a named deployment (`passthrough:` in the config); the gateway serves
# none of them itself.
PASS_THROUGH_ONLY = ("/v1/files", "/v1/batches", "/v1/uploads", "/v1/fine_tuning", "/v1/vector_stores",
                     "/v1/assistants", "/v1/threads", "/v1/containers", "/v1/conversations", "/v1/evals",
                     "/v1/realtime", "/v1/videos")

_GEMINI = re.compile(r"/(v1beta|v1)/models/[^/:]+:(generateContent|streamGenerateContent|countTokens)")


@dataclass(frozen=True, slots=True)
class RouteDiagnosis:
    code: str  # route_base_url | route_not_found
    hint: str


def base_url_mistake(path: str) -> str | None:
    """The base-URL mistake a request path shows, or None. One judgement for the gateway's own
    404s and for `explain` reading a provider's "Invalid URL (POST /…)"."""
    p = path.split("?", 1)[0].rstrip("/")
    if "/v1/v1/" in p + "/":
        return ("The path has '/v1' twice: the base URL already ends in /v1 and the client adds it "
                "again; drop one.")
    for endpoint in ENDPOINTS:
        if endpoint + endpoint in p:
            return (f"A full endpoint was used as the base URL ({endpoint} appears twice): set the base "
                    f"URL to http(s)://<host>/v1 only.")
    if "/openai/deployments/" in p or "/v1" in p or "/mj/" in p:
        return None  # Azure's classic paths have no /v1; Gemini's /v1beta contains it
    for endpoint in ENDPOINTS:
        if p.endswith(endpoint):
            prefix = p[: -len(endpoint)]
            return (f"The path lacks '/v1': set the client's base URL to http(s)://<host>{prefix}/v1 "
                    f"(POST {prefix}/v1{endpoint}).")
    return None


def diagnose_route(path: str) -> RouteDiagnosis:
    stripped = path.rstrip("/")
    if _GEMINI.search(stripped):
        return RouteDiagnosis("route_not_found",
                              "This is a Gemini API path: the gateway serves POST <gateway>/v1beta/models/"
                              "{model}:generateContent and :streamGenerateContent?alt=sse (set the google-genai "
                              "client's base_url to the gateway, without /v1beta).")
    mistake = base_url_mistake(stripped)
    if mistake:
        return RouteDiagnosis("route_base_url", mistake)
    family = next((f for f in PASS_THROUGH_ONLY if stripped == f or stripped.startswith(f + "/")), None)
    if family is not None:
        return RouteDiagnosis("route_not_found",
                              f"{family} is OpenAI's stateful API, which this gateway does not serve itself; its "
                              f"operator can pass it through to an OpenAI-compatible deployment (passthrough: in "
                              f"the gateway config).")
    if stripped.startswith("/v1/"):
        return RouteDiagnosis("route_not_found",
                              f"This gateway serves {', '.join(SERVED)}; check the endpoint name "
                              f"and the HTTP method.")
    return RouteDiagnosis("route_not_found",
                          "Unknown path: the OpenAI API lives under /v1 "
                          "(set the client's base URL to http(s)://<gateway>/v1).")
