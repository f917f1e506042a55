"""The public error tree of greensio."""

from __future__ import annotations

from typing import Any

__all__ = [
    "Error",
    "ConnectionError",
    "DisconnectedError",
    "TimeoutError",
    "ProtocolError",
    "BufferFullError",
    "PayloadTooLargeError",
]

_BuiltinConnectionError = ConnectionError
_BuiltinTimeoutError = TimeoutError


class Error(Exception):
    """Base class of every error greensio raises."""


class ConnectionError(Error, _BuiltinConnectionError):  # noqa: A001
    """A connection could not be made or was refused; ``data`` holds the server's reason."""

    def __init__(self, message: str = "", data: Any = None) -> None:
        super().__init__(message)
        self.data = data


class DisconnectedError(ConnectionError):
    """The socket disconnected while an acknowledgement was awaited."""


class TimeoutError(Error, _BuiltinTimeoutError):  # noqa: A001
    """An operation did not finish before its deadline."""


class ProtocolError(Error, ValueError):
    """The server sent a malformed packet."""


class BufferFullError(Error):
    """The offline send buffer is full (see the ``max_buffer`` option)."""


class PayloadTooLargeError(Error, ValueError):
    """A packet exceeds the server's ``maxPayload``."""
