"""Process-wide cookies: a cookie a server sets reaches only the Manager it was set on."""

from __future__ import annotations

import pytest

from .helpers import WAIT, Recorder, connect
from .peer import Peer, Request

pytestmark = pytest.mark.timeout(30)


class CookieSetter(Peer):
    """Sets a sticky cookie for the whole ``localhost`` domain on every handshake."""

    def handshake_headers(self, request: Request) -> tuple[str, ...]:
        return ("Set-Cookie: sticky=A1; Domain=localhost; Path=/",)


def _from(peer: Peer, who: str) -> list[Request]:
    return [r for r in peer.requests if r.query.get("who") == who]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_domain_cookie_never_reaches_another_manager(start_peer, transport):
    a, b = start_peer(CookieSetter), start_peer()
    url_a, url_b = f"http://localhost:{a.port}", f"http://localhost:{b.port}"
    first = connect(url_a, transports=[transport], query={"who": "first"})
    others = []
    try:
        # other Managers, in the same process: to another server of the cookie's domain, and to the same server
        others.append(connect(url_b, transports=[transport], query={"who": "to-b"}))
        others.append(connect(url_a, transports=[transport], query={"who": "again-a"}))
        for sio in others:
            assert sio.call("echo", 1, timeout=WAIT) == 1
        # the Manager the cookie was set on sends it back: on its next requests, or its reconnect's handshake
        reconnected = Recorder()
        first.on("connect", reconnected)
        if transport == "websocket":  # drop its connection (the first one A accepted): it reconnects
            a.conns[0].close()
            reconnected.wait(1)
        assert first.call("echo", 2, timeout=WAIT) == 2
    finally:
        for sio in [first, *others]:
            sio.disconnect()
    sent_back = [r.lines_named("cookie") for r in _from(a, "first")[1:]]
    assert sent_back and all(lines == [b"Cookie: sticky=A1"] for lines in sent_back), sent_back
    for request in b.requests + _from(a, "again-a")[:1]:
        assert request.lines_named("cookie") == [], request.head
    assert _from(a, "first")[0].lines_named("cookie") == []
    assert len(_from(b, "to-b")) == len(b.requests) >= 1
