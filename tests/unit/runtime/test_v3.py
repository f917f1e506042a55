"""Engine.IO v3 / Socket.IO v4 (Socket.IO 2.x servers) in the runtime, against the FakeServer's v3 mode:
detection, forced protocols, the client's heartbeat, namespaces joined through the Link, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

import greensio
from greensio import _dial, _registry
from greensio._core.protocol import V3, V4
from greensio._manager import ManagerState

from .fakes import FakeServer, Recorder, Rig

KEY = ("http", "server.test", 3000, "/socket.io")
INTERVAL, TIMEOUT = 25.0, 20.0  # the FakeServer's pingInterval and pingTimeout
V3_SERVER = "speaks Engine.IO v3 (Socket.IO 2.x): leave protocol unset or use protocol=3"


@pytest.fixture(autouse=True)
def _forget_protocols() -> Iterator[None]:
    _registry._protocols.clear()
    yield
    _registry._protocols.clear()


def socketio2(server: FakeServer, flavour: str = "node2") -> FakeServer:
    server.protocol = 3
    server.flavour = flavour
    server.upgrades = []
    return server


def asked(server: FakeServer) -> list[tuple[str, str]]:
    """(transport, EIO) of each open attempt."""
    return [(name, parse_qs(urlsplit(params.url).query)["EIO"][0]) for name, params in server.opens]


# -- detection ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavour", "transport", "requests"),
    [
        ("node2", "polling", [("polling", "4")]),  # answered in v3 at once: adopted
        ("py4", "polling", [("polling", "4"), ("polling", "3")]),  # HTTP 400: asked again
        ("node2", "websocket", [("websocket", "4")]),  # an OPEN in v3 with its "40": adopted in place
        ("py4", "websocket", [("websocket", "4"), ("websocket", "3")]),  # closed before OPEN: opened again
    ],
)
def test_detection_then_the_protocol_is_remembered(
    rig: Rig, flavour: str, transport: str, requests: list[tuple[str, str]]
) -> None:
    server = socketio2(rig.server, flavour)
    sio = rig.connected(transports=[transport])
    assert asked(server) == requests
    assert sio.id == sio.manager.sid == f"eio{len(server.sessions)}"  # "/": the engine sid
    assert server.connects() == []  # "/" is joined by the server: never a "40" from the client
    assert _registry.protocol_for(KEY) is V3
    again = rig.connected(transports=[transport])
    assert asked(server)[len(requests) :] == [(transport, "3")]
    assert again.connected


def test_socketio2s_root_join_in_a_frame_of_its_own_is_waited_for(rig: Rig) -> None:
    server = socketio2(rig.server)
    server.root_in_open = False
    sio = rig.connected(transports=["websocket"])
    assert asked(server) == [("websocket", "4")] and sio.connected
    assert _registry.protocol_for(KEY) is V3


def test_a_connect_reply_without_sid_reopens_the_connection_in_v3_at_once(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No "40" within the wait after an undecided OPEN: v4 goes on; the server's CONNECT reply
    without payload proves v3, and the connection is reopened at once (no backoff)."""
    monkeypatch.setattr(_dial, "UNDECIDED_WAIT", 0.01)
    server = socketio2(rig.server)
    server.withhold_root = 1
    sio = rig.connected(transports=["websocket"])
    assert asked(server) == [("websocket", "4"), ("websocket", "3")]
    assert server.connects() == [None]  # the v5 CONNECT of the first connection
    assert sio.connected and sio.id == "eio2"
    assert rig.clock.sleeps == []
    assert _registry.protocol_for(KEY) is V3


