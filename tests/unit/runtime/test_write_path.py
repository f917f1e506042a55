"""The write path: one write per turn of the hub, a writer greenlet under backpressure, order, bounds."""

from __future__ import annotations

import gc
import weakref
from typing import cast

import gevent
import pytest

from greensio._io.transport import Transport
from greensio._manager import UNSENT_LIMIT
from greensio._outbox import Outbox
from greensio._runner import Runner
from greensio._stats import Counters

from .fakes import FakeWebSocket, Recorder, Rig


def websocket(rig: Rig) -> FakeWebSocket:
    transport = rig.server.transport
    assert isinstance(transport, FakeWebSocket)
    return transport


def test_what_is_emitted_in_one_turn_of_the_hub_leaves_in_one_write_from_the_hub(rig: Rig) -> None:
    sio = rig.connected(transports=["websocket"])
    ws = websocket(rig)
    before = ws.try_writes
    sio.emit("a")
    sio.emit("b", b"\x01")
    sio.emit("c")
    rig.settle()
    assert ws.try_writes == before + 1
    assert ws.writes[-1] == ['42["a"]', '451-["b",{"_placeholder":true,"num":0}]', b"\x01", '42["c"]']
    assert rig.server.events() == [["a"], ["b", b"\x01"], ["c"]]


def test_when_the_socket_takes_nothing_a_writer_greenlet_writes_in_order(rig: Rig) -> None:
    rig.server.ws_accepting = False
    sio = rig.connected(transports=["websocket"])
    ws = websocket(rig)
    ws.write_gate.clear()
    for i in range(3):
        sio.emit("early", i)
        rig.settle()
    assert sio.manager.runner.greenlets  # the writer waits for the socket
    sio.emit("late", b"\x00")
    rig.settle()
    assert rig.server.events() == []
    ws.write_gate.set()
    rig.settle()
    assert rig.server.events() == [["early", 0], ["early", 1], ["early", 2], ["late", b"\x00"]]
    ws.accepting = True
    sio.emit("direct")
    rig.settle()
    assert rig.server.events()[-1] == ["direct"]
    assert ws.writes[-1] == ['42["direct"]']


def test_binary_packets_from_several_greenlets_are_never_interleaved(rig: Rig) -> None:
    rig.server.ws_accepting = False
    sio = rig.connected(transports=["websocket"])
    websocket(rig).write_gate.clear()
    senders = [gevent.spawn(sio.emit, "part", i, bytes([i]) * 3, bytes([i + 10])) for i in range(5)]
    gevent.joinall(senders, timeout=5)
    websocket(rig).write_gate.set()
    rig.settle()
    assert rig.server.events() == [["part", i, bytes([i]) * 3, bytes([i + 10])] for i in range(5)]


def test_over_polling_every_write_goes_through_the_writer_greenlet_in_order(rig: Rig) -> None:
    rig.server.upgrades = []
    sio = rig.connected()
    polling = rig.server.transport
    polling.write_gate.clear()
    sio.emit("one")
    rig.settle()
    sio.emit("two")
    sio.emit("three")
    rig.settle()
    assert rig.server.events() == []
    polling.write_gate.set()
    rig.settle()
    assert rig.server.events() == [["one"], ["two"], ["three"]]
    assert polling.writes[-2:] == [['42["one"]'], ['42["two"]', '42["three"]']]


def test_only_one_pong_waits_behind_a_socket_that_takes_nothing(rig: Rig) -> None:
    rig.server.ws_accepting = False
    sio = rig.connected(transports=["websocket"])
    ws = websocket(rig)
    ws.write_gate.clear()
    sio.emit("stuck")
    rig.settle()
    for _ in range(3):
        rig.server.ping()
        rig.settle()
    ws.write_gate.set()
    rig.settle()
    assert rig.server.engine_packets()[-2:] == ['42["stuck"]', "3"]
    assert rig.server.pongs == 1
    rig.server.ping()
    rig.settle()
    assert rig.server.pongs == 2


def test_unsent_bytes_past_the_cap_close_the_connection_with_transport_error(rig: Rig) -> None:
    """The cap is UNSENT_LIMIT, or max_message_size when larger (100 MiB by default)."""
    rig.server.ws_accepting = False
    rig.server.max_payload = 100 * 2**20
    sio = rig.connected(transports=["websocket"], max_message_size=2**20, reconnection_delay=1, randomization_factor=0)
    ws = websocket(rig)
    ws.write_gate.clear()
    disconnects = Recorder()
    sio.on("disconnect", disconnects)
    sio.emit("start")
    rig.settle()
    chunk = "x" * (UNSENT_LIMIT // 4 - 100)
    for _ in range(4):
        sio.emit("big", chunk)
    rig.settle()
    assert disconnects.calls == []
    sio.emit("big", chunk)
    rig.settle()
    assert disconnects.calls == [("transport error",)]
    assert ws.closed
    rig.clock.advance(1)
    assert sio.connected


def test_max_message_size_raises_the_unsent_bytes_cap(rig: Rig) -> None:
    rig.server.ws_accepting = False
    rig.server.max_payload = 100 * 2**20
    sio = rig.connected(transports=["websocket"], max_message_size=2 * UNSENT_LIMIT)
    websocket(rig).write_gate.clear()
    sio.emit("start")
    rig.settle()
    sio.emit("big", "x" * (UNSENT_LIMIT + 10))
    rig.settle()
    assert sio.connected
    websocket(rig).write_gate.set()
    rig.settle()
    assert rig.server.events()[-1][0] == "big"


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_a_write_that_fails_closes_the_connection_with_transport_error(rig: Rig, transport: str) -> None:
    sio = rig.connected(transports=[transport])
    disconnects = Recorder()
    sio.on("disconnect", disconnects)
    rig.server.transport.broken = True
    sio.emit("into the void")
    rig.settle()
    assert disconnects.calls == [("transport error",)]


def test_a_write_that_fails_in_the_writer_greenlet_closes_the_connection(rig: Rig) -> None:
    rig.server.ws_accepting = False
    sio = rig.connected(transports=["websocket"])
    disconnects = Recorder()
    sio.on("disconnect", disconnects)
    ws = websocket(rig)
    ws.write_gate.clear()
    sio.emit("a")
    rig.settle()
    ws.broken = True
    ws.write_gate.set()
    rig.settle()
    assert disconnects.calls == [("transport error",)]


def test_packets_sent_and_bytes_are_counted(rig: Rig) -> None:
    sio = rig.connected(transports=["websocket"])
    before = sio.manager.stats
    sio.emit("a")
    rig.settle()
    after = sio.manager.stats
    assert after.packets_sent == before.packets_sent + 1
    assert after.bytes_sent == before.bytes_sent + len('42["a"]')


def test_a_flush_still_pending_when_the_transport_is_detached_is_cancelled(rig: Rig) -> None:
    """Nothing in the hub keeps the outbox, and through its callbacks the Manager, alive after a close."""
    manager = Recorder()  # stands for the Manager: the outbox holds its methods
    outbox = Outbox(Runner(rig.clock, manager), Counters(), manager, manager, 1024)
    outbox.attach(cast(Transport, object()))  # never written to: the flush would run after the check
    outbox.write(["4x"])  # its flush waits for the next turn of the hub
    outbox.detach()
    gone = weakref.ref(manager)
    del manager, outbox
    gc.collect()
    assert gone() is None
