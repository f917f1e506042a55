"""Engine.IO v3 connection state: the client sends the heartbeat.

Rules (those of engine.io-client 3.x, the reference client of Socket.IO 2.x):
- The first packet of a connection must be OPEN. From it, the first PING is
  due after pingInterval and the deadline is ``now + pingInterval + pingTimeout``.
- ``tick(now)`` queues a PING once it is due; from then the server has
  pingTimeout to answer (``deadline = now + pingTimeout``) and no other PING
  is sent until the PONG.
- Every packet received moves the deadline to ``now + pingInterval +
  pingTimeout`` (anything from the server shows it is alive); a PONG also
  schedules the next PING, pingInterval later, and measures ``rtt``.
- MESSAGE packets go to the Socket.IO layer, never here (the runtime calls
  ``alive(now)`` once per batch read); NOOP and a server PING (which a v3 server
  never sends) are ignored.
- CLOSE ends the connection; a second OPEN, a MESSAGE, an UPGRADE or an unknown
  type is a protocol error.

What the servers do (tests/v3/test_v3_servers_raw.py): neither ever sends PING.
Node 2.x answers a PING with a PONG without its data (but for the upgrade probe),
python-engineio 3 echoes the data; Node closes a connection that sent nothing for
pingInterval + pingTimeout, python-engineio 3 one that sent no PING for
pingInterval + 5 s (its grace period), and ends a long-poll that found nothing to
send within pingTimeout (HTTP 400, session closed; its defaults, 25 s and 60 s,
never let that happen between PINGs). After UPGRADE, python-engineio 3 sends a
NOOP on the WebSocket. A server-side close: Node closes the WebSocket without a
CLOSE packet; python-engineio 3 sends CLOSE and leaves the WebSocket to the client
to close (engine.io-client 3 ignores that CLOSE; here it ends the connection).

The interface is that of :class:`greensio._core.engine.EngineState`: the
runtime arms its timer at ``next_timer`` and calls ``tick(now)`` when it fires,
then writes ``outbox``.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Optional

from .._exceptions import ProtocolError
from .eio import CLOSE, NOOP, OPEN, PING, PONG, Handshake, parse_handshake
from .engine import EngineClosed

__all__ = ["EngineState3"]


class EngineState3:
    """One Engine.IO v3 session seen from the client; ``outbox`` holds packets to send."""

    __slots__ = ("handshake", "deadline", "outbox", "ping_due", "rtt", "_ping_sent", "_loads")

    def __init__(self, loads: Callable[[str], Any] = json.loads) -> None:
        self.handshake: Optional[Handshake] = None
        self.deadline = math.inf
        self.ping_due = math.inf
        self.rtt: Optional[float] = None
        self.outbox: list[str] = []
        self._ping_sent = math.nan
        self._loads = loads

    def open(self, packet: str, now: float) -> Handshake:
        """Take the server's OPEN packet: the first PING is due pingInterval later."""
        if not packet.startswith(OPEN):
            raise ProtocolError(f"expected an OPEN packet, got {packet[:20]!r}")
        hs = self.handshake = parse_handshake(packet[1:], self._loads)
        self.ping_due = now + hs.ping_interval
        self.deadline = now + hs.ping_interval + hs.ping_timeout
        return hs

    def receive(self, packet: str, now: float) -> None:
        """Handle one control packet (MESSAGE packets go to the Socket.IO decoder, not here)."""
        hs = self.handshake
        assert hs is not None
        self.deadline = now + hs.ping_interval + hs.ping_timeout
        kind = packet[:1]
        if kind == PONG:
            if self.ping_due == math.inf:  # the answer to our PING (a stray PONG changes nothing)
                self.rtt = now - self._ping_sent
                self.ping_due = now + hs.ping_interval
            return
        if kind == NOOP or kind == PING:
            return
        if kind == CLOSE:
            raise EngineClosed()
        if kind == OPEN:
            raise ProtocolError("unexpected second OPEN packet")
        raise ProtocolError(f"unexpected Engine.IO packet {packet[:20]!r}")

    def alive(self, now: float) -> None:
        """Packets arrived (the runtime calls it once per batch, MESSAGEs included): the server lives."""
        hs = self.handshake
        if hs is not None:
            self.deadline = now + hs.ping_interval + hs.ping_timeout

    def tick(self, now: float) -> None:
        """Queue a PING if one is due; the PONG must then come within pingTimeout."""
        hs = self.handshake
        if hs is None or now < self.ping_due:
            return
        self.outbox.append(PING)
        self._ping_sent = now
        self.ping_due = math.inf
        self.deadline = now + hs.ping_timeout

    @property
    def next_timer(self) -> float:
        """When the runtime must call ``tick`` or check ``expired`` next."""
        return min(self.ping_due, self.deadline)

    def expired(self, now: float) -> bool:
        """True once the server stayed silent past the deadline."""
        return now >= self.deadline
