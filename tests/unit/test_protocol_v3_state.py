"""Tests of the v3 states: the client-driven heartbeat (engine3) and the Socket.IO v4 link (sio3)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greensio._core import sio
from greensio._core.eio import DEFAULT_MAX_PAYLOAD
from greensio._core.engine import EngineClosed, EngineState
from greensio._core.engine3 import EngineState3
from greensio._core.session import Session
from greensio._core.sio3 import REFUSED, Link, handshake_refusal, query_params, refusal, socket_id
from greensio._exceptions import ProtocolError

OPEN = '0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}'


def examples(n: int) -> int:
    """*n* examples, or the soak profile's budget when tests/soak/fuzz_run.py runs this file."""
    return settings().max_examples if settings.get_current_profile_name() == "soak" else n


def opened(now: float = 100.0) -> EngineState3:
    engine = EngineState3()
    engine.open(OPEN, now)
    return engine


# --------------------------------------------------------------------------- engine3: the client's heartbeat


def test_open_schedules_the_first_ping() -> None:
    engine = EngineState3()
    assert (engine.next_timer, engine.deadline) == (math.inf, math.inf)
    hs = engine.open(OPEN, 100.0)
    assert (hs.sid, hs.max_payload) == ("abc", DEFAULT_MAX_PAYLOAD)  # v3 has no maxPayload
    assert engine.ping_due == 125.0
    assert engine.deadline == 130.0
    assert engine.next_timer == 125.0
    assert engine.outbox == [] and engine.rtt is None


def test_tick_sends_ping_when_due_and_waits_pong_timeout() -> None:
    engine = opened()
    engine.tick(124.9)
    assert engine.outbox == []
    engine.tick(125.0)
    assert engine.outbox == ["2"]
    assert engine.ping_due == math.inf
    assert engine.deadline == 130.0  # now + pingTimeout
    assert engine.next_timer == 130.0
    engine.outbox.clear()
    engine.tick(126.0)
    assert engine.outbox == []  # one PING outstanding at a time


def test_pong_schedules_the_next_ping_and_measures_rtt() -> None:
    engine = opened()
    engine.tick(125.0)
    engine.outbox.clear()
    engine.receive("3", 125.25)
    assert engine.rtt == 0.25
    assert engine.ping_due == 150.25
    assert engine.deadline == 155.25
    assert not engine.expired(155.0) and engine.expired(155.25)


def test_no_pong_expires_after_ping_timeout() -> None:
    engine = opened()
    engine.tick(125.0)
    assert not engine.expired(129.999)
    assert engine.expired(130.0)


def test_any_packet_proves_the_server_alive() -> None:
    """As engine.io-client 3: every packet moves the deadline (not the PING schedule)."""
    engine = opened()
    engine.tick(125.0)
    engine.alive(129.0)  # a batch of MESSAGEs
    assert engine.deadline == 159.0
    assert engine.ping_due == math.inf  # still waiting for the PONG
    engine.receive("6", 158.0)
    assert engine.deadline == 188.0


def test_alive_moves_the_deadline_for_a_batch() -> None:
    engine = opened()
    engine.tick(125.0)
    engine.alive(129.0)  # MESSAGEs read while the PONG is still on its way
    assert engine.deadline == 159.0 and engine.ping_due == math.inf
    EngineState3().alive(5.0)  # before OPEN: nothing to move


def test_stray_pong_changes_nothing_but_the_deadline() -> None:
    engine = opened()
    engine.receive("3", 110.0)
    assert engine.rtt is None
    assert engine.ping_due == 125.0
    assert engine.deadline == 140.0


def test_regular_schedule_with_prompt_pongs() -> None:
    engine = opened(0.0)
    sent: list[float] = []
    while engine.next_timer < 130.0:
        now = engine.next_timer
        engine.tick(now)
        if engine.outbox:
            sent.append(now)
            engine.outbox.clear()
            engine.receive("3", now + 0.5)
    assert sent == [25.0, 50.5, 76.0, 101.5, 127.0]  # the next PING pingInterval after each PONG


@pytest.mark.parametrize("packet", ["2", "2probe", "6"])
def test_ignored_packets(packet: str) -> None:
    engine = opened()
    engine.receive(packet, 101.0)
    assert engine.outbox == []  # a v3 client does not answer a PING


def test_close_and_protocol_errors() -> None:
    engine = opened()
    with pytest.raises(EngineClosed):
        engine.receive("1", 101.0)
    for bad in (OPEN, "4hello", "5", "9", "x"):
        with pytest.raises(ProtocolError):
            opened().receive(bad, 101.0)
    with pytest.raises(ProtocolError, match="expected an OPEN"):
        EngineState3().open("40", 0.0)
    with pytest.raises(ProtocolError, match="invalid handshake"):
        EngineState3().open('0{"sid":""}', 0.0)


