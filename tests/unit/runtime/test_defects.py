"""The defects of issue #15, each with a test that fails on the code before the split (7f33edf).

The first, second and fourth were run against that code too (with a refused port on
127.0.0.1 standing in for the fake server); the third follows from its ``_close``.
"""

from __future__ import annotations

import time

import gevent
import pytest

import greensio
from greensio import _manager
from greensio._core import sio as sio_codec

from .fakes import Recorder, Rig


def test_manager_socket_normalises_the_namespace_so_chat_and_slash_chat_are_one_socket(rig: Rig) -> None:
    """Guards: ``manager.socket("chat")`` registered "chat" as given while Socket normalised it to "/chat"
    and overwrote the registry, so a second call made a new socket and orphaned the active "/chat" one."""
    manager = rig.manager()
    active = manager.socket("/chat")
    rig.settle()
    assert active.connected
    assert manager.socket("chat") is active
    assert manager.socket("chat") is manager.socket("/chat")
    assert list(manager.sockets) == ["/chat"]
    assert len(rig.server.connects("/chat")) == 1
    active.emit("still routed")
    got = Recorder()
    active.on("news", got)
    rig.server.emit("news", 1, nsp="/chat")
    rig.settle()
    assert got.calls == [(1,)]
    assert rig.server.events("/chat") == [["still routed"]]


def test_a_buffered_call_without_timeout_fails_when_the_manager_gives_up(rig: Rig) -> None:
    """Guards: ``_deactivate`` never failed buffered acks, so a ``call()`` without a timeout made while
    connecting blocked for ever once the reconnection policy gave up."""
    rig.server.refuse(100, "refused")
    sio = rig.socket(reconnection_attempts=1, reconnection_delay=1, randomization_factor=0)
    call = gevent.spawn(sio.call, "never sent")
    rig.settle()
    assert not call.ready()
    rig.clock.advance(1)
    assert not sio.active
    with pytest.raises(greensio.DisconnectedError, match="disconnected before the call was sent"):
        call.get(timeout=5)
    assert sio.manager.stats.buffered == 0


def test_a_buffered_call_without_timeout_fails_when_the_socket_is_disconnected(rig: Rig) -> None:
    """Guards: the same hang when the user disconnects a socket whose ``call()`` waits in the offline buffer."""
    rig.server.refuse(100, "refused")
    sio = rig.socket()
    call = gevent.spawn(sio.call, "never sent")
    rig.settle()
    sio.disconnect()
    with pytest.raises(greensio.DisconnectedError, match="disconnected before the call was sent"):
        call.get(timeout=5)


def test_a_buffered_call_with_a_timeout_and_other_buffered_packets_stay_until_they_expire(rig: Rig) -> None:
    """The fix drops only the calls that would wait for ever: a call with a deadline times out as in JS,
    and a buffered emit stays for the next connect()."""
    sio = rig.socket(socket={"auto_connect": False})
    sio.emit("kept")
    call = gevent.spawn(sio.call, "timed", timeout=5)
    rig.settle()
    sio.disconnect()
    assert not call.ready()
    rig.clock.advance(5)
    with pytest.raises(greensio.TimeoutError):
        call.get(timeout=5)
    sio.connect(timeout=5)
    rig.settle()
    assert rig.server.events() == [["kept"]]


def test_disconnect_over_websocket_is_bounded_by_the_flush_timeout_when_the_writer_is_stuck(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guards: ``close_gracefully()`` ran outside the flush Timeout and waited for the WebSocket's write lock,
    held by a writer stuck in ``sendall`` (a server that does not read): ``disconnect()`` never returned."""
    monkeypatch.setattr(_manager, "FLUSH_TIMEOUT", 0.05)
    rig.server.ws_accepting = False
    sio = rig.connected(transports=["websocket"])
    ws = rig.server.transport
    ws.write_gate.clear()  # the writer's sendall never returns; it holds the write lock
    sio.emit("stuck")
    rig.settle()
    started = time.monotonic()
    leaving = gevent.spawn(sio.disconnect)
    leaving.join(timeout=5)  # on the old code this join gives up: disconnect() is still blocked
    assert leaving.successful()
    assert time.monotonic() - started < 1.0
    assert ws.closed and not ws.graceful  # no close frame: the lock was never free
    assert not sio.active
    assert rig.server.received(sio_codec.DISCONNECT) == []


def test_socket_has_no_take_method() -> None:
    """Guards: ``Emitter.take`` was inherited by Socket, so ``sio.take(event)`` was public and silently
    removed the ``once`` handlers of ``event``."""
    assert not hasattr(greensio.Socket, "take")
    sio = greensio.Socket("http://defects.test", auto_connect=False, force_new=True)
    once = Recorder()
    sio.once("x", once)
    assert not hasattr(sio, "take")
    assert sio.listeners("x") == [once]
