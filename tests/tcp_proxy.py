"""A TCP proxy a test can cut and restore, or slow down: a dependency (PostgreSQL, Redis) going
down and coming back at the same address, or answering late, without touching the real server
other tests share. A plain module, like pg_server.py."""

from __future__ import annotations

import selectors
import socket
import threading


class TcpProxy:
    """Forwards 127.0.0.1:<port> to `target` on a thread of its own. `cut()` closes the listener
    and every connection (the dependency is down: connections refused); `restore()` listens again."""

    def __init__(self, target: tuple[str, int], reply_delay_s: float = 0.0):
        self.target = target
        self.reply_delay_s = reply_delay_s  # each chunk from the target waits this long before it is passed on
        self.port = 0
        self._listener: socket.socket | None = None
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tcp-proxy", daemon=True)

    def start(self) -> TcpProxy:
        self._listen()
        self._thread.start()
        return self

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.setblocking(False)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
            self._selector.register(listener, selectors.EVENT_READ, None)

    def cut(self) -> None:
        with self._lock:
            if self._listener is not None:
                self._selector.unregister(self._listener)
                self._listener.close()
                self._listener = None
            for pair in self._pairs:
                self._drop(*pair)
            self._pairs.clear()

    def restore(self) -> None:
        self._listen()

    def close(self) -> None:
        self.cut()
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                events = self._selector.select(timeout=0) if self._selector.get_map() else []
            if not events:
                self._stop.wait(0.005)
                continue
            for key, _ in events:
                with self._lock:
                    if key.data is None:
                        self._accept(key.fileobj)
                    else:
                        self._pipe(key.fileobj, *key.data)

    def _accept(self, listener: socket.socket) -> None:
        try:
            client, _ = listener.accept()
            server = socket.create_connection(self.target, timeout=2)
        except OSError:
            return
        for s, peer in ((client, server), (server, client)):
            s.setblocking(True)
            s.settimeout(1)
            self._selector.register(s, selectors.EVENT_READ, (peer, s is server))
        self._pairs.append((client, server))

    def _pipe(self, source: socket.socket, sink: socket.socket, from_target: bool) -> None:
        try:
            data = source.recv(65536)
            if data:
                if from_target and self.reply_delay_s:  # late, without holding up other connections
                    threading.Timer(self.reply_delay_s, self._send_late, (sink, data)).start()
                else:
                    sink.sendall(data)
                return
        except OSError:
            pass
        self._drop(source, sink)
        self._pairs[:] = [p for p in self._pairs if source not in p]

    def _send_late(self, sink: socket.socket, data: bytes) -> None:
        try:
            sink.sendall(data)
        except OSError:
            pass

    def _drop(self, *sockets: socket.socket) -> None:
        for s in sockets:
            try:
                self._selector.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
