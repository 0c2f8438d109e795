"""Route: the model a client asked for -> the deployments to try, in order.

`plan` gives the asked model's deployments, then those of its `fallbacks` (breadth first: its
own list in order, then theirs; each model once, and only the deployments that serve the
operation). The order within each model (balance: ordered, weighted, least_in_flight) depends on
circuit and load state, so the attempt stage arranges it per request (Retrier.arrange).
"""

from __future__ import annotations

import difflib

from seawall.config import ResolvedDeployment
from seawall.errors import error
from seawall.providers.registry import adapter_for


class Router:
    def __init__(self, routes: dict[str, list[ResolvedDeployment]]):
        self._routes = routes
        # (model, operation) -> deployments able to serve it, computed once: routes are static.
        self._usable = {(name, op): [d for d in deps if op in adapter_for(d.spec.adapter_name).supports]
                        for name, deps in routes.items() for op in ("chat", "embeddings")}
        self._plans = {(name, op): [usable for model in fallback_chain(name, routes)
                                    if (usable := self._usable[(model, op)])]
                       for name, op in self._usable}

    @property
    def model_names(self) -> list[str]:
        return list(self._routes)

    def require(self, model: str) -> list[ResolvedDeployment]:
        deployments = self._routes.get(model)
        if deployments is None:
            raise error("model_not_found", param="model", model=model,
                        hint=suggest_model(model, list(self._routes)))
        return deployments

    def candidates(self, model: str, operation: str) -> list[ResolvedDeployment]:
        usable = self._usable.get((model, operation))
        if usable is None:
            self.require(model)
        if not usable:
            raise error("operation_not_supported", param="model", model=model, operation=operation)
        return usable

    def plan(self, model: str, operation: str) -> list[list[ResolvedDeployment]]:
        """The deployments of the model, then of each of its fallbacks, one list per model."""
        self.candidates(model, operation)  # model_not_found / operation_not_supported, as ever
        return self._plans[(model, operation)]


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
