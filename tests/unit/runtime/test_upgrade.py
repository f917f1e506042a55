"""The upgrade from polling to WebSocket: the 2probe / 3probe / 5 exchange, losing and reordering nothing."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from greensio import _registry

from .fakes import FakePolling, FakeWebSocket, Recorder, Rig


def probe_of(rig: Rig) -> FakeWebSocket:
    probe = rig.server.session.probe
    assert probe is not None
    return probe


def polling_of(rig: Rig) -> FakePolling:
    session = rig.server.session
    return next(t for t in rig.server.transports if isinstance(t, FakePolling) and t.session is session)


def test_the_client_probes_then_upgrades_and_closes_polling(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "greensio")
    sio = rig.connected()
    assert sio.transport == "websocket" and sio.manager.transport == "websocket"
    polling = polling_of(rig)
    probe = probe_of(rig)
    assert probe.writes == [["2probe"], ["5"]]
    assert polling.closed and not probe.closed
    assert rig.server.session.upgraded
    assert "upgraded to websocket: http://server.test:3000/socket.io" in caplog.text
    assert sio.call("echo", "over ws") == "over ws"
    assert probe.writes[-1] == ['420["echo","over ws"]']


@pytest.mark.parametrize("watchable", [True, False], ids=["read in hub callbacks", "reader greenlet"])
def test_nothing_is_lost_or_reordered_by_the_upgrade(rig: Rig, watchable: bool) -> None:
    server = rig.server
    server.watchable = watchable
    server.probe_answer = "ignore"
    server.pause_gate.clear()
    sio = rig.connected()
    got = Recorder()
    sio.on("s", got)
    sio.emit("c", 1)
    server.emit("s", 1)
    rig.settle()
    sio.emit("c", 2)
    server.emit("s", 2)
    server.answer_probe()
    rig.settle()  # the upgrade waits for polling's requests to end
    assert sio.transport == "polling"
    sio.emit("c", 3)  # held until the switch
    server.emit("s", 3)  # the server still writes on polling: it has not seen UPGRADE
    server.pause_gate.set()
    rig.settle()
    assert sio.transport == "websocket"
    server.emit("s", 4)
    sio.emit("c", 4)
    rig.settle()
    assert server.events() == [["c", n] for n in (1, 2, 3, 4)]
    assert got.calls == [(1,), (2,), (3,), (4,)]
    assert probe_of(rig).writes[1:] == [["5"], ['42["c",3]'], ['42["c",4]']]


def test_a_probe_answered_wrongly_leaves_the_connection_on_polling(rig: Rig) -> None:
    rig.server.probe_answer = "wrong"
    sio = rig.connected()
    assert sio.transport == "polling"
    assert probe_of(rig).closed
    assert sio.call("echo", 1) == 1
    got = Recorder()
    sio.on("s", got)
    rig.server.emit("s", 2)
    rig.settle()
    assert got.calls == [(2,)]


def test_a_probe_websocket_that_breaks_leaves_the_connection_on_polling(rig: Rig) -> None:
    rig.server.probe_answer = "drop"
    sio = rig.connected()
    assert sio.transport == "polling" and probe_of(rig).closed
    assert sio.call("echo", 1) == 1


def test_a_probe_websocket_that_cannot_open_leaves_the_connection_on_polling(rig: Rig) -> None:
    server = rig.server
    original = server.open_websocket

    def refuse_websocket(params: Any) -> FakeWebSocket:
        server.refuse(1, "no websocket here")
        return original(params)

    server.open_websocket = refuse_websocket  # type: ignore[method-assign]
    sio = rig.connected()
    rig.settle()
    assert sio.transport == "polling"
    assert sio.call("echo", 1) == 1


def test_an_unanswered_probe_gives_up_after_the_timeout(rig: Rig) -> None:
    rig.server.probe_answer = "ignore"
    sio = rig.connected(timeout=0.01)
    upgrader = sio.manager._conn.upgrader if sio.manager._conn is not None else None
    assert upgrader is not None
    assert upgrader.get(timeout=5) is False  # the probe's timeout is real time (gevent.Timeout), not the Clock
    assert sio.transport == "polling" and probe_of(rig).closed
    assert sio.call("echo", 1) == 1


def test_when_polling_requests_do_not_finish_the_held_writes_go_out_on_polling(rig: Rig) -> None:
    server = rig.server
    server.probe_answer = "ignore"
    server.pause_ok = False
    server.pause_gate.clear()
    sio = rig.connected()
    server.answer_probe()
    rig.settle()
    sio.emit("held")
    rig.settle()
    assert server.events() == []
    server.pause_gate.set()
    rig.settle()
    assert sio.transport == "polling"
    assert polling_of(rig).paused is False
    assert server.events() == [["held"]]
    assert probe_of(rig).closed


@pytest.mark.parametrize(
    "options", [{"upgrade": False}, {"transports": ["polling"]}], ids=["upgrade=False", "polling only"]
)
def test_no_upgrade_when_the_options_say_so(rig: Rig, options: dict[str, Any]) -> None:
    sio = rig.connected(**options)
    assert sio.transport == "polling"
    assert [name for name, _ in rig.server.opens] == ["polling"]


def test_no_upgrade_when_the_server_offers_none(rig: Rig) -> None:
    rig.server.upgrades = []
    sio = rig.connected()
    assert sio.transport == "polling" and len(rig.server.opens) == 1


def test_remember_upgrade_starts_the_next_manager_on_websocket(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_registry, "_upgraded", set())
    first = rig.connected(remember_upgrade=True)
    assert first.transport == "websocket"
    second = rig.connected(remember_upgrade=True)
    assert second.transport == "websocket"
    assert [name for name, _ in rig.server.opens] == ["polling", "websocket", "websocket"]
    third = rig.connected()
    assert [name for name, _ in rig.server.opens][3:] == ["polling", "websocket"]  # without it: polling, then probe
    assert third.connected


def test_the_server_closing_during_the_probe_ends_the_connection_and_the_client_reconnects(rig: Rig) -> None:
    rig.server.probe_answer = "close"
    sio = rig.socket(reconnection_delay=1, randomization_factor=0)
    closes = Recorder()
    sio.manager.on("close", closes)
    rig.settle()
    assert closes.calls == [("transport close",)]
    assert rig.server.sessions[0].transport.closed
    rig.server.probe_answer = "answer"
    rig.clock.advance(1)
    assert sio.connected and sio.transport == "websocket"


def test_the_probe_websocket_is_closed_when_the_server_closes_during_the_probe(rig: Rig) -> None:
    rig.server.probe_answer = "close"
    rig.socket(reconnection=False)
    rig.settle()
    assert rig.server.sessions[0].transport.closed
    assert probe_of(rig).closed


def test_disconnect_during_the_probe_closes_the_probe_websocket(rig: Rig) -> None:
    rig.server.probe_answer = "ignore"
    sio = rig.connected()
    sio.disconnect()
    rig.settle()
    assert all(t.closed for t in rig.server.transports)


def test_a_connection_that_ends_while_the_upgrade_waits_for_the_writer_is_not_upgraded(rig: Rig) -> None:
    # The probe is answered at once, then the CONNECT_ERROR ends the socket, whose last
    # Manager closes the connection while the upgrader waits in hold() for the writer.
    rig.server.refusals["/"] = ("no", None)
    sio = rig.socket()
    rig.settle()
    assert not sio.active
    assert "5" not in probe_of(rig).writes[-1]
    assert all(t.closed for t in rig.server.transports)


def test_a_polling_connection_that_ends_during_the_upgrade_reconnects(rig: Rig) -> None:
    server = rig.server
    server.probe_answer = "ignore"
    sio = rig.connected(reconnection_delay=1, randomization_factor=0)
    server.drop()
    rig.settle()
    assert not sio.connected
    server.probe_answer = "answer"
    rig.clock.advance(1)
    assert sio.connected and sio.transport == "websocket"
