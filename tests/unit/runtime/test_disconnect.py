"""Leaving: disconnect() flushes, says DISCONNECT, then closes, bounded even when a write never returns."""

from __future__ import annotations

import time

import gevent
import pytest

import greensio
from greensio import _manager, _registry
from greensio._core import sio as sio_codec
from greensio._manager import ManagerState

from .fakes import Recorder, Rig

QUICK_FLUSH = 0.05  # seconds: FLUSH_TIMEOUT for the tests where the flush cannot finish


def test_disconnect_writes_disconnect_then_closes_the_websocket(rig: Rig) -> None:
    sio = rig.connected()
    disconnects, closes = Recorder(), Recorder()
    sio.on("disconnect", disconnects)
    sio.manager.on("close", closes)
    rig.server.log.clear()
    sio.disconnect()
    rig.settle()
    assert rig.server.log == [("recv", "41"), ("close frame", "websocket"), ("close", "websocket")]
    assert disconnects.calls == [("io client disconnect",)]
    assert closes.calls == [("forced close",)]
    assert not sio.active and not sio.connected and sio.wait(timeout=0)
    assert sio.manager.state is ManagerState.IDLE and sio.manager.sid is None


def test_disconnect_over_polling_posts_disconnect_then_close(rig: Rig) -> None:
    sio = rig.connected(transports=["polling"])
    rig.server.log.clear()
    sio.close()
    assert rig.server.log == [("recv", "41"), ("recv", "1"), ("close", "polling")]


def test_what_was_emitted_before_disconnect_leaves_before_the_disconnect(rig: Rig) -> None:
    sio = rig.connected()
    sio.emit("a")
    sio.emit("b", b"\x01")
    sio.disconnect()
    assert [(p.type, p.data) for p in rig.server.packets[-3:]] == [
        (sio_codec.EVENT, ["a"]),
        (sio_codec.EVENT, ["b", b"\x01"]),
        (sio_codec.DISCONNECT, None),
    ]


