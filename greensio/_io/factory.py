"""The transports greensio opens by default: HTTP long-polling and WebSocket over gevent sockets."""

from __future__ import annotations

from .polling import PollingTransport
from .transport import ConnectParams, Packet
from .websocket import WebSocketTransport

__all__ = ["GeventTransports"]


class GeventTransports:
    """The default TransportFactory."""

    __slots__ = ()

    def open_polling(self, params: ConnectParams) -> tuple[PollingTransport, list[Packet]]:
        return PollingTransport.open(params)

    def open_websocket(self, params: ConnectParams) -> WebSocketTransport:
        return WebSocketTransport.open(params)
