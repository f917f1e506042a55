"""Ported from socket.io-client test/connection.ts (the scenarios, in greensio's idiom).

The upstream server's events are mapped onto those of tests/servers/: ``hi`` -> ``echo``
without ack (the server emits it back); the server-initiated events (``ack``, ``false``,
``takeUtf8``, ``doge``) -> ``server_emit`` / ``server_call``; the binary checks (``buffa``,
``jsonbuff``, ``abuff1``/``abuff2``) -> ``echo``, which sends binary back as binary. Namespaces
that upstream only registers (``/foo``, ``/asd``, ``/valid``, ``/timeout_socket``) -> ``/chat``
and ``/``; upstream's ``timeout: 0`` against the live server (every open fails) is kept.
Upstream's client-side ``manager.engine.close()`` is the server's ``close_engine``.

Not ported: "should receive date with ack", "should emit date as string", "should emit date in
object" (they need the server to send a JavaScript ``Date``; ours have no such event);
"should stop trying to reconnect" (greensio has no runtime ``manager.reconnection(False)``);
"should use native setTimeout with useNativeSetTimers" (a JS timer option); "should get base64
data as a last resort" (runtimes without ArrayBuffer) and the three Blob cases (browser only).
"""

from __future__ import annotations

import json
import socket
import uuid
from time import monotonic
from typing import Any

import gevent

import greensio

from .helpers import FAST, WAIT, Recorder, connect

WS: dict[str, Any] = {"transports": ["websocket"]}

RACE_WITH_CLOSE = (
    "greensio bug: connect() or manager.socket() called while the Manager is still closing (from a "
    "disconnect/reconnect_failed handler) starts nothing: Manager._add only spawns a connection loop when "
    "_loop is None, the closing loop exits without looking for active sockets, and the socket stays active "
    "with no loop for ever"
)
SHORT = 1  # seconds: the bound of the waits that the race above leaves hanging


def _socket(url, **options):
    """A socket connecting in the background on a fresh Manager (upstream: ``io(url, {forceNew: true})``)."""
    return greensio.Socket(url, force_new=True, **{**FAST, **options})


def _manager(url, **options):
    """A fresh Manager with the fast test options (upstream: ``new Manager(url, options)``)."""
    return greensio.Manager(url, **{**FAST, **options})


def _closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _close_all(*sockets):
    for sio in sockets:
        sio.disconnect()


# connection.ts: "should connect to localhost"
def test_should_connect_to_localhost(server):
    sio = _socket(server.url)
    echoed = Recorder()
    sio.on("echo", echoed)
    try:
        sio.emit("echo", "hi")
        assert echoed.wait(1) == [("hi",)]
    finally:
        sio.disconnect()


# connection.ts: "should not connect when autoConnect option set to false"
def test_should_not_connect_when_autoconnect_option_set_to_false(node_server):
    sio = _socket(node_server.url, auto_connect=False)
    assert sio.manager.transport is None
    assert sio.manager.stats.connects == 0
    assert not sio.active and not sio.connected
    sio.disconnect()


# connection.ts: "should start two connections with same path"
def test_should_start_two_connections_with_same_path(node_server):
    s1 = greensio.Socket(node_server.url + "/", **FAST)
    s2 = greensio.Socket(node_server.url + "/", **FAST)
    try:
        assert s1.manager is not s2.manager
    finally:
        _close_all(s1, s2)


# connection.ts: "should start two connections with same path and different querystrings"
def test_should_start_two_connections_with_same_path_and_different_querystrings(node_server):
    s1 = greensio.Socket(node_server.url + "/?woot", **FAST)
    s2 = greensio.Socket(node_server.url + "/", **FAST)
    try:
        assert s1.manager is not s2.manager
    finally:
        _close_all(s1, s2)


# connection.ts: "should start two connections with different paths"
def test_should_start_two_connections_with_different_paths(node_server):
    s1 = greensio.Socket(node_server.url + "/", path="/foo", **FAST)
    s2 = greensio.Socket(node_server.url + "/", path="/bar", **FAST)
    try:
        assert s1.manager is not s2.manager
    finally:
        _close_all(s1, s2)


