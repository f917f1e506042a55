"""The typed contracts between the runtime's units, so that none reaches into another's private members.

- ``NamespaceSocket``: what the Manager and the Connection need of a namespace Socket.
- ``SocketHost``: what a Socket needs of its Manager.
- ``ConnectionHost``: what an Engine.IO Connection needs of its Manager.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, Sequence

from ._core.sio import Packet as SioPacket
from ._exceptions import ConnectionError, ProtocolError
from ._io.transport import Packet

if TYPE_CHECKING:
    from ._clock import Clock
    from ._connection import Connection
    from ._core.sio3 import Link
    from ._dispatch import Dispatcher
    from ._options import ManagerOptions
    from ._outbox import Outbox
    from ._runner import Runner
    from ._stats import Counters

__all__ = ["NamespaceSocket", "SocketHost", "ConnectionHost", "Encoder"]


class Encoder(Protocol):
    """A Socket.IO packet encoder (JSON or msgpack)."""

    def encode(self, type: int, nsp: str, data: Any = None, id: Optional[int] = None) -> tuple[Any, list[bytes]]: ...


class NamespaceSocket(Protocol):
    """A namespace socket as its Manager drives it."""

    @property
    def namespace(self) -> str: ...

    @property
    def active(self) -> bool: ...

    @property
    def connected(self) -> bool: ...

    @property
    def buffered(self) -> int:
        """Packets waiting in the offline buffer."""

    def on_open(self) -> None:
        """The Engine.IO connection is open: join the namespace."""

    def on_packet(self, packet: SioPacket, size: int) -> None:
        """A Socket.IO packet for this namespace (``size``: its bytes, attachments included)."""

    def on_close(self, reason: str) -> None:
        """The connection ended (the socket may reconnect)."""

    def on_open_failed(self, err: ConnectionError) -> bool:
        """An attempt to open the connection failed; True if a blocked connect() was given the error."""

    def give_up(self, err: ConnectionError) -> None:
        """The Manager stopped reconnecting."""

    def disconnect(self) -> Any:
        """Leave the namespace (as the user's ``disconnect()``)."""

    def expire(self, now: float) -> float:
        """Fail the acks whose deadline passed; return the next deadline."""

    def next_deadline(self) -> float:
        """The earliest ack deadline (``inf`` when none)."""

    def resolved_auth(self) -> Optional[dict[str, Any]]:
        """The ``auth`` option's value now (a callable is called), or None."""


class SocketHost(Protocol):
    """A Manager as its namespace sockets use it."""

    options: ManagerOptions
    home_hub: Any
    """The hub of the thread that may use the sockets (None in a forked child)."""
    limits: Optional[tuple[int, bool]]
    """The server's maxPayload and whether binary goes base64-encoded, while connected."""
    encoder: Encoder
    observer: Any
    clock: Clock
    dispatch: Dispatcher
    write: Callable[[Sequence[Packet]], None]
    """Queue one packet's frames; they leave in order, contiguously (never blocks)."""
    link: Optional[Link]
    """Engine.IO v3 (Socket.IO 2.x servers): what joining and leaving a namespace takes; None in v4."""

    def check_usable(self) -> None:
        """Raise ``greensio.Error`` in a forked child or from a thread that is not the hub's."""

    @property
    def forked(self) -> bool: ...

    @property
    def transport(self) -> Optional[str]: ...

    def sendable(self) -> bool:
        """The connection is open and its heartbeat is alive: a packet written now goes out."""

    def writable_now(self) -> bool:
        """Nothing waits to be written (a volatile emit is dropped otherwise)."""

    def part(self, frames: Sequence[Packet]) -> None:
        """Write a namespace's DISCONNECT once what was emitted before it reached the server (bounded)."""

    def arm(self, deadline: float) -> None:
        """Make the deadline timer fire no later than ``deadline``."""

    def connect_timed_out(self) -> None:
        """A namespace CONNECT got no reply within the timeout."""

    def attach(self, socket: NamespaceSocket) -> None:
        """The socket became active: open the connection if needed, or join at once."""

    def detach(self, socket: NamespaceSocket) -> None:
        """The socket became inactive: close the connection when no socket is active."""

    def run_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None: ...

    def register(self, socket: NamespaceSocket) -> None:
        """A new socket for its namespace."""

    def others_active(self, socket: NamespaceSocket) -> bool:
        """Another socket than ``socket`` is active."""

    def connect_reply_failed(self, data: Any, error: ProtocolError) -> Optional[ConnectionError]:
        """A CONNECT reply the socket could not take: the error to report, or None when the connection
        is being reopened in Engine.IO v3 (the socket just waits)."""


class ConnectionHost(Protocol):
    """A Manager as its Engine.IO Connection uses it."""

    runner: Runner
    outbox: Outbox
    counters: Counters
    sockets: dict[str, Any]
    """Namespace -> NamespaceSocket, to route incoming packets."""

    def fire(self, event: str, *args: Any) -> None:
        """Fire a Manager event (``ping``, ``error``...)."""

    def connection_closed(self, connection: Connection, reason: str) -> None:
        """The connection ended with ``reason`` (called once, from the hub or a greenlet; never blocks)."""

    def connection_upgraded(self, connection: Connection) -> None:
        """The connection moved to WebSocket."""
