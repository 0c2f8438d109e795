"""The shared upstream transport over real HTTP: what it sends, keeps and reuses."""

from aiohttp import web

from seawall.config import Timeouts
from seawall.providers.base import UpstreamRequest
from seawall.providers.transport import Transport


async def start_upstream(handler, host: str = "127.0.0.1") -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://{host}:{port}/v1/chat/completions"


async def test_cookies_an_upstream_sets_never_travel_with_later_requests():
    """A CDN in front of a provider sets cookies; a gateway that kept them would send one
    client's cookies with every other client's requests."""
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"ok": True})
        response.set_cookie("__cf_bm", "client-a-session", path="/")
        return response

    runner, url = await start_upstream(handler, "localhost")  # by name: a cookie jar ignores IP hosts
    transport = Transport()
    try:
        for _ in range(3):
            resp = await transport.open(UpstreamRequest("POST", url, {"content-type": "application/json"}, b"{}"),
                                        Timeouts())
            assert resp.status == 200 and await resp.read() == b'{"ok": true}'
    finally:
        await transport.close()
        await runner.cleanup()
    assert seen == [None, None, None]


async def test_a_url_with_a_query_reaches_the_upstream_whole():
    """URLs are parsed once and remembered: the query (Azure's api-version, Gemini's alt=sse)
    must arrive as written, on every request."""
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        return web.json_response({})

    runner, url = await start_upstream(handler)
    transport = Transport()
    try:
        for _ in range(2):
            resp = await transport.open(UpstreamRequest("POST", url + "?api-version=2024-10-21&alt=sse", {}, b"{}"),
                                        Timeouts())
            await resp.read()
    finally:
        await transport.close()
        await runner.cleanup()
    assert seen == ["/v1/chat/completions?api-version=2024-10-21&alt=sse"] * 2