# connection.ts: "should start a single connection with different namespaces"
def test_should_start_a_single_connection_with_different_namespaces(node_server):
    s1 = greensio.Socket(node_server.url + "/chat", **FAST)
    s2 = greensio.Socket(node_server.url + "/", **FAST)
    try:
        assert s1.manager is s2.manager
    finally:
        _close_all(s1, s2)


# connection.ts: "should work with acks"
def test_should_work_with_acks(server):
    sio = _socket(server.url)
    sio.on("ack", lambda: (5, {"test": True}))  # the server asks for an ack, the handler's return value is it
    try:
        assert sio.call("server_call", "ack", timeout=WAIT) == [5, {"test": True}]  # what the server got
    finally:
        sio.disconnect()


# connection.ts: "should work with false"
def test_should_work_with_false(server):
    sio = _socket(server.url)
    received = Recorder()
    sio.on("false", received)
    try:
        sio.emit("server_emit", "false", False)
        assert received.wait(1) == [(False,)]
        assert received.calls[0][0] is False
    finally:
        sio.disconnect()


# connection.ts: "should receive utf8 multibyte characters"
def test_should_receive_utf8_multibyte_characters(server):
    correct = ["てすと", "Я Б Г Д Ж Й", "Ä ä Ü ü ß", "utf8 — string", "utf8 — string"]
    sio = _socket(server.url)
    received = Recorder()
    sio.on("takeUtf8", received)
    try:
        for text in correct:
            sio.emit("server_emit", "takeUtf8", text)
        assert received.wait(len(correct)) == [(text,) for text in correct]
    finally:
        sio.disconnect()


# connection.ts: "should connect to a namespace after connection established"
def test_should_connect_to_a_namespace_after_connection_established(server):
    manager = _manager(server.url)
    root = manager.socket("/")
    chat_connects, opened = Recorder(), []

    def on_connect():
        chat = manager.socket("/chat")
        opened.append(chat)
        chat.on("connect", chat_connects)

    root.once("connect", on_connect)
    try:
        chat_connects.wait(1)
        assert opened[0].connected and root.connected
    finally:
        _close_all(*opened, root)


# connection.ts: "should open a new namespace after connection gets closed"
def test_should_open_a_new_namespace_after_connection_gets_closed(server):
    manager = _manager(server.url)
    root = manager.socket("/")
    chat_connects, opened = Recorder(), []

    def on_disconnect(reason):
        chat = manager.socket("/chat")
        opened.append(chat)
        chat.on("connect", chat_connects)

    root.once("connect", root.disconnect)
    root.once("disconnect", on_disconnect)
    try:
        chat_connects.wait(1, timeout=SHORT)
        assert opened[0].connected and not root.active
    finally:
        _close_all(*opened, root)


# connection.ts: "should reconnect by default"
def test_should_reconnect_by_default(server):
    sio = _socket(server.url)
    reconnects = Recorder()
    sio.manager.on("reconnect", reconnects)
    sio.once("connect", lambda: sio.emit("close_engine"))  # upstream closes the engine 100 ms in
    try:
        assert reconnects.wait(1) == [(1,)]
    finally:
        sio.disconnect()


# connection.ts: "should reconnect manually"
def test_should_reconnect_manually(server):
    sio = _socket(server.url)
    connects = Recorder()

    def on_disconnect(reason):
        sio.once("connect", connects)
        sio.connect(wait=False)

    sio.once("connect", sio.disconnect)
    sio.once("disconnect", on_disconnect)
    try:
        connects.wait(1, timeout=SHORT)
        assert sio.connected
    finally:
        sio.disconnect()


# connection.ts: "should reconnect automatically after reconnecting manually"
def test_should_reconnect_automatically_after_reconnecting_manually(server):
    # In sequence rather than from the connect/disconnect handlers as upstream: that shape hits the race
    # of RACE_WITH_CLOSE, xfailed in test_should_reconnect_manually; this one checks the reconnection after.
    sio = connect(server.url)
    try:
        sio.disconnect()
        sio.connect(timeout=WAIT)
        reconnects = Recorder()
        sio.manager.on("reconnect", reconnects)
        sio.emit("close_engine")  # upstream closes the engine 100 ms after the manual reconnection
        assert reconnects.wait(1) == [(1,)]
    finally:
        sio.disconnect()


