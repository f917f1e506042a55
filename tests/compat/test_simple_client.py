"""SimpleClient: connect, emit, call, receive, disconnect, the context manager, sid and transport."""

from __future__ import annotations

import pytest

from .helpers import TRANSPORTS, WAIT, Background, until


def test_emit_receive_call_and_disconnect(server, make_simple_client):
    sio = make_simple_client()
    assert sio.sid is None and sio.transport == "" and not sio.connected
    sio.connect(server.url, transports=TRANSPORTS)
    assert sio.connected and sio.transport == "websocket"
    me = sio.call("whoami", timeout=WAIT)
    assert sio.sid == me["sid"]  # the namespace's id
    assert sio.client.sid != me["sid"]  # the Engine.IO one
    sio.emit("server_emit", ("news", 1, {"a": [2]}))
    assert sio.receive(timeout=WAIT) == ["news", 1, {"a": [2]}]
    sio.emit("echo", ("back", b"\x00"))  # no ack: the server emits it back
    assert sio.receive(timeout=WAIT) == ["echo", "back", b"\x00"]
    assert sio.call("echo", (1, 2), timeout=WAIT) == (1, 2)
    sio.disconnect()
    assert not sio.connected and sio.client is None and sio.sid is None and sio.transport == ""


def test_namespace_auth_and_headers(server, make_simple_client):
    sio = make_simple_client()
    sio.connect(
        server.url, namespace="/private", auth={"token": "secret"}, headers={"X-Simple": "1"}, transports=TRANSPORTS
    )
    me = sio.call("whoami", timeout=WAIT)
    assert (me["nsp"], me["auth"], me["headers"]["x-simple"]) == ("/private", {"token": "secret"}, "1")
    sio.emit("server_emit", ("private_news", "p"))
    assert sio.receive(timeout=WAIT) == ["private_news", "p"]


def test_context_manager_disconnects(server, impl):
    with impl.SimpleClient() as sio:
        sio.connect(server.url, transports=TRANSPORTS)
        assert sio.call("echo", "inside", timeout=WAIT) == "inside"
    assert not sio.connected and sio.client is None


def test_receive_times_out(server, make_simple_client, impl):
    sio = make_simple_client()
    sio.connect(server.url, transports=TRANSPORTS)
    with pytest.raises(impl.exceptions.TimeoutError):
        sio.receive(timeout=0.1)
    assert sio.connected


def test_call_times_out(server, make_simple_client, impl):
    sio = make_simple_client()
    sio.connect(server.url, namespace="/chat", transports=TRANSPORTS)
    sio.client.on("slow", lambda: sio.client.sleep(1), namespace="/chat")
    with pytest.raises(impl.exceptions.TimeoutError):
        sio.call("server_call", "slow", timeout=0.2)


def test_after_a_server_disconnect_events_already_received_then_disconnected_error(server, make_simple_client, impl):
    sio = make_simple_client()
    sio.connect(server.url, transports=TRANSPORTS)
    assert sio.call("server_emit", ("last_words", 1), timeout=WAIT) == "ok"
    sio.emit("disconnect_me")
    Background(sio.client, lambda: sio.client.wait()).result()
    assert not sio.connected
    assert sio.receive(timeout=WAIT) == ["last_words", 1]
    with pytest.raises(impl.exceptions.DisconnectedError):
        sio.receive(timeout=WAIT)
    with pytest.raises(impl.exceptions.DisconnectedError):
        sio.emit("echo", 1)
    with pytest.raises(impl.exceptions.DisconnectedError):
        sio.call("echo", 1, timeout=WAIT)


def test_a_refused_connect_raises_connection_error(server, make_simple_client, impl):
    sio = make_simple_client()
    with pytest.raises(impl.exceptions.ConnectionError, match="/private"):
        sio.connect(server.url, namespace="/private", transports=TRANSPORTS)
    assert not sio.connected


def test_connect_twice_raises(server, make_simple_client):
    sio = make_simple_client()
    sio.connect(server.url, transports=TRANSPORTS)
    with pytest.raises(RuntimeError, match="Already connected"):
        sio.connect(server.url, transports=TRANSPORTS)


def test_emit_and_call_wait_for_a_reconnection(node_server, make_simple_client):
    sio = make_simple_client()
    sio.connect(node_server.url, transports=TRANSPORTS)
    first = sio.sid
    sio.emit("close_engine")  # the server drops the transport; the client reconnects
    until(lambda: sio.sid != first, "the disconnect")
    sio.emit("server_emit", ("after", "reconnect"))  # waits for the new connection if need be
    assert sio.receive(timeout=WAIT) == ["after", "reconnect"]
    assert sio.call("echo", "then", timeout=WAIT) == "then"
    assert sio.sid != first