def test_an_open_without_max_payload_then_nothing_is_a_v4_server(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    """socket.io before 4.5 and older python-engineio 4.x send no maxPayload either: they send
    nothing unasked, so after the wait the server is taken (and remembered) as v4."""
    monkeypatch.setattr(_dial, "UNDECIDED_WAIT", 0.01)
    rig.server.handshake = '0{"sid":"old","upgrades":[],"pingInterval":25000,"pingTimeout":20000}'
    sio = rig.connected(transports=["websocket"])
    assert asked(rig.server) == [("websocket", "4")]
    assert sio.connected and sio.id == "sio1"
    assert _registry.protocol_for(KEY) is V4


def test_a_known_server_is_never_waited_for(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_wait(transport: object) -> list[object]:
        raise AssertionError("waited for a server whose protocol is known")

    monkeypatch.setattr(_dial.Dialer, "_read_soon", staticmethod(no_wait))
    _registry.remember_protocol(KEY, V4)
    rig.server.handshake = '0{"sid":"old","upgrades":[],"pingInterval":25000,"pingTimeout":20000}'
    assert rig.connected(transports=["websocket"]).connected


def test_a_connect_reply_without_sid_from_a_proven_v4_server_is_a_connect_error(rig: Rig) -> None:
    """The server's OPEN had maxPayload: a v2-style CONNECT reply is an error (as socket.io-client's
    "reaching a Socket.IO server in v2.x"), not a reason to switch."""
    rig.server.answer_connects = False
    sio = rig.socket(transports=["websocket"], reconnection=False, socket={"auto_connect": False})
    errors = Recorder()
    sio.on("connect_error", errors)
    sio.connect(wait=False)
    rig.settle()
    rig.server.send("40")
    rig.settle()
    assert [str(e) for (e,) in errors] == ["CONNECT reply without a sid: None"]
    assert len(rig.server.opens) == 1 and _registry.protocol_for(KEY) is V4


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_a_remembered_v3_server_that_speaks_v4_now_is_detected_again(rig: Rig, transport: str) -> None:
    _registry.remember_protocol(KEY, V3)
    sio = rig.connected(transports=[transport])
    assert asked(rig.server) == [(transport, "3"), (transport, "4")]
    assert sio.connected and sio.id == "sio1"
    assert _registry.protocol_for(KEY) is V4


def test_when_both_protocols_close_the_websocket_the_first_answer_is_reported(rig: Rig) -> None:
    server = socketio2(rig.server, "py4")
    server.refuse_root = "root refused"  # python-socketio 4 refusing "/" over WebSocket: a close
    sio = rig.socket(transports=["websocket"], reconnection=False, socket={"auto_connect": False})
    with pytest.raises(greensio.ConnectionError, match="^ended by the server$"):
        sio.connect(timeout=5)
    assert asked(server) == [("websocket", "4"), ("websocket", "3")]


# -- forced protocols -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flavour", "transport", "scheme"),
    [("node2", "polling", "http"), ("py4", "polling", "http"), ("node2", "websocket", "ws")],
)
def test_protocol_4_against_a_v3_server(rig: Rig, flavour: str, transport: str, scheme: str) -> None:
    socketio2(rig.server, flavour)
    sio = rig.socket(transports=[transport], protocol=4, reconnection=False, socket={"auto_connect": False})
    with pytest.raises(greensio.ConnectionError) as caught:
        sio.connect(timeout=5)
    assert str(caught.value) == f"{scheme}://server.test:3000/socket.io/ {V3_SERVER}"
    assert [eio for _, eio in asked(rig.server)] == ["4"]


def test_protocol_4_against_socketio2_that_joins_the_root_late(rig: Rig) -> None:
    server = socketio2(rig.server)
    server.withhold_root = 1
    sio = rig.socket(transports=["websocket"], protocol=4, reconnection=False, socket={"auto_connect": False})
    with pytest.raises(greensio.ConnectionError) as caught:
        sio.connect(timeout=5)
    assert str(caught.value) == f"ws://server.test:3000/socket.io/ {V3_SERVER}"
    assert not sio.active


def test_protocol_4_against_python_socketio4_over_websocket(rig: Rig) -> None:
    socketio2(rig.server, "py4")
    sio = rig.socket(transports=["websocket"], protocol=4, reconnection=False, socket={"auto_connect": False})
    with pytest.raises(greensio.ConnectionError) as caught:
        sio.connect(timeout=5)
    assert str(caught.value).startswith("ended by the server before the Engine.IO OPEN (with protocol=4: ")


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_protocol_3_against_a_v4_server(rig: Rig, transport: str) -> None:
    sio = rig.socket(transports=[transport], protocol=3, reconnection=False, socket={"auto_connect": False})
    with pytest.raises(greensio.ConnectionError) as caught:
        sio.connect(timeout=5)
    if transport == "polling":
        assert str(caught.value) == (
            "http://server.test:3000/socket.io/ does not speak Engine.IO v3 (it is a Socket.IO 3+ server): "
            "leave protocol unset or use 4"
        )
    else:
        assert str(caught.value).startswith("ended by the server before the Engine.IO OPEN (with protocol=3: ")
    assert asked(rig.server) == [(transport, "3")]


def test_msgpack_and_v3(rig: Rig) -> None:
    with pytest.raises(ValueError, match="parser='msgpack' cannot be used with protocol=3"):
        rig.manager(protocol=3, parser="msgpack")
    socketio2(rig.server)
    for _ in range(2):  # detected, then remembered: msgpack still asks in v4 first
        sio = rig.socket(parser="msgpack", reconnection=False, socket={"auto_connect": False})
        with pytest.raises(greensio.ConnectionError, match="speaks Socket.IO 2.x, whose msgpack parser"):
            sio.connect(timeout=5)
    assert asked(rig.server) == [("polling", "4"), ("polling", "4")]
    assert _registry.protocol_for(KEY) is V3


# -- refusals -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["node2", "py4"])
def test_a_refused_root_refuses_every_waiting_socket_without_reconnecting(rig: Rig, flavour: str) -> None:
    server = socketio2(rig.server, flavour)
    server.refuse_root = "root refused"
    manager = rig.manager(transports=["polling"])
    root, chat = manager.socket("/", auto_connect=False), manager.socket("/chat", auto_connect=False)
    idle = manager.socket("/idle", auto_connect=False)
    errors = Recorder()
    chat.on("connect_error", errors)
    chat.connect(wait=False)
    with pytest.raises(greensio.ConnectionError, match="^root refused$"):
        root.connect(timeout=5)
    rig.settle()
    assert [str(e) for (e,) in errors] == ["root refused"]
    assert not root.active and not chat.active and not idle.active
    assert not manager.reconnecting and rig.clock.sleeps == []
    assert manager.state is ManagerState.IDLE
    # socket.io 2.x: "/chat" joined before the refusal was read (and held); python-socketio 4: no connection
    assert server.connects("/chat") == ([None] if flavour == "node2" else [])


def test_a_server_refusal_of_a_namespace_is_a_connect_error(rig: Rig) -> None:
    server = socketio2(rig.server)
    server.refusals["/private"] = ("not authorized", None)
    sio = rig.socket("/private", reconnection=False, socket={"auto_connect": False})
    with pytest.raises(greensio.ConnectionError, match="^not authorized$") as caught:
        sio.connect(timeout=5)
    assert caught.value.data is None


# -- namespaces --------------------------------------------------------------------------------------------------


def test_auth_travels_as_query_parameters(rig: Rig) -> None:
    server = socketio2(rig.server)
    manager = rig.manager(query={"token": "from query"}, protocol=3)
    root = manager.socket("/", auth={"token": "root", "n": 1, "flag": True}, auto_connect=False)
    private = manager.socket("/private", auth={"token": "secret", "extra": None}, auto_connect=False)
    private.connect(wait=False)
    root.connect(timeout=5)
    private.connect(timeout=5)
    [(_, params)] = server.opens
    assert parse_qs(urlsplit(params.url).query, keep_blank_values=True) == {
        "token": ["from query"],  # the query option wins; then the sockets' auth, the first registered first
        "n": ["1"],
        "flag": ["true"],
        "extra": [""],
        "EIO": ["3"],
        "transport": ["polling"],
    }
    assert server.connects("/private") == [{"token": "secret", "extra": ""}]
    assert private.id == "/private#eio1"


def test_root_auth_found_after_socketio2s_answer_asks_again_in_v3(rig: Rig) -> None:
    server = socketio2(rig.server)
    sio = rig.connected(socket={"auth": {"token": "t"}})
    assert asked(server) == [("polling", "4"), ("polling", "3")]
    first = server.sessions[0].transport
    assert first.graceful and first.writes[-1] == ["1"]  # the first session was told goodbye
    assert parse_qs(urlsplit(server.opens[1][1].url).query)["token"] == ["t"]
    assert sio.connected and sio.id == "eio2"


def root_and_chat(rig: Rig) -> tuple[greensio.Socket, greensio.Socket]:
    """ "/" and "/chat" connected on one Manager."""
    manager = rig.manager()
    root, chat = manager.socket("/", auto_connect=False), manager.socket("/chat", auto_connect=False)
    return root.connect(timeout=5), chat.connect(timeout=5)


def test_leaving_the_root_sends_nothing_while_another_namespace_is_in_use(rig: Rig) -> None:
    server = socketio2(rig.server)
    root, chat = root_and_chat(rig)
    assert server.engine_packets() == ["40/chat,"]
    root.disconnect()
    root.connect(timeout=5)  # still joined on the server: connected at once
    assert root.connected and server.engine_packets() == ["40/chat,"]
    chat.disconnect()
    rig.settle()
    assert server.engine_packets()[-1] == "41/chat,"
    root.disconnect()  # the last one: "/" leaves on the wire, then the connection closes
    rig.settle()
    assert server.engine_packets()[-2:] == ["41", "1"]


def test_a_root_socket_added_after_the_server_joined_it_connects_at_once(rig: Rig) -> None:
    server = socketio2(rig.server)
    chat = rig.connected("/chat")
    root = chat.manager.socket("/", auto_connect=False)
    root.connect(timeout=5)
    assert root.id == "eio1" and chat.id == "/chat#eio1"
    assert server.connects() == []


def test_after_the_server_disconnects_the_root_rejoining_sends_a_connect(rig: Rig) -> None:
    server = socketio2(rig.server)
    root, _ = root_and_chat(rig)
    reasons = Recorder()
    root.on("disconnect", reasons)
    server.send("41")
    rig.settle()
    assert reasons.calls == [("io server disconnect",)] and not root.active
    root.connect(timeout=5)
    assert server.connects() == [None] and root.connected


def test_a_namespace_v3_cannot_write_is_refused(rig: Rig) -> None:
    socketio2(rig.server)
    sio = rig.socket("/a,b", protocol=3, reconnection=False, socket={"auto_connect": False})
    with pytest.raises(greensio.ConnectionError, match="invalid namespace '/a,b'"):
        sio.connect(timeout=5)


def test_binary_is_counted_raw_against_the_payload_limit_over_v3_polling(rig: Rig) -> None:
    """v3 POSTs binary as it is; no maxPayload in a v3 OPEN: 1 MB is assumed."""
    socketio2(rig.server)
    sio = rig.connected(transports=["polling"])
    sio.emit("big", b"\x00" * 900_000)  # base64 would make it 1.2 MB
    rig.settle()
    assert rig.server.events()[-1] == ["big", b"\x00" * 900_000]
    with pytest.raises(greensio.PayloadTooLargeError, match="1000000 bytes"):
        sio.emit("big", "x" * 1_000_000)


# -- heartbeat ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["polling", "websocket"])
def test_the_client_pings_every_ping_interval_after_the_last_pong(rig: Rig, transport: str) -> None:
    server = socketio2(rig.server)
    server.answer_pings = False
    sio = rig.connected(transports=[transport])
    pings = Recorder()
    sio.manager.on("ping", pings)
    rig.clock.advance(INTERVAL - 0.01)
    assert server.pings == 0
    rig.clock.advance(0.01)
    assert server.pings == 1 and len(pings) == 1
    rig.clock.advance(0.5)
    server.send("3")
    rig.settle()
    assert sio.manager.stats.pong_lag_last == pytest.approx(0.5)
    rig.clock.advance(INTERVAL - 0.01)
    assert server.pings == 1
    rig.clock.advance(0.01)
    assert server.pings == 2
    assert sio.connected


def test_an_unanswered_ping_is_a_ping_timeout_unless_the_server_sends_something(rig: Rig) -> None:
    server = socketio2(rig.server)
    server.answer_pings = False
    sio = rig.connected(reconnection=False)
    reasons = Recorder()
    sio.on("disconnect", reasons)
    rig.clock.advance(INTERVAL)  # PING
    rig.clock.advance(TIMEOUT - 1)
    server.emit("news", 1)  # anything shows the server alive: the deadline moves on
    rig.clock.advance(2)
    assert sio.connected and server.pings == 1  # no second PING before the PONG
    rig.clock.advance(INTERVAL + TIMEOUT - 2)
    assert reasons.calls == [("ping timeout",)]


def test_pings_are_answered_and_the_connection_lives(rig: Rig) -> None:
    server = socketio2(rig.server)
    sio = rig.connected()
    for _ in range(4):
        rig.clock.advance(INTERVAL)
    assert server.pings == 4 and sio.connected
    assert sio.manager.stats.pong_lag_last == 0.0


# -- upgrade -----------------------------------------------------------------------------------------------------


def test_the_upgrade_in_v3(rig: Rig) -> None:
    server = socketio2(rig.server)
    server.upgrades = ["websocket"]
    sio = rig.connected()
    rig.settle()
    assert sio.transport == "websocket"
    assert asked(server) == [("polling", "4"), ("websocket", "3")]
    assert parse_qs(urlsplit(server.opens[1][1].url).query)["sid"] == ["eio1"]
    rig.clock.advance(INTERVAL)
    assert server.session.probe is not None and server.session.probe.writes[-1] == ["2"]
    assert sio.call("echo", 1, timeout=5) == 1