# connection.ts: "should attempt reconnects after a failed reconnect"
def test_should_attempt_reconnects_after_a_failed_reconnect(node_server):
    manager = _manager(node_server.url, timeout=0, reconnection_attempts=2)
    sio = manager.socket("/chat")
    attempts, failed = Recorder(), Recorder()

    def on_first_failure():
        manager.on("reconnect_attempt", attempts)
        manager.on("reconnect_failed", failed)
        sio.connect(wait=False)

    manager.once("reconnect_failed", on_first_failure)
    try:
        failed.wait(1, timeout=SHORT)
        assert attempts.calls == [(1,), (2,)]
    finally:
        sio.close()


# connection.ts: "reconnect delay should increase every time"
def test_reconnect_delay_should_increase_every_time(node_server):
    manager = greensio.Manager(
        node_server.url, timeout=0, reconnection_attempts=3, reconnection_delay=0.1, randomization_factor=0.2, **WS
    )
    started, delays, failed = [0.0], Recorder(), Recorder()
    manager.on("error", lambda err: started.__setitem__(0, monotonic()))
    manager.on("reconnect_attempt", lambda n: delays(monotonic() - started[0]))
    manager.on("reconnect_failed", failed)
    sio = manager.socket("/chat")
    try:
        failed.wait(1)
        measured = [d for (d,) in delays.calls]
        assert len(measured) == 3
        assert measured == sorted(measured) and len(set(measured)) == 3, measured
    finally:
        sio.close()


# connection.ts: "should not reconnect when force closed"
def test_should_not_reconnect_when_force_closed(node_server):
    sio = _socket(node_server.url + "/invalid", timeout=0)
    attempts, closed = Recorder(), Recorder()

    def on_error(err):
        sio.manager.on("reconnect_attempt", attempts)
        sio.disconnect()
        closed()

    sio.manager.once("error", on_error)
    closed.wait(1)
    gevent.sleep(0.1)  # upstream waits 100 ms on purpose: a reconnection would show by then
    assert attempts.calls == []
    assert not sio.active and not sio.manager.reconnecting


# connection.ts: "should stop reconnecting when force closed"
def test_should_stop_reconnecting_when_force_closed(node_server):
    sio = _socket(node_server.url + "/invalid", timeout=0)
    attempts, closed = Recorder(), Recorder()

    def on_attempt(n):
        sio.manager.on("reconnect_attempt", attempts)
        sio.disconnect()
        closed()

    sio.manager.once("reconnect_attempt", on_attempt)
    closed.wait(1)
    gevent.sleep(0.1)  # upstream waits 100 ms on purpose: a reconnection would show by then
    assert attempts.calls == []
    assert not sio.active and not sio.manager.reconnecting


# connection.ts: "should reconnect after stopping reconnection"
def test_should_reconnect_after_stopping_reconnection(node_server):
    sio = _socket(node_server.url + "/invalid", timeout=0)
    attempts = Recorder()

    def on_attempt(n):
        sio.manager.on("reconnect_attempt", attempts)
        sio.disconnect()
        sio.connect(wait=False)

    sio.manager.once("reconnect_attempt", on_attempt)
    try:
        attempts.wait(1)
        assert sio.active
    finally:
        sio.disconnect()


# connection.ts: "should stop reconnecting on a socket and keep to reconnect on another"
def test_should_stop_reconnecting_on_a_socket_and_keep_to_reconnect_on_another(server):
    manager = _manager(server.url)
    socket1 = manager.socket("/")
    socket2 = manager.socket("/chat")
    socket1_connects, socket2_connects = Recorder(), Recorder()

    def on_attempt(n):
        socket1.on("connect", socket1_connects)
        socket2.on("connect", socket2_connects)
        socket1.disconnect()

    manager.once("reconnect_attempt", on_attempt)
    try:
        socket1.connect(timeout=WAIT)
        socket2.connect(timeout=WAIT)
        socket2.emit("close_engine")  # upstream: manager.engine.close()
        socket2_connects.wait(1)
        # upstream waits 50 ms; a round trip on the new connection shows socket1 did not rejoin
        assert socket2.call("echo", "still here", timeout=WAIT) == "still here"
        assert socket1_connects.calls == []
        assert not socket1.active and not socket1.connected
    finally:
        _close_all(socket1, socket2)


