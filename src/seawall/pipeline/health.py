"""Deployment health state and probes (decide/health.py decides). One per process, shared by every
request; a deployment out of rotation is skipped by the attempt loop with one dict lookup.

The state is plain values in two dicts (`out`: the deployments not in rotation, `errors`: each
one's last errors); cluster/circuits.py shares the first with other gateways. Probes run on a
one-second tick for the deployments whose next probe is due, and at once from `seawall
deployments test`. A probe is the deployment's cheapest real call through the same transport
(its proxy, its TLS): one token of chat, a one-word embedding for an embedding model, or for a
Midjourney upstream (where a submit is a real task, paid for) a list-by-condition of no ids, which
the proxy answers 200 with a good mj-api-secret and 401 with a refused one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from seawall.catalog.models import load_catalog
from seawall.config import ResolvedDeployment
from seawall.decide import health as rules
from seawall.decide.classify import classify_reply, classify_transport
from seawall.observe.incident import stop
from seawall.providers.base import ApiRequest
from seawall.providers.registry import adapter_for, task_adapter_for
from seawall.providers.transport import Transport, UpstreamFailure

log = logging.getLogger("seawall")
LAST_ERRORS = 10  # per deployment, for `seawall deployments show`
_TICK_S = 1.0


class DeploymentHealth:
    """Which deployments are out of rotation, why and since when; each one's last errors."""

    def __init__(self) -> None:
        self.out: dict[str, rules.Health] = {}  # only deployments not in rotation
        self.errors: dict[str, deque[dict]] = {}
        self.policies: dict[str, rules.HealthPolicy] = {}
        # Told of every change this gateway makes, for the others (cluster/circuits.py); None: alone.
        self.share: Callable[[str, rules.Health], None] | None = None

    def get(self, label: str) -> rules.Health:
        return self.out.get(label, rules.IN_ROTATION)

    def policy(self, target: ResolvedDeployment) -> rules.HealthPolicy:
        found = self.policies.get(target.label)
        if found is None:
            c = target.spec.circuit
            found = self.policies[target.label] = rules.HealthPolicy(c.probe_s, c.max_probe_s, c.take_out_refused)
        return found

    def failed(self, target: ResolvedDeployment, category: str, detail: str, status: int | None,
               request_id: str | None) -> None:
        """An attempt failed: kept among its last errors; out of rotation if the refusal says so."""
        now = time.time()
        self._note(target.label, now, category, status, detail, request_id)
        before = self.get(target.label)
        self._set(target.label, rules.after_failure(before, category, detail, now, self.policy(target), request_id))

    def probed(self, target: ResolvedDeployment, category: str | None, detail: str, status: int | None) -> None:
        now = time.time()
        if category is not None:
            self._note(target.label, now, category, status, detail, "probe")
        self._set(target.label, rules.after_probe(self.get(target.label), category, detail, now,
                                                  self.policy(target)))

    def disable(self, label: str, reason: str) -> None:
        self._set(label, rules.disable(self.get(label), reason, time.time()))

    def enable(self, label: str) -> None:
        self._set(label, rules.enable(self.get(label)))

    def due(self, now: float) -> list[str]:
        return [label for label, h in self.out.items() if rules.probe_due(h, now)]

    def adopt(self, label: str, h: rules.Health) -> None:
        """Another gateway's change (cluster/circuits.py): taken as it is, not shared back."""
        self._set(label, h, shared=True)

    def _set(self, label: str, h: rules.Health, shared: bool = False) -> None:
        before = self.out.get(label, rules.IN_ROTATION)
        if h == before:
            return
        if h.in_rotation:
            self.out.pop(label, None)
        else:
            self.out[label] = h
        seen = " (by another gateway)" if shared else ""
        if h.by == "gateway" and before.in_rotation:
            log.warning("deployment %s is out of rotation%s: %s (%s); probed every %g s or more until it answers "
                        "(seawall deployments show %s)", label, seen, h.category, h.detail, h.next_probe - h.since,
                        label)
        elif h.in_rotation and before.by == "gateway":
            log.warning("deployment %s is back in rotation%s: a probe was answered", label, seen)
        if self.share is not None and not shared:
            self.share(label, h)

    def _note(self, label: str, now: float, category: str, status: int | None, detail: str,
              request_id: str | None) -> None:
        kept = self.errors.get(label)
        if kept is None:
            kept = self.errors[label] = deque(maxlen=LAST_ERRORS)
        kept.appendleft({"at": now, "category": category, "status": status, "detail": detail[:300],
                         "request_id": request_id})


