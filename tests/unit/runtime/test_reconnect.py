"""Losing the connection and getting it back: reasons, the backoff, the Manager events, giving up."""

from __future__ import annotations

from typing import Any

import gevent
import pytest

import greensio
from greensio._manager import ManagerState

from .fakes import FakeServer, Recorder, Rig

MANAGER_EVENTS = ("open", "close", "error", "reconnect_attempt", "reconnect_error", "reconnect", "reconnect_failed")


def record_manager_events(manager: greensio.Manager) -> list[tuple[Any, ...]]:
    """Every Manager event as (name, *args), in the order the handlers ran."""
    events: list[tuple[Any, ...]] = []
    for name in MANAGER_EVENTS:
        manager.on(name, lambda *args, name=name: events.append((name, *args)))
    return events


def plain(events: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Events with their error arguments replaced by the error's text."""
    return [tuple(str(a) if isinstance(a, Exception) else a for a in event) for event in events]


@pytest.mark.parametrize(
    ("lose", "reason"),
    [
        (lambda server: server.close(), "transport close"),
        (lambda server: server.drop("transport error"), "transport error"),
        (lambda server: server.drop("transport close"), "transport close"),
        (lambda server: server.send("9unknown"), "parse error"),
        (lambda server: server.send('0{"sid":"again"}'), "parse error"),
        (lambda server: server.send("4{not socket.io"), "parse error"),
    ],
    ids=["server CLOSE", "broken", "closed", "unknown packet type", "second OPEN", "bad socket.io packet"],
)
def test_a_lost_connection_disconnects_with_its_reason_and_reconnects(rig: Rig, lose: Any, reason: str) -> None:
    sio = rig.connected(reconnection_delay=1, randomization_factor=0)
    disconnects = Recorder()
    sio.on("disconnect", disconnects)
    lose(rig.server)
    rig.settle()
    assert disconnects.calls == [(reason,)]
    assert not sio.connected and sio.active and sio.transport is None and sio.id is None
    assert sio.manager.state is ManagerState.CONNECTING and sio.manager.reconnecting
    rig.clock.advance(1)
    assert sio.connected and len(rig.server.sessions) == 2


def test_a_parse_error_is_also_an_error_event_and_a_warning(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    sio = rig.connected()
    errors = Recorder()
    sio.manager.on("error", errors)
    rig.server.send("9unknown")
    rig.settle()
    [(err,)] = errors.calls
    assert isinstance(err, greensio.ProtocolError) and "unexpected Engine.IO packet" in str(err)
    assert "closing the connection: unexpected Engine.IO packet" in caplog.text


def test_the_server_disconnecting_the_namespace_ends_the_socket_for_good(rig: Rig) -> None:
    sio = rig.connected()
    disconnects = Recorder()
    sio.on("disconnect", disconnects)
    rig.server.disconnect()
    rig.settle()
    assert disconnects.calls == [("io server disconnect",)]
    assert not sio.active and sio.wait(timeout=0)
    assert rig.server.sessions[0].transport.closed
    rig.clock.advance(60)
    assert len(rig.server.sessions) == 1
    assert sio.manager.state is ManagerState.IDLE


def test_reconnect_delays_follow_the_js_formula_and_the_events_come_in_order(rig: Rig) -> None:
    sio = rig.connected(reconnection_delay=1, reconnection_delay_max=5, randomization_factor=0)
    events = record_manager_events(sio.manager)
    rig.server.refuse(4, "refused")
    rig.server.drop()
    for delay in (1, 2, 4, 5, 5):
        rig.clock.advance(delay)
    assert rig.clock.sleeps == [1, 2, 4, 5, 5]
    assert sio.connected
    failure = [("error", "refused"), ("reconnect_error", "refused")]
    assert plain(events) == [
        ("close", "transport error"),
        ("reconnect_attempt", 1),
        *failure,
        ("reconnect_attempt", 2),
        *failure,
        ("reconnect_attempt", 3),
        *failure,
        ("reconnect_attempt", 4),
        *failure,
        ("reconnect_attempt", 5),
        ("open",),
        ("reconnect", 5),
    ]
    assert sio.manager.stats.reconnects == 1 and sio.manager.stats.connects == 2


def test_no_attempt_is_made_before_its_delay(rig: Rig) -> None:
    sio = rig.connected(reconnection_delay=2, randomization_factor=0)
    rig.server.drop()
    rig.clock.advance(1.999)
    assert len(rig.server.sessions) == 1 and not sio.connected
    rig.clock.advance(0.001)
    assert len(rig.server.sessions) == 2 and sio.connected


def test_the_backoff_starts_over_after_a_successful_reconnect(rig: Rig) -> None:
    sio = rig.connected(reconnection_delay=1, randomization_factor=0)
    rig.server.refuse(2)
    rig.server.drop()
    for delay in (1, 2, 4):
        rig.clock.advance(delay)
    assert sio.connected
    rig.server.drop()
    rig.clock.advance(1)
    assert sio.connected
    assert rig.clock.sleeps == [1, 2, 4, 1]


def test_jittered_delays_stay_within_the_randomization_factor(rig: Rig) -> None:
    sio = rig.connected(reconnection_delay=1, reconnection_delay_max=10, randomization_factor=0.5)
    rig.server.refuse(100)
    rig.server.drop()
    rig.settle()
    for _ in range(6):
        rig.clock.advance(rig.clock.sleeps[-1])
    assert len(rig.clock.sleeps) == 7  # the seventh is being waited out
    for attempt, delay in enumerate(rig.clock.sleeps):
        base = 2**attempt
        assert min(base * 0.5, 10) <= delay <= min(base * 1.5, 10), (attempt, delay)
    assert len(set(rig.clock.sleeps)) > 1
    assert not sio.connected


def test_the_first_connect_also_retries_with_the_backoff(rig: Rig) -> None:
    rig.server.refuse(2, "refused")
    sio = rig.socket(reconnection_delay=1, randomization_factor=0, socket={"auto_connect": False})
    events = record_manager_events(sio.manager)
    errors = Recorder()
    sio.on("connect_error", errors)
    sio.connect(wait=False)
    rig.clock.advance(1)
    rig.clock.advance(2)
    assert sio.connected
    assert [str(e) for (e,) in errors] == ["refused", "refused"]
    assert plain(events) == [
        ("error", "refused"),
        ("reconnect_attempt", 1),
        ("error", "refused"),
        ("reconnect_error", "refused"),
        ("reconnect_attempt", 2),
        ("open",),
        ("reconnect", 2),
    ]


def test_after_reconnection_attempts_the_manager_gives_up(rig: Rig) -> None:
    sio = rig.connected(reconnection_attempts=2, reconnection_delay=1, randomization_factor=0)
    events = record_manager_events(sio.manager)
    rig.server.refuse(100, "refused")
    rig.server.drop()
    rig.clock.advance(1)
    rig.clock.advance(2)
    rig.settle()
    assert plain(events)[-2:] == [("reconnect_error", "refused"), ("reconnect_failed",)]
    assert [e[0] for e in events].count("reconnect_attempt") == 2
    assert not sio.active and sio.wait(timeout=0)
    assert not sio.manager.reconnecting and sio.manager.state is ManagerState.IDLE
    rig.clock.advance(60)
    assert len(rig.server.opens) == 1 + 1 + 2  # polling, the upgrade probe, two attempts
    with pytest.raises(greensio.DisconnectedError, match="was disconnected"):
        sio.call("x")


def test_connect_waiters_get_the_reason_when_the_manager_gives_up(rig: Rig) -> None:
    rig.server.refuse(100, "refused")
    sio = rig.socket(reconnection_attempts=1, reconnection_delay=1, randomization_factor=0)
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            sio.connect(timeout=5)
        except greensio.ConnectionError as exc:
            errors.append(exc)

    waiter = gevent.spawn(wait)
    rig.clock.advance(1)
    waiter.join(5)
    assert [str(e) for e in errors] == ["reconnection failed"]


def test_without_reconnection_a_lost_connection_ends_the_socket(rig: Rig) -> None:
    sio = rig.connected(reconnection=False)
    disconnects = Recorder()
    sio.on("disconnect", disconnects)
    rig.server.drop()
    rig.settle()
    assert disconnects.calls == [("transport error",)]
    assert not sio.active and sio.wait(timeout=0)
    assert rig.clock.sleeps == []
    assert sio.manager.state is ManagerState.IDLE


def test_connect_while_reconnecting_never_opens_a_second_session(rig: Rig) -> None:
    manager = rig.manager(reconnection_delay=1, randomization_factor=0)
    main = manager.socket("/")
    rig.settle()
    rig.server.drop()
    rig.settle()
    main.connect(wait=False)
    other = manager.socket("/other")
    rig.settle()
    assert len(rig.server.sessions) == 1
    rig.clock.advance(1)
    assert main.connected and other.connected
    assert len(rig.server.sessions) == 2


def test_disconnect_during_the_backoff_stops_reconnecting(rig: Rig) -> None:
    sio = rig.connected(reconnection_delay=1, randomization_factor=0)
    rig.server.drop()
    rig.settle()
    assert rig.clock.sleepers == 1
    sio.disconnect()
    rig.settle()
    assert rig.clock.sleepers == 0 and not sio.manager.reconnecting
    rig.clock.advance(10)
    assert len(rig.server.sessions) == 1


def test_disconnect_during_an_open_attempt_stops_it(rig: Rig) -> None:
    rig.server.open_gate.clear()
    sio = rig.socket()
    rig.settle()
    assert len(rig.server.opens) == 1
    sio.disconnect()
    rig.server.open_gate.set()
    rig.settle()
    assert rig.server.sessions == [] and not sio.active


def test_reopening_a_socket_after_a_server_disconnect(rig: Rig) -> None:
    sio = rig.connected()
    rig.server.disconnect()
    rig.settle()
    assert not sio.active
    sio.connect(timeout=5)
    assert sio.connected and len(rig.server.sessions) == 2


def test_a_bug_in_an_attempt_is_logged_and_ends_the_waiting(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    class Broken(FakeServer):
        def open_polling(self, params: Any) -> Any:
            raise RuntimeError("bug")

    rig.server = Broken()
    sio = rig.socket(socket={"auto_connect": False})
    with pytest.raises(greensio.ConnectionError, match="internal error: RuntimeError"):
        sio.connect(timeout=5)
    assert "the connection loop failed" in caplog.text
    caplog.clear()  # this test means it: the autouse check must not fail it


def test_manager_once_and_off(rig: Rig) -> None:
    manager = rig.manager(reconnection_delay=1, randomization_factor=0)
    first, every, removed = Recorder(), Recorder(), Recorder()
    manager.once("open", first)
    manager.on("open", every)
    manager.on("open", removed)
    manager.off("open", removed)
    manager.socket("/")
    rig.settle()
    rig.server.drop()
    rig.clock.advance(1)
    assert (len(first), len(every), len(removed)) == (1, 2, 0)
