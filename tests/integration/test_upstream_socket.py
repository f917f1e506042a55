"""Ported from socket.io-client test/socket.ts (the scenarios, in greensio's idiom).

The upstream server's events are mapped onto those of tests/servers/: ``getId`` and
``getHandshake`` -> ``whoami``; the ``/abc`` namespace's ``handshake`` event -> ``whoami``
(or the ``welcome`` event asked for with ``auth={"welcome": True}``); ``/foo`` -> ``/chat``;
``/no`` (refused by a middleware) -> ``/private``; an event the server never acknowledges ->
``server_call("unhandled")`` (the server asks us for an ack we never give and holds its own;
py_server's class-based namespaces acknowledge events they have no handler for, so a bare unknown
event would not do).
Upstream's client-side ``socket.io.engine.close()`` is the server's ``close_engine``.

Not ported: "fire a connect_error event on open timeout (polling)" (polling transport, not built
yet); "should enable compression by default" and "should disable compression" (greensio has no
per-packet ``compress`` flag to observe).
"""

from __future__ import annotations

import socket
from time import monotonic

import gevent
import pytest

import greensio

from .helpers import FAST, WAIT, Recorder, connect


def _socket(url, **options):
    """A socket connecting in the background on a fresh Manager (upstream: ``io(url, {forceNew: true})``)."""
    return greensio.Socket(url, force_new=True, **{**FAST, **options})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _engine_sid(sio):
    # upstream reads socket.io.engine.id; greensio keeps the Engine.IO handshake on the Manager
    return sio.manager.sid


# socket.ts: "should have an accessible socket id equal to the server-side socket id (default namespace)"
def test_should_have_an_accessible_socket_id_equal_to_the_server_side_socket_id_default_namespace(server):
    sio = _socket(server.url)
    try:
        info = sio.call("whoami", timeout=WAIT)
        assert sio.id
        assert sio.id == info["sid"]
        assert sio.id != _engine_sid(sio)
    finally:
        sio.disconnect()


# socket.ts: "should have an accessible socket id equal to the server-side socket id (custom namespace)"
def test_should_have_an_accessible_socket_id_equal_to_the_server_side_socket_id_custom_namespace(server):
    sio = _socket(server.url + "/chat")
    try:
        info = sio.call("whoami", timeout=WAIT)
        assert info["nsp"] == "/chat"
        assert sio.id
        assert sio.id == info["sid"]
        assert sio.id != _engine_sid(sio)
    finally:
        sio.disconnect()


# socket.ts: "clears socket.id upon disconnection"
def test_clears_socket_id_upon_disconnection(server):
    sio = _socket(server.url)
    ids = Recorder()

    def on_connect():
        sio.on("disconnect", lambda reason: ids(sio.id))
        sio.disconnect()

    sio.on("connect", on_connect)
    assert ids.wait(1) == [(None,)]
    assert sio.id is None


# socket.ts: "doesn't fire an error event if we force disconnect in opening state"
def test_doesnt_fire_an_error_event_if_we_force_disconnect_in_opening_state(node_server):
    sio = _socket(node_server.url, timeout=0.1)
    sio.disconnect()
    errors = Recorder()
    sio.manager.on("error", errors)
    gevent.sleep(0.3)  # upstream waits 300 ms on purpose: an error (e.g. the 100 ms open timeout) would show by then
    assert errors.calls == []
    assert not sio.active and not sio.connected


# socket.ts: "fire a connect_error event when the connection cannot be established"
def test_fire_a_connect_error_event_when_the_connection_cannot_be_established():
    sio = _socket(f"http://127.0.0.1:{_closed_port()}", timeout=0.1)
    errors = Recorder()
    sio.on("connect_error", errors)
    try:
        ((err,),) = errors.wait(1)[:1]
        assert isinstance(err, greensio.ConnectionError)
    finally:
        sio.close()


