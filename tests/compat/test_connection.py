"""Connection failures, connect_error, retry, server disconnects, reconnection and wait()."""

from __future__ import annotations

import pytest

from tests.servers.process import free_port

from .helpers import TRANSPORTS, WAIT, Background, Recorder, connected, reconnects_after_restart, until


def closed_url() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_a_refused_namespace_raises_after_connect_error_with_the_servers_data(server, make_client, impl):
    sio = make_client()
    errors = Recorder()
    sio.on("connect_error", errors, namespace="/private")
    with pytest.raises(impl.exceptions.ConnectionError) as raised:
        sio.connect(server.url, namespaces=["/private"], transports=TRANSPORTS)
    assert str(raised.value) == "One or more namespaces failed to connect: /private"
    assert isinstance(raised.value, impl.exceptions.SocketIOError)
    assert errors.calls == [({"message": "not authorized", "data": {"code": 403}},)]
    assert not sio.connected


def test_one_refused_namespace_fails_the_whole_connect(server, make_client, impl):
    sio = make_client()
    connects = Recorder()
    sio.on("connect", connects)
    with pytest.raises(impl.exceptions.ConnectionError, match="failed to connect: /private"):
        sio.connect(server.url, namespaces=["/", "/private"], transports=TRANSPORTS)
    assert connects.calls == [()]  # "/" did connect meanwhile
    assert not sio.connected


def test_auth_lets_the_private_namespace_in(server, make_client):
    sio = make_client()
    sio.connect(server.url, namespaces=["/private"], auth={"token": "secret"}, transports=TRANSPORTS)
    assert sio.call("whoami", namespace="/private", timeout=WAIT)["nsp"] == "/private"


def test_an_unreachable_server_is_tried_once_with_one_connect_error_per_namespace(make_client, impl):
    sio = make_client()
    root, chat = Recorder(), Recorder()
    sio.on("connect_error", root)
    sio.on("connect_error", chat, namespace="/chat")
    with pytest.raises(impl.exceptions.ConnectionError) as raised:
        sio.connect(closed_url(), transports=TRANSPORTS, wait_timeout=WAIT)
    assert isinstance(raised.value, impl.exceptions.SocketIOError) and str(raised.value)
    assert len(root.calls) == 1 and len(chat.calls) == 1
    assert isinstance(root.calls[0][0], str)  # the cause, as text
    assert not sio.connected


def test_retry_follows_the_reconnection_options_then_raises(make_client, impl):
    sio = make_client(reconnection_attempts=2)
    errors = Recorder()
    sio.on("connect_error", errors)
    with pytest.raises(impl.exceptions.ConnectionError):
        sio.connect(closed_url(), transports=TRANSPORTS, retry=True)
    assert len(errors.calls) == 3  # the first attempt and two more
    assert all(isinstance(args[0], str) for args in errors.calls)


def test_retry_connects_once_the_server_is_up(start_server, make_client):
    server = start_server("node")
    server.stop()  # its port is free now; it starts again on the first failure
    sio = make_client()
    errors = Recorder()

    @sio.event
    def connect_error(cause):
        errors(cause)
        if len(errors.calls) == 1:
            server.start()

    sio.connect(server.url, transports=TRANSPORTS, retry=True)
    assert sio.connected and len(errors.calls) >= 1
    assert sio.call("echo", "up", timeout=WAIT) == "up"


def test_a_server_disconnect_is_final_and_wait_returns(server, make_client):
    sio, reasons = connected(make_client, server.url)
    sio.emit("disconnect_me")
    waited = Background(sio, sio.wait)
    waited.result(timeout=WAIT)
    assert reasons.calls == [("server disconnect",)]
    assert not sio.connected and sio.namespaces == {}


def test_a_server_disconnect_of_one_namespace_leaves_the_others(server, make_client, impl):
    sio = make_client()
    reasons = Recorder()
    sio.on("disconnect", reasons, namespace="/chat")
    sio.connect(server.url, namespaces=["/", "/chat"], transports=TRANSPORTS)
    sio.emit("disconnect_me", namespace="/chat")
    assert reasons.wait() == [("server disconnect",)]
    until(lambda: "/chat" not in sio.namespaces, "/chat to be gone")
    assert sio.connected and list(sio.namespaces) == ["/"]
    assert sio.call("echo", 1, timeout=WAIT) == 1
    with pytest.raises(impl.exceptions.BadNamespaceError):
        sio.emit("echo", 1, namespace="/chat")


def test_a_dropped_transport_reconnects(node_server, make_client):
    # Node closes the WebSocket without an Engine.IO CLOSE packet: a transport error for both clients
    sio = make_client()
    connects, reasons = Recorder(), Recorder()
    sio.on("connect", lambda: connects(sio.get_sid()))
    sio.on("disconnect", reasons)
    sio.connect(node_server.url, transports=TRANSPORTS)
    first_sid, first_eio = sio.get_sid(), sio.sid
    sio.emit("close_engine")
    assert reasons.wait() == [("transport error",)]
    connects.wait(2)
    until(lambda: sio.connected, "connected again")
    assert sio.get_sid() not in (None, first_sid) and sio.sid not in (None, first_eio)
    assert sio.call("echo", "reconnected", timeout=WAIT) == "reconnected"


def test_a_restarted_server_is_reconnected_to(start_server, make_client):
    # (a python-socketio server: see test_fixed_defects)
    reconnects_after_restart(start_server("node"), make_client)


def test_without_reconnection_a_dropped_transport_is_final(node_server, make_client):
    sio, reasons = connected(make_client, node_server.url, reconnection=False)
    sio.emit("close_engine")
    Background(sio, sio.wait).result()
    assert reasons.calls == [("transport error",)]
    assert not sio.connected


def test_reconnection_gives_up_after_the_attempts_and_wait_returns(start_server, make_client):
    server = start_server("node")
    sio = make_client(reconnection_attempts=2)
    sio.connect(server.url, transports=TRANSPORTS)
    server.stop()
    Background(sio, sio.wait).result()
    assert not sio.connected


def test_shutdown_stops_a_reconnection(start_server, make_client):
    server = start_server("node")
    sio, reasons = connected(make_client, server.url)
    waited = Background(sio, sio.wait)
    server.stop()
    reasons.wait()
    assert not waited.done  # reconnecting
    sio.shutdown()
    waited.result()
    assert not sio.connected


def test_connect_without_wait_returns_before_the_namespaces_may_be_connected(server, make_client):
    sio = make_client()
    connects = Recorder()
    sio.on("connect", connects, namespace="/chat")
    sio.connect(server.url, namespaces=["/chat"], transports=TRANSPORTS, wait=False)
    until(lambda: "/chat" in sio.namespaces, "/chat connected in the background")
    connects.wait()
    assert sio.call("echo", 1, namespace="/chat", timeout=WAIT) == 1


def test_msgpack_serializer(start_server, make_client):
    server = start_server("node", parser="msgpack")
    sio = make_client(serializer="msgpack")
    sio.connect(server.url, transports=TRANSPORTS)
    assert sio.call("echo", (1, "two", {"three": [3.5, None]}), timeout=WAIT) == (1, "two", {"three": [3.5, None]})
    assert sio.call("echo", {"bytes": b"\x00\x01"}, timeout=WAIT) == {"bytes": b"\x00\x01"}
    assert sio.call("whoami", timeout=WAIT)["sid"] == sio.get_sid()
