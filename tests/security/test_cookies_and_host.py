"""Lost cookies, doubled Host: every Set-Cookie of a handshake is kept and sent back; a user Host
header gives exactly one Host line, on the WebSocket handshake and on every polling request."""

from __future__ import annotations

import pytest

from .helpers import WAIT, Recorder, connect
from .peer import Peer, Request

pytestmark = pytest.mark.timeout(30)

STICKY = (
    "Set-Cookie: lb=node7; Path=/",  # a load balancer's sticky cookie
    "Set-Cookie: session=s1; HttpOnly",  # no Path: the default path of /socket.io/ is /socket.io
    "Set-Cookie: pref=dark; Max-Age=3600",
)
# RFC 6265 §5.4: longer paths first, then earlier creation
COOKIE_LINE = b"Cookie: session=s1; pref=dark; lb=node7"


class ThreeCookies(Peer):
    def handshake_headers(self, request: Request) -> tuple[str, ...]:
        return STICKY


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_every_set_cookie_of_the_handshake_is_kept_and_sent_back(start_peer, transport):
    peer = start_peer(ThreeCookies)
    sio = connect(peer.url, transports=[transport])
    try:
        assert sio.call("echo", 1, timeout=WAIT) == 1
        reconnected = Recorder()
        sio.on("connect", reconnected)
        for conn in list(peer.conns):
            conn.close()
        reconnected.wait(1)
        assert sio.call("echo", 2, timeout=WAIT) == 2
    finally:
        sio.disconnect()
    first, *later = peer.requests
    assert first.lines_named("cookie") == []
    handshakes = [r for r in later if "sid" not in r.query]
    assert len(handshakes) == 1 and len(later) >= (1 if transport == "websocket" else 4)
    for request in later:
        assert request.lines_named("cookie") == [COOKIE_LINE], request.head


@pytest.mark.parametrize("name", ["Host", "host", "HOST"])
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_host_header_of_the_user_gives_exactly_one_host_line(start_peer, transport, name):
    peer = start_peer()
    sio = connect(peer.url, transports=[transport], extra_headers={name: "socket.example.test:8443"})
    try:
        assert sio.call("echo", 1, timeout=WAIT) == 1
    finally:
        sio.disconnect()
    assert len(peer.requests) >= (1 if transport == "websocket" else 3)
    for request in peer.requests:
        assert request.lines_named("host") == [b"Host: socket.example.test:8443"], request.head


class SecureCookies(Peer):
    def handshake_headers(self, request: Request) -> tuple[str, ...]:
        return ("Set-Cookie: secret=s; Secure; Path=/", "Set-Cookie: plain=p; Path=/")


@pytest.mark.parametrize("secure", [False, True], ids=["http", "https"])
def test_a_secure_cookie_is_kept_only_from_tls_and_sent_only_over_it(start_peer, tls, secure):
    peer = start_peer(SecureCookies, ssl_context=tls.server_context() if secure else None)
    sio = connect(peer.url, transports=["websocket"], ssl_context=tls.client_context())
    try:
        reconnected = Recorder()
        sio.on("connect", reconnected)
        for conn in list(peer.conns):
            conn.close()
        reconnected.wait(1)
    finally:
        sio.disconnect()
    expected = b"Cookie: secret=s; plain=p" if secure else b"Cookie: plain=p"
    assert peer.requests[-1].lines_named("cookie") == [expected]