# socket.ts: "fire a connect_error event on open timeout (websocket)"
def test_fire_a_connect_error_event_on_open_timeout_websocket(server):
    sio = _socket(server.url, timeout=0)
    errors = Recorder()
    sio.on("connect_error", errors)
    try:
        ((err,),) = errors.wait(1)[:1]
        assert isinstance(err, greensio.ConnectionError)
        assert str(err) == "timeout"
    finally:
        sio.disconnect()


# socket.ts: "doesn't fire a connect_error event when the connection is already established"
def test_doesnt_fire_a_connect_error_event_when_the_connection_is_already_established(server):
    sio = _socket(server.url)
    errors, connects = Recorder(), Recorder()
    sio.on("connect_error", errors)
    sio.on("connect", connects)
    sio.once("connect", lambda: sio.emit("close_engine"))  # upstream: socket.io.engine.close() on connect
    try:
        connects.wait(2)  # the engine closed and the socket reconnected (upstream waits 300 ms instead)
        assert errors.calls == []
    finally:
        sio.close()


# socket.ts: "should change socket.id upon reconnection"
def test_should_change_socket_id_upon_reconnection(server):
    sio = connect(server.url)
    try:
        first_id = sio.id
        at_attempt, at_reconnect, connects = Recorder(), Recorder(), Recorder()
        sio.manager.on("reconnect_attempt", lambda n: at_attempt(sio.id))
        sio.manager.on("reconnect", lambda n: at_reconnect(sio.id))
        sio.on("connect", connects)
        sio.emit("close_engine")
        assert at_attempt.wait(1) == [(None,)]
        ((id_at_reconnect,),) = at_reconnect.wait(1)
        assert id_at_reconnect != first_id
        connects.wait(1)
        assert sio.id and sio.id != first_id
    finally:
        sio.disconnect()


class TestQueryOption:
    # socket.ts: "query option" / "should accept an object (default namespace)"
    def test_should_accept_an_object_default_namespace(self, server):
        sio = _socket(server.url + "/", query={"e": "f"})
        try:
            assert sio.call("whoami", timeout=WAIT)["query"]["e"] == "f"
        finally:
            sio.disconnect()

    # socket.ts: "query option" / "should accept a query string (default namespace)"
    def test_should_accept_a_query_string_default_namespace(self, server):
        sio = _socket(server.url + "/?c=d")
        try:
            assert sio.call("whoami", timeout=WAIT)["query"]["c"] == "d"
        finally:
            sio.disconnect()

    # socket.ts: "query option" / "should accept an object"
    def test_should_accept_an_object(self, server):
        sio = _socket(server.url + "/chat", query={"a": "b"})
        try:
            info = sio.call("whoami", timeout=WAIT)
            assert (info["nsp"], info["query"]["a"]) == ("/chat", "b")
        finally:
            sio.disconnect()

    # socket.ts: "query option" / "should accept a query string"
    def test_should_accept_a_query_string(self, server):
        sio = _socket(server.url + "/chat?b=c&d=e")
        try:
            info = sio.call("whoami", timeout=WAIT)
            assert info["nsp"] == "/chat"
            assert (info["query"]["b"], info["query"]["d"]) == ("c", "e")
        finally:
            sio.disconnect()

    # socket.ts: "query option" / "should properly encode the parameters"
    def test_should_properly_encode_the_parameters(self, server):
        sio = _socket(server.url + "/chat", query={"&a": "&=?a"})
        try:
            assert sio.call("whoami", timeout=WAIT)["query"]["&a"] == "&=?a"
        finally:
            sio.disconnect()


class TestAuthOption:
    # socket.ts: "auth option" / "should accept an object"
    def test_should_accept_an_object(self, server):
        sio = _socket(server.url + "/chat", auth={"a": "b", "c": "d"})
        try:
            info = sio.call("whoami", timeout=WAIT)
            assert info["auth"] == {"a": "b", "c": "d"}
            assert "a" not in info["query"]
        finally:
            sio.disconnect()

    # socket.ts: "auth option" / "should accept an function"
    def test_should_accept_an_function(self, server):
        sio = _socket(server.url + "/chat", auth=lambda: {"e": "f"})
        try:
            info = sio.call("whoami", timeout=WAIT)
            assert info["auth"] == {"e": "f"}
            assert "e" not in info["query"]
        finally:
            sio.disconnect()


