"""Lenient HTTP: a response that breaks RFC 9112 is a clean "transport error" (a ConnectionError while
connecting), never accepted, and the normal reconnect follows.

Each malformed response carries a valid Engine.IO payload (a NOOP), so a lenient
parser would take it silently and the test would see no error.
"""

from __future__ import annotations

import base64
import hashlib

import pytest

import greensio

from .helpers import FAST, WAIT, Recorder, until
from .peer import GUID, Conn, Peer, Request

pytestmark = pytest.mark.timeout(30)

MALFORMED = {
    "content-length-negative": b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n6",
    "content-length-plus": b"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\n6",
    "content-length-underscore": b"HTTP/1.1 200 OK\r\nContent-Length: 0_1\r\n\r\n6",
    "content-length-conflict": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n6\x1e",
    "status-2000": b"HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\n6",
    "transfer-encoding-notchunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: notchunked\r\n\r\n1\r\n6\r\n0\r\n\r\n",
    "chunk-without-crlf": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n6XX0\r\n\r\n",
    "chunk-size-negative": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n6\r\n0\r\n\r\n",
    "both-framings": b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n6\r\n0\r\n\r\n",
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 1\n\n6",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 1\r\n\r\n6",
}


WELL_FORMED = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n6"


class Malformed(Peer):
    """Answers one polling GET with ``response``: the handshake (``at_connect``) or a poll once connected."""

    def __init__(self, response: bytes, at_connect: bool) -> None:
        super().__init__()
        self.response, self.at_connect, self.sent = response, at_connect, False

    def respond(self, conn: Conn, request: Request) -> bool:
        if self.sent or request.method != "GET":
            return False
        if self.at_connect != ("sid" not in request.query) or (not self.at_connect and not self.connects):
            return False
        self.sent = True
        conn.send(self.response)
        return True


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_poll_response_is_a_transport_error_then_the_client_reconnects(start_peer, case):
    peer = start_peer(Malformed, response=MALFORMED[case], at_connect=False)
    sio = greensio.Socket(peer.url, auto_connect=False, **{**FAST, "transports": ["polling"]})
    reasons, connects = Recorder(), Recorder()
    sio.on("disconnect", reasons)
    sio.on("connect", connects)
    try:
        sio.connect(timeout=WAIT)
        assert reasons.wait(1) == [("transport error",)]
        connects.wait(2)
        assert sio.call("echo", "after", timeout=WAIT) == "after"
        assert peer.sent and len(peer.sessions) == 2
    finally:
        sio.disconnect()


def test_the_same_poll_response_well_formed_is_taken(start_peer):
    """The control: the peer's malformed answers differ from this one only in the malformation."""
    peer = start_peer(Malformed, response=WELL_FORMED, at_connect=False)
    reasons = Recorder()
    sio = greensio.connect(peer.url, timeout=WAIT, **{**FAST, "transports": ["polling"]})
    sio.on("disconnect", reasons)
    try:
        until(lambda: peer.sent, "the well-formed answer")
        assert sio.call("echo", "after", timeout=WAIT) == "after"
        assert reasons.calls == [] and len(peer.sessions) == 1
    finally:
        sio.disconnect()


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_polling_handshake_is_a_connection_error_then_the_client_reconnects(start_peer, case):
    peer = start_peer(Malformed, response=MALFORMED[case], at_connect=True)
    _refused_once_then_connected(peer, "polling")


# Malformed heads of an otherwise valid 101 (Upgrade, Connection and the right Sec-WebSocket-Accept)
UPGRADE_MALFORMED = {
    "content-length-negative": ("101 Switching Protocols", "Content-Length: -1\r\n"),
    "content-length-plus": ("101 Switching Protocols", "Content-Length: +0\r\n"),
    "content-length-underscore": ("101 Switching Protocols", "Content-Length: 0_0\r\n"),
    "status-1010": ("1010 Switching Protocols", ""),
    "transfer-encoding-notchunked": ("101 Switching Protocols", "Transfer-Encoding: notchunked\r\n"),
    "bare-lf": ("101 Switching Protocols", "X-A: 1\n"),
    "obs-fold": ("101 Switching Protocols", "X-A: 1\r\n folded\r\n"),
    "space-before-colon": ("101 Switching Protocols", "X-A : 1\r\n"),
}


class MalformedUpgrade(Peer):
    """Answers the first WebSocket handshake with a 101 whose head is malformed as told."""

    def __init__(self, status: str, extra: str) -> None:
        super().__init__()
        self.status, self.extra, self.sent = status, extra, False

    def respond(self, conn: Conn, request: Request) -> bool:
        if self.sent:
            return False
        self.sent = True
        key = request.get("sec-websocket-key") or ""
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        head = f"HTTP/1.1 {self.status}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        conn.send(f"{head}Sec-WebSocket-Accept: {accept}\r\n{self.extra}\r\n".encode("latin-1"))
        if self.extra == "" and self.status.startswith("101 "):  # the control: a valid 101, go on with it
            self._upgraded(conn)
        conn.close()
        return True

    def _upgraded(self, conn: Conn) -> None:
        session = self._new_session("websocket", conn)
        session.send(self.open_packet(session))
        while (frame := conn.ws_read()) is not None:
            if frame[0] == 1:
                session.received(frame[1].decode())


def test_the_same_upgrade_well_formed_is_taken(start_peer):
    peer = start_peer(MalformedUpgrade, status="101 Switching Protocols", extra="")
    sio = greensio.connect(peer.url, timeout=WAIT, **{**FAST, "transports": ["websocket"]})
    try:
        assert peer.sent and sio.call("echo", 1, timeout=WAIT) == 1
    finally:
        sio.disconnect()


@pytest.mark.parametrize("case", list(UPGRADE_MALFORMED))
def test_a_malformed_upgrade_is_a_connection_error_then_the_client_reconnects(start_peer, case):
    status, extra = UPGRADE_MALFORMED[case]
    peer = start_peer(MalformedUpgrade, status=status, extra=extra)
    _refused_once_then_connected(peer, "websocket")


def _refused_once_then_connected(peer: Malformed | MalformedUpgrade, transport: str) -> None:
    with pytest.raises(greensio.ConnectionError) as raised:
        greensio.connect(peer.url, timeout=WAIT, **{**FAST, "transports": [transport]})
    assert "\n" not in str(raised.value)
    sio = greensio.Socket(peer.url, auto_connect=False, **{**FAST, "transports": [transport]})
    peer.sent = False
    errors = Recorder()
    sio.on("connect_error", errors)
    try:
        sio.connect(timeout=WAIT)  # the first attempt fails the same way, the next one succeeds
        assert len(errors.calls) == 1 and isinstance(errors.calls[0][0], greensio.ConnectionError)
        assert sio.call("echo", "after", timeout=WAIT) == "after"
    finally:
        sio.disconnect()
