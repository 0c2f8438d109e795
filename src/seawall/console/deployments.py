"""The admin API's deployment routes: each deployment's state, a probe on demand, and taking one
out of rotation by hand (decide/health.py, pipeline/health.py).

    GET  /admin/deployments                 every deployment, its state in short
    GET  /admin/deployments/{name}          one, in full: circuit, rotation, gate, last errors, proxy
    POST /admin/deployments/{name}/test     probe it now (back in rotation if it answers)
    POST /admin/deployments/{name}/disable  {"reason": "…"}: out of rotation until enabled
    POST /admin/deployments/{name}/enable   back in rotation

A deployment is named by its label (`name:` in the config, else provider/model@host). The view
never holds a key: the base URL without credentials, the proxy without its password.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from seawall.config import ResolvedDeployment
from seawall.decide.breaker import reopens_in
from seawall.errors import error
from seawall.pipeline.attempt import Retrier
from seawall.pipeline.health import Prober
from seawall.providers.transport import Transport

_MAX_REASON = 500


class DeploymentsAdmin:
    def __init__(self, targets: list[ResolvedDeployment], retrier: Retrier, prober: Prober, transport: Transport):
        self._targets: dict[str, ResolvedDeployment] = {}
        self._models: dict[str, list[str]] = {}
        for t in targets:
            self._targets.setdefault(t.label, t)
            self._models.setdefault(t.label, []).append(t.route)
        self._retrier, self._prober, self._transport = retrier, prober, transport

    async def route(self, parts: list[str], method: str, body: Callable[[], Awaitable[object]]) -> tuple[int, object]:
        if not parts and method == "GET":
            return 200, {"object": "list", "data": [self.view(label, full=False) for label in self._targets]}
        if len(parts) == 1 and method == "GET":
            return 200, self.view(self._find(parts[0]))
        if len(parts) == 2 and method == "POST":
            label = self._find(parts[0])
            if parts[1] == "test":
                result = await self._prober.test(label)
                return 200, {"object": "deployment.test", **result, "deployment_state": self.view(label)}
            if parts[1] == "disable":
                given = await body()
                reason = given.get("reason") if isinstance(given, dict) else None
                if not isinstance(reason, str) or not reason.strip() or len(reason) > _MAX_REASON:
                    raise error("admin_invalid_value", param="reason", detail="a reason is required (a sentence "
                                f"of at most {_MAX_REASON} characters)", fix='Send {"reason": "rotating the key"}.')
                self._retrier.health.disable(label, reason.strip())
                return 200, self.view(label)
            if parts[1] == "enable":
                self._retrier.health.enable(label)
                return 200, self.view(label)
        raise error("route_not_found", method=method, path="/admin/deployments/" + "/".join(parts),
                    hint="Deployment routes: GET /admin/deployments, GET /admin/deployments/{name}, "
                         "POST /admin/deployments/{name}/test|disable|enable.")

    def _find(self, name: str) -> str:
        if name in self._targets:
            return name
        raise error("admin_not_found", thing="deployment", ref=name,
                    fix=f"seawall deployments list shows them: {', '.join(list(self._targets)[:10])}.")

    def view(self, label: str, full: bool = True) -> dict:
        target, retrier = self._targets[label], self._retrier
        health = retrier.health.get(label)
        state = "in_rotation" if health.in_rotation else "disabled" if health.by == "operator" else "out"
        breaker = retrier.breakers.get(label)
        circuit = breaker.state if breaker is not None else "closed"
        gate = retrier.gates.view(label)
        out = {"object": "deployment", "name": label, "models": self._models[label], "provider": target.spec.provider,
               "upstream_model": target.spec.model, "state": state, "circuit": circuit,
               "in_flight": gate["in_flight"], "queued": gate["queued"]}
        if not health.in_rotation:
            out["out"] = {"by": health.by, "category": health.category, "reason": health.detail,
                          "since": _iso(health.since), "request_id": health.request_id,
                          "next_probe_at": _iso(health.next_probe) if health.by == "gateway" else None,
                          "failed_probes": health.failed_probes}
        if not full:
            return out
        route = self._transport.route(label)
        out.update({
            "base_url": _without_credentials(target.base_url),
            "proxy": self._transport.network.describe(route, target.base_url),
            "tls": route.trusts,
            "circuit_detail": {"state": circuit, "failures": breaker.failures if breaker else 0,
                               "reopens_in_s": round(reopens_in(breaker, time.monotonic()), 1) if breaker else 0.0},
            "gate": {"max_concurrency": gate.get("max_concurrency"), "held_for_s": gate["held_for_s"],
                     "learned_limits": gate["learned"]},
            "last_errors": [{**e, "at": _iso(e["at"])} for e in retrier.health.errors.get(label, ())],
        })
        return out


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None:
        return url
    return parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl()


def _iso(epoch: float | None) -> str | None:
    if not epoch:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
