"""Fixtures: a real simulator on a loopback ephemeral port, in the test's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import openai
import pytest

from seawall.simulator.config import SimulatorSettings
from seawall.simulator.server import serve_on_socket

StartSimulator = Callable[..., Awaitable[str]]


async def _wait_until_listening(port: int) -> None:
    for _ in range(500):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.005)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError("simulator did not start listening")


@pytest.fixture
async def start_simulator() -> AsyncIterator[StartSimulator]:
    """``await start_simulator(settings)`` → base URL (``http://127.0.0.1:PORT``)."""
    tasks: list[asyncio.Task[None]] = []

    async def start(settings: SimulatorSettings | None = None) -> str:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        tasks.append(asyncio.create_task(serve_on_socket(settings or SimulatorSettings(), sock)))
        await _wait_until_listening(port)
        return f"http://127.0.0.1:{port}"

    yield start
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def base_url(start_simulator: StartSimulator) -> str:
    return await start_simulator()


@pytest.fixture
async def client(base_url: str) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="sk-test", max_retries=0) as sdk:
        yield sdk