def test_disconnect_over_polling_is_bounded_by_the_flush_timeout_when_a_write_never_returns(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over WebSocket: test_defects.py."""
    monkeypatch.setattr(_manager, "FLUSH_TIMEOUT", QUICK_FLUSH)
    sio = rig.connected(transports=["polling"])
    stuck = rig.server.transport
    stuck.write_gate.clear()  # never set again: this write never returns
    sio.emit("stuck")
    rig.settle()
    started = time.monotonic()
    sio.disconnect()
    assert time.monotonic() - started < QUICK_FLUSH + 1.0
    assert stuck.closed and not sio.active
    assert rig.server.events() == []
    rig.settle()
    assert not sio.manager.runner.greenlets


def test_disconnect_from_a_handler(rig: Rig) -> None:
    sio = rig.connected()
    done = Recorder()
    sio.on("disconnect", done)
    sio.on("bye", lambda: sio.disconnect())
    rig.server.emit("bye")
    rig.settle()
    assert done.calls == [("io client disconnect",)]
    assert rig.server.received(sio_codec.DISCONNECT) != []
    assert rig.server.transport.closed
    assert sio.manager.state is ManagerState.IDLE


def test_connect_from_a_disconnect_handler_opens_a_new_connection(rig: Rig) -> None:
    sio = rig.connected()
    sio.on("disconnect", lambda reason: sio.connect(wait=False))
    sio.disconnect()
    rig.settle()
    assert sio.connected and len(rig.server.sessions) == 2
    assert rig.server.sessions[0].transport.closed
    sio.off("disconnect")


def test_the_server_disconnect_read_in_a_hub_callback_closes_the_connection_off_the_hub(rig: Rig) -> None:
    sio = rig.connected()
    rig.settle()
    transport = rig.server.transport
    assert getattr(transport, "watched", False)
    rig.server.disconnect()
    rig.settle()
    assert not sio.active and transport.closed
    assert sio.manager.state is ManagerState.IDLE


def test_wait_blocks_until_the_socket_is_inactive_for_good(rig: Rig) -> None:
    sio = rig.connected()
    assert sio.wait(timeout=0.001) is False
    waiter = gevent.spawn(sio.wait)
    rig.settle()
    assert not waiter.ready()
    rig.server.drop()
    rig.settle()
    assert not waiter.ready()  # a loss is not the end: the socket reconnects
    sio.disconnect()
    assert waiter.get(timeout=5) is True


def test_disconnecting_one_namespace_keeps_the_connection_for_the_other(rig: Rig) -> None:
    manager = rig.manager()
    main, chat = manager.socket("/"), manager.socket("/chat")
    rig.settle()
    assert main.connected and chat.connected
    chat.disconnect()
    rig.settle()
    assert main.connected and not chat.active
    assert [p.nsp for p in rig.server.received(sio_codec.DISCONNECT, None)] == ["/chat"]
    assert not rig.server.transport.closed
    assert main.call("echo", 1) == 1


def test_disconnect_is_safe_twice_and_on_a_socket_that_never_connected(rig: Rig) -> None:
    sio = rig.connected()
    sio.disconnect()
    sio.disconnect()
    idle = rig.socket(socket={"auto_connect": False})
    idle.disconnect()
    assert not idle.active
    assert len(rig.server.received(sio_codec.DISCONNECT)) == 1


def test_disconnect_before_the_connect_reply_sends_no_disconnect(rig: Rig) -> None:
    rig.server.silent.add("/")
    sio = rig.socket()
    rig.settle()
    sio.disconnect()
    assert rig.server.received(sio_codec.DISCONNECT) == []
    assert rig.server.transport.closed


def test_after_disconnect_the_stats_keep_the_bytes_of_the_closed_connection(rig: Rig) -> None:
    sio = rig.connected(transports=["websocket"])
    sio.emit("x")
    rig.settle()
    open_stats = sio.manager.stats
    sio.disconnect()
    closed_stats = sio.manager.stats
    assert closed_stats.bytes_sent >= open_stats.bytes_sent > 0
    assert closed_stats.bytes_received == open_stats.bytes_received > 0


def test_at_exit_connected_sockets_flush_what_they_queued(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    sio = rig.connected()
    idle = rig.manager()
    manager = sio.manager
    monkeypatch.setattr(
        _registry, "_hooks", {key: hooks for key, hooks in _registry._hooks.items() if key in (id(manager), id(idle))}
    )
    sio.emit("last words")
    _registry._flush_at_exit()
    assert [(p.type, p.data) for p in rig.server.packets[-2:]] == [
        (sio_codec.EVENT, ["last words"]),
        (sio_codec.DISCONNECT, None),
    ]
    assert rig.server.transport.closed and not sio.active


def test_the_exit_flush_is_bounded_when_a_write_never_returns(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "EXIT_FLUSH_TIMEOUT", QUICK_FLUSH)
    monkeypatch.setattr(_manager, "FLUSH_TIMEOUT", 10.0)
    rig.server.ws_accepting = False
    sio = rig.connected(transports=["websocket"])
    monkeypatch.setattr(_registry, "_hooks", {id(sio.manager): _registry._hooks[id(sio.manager)]})
    rig.server.transport.write_gate.clear()
    sio.emit("stuck")
    rig.settle()
    started = time.monotonic()
    _registry._flush_at_exit()
    assert time.monotonic() - started < QUICK_FLUSH + 1.0
    # The interpreter would exit now; the interrupted close left the Manager half-closed: end it as a fork would.
    _registry._hooks[id(sio.manager)][0]()()  # type: ignore[misc]


def test_a_timeout_that_interrupts_disconnect_leaves_the_socket_usable(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_manager, "FLUSH_TIMEOUT", 10.0)
    rig.server.ws_accepting = False
    sio = rig.connected(transports=["websocket"])
    stuck = rig.server.transport
    stuck.write_gate.clear()
    sio.emit("stuck")
    rig.settle()
    with gevent.Timeout(QUICK_FLUSH, False):
        sio.disconnect()
    stuck.write_gate.set()
    rig.settle()
    try:
        assert sio.wait(timeout=QUICK_FLUSH)
        assert sio.connect(timeout=1).connected
    finally:
        monkeypatch.setattr(_manager, "FLUSH_TIMEOUT", QUICK_FLUSH)
        if sio.manager.state is ManagerState.CLOSING:  # leave nothing running for the next tests
            _registry._hooks[id(sio.manager)][0]()()  # type: ignore[misc]


def test_the_with_statement_disconnects_when_the_block_raises(rig: Rig) -> None:
    sio = rig.socket(socket={"auto_connect": False})
    with pytest.raises(KeyError):
        with sio:
            raise KeyError("boom")
    assert not sio.active
    assert isinstance(sio, greensio.Socket)