# socket.ts: "should fire an error event on middleware failure from custom namespace"
def test_should_fire_an_error_event_on_middleware_failure_from_custom_namespace(server):
    sio = _socket(server.url + "/private")
    errors = Recorder()
    sio.on("connect_error", errors)
    try:
        ((err,),) = errors.wait(1)
        assert isinstance(err, greensio.ConnectionError) and isinstance(err, Exception)
        assert str(err) == "not authorized"
    finally:
        sio.disconnect()


# socket.ts: "should not try to reconnect after a middleware failure"
def test_should_not_try_to_reconnect_after_a_middleware_failure(server):
    # Upstream closes the engine in the connect_error handler to force a reconnection;
    # here a sibling socket on the same Manager keeps it alive and has the server close it.
    root = _socket(server.url)
    private = root.manager.socket("/private")
    errors, reconnects = Recorder(), Recorder()
    private.on("connect_error", errors)
    root.manager.on("reconnect", reconnects)
    try:
        errors.wait(1)
        root.connect(timeout=WAIT)
        root.emit("close_engine")
        reconnects.wait(1)
        assert root.call("echo", "round trip after the reconnection", timeout=WAIT)
        assert len(errors.calls) == 1
        assert not private.active and not private.connected
    finally:
        root.disconnect()
        private.disconnect()


# socket.ts: "should properly disconnect then reconnect"
def test_should_properly_disconnect_then_reconnect(server):
    sio = _socket(server.url)
    disconnects, connects = Recorder(), Recorder()
    sio.once("connect", lambda: sio.disconnect().connect(wait=False))
    sio.on("disconnect", disconnects)
    sio.on("connect", connects)
    try:
        connects.wait(2)  # upstream waits 100 ms; here: until the second connect
        assert sio.connected
        assert sio.call("echo", "alive", timeout=WAIT) == "alive"
        assert disconnects.calls == [("io client disconnect",)]
    finally:
        sio.disconnect()


# socket.ts: "should throw on reserved event"
def test_should_throw_on_reserved_event(node_server):
    sio = _socket(node_server.url + "/private")
    try:
        with pytest.raises(ValueError, match="disconnecting.? is a reserved event name"):
            sio.emit("disconnecting", "goodbye")
    finally:
        sio.disconnect()


# socket.ts: "should emit events in order"
def test_should_emit_events_in_order(server):
    sio = _socket(server.url, auto_connect=False)
    order = Recorder()
    sio.on("connect", lambda: sio.emit("echo", "second", callback=lambda value: order(2, value)))
    sio.emit("echo", "first", callback=lambda value: order(1, value))
    try:
        sio.connect(wait=False)
        assert order.wait(2) == [(1, "first"), (2, "second")]
    finally:
        sio.disconnect()


# socket.ts: "should emit an event and wait for the acknowledgement"
def test_should_emit_an_event_and_wait_for_the_acknowledgement(server):
    sio = _socket(server.url)
    try:
        assert sio.call("echo", 123) == 123
    finally:
        sio.disconnect()


