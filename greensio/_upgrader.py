"""The upgrade from polling to WebSocket: the ``2probe``/``3probe``/``5`` exchange, losing no packet.

The probe runs while polling carries the traffic. Then writes are held, the
in-flight GET and POST finish (the server answers the GET with a NOOP), UPGRADE is
sent, and the connection switches: writes go to the WebSocket, and the reader moves
to it once it has read what polling brought. A failed probe leaves the connection
on polling, as it was.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional, cast

import gevent

from ._connection import Connection
from ._exceptions import ProtocolError
from ._io.transport import Pausable, Transport, TransportClosed
from ._outbox import Outbox

__all__ = ["upgrade"]

log = logging.getLogger("greensio")


def upgrade(
    connection: Connection, outbox: Outbox, open_websocket: Callable[[str], Transport], timeout: Optional[float]
) -> bool:
    """Probe and switch ``connection`` to a WebSocket (run in a greenlet); True if it switched."""
    polling = cast(Pausable, connection.transport)
    ws: Optional[Transport] = None
    held = False
    limit = gevent.Timeout(timeout)
    try:
        with limit:
            ws = open_websocket(connection.sid)
            ws.write(["2probe"])
            if ws.read()[:1] != ["3probe"]:
                raise ProtocolError("the server did not answer the upgrade probe")
            if cast(Any, connection.transport) is not polling or not connection.open:
                raise TransportClosed("transport close", "the connection ended during the probe")
            outbox.hold()
            held = True
            if not polling.pause():
                raise TransportClosed("transport error", "polling requests did not finish")
            ws.write(["5"])
        outbox.release(ws)
        connection.switch_to(ws)
        return True
    except (TransportClosed, ProtocolError, gevent.Timeout) as exc:
        if isinstance(exc, gevent.Timeout) and exc is not limit:
            raise
        log.debug("upgrade to websocket failed, staying on polling: %s", exc)
        if ws is not None:
            ws.close()
        if held:
            polling.resume()
            outbox.release()
        return False
    finally:
        if connection.upgrader is gevent.getcurrent():
            connection.upgrader = None
