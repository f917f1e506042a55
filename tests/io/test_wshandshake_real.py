"""The sans-I/O WebSocket handshake (greensio._core.wshandshake) against the real servers.

A plain gevent socket sends ``build_request`` for the Engine.IO WebSocket endpoint;
``ClientHandshake`` reads the reply, and the bytes after the head start the
server's first frame: a text frame holding the Engine.IO OPEN packet. The
servers' replies are also checked by websocket-client's own validation, as an oracle.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Optional, Union

import gevent
import pytest
from gevent import socket
from websocket import _handshake as websocket_handshake

from greensio._core.http import ResponseParser
from greensio._core.wshandshake import Accepted, ClientHandshake, HandshakeRejected, build_request, new_key
from tests.servers.process import ServerProcess

pytestmark = pytest.mark.timeout(60)

WAIT = 10  # seconds, bound of every wait on a server
RESOURCE = "/socket.io/?EIO=4&transport=websocket"


def handshake(
    server: ServerProcess, resource: str = RESOURCE, headers: Optional[dict[str, str]] = None
) -> tuple[socket.socket, str, Union[Accepted, Exception], bytes]:
    """Open a socket and do the handshake: the socket, the key, the Accepted (or what was raised), the bytes read."""
    key = new_key(os.urandom(16))
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    sock.sendall(build_request(resource, f"127.0.0.1:{server.port}", key, headers or {}))
    reader = ClientHandshake(key)
    raw = b""
    with gevent.Timeout(WAIT):
        while True:
            data = sock.recv(4096)
            raw += data
            try:
                accepted = reader.feed(data) if data else reader.feed_eof()
            except Exception as exc:  # the caller asserts which
                return sock, key, exc, raw
            if accepted is not None:
                return sock, key, accepted, raw


def frame_span(data: bytes) -> Optional[tuple[int, int]]:
    """Where the payload of the server frame at the start of ``data`` lies, None while it is incomplete."""
    if len(data) < 2:
        return None
    assert data[1] & 0x80 == 0, "a server frame is never masked"
    size, start = data[1] & 0x7F, 2
    if size == 126:
        if len(data) < 4:
            return None
        (size,), start = struct.unpack("!H", data[2:4]), 4
    elif size == 127:
        if len(data) < 10:
            return None
        (size,), start = struct.unpack("!Q", data[2:10]), 10
    return (start, start + size) if len(data) >= start + size else None


def first_frame(sock: socket.socket, data: bytes) -> tuple[int, bytes]:
    """The first server frame (first byte, payload) that starts with ``data``, reading more if needed."""
    with gevent.Timeout(WAIT):
        while (span := frame_span(data)) is None:
            more = sock.recv(4096)
            assert more, "the server closed before its first frame"
            data += more
    return data[0], data[span[0] : span[1]]


def test_handshake_then_engine_io_open(server: ServerProcess) -> None:
    sock, key, accepted, raw = handshake(server)
    try:
        assert isinstance(accepted, Accepted), accepted
        assert accepted.extensions is None and accepted.set_cookies == []
        assert dict(accepted.headers)["upgrade"].lower() == "websocket"
        first, payload = first_frame(sock, accepted.rest)
        assert first == 0x81  # FIN + text
        assert payload.startswith(b'0{"sid":')
        handshake_data = json.loads(payload[1:])
        assert handshake_data["sid"] and handshake_data["upgrades"] == []
        assert handshake_data["pingInterval"] > 0 and handshake_data["pingTimeout"] > 0
        # websocket-client's own check of the 101 agrees
        response = ResponseParser(0, head_only=True).feed(raw)
        assert response is not None and response.status == 101
        headers = {name: response.get(name) for name, _ in response.headers}
        assert websocket_handshake._validate(headers, key, None) == (True, None)
    finally:
        sock.close()


def test_user_host_header_reaches_the_server_once(server: ServerProcess) -> None:
    """A Host of our own replaces the default one: the servers accept the request (one Host line)."""
    sock, _, accepted, _ = handshake(server, headers={"host": f"localhost:{server.port}", "X-Test": "1"})
    try:
        assert isinstance(accepted, Accepted), accepted
        first, payload = first_frame(sock, accepted.rest)
        assert first == 0x81 and payload.startswith(b'0{"sid":')
    finally:
        sock.close()


def test_refusal_is_a_rejection_with_its_status(node_server: ServerProcess) -> None:
    """Node refuses an unknown sid with a 400: HandshakeRejected. (gevent-websocket upgrades any
    request before python-engineio looks at it, so the Python server cannot be made to refuse.)"""
    sock, _, error, _ = handshake(node_server, RESOURCE + "&sid=unknown")
    try:
        assert isinstance(error, HandshakeRejected), error
        assert (error.status, error.reason, error.location) == (400, "Bad Request", None)
        assert str(error) == "HTTP 400 Bad Request"
    finally:
        sock.close()