class TestVolatilePackets:
    # socket.ts: "volatile packets" / "should discard a volatile packet when the socket is not connected"
    def test_should_discard_a_volatile_packet_when_the_socket_is_not_connected(self, server):
        sio = _socket(server.url, auto_connect=False)
        volatile_acks, acks = Recorder(), Recorder()
        sio.emit("whoami", callback=volatile_acks, volatile=True)
        sio.emit("whoami", callback=acks)
        assert sio.manager.stats.buffered == 1
        try:
            sio.connect(wait=False)
            ((info,),) = acks.wait(1)
            assert info["sid"] == sio.id
            assert volatile_acks.calls == []  # had it been sent, its ack would have come first
        finally:
            sio.disconnect()

    # socket.ts: "volatile packets" / "should discard a volatile packet when the pipe is not ready"
    def test_should_discard_a_volatile_packet_when_the_pipe_is_not_ready(self, server):
        sio = _socket(server.url)
        volatile_acks, acks, sync = Recorder(), Recorder(), Recorder()

        def on_connect():
            sio.emit("whoami", callback=acks)  # occupies the pipe
            sio.emit("whoami", callback=volatile_acks, volatile=True)

        sio.on("connect", on_connect)
        try:
            acks.wait(1)
            sio.emit("echo", "sync", callback=sync)  # callbacks start in ack order: the volatile one would be first
            sync.wait(1)
            assert volatile_acks.calls == []
        finally:
            sio.disconnect()

    # socket.ts: "volatile packets" / "should send a volatile packet when the socket is connected and the pipe is ready"
    def test_should_send_a_volatile_packet_when_the_socket_is_connected_and_the_pipe_is_ready(self, server):
        sio = _socket(server.url)
        acks = Recorder()
        try:
            deadline = monotonic() + WAIT
            while not acks.calls and monotonic() < deadline:  # upstream tries every 200 ms until one gets through
                sio.emit("whoami", callback=acks, volatile=True)
                try:
                    acks.wait(1, timeout=0.2)
                except AssertionError:
                    pass
            assert acks.calls, "no volatile packet was ever acknowledged"
            assert acks.calls[0][0]["sid"] == sio.id
        finally:
            sio.disconnect()


class TestOnAny:
    # socket.ts: "onAny" / "should call listener"
    def test_should_call_listener(self, server):
        sio = _socket(server.url + "/chat", auth={"welcome": True})
        seen = Recorder()
        sio.on_any(seen)
        try:
            assert seen.wait(1) == [("welcome", "hi")]
        finally:
            sio.disconnect()

    # socket.ts: "onAny" / "should prepend listener"
    def test_should_prepend_listener(self, server):
        sio = _socket(server.url + "/chat", auth={"welcome": True})
        order: list[str] = []
        last = Recorder()
        sio.on_any(lambda event, *args: last(list(order)))
        sio.prepend_any(lambda event, *args: order.append("prepended first"))
        sio.prepend_any(lambda event, *args: order.append("prepended second"))
        try:
            assert last.wait(1) == [(["prepended second", "prepended first"],)]
        finally:
            sio.disconnect()

    # socket.ts: "onAny" / "should remove listener"
    def test_should_remove_listener(self, server):
        sio = _socket(server.url + "/chat", auth={"welcome": True})
        failed, seen = Recorder(), Recorder()
        sio.on_any(failed)
        sio.off_any(failed)
        assert sio.listeners_any() == []
        sio.on_any(seen)
        try:
            assert seen.wait(1) == [("welcome", "hi")]
            assert failed.calls == []
        finally:
            sio.disconnect()


class TestOnAnyOutgoing:
    # socket.ts: "onAnyOutgoing" / "should call listener"
    def test_should_call_listener(self, server):
        sio = _socket(server.url + "/chat")
        sent = Recorder()

        def on_connect():
            sio.on_any_outgoing(sent)
            sio.emit("my-event", "123")

        sio.on("connect", on_connect)
        try:
            assert sent.wait(1) == [("my-event", "123")]
        finally:
            sio.disconnect()

    # socket.ts: "onAnyOutgoing" / "should call listener with binary data"
    def test_should_call_listener_with_binary_data(self, server):
        sio = _socket(server.url + "/chat")
        sent = Recorder()

        def on_connect():
            sio.on_any_outgoing(sent)
            sio.emit("my-event", bytes([1, 2, 3]))

        sio.on("connect", on_connect)
        try:
            ((event, arg),) = sent.wait(1)
            assert event == "my-event"
            assert isinstance(arg, bytes) and arg == b"\x01\x02\x03"
        finally:
            sio.disconnect()

    # socket.ts: "onAnyOutgoing" / "should prepend listener"
    def test_should_prepend_listener(self, server):
        sio = _socket(server.url + "/chat")
        order: list[str] = []
        last = Recorder()
        sio.on_any_outgoing(lambda event, *args: last(list(order)))
        sio.prepend_any_outgoing(lambda event, *args: order.append("prepended first"))
        sio.prepend_any_outgoing(lambda event, *args: order.append("prepended second"))
        try:
            sio.emit("my-event", "123")
            assert last.wait(1) == [(["prepended second", "prepended first"],)]
        finally:
            sio.disconnect()

    # socket.ts: "onAnyOutgoing" / "should remove listener"
    def test_should_remove_listener(self, server):
        sio = _socket(server.url + "/chat")
        failed, sent = Recorder(), Recorder()
        sio.on_any_outgoing(failed)
        sio.off_any_outgoing(failed)
        assert sio.listeners_any_outgoing() == []
        sio.on_any_outgoing(sent)
        try:
            sio.emit("my-event", "123")
            assert sent.wait(1) == [("my-event", "123")]
            assert failed.calls == []
        finally:
            sio.disconnect()


