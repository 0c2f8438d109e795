"""This gateway as one of several on a Redis: built by app.py when limits.redis_url is set, it
hands out the shared backings (ids, sessions) while the gateway is built, then joins the
gateway's circuits and alerts to the others' (`attach`), and runs their background syncs.
"""

from __future__ import annotations

import logging

from seawall.cluster.alerts import SharedAlerts
from seawall.cluster.circuits import CircuitBoard
from seawall.cluster.ids import SharedIds
from seawall.cluster.link import Link
from seawall.cluster.sessions import RedisSessions
from seawall.config import ResolvedDeployment, Settings
from seawall.pipeline.task_checks import DEFAULT_MAX_TASKS

log = logging.getLogger("seawall.cluster")

# Midjourney keeps a task's images for weeks; an id older than this is unknown (the same 404).
TASK_TTL_S = 30 * 86_400.0


class Cluster:
    def __init__(self, settings: Settings, targets: list[ResolvedDeployment], link: Link | None = None):
        self.settings, self.targets = settings, targets
        self.link = link or Link(settings.limits.redis_url)
        self.board: CircuitBoard | None = None
        self.alerts: SharedAlerts | None = None
        self.ids: list[SharedIds] = []

    def task_ids(self) -> SharedIds:
        self.ids.append(SharedIds(self.link, "task", TASK_TTL_S, DEFAULT_MAX_TASKS, self.targets))
        return self.ids[-1]

    def response_ids(self) -> SharedIds:
        r = self.settings.responses
        self.ids.append(SharedIds(self.link, "response", r.retention_days * 86_400, r.max_upstream_ids,
                                  self.targets))
        return self.ids[-1]

    def sessions(self, ttl_s: float) -> RedisSessions:
        return RedisSessions(self.link, ttl_s)

    def attach(self, gateway) -> None:
        """Once the gateway is built: its breakers, rotation and alerts join the others'."""
        self.board = CircuitBoard(self.link, gateway.pipeline.retrier, gateway.prober)
        self.board.on_lost.append(self._write_ids_again)
        if gateway.alerts is not None:
            self.alerts = SharedAlerts(self.link, gateway.alerts)
            self.board.on_lost.append(self.alerts.republish)

    async def _write_ids_again(self) -> None:
        for ids in self.ids:
            sent = await ids.republish()
            if sent:
                log.warning("wrote again the %d %s ids this gateway holds", sent, ids.kind)

    async def start(self) -> None:
        """Before the gateway is ready: it starts with the circuits and rotation the others see."""
        await self.board.poll()
        self.board.start()
        log.info("circuits, issued ids, alerts and console sessions: shared with every gateway on Redis at %s "
                 "(this gateway: %s)", self.link.where, self.link.gateway_id)

    async def stop(self) -> None:
        await self.board.stop()
        if self.alerts is not None:
            await self.alerts.lease.release()
        await self.link.close()
