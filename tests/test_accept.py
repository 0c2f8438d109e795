"""accept.py over real sockets, on uvloop (the gateway's loop) and asyncio's own: a ready listener
is drained at once, every connection it takes serves, a closed one takes no more, and one out of
file descriptors pauses instead of spinning, then resumes."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap

import pytest
import uvloop

from seawall.accept import Listener

LOOPS = {"uvloop": uvloop.new_event_loop, "asyncio": asyncio.new_event_loop}


class Echo(asyncio.Protocol):
    made: list[Echo] = []

    def connection_made(self, transport):
        self.transport = transport
        Echo.made.append(self)

    def data_received(self, data):
        self.transport.write(data.upper())


def listening() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def connect(sock: socket.socket, n: int) -> list[socket.socket]:
    """n clients whose handshakes the kernel has completed: they wait in the accept queue."""
    return [socket.create_connection(sock.getsockname(), timeout=5) for _ in range(n)]


def run(loop_name: str, main, clients: list[socket.socket], sock: socket.socket) -> None:
    """main() on that event loop; then the clients (main may have added some) and the listener closed."""
    try:
        with asyncio.Runner(loop_factory=LOOPS[loop_name]) as runner:
            runner.run(main())
    finally:
        for c in clients:
            c.close()
        sock.close()


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_ready_listener_is_drained_in_one_go_and_each_connection_serves(loop_name):
    sock = listening()
    clients = connect(sock, 40)
    Echo.made = []

    async def main():
        listener = Listener(asyncio.get_running_loop(), sock, Echo)
        listener._accept()  # what the loop calls when the listener is ready: once
        assert len(listener.handing) == 40  # libuv's own listener would have taken one
        with pytest.raises(BlockingIOError):
            sock.accept()  # nothing left in the queue
        await asyncio.gather(*listener.handing)
        assert len(Echo.made) == 40
        for c in clients:
            c.setblocking(False)
            c.send(b"ping")
        got = []
        for c in clients:
            got.append(await asyncio.wait_for(asyncio.get_running_loop().sock_recv(c, 16), 5))
        assert got == [b"PING"] * 40
        await listener.close()

    run(loop_name, main, clients, sock)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_started_listener_accepts_as_clients_come_and_a_closed_one_stops(loop_name):
    sock = listening()
    Echo.made = []
    clients = []

    async def main():
        loop = asyncio.get_running_loop()
        listener = Listener(loop, sock, Echo)
        listener.start()
        clients.extend(connect(sock, 5))
        async with asyncio.timeout(10):
            while len(Echo.made) < 5:
                await asyncio.sleep(0.01)
        await listener.close()
        clients.extend(connect(sock, 3))  # queued by the kernel, never taken
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(Echo.made) == 5
        sock.accept()  # still waiting there for whoever listens next
        await listener.close()  # twice: no error

    run(loop_name, main, clients, sock)


def test_out_of_file_descriptors_it_pauses_then_takes_the_waiting_ones(tmp_path):
    """In a process of its own, its open-file limit lowered: the clients past the limit wait in
    the queue while the listener pauses (said once in the log, no busy loop), and are served once
    descriptors are free again."""
    script = textwrap.dedent("""
        import asyncio, logging, os, resource, socket, sys
        import uvloop
        from seawall import accept
        logging.basicConfig(level=logging.ERROR, stream=sys.stdout, format="%(message)s")
        accept.RETRY_S = 0.2

        made = []
        class P(asyncio.Protocol):
            def connection_made(self, t):
                made.append(t)

        async def main():
            sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(64); sock.setblocking(False)
            clients = [socket.create_connection(sock.getsockname()) for _ in range(12)]
            spare = [socket.socket() for _ in range(200)]  # fill the table up to the limit, minus a few
            in_use = len(os.listdir("/proc/self/fd"))
            resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 4, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
            listener = accept.Listener(asyncio.get_running_loop(), sock, P)
            listener.start()
            await asyncio.sleep(0.5)
            print("accepted while short:", len(made), flush=True)
            for s in spare:
                s.close()
            async with asyncio.timeout(10):
                while len(made) < 12:
                    await asyncio.sleep(0.05)
            print("accepted after:", len(made), flush=True)

        asyncio.Runner(loop_factory=uvloop.new_event_loop).run(main())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    short = next(line for line in lines if line.startswith("accepted while short:"))
    assert int(short.split()[3]) < 12
    assert "accepted after: 12" in lines
    pauses = [line for line in lines if line.startswith("cannot accept connections")]
    assert 1 <= len(pauses) < 100  # once per pause (0.2 s here); a listener that spun would say it thousands of times
    assert "raise the open-file limit" in pauses[0]
