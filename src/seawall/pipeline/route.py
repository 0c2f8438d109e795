"""Route: the model a client asked for -> the deployments to try, in order.

`plan` gives the asked model's deployments, then those of its `fallbacks` (breadth first: its
own list in order, then theirs; each model once, and only the deployments that serve the
operation). The order within each model (balance: ordered, weighted, least_in_flight) depends on
circuit and load state, so the attempt stage arranges it per request (Retrier.arrange).

A deployment serves an operation for a client dialect natively (a vendor's own client calling
it: every operation of that vendor's API it passes through) or through the canonical form (chat
and embeddings, the operations every adapter translates). Which plans exist is static, so they
are worked out once per (model, operation, dialect), on first use.
"""

from __future__ import annotations

import difflib

from seawall.config import ResolvedDeployment
from seawall.errors import error
from seawall.providers.registry import adapter_for

# A client dialect's operations that reach another vendor through the canonical form, and as which
# canonical operation (count_tokens is answered by the gateway itself when no deployment of the
# client's vendor serves the model: pipeline/count.py). A Responses request reaches any chat
# deployment translated to chat; OpenAI's other endpoints (legacy completions, audio, moderations,
# uploads) exist at OpenAI-compatible upstreams only, and image generation at Gemini's too.
CANONICAL_OPERATIONS = {"chat": "chat", "embeddings": "embeddings", "embed": "embeddings", "batch_embed": "embeddings",
                        "responses": "chat", "images": "images"}
# Client dialects that are one vendor's API beside its chat one: the Responses API is OpenAI's.
FAMILY_OF = {"responses": "openai"}
# OpenAI's endpoints beyond chat and embeddings, and who serves each (for the refusal naming why).
ENDPOINTS = {"completions": ("POST /v1/completions", "only OpenAI-compatible upstreams have legacy completions"),
             "moderations": ("POST /v1/moderations", "only OpenAI-compatible upstreams have moderations"),
             "images": ("POST /v1/images/generations", "only OpenAI-compatible and Gemini upstreams generate images"),
             "image_edits": ("POST /v1/images/edits", "only OpenAI-compatible upstreams edit images"),
             "image_variations": ("POST /v1/images/variations", "only OpenAI-compatible upstreams make variations"),
             "speech": ("POST /v1/audio/speech", "only OpenAI-compatible upstreams speak"),
             "transcriptions": ("POST /v1/audio/transcriptions", "only OpenAI-compatible upstreams transcribe"),
             "translations": ("POST /v1/audio/translations", "only OpenAI-compatible upstreams translate audio")}


def passes_through(target: ResolvedDeployment, operation: str, shape: str) -> bool:
    """Does the deployment take a request of this shape as it is (a pass-through)? Its vendor's
    own API, an operation the adapter passes through, and one the deployment has (an
    OpenAI-compatible upstream with `responses: false` serves chat completions only)."""
    adapter = adapter_for(target.spec.adapter_name)
    if adapter is None or adapter.family != FAMILY_OF.get(shape, shape) or operation not in adapter.native_operations:
        return False
    return operation != "responses" or target.spec.responses


def serves(target: ResolvedDeployment, operation: str, dialect: str) -> bool:
    adapter = adapter_for(target.spec.adapter_name)
    if adapter is None:
        return False
    return passes_through(target, operation, dialect) or CANONICAL_OPERATIONS.get(operation) in adapter.supports


class Router:
    def __init__(self, routes: dict[str, list[ResolvedDeployment]]):
        self._routes = routes
        # (model, operation, dialect) -> deployments able to serve it, per model of the chain
        self._plans: dict[tuple[str, str, str], list[list[ResolvedDeployment]]] = {}
        self._native: dict[tuple[str, str, str], bool] = {}

    @property
    def model_names(self) -> list[str]:
        return list(self._routes)

    def require(self, model: str) -> list[ResolvedDeployment]:
        deployments = self._routes.get(model)
        if deployments is None:
            raise error("model_not_found", param="model", model=model,
                        hint=suggest_model(model, list(self._routes)))
        return deployments

    def candidates(self, model: str, operation: str, dialect: str = "openai") -> list[ResolvedDeployment]:
        deployments = self.require(model)
        usable = [d for d in deployments if serves(d, operation, dialect)]
        if not usable:
            if operation in ENDPOINTS:
                endpoint, served_by = ENDPOINTS[operation]
                providers = " and ".join(sorted({d.spec.adapter_name for d in deployments}))
                raise error("endpoint_not_served", param="model", model=model, endpoint=endpoint, providers=providers,
                            served_by=served_by)
            raise error("operation_not_supported", param="model", model=model, operation=operation)
        return usable

    def plan(self, model: str, operation: str, dialect: str = "openai") -> list[list[ResolvedDeployment]]:
        """The deployments of the model, then of each of its fallbacks, one list per model."""
        key = (model, operation, dialect)
        found = self._plans.get(key)
        if found is None:
            self.candidates(model, operation, dialect)  # model_not_found / operation_not_supported, as ever
            found = self._plans[key] = [usable for name in fallback_chain(model, self._routes)
                                        if (usable := [d for d in self._routes[name] if serves(d, operation, dialect)])]
        return found

    def serves_natively(self, model: str, operation: str, dialect: str) -> bool:
        """Does any deployment the request may reach speak the client's dialect? If none does,
        the request is translated once, before pre-flight, and every check applies to it."""
        key = (model, operation, dialect)
        found = self._native.get(key)
        if found is None:
            chain = fallback_chain(model, self._routes) if model in self._routes else []
            found = any(passes_through(d, operation, dialect) for name in chain for d in self._routes[name])
            if model in self._routes:  # unknown names are not remembered: a client can send any number
                self._native[key] = found
        return found

    def served_by(self, target: ResolvedDeployment) -> list[str]:
        """The models with a deployment at the same upstream account as `target` (base URL, key)."""
        return [name for name, deployments in self._routes.items()
                if any(d.base_url == target.base_url and d.api_key == target.api_key for d in deployments)]

    def lossy(self, model: str) -> bool:
        """May a translation for this model drop cost hints it has no counterpart for?"""
        deployments = self._routes.get(model)
        route = deployments[0].model_route if deployments else None
        return route is not None and route.translation == "lossy"


def fallback_chain(model: str, routes: dict[str, list[ResolvedDeployment]]) -> list[str]:
    """The model, its fallbacks, then theirs (breadth first), each once. Config validation has
    refused cycles already; the `seen` set keeps a diamond (a → b, c; b → c) to one visit."""
    chain, i = [model], 0
    while i < len(chain):
        deployments = routes.get(chain[i]) or []
        route = deployments[0].model_route if deployments else None
        for name in route.fallbacks if route is not None else ():
            if name not in chain and name in routes:
                chain.append(name)
        i += 1
    return chain


def suggest_model(asked: str, known: list[str]) -> str:
    """One sentence: the closest names, or the list when nothing is close."""
    close = difflib.get_close_matches(asked, known, n=3, cutoff=0.6)
    if not close:
        lowered = {k.lower(): k for k in known}
        close = [lowered[asked.lower()]] if asked.lower() in lowered else []
    if close:
        return "Did you mean " + " or ".join(f"'{c}'" for c in close) + "? Model names are exact."
    shown = ", ".join(sorted(known)[:10]) + (" …" if len(known) > 10 else "")
    return f"Check the model name; this gateway serves: {shown} (GET /v1/models lists them)."