def probe_kind(target: ResolvedDeployment) -> str:
    """What the cheapest real call to it is: an embedding model has no chat; a task upstream lists."""
    if task_adapter_for(target.spec.provider) is not None:
        return "tasks"
    info = load_catalog().find(target.spec.model)
    embeds = (info is not None and info.max_output_tokens == 0) or "embedding" in target.spec.model
    supports = adapter_for(target.spec.adapter_name).supports
    return "embeddings" if embeds and "embeddings" in supports else "chat"


async def probe(target: ResolvedDeployment, transport: Transport) -> dict:
    """One real call to the deployment; what came back. Never raises for the upstream's answer."""
    adapter = adapter_for(target.spec.adapter_name)
    kind = probe_kind(target)
    if kind == "tasks":  # no task submitted (each is paid for): the list of no ids still needs the key
        request = adapter.build_list([], target)
    else:
        body = {"model": target.route, "input": "ping"} if kind == "embeddings" else \
            {"model": target.route, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
        request = adapter.build_request(ApiRequest(kind, target.route, body), target, ask_usage=False)
    started = time.perf_counter()
    status, category, detail = None, None, "answered"
    try:
        response = await transport.open(request, target.spec.timeouts, target.label)
        status = response.status
        raw = await response.read()
        if status >= 300:  # midjourney-proxy refuses a secret with an empty 401 (as pipeline/tasks.py reads it)
            shape = "midjourney-proxy" if kind == "tasks" and not raw.strip() else None
            cls = classify_reply(status, response.headers, raw, now=time.time(), provider=shape)
            category, detail = cls.category, f"HTTP {status}: {adapter.read_error(status, raw).message}"
    except UpstreamFailure as f:
        category, detail = classify_transport(f.kind, f.detail).category, f.detail
    return {"deployment": target.label, "kind": kind, "ok": category is None, "status": status,
            "category": category, "detail": detail, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


class Prober:
    """Probes the deployments out of rotation when due; `test` probes one at once."""

    def __init__(self, health: DeploymentHealth, targets: Iterable[ResolvedDeployment], transport: Transport):
        self.health, self.transport = health, transport
        self.targets = {}
        for t in targets:
            self.targets.setdefault(t.label, t)
        self._task: asyncio.Task | None = None
        self._running: set[str] = set()
        # With other gateways: may this one probe `label` now (one of them at a time, until it settles
        # its outcome, then none for `wait_s`)?
        self.claim: Callable[[str], Awaitable[bool]] | None = None
        self.settle: Callable[[str, float], Awaitable[None]] | None = None

    async def test(self, label: str) -> dict:
        target = self.targets[label]
        result = await probe(target, self.transport)
        self.health.probed(target, result["category"], result["detail"], result["status"])
        return result

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="deployment-probes")

    async def stop(self) -> None:
        await stop(self._task)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(_TICK_S)
            for label in self.health.due(time.time()):
                if label in self.targets and label not in self._running:
                    self._running.add(label)
                    asyncio.create_task(self._scheduled(label), name=f"probe {label}")

    async def _scheduled(self, label: str) -> None:
        try:
            if self.claim is not None:  # another gateway may be probing it: its outcome reaches this one
                if not await self.claim(label):
                    return
                try:
                    await self.test(label)
                finally:
                    await self.settle(label, self.health.policy(self.targets[label]).probe_s)
                return
            await self.test(label)
        except Exception:  # noqa: BLE001 - a probe must never take the gateway down
            log.exception("probing deployment %s failed", label)
        finally:
            self._running.discard(label)