# connection.ts: "should try to reconnect twice and fail when requested two attempts with immediate timeout and reconnect enabled"  # noqa: E501
def test_should_try_to_reconnect_twice_and_fail_when_requested_two_attempts_with_immediate_timeout_and_reconnect_enabled(  # noqa: E501
    node_server,
):
    manager = _manager(node_server.url, timeout=0, reconnection_attempts=2)
    attempts, failed = Recorder(), Recorder()
    manager.on("reconnect_attempt", attempts)
    manager.on("reconnect_failed", failed)
    sio = manager.socket("/chat")
    try:
        failed.wait(1)
        assert len(attempts.calls) == 2
        assert not sio.active
    finally:
        sio.close()


def _count_reconnect_attempts(url):
    manager = _manager(url, timeout=0, reconnection_attempts=2)
    attempts, failed = Recorder(), Recorder()
    manager.on("reconnect_attempt", attempts)
    manager.on("reconnect_failed", failed)
    sio = manager.socket("/chat")
    try:
        failed.wait(1)
        assert attempts.calls == [(1,), (2,)]  # each attempt carries its number
        assert failed.calls == [()]
    finally:
        sio.close()


# connection.ts: "should fire reconnect_* events on manager"
def test_should_fire_reconnect_events_on_manager(node_server):
    _count_reconnect_attempts(node_server.url)


# connection.ts: "should fire reconnecting (on manager) with attempts number when reconnecting twice"
def test_should_fire_reconnecting_on_manager_with_attempts_number_when_reconnecting_twice(node_server):
    _count_reconnect_attempts(node_server.url)


# connection.ts: "should not try to reconnect and should form a connection when connecting to correct port with default timeout"  # noqa: E501
def test_should_not_try_to_reconnect_and_should_form_a_connection_when_connecting_to_correct_port_with_default_timeout(
    server,
):
    manager = _manager(server.url)
    attempts = Recorder()
    manager.on("reconnect_attempt", attempts)
    sio = manager.socket("/chat")
    try:
        sio.connect(timeout=WAIT)
        gevent.sleep(0.1)  # upstream waits 100 ms on purpose: a reconnection would show by then
        assert attempts.calls == []
        assert sio.connected
    finally:
        sio.close()


# connection.ts: "should connect while disconnecting another socket"
def test_should_connect_while_disconnecting_another_socket(server):
    manager = _manager(server.url)
    socket1 = manager.socket("/chat")
    socket2_connects, opened = Recorder(), []

    def on_connect():
        socket2 = manager.socket("/")
        opened.append(socket2)
        socket2.on("connect", socket2_connects)
        socket1.disconnect()

    socket1.once("connect", on_connect)
    try:
        socket2_connects.wait(1)
        assert opened[0].connected and not socket1.active
    finally:
        _close_all(*opened, socket1)


# connection.ts: "should emit a connect_error event when reaching a Socket.IO server in v2.x"
def test_should_emit_a_connect_error_event_when_reaching_a_socketio_server_in_v2x(bad_server):
    # Upstream feeds the socket a CONNECT packet without data, as a v2 server sends; here the scripted
    # server answers /chat's CONNECT with such a packet (after the reply to "/", before the real one).
    query = {"bad": json.dumps(["40/chat,"]), "token": uuid.uuid4().hex}
    manager = _manager(bad_server.url, query=query, transports=["websocket"])  # the scripted server speaks ws only
    root = manager.socket("/")
    chat = manager.socket("/chat")
    errors, connects = Recorder(), Recorder()
    chat.on("connect_error", errors)
    chat.on("connect", connects)
    try:
        ((err,),) = errors.wait(1)
        assert isinstance(err, greensio.ConnectionError)
        root.connect(timeout=WAIT)
        assert root.call("echo", "round trip", timeout=WAIT) == "round trip"
        assert connects.calls == [] and not chat.active
    finally:
        _close_all(root, chat)


