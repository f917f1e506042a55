"""greensio: a fast Socket.IO client (protocol v5 over Engine.IO v4) for gevent programs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

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
from ._options import signature_with_options
from ._socket import Socket
from ._stats import Stats

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._options import ConnectOptionsDict

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


def connect(
    url: str = "http://localhost",
    *,
    timeout: Optional[float] = None,
    retry: bool = False,
    **options: Unpack[ConnectOptionsDict],
) -> Socket:
    """Return a connected Socket, or raise leaving nothing running.

    Without ``retry`` the first failed attempt raises ``ConnectionError`` naming its
    cause. With ``retry`` attempts go on with the reconnection backoff until
    ``timeout``, then ``TimeoutError`` is raised, chained to the last attempt's error.
    ``timeout`` bounds the whole call (and each connection attempt).
    """
    all_options: dict[str, Any] = {**options, "auto_connect": False}
    if timeout is not None:
        all_options["timeout"] = timeout
    socket = Socket(url, **all_options)
    try:
        socket._connect(wait=True, timeout=timeout, fail_fast=not retry)
    except BaseException:
        socket.disconnect()
        raise
    return socket


connect.__signature__ = signature_with_options(connect)  # type: ignore[attr-defined]
