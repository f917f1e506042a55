"""A server CLOSE frame right behind data: the data is delivered, then the transport ends."""

from __future__ import annotations

from typing import Any, Optional

import gevent
import gevent.event
import pytest
import websocket
from gevent import socket as gsocket

from greensio._core.wsframe import OP_CLOSE, OP_TEXT
from greensio._io.transport import TransportClosed
from greensio._io.websocket import WebSocketTransport

WAIT = 10


def server_frame(opcode: int, data: bytes) -> bytes:
    return websocket.ABNF(1, 0, 0, 0, opcode, 0, data).format()


def _pair() -> tuple[WebSocketTransport, Any]:
    ours, theirs = gsocket.socketpair()
    return WebSocketTransport(ours, 1 << 20), theirs


@pytest.mark.timeout(WAIT)
def test_a_greenlet_read_returns_what_came_before_the_close_then_ends() -> None:
    transport, server = _pair()
    try:
        server.sendall(
            server_frame(OP_TEXT, b'42["closing"]')
            + server_frame(OP_CLOSE, b"\x03\xe8")
            + server_frame(OP_TEXT, b'42["after the close"]')
        )
        assert transport.read() == ['42["closing"]']
        with pytest.raises(TransportClosed) as info:
            transport.read()
        assert info.value.reason == "transport close"
        assert server.recv(64)[:1] == bytes((0x80 | OP_CLOSE,))  # the close was answered
    finally:
        transport.close()
        server.close()


@pytest.mark.timeout(WAIT)
def test_a_watched_read_delivers_what_came_before_the_close_then_ends() -> None:
    transport, server = _pair()
    got: list[Any] = []
    closed = gevent.event.AsyncResult()

    def on_closed(reason: str, error: Optional[Exception]) -> None:
        closed.set((reason, error, list(got)))

    try:
        assert transport.watch(got.extend, on_closed)
        server.sendall(
            server_frame(OP_TEXT, b'42["closing"]')
            + server_frame(OP_CLOSE, b"\x03\xe8")
            + server_frame(OP_TEXT, b'42["after the close"]')
        )
        assert closed.get(timeout=WAIT) == ("transport close", None, ['42["closing"]'])
        assert got == ['42["closing"]']
    finally:
        transport.close()
        server.close()