def test_tick_before_open_does_nothing() -> None:
    engine = EngineState3()
    engine.tick(1e9)
    assert engine.outbox == []


def test_v4_engine_has_the_same_timer_interface() -> None:
    engine = EngineState()
    engine.open('0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":5000}', 10.0)
    assert engine.next_timer == engine.deadline == 40.0
    engine.tick(1000.0)
    engine.alive(1000.0)
    assert engine.outbox == [] and engine.deadline == 40.0


@settings(max_examples=examples(200), deadline=None, database=None)
@given(st.lists(st.tuples(st.floats(0, 40), st.sampled_from(["tick", "3", "alive", "6"])), max_size=30))
def test_heartbeat_invariants(steps: list[tuple[float, str]]) -> None:
    engine = opened(0.0)
    now = 0.0
    outstanding = False
    for delta, action in steps:
        now += delta
        if engine.expired(now):
            return
        if action == "tick":
            engine.tick(now)
            if engine.outbox:
                assert engine.outbox == ["2"] and not outstanding
                assert engine.deadline == pytest.approx(now + 5.0)
                outstanding = True
                engine.outbox.clear()
        else:
            if action == "alive":
                engine.alive(now)
            else:
                engine.receive(action, now)
            assert engine.deadline == pytest.approx(now + 30.0)
            if action == "3" and outstanding:
                outstanding = False
                assert engine.ping_due == pytest.approx(now + 25.0)
        assert (engine.ping_due == math.inf) == outstanding
        assert engine.next_timer == min(engine.ping_due, engine.deadline)
        assert engine.next_timer >= now or engine.ping_due <= now


# --------------------------------------------------------------------------- sio3


def link(sid: str = "esid") -> Link:
    return Link(sio.Decoder(), sid)


def test_socket_id() -> None:
    assert socket_id("/", "e1") == "e1"
    assert socket_id("/chat", "e1") == "/chat#e1"


def test_query_params() -> None:
    values = {"s": "a b", "t": True, "f": False, "n": None, "i": 3, "x": 1.5, "o": {"k": [1]}}
    assert query_params(values) == {
        "s": "a b",
        "t": "true",
        "f": "false",
        "n": "",
        "i": "3",
        "x": "1.5",
        "o": '{"k":[1]}',
    }


def test_connect_replies_get_the_derived_sid() -> None:
    lk = link()
    assert lk.feed_text("0") == sio.Packet(sio.CONNECT, "/", {"sid": "esid"})
    assert lk.root == "joined"
    assert lk.feed_text("0/chat,") == sio.Packet(sio.CONNECT, "/chat", {"sid": "/chat#esid"})  # Node
    assert lk.feed_text("0/chat") == sio.Packet(sio.CONNECT, "/chat", {"sid": "/chat#esid"})  # python-socketio 4


def test_the_derived_sid_satisfies_the_session() -> None:
    session = Session("/chat")
    packet = link().feed_text("0/chat")
    assert packet is not None
    session.on_connect(packet.data)
    assert (session.connected, session.sid) == (True, "/chat#esid")


@pytest.mark.parametrize(
    ("text", "nsp", "data"),
    [
        ('4"root refused"', "/", "root refused"),
        ('4/private,"not authorized"', "/private", "not authorized"),  # both servers
        ('4/nope,"Invalid namespace"', "/nope", "Invalid namespace"),  # Node, unknown namespace
        ("4/private", "/private", {"message": REFUSED, "data": None}),  # ConnectionRefusedError()
        ("4/private,", "/private", {"message": REFUSED, "data": None}),
        ('4/p,{"code":403}', "/p", {"message": REFUSED, "data": {"code": 403}}),  # Node: err.data
        ('4/p,["no",{"code":1}]', "/p", {"message": "no", "data": {"code": 1}}),  # python-socketio: 2 args
        ('4/p,["no",1,2]', "/p", {"message": "no", "data": [1, 2]}),
        ('4/p,["no"]', "/p", {"message": "no", "data": None}),
        ('4/p,{"message":"m","data":1}', "/p", {"message": "m", "data": 1}),
        ("4/p,[1]", "/p", {"message": REFUSED, "data": [1]}),
        ("4/p,7", "/p", {"message": REFUSED, "data": 7}),
    ],
)
def test_error_packets_become_connect_errors(text: str, nsp: str, data: Any) -> None:
    assert link().feed_text(text) == sio.Packet(sio.CONNECT_ERROR, nsp, data)


def test_handshake_refusal() -> None:
    assert handshake_refusal(401, b'"root refused"') == "root refused"  # python-socketio 4 refusing "/"
    assert handshake_refusal(401, b"Unauthorized") is None
    assert handshake_refusal(401, b'{"a":1}') is None
    assert handshake_refusal(400, b'"root refused"') is None


def test_refusal_shapes() -> None:
    assert refusal("x") == "x"
    assert refusal(None) == {"message": REFUSED, "data": None}