class TestTimeout:
    # socket.ts: "timeout" / "should timeout after the given delay when socket is not connected"
    def test_should_timeout_after_the_given_delay_when_socket_is_not_connected(self, node_server):
        sio = _socket(node_server.url, auto_connect=False)
        results = Recorder()
        sio.emit("event", callback=results, timeout=0.05)
        ((err,),) = results.wait(1)
        assert isinstance(err, greensio.TimeoutError)
        assert sio.manager.stats.buffered == 0  # upstream: socket.sendBuffer is empty
        sio.disconnect()

    # socket.ts: "timeout" / "should timeout when the server does not acknowledge the event"
    def test_should_timeout_when_the_server_does_not_acknowledge_the_event(self, server):
        sio = _socket(server.url)
        results = Recorder()
        try:
            sio.emit("server_call", "unhandled", callback=results, timeout=0.05)
            ((err,),) = results.wait(1)
            assert isinstance(err, greensio.TimeoutError)
        finally:
            sio.disconnect()

    # socket.ts: "timeout" / "should timeout when the server does not acknowledge the event in time"
    def test_should_timeout_when_the_server_does_not_acknowledge_the_event_in_time(self, server):
        sio = _socket(server.url)
        results = Recorder()
        try:
            sio.emit("echo", 42, callback=results, timeout=0)
            ((err,),) = results.wait(1)
            assert isinstance(err, greensio.TimeoutError)
            # upstream waits 200 ms; here a round trip after connecting: a late ack must not call back again
            sio.connect(timeout=WAIT)
            assert sio.call("echo", "later", timeout=WAIT) == "later"
            assert len(results.calls) == 1
        finally:
            sio.disconnect()

    # socket.ts: "timeout" / "should not timeout when the server does acknowledge the event"
    def test_should_not_timeout_when_the_server_does_acknowledge_the_event(self, server):
        sio = _socket(server.url)
        results = Recorder()
        try:
            # emitted before the connection is up, as upstream; 1 s instead of 50 ms so a loaded machine cannot flake
            sio.emit("echo", 42, callback=results, timeout=1)
            assert results.wait(1) == [(None, 42)]
        finally:
            sio.disconnect()

    # socket.ts: "timeout" / "should timeout when the server does not acknowledge the event (promise)"
    def test_should_timeout_when_the_server_does_not_acknowledge_the_event_promise(self, server):
        sio = _socket(server.url)
        try:
            with pytest.raises(greensio.TimeoutError):
                sio.call("server_call", "unhandled", timeout=0.05)
        finally:
            sio.disconnect()

    # socket.ts: "timeout" / "should not timeout when the server does acknowledge the event (promise)"
    def test_should_not_timeout_when_the_server_does_acknowledge_the_event_promise(self, server):
        sio = _socket(server.url)
        try:
            assert sio.call("echo", 42, timeout=1) == 42  # upstream: 50 ms (see above)
        finally:
            sio.disconnect()

    # socket.ts: "timeout" / "should use the default timeout value"
    def test_should_use_the_default_timeout_value(self, server):
        sio = _socket(server.url, ack_timeout=0.05)
        results = Recorder()
        try:
            sio.emit("server_call", "unhandled", callback=results)
            ((err,),) = results.wait(1)
            assert isinstance(err, greensio.TimeoutError)
        finally:
            sio.disconnect()


