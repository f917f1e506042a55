"""Reading: in a reader greenlet or in hub callbacks, a bounded number of packets per turn of the hub."""

from __future__ import annotations

from typing import Any

import pytest

from greensio._connection import YIELD_EVERY
from greensio._exceptions import ProtocolError
from greensio._namespace import Namespace

from .fakes import Recorder, Rig, WatchableFakeWebSocket

FLOOD = 3 * YIELD_EVERY + 5


def flood(rig: Rig) -> list[Any]:
    """FLOOD events, a PING in the middle, all in one read."""
    server = rig.server
    packets = [p for n in range(FLOOD) for p in server.frames(2, "/", ["n", n])]
    packets.insert(len(packets) // 2, "2")
    server.send(*packets)
    return packets


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_a_flood_in_one_read_is_fed_in_slices_in_order(rig: Rig, transport: str) -> None:
    sio = rig.connected(transports=[transport])
    rig.settle()
    got = Recorder()
    sio.on("n", got)
    flood(rig)
    rig.settle()
    assert got.calls == [(n,) for n in range(FLOOD)]
    assert rig.server.pongs == 1
    ws = rig.server.transport
    if isinstance(ws, WatchableFakeWebSocket):
        assert ws.pauses == FLOOD // YIELD_EVERY  # reading paused while the rest waits for the next turn


def test_reading_over_a_websocket_without_hub_callbacks_uses_a_reader_greenlet(rig: Rig) -> None:
    rig.server.watchable = False
    sio = rig.connected(transports=["websocket"])
    got = Recorder()
    sio.on("x", got)
    rig.server.emit("x", 1)
    rig.settle()
    assert got.calls == [(1,)]
    rig.server.drop()
    rig.settle()
    assert not sio.connected


def test_a_close_in_the_same_read_as_the_open_ends_the_connection(rig: Rig) -> None:
    rig.server.first_packets = ["1"]
    sio = rig.socket(transports=["websocket"], reconnection=False)
    closes = Recorder()
    sio.manager.on("close", closes)
    rig.settle()
    assert closes.calls == [("transport close",)]
    assert not sio.active


def test_a_frame_the_websocket_cannot_parse_is_a_parse_error(rig: Rig) -> None:
    sio = rig.connected(transports=["websocket"])
    rig.settle()
    disconnects, errors = Recorder(), Recorder()
    sio.on("disconnect", disconnects)
    sio.manager.on("error", errors)
    ws = rig.server.transport
    assert isinstance(ws, WatchableFakeWebSocket)
    ws.corrupt(ProtocolError("invalid frame"))
    rig.settle()
    assert disconnects.calls == [("parse error",)]
    assert [str(e) for (e,) in errors] == ["invalid frame"]


@pytest.mark.parametrize("watchable", [True, False], ids=["hub callbacks", "reader greenlet"])
def test_a_bug_while_reading_is_logged_and_the_connection_is_dropped(
    rig: Rig, watchable: bool, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig.server.watchable = watchable
    sio = rig.connected(transports=["websocket"], reconnection_delay=1, randomization_factor=0)
    rig.settle()
    disconnects = Recorder()
    sio.on("disconnect", disconnects)

    def broken(self: Namespace, packet: Any, size: int) -> None:
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(Namespace, "on_packet", broken)
    rig.server.emit("x")
    rig.settle()
    assert disconnects.calls == [("transport error",)]
    assert "the connection loop failed while reading" in caplog.text
    monkeypatch.undo()
    rig.clock.advance(1)
    assert sio.connected
    caplog.clear()  # this test means it: the autouse check must not fail it


def test_packets_for_an_inactive_namespace_are_ignored(rig: Rig) -> None:
    manager = rig.manager()
    main, chat = manager.socket("/"), manager.socket("/chat")
    rig.settle()
    chat.disconnect()
    got = Recorder()
    chat.on("x", got)
    rig.server.emit("x", nsp="/chat")
    rig.settle()
    assert got.calls == [] and main.connected
