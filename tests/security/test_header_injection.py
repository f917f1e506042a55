"""Header injection: a Set-Cookie holding CR, LF or another control octet never reaches a later request."""

from __future__ import annotations

import pytest

import greensio

from .helpers import FAST, WAIT, Recorder
from .peer import Peer, Request

pytestmark = pytest.mark.timeout(30)

INJECTED = b"X-Injected"

# the Set-Cookie value (as bytes on the wire), and the Cookie line later requests carry
VARIANTS = {
    "bare-CR": (b"a=1\rX-Injected: yes", []),
    "bare-LF": (b"a=1\nX-Injected: yes", []),
    # a CRLF ends the line: X-Injected becomes a header of the handshake response, a="1 no cookie
    "CR-LF-in-quotes": (b'a="1\r\nX-Injected: yes"', []),
    "NUL": (b"a=1\x00X-Injected: yes", []),
    "DEL": (b"a=1\x7fX-Injected: yes", []),
    "tab": (b"a=1\tX-Injected: yes", []),  # valid HTTP, not a cookie value: dropped by the jar
    "percent-encoded": (b"a=1%0d%0aX-Injected:%20yes", [b"Cookie: a=1%0d%0aX-Injected:%20yes"]),  # sent literally
}


class Injecting(Peer):
    """The first handshake response carries a hostile Set-Cookie (raw bytes); later ones are clean."""

    def __init__(self, cookie: bytes) -> None:
        super().__init__()
        self.cookie = cookie

    def handshake_headers(self, request: Request) -> tuple[str, ...]:
        if self.requests.index(request) > 0:
            return ()
        return ("Set-Cookie: " + self.cookie.decode("latin-1"),)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_control_octet_in_set_cookie_never_reaches_a_later_request(start_peer, transport, variant):
    cookie, expected = VARIANTS[variant]
    peer = start_peer(Injecting, cookie=cookie)
    sio = greensio.connect(peer.url, timeout=WAIT, retry=True, **{**FAST, "transports": [transport]})
    try:
        assert sio.call("echo", "ok", timeout=WAIT) == "ok"
        reconnected = Recorder()
        sio.on("connect", reconnected)
        for conn in list(peer.conns):  # a reconnect: a new handshake request, after the hostile answer
            conn.close()
        reconnected.wait(1)
        assert sio.call("echo", "again", timeout=WAIT) == "again"
    finally:
        sio.disconnect()
    later = peer.requests[1:]
    assert later
    for request in later:
        assert not any(line.startswith(INJECTED) for line in request.header_lines), request.head
        assert b"\r\n" + INJECTED not in request.head
        assert request.lines_named("cookie") in ([], expected), request.head
    assert any(r.lines_named("cookie") == expected for r in later)
