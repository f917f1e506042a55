"""Ported from socket.io-client test/connection-state-recovery.ts, against the Node server
started with connectionStateRecovery. Upstream's ``hi`` -> ``echo`` without ack (the server
emits it back, with an offset); its client-side ``socket.io.engine.close()`` -> the server's
``close_engine`` ("forced close", a reason the server recovers from).
"""

from __future__ import annotations

import greensio

from .helpers import FAST, Recorder


# connection-state-recovery.ts: "should have an accessible socket id equal to the server-side socket id (default namespace)"  # noqa: E501
def test_should_have_an_accessible_socket_id_equal_to_the_server_side_socket_id_default_namespace(
    node_recovery_server,
):
    sio = greensio.Socket(node_recovery_server.url, force_new=True, **FAST)
    assert sio.recovered is False
    echoed, reconnected = Recorder(), Recorder()
    ids = []

    def on_echo(text):
        ids.append(sio.id)
        sio.on("connect", lambda: reconnected(sio.id, sio.recovered))
        sio.emit("close_engine")
        echoed(text)

    sio.once("echo", on_echo)
    try:
        sio.emit("echo", "hi")  # init the offset
        assert echoed.wait(1) == [("hi",)]
        assert reconnected.wait(1) == [(ids[0], True)]  # same id, recovered: the reconnection recovered the session
        assert ids[0] is not None
    finally:
        sio.disconnect()
