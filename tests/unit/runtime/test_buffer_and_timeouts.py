"""The offline buffer, and acknowledgements that time out or are lost with the connection."""

from __future__ import annotations

from typing import Any

import gevent
import pytest

import greensio
from greensio._core import sio as sio_codec

from .fakes import Recorder, Rig


def test_emits_before_connecting_wait_in_order_and_leave_before_the_connect_handlers_emit(rig: Rig) -> None:
    sio = rig.socket(socket={"auto_connect": False})
    sio.emit("first", 1)
    sio.emit("second", b"\x02")
    assert sio.manager.stats.buffered == 2
    sio.on("connect", lambda: sio.emit("from handler"))
    sio.connect(timeout=5)
    rig.settle()
    assert rig.server.events() == [["first", 1], ["second", b"\x02"], ["from handler"]]
    assert sio.manager.stats.buffered == 0


def test_an_inactive_socket_says_once_that_its_emits_wait(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", "greensio")
    sio = rig.socket(socket={"auto_connect": False})
    sio.emit("a")
    sio.emit("b")
    told = [r for r in caplog.records if "emits wait in its buffer until connect()" in r.getMessage()]
    assert len(told) == 1


def test_emits_during_a_connection_loss_are_sent_after_the_reconnect(rig: Rig) -> None:
    sio = rig.connected()
    rig.server.drop()
    rig.settle()
    assert not sio.connected and sio.active
    sio.emit("while away", 1)
    got = Recorder()
    sio.emit("echo", 2, callback=got)
    rig.clock.advance(5)
    assert sio.connected
    assert rig.server.events() == [["while away", 1], ["echo", 2]]
    assert got.calls == [(2,)]


def test_the_offline_buffer_is_bounded_by_max_buffer(rig: Rig) -> None:
    sio = rig.socket(max_buffer=2, socket={"auto_connect": False})
    sio.emit("a")
    sio.emit("b")
    with pytest.raises(greensio.BufferFullError, match="offline buffer of / is full"):
        sio.emit("c", callback=Recorder())
    assert sio._ns.session.acks == {}
    sio.connect(timeout=5)
    rig.settle()
    assert rig.server.events() == [["a"], ["b"]]


def test_clear_buffer_drops_the_waiting_packets_and_fails_their_error_first_callbacks(rig: Rig) -> None:
    sio = rig.socket(socket={"auto_connect": False})
    plain, error_first = Recorder(), Recorder()
    sio.emit("a", callback=plain)
    sio.emit("b", callback=error_first, timeout=10)
    sio.emit("c")
    sio.clear_buffer()
    rig.settle()
    [(err,)] = error_first.calls
    assert isinstance(err, greensio.DisconnectedError) and "offline buffer was cleared" in str(err)
    assert plain.calls == []
    sio.connect(timeout=5)
    rig.settle()
    assert rig.server.events() == []


def test_clear_buffer_fails_a_blocked_call(rig: Rig) -> None:
    sio = rig.socket()
    rig.server.refuse(100)
    call = gevent.spawn(sio.call, "x", timeout=60)
    rig.settle()
    sio.clear_buffer()
    with pytest.raises(greensio.DisconnectedError, match="offline buffer was cleared"):
        call.get(timeout=5)


def test_an_ack_that_does_not_come_within_timeout_fails_the_error_first_callback(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected()
    got = Recorder()
    sio.emit("slow", callback=got, timeout=2)
    rig.clock.advance(1.9)
    assert got.calls == []
    rig.clock.advance(0.1)
    [(err,)] = got.calls
    assert isinstance(err, greensio.TimeoutError) and str(err) == "no ack for 'slow' in time"
    rig.server.ack(0, "late")
    rig.settle()
    assert len(got) == 1


def test_with_a_timeout_a_timely_ack_is_error_first(rig: Rig) -> None:
    sio = rig.connected()
    got = Recorder()
    sio.emit("echo", 1, 2, callback=got, timeout=2)
    rig.settle()
    assert got.calls == [(None, 1, 2)]
    rig.clock.advance(5)
    assert len(got) == 1


def test_the_ack_timeout_option_makes_every_callback_error_first(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected(socket={"ack_timeout": 3})
    got = Recorder()
    sio.emit("x", callback=got)
    rig.server.ack(0, "ok")
    rig.settle()
    assert got.calls == [(None, "ok")]
    sio.emit("y", callback=got)
    rig.clock.advance(3)
    assert isinstance(got.calls[1][0], greensio.TimeoutError)


def test_call_raises_timeout_error_when_no_ack_comes(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected()
    call = gevent.spawn(sio.call, "slow", timeout=5)
    rig.clock.advance(4)
    assert not call.ready()
    rig.clock.advance(1)
    with pytest.raises(greensio.TimeoutError):
        call.get(timeout=5)
    assert sio._ns.session.acks == {}


def test_call_uses_the_ack_timeout_option(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected(socket={"ack_timeout": 2})
    call = gevent.spawn(sio.call, "slow")
    rig.clock.advance(2)
    with pytest.raises(greensio.TimeoutError):
        call.get(timeout=5)


def test_a_packet_whose_timeout_passes_in_the_offline_buffer_is_never_sent(rig: Rig) -> None:
    sio = rig.socket(socket={"auto_connect": False})
    got = Recorder()
    sio.emit("stale", callback=got, timeout=1)
    sio.emit("fresh")
    rig.clock.advance(1)
    [(err,)] = got.calls
    assert isinstance(err, greensio.TimeoutError)
    assert sio.manager.stats.buffered == 1
    sio.connect(timeout=5)
    rig.settle()
    assert rig.server.events() == [["fresh"]]


def test_a_lost_connection_fails_sent_acks_that_wait_and_forgets_plain_callbacks(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected()
    plain, error_first = Recorder(), Recorder()
    sio.emit("a", callback=plain)
    sio.emit("b", callback=error_first, timeout=30)
    call = gevent.spawn(sio.call, "c")
    rig.settle()
    rig.server.drop()
    rig.settle()
    [(err,)] = error_first.calls
    assert isinstance(err, greensio.DisconnectedError)
    with pytest.raises(greensio.DisconnectedError):
        call.get(timeout=5)
    rig.clock.advance(5)
    assert sio.connected
    rig.server.ack(0, "too late")
    rig.settle()
    assert plain.calls == []
    assert len(error_first) == 1


def test_a_call_buffered_during_a_loss_is_sent_after_the_reconnect(rig: Rig) -> None:
    sio = rig.connected()
    rig.server.drop()
    rig.settle()
    call = gevent.spawn(sio.call, "echo", "later")
    rig.settle()
    assert not call.ready()
    rig.clock.advance(5)
    assert call.get(timeout=5) == "later"


def test_killing_a_blocked_call_frees_its_ack_slot(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected()
    call = gevent.spawn(sio.call, "x")
    rig.settle()
    assert len(sio._ns.session.acks) == 1
    call.kill()
    assert sio._ns.session.acks == {}


def test_a_gevent_timeout_around_call_frees_the_ack_slot(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected()
    with pytest.raises(gevent.Timeout):
        with gevent.Timeout(0.01):
            sio.call("x")
    assert sio._ns.session.acks == {}


def test_an_ack_callback_runs_once_even_when_the_ack_races_the_timeout(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected()
    got: list[Any] = []
    sio.emit("x", callback=lambda *a: got.append(a), timeout=1)
    rig.settle()
    rig.clock.advance(1)
    rig.server.ack(0, "ok")
    rig.settle()
    assert len(got) == 1 and isinstance(got[0][0], greensio.TimeoutError)


def test_the_server_disconnecting_the_namespace_fails_waiting_calls(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected()
    call = gevent.spawn(sio.call, "x")
    rig.settle()
    rig.server.disconnect()
    with pytest.raises(greensio.DisconnectedError):
        call.get(timeout=5)
    assert [p.type for p in rig.server.received(sio_codec.EVENT)] == [sio_codec.EVENT]
