"""The heartbeat: a PONG for each PING, the ping timeout, and the PONG lag with its warnings."""

from __future__ import annotations

import logging

import pytest

from .fakes import Recorder, Rig

# The FakeServer's defaults: pingInterval 25 s, pingTimeout 20 s.
INTERVAL, TIMEOUT = 25.0, 20.0


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_the_server_pings_and_the_client_pongs_each_time(rig: Rig, transport: str) -> None:
    sio = rig.connected(transports=[transport])
    pings = Recorder()
    sio.manager.on("ping", pings)
    for _ in range(3):
        rig.clock.advance(INTERVAL)
        rig.server.ping()
        rig.settle()
    assert rig.server.pongs == 3
    assert len(pings) == 3
    assert rig.server.engine_packets().count("3") == 3


def test_the_server_goes_silent_and_after_ping_interval_plus_ping_timeout_the_socket_disconnects(rig: Rig) -> None:
    sio = rig.connected(reconnection_delay=1, randomization_factor=0)
    disconnects = Recorder()
    sio.on("disconnect", disconnects)
    rig.clock.advance(INTERVAL + TIMEOUT - 0.001)
    assert sio.connected
    rig.clock.advance(0.001)
    assert disconnects.calls == [("ping timeout",)]
    assert rig.server.sessions[0].transport.closed
    rig.clock.advance(1)
    assert sio.connected and len(rig.server.sessions) == 2


def test_each_ping_moves_the_deadline(rig: Rig) -> None:
    sio = rig.connected()
    rig.clock.advance(30)
    rig.server.ping()
    rig.clock.advance(INTERVAL + TIMEOUT - 0.001)
    assert sio.connected
    rig.clock.advance(0.001)
    assert not sio.connected


def test_other_packets_do_not_count_as_a_heartbeat(rig: Rig) -> None:
    sio = rig.connected()
    rig.clock.advance(30)
    rig.server.emit("news")
    rig.server.send("6")
    rig.clock.advance(INTERVAL + TIMEOUT - 30)
    assert not sio.connected


def test_an_emit_after_the_hub_was_blocked_past_the_deadline_is_buffered_and_the_connection_ends(rig: Rig) -> None:
    sio = rig.connected()
    disconnects = Recorder()
    sio.on("disconnect", disconnects)
    rig.clock.jump(INTERVAL + TIMEOUT)
    sio.emit("after the block")
    rig.settle()
    assert disconnects.calls == [("ping timeout",)]
    assert rig.server.events() == []
    assert sio.manager.stats.buffered == 1
    rig.clock.advance(5)
    assert rig.server.events() == [["after the block"]]


def test_a_prompt_pong_has_no_lag(rig: Rig) -> None:
    sio = rig.connected()
    rig.clock.advance(INTERVAL)
    rig.server.ping()
    rig.settle()
    assert sio.manager.stats.pong_lag_last == 0.0


@pytest.mark.parametrize(
    ("late", "blocked", "lag"),
    [(15.0, 0.0, 0.0), (10.0, 10.0, 10.0), (15.0, 20.0, 15.0)],
    ids=["late because of the network", "lag under half the ping timeout", "blocked longer than late"],
)
def test_a_late_ping_counts_as_lag_only_as_far_as_the_hub_was_blocked_and_is_not_warned_about_under_half_the_timeout(
    rig: Rig, late: float, blocked: float, lag: float, caplog: pytest.LogCaptureFixture
) -> None:
    sio = rig.connected()
    rig.clock.advance(INTERVAL + late)
    rig.clock.blocked = blocked
    rig.server.ping()
    rig.settle()
    assert sio.manager.stats.pong_lag_last == pytest.approx(lag)
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == (lag > TIMEOUT / 2)


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_a_pong_late_because_the_hub_was_blocked_is_measured_and_warned_about(
    rig: Rig, transport: str, caplog: pytest.LogCaptureFixture
) -> None:
    sio = rig.connected(transports=[transport])
    opened = rig.clock.now()
    rig.clock.advance(INTERVAL + 15)
    rig.clock.blocked = 12.0
    rig.server.ping()
    rig.settle()
    assert rig.clock.blocked_asked == [opened + INTERVAL]
    stats = sio.manager.stats
    assert stats.pong_lag_last == pytest.approx(12.0) and stats.pong_lag_max == pytest.approx(12.0)
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "a PONG left 12.000 s after its PING was due (pingTimeout 20.000 s): the gevent hub was blocked" in (
        warning.getMessage()
    )
    rig.clock.blocked = 0.0
    rig.clock.advance(INTERVAL)
    rig.server.ping()
    rig.settle()
    stats = sio.manager.stats
    assert stats.pong_lag_last == 0.0 and stats.pong_lag_max == pytest.approx(12.0)


def test_a_pong_that_waits_for_a_slow_socket_is_warned_about(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.server.ws_accepting = False
    sio = rig.connected(transports=["websocket"])
    rig.server.transport.write_gate.clear()
    rig.clock.advance(INTERVAL)
    rig.server.ping()
    rig.settle()
    assert rig.server.pongs == 0
    rig.clock.advance(15)
    rig.server.transport.write_gate.set()
    rig.settle()
    assert rig.server.pongs == 1
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "a PONG waited 15.000 s for the socket to take it (pingTimeout 20.000 s)" in warning.getMessage()
    assert sio.manager.stats.pong_lag_last == 0.0
