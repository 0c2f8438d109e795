"""ASGI plumbing: read a body, wait for the client to leave, and cut a connection.

Cutting is the part ASGI has no words for. An app cannot ask its server to reset a connection:
raising before ``http.response.start`` makes uvicorn send a 500 (a reply, not a reset), and
returning early makes it log an error and send a 500 or close. So we reach the socket:
uvicorn passes ``send`` as a bound method of its per-request ``RequestResponseCycle``
(httptools and h11 implementations alike), whose ``transport`` is the connection's asyncio
transport. ``reset`` sets ``SO_LINGER`` to zero and aborts, so the kernel sends a TCP RST
(the client sees ECONNRESET); ``drop`` closes after flushing what was already written, with no
terminating chunk, so the client sees an incomplete body. The caller then waits for uvicorn to
notice the disconnect before returning, so uvicorn stays quiet (no "returned without
completing response" log, no 500 written to a dead socket).

Under a server without that attribute (an in-process ASGI test transport), both raise
``ConnectionCut``, which such transports surface to the client as a transport error.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_LINGER_ZERO = struct.pack("ii", 1, 0)


class ConnectionCut(Exception):
    """Raised to cut a connection when the server gives no access to its transport."""


async def read_body(receive: Receive) -> bytes:
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body"):
        return body
    parts = [body]
    while message.get("more_body"):
        message = await receive()
        parts.append(message.get("body", b""))
    return b"".join(parts)


async def wait_for_disconnect(receive: Receive) -> None:
    """Returns once the client has gone (call only after the body was read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


def _transport(send: Send) -> asyncio.Transport | None:
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    # Duck-typed: uvloop's transports do not inherit from asyncio.BaseTransport.
    return transport if hasattr(transport, "abort") and hasattr(transport, "get_extra_info") else None


def reset(send: Send) -> None:
    """Abort the connection with a TCP reset and no response bytes."""
    transport = _transport(send)
    if transport is None:
        raise ConnectionCut("connection reset by the simulator")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # If the socket is already closing, the abort alone still ends the connection.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    transport.abort()


def drop(send: Send) -> None:
    """Close the connection mid-body: bytes already sent are delivered, the rest never comes."""
    transport = _transport(send)
    if transport is None:
        raise ConnectionCut("connection closed mid-response by the simulator")
    transport.close()
