"""greensio: a fast Socket.IO client (protocol v5 over Engine.IO v4) for gevent programs."""

from __future__ import annotations

from typing import Any, Optional

from ._exceptions import (
    BufferFullError,
    ConnectionError,
    DisconnectedError,
    Error,
    PayloadTooLargeError,
    ProtocolError,
    TimeoutError,
)
from ._manager import Manager
from ._socket import Socket
from ._stats import Stats

__version__ = "0.1.0"

__all__ = [
    "BufferFullError",
    "ConnectionError",
    "DisconnectedError",
    "Error",
    "Manager",
    "PayloadTooLargeError",
    "ProtocolError",
    "Socket",
    "Stats",
    "TimeoutError",
    "__version__",
    "connect",
]


def connect(url: str = "http://localhost", *, timeout: Optional[float] = None, **options: Any) -> Socket:
    """Return a connected Socket, or raise ConnectionError/TimeoutError leaving nothing running.

    ``timeout`` bounds the whole call (and each connection attempt).
    """
    options["auto_connect"] = False
    if timeout is not None:
        options["timeout"] = timeout
    socket = Socket(url, **options)
    try:
        socket.connect(wait=True, timeout=timeout)
    except BaseException:
        socket.disconnect()
        raise
    return socket
