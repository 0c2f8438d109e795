"""Alert webhooks: Slack-compatible `{"text": …}` or the alert as JSON, posted off the request path.

A webhook can never slow or fail a request: `send` only puts the message in a bounded queue (past
`alerts.queue_size` the newest are dropped and counted); one task posts them, each with a timeout
and a few retries with backoff, and a failing webhook is logged once when it starts failing and
once when it works again. Webhook URLs may hold secrets (Slack's token is in the path), so only
their scheme and host are ever logged. Posts leave through the gateway's transport, with the
`network:` settings (proxy, environment, TLS) every upstream call has.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import orjson

from seawall.config import Timeouts
from seawall.config.alerts import WebhookSettings
from seawall.observe.incident import stop
from seawall.providers.base import UpstreamRequest
from seawall.providers.transport import Transport, UpstreamFailure

log = logging.getLogger("seawall.alerts")

_BACKOFF_S = (1.0, 2.0, 4.0, 8.0)  # then 8 s each: a webhook receiver restarting takes seconds
_ICONS = {("fired", "critical"): ":rotating_light:", ("fired", "warning"): ":warning:",
          ("fired", "info"): ":information_source:"}


def webhook_label(url: str) -> str:
    """How a webhook is named in logs: scheme and host only (the path may be a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}/…"


def slack_text(change: str, alert: dict) -> str:
    """One Slack message (mrkdwn): what, where, how bad against what, what to check first, which requests."""
    icon = _ICONS.get((change, alert["severity"]), ":white_check_mark:")
    head = f"{icon} *{alert['rule']}* {'FIRING' if change == 'fired' else 'resolved'} [{alert['severity']}] " \
           f"{alert['subject_kind']} `{alert['subject']}`"
    lines = [head, alert["summary"],
             f"value {alert['value']:g} vs threshold {alert['threshold']:g} ({alert['measure']}, "
             f"window {alert['window_s']:g} s) · category `{alert['category']}`"]
    if change == "fired":
        lines.append(f"Check first: {alert['hint']}")
    else:
        lines.append(f"Now {alert['current_value']:g}; it fired at {alert['fired_at']}.")
    if alert["example_request_ids"]:
        lines.append("Requests: " + ", ".join(f"`{r}`" for r in alert["example_request_ids"]) +
                     " (`seawall logs --request-id …`)")
    return "\n".join(lines)


def payload(hook: WebhookSettings, change: str, alert: dict) -> bytes:
    if hook.format == "slack":
        return orjson.dumps({"text": slack_text(change, alert)})
    return orjson.dumps({"source": "seawall", "event": change, "alert": alert})


_HEADERS = {"content-type": "application/json", "user-agent": "seawall-alerts"}


class Notifier:
    """`transport`: the gateway's (its proxies and TLS); without one, its own with the defaults."""

    def __init__(self, hooks: list[WebhookSettings], queue_size: int, transport: Transport | None = None):
        self._hooks = hooks
        self._queue: asyncio.Queue[tuple[WebhookSettings, bytes]] = asyncio.Queue(queue_size)
        self._task: asyncio.Task | None = None
        self._transport, self._own = (transport, False) if transport is not None else (Transport(), True)
        self._failing: set[str] = set()  # webhook urls in a failure incident
        self._full = False
        self.sent = self.failed = self.dropped = 0

    def stats(self) -> dict[str, int]:
        return {"configured": len(self._hooks), "sent": self.sent, "failed": self.failed, "dropped": self.dropped,
                "queued": self._queue.qsize()}

    def send(self, change: str, alert: dict) -> None:
        for hook in self._hooks:
            try:
                self._queue.put_nowait((hook, payload(hook, change, alert)))
                self._full = False
            except asyncio.QueueFull:
                self.dropped += 1
                if not self._full:
                    log.warning("alert webhooks: %d messages are waiting; dropping new ones until they drain",
                                self._queue.qsize())
                    self._full = True

    def start(self) -> None:
        if self._hooks:
            self._task = asyncio.create_task(self._run(), name="alert-webhooks")

    async def stop(self) -> None:
        await stop(self._task)
        if self._own:
            await self._transport.close()

    async def _run(self) -> None:
        while True:
            hook, body = await self._queue.get()
            await self.deliver(hook, body)

    async def deliver(self, hook: WebhookSettings, body: bytes) -> bool:
        problem = ""
        for attempt in range(hook.retries + 1):
            if attempt:
                await asyncio.sleep(_BACKOFF_S[min(attempt - 1, len(_BACKOFF_S) - 1)])
            limits = Timeouts(connect_s=hook.timeout_s, read_s=hook.timeout_s, total_s=hook.timeout_s)
            try:
                reply = await self._transport.open(UpstreamRequest("POST", hook.url, _HEADERS, body), limits)
                await reply.read()
                if reply.status < 300:
                    self._worked(hook)
                    return True
                problem = f"HTTP {reply.status}"
                if 400 <= reply.status < 500 and reply.status not in (408, 429):
                    break  # the receiver refuses this message: sending it again won't help
            except UpstreamFailure as e:
                # Its detail names hosts and proxies, never a URL's path (where a token lives).
                problem = f"{e.kind}: {e.detail}"
        self.failed += 1
        if hook.url not in self._failing:
            self._failing.add(hook.url)
            log.warning("alert webhook %s failed (%s) after %d tries; further failures are not logged until it "
                        "works again", webhook_label(hook.url), problem, hook.retries + 1)
        return False

    def _worked(self, hook: WebhookSettings) -> None:
        self.sent += 1
        if hook.url in self._failing:
            self._failing.discard(hook.url)
            log.warning("alert webhook %s works again", webhook_label(hook.url))
