"""Why a path matched no route: the likely base-URL mistake, named.

The commonest 404s behind an OpenAI-compatible gateway are base-URL mistakes in the client's
config: `/v1` missing or doubled, a full endpoint pasted where the base URL goes, or another API
family's path. `diagnose_route` turns the path into one sentence that says which.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Endpoints the OpenAI SDKs build by appending to the base URL.
ENDPOINTS = ("/chat/completions", "/embeddings", "/models", "/completions", "/responses",
             "/audio/transcriptions", "/images/generations", "/moderations")
SERVED = ("/v1/chat/completions", "/v1/embeddings", "/v1/models")

_GEMINI = re.compile(r"/(v1beta|v1)/models/[^/:]+:(generateContent|streamGenerateContent|countTokens)")


@dataclass(frozen=True, slots=True)
class RouteDiagnosis:
    code: str  # route_base_url | route_not_found
    hint: str


def diagnose_route(path: str) -> RouteDiagnosis:
    stripped = path.rstrip("/")
    if "/v1/v1/" in stripped + "/":
        return RouteDiagnosis("route_base_url",
                              "The path has '/v1' twice: the client's base URL already ends in /v1 "
                              "and the client adds it again; drop one.")
    for endpoint in ENDPOINTS:
        doubled = endpoint + endpoint
        if doubled in stripped:
            return RouteDiagnosis("route_base_url",
                                  f"A full endpoint was used as the base URL ({endpoint} appears twice): "
                                  f"set the base URL to http(s)://<gateway>/v1 only.")
    if _GEMINI.search(stripped):
        return RouteDiagnosis("route_not_found",
                              "This is a Gemini API path; this gateway serves the OpenAI API here: "
                              "point an OpenAI SDK at <gateway>/v1, or use a Gemini-dialect route.")
    if stripped.endswith("/v1/messages") or stripped == "/messages":
        return RouteDiagnosis("route_not_found",
                              "This is Anthropic's Messages API path; this gateway serves the OpenAI API "
                              "here: use POST /v1/chat/completions with an OpenAI SDK.")
    for endpoint in ENDPOINTS:
        if stripped == endpoint or stripped.endswith(endpoint) and not stripped.startswith("/v1/"):
            prefix = stripped[: -len(endpoint)]
            if not prefix.endswith("/v1"):
                return RouteDiagnosis("route_base_url",
                                      f"The path lacks '/v1': set the client's base URL to "
                                      f"http(s)://<gateway>{prefix}/v1 (POST {prefix}/v1{endpoint}).")
    if stripped.startswith("/v1/"):
        return RouteDiagnosis("route_not_found",
                              f"This gateway serves {', '.join(SERVED)}; check the endpoint name "
                              f"and the HTTP method.")
    return RouteDiagnosis("route_not_found",
                          "Unknown path: the OpenAI API lives under /v1 "
                          "(set the client's base URL to http(s)://<gateway>/v1).")
