"""Misuse raises greensio errors at once: calls that can never be answered, other threads, forked children."""

from __future__ import annotations

from typing import Any, Callable

import gevent
import pytest

import greensio
from greensio import _registry
from greensio._core import sio as sio_codec
from greensio._manager import ManagerState

from .fakes import Rig, in_os_thread


def in_thread(fn: Callable[[], Any]) -> BaseException:
    """Run ``fn`` in another OS thread; return what it raised."""
    raised = in_os_thread(fn)
    assert raised is not None, "it did not raise"
    return raised


def test_call_after_disconnect_raises_disconnected_error_at_once(rig: Rig) -> None:
    sio = rig.connected()
    sio.disconnect()
    with pytest.raises(greensio.DisconnectedError, match=r"call\('x'\): the socket was disconnected"):
        sio.call("x")
    with pytest.raises(greensio.DisconnectedError):
        sio.call("x", timeout=5)


def test_call_on_a_never_connected_socket_without_a_timeout_raises_at_once(rig: Rig) -> None:
    sio = rig.socket(socket={"auto_connect": False})
    with pytest.raises(greensio.DisconnectedError, match=r"is not connected \(call connect\(\) first\)"):
        sio.call("x")
    assert sio.manager.stats.buffered == 0


@pytest.mark.parametrize("how", ["timeout", "ack_timeout"])
def test_call_on_a_never_connected_socket_with_a_timeout_is_buffered_then_times_out(rig: Rig, how: str) -> None:
    if how == "timeout":
        sio = rig.socket(socket={"auto_connect": False})
        call = gevent.spawn(sio.call, "x", timeout=3)
    else:
        sio = rig.socket(socket={"auto_connect": False, "ack_timeout": 3})
        call = gevent.spawn(sio.call, "x")
    rig.settle()
    assert sio.manager.stats.buffered == 1
    rig.clock.advance(3)
    with pytest.raises(greensio.TimeoutError):
        call.get(timeout=5)
    assert sio.manager.stats.buffered == 0


def test_emit_from_another_thread_raises_an_error_naming_emit_threadsafe(rig: Rig) -> None:
    sio = rig.connected()
    for attempt in (lambda: sio.emit("x"), lambda: sio.call("x"), lambda: sio.connect()):
        err = in_thread(attempt)
        assert isinstance(err, greensio.Error) and "emit_threadsafe()" in str(err)
    rig.settle()
    assert rig.server.events() == []


def test_socket_options_given_to_manager_socket_are_checked(rig: Rig) -> None:
    manager = rig.manager()
    with pytest.raises(TypeError, match=r"reconnection: Manager option\(s\), given to Manager\(...\)"):
        manager.socket("/", reconnection=False)
    with pytest.raises(TypeError, match="unknown option 'auht'"):
        manager.socket("/", auht={})


def forked(rig: Rig, manager: greensio.Manager, monkeypatch: pytest.MonkeyPatch) -> None:
    """What os.fork() runs in the child (only for this Manager, leaving the others of the process alone)."""
    monkeypatch.setattr(_registry, "_hooks", {id(manager): _registry._hooks[id(manager)]})
    monkeypatch.setattr(_registry, "_shared", {("http", "server.test", 3000, "/socket.io"): []})
    _registry._after_fork_in_child()
    assert _registry._shared == {}


def test_in_a_forked_child_the_client_is_inert_and_never_touches_the_parents_connection(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    sio = rig.connected(transports=["websocket"])
    transport = rig.server.transport
    rig.server.log.clear()
    forked(rig, sio.manager, monkeypatch)
    rig.settle()
    assert sio.manager.state is ManagerState.FORKED and sio.manager.forked
    assert transport.abandoned and not transport.graceful
    assert rig.server.log == []
    assert not sio.manager.runner.greenlets
    assert not sio.connected
    with pytest.raises(greensio.Error, match=r"created before os\.fork\(\)"):
        sio.emit("x")
    with pytest.raises(greensio.Error, match=r"created before os\.fork\(\)"):
        sio.connect()
    sio.disconnect()  # a no-op, never a DISCONNECT on the parent's session
    rig.server.ping()
    rig.clock.advance(60)
    assert rig.server.packets[-1].type != sio_codec.DISCONNECT
    assert rig.server.pongs == 0


def test_a_manager_forked_while_reconnecting_stops_reconnecting(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    sio = rig.connected(reconnection_delay=1, randomization_factor=0)
    rig.server.drop()
    rig.settle()
    forked(rig, sio.manager, monkeypatch)
    rig.clock.advance(10)
    assert len(rig.server.sessions) == 1
    assert sio.manager.state is ManagerState.FORKED
