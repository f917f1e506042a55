"""What the runtime needs of a transport, and the errors a transport raises."""

from __future__ import annotations

from typing import Protocol, Sequence, Union

__all__ = ["Transport", "TransportClosed", "Packet"]

Packet = Union[str, bytes]
"""An Engine.IO packet: text whose first character is the type, or a binary message."""


class TransportClosed(Exception):
    """The transport ended; ``reason`` is ``"transport close"`` or ``"transport error"``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


class Transport(Protocol):
    """A connected Engine.IO transport, driven by a reader and a writer greenlet or hub callbacks."""

    name: str
    bytes_in: int
    """Bytes read so far."""
    bytes_out: int
    """Bytes written so far."""

    def read(self) -> list[Packet]:
        """Block until at least one packet arrived; raise TransportClosed at the end.

        A transport that can read without a greenlet also offers
        ``watch(on_packets, on_closed) -> bool`` (read in hub callbacks from now
        on) with ``pause_reading()`` and ``resume_reading()``.
        """

    def write(self, packets: Sequence[Packet]) -> None:
        """Send packets in order (after anything ``try_write`` kept), as few writes as possible.

        A transport that can write without blocking also offers
        ``try_write(packets) -> bool``, callable from the hub: it writes what the
        socket takes at once and keeps the rest for the next ``write``, returning
        True when nothing is left.
        """

    def close(self) -> None:
        """Close at once (idempotent); a blocked ``read`` raises TransportClosed."""

    def close_gracefully(self) -> None:
        """Tell the server we are leaving (best effort, bounded), then close."""

    def abandon(self) -> None:
        """In a forked child: close this process's copy of the connection, never shutting it down."""
