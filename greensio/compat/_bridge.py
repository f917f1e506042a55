"""Every place where greensio.compat reaches past greensio's public API, and why.

The rest of ``greensio.compat`` uses only ``Manager`` and ``Socket`` as SPEC §2
documents them (``Manager.sid`` included); what python-socketio's API needs beyond
that is here, so that a change of greensio's internals is adapted in this one file:

1. ``route_events(socket, route)`` — python-socketio lets one handler (``'*'``, a
   namespace ``'*'``, a class-based namespace) answer any event, and always answers
   an event that asked for an ack, even without a handler (with no arguments).
   greensio's catch-all listeners (``on_any``) cannot answer, and greensio sends no
   ack without a handler. So every event goes to one routing function whose return
   value is the ack: the socket's ``Namespace`` (``Socket._ns``) gets that function
   as its ``router``.
2. ``connect_once(socket, timeout)`` — a blocking namespace connect that raises at
   the first failed attempt instead of waiting for the reconnection policy to give
   up (python-socketio's ``connect()`` without ``retry``): the fail-fast wait of
   ``Socket._connect``, which ``greensio.connect()`` uses but ``Socket.connect()``
   does not offer (e.g. ``Socket.connect(wait=True, retry=False)`` would do).
3. ``connection_state(socket)`` — ``emit()`` and ``call()`` must check that the
   namespace is connected (``BadNamespaceError``) on every call; ``Socket.connected``
   is three property calls deep, a tenth of a microsecond that shows in the compat
   benchmark row, so the hot paths read the namespace session's ``connected``
   attribute (``Socket._ns.session``) instead.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional, Protocol

from .._socket import Socket

__all__ = ["route_events", "connect_once", "connection_state", "ConnectionState"]

log = logging.getLogger("greensio")
EventRoute = Callable[[str, list[Any]], Any]


class ConnectionState(Protocol):
    """Whether a namespace is connected, as one attribute read."""

    connected: bool


def route_events(socket: Socket, route: EventRoute) -> None:
    """Hand every event of ``socket`` to ``route(event, args)``, in a handler greenlet.

    When the server asked for an ack, it gets ``route``'s return value (None: no
    arguments, a tuple: several), unless ``route`` raised (logged; no ack, as in
    python-socketio).
    """
    socket._ns.router = route


def connect_once(socket: Socket, timeout: Optional[float]) -> None:
    """Block until ``socket`` is connected; raise the first failed attempt's ConnectionError."""
    socket._connect(wait=True, timeout=timeout, fail_fast=True)


def connection_state(socket: Socket) -> ConnectionState:
    """An object whose ``connected`` attribute is ``socket``'s connected state (for the hot paths)."""
    return socket._ns.session
