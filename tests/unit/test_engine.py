"""Tests of the Engine.IO session state machine (greensio._core.engine), with a fake clock."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from greensio._core.eio import Handshake
from greensio._core.engine import EngineClosed, EngineState
from greensio._exceptions import ProtocolError

HANDSHAKE = {
    "sid": "lv_VI97HAXpY6yYWAAAC",
    "upgrades": ["websocket"],
    "pingInterval": 25000,
    "pingTimeout": 20000,
    "maxPayload": 1000000,
}
OPEN_PACKET = "0" + json.dumps(HANDSHAKE)


def opened(now: float = 100.0) -> EngineState:
    engine = EngineState()
    engine.open(OPEN_PACKET, now)
    return engine


def test_fresh_state() -> None:
    engine = EngineState()
    assert engine.handshake is None
    assert engine.deadline == math.inf
    assert engine.outbox == []
    assert engine.expired(1e12) is False


def test_open_parses_the_handshake_and_sets_the_deadline() -> None:
    engine = EngineState()
    hs = engine.open(OPEN_PACKET, now=100.0)
    assert hs == Handshake(
        sid="lv_VI97HAXpY6yYWAAAC",
        upgrades=("websocket",),
        ping_interval=25.0,
        ping_timeout=20.0,
        max_payload=1000000,
    )
    assert engine.handshake is hs
    assert engine.deadline == 145.0  # 100 + 25 + 20
    assert engine.outbox == []


def test_expired_around_the_deadline() -> None:
    engine = opened(now=100.0)
    assert engine.expired(100.0) is False
    assert engine.expired(144.999) is False
    assert engine.expired(145.0) is True
    assert engine.expired(200.0) is True


def test_open_uses_the_given_loads() -> None:
    seen: list[str] = []

    def loads(data: str) -> Any:
        seen.append(data)
        return json.loads(data)

    engine = EngineState(loads=loads)
    engine.open('0{"sid":"x","pingInterval":300,"pingTimeout":200}', now=0.0)
    assert seen == ['{"sid":"x","pingInterval":300,"pingTimeout":200}']
    assert engine.deadline == 0.5


@pytest.mark.parametrize(
    "packet",
    [
        "",
        "4hello",
        "2",
        '1{"sid":"x","pingInterval":1,"pingTimeout":1}',
        "0",
        "0not json",
        '0{"pingInterval":25000,"pingTimeout":20000}',  # no sid
        '0{"sid":"x","pingInterval":"25000","pingTimeout":20000}',
    ],
)
def test_bad_open_packet(packet: str) -> None:
    engine = EngineState()
    with pytest.raises(ProtocolError):
        engine.open(packet, now=0.0)
    assert engine.deadline == math.inf


@pytest.mark.parametrize("packet", ["4hello", "4", '42["ev",1]'])
def test_a_message_is_not_the_engines_to_handle(packet: str) -> None:
    # MESSAGE packets go straight to the Socket.IO decoder; one reaching the engine state is a bug
    engine = opened(now=100.0)
    with pytest.raises(ProtocolError):
        engine.receive(packet, now=130.0)
    assert engine.deadline == 145.0  # nothing moved the heartbeat deadline


def test_ping_queues_a_pong_and_moves_the_deadline() -> None:
    engine = opened(now=100.0)
    engine.receive("2", now=130.0)
    assert engine.outbox == ["3"]
    assert engine.deadline == 175.0  # 130 + 25 + 20
    assert engine.expired(170.0) is False
    assert engine.expired(175.0) is True


def test_every_ping_gets_its_own_pong() -> None:
    engine = opened(now=0.0)
    engine.receive("2", now=25.0)
    engine.receive("6", now=26.0)
    engine.receive("2", now=50.0)
    assert engine.outbox == ["3", "3"]
    assert engine.deadline == 95.0


def test_pong_echoes_ping_data() -> None:
    engine = opened()
    engine.receive("2probe", now=101.0)
    assert engine.outbox == ["3probe"]


def test_noop_is_ignored() -> None:
    engine = opened(now=100.0)
    engine.receive("6", now=140.0)
    assert engine.outbox == []
    assert engine.deadline == 145.0


def test_close_raises_engine_closed() -> None:
    engine = opened()
    with pytest.raises(EngineClosed):
        engine.receive("1", now=101.0)


@pytest.mark.parametrize("packet", [OPEN_PACKET, "0"])
def test_second_open_is_a_protocol_error(packet: str) -> None:
    engine = opened(now=100.0)
    with pytest.raises(ProtocolError):
        engine.receive(packet, now=101.0)
    assert engine.deadline == 145.0
    assert engine.handshake is not None and engine.handshake.sid == "lv_VI97HAXpY6yYWAAAC"


@pytest.mark.parametrize("packet", ["5", "7", "9hello", "b4", "x", "", " 4", "\x1e"])
def test_upgrade_and_unknown_types_are_protocol_errors(packet: str) -> None:
    engine = opened()
    with pytest.raises(ProtocolError):
        engine.receive(packet, now=101.0)
    assert engine.outbox == []


def test_protocol_error_is_a_value_error() -> None:
    engine = opened()
    with pytest.raises(ValueError):
        engine.receive("9", now=101.0)
