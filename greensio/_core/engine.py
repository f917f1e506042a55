"""Engine.IO connection state: handshake, heartbeat deadline, control packets.

Rules:
- The first packet of a connection must be OPEN; it sets the heartbeat deadline
  to ``now + pingInterval + pingTimeout``.
- Every PING moves the deadline forward the same way and queues a PONG.
- MESSAGE packets go to the Socket.IO layer, never here; NOOP is ignored anywhere.
- CLOSE ends the connection; a second OPEN, a MESSAGE, an UPGRADE or an unknown
  type is a protocol error.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Optional

from .._exceptions import ProtocolError
from .eio import CLOSE, NOOP, OPEN, PING, PONG, Handshake, parse_handshake

__all__ = ["EngineState", "EngineClosed"]


class EngineClosed(Exception):
    """The server sent CLOSE."""


class EngineState:
    """One Engine.IO session seen from the client; ``outbox`` holds packets to send."""

    __slots__ = ("handshake", "deadline", "outbox", "_loads")

    def __init__(self, loads: Callable[[str], Any] = json.loads) -> None:
        self.handshake: Optional[Handshake] = None
        self.deadline = math.inf
        self.outbox: list[str] = []
        self._loads = loads

    def open(self, packet: str, now: float) -> Handshake:
        """Take the server's OPEN packet and start the heartbeat clock."""
        if not packet.startswith(OPEN):
            raise ProtocolError(f"expected an OPEN packet, got {packet[:20]!r}")
        self.handshake = parse_handshake(packet[1:], self._loads)
        self._beat(now)
        return self.handshake

    def receive(self, packet: str, now: float) -> None:
        """Handle one control packet (MESSAGE packets go to the Socket.IO decoder, not here)."""
        kind = packet[:1]
        if kind == PING:
            self._beat(now)
            self.outbox.append(PONG + packet[1:])
            return
        if kind == NOOP:
            return
        if kind == CLOSE:
            raise EngineClosed()
        if kind == OPEN:
            raise ProtocolError("unexpected second OPEN packet")
        raise ProtocolError(f"unexpected Engine.IO packet {packet[:20]!r}")

    def expired(self, now: float) -> bool:
        """True once no PING arrived within pingInterval + pingTimeout."""
        return now >= self.deadline

    def tick(self, now: float) -> None:
        """Nothing to do on a timer: in v4 the server sends the heartbeat (see engine3.EngineState3)."""

    def alive(self, now: float) -> None:
        """Packets arrived (called once per batch read): in v4 only a PING moves the deadline."""

    @property
    def next_timer(self) -> float:
        """When the runtime must check ``expired`` next: the deadline."""
        return self.deadline

    def _beat(self, now: float) -> None:
        hs = self.handshake
        assert hs is not None
        self.deadline = now + hs.ping_interval + hs.ping_timeout
