"""Credentials to another host: a 3xx is never followed, and nothing reaches the host it names."""

from __future__ import annotations

import pytest

import greensio

from .helpers import WAIT, connect, until
from .peer import Conn, Peer, Request, http_response

pytestmark = pytest.mark.timeout(30)

SECRET = "Bearer redirect-secret-7f3a"


class Redirecting(Peer):
    """Answers the requests of ``transport`` with a redirect to ``location``."""

    def __init__(self, transport: str, status: int, location: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.transport, self.status, self.location = transport, status, location

    def respond(self, conn: Conn, request: Request) -> bool:
        if request.query.get("transport") != self.transport:
            return False
        reason = {301: "Moved Permanently", 302: "Found", 307: "Temporary Redirect", 308: "Permanent Redirect"}
        conn.send(http_response(self.status, "", (f"Location: {self.location}",), reason[self.status]))
        return True


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_websocket_handshake_redirect_to_another_host_is_not_followed(start_peer, status):
    other = start_peer()
    location = f"http://127.0.0.1:{other.port}/socket.io/?EIO=4&transport=websocket"
    peer = start_peer(Redirecting, transport="websocket", status=status, location=location)
    with pytest.raises(greensio.ConnectionError) as raised:
        connect(peer.url, transports=["websocket"], extra_headers={"Authorization": SECRET})
    message = str(raised.value)
    assert f"HTTP {status}" in message and location in message and "not followed" in message
    assert len(peer.requests) == 1
    assert peer.requests[0].lines_named("authorization") == [b"Authorization: " + SECRET.encode()]
    assert other.accepts == 0 and other.requests == []


def test_wss_redirect_to_plain_ws_is_not_followed(start_peer, tls):
    other = start_peer()
    location = f"ws://127.0.0.1:{other.port}/socket.io/?EIO=4&transport=websocket"
    peer = start_peer(
        Redirecting, transport="websocket", status=302, location=location, ssl_context=tls.server_context()
    )
    with pytest.raises(greensio.ConnectionError) as raised:
        connect(
            peer.url.replace("https", "wss"),
            transports=["websocket"],
            ssl_context=tls.client_context(),
            extra_headers={"Authorization": SECRET},
        )
    assert "HTTP 302" in str(raised.value) and location in str(raised.value)
    assert len(peer.requests) == 1  # it reached the TLS peer, and only it
    assert other.accepts == 0


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_polling_redirect_to_another_host_is_not_followed(start_peer, status):
    other = start_peer()
    location = f"http://127.0.0.1:{other.port}/socket.io/?EIO=4&transport=polling"
    peer = start_peer(Redirecting, transport="polling", status=status, location=location)
    with pytest.raises(greensio.ConnectionError, match=f"HTTP {status}"):
        connect(peer.url, transports=["polling"], extra_headers={"Authorization": SECRET})
    assert len(peer.requests) == 1
    assert other.accepts == 0


def test_polling_redirect_error_names_the_location(start_peer):
    location = "http://127.0.0.1:9/elsewhere"
    peer = start_peer(Redirecting, transport="polling", status=302, location=location)
    with pytest.raises(greensio.ConnectionError) as raised:
        connect(peer.url, transports=["polling"])
    assert location in str(raised.value)


class RedirectingUpgrade(Redirecting):
    """Polling works and offers the upgrade; the WebSocket handshake is redirected."""

    def open_packet(self, session):
        return super().open_packet(session).replace('"upgrades":[]', '"upgrades":["websocket"]')


def test_upgrade_redirect_is_not_followed_and_polling_goes_on(start_peer):
    other = start_peer()
    location = f"http://127.0.0.1:{other.port}/socket.io/?EIO=4&transport=websocket"
    peer = start_peer(RedirectingUpgrade, transport="websocket", status=307, location=location)
    sio = connect(peer.url, extra_headers={"Authorization": SECRET}, transports=["polling", "websocket"])
    try:
        until(lambda: peer.requests_of("websocket"), "the upgrade's WebSocket handshake")
        assert sio.call("echo", "still here", timeout=WAIT) == "still here"
        assert sio.transport == "polling"
        assert other.accepts == 0
    finally:
        sio.disconnect()
