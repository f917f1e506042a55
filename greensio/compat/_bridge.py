"""Every place where greensio.compat reaches past greensio's public API, and why.

The rest of ``greensio.compat`` uses only ``Manager`` and ``Socket`` as SPEC §2
documents them; what python-socketio's API needs beyond that is here, so that a
change of greensio's internals is adapted in this one file:

1. ``engine_sid(manager)`` — python-socketio's ``Client.sid`` is the Engine.IO
   session id, which greensio does not publish (reads ``Manager._engine``).
2. ``route_events(socket, handler)`` — python-socketio lets one handler (``'*'``,
   a namespace ``'*'``, a class-based namespace) answer any event, and always
   answers an event that asked for an ack, even without a handler (with no
   arguments). greensio's catch-all listeners (``on_any``) cannot answer, and
   greensio sends no ack without a handler. So each event goes to one routing
   function whose return value is the ack (replaces ``Socket._run_event``,
   writes the ACK with ``Socket._send_packet``).
3. ``connect_once(socket, timeout)`` — a blocking namespace connect that raises at
   the first failed attempt instead of waiting for the reconnection policy to give
   up (python-socketio's ``connect()`` without ``retry``): the fail-fast wait of
   ``Socket._connect``, which ``greensio.connect()`` uses but ``Socket.connect()``
   does not offer.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from .._core import sio
from .._manager import Manager
from .._socket import Socket

__all__ = ["engine_sid", "route_events", "connect_once"]

log = logging.getLogger("greensio")
EventRoute = Callable[[str, list[Any]], Any]


def engine_sid(manager: Optional[Manager]) -> Optional[str]:
    """The Engine.IO session id of ``manager``'s open connection, else None."""
    engine = getattr(manager, "_engine", None)
    handshake = getattr(engine, "handshake", None)
    sid = getattr(handshake, "sid", None)
    return sid if isinstance(sid, str) else None


def route_events(socket: Socket, route: EventRoute) -> None:
    """Hand every event of ``socket`` to ``route(event, args)``, in a handler greenlet.

    When the server asked for an ack, it gets ``route``'s return value (None: no
    arguments, a tuple: several), unless ``route`` raised (logged; no ack, as in
    python-socketio).
    """

    def run_event(event: Any, args: list[Any], ack_id: Optional[int]) -> None:
        try:
            result = route(event, args)
        except Exception:
            log.exception("handler for %r raised", event)
            return
        if ack_id is not None and socket.connected:
            if result is None:
                data: list[Any] = []
            elif isinstance(result, tuple):
                data = list(result)
            else:
                data = [result]
            socket._send_packet(sio.ACK, data, ack_id)

    socket._run_event = run_event  # type: ignore[method-assign]


def connect_once(socket: Socket, timeout: Optional[float]) -> None:
    """Block until ``socket`` is connected; raise the first failed attempt's ConnectionError."""
    socket._connect(wait=True, timeout=timeout, fail_fast=True)
