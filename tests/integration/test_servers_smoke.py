"""The test servers behave as tests/servers/README.md says.

Checked with python-socketio's own client and raw websockets, not greensio,
so that a failure here points at the servers.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any, Callable

import gevent.event
import pytest
import socketio
import websocket

from tests.servers.process import ServerProcess

pytestmark = pytest.mark.timeout(60)

WAIT = 10  # bound of every wait, in seconds

# What the server passes to its disconnect handler, by server kind and cause.
DISCONNECT_REASONS = {
    "node": {
        "client": "client namespace disconnect",
        "disconnect_me": "server namespace disconnect",
        "close_engine": "forced close",
        "transport": "transport close",
        "ping": "ping timeout",
    },
    "python": {
        "client": "client disconnect",
        "disconnect_me": "server disconnect",
        "close_engine": "server disconnect",
        "transport": "transport close",
        "ping": "ping timeout",
    },
}
# Shortest heartbeats each server supports, in seconds.
FAST_PINGS = {"node": {"ping_interval": 0.3, "ping_timeout": 0.2}, "python": {"ping_interval": 1, "ping_timeout": 0.5}}

Connect = Callable[..., socketio.SimpleClient]


@pytest.fixture
def connect(server: ServerProcess) -> Iterator[Connect]:
    """connect(namespace="/", query="", **options) -> a connected SimpleClient, disconnected at test end."""
    clients: list[socketio.SimpleClient] = []

    def connect(namespace: str = "/", query: str = "", **options: Any) -> socketio.SimpleClient:
        client = socketio.SimpleClient(reconnection=False)
        client.connect(server.url + query, namespace=namespace, transports=["websocket"], wait_timeout=WAIT, **options)
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.disconnect()


def test_polling_handshake(server: ServerProcess) -> None:
    with urllib.request.urlopen(f"{server.url}/socket.io/?EIO=4&transport=polling", timeout=WAIT) as response:
        body = response.read().decode()
    assert body.startswith("0")
    assert json.loads(body[1:])["upgrades"] == ["websocket"]


@pytest.mark.parametrize("namespace", ["/", "/chat"])
def test_echo_with_ack_acks_the_same_arguments(connect: Connect, namespace: str) -> None:
    client = connect(namespace)
    assert client.call("echo", ("a", 1, {"k": [True, None]}), timeout=WAIT) == ("a", 1, {"k": [True, None]})


def test_echo_without_ack_emits_echo_back(connect: Connect) -> None:
    client = connect()
    client.emit("echo", ("a", 1))
    assert client.receive(timeout=WAIT) == ["echo", "a", 1]


def test_binary_round_trips_as_binary(connect: Connect) -> None:
    client = connect()
    assert client.call("echo", {"blob": b"\x00\xffbin"}, timeout=WAIT) == {"blob": b"\x00\xffbin"}
    client.emit("echo", (b"\x01\x02", "text"))
    assert client.receive(timeout=WAIT) == ["echo", b"\x01\x02", "text"]


def test_welcome_when_auth_asks_for_it(connect: Connect) -> None:
    client = connect(auth={"welcome": True})
    assert client.receive(timeout=WAIT) == ["welcome", "hi"]


def test_whoami_reflects_the_handshake(connect: Connect) -> None:
    client = connect("/chat", query="?flavour=plain", auth={"user": "u1"}, headers={"X-Custom": "v"})
    me = client.call("whoami", timeout=WAIT)
    assert me["sid"] == client.sid
    assert me["nsp"] == "/chat"
    assert me["auth"] == {"user": "u1"}
    assert me["query"]["flavour"] == "plain"
    assert me["query"]["EIO"] == "4"
    assert me["headers"]["x-custom"] == "v"
    assert connect().call("whoami", timeout=WAIT)["auth"] == {}


def test_private_refuses_without_the_token(server: ServerProcess) -> None:
    client = socketio.Client(reconnection=False)
    refusal = gevent.event.AsyncResult()
    client.on("connect_error", refusal.set, namespace="/private")
    with pytest.raises(socketio.exceptions.ConnectionError):
        client.connect(
            server.url, namespaces=["/private"], auth={"token": "wrong"}, transports=["websocket"], wait_timeout=WAIT
        )
    client.disconnect()
    assert refusal.get(timeout=WAIT) == {"message": "not authorized", "data": {"code": 403}}


def test_private_accepts_the_token(connect: Connect) -> None:
    client = connect("/private", auth={"token": "secret", "welcome": True})
    assert client.receive(timeout=WAIT) == ["welcome", "hi"]
    assert client.call("echo", "x", timeout=WAIT) == "x"


@pytest.mark.parametrize("binary", [False, True])
def test_burst(connect: Connect, binary: bool) -> None:
    client = connect()
    client.emit("burst", (5, 3, binary))
    payload = bytes(3) if binary else "xxx"
    assert [client.receive(timeout=WAIT) for _ in range(6)] == [
        *(["burst", i, payload] for i in range(5)),
        ["burst_done", 5],
    ]


def test_server_emit(connect: Connect) -> None:
    client = connect()
    assert client.call("server_emit", ("news", 1, "two"), timeout=WAIT) == "ok"
    assert client.receive(timeout=WAIT) == ["news", 1, "two"]


def test_server_call_returns_what_the_client_acked(connect: Connect) -> None:
    client = connect()
    client.client.on("question", lambda *args: ("answer", *args))
    assert client.call("server_call", ("question", 1, {"two": 2}), timeout=WAIT) == ["answer", 1, {"two": 2}]


def test_disconnect_me_is_a_server_disconnect(server: ServerProcess) -> None:
    client = socketio.Client(reconnection=False)
    reason = gevent.event.AsyncResult()
    client.on("disconnect", reason.set)
    client.connect(server.url, transports=["websocket"], wait_timeout=WAIT)
    client.emit("disconnect_me")
    assert reason.get(timeout=WAIT) == client.reason.SERVER_DISCONNECT


def raw_websocket(url: str, query: str = "") -> websocket.WebSocket:
    ws_url = url.replace("http://", "ws://") + f"/socket.io/?EIO=4&transport=websocket{query}"
    return websocket.create_connection(ws_url, timeout=WAIT)


def recv_text(ws: websocket.WebSocket) -> str:
    """The next frame, which must be a text one."""
    frame = ws.recv()
    assert isinstance(frame, str), f"a binary frame: {frame!r}"
    return frame


def raw_connect(url: str, namespace: str) -> tuple[websocket.WebSocket, str]:
    """A raw websocket connected to ``namespace``; returns it and the namespace sid."""
    ws = raw_websocket(url)
    assert recv_text(ws).startswith("0{")
    ws.send(f"40{namespace},")
    reply = recv_text(ws)
    assert reply.startswith(f"40{namespace},{{")
    return ws, json.loads(reply.partition(",")[2])["sid"]


# Raw packets make the causes exact: python-socketio's Client.disconnect() may
# close the transport before its DISCONNECT packet is out.
CAUSES = {
    "client": "41/chat,",
    "disconnect_me": '42/chat,["disconnect_me"]',
    "close_engine": '42/chat,["close_engine"]',
    "transport": None,
}


@pytest.mark.parametrize("cause", CAUSES)
def test_observers_see_every_disconnect_with_its_reason(server: ServerProcess, connect: Connect, cause: str) -> None:
    observer = connect()
    assert observer.call("observe", timeout=WAIT) == "ok"
    ws, sid = raw_connect(server.url, "/chat")
    try:
        message = CAUSES[cause]
        if message is None:
            ws.close()
        else:
            ws.send(message)
        assert observer.receive(timeout=WAIT) == ["peer_disconnect", sid, DISCONNECT_REASONS[server.kind][cause]]
    finally:
        ws.close()


@pytest.mark.parametrize("kind", ["node", "python"])
def test_observers_see_ping_timeouts(start_server: Callable[..., ServerProcess], kind: str) -> None:
    server = start_server(kind, **FAST_PINGS[kind])
    observer = socketio.SimpleClient(reconnection=False)
    observer.connect(server.url, transports=["websocket"], wait_timeout=WAIT)
    try:
        assert observer.call("observe", timeout=WAIT) == "ok"
        ws, sid = raw_connect(server.url, "/chat")  # never answers a ping
        try:
            assert observer.receive(timeout=WAIT) == ["peer_disconnect", sid, DISCONNECT_REASONS[kind]["ping"]]
        finally:
            ws.close()
    finally:
        observer.disconnect()


@pytest.mark.parametrize("kind", ["node", "python"])
def test_ping_options_are_advertised(start_server: Callable[..., ServerProcess], kind: str) -> None:
    server = start_server(kind, **FAST_PINGS[kind])
    ws = raw_websocket(server.url)
    try:
        opening = json.loads(ws.recv()[1:])
    finally:
        ws.close()
    assert opening["pingInterval"] == round(FAST_PINGS[kind]["ping_interval"] * 1000)
    assert opening["pingTimeout"] == round(FAST_PINGS[kind]["ping_timeout"] * 1000)


def test_python_server_refuses_fractional_ping_intervals(start_server: Callable[..., ServerProcess]) -> None:
    with pytest.raises(RuntimeError, match="whole seconds"):
        start_server("python", ping_interval=0.3)


def test_node_recovery_replays_what_was_missed(node_recovery_server: ServerProcess) -> None:
    ws = raw_websocket(node_recovery_server.url)
    try:
        ws.recv()
        ws.send("40")
        session = json.loads(ws.recv()[2:])
        ws.send('42["close_and_emit",3]')
        closing = json.loads(ws.recv()[2:])
        assert ws.recv() == ""  # closed by the server
    finally:
        ws.close()
    assert closing[0] == "closing"
    offset = closing[-1]  # with recovery, broadcasts carry their offset as a last argument

    ws = raw_websocket(node_recovery_server.url)
    try:
        ws.recv()
        ws.send("40" + json.dumps({"pid": session["pid"], "offset": offset}))
        frames = [recv_text(ws) for _ in range(4)]
    finally:
        ws.close()
    # Replayed events come before the CONNECT reply; if the client was faster
    # than the server's 50 ms they arrive live after it.
    [reply] = [json.loads(frame[2:]) for frame in frames if frame.startswith("40")]
    assert reply == session
    assert [json.loads(frame[2:])[:2] for frame in frames if frame.startswith("42")] == [
        ["missed", 0],
        ["missed", 1],
        ["missed", 2],
    ]


def test_node_msgpack_parser(start_server: Callable[..., ServerProcess]) -> None:
    msgpack = pytest.importorskip("msgpack")  # not a test dependency yet
    server = start_server("node", parser="msgpack")
    ws = raw_websocket(server.url)
    try:
        ws.recv()
        ws.send_binary(msgpack.packb({"type": 0, "nsp": "/"}))
        assert msgpack.unpackb(ws.recv())["type"] == 0
        ws.send_binary(msgpack.packb({"type": 2, "nsp": "/", "data": ["echo", b"\x01", "a"], "id": 7}))
        assert msgpack.unpackb(ws.recv()) == {"type": 3, "nsp": "/", "data": [b"\x01", "a"], "id": 7}
    finally:
        ws.close()


def test_server_process_pause_resume_and_restart(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server("python")
    handshake = f"{server.url}/socket.io/?EIO=4&transport=polling"
    server.pause()
    with pytest.raises(OSError):  # URLError or socket.timeout
        urllib.request.urlopen(handshake, timeout=0.5)
    server.resume()
    with urllib.request.urlopen(handshake, timeout=WAIT) as response:
        assert response.read().startswith(b"0{")
    port = server.port
    server.restart()
    assert server.port == port
    with urllib.request.urlopen(handshake, timeout=WAIT) as response:
        assert response.read().startswith(b"0{")


def test_bad_server_rejects_other_transports(bad_server: ServerProcess) -> None:
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{bad_server.url}/socket.io/?EIO=4&transport=polling", timeout=WAIT)
    assert error.value.code == 400


def test_bad_server_opens_and_pings_as_told(bad_server: ServerProcess) -> None:
    ws = raw_websocket(bad_server.url, "&pi=100&pt=300")
    try:
        opening = recv_text(ws)
        assert opening.startswith("0")
        assert {k: v for k, v in json.loads(opening[1:]).items() if k != "sid"} == {
            "upgrades": [],
            "pingInterval": 100,
            "pingTimeout": 300,
            "maxPayload": 1000000,
        }
        assert ws.recv() == "2"
        assert ws.recv() == "2"
    finally:
        ws.close()


def test_bad_server_answers_connects_and_echoes(bad_server: ServerProcess) -> None:
    ws = raw_websocket(bad_server.url)
    try:
        assert json.loads(ws.recv()[1:])["pingInterval"] == 25000
        ws.send("40/chat,{}")
        assert recv_text(ws).startswith('40/chat,{"sid":')
        ws.send('42/chat,12["ev",1]')
        assert ws.recv() == "43/chat,12[1]"
        ws.send('42["ev",1,"a"]')
        assert ws.recv() == '42["echo",1,"a"]'
        ws.send("9")  # nonsense is ignored
        ws.send("42not json")
        ws.send("4")
        ws.send("45-")
        ws.send('421["ev"]')
        assert ws.recv() == "431[]"
    finally:
        ws.close()


def test_bad_server_plays_its_script_once_per_token(bad_server: ServerProcess) -> None:
    script = ['42{"a":1}', '451-["x",{"_placeholder":true,"num":0}]', {"b64": base64.b64encode(b"\x00\x01").decode()}]
    query = f"&token={uuid.uuid4()}&bad={urllib.parse.quote(json.dumps(script))}"

    def frames_after_connect() -> list[Any]:
        ws = raw_websocket(bad_server.url, query)
        try:
            ws.recv()
            ws.send("40")
            assert recv_text(ws).startswith('40{"sid":')
            ws.send('42["ev","end"]')
            frames = []
            while (frame := ws.recv()) != '42["echo","end"]':
                frames.append(frame)
            return frames
        finally:
            ws.close()

    assert frames_after_connect() == ['42{"a":1}', '451-["x",{"_placeholder":true,"num":0}]', b"\x00\x01"]
    assert frames_after_connect() == []
