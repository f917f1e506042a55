"""Handler greenlets (handler_concurrency), the observer calls and Stats."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import pytest
from gevent.event import Event

import greensio
from greensio._core import sio as sio_packet

from .fakes import Recorder, Rig


def blocking_handlers(sio: greensio.Socket, release: Event) -> list[tuple[str, int]]:
    """Handlers of "job" that block until ``release``; the log of their starts and ends."""
    log: list[tuple[str, int]] = []

    def job(n: int) -> None:
        log.append(("start", n))
        release.wait()
        log.append(("end", n))

    sio.on("job", job)
    return log


@pytest.mark.parametrize(("concurrency", "running"), [(None, 4), (2, 2), (1, 1)])
def test_handler_concurrency_bounds_the_handlers_running_at_once(
    rig: Rig, concurrency: Optional[int], running: int
) -> None:
    sio = rig.connected(handler_concurrency=concurrency)
    release = Event()
    log = blocking_handlers(sio, release)
    for n in range(4):
        rig.server.emit("job", n)
    rig.settle()
    assert log == [("start", n) for n in range(running)]
    release.set()
    rig.settle()
    assert [n for what, n in log if what == "start"] == [0, 1, 2, 3]
    assert sorted(n for what, n in log if what == "end") == [0, 1, 2, 3]
    if concurrency == 1:  # strictly one after the other
        assert log == [(what, n) for n in range(4) for what in ("start", "end")]


def test_the_reader_never_waits_for_handlers_so_pings_are_answered(rig: Rig) -> None:
    sio = rig.connected(handler_concurrency=1)
    release = Event()
    blocking_handlers(sio, release)
    rig.server.emit("job", 0)
    rig.server.emit("job", 1)
    rig.server.ping()
    rig.settle()
    assert rig.server.pongs == 1
    release.set()


class Observer:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def connect_phase(self, phase: str, seconds: float) -> None:
        self.calls.append(("phase", phase, seconds))

    def connected(self, seconds: float, transport: str) -> None:
        self.calls.append(("connected", seconds, transport))

    def sent(self, event: str, nbytes: int) -> None:
        self.calls.append(("sent", event, nbytes))

    def received(self, event: str, nbytes: int) -> None:
        self.calls.append(("received", event, nbytes))

    def acked(self, event: str, seconds: float) -> None:
        self.calls.append(("acked", event, seconds))

    def disconnected(self, reason: str) -> None:
        self.calls.append(("disconnected", reason))


def test_the_observer_is_told_about_connects_sends_receives_acks_and_disconnects(rig: Rig) -> None:
    rig.server.open_gate.clear()
    rig.server.ack_events = False
    observer = Observer()
    sio = rig.socket(observer=observer, transports=["websocket"])
    rig.clock.advance(2)
    rig.server.open_gate.set()
    rig.settle()
    assert observer.calls.pop(0) == ("phase", "tcp", 0.0)  # a fake transport does no TCP
    assert observer.calls == [("phase", "handshake", 2.0), ("phase", "namespace", 0.0), ("connected", 2.0, "websocket")]
    del observer.calls[:]
    sio.emit("hello", 1)
    sio.emit("question", callback=Recorder())
    rig.clock.advance(0.25)
    rig.server.ack(0, "answer")
    rig.server.emit("news", "x" * 10)
    rig.server.emit("late", b"\x00\x01")
    rig.settle()
    rig.server.drop()
    rig.settle()
    assert observer.calls == [
        ("sent", "hello", len('2["hello",1]')),
        ("sent", "question", len('20["question"]')),
        ("acked", "question", 0.25),
        ("received", "news", len('2["news","' + "x" * 10 + '"]')),
        ("received", "late", len('51-["late",{"_placeholder":true,"num":0}]') + 2),
        ("disconnected", "transport error"),
    ]


def test_a_dropped_or_refused_emit_is_not_reported_as_sent(rig: Rig) -> None:
    observer = Observer()
    sio = rig.socket(observer=observer, socket={"auto_connect": False})
    sio.emit("dropped", volatile=True)
    with pytest.raises(ValueError):
        sio.emit("connect")
    sio.emit("buffered")
    assert observer.calls == [("sent", "buffered", len('2["buffered"]'))]


def test_an_observer_that_raises_is_logged_and_harms_nothing(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def sent(self, event: str, nbytes: int) -> None:
            raise RuntimeError("observer bug")

    sio = rig.connected(observer=Broken())
    sio.emit("x")
    rig.settle()
    assert rig.server.events() == [["x"]]
    assert "raised in sent()" in caplog.text


def test_stats_count_connects_reconnects_packets_bytes_and_the_buffer(rig: Rig) -> None:
    sio = rig.connected(transports=["websocket"], reconnection_delay=1, randomization_factor=0)
    manager = sio.manager
    assert dataclasses.asdict(manager.stats) == {
        "connects": 1,
        "reconnects": 0,
        "packets_sent": 1,  # the CONNECT
        "packets_received": 1,  # the CONNECT reply (the OPEN, read by the dial, is not counted)
        "bytes_sent": len("40"),
        "bytes_received": manager.stats.bytes_received,
        "buffered": 0,
        "pong_lag_last": 0.0,
        "pong_lag_max": 0.0,
    }
    assert manager.stats.bytes_received > 0
    rig.server.drop()
    rig.settle()
    sio.emit("while away")
    assert manager.stats.buffered == 1
    rig.clock.advance(1)
    stats = manager.stats
    assert (stats.connects, stats.reconnects, stats.buffered) == (2, 1, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.connects = 5  # type: ignore[misc]


def test_connect_phases_time_the_namespace_reply_and_the_upgrade(rig: Rig) -> None:
    rig.server.answer_connects = False
    rig.server.probe_answer = "ignore"
    observer = Observer()
    sio = rig.socket(observer=observer)
    rig.settle()
    rig.clock.advance(0.5)
    rig.server.connect_reply()
    rig.clock.advance(0.25)
    rig.server.answer_probe()
    rig.settle()
    assert sio.transport == "websocket"
    phases = [call for call in observer.calls if call[0] == "phase"]
    assert phases == [
        ("phase", "tcp", 0.0),
        ("phase", "handshake", 0.0),
        ("phase", "namespace", 0.5),
        ("phase", "upgrade", 0.75),
    ]


def test_an_event_nobody_listens_to_starts_no_greenlet_and_is_not_acked(rig: Rig) -> None:
    sio = rig.connected()
    rig.settle()
    before = set(sio.manager.runner.greenlets)
    rig.server.session.send(rig.server.frames(sio_packet.EVENT, "/", ["unheard", 1], 7))
    rig.settle()
    assert set(sio.manager.runner.greenlets) == before
    assert [p for p in rig.server.packets if p.type == sio_packet.ACK] == []  # as in JS: no handler, no ack


def test_greensios_own_direct_listeners_run_where_the_event_is_read(rig: Rig) -> None:
    sio = rig.connected()
    rig.settle()
    got = []

    def own(n: int) -> None:
        got.append(n)

    own.direct = True  # type: ignore[attr-defined]
    sio.on("tick", own)
    before = set(sio.manager.runner.greenlets)
    rig.server.emit("tick", 1)
    rig.settle()
    assert got == [1]
    assert set(sio.manager.runner.greenlets) == before
