"""The two ways of serving: ``run`` in its own process, ``serve_on_socket`` embedded."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import sys
import time

import openai
import pytest

from seawall.simulator.config import SimulatorSettings
from seawall.simulator.server import serve_on_socket

from .support import fault, user


def test_run_prints_its_url_and_serves(tmp_path):
    config = tmp_path / "sim.yaml"
    config.write_text("api_keys: [sk-run-test]\n")
    code = f"from seawall.simulator.server import run; run('127.0.0.1', 0, {str(config)!r})"
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("seawall simulator listening on http://127.0.0.1:") and line.endswith("/v1")
        base = line.removeprefix("seawall simulator listening on ")
        sdk = openai.OpenAI(base_url=base, api_key="sk-run-test", max_retries=0)
        assert sdk.chat.completions.create(model="gpt-4o-mini", messages=user()).choices
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=base, api_key="sk-other", max_retries=0).models.list()
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) is not None
    assert "Traceback" not in process.stderr.read()


def test_run_rejects_a_bad_config(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("rate_limits: {rpm: -1}\n")
    code = f"from seawall.simulator.server import run; run('127.0.0.1', 0, {str(config)!r})"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "rate_limits.rpm" in result.stderr


async def test_embedded_leaves_signals_alone_and_stops_with_requests_in_flight():
    handler_before = signal.getsignal(signal.SIGINT)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = asyncio.create_task(serve_on_socket(SimulatorSettings(), sock))
    base = f"http://127.0.0.1:{port}/v1"
    async with openai.AsyncOpenAI(base_url=base, api_key="k", max_retries=0) as sdk:
        for _ in range(200):
            with contextlib.suppress(openai.APIConnectionError):
                await sdk.models.list()
                break
            await asyncio.sleep(0.01)
        assert signal.getsignal(signal.SIGINT) is handler_before
        hanging = asyncio.create_task(sdk.chat.completions.create(model="gpt-4o", messages=user(), **fault("hang")))
        stalled = await sdk.chat.completions.create(model="gpt-4o", messages=user(), stream=True,
                                                    **fault("stall_after=2"))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server
        assert time.monotonic() - started < 2
        with pytest.raises(openai.APIConnectionError):
            await hanging
        with pytest.raises(openai.APIConnectionError):
            async for _ in stalled:
                pass
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    assert signal.getsignal(signal.SIGINT) is handler_before
