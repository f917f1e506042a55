"""Option parsing and validation for Manager and Socket."""

from __future__ import annotations

import json
import math
import ssl
from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping, Optional, Union

from ._core.url import check_no_crlf

__all__ = ["ManagerOptions", "SocketOptions", "split_options", "resolve"]

MappingOrFactory = Union[Mapping[str, Any], Callable[[], Mapping[str, Any]], None]
TRANSPORTS = ("polling", "websocket")


@dataclass
class ManagerOptions:
    """Connection options shared by every namespace socket of a Manager."""

    path: str = "/socket.io"
    query: MappingOrFactory = None
    extra_headers: MappingOrFactory = None
    transports: tuple[str, ...] = TRANSPORTS
    upgrade: bool = True
    remember_upgrade: bool = False
    timeout: Optional[float] = 20.0
    reconnection: bool = True
    reconnection_attempts: float = math.inf
    reconnection_delay: float = 1.0
    reconnection_delay_max: float = 5.0
    randomization_factor: float = 0.5
    force_new: bool = False
    multiplex: bool = True
    ssl_verify: bool = True
    ssl_context: Optional[ssl.SSLContext] = None
    proxy: Optional[str] = None
    json: Any = None
    parser: str = "default"
    max_buffer: Optional[int] = None
    handler_concurrency: Optional[int] = None
    max_message_size: int = 100 * 2**20
    max_attachments: int = 10
    observer: Any = None
    trust_env: bool = False

    def __post_init__(self) -> None:
        self.transports = tuple(self.transports)
        unknown = set(self.transports) - set(TRANSPORTS)
        if not self.transports or unknown:
            raise ValueError(f"transports must be a non-empty subset of {TRANSPORTS}, got {self.transports!r}")
        if self.parser not in ("default", "msgpack"):
            raise ValueError(f"parser must be 'default' or 'msgpack', got {self.parser!r}")
        for name in ("query", "extra_headers"):
            value = getattr(self, name)
            if value is not None and not callable(value):
                check_no_crlf(value, "header" if name == "extra_headers" else "query")
        if self.json is None:
            self.json = json
        for name in ("reconnection_delay", "reconnection_delay_max", "randomization_factor"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.max_message_size < 1 or self.max_attachments < 0:
            raise ValueError("max_message_size must be positive and max_attachments not negative")


@dataclass
class SocketOptions:
    """Options of one namespace socket."""

    auth: MappingOrFactory = None
    ack_timeout: Optional[float] = None
    retries: int = 0
    auto_connect: bool = True


_MANAGER_FIELDS = frozenset(f.name for f in fields(ManagerOptions))
_SOCKET_FIELDS = frozenset(f.name for f in fields(SocketOptions))


def split_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword arguments into Manager options and Socket options."""
    unknown = set(options) - _MANAGER_FIELDS - _SOCKET_FIELDS
    if unknown:
        raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
    manager = {k: v for k, v in options.items() if k in _MANAGER_FIELDS}
    socket = {k: v for k, v in options.items() if k in _SOCKET_FIELDS}
    return manager, socket


def resolve(value: MappingOrFactory, what: str) -> dict[str, Any]:
    """The dict a mapping-or-callable option stands for now; checked for CR/LF."""
    result = value() if callable(value) else value
    if result is None:
        return {}
    if not isinstance(result, Mapping):
        raise TypeError(f"{what} must be a dict or a callable returning one, got {type(result).__name__}")
    check_no_crlf(result, what)
    return dict(result)