# connection.ts: "should not close the connection when disconnecting a single socket"
def test_should_not_close_the_connection_when_disconnecting_a_single_socket(server):
    manager = _manager(server.url)
    socket1 = manager.socket("/chat", auto_connect=False)
    socket2 = manager.socket("/", auto_connect=False)
    disconnects, closes, connected = Recorder(), Recorder(), Recorder()
    socket1.on("connect", lambda: socket2.connect(wait=False))
    socket2.on("connect", connected)
    try:
        socket1.connect(wait=False)
        connected.wait(1)
        socket2.on("disconnect", disconnects)
        socket1.disconnect()
        # upstream waits 200 ms; a round trip after socket1's DISCONNECT shows the connection is still up
        assert socket2.call("echo", "still up", timeout=WAIT) == "still up"
        assert disconnects.calls == [] and socket2.connected
        socket2.off("disconnect")
        manager.on("close", closes)
        socket2.disconnect()
        assert len(closes.wait(1)) == 1
    finally:
        _close_all(socket1, socket2)


# connection.ts: "should try to reconnect twice and fail when requested two attempts with incorrect address and reconnect enabled"  # noqa: E501
def test_should_try_to_reconnect_twice_and_fail_when_requested_two_attempts_with_incorrect_address_and_reconnect_enabled():  # noqa: E501
    manager = _manager(_closed_url(), reconnection_attempts=2)
    sio = manager.socket("/chat")
    attempts, failed = Recorder(), Recorder()
    manager.on("reconnect_attempt", attempts)
    manager.on("reconnect_failed", failed)
    try:
        failed.wait(1)
        assert len(attempts.calls) == 2
    finally:
        sio.disconnect()


# connection.ts: "should not try to reconnect with incorrect port when reconnection disabled"
def test_should_not_try_to_reconnect_with_incorrect_port_when_reconnection_disabled():
    manager = _manager(_closed_url(), reconnection=False)
    attempts, errors = Recorder(), Recorder()
    manager.on("reconnect_attempt", attempts)
    manager.on("error", errors)
    sio = manager.socket("/invalid")
    try:
        errors.wait(1)
        gevent.sleep(0.1)  # upstream waits 100 ms on purpose: a reconnection would show by then
        assert attempts.calls == []
        assert len(errors.calls) == 1 and not sio.active
    finally:
        sio.disconnect()


# connection.ts: "should still try to reconnect twice after opening another socket asynchronously"
def test_should_still_try_to_reconnect_twice_after_opening_another_socket_asynchronously():
    manager = _manager(_closed_url(), reconnection_attempts=2)
    options = manager.options
    delay = max(options.reconnection_delay * options.randomization_factor * 0.5, 0.01)
    attempts, failed = Recorder(), Recorder()
    manager.on("reconnect_attempt", attempts)
    manager.on("reconnect_failed", failed)
    room1 = manager.socket("/room1")
    later = gevent.spawn_later(delay, manager.socket, "/room2")  # upstream: setTimeout(..., delay)
    try:
        failed.wait(1)
        assert len(attempts.calls) == 2
        assert later.get(timeout=WAIT).namespace == "/room2"
    finally:
        room1.disconnect()
        if later.successful():
            later.value.disconnect()


class TestReconnectTimeout:
    # connection.ts: "reconnect timeout" / "should use overridden setTimeout by default"
    def test_should_use_overridden_settimeout_by_default(self, server):
        # gevent has no fake clock to install: the same expectation on the real one. With randomization 0 and
        # reconnection_delay_max 0.1 s (below the 1 s reconnection_delay), the first attempt comes no
        # earlier than 0.1 s after the engine closed, and promptly after that.
        manager = greensio.Manager(server.url, timeout=0.5, reconnection_delay_max=0.1, randomization_factor=0, **WS)
        sio = manager.socket("/chat")
        attempts = Recorder()

        def on_attempt(n):
            attempts(monotonic())
            sio.disconnect()

        manager.on("reconnect_attempt", on_attempt)
        try:
            sio.connect(timeout=WAIT)
            closed_at = monotonic()  # a bound from below: the engine closes a little after this
            sio.emit("close_engine")
            ((attempted_at,),) = attempts.wait(1)
            assert 0.1 <= attempted_at - closed_at < 1.0
        finally:
            sio.disconnect()


# connection.ts: "should get binary data (as an ArrayBuffer)"
def test_should_get_binary_data_as_an_arraybuffer(server):
    sio = _socket(server.url)
    received = Recorder()
    sio.on("doge", received)
    try:
        sio.emit("server_emit", "doge", b"asdfasdf")
        ((data,),) = received.wait(1)
        assert isinstance(data, bytes) and data == b"asdfasdf"
    finally:
        sio.disconnect()


