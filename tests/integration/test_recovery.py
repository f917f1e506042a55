"""Connection state recovery against the Node server started with connectionStateRecovery."""

from __future__ import annotations

from .helpers import WAIT, Recorder, connect


def test_handlers_never_see_the_offset_the_server_appends(node_recovery_server):
    with connect(node_recovery_server.url) as sio:
        echoed, any_seen = Recorder(), Recorder()
        sio.on("echo", echoed)
        sio.on_any(any_seen)
        sio.emit("echo", "a", 1)
        sio.emit("echo", b"bin")
        assert echoed.wait(2) == [("a", 1), (b"bin",)]
        assert any_seen.calls == [("echo", "a", 1), ("echo", b"bin")]
        assert sio.call("echo", "acked", timeout=WAIT) == "acked"  # acks carry no offset


def test_missed_events_are_replayed_once_and_the_session_is_recovered(node_recovery_server):
    with connect(node_recovery_server.url) as sio:
        assert not sio.recovered
        first_id = sio.id
        missed, connects, closing = Recorder(), Recorder(), Recorder()
        sio.on("missed", missed)
        sio.on("closing", closing)
        sio.on("connect", connects)
        sio.emit("close_and_emit", 3)
        closing.wait(1)
        connects.wait(1)
        assert missed.wait(3) == [(0,), (1,), (2,)]
        assert sio.recovered and sio.id == first_id
        assert sio.call("echo", "after", timeout=WAIT) == "after"
        assert missed.calls == [(0,), (1,), (2,)]