@pytest.mark.parametrize("text", ['4/p,{"x"', '4/p"x"', "4/p,[1", '1/p"x"', '4/a{b,"x"'])
def test_malformed_error_and_disconnect_packets(text: str) -> None:
    with pytest.raises(ProtocolError):
        link().feed_text(text)


def test_disconnect_packets() -> None:
    lk = link()
    lk.feed_text("0")
    assert lk.feed_text("1/chat,") == sio.Packet(sio.DISCONNECT, "/chat")
    assert lk.feed_text("1/chat") == sio.Packet(sio.DISCONNECT, "/chat")
    assert lk.feed_text('1/chat,"not authorized"') == sio.Packet(sio.DISCONNECT, "/chat")  # always_connect
    assert lk.root == "joined"
    assert lk.feed_text("1") == sio.Packet(sio.DISCONNECT, "/")
    assert lk.root == "left"


def test_events_acks_and_binary_go_through_the_v5_decoder() -> None:
    lk = link()
    assert lk.feed_text('2/chat,3["a",1]') == sio.Packet(sio.EVENT, "/chat", ["a", 1], 3)
    assert lk.feed_text('31["x"]') == sio.Packet(sio.ACK, "/", ["x"], 1)
    assert lk.feed_text('51-["b",{"_placeholder":true,"num":0}]') is None
    with pytest.raises(ProtocolError, match="reconstructing"):
        lk.feed_text('4"x"')
    assert lk.feed_binary(b"\x01") == sio.Packet(sio.EVENT, "/", ["b", b"\x01"])
    assert lk.feed_text('61-/c,2[{"_placeholder":true,"num":0}]') is None
    lk.reset()
    assert lk.feed_text('4"x"') == sio.Packet(sio.CONNECT_ERROR, "/", "x")
    with pytest.raises(ProtocolError):
        lk.feed_text('2["connect"]')  # still the v5 decoder's checks


def test_join_root_waits_for_the_server() -> None:
    lk = link()
    assert lk.join("/") == (None, None)  # never "0" while the server's own CONNECT is on its way
    assert lk.join("/", {"token": "x"}) == (None, None)
    lk.feed_text("0")
    assert lk.join("/") == (None, sio.Packet(sio.CONNECT, "/", {"sid": "esid"}))


def test_join_root_after_a_refusal() -> None:
    lk = link()
    lk.feed_text('4"root refused"')
    assert lk.root == "refused"
    assert lk.join("/") == (None, sio.Packet(sio.CONNECT_ERROR, "/", "root refused"))


def test_join_other_namespaces_with_a_query() -> None:
    lk = link()
    assert lk.join("/chat") == ("0/chat,", None)
    assert lk.join("/chat", {}) == ("0/chat,", None)
    assert lk.join("/private", {"token": "a b&c", "n": 1}) == ("0/private?token=a%20b%26c&n=1,", None)
    for bad in ("chat", "/a,b", "/a?b"):
        with pytest.raises(ValueError, match="invalid namespace"):
            lk.join(bad)


def test_leave() -> None:
    lk = link()
    lk.feed_text("0")
    assert lk.leave("/chat", last=True) == "1/chat,"
    assert lk.leave("/", last=False) is None  # python-socketio 4 would drop every namespace
    assert lk.root == "joined"
    assert lk.join("/")[1] == sio.Packet(sio.CONNECT, "/", {"sid": "esid"})
    assert lk.leave("/", last=True) == "1"
    assert lk.root == "left"
    assert lk.leave("/", last=True) is None
    assert lk.join("/", {"t": "1"}) == ("0/?t=1,", None)  # joined again on the wire
    assert lk.root == "pending"
    lk.leave("/", last=True)
    assert lk.join("/") == (None, None)  # still pending: nothing more to send


def test_link_uses_the_given_json_loads() -> None:
    calls = []

    def loads(text: str) -> Any:
        calls.append(text)
        return json.loads(text)

    assert Link(sio.Decoder(), "e", loads).feed_text('4/p,"x"') == sio.Packet(sio.CONNECT_ERROR, "/p", "x")
    assert calls == ['"x"']


@settings(max_examples=examples(300), deadline=None, database=None)
@given(st.sampled_from(["0", "1", "4", "2", "3", "5", "6"]), st.text(max_size=30))
def test_link_only_raises_protocol_error(kind: str, rest: str) -> None:
    lk = link()
    try:
        packet = lk.feed_text(kind + rest)
    except ProtocolError:
        return
    if packet is not None:
        assert packet.type in range(7) and packet.nsp.startswith("/")
        if packet.type == sio.CONNECT:
            assert packet.data == {"sid": socket_id(packet.nsp, "esid")}
        if packet.type == sio.CONNECT_ERROR:
            assert isinstance(packet.data, str) or isinstance(packet.data.get("message"), str)
