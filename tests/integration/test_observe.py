"""manager.stats, the observer calls, and emit_threadsafe."""

from __future__ import annotations

import logging

import gevent

import greensio

from .helpers import FAST, TRANSPORTS, WAIT, Recorder, connect


class Observer:
    def __init__(self) -> None:
        self.calls = Recorder()

    def connected(self, seconds, transport):
        self.calls("connected", seconds > 0, transport in TRANSPORTS)

    def acked(self, event, seconds):
        self.calls("acked", event, seconds > 0)

    def sent(self, event, nbytes):
        self.calls("sent", event, nbytes)

    def received(self, event, nbytes):
        self.calls("received", event, nbytes)

    def disconnected(self, reason):
        self.calls("disconnected", reason)


def test_the_observer_sees_connect_sends_acks_receives_and_disconnect(server):
    observer = Observer()
    sio = connect(server.url, observer=observer)
    echoed = Recorder()
    sio.on("echo", echoed)
    assert sio.call("echo", "abc", timeout=WAIT) == "abc"
    sio.emit("echo", b"\x00" * 10)
    echoed.wait(1)
    sio.disconnect()
    assert observer.calls.calls == [
        ("connected", True, True),
        ("sent", "echo", len('2["echo","abc"]') + 1),  # the ack id "0"
        ("acked", "echo", True),
        ("sent", "echo", len('51-["echo",{"_placeholder":true,"num":0}]') + 10),
        ("received", "echo", len('51-["echo",{"_placeholder":true,"num":0}]') + 10),
        ("disconnected", "io client disconnect"),
    ]


def test_an_observer_that_raises_is_logged_and_harmless(server, caplog):
    class Broken:
        def sent(self, event, nbytes):
            raise RuntimeError("observer bug")

    with caplog.at_level(logging.ERROR, logger="greensio"):
        with connect(server.url, observer=Broken()) as sio:
            assert sio.call("echo", 1, timeout=WAIT) == 1
    assert any("observer bug" in (r.exc_text or "") for r in caplog.records)


def test_stats_count_connects_packets_bytes_and_the_offline_buffer(server):
    sio = greensio.Socket(server.url, auto_connect=False, force_new=True, **FAST)
    try:
        sio.emit("echo", 1)
        sio.emit("echo", 2)
        assert sio.manager.stats.buffered == 2
        assert sio.manager.stats.connects == 0
        sio.connect(timeout=WAIT)
        for i in range(10):
            assert sio.call("echo", i, timeout=WAIT) == i
        stats = sio.manager.stats
        assert isinstance(stats, greensio.Stats)
        assert (stats.connects, stats.reconnects, stats.buffered) == (1, 0, 0)
        assert stats.packets_sent >= 13  # CONNECT, 2 buffered, 10 calls
        assert stats.packets_received >= 13  # OPEN, CONNECT reply, echoes, acks
        assert stats.bytes_sent > 13 * 10 and stats.bytes_received > 13 * 10
        sio.emit("close_engine")
        sio.wait_for("connect", timeout=WAIT)
        stats = sio.manager.stats
        assert (stats.connects, stats.reconnects) == (2, 1)
    finally:
        sio.disconnect()


def test_pong_lag_is_measured(start_server):
    srv = start_server("node", ping_interval=0.1, ping_timeout=1)
    with connect(srv.url) as sio:
        pings = Recorder()
        sio.manager.on("ping", pings)
        pings.wait(2)
        stats = sio.manager.stats
        assert 0 < stats.pong_lag_last <= stats.pong_lag_max < 1


def test_emit_threadsafe_from_another_os_thread(server):
    with connect(server.url) as sio:
        acked = Recorder()
        gevent.get_hub().threadpool.spawn(sio.emit_threadsafe, "echo", "from a thread", callback=acked).get()
        assert acked.wait(1) == [("from a thread",)]


def test_the_observer_gets_each_connect_phase_of_a_real_connect(server):
    class Phases:
        def __init__(self) -> None:
            self.seen = Recorder()

        def connect_phase(self, phase, seconds):
            self.seen(phase, seconds > 0)

    observer = Phases()
    sio = connect(server.url, observer=observer)
    upgrades = TRANSPORTS[0] == "polling" and "websocket" in TRANSPORTS
    expected = ["tcp", "handshake", "namespace"] + (["upgrade"] if upgrades else [])
    observer.seen.wait(len(expected))
    sio.disconnect()
    assert observer.seen.calls == [(phase, True) for phase in expected]