# connection.ts: "should send binary data (as an ArrayBuffer)"
def test_should_send_binary_data_as_an_arraybuffer(server):
    sio = _socket(server.url)
    echoed = Recorder()
    sio.on("echo", echoed)
    buf = bytes(range(6))
    try:
        sio.emit("echo", buf)  # the server emits it back, as binary only if it received binary
        ((data,),) = echoed.wait(1)
        assert isinstance(data, bytes) and data == buf
    finally:
        sio.disconnect()


# connection.ts: "should send binary data (as an ArrayBuffer) mixed with json"
def test_should_send_binary_data_as_an_arraybuffer_mixed_with_json(server):
    sio = _socket(server.url)
    echoed = Recorder()
    sio.on("echo", echoed)
    buf = bytes(range(4))
    try:
        sio.emit("echo", {"hello": "lol", "message": buf, "goodbye": "gotcha"})
        ((data,),) = echoed.wait(1)
        assert data == {"hello": "lol", "message": buf, "goodbye": "gotcha"}
        assert isinstance(data["message"], bytes)
    finally:
        sio.disconnect()


# connection.ts: "should send events with ArrayBuffers in the correct order"
def test_should_send_events_with_arraybuffers_in_the_correct_order(server):
    sio = _socket(server.url)
    echoed = Recorder()
    sio.on("echo", echoed)
    buf = b"abuff1"
    try:
        sio.emit("echo", buf)
        sio.emit("echo", "please arrive second")
        assert echoed.wait(2) == [(buf,), ("please arrive second",)]
    finally:
        sio.disconnect()


# connection.ts: "should reopen a cached socket"
def test_should_reopen_a_cached_socket(server):
    manager = _manager(server.url)
    sio = manager.socket("/")
    reopened, connects = Recorder(), Recorder()

    def on_disconnect(reason):
        socket2 = manager.socket("/")
        reopened(socket2 is sio, socket2.active)
        socket2.once("connect", connects)

    sio.once("connect", sio.disconnect)
    sio.once("disconnect", on_disconnect)
    try:
        assert reopened.wait(1) == [(True, True)]
        connects.wait(1)
        assert sio.connected
    finally:
        sio.disconnect()


# connection.ts: "should not reopen a cached but active socket"
def test_should_not_reopen_a_cached_but_active_socket(server):
    # upstream watches the packets created (CONNECT "0", then DISCONNECT "1"); here manager.stats counts them
    manager = _manager(server.url)
    sio = manager.socket("/")
    try:
        sio.connect(timeout=WAIT)
        assert manager.socket("/") is sio
        assert sio.call("echo", 1, timeout=WAIT) == 1
        assert manager.stats.packets_sent == 2  # the CONNECT and the echo: no second CONNECT
    finally:
        sio.disconnect()
    assert manager.stats.packets_sent == 3  # then the DISCONNECT


# connection.ts: "should not reopen an already active socket"
def test_should_not_reopen_an_already_active_socket(server):
    # upstream expects the packets "0", "0/foo,", "1", "1/foo,": one CONNECT and one DISCONNECT per namespace
    manager = _manager(server.url)
    root = manager.socket("/")
    chat = manager.socket("/chat")
    try:
        root.connect(timeout=WAIT)
        chat.connect(timeout=WAIT)
        assert manager.stats.packets_sent == 2
    finally:
        root.disconnect()
        chat.disconnect()
    assert manager.stats.packets_sent == 4


# connection.ts: "should close the engine upon decoding exception"
def test_should_close_the_engine_upon_decoding_exception(bad_server):
    # upstream feeds the engine the undecodable data "bad"; the scripted server sends it as a message
    query = {"bad": json.dumps(["4bad"]), "token": uuid.uuid4().hex}
    manager = _manager(bad_server.url, query=query, reconnection_delay=0.05, transports=["websocket"])
    sio = manager.socket("/")
    closes, reconnects = Recorder(), Recorder()
    manager.on("close", closes)
    manager.on("reconnect", reconnects)
    try:
        assert reconnects.wait(1) == [(1,)]
        assert closes.calls == [("parse error",)]  # the first engine was closed
        assert manager.stats.connects == 2  # the reconnection opened a new one
        sio.connect(timeout=WAIT)
        assert sio.call("echo", "decoded", timeout=WAIT) == "decoded"
    finally:
        sio.disconnect()
