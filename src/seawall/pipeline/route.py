"""Route: the model a client asked for -> the deployments to try, in order.

Balancing among healthy deployments and circuit state arrive with the resilience issue; today
the order is the config's order.
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
        self._usable = {(name, op): [d for d in deps if op in adapter_for(d.spec.provider).supports]
                        for name, deps in routes.items() for op in ("chat", "embeddings")}

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
