"""Retried emits (``retries``) and connection state recovery (pid and offset)."""

from __future__ import annotations

from typing import Any

import gevent
import pytest

import greensio
from greensio._core import sio as sio_codec

from .fakes import Recorder, Rig


def sent(rig: Rig) -> list[tuple[Any, Any]]:
    """(ack id, event data) of what the client emitted."""
    return [(p.id, p.data) for p in rig.server.received(sio_codec.EVENT)]


def test_with_retries_one_packet_is_in_flight_at_a_time_in_order(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected(socket={"retries": 2, "ack_timeout": 1})
    first, second = Recorder(), Recorder()
    sio.emit("a", 1, callback=first)
    sio.emit("b", 2, callback=second)
    rig.settle()
    assert sent(rig) == [(0, ["a", 1])]
    rig.server.ack(0, "A")
    rig.settle()
    assert first.calls == [(None, "A")]
    assert sent(rig) == [(0, ["a", 1]), (1, ["b", 2])]


def test_a_retry_goes_out_with_a_new_ack_id_when_the_ack_times_out(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected(socket={"retries": 2, "ack_timeout": 1})
    got = Recorder()
    sio.emit("a", callback=got)
    rig.clock.advance(1)
    rig.clock.advance(1)
    assert sent(rig) == [(0, ["a"]), (1, ["a"]), (2, ["a"])]
    rig.server.ack(0, "stale")
    rig.settle()
    assert got.calls == []
    rig.server.ack(2, "third time")
    rig.settle()
    assert got.calls == [(None, "third time")]


def test_when_the_retries_are_used_up_the_callback_gets_the_timeout(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected(socket={"retries": 1, "ack_timeout": 1})
    got = Recorder()
    sio.emit("a", callback=got)
    sio.emit("b")
    rig.clock.advance(1)
    rig.clock.advance(1)
    [(err,)] = got.calls
    assert isinstance(err, greensio.TimeoutError)
    assert [data for _, data in sent(rig)] == [["a"], ["a"], ["b"]]


def test_call_with_retries_returns_the_ack_of_a_later_try(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected(socket={"retries": 3})
    call = gevent.spawn(sio.call, "x", 7, timeout=1)
    rig.clock.advance(1)
    rig.server.ack(1, "second")
    assert call.get(timeout=5) == "second"


def test_a_retried_emit_that_cannot_be_encoded_fails_its_callback_at_once(rig: Rig) -> None:
    sio = rig.connected(socket={"retries": 3, "ack_timeout": 1})
    got = Recorder()
    sio.emit("x", object(), callback=got)
    sio.emit("after")
    rig.settle()
    [(err,)] = got.calls
    assert isinstance(err, TypeError)
    assert [data for _, data in sent(rig)] == [["after"]]


def test_the_retry_queue_is_drained_before_the_connect_handlers_so_nothing_is_sent_twice(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected(socket={"retries": 3, "ack_timeout": 10})
    sio.emit("queued head", callback=Recorder())
    sio.emit("queued next")
    rig.settle()
    rig.server.drop()
    rig.settle()
    sio.on("connect", lambda: sio.emit("from connect handler"))
    rig.clock.advance(5)
    assert sio.connected
    assert [data for _, data in sent(rig)] == [["queued head"], ["queued head"]]
    rig.server.ack(1)
    rig.settle()
    rig.server.ack(2)
    rig.settle()
    assert sent(rig) == [
        (0, ["queued head"]),
        (1, ["queued head"]),
        (2, ["queued next"]),
        (3, ["from connect handler"]),
    ]


def test_emits_with_retries_before_connecting_go_out_after_the_connect(rig: Rig) -> None:
    sio = rig.socket(socket={"retries": 1, "auto_connect": False})
    got = Recorder()
    sio.emit("a", callback=got)
    assert rig.server.packets == []
    sio.connect(timeout=5)
    rig.settle()
    assert got.calls == [(None,)]
    assert [data for _, data in sent(rig)] == [["a"]]


def test_a_volatile_emit_skips_the_retry_queue(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected(socket={"retries": 1})
    sio.emit("head", callback=Recorder())
    rig.settle()
    sio.emit("volatile", volatile=True)
    rig.settle()
    assert [data for _, data in sent(rig)] == [["head"], ["volatile"]]


def test_recovery_sends_pid_and_offset_and_strips_the_offset_from_handler_arguments(rig: Rig) -> None:
    server = rig.server
    server.recovery = True
    sio = rig.connected(socket={"auth": {"token": "t"}})
    assert not sio.recovered
    got = Recorder()
    sio.on("msg", got)
    server.emit("msg", "hello", "offset-1")
    server.emit("msg", "with ack", ack_id=5)  # an event with an ack id carries no offset
    rig.settle()
    assert got.calls == [("hello",), ("with ack",)]
    server.drop()
    rig.clock.advance(5)
    assert sio.connected and sio.recovered
    assert server.connects() == [{"token": "t"}, {"pid": "pid-1", "offset": "offset-1", "token": "t"}]


def test_replayed_events_are_delivered_once_and_a_new_pid_means_not_recovered(rig: Rig) -> None:
    server = rig.server
    server.recovery = True
    sio = rig.connected()
    got = Recorder()
    sio.on("msg", got)
    server.emit("msg", 1, "o1")
    rig.settle()
    server.drop()
    rig.settle()
    server.before_connect_reply = [server.frames(sio_codec.EVENT, "/", ["msg", 2, "o2"])]  # missed, replayed
    rig.clock.advance(5)
    assert sio.recovered
    server.before_connect_reply = []
    server.emit("msg", 3, "o3")
    rig.settle()
    assert got.calls == [(1,), (2,), (3,)]
    server.drop()
    rig.settle()
    server.pid = "pid-2"  # the server lost the session
    rig.clock.advance(5)
    assert sio.connected and not sio.recovered
    assert server.connects()[-1] == {"pid": "pid-1", "offset": "o3"}


@pytest.mark.parametrize("retries", [0, 2])
def test_a_socket_without_recovery_sends_plain_connects(rig: Rig, retries: int) -> None:
    sio = rig.connected(socket={"retries": retries})
    rig.server.drop()
    rig.clock.advance(5)
    assert sio.connected and not sio.recovered
    assert rig.server.connects() == [None, None]
