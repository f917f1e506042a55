"""The errors of python-socketio's client, as greensio errors too.

Each class keeps python-socketio's name and place in its tree (``SocketIOError``
at the root), so ``except socketio.exceptions.X`` works unchanged after the switch,
and is also a greensio error where one fits: ``SocketIOError`` is a
``greensio.Error``; ``ConnectionError``, ``TimeoutError`` and ``DisconnectedError``
are also greensio's (and so the builtin ``ConnectionError`` / ``TimeoutError``).
"""

from __future__ import annotations

from typing import Any

import greensio

__all__ = [
    "SocketIOError",
    "ConnectionError",
    "ConnectionRefusedError",
    "TimeoutError",
    "BadNamespaceError",
    "DisconnectedError",
]


class SocketIOError(greensio.Error):
    """Base class of the errors of ``greensio.compat``."""


class ConnectionError(SocketIOError, greensio.ConnectionError):  # noqa: A001
    """``connect()`` failed: the server is unreachable, refused a namespace, or did not answer."""


class ConnectionRefusedError(ConnectionError):  # noqa: A001
    """A connection refused with a message and optional data (python-socketio's server raises it).

    ``error_args`` is the CONNECT_ERROR payload: ``{"message": ...}`` plus ``"data"``
    when more than a message was given.
    """

    def __init__(self, *args: Any) -> None:
        message = str(args[0]) if args else "Connection rejected by server"
        self.error_args: dict[str, Any] = {"message": message}
        if len(args) == 2:
            self.error_args["data"] = args[1]
        elif len(args) > 2:
            self.error_args["data"] = args[1:]
        super().__init__(message, self.error_args.get("data"))


class TimeoutError(SocketIOError, greensio.TimeoutError):  # noqa: A001
    """``call()`` or ``SimpleClient.receive()`` got no answer in time."""


class BadNamespaceError(SocketIOError):
    """An emit or call to a namespace that is not connected."""


class DisconnectedError(SocketIOError, greensio.DisconnectedError):
    """The connection is gone (``SimpleClient``), or ended while ``call()`` waited."""


class CallDisconnectedError(DisconnectedError, TimeoutError):
    """``call()``'s connection ended before the answer came.

    python-socketio raised ``TimeoutError`` there, once the whole timeout had
    passed; greensio raises at once, with an error that code catching either
    ``DisconnectedError`` or ``TimeoutError`` handles.
    """