class TestAcknowledgementUponDisconnection:
    # socket.ts: "acknowledgement upon disconnection" / "should not ack upon disconnection (callback)"
    def test_should_not_ack_upon_disconnection_callback(self, server):
        sio = connect(server.url)
        results = Recorder()
        sio.emit("echo", "a", callback=results)
        sio.disconnect()
        assert sio._ns.session.acks == {}  # upstream checks the private socket.acks too
        gevent.sleep(0.1)  # upstream waits 100 ms on purpose: the callback must never be called
        assert results.calls == []

    # socket.ts: "should ack with an error upon disconnection (callback & timeout)"
    def test_should_ack_with_an_error_upon_disconnection_callback_and_timeout(self, server):
        sio = connect(server.url)
        results = Recorder()
        sio.emit("echo", "a", callback=results, timeout=10)
        sio.disconnect()
        ((err,),) = results.wait(1)
        assert isinstance(err, greensio.DisconnectedError)
        assert sio._ns.session.acks == {}

    # socket.ts: "should ack with an error upon disconnection (callback & ackTimeout)"
    def test_should_ack_with_an_error_upon_disconnection_callback_and_acktimeout(self, server):
        sio = connect(server.url, ack_timeout=10)
        results = Recorder()
        sio.emit("echo", "a", callback=results)
        sio.disconnect()
        ((err,),) = results.wait(1)
        assert isinstance(err, greensio.DisconnectedError)

    # socket.ts: "acknowledgement upon disconnection" / "should ack with an error upon disconnection (promise)"
    def test_should_ack_with_an_error_upon_disconnection_promise(self, server):
        self._call_then_disconnect(server, timeout=None)

    # socket.ts: "should ack with an error upon disconnection (promise & timeout)"
    def test_should_ack_with_an_error_upon_disconnection_promise_and_timeout(self, server):
        self._call_then_disconnect(server, timeout=10)

    @staticmethod
    def _call_then_disconnect(server, timeout):
        sio = connect(server.url)
        outcome = Recorder()

        def caller():
            try:
                outcome(sio.call("echo", "a", timeout=timeout))
            except greensio.Error as exc:
                outcome(exc)

        waiting = gevent.spawn(caller)  # runs first: sends, then blocks in call()
        gevent.spawn(sio.disconnect)  # then the socket disconnects, in the same turn as upstream
        ((err,),) = outcome.wait(1)
        assert isinstance(err, greensio.DisconnectedError)
        assert waiting.join(WAIT) or waiting.dead

    # socket.ts: "acknowledgement upon disconnection" / "should not discard an unsent ack (callback)"
    def test_should_not_discard_an_unsent_ack_callback(self, server):
        sio = connect(server.url)
        results = Recorder()
        try:
            sio.disconnect()
            sio.emit("echo", "a", callback=results)  # buffered, sent upon reconnection
            assert sio.manager.stats.buffered == 1
            sio.connect(wait=False)  # upstream reconnects 100 ms later
            assert results.wait(1) == [("a",)]
        finally:
            sio.disconnect()


class TestThrottledTimer:
    # socket.ts: "throttled timer" / "should buffer the event and send it upon reconnection"
    def test_should_buffer_the_event_and_send_it_upon_reconnection(self, server):
        sio = connect(server.url)
        reconnected, results = Recorder(), Recorder()
        sio.manager.once("reconnect", reconnected)
        try:
            # simulate a throttled timer: the heartbeat deadline passed but the watchdog has not fired yet
            assert sio.manager._conn is not None
            sio.manager._conn.engine.deadline = monotonic() - 1
            sio.emit("echo", "123", callback=lambda value: results(bool(reconnected.calls), value))
            assert results.wait(1) == [(True, "123")]
        finally:
            sio.disconnect()
