"""Alert webhooks against a loopback receiver: payload shapes, retries, failures logged once and
without the URL's token, and a full queue that drops instead of waiting."""

import asyncio
import logging

import orjson
import pytest
from aiohttp import web
from proxy_servers import PASSWORD, USER, squid

from seawall.config import NetworkSettings
from seawall.config.alerts import WebhookSettings
from seawall.observe import webhooks
from seawall.observe.webhooks import Notifier, payload, slack_text, webhook_label
from seawall.providers.network import Network
from seawall.providers.transport import Transport

TOKEN = "T000/B000/s3cr3tWebhookToken"
ALERT = {"rule": "upstream_rate_limited", "severity": "warning", "state": "firing", "subject": "openai-main",
         "subject_kind": "deployment", "summary": "openai-main answered 429 to 40% of attempts", "value": 0.4, "current_value": 0.0,
         "threshold": 0.2, "measure": "ratio", "events": 20, "bad": 8, "window_s": 60.0,
         "category": "rate_limit.requests", "hint": "lower concurrency", "check_first": None,
         "example_request_ids": ["req_1", "req_2"], "first_seen": None, "last_seen": None, "fired_at": None,
         "resolved_at": None}


@pytest.fixture
def fast_backoff(monkeypatch):
    monkeypatch.setattr(webhooks, "_BACKOFF_S", (0.01,))


async def receiver(answers: list[int], delay: float = 0.0):
    """A loopback receiver answering the given statuses in turn (the last one repeated)."""
    got: list[bytes] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.read())
        await asyncio.sleep(delay)
        return web.Response(status=answers.pop(0) if len(answers) > 1 else answers[0])

    app = web.Application()
    app.router.add_post("/{tail:.*}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}/services/{TOKEN}", got


def test_payload_shapes():
    slack = orjson.loads(payload(WebhookSettings(url="https://hooks.slack.com/x", format="slack"), "fired", ALERT))
    assert list(slack) == ["text"] and "*upstream_rate_limited* FIRING [warning]" in slack["text"]
    assert "`req_1`" in slack["text"] and "Check first: lower concurrency" in slack["text"]
    plain = orjson.loads(payload(WebhookSettings(url="https://x.example/h"), "resolved", ALERT))
    assert plain == {"source": "seawall", "event": "resolved", "alert": ALERT}
    resolved = slack_text("resolved", ALERT)
    assert "resolved" in resolved and "Now 0;" in resolved and "Check first" not in resolved


def test_a_webhook_is_named_by_scheme_and_host_only():
    assert webhook_label(f"https://hooks.slack.com/services/{TOKEN}") == "https://hooks.slack.com/…"
    assert webhook_label("http://user:pw@10.0.0.1:9000/x?token=1") == "http://10.0.0.1:9000/…"


async def test_retries_then_logs_one_failure_without_the_token_and_recovers(fast_backoff, caplog):
    runner, url, got = await receiver([503, 503, 503, 503, 503, 503, 200])
    notifier = Notifier([WebhookSettings(url=url, retries=2)], 10)
    notifier.start()
    try:
        with caplog.at_level(logging.WARNING, logger="seawall.alerts"):
            notifier.send("fired", ALERT)
            notifier.send("fired", ALERT)
            notifier.send("resolved", ALERT)
            for _ in range(200):
                if notifier.sent:
                    break
                await asyncio.sleep(0.01)
        assert len(got) == 7 and notifier.failed == 2 and notifier.sent == 1  # 3 tries, 3 tries, then 1
        messages = [r.getMessage() for r in caplog.records]
        assert len(messages) == 2 and "failed (HTTP 503) after 3 tries" in messages[0]
        assert "works again" in messages[1]
        assert all("s3cr3t" not in m for m in messages) and "http://127.0.0.1:" in messages[0]
    finally:
        await notifier.stop()
        await runner.cleanup()


async def test_a_client_error_is_not_retried_and_an_unreachable_hook_names_no_token(fast_backoff, caplog):
    runner, url, got = await receiver([400])
    notifier = Notifier([WebhookSettings(url=url, retries=3)], 10)
    try:
        assert await notifier.deliver(notifier._hooks[0], b"{}") is False and len(got) == 1
        await runner.cleanup()  # now nothing listens there
        gone = WebhookSettings(url=url.replace("/services", "/other"), retries=1)
        with caplog.at_level(logging.WARNING, logger="seawall.alerts"):
            assert await notifier.deliver(gone, b"{}") is False
        assert "failed (connect: connection refused" in caplog.text and "s3cr3t" not in caplog.text
    finally:
        await notifier.stop()


async def test_a_slow_hook_times_out(fast_backoff):
    runner, url, got = await receiver([200], delay=2.0)
    notifier = Notifier([WebhookSettings(url=url, retries=0, timeout_s=0.2)], 10)
    try:
        started = asyncio.get_running_loop().time()
        assert await notifier.deliver(notifier._hooks[0], b"{}") is False
        assert asyncio.get_running_loop().time() - started < 1.5
    finally:
        await notifier.stop()
        await runner.cleanup()


async def test_a_full_queue_drops_new_messages_and_says_so_once(caplog):
    notifier = Notifier([WebhookSettings(url="http://127.0.0.1:9/x")], queue_size=2)  # never started: nothing drains
    with caplog.at_level(logging.WARNING, logger="seawall.alerts"):
        for _ in range(5):
            notifier.send("fired", ALERT)  # returns at once: a request never waits on a webhook
    assert notifier.stats() == {"configured": 1, "sent": 0, "failed": 0, "dropped": 3, "queued": 2}
    assert len(caplog.records) == 1 and "dropping new ones" in caplog.text


async def test_webhooks_leave_through_the_gateways_proxy():
    """The same network settings as the upstream calls: a proxy the gateway needs, webhooks need too."""
    runner, url, got = await receiver([200])
    with squid() as proxy:
        transport = Transport(network=Network(NetworkSettings(proxy=proxy.url("http", USER, PASSWORD)), {}))
        notifier = Notifier([WebhookSettings(url=url, retries=0)], 10, transport)
        try:
            assert await notifier.deliver(notifier._hooks[0], b'{"via": "proxy"}') is True
        finally:
            await notifier.stop()
            await transport.close()
            await runner.cleanup()
        for _ in range(100):  # squid logs a request once it is done
            with open(f"{proxy.folder}/access.log") as f:
                if f"POST {url}" in f.read():
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the webhook did not go through the proxy")
    assert got == [b'{"via": "proxy"}']
