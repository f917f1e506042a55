"""The core client against the real Node and python-socketio servers (WebSocket transport)."""

from __future__ import annotations

import logging

import gevent
import gevent.event
import pytest

import greensio

from .helpers import FAST, TRANSPORTS, WAIT, Recorder, connect, live_greenlets, open_fds


def test_connect_returns_a_connected_socket_with_the_namespace_sid(server):
    sio = connect(server.url)
    try:
        assert sio.connected and not sio.disconnected and sio.active
        assert sio.transport in TRANSPORTS
        assert sio.namespace == "/"
        assert sio.id == sio.call("whoami", timeout=WAIT)["sid"]
    finally:
        sio.disconnect()
    # mypy keeps the narrowing of the asserts above across disconnect()
    assert (sio.connected, sio.active, sio.id, sio.transport) == (False, False, None, None)  # type: ignore[comparison-overlap]


def test_socket_connects_in_the_background_and_early_handlers_see_connect(server):
    sio = greensio.Socket(server.url, force_new=True, **FAST)
    assert not sio.connected
    connected = Recorder()
    sio.on("connect", connected)
    try:
        assert connected.wait(1) == [()]
        assert sio.connected
    finally:
        sio.disconnect()


def test_emit_without_ack_reaches_the_server_which_echoes_it(server):
    with connect(server.url) as sio:
        echoed = Recorder()
        sio.on("echo", echoed)
        sio.emit("echo", "text", 42, {"k": [1, None, True]})
        assert echoed.wait(1) == [("text", 42, {"k": [1, None, True]})]


def test_emit_with_callback_gets_the_ack_arguments(server):
    with connect(server.url) as sio:
        acked = Recorder()
        sio.emit("echo", 1, "two", callback=acked)
        assert acked.wait(1) == [(1, "two")]


@pytest.mark.parametrize(
    "args, expected",
    [((), None), ((7,), 7), (("a", [1]), ("a", [1])), ((None,), None)],
    ids=["no-value", "one-value", "two-values", "null"],
)
def test_call_returns_none_the_value_or_a_tuple(server, args, expected):
    with connect(server.url) as sio:
        assert sio.call("echo", *args, timeout=WAIT) == expected


def test_send_emits_a_message_event(server):
    with connect(server.url) as sio:
        seen = Recorder()
        sio.on("message", seen)
        sio.call("server_emit", "message", "hello", timeout=WAIT)
        assert seen.wait(1) == [("hello",)]
        acked = Recorder()
        sio.send("ignored-by-the-server", callback=acked)  # no handler: the event must not break anything
        assert sio.call("echo", "still-alive", timeout=WAIT) == "still-alive"


def test_binary_anywhere_in_the_arguments_round_trips_as_bytes(server):
    payload = {"a": [b"\x00\x01", {"b": bytearray(b"\xff" * 300)}], "c": memoryview(b"mv")}
    with connect(server.url) as sio:
        result = sio.call("echo", b"top", payload, timeout=WAIT)
        assert result == (b"top", {"a": [b"\x00\x01", {"b": b"\xff" * 300}], "c": b"mv"})
        echoed = Recorder()
        sio.on("echo", echoed)
        sio.emit("echo", [b"1", b"2", b"3"])
        assert echoed.wait(1) == [([b"1", b"2", b"3"],)]


def test_a_handler_return_value_is_the_ack_the_server_asked_for(server):
    with connect(server.url) as sio:
        sio.on("question", lambda x: x * 2)
        sio.on("pair", lambda: ("a", b"b"))
        sio.on("nothing", lambda: None)
        assert sio.call("server_call", "question", 21, timeout=WAIT) == [42]
        assert sio.call("server_call", "pair", timeout=WAIT) == ["a", b"b"]
        assert sio.call("server_call", "nothing", timeout=WAIT) == []


def test_reserved_event_names_cannot_be_emitted(server):
    with connect(server.url) as sio:
        for name in ("connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"):
            with pytest.raises(ValueError, match="reserved"):
                sio.emit(name)
        with pytest.raises(TypeError):
            sio.emit(42)  # type: ignore[arg-type]
        assert sio.call("echo", "ok", timeout=WAIT) == "ok"


def test_payload_over_max_payload_raises_and_the_connection_stays_up(server):
    with connect(server.url) as sio:
        with pytest.raises(greensio.PayloadTooLargeError):
            sio.emit("echo", "x" * 2_000_000)
        with pytest.raises(greensio.PayloadTooLargeError):
            sio.emit("echo", b"x" * 2_000_000)
        got = Recorder()
        sio.emit("echo", "y" * 2_000_000, callback=got, timeout=WAIT)
        ((err,),) = got.wait(1)
        assert isinstance(err, greensio.PayloadTooLargeError)
        assert sio.call("echo", "after", timeout=WAIT) == "after"


def test_namespaces_share_one_manager_unless_told_otherwise(server):
    root = greensio.Socket(server.url, force_new=True, **FAST)
    chat = root.manager.socket("/chat")
    try:
        chat.connect(timeout=WAIT)
        root.connect(timeout=WAIT)
        assert chat.manager is root.manager
        assert chat.call("whoami", timeout=WAIT)["nsp"] == "/chat"
        assert root.call("whoami", timeout=WAIT)["nsp"] == "/"
        assert root.manager.socket("/chat") is chat
    finally:
        chat.disconnect()
        root.disconnect()


def test_socket_reuses_the_cached_manager_for_the_same_server(server):
    first = greensio.Socket(server.url + "/chat", **FAST)
    second = greensio.Socket(server.url, **FAST)
    separate = greensio.Socket(server.url, multiplex=False, **FAST)
    forced = greensio.Socket(server.url + "/chat", force_new=True, **FAST)
    again = greensio.Socket(server.url + "/chat", **FAST)  # "/chat" is already open on the cached one
    sockets = [first, second, separate, forced, again]
    try:
        assert second.manager is first.manager
        assert separate.manager is not first.manager
        assert forced.manager is not first.manager
        assert again.manager is not first.manager
        for sio in sockets:
            sio.connect(timeout=WAIT)
        assert len({sio.id for sio in sockets}) == 5
    finally:
        for sio in sockets:
            sio.disconnect()


def test_auth_query_and_headers_reach_the_server(server):
    with connect(server.url, auth={"token": "t"}, query={"q": "1"}, extra_headers={"X-Custom": "v"}) as sio:
        info = sio.call("whoami", timeout=WAIT)
    assert info["auth"] == {"token": "t"}
    assert info["query"]["q"] == "1"
    assert info["query"]["EIO"] == "4"
    assert info["headers"]["x-custom"] == "v"


def test_query_in_the_url_wins_over_the_query_option(server):
    with connect(server.url + "/?q=url", query={"q": "option", "other": "o"}) as sio:
        info = sio.call("whoami", timeout=WAIT)
    assert (info["query"]["q"], info["query"]["other"]) == ("url", "o")


def test_auth_and_header_callables_are_called_on_every_reconnect(server):
    calls = []

    def auth():
        calls.append("auth")
        return {"n": len(calls)}

    with connect(server.url, auth=auth, extra_headers=lambda: {"X-N": str(len(calls))}) as sio:
        assert sio.call("whoami", timeout=WAIT)["auth"] == {"n": 1}
        reconnected = Recorder()
        sio.manager.on("reconnect", reconnected)
        sio.emit("close_engine")
        reconnected.wait(1)
        info = sio.call("whoami", timeout=WAIT)
        assert info["auth"] == {"n": 2}
        assert info["headers"]["x-n"] == "1"


def test_a_refusing_middleware_gives_connect_error_with_its_data(server):
    sio = greensio.Socket(server.url + "/private", force_new=True, **FAST)
    errors = Recorder()
    sio.on("connect_error", errors)
    try:
        ((err,),) = errors.wait(1)
        assert isinstance(err, greensio.ConnectionError)
        assert str(err) == "not authorized"
        assert err.data == {"code": 403}
        assert sio.wait(WAIT) and not sio.active  # no reconnection after CONNECT_ERROR
        with pytest.raises(greensio.ConnectionError, match="not authorized") as info:
            sio.connect(timeout=WAIT)
        assert info.value.data == {"code": 403}
    finally:
        sio.disconnect()


def test_the_refusing_namespace_accepts_the_right_token(server):
    with connect(server.url + "/private", auth={"token": "secret"}) as sio:
        assert sio.call("whoami", timeout=WAIT)["nsp"] == "/private"


def test_server_disconnect_is_final_until_connect_is_called(server):
    sio = connect(server.url)
    reasons = Recorder()
    sio.on("disconnect", reasons)
    try:
        first_id = sio.id
        sio.emit("disconnect_me")
        assert reasons.wait(1) == [("io server disconnect",)]
        assert sio.wait(WAIT)
        assert not sio.active and not sio.connected
        sio.connect(timeout=WAIT)
        assert sio.connected and sio.id != first_id
    finally:
        sio.disconnect()


def test_client_disconnect_reaches_the_server_as_client_namespace_disconnect(server):
    with connect(server.url) as observer:
        assert observer.call("observe", timeout=WAIT) == "ok"
        sio = connect(server.url)
        reasons, peers = Recorder(), Recorder()
        sio.on("disconnect", reasons)
        sid = sio.id
        observer.on("peer_disconnect", lambda peer, reason: peers(reason) if peer == sid else None)
        sio.disconnect()
        assert reasons.calls == [("io client disconnect",)]
        expected = {"node": "client namespace disconnect", "python": "client disconnect"}[server.kind]
        assert peers.wait(1) == [(expected,)]


def test_transport_close_reconnects_with_manager_events(server):
    with connect(server.url) as sio:
        events = Recorder()
        for name in ("close", "reconnect_attempt", "reconnect", "open"):
            sio.manager.on(name, lambda *a, name=name: events(name, *a))
        disconnects, connects = Recorder(), Recorder()
        sio.on("disconnect", disconnects)
        sio.on("connect", connects)
        first_id = sio.id
        sio.emit("close_engine")
        assert disconnects.wait(1) == [("transport close",)]
        connects.wait(1)
        assert sio.connected and sio.id != first_id
        events.wait(4)
        assert events.calls == [("close", "transport close"), ("reconnect_attempt", 1), ("open",), ("reconnect", 1)]


def test_emits_while_disconnected_are_buffered_and_sent_in_order(server):
    sio = greensio.Socket(server.url, auto_connect=False, force_new=True, **FAST)
    echoed, acked = Recorder(), Recorder()
    sio.on("echo", echoed)
    try:
        for i in range(5):
            sio.emit("echo", i)
        sio.emit("echo", "acked", callback=acked)
        sio.connect(timeout=WAIT)
        assert echoed.wait(5) == [(i,) for i in range(5)]
        assert acked.wait(1) == [("acked",)]
    finally:
        sio.disconnect()


def test_events_before_the_connect_reply_are_delivered_first_with_state_set(server):
    sio = greensio.Socket(server.url, auth={"welcome": True}, auto_connect=False, force_new=True, **FAST)
    order = Recorder()
    sio.on("welcome", lambda text: order("welcome", text, sio.connected, sio.id is not None))
    sio.on("connect", lambda: order("connect"))
    try:
        sio.connect(timeout=WAIT)
        if server.kind == "python":  # its connect handler's emits go out before the CONNECT reply
            assert order.wait(2) == [("welcome", "hi", True, True), ("connect",)]
        else:
            assert order.wait(2) == [("connect",), ("welcome", "hi", True, True)]
    finally:
        sio.disconnect()


def test_once_off_and_listeners(server):
    with connect(server.url) as sio:
        once, always = Recorder(), Recorder()
        sio.once("echo", once)
        sio.on("echo", always)
        assert sio.listeners("echo") == [once, always]
        sio.emit("echo", 1)
        sio.emit("echo", 2)
        assert always.wait(2) == [(1,), (2,)]
        assert once.calls == [(1,)]
        assert sio.listeners("echo") == [always]
        sio.off("echo", always)
        assert sio.listeners("echo") == []
        sio.on("echo", always)
        sio.off("echo")
        assert sio.listeners("echo") == []


def test_catch_all_listeners_in_and_out(server):
    with connect(server.url) as sio:
        incoming, outgoing, order = Recorder(), Recorder(), []
        sio.on_any(incoming)
        sio.prepend_any(lambda *a: order.append("first"))
        sio.on_any(lambda *a: order.append("second"))
        sio.on_any_outgoing(outgoing)
        assert sio.listeners_any()[1] is incoming
        sio.emit("echo", "x")
        assert incoming.wait(1) == [("echo", "x")]
        assert order == ["first", "second"]
        assert outgoing.calls == [("echo", "x")]
        sio.off_any(incoming)
        sio.off_any_outgoing()
        assert incoming not in sio.listeners_any() and sio.listeners_any_outgoing() == []


def test_wait_for_returns_the_matching_event_or_times_out(server):
    with connect(server.url) as sio:

        def emit_three():
            for n in (1, 2, 3):
                sio.emit("echo", n)

        gevent.spawn(emit_three)
        assert sio.wait_for("echo", timeout=WAIT, predicate=lambda n: n == 2) == 2
        with pytest.raises(greensio.TimeoutError):
            sio.wait_for("never", timeout=0.05)
        assert sio.listeners("never") == []


def test_a_raising_handler_is_logged_and_the_connection_lives_on(server, caplog):
    with connect(server.url) as sio:

        def boom(*args):
            raise RuntimeError("handler bug")

        sio.on("echo", boom)
        with caplog.at_level(logging.ERROR, logger="greensio"):
            sio.emit("echo", 1)
            assert sio.call("echo", "alive", timeout=WAIT) == "alive"
            with gevent.Timeout(WAIT):
                while not any("handler bug" in r.exc_text for r in caplog.records if r.exc_text):
                    gevent.sleep(0.01)
        assert sio.connected


def test_a_blocking_handler_does_not_stall_the_connection_or_later_events(server):
    with connect(server.url) as sio:
        release = gevent.event.Event()
        seen = Recorder()

        def first(n):
            seen("start", n)
            release.wait()
            seen("end", n)

        sio.once("echo", first)
        sio.on("echo", lambda n: seen("any", n))
        sio.emit("echo", 1)
        seen.wait(1)
        sio.emit("echo", 2)
        seen.wait(2)
        assert sio.call("echo", "round trip while blocked", timeout=WAIT) == "round trip while blocked"
        release.set()
        assert seen.wait(4) == [("start", 1), ("any", 2), ("end", 1), ("any", 1)]


def test_a_flood_of_events_lets_handlers_run_every_few_dozen_packets(server):
    # The reader hands the core at most YIELD_EVERY packets before other greenlets run, so the
    # handler of event i runs before the reader got far past it, however many one read brought.
    from greensio._connection import YIELD_EVERY

    with connect(server.url) as sio:
        base = sio.manager.stats.packets_received
        lags = []
        sio.on("burst", lambda i, _payload: lags.append(sio.manager.stats.packets_received - base - i))
        done = Recorder()
        sio.on("burst_done", done)
        sio.emit("burst", 3000, 100)
        done.wait(1)
        assert len(lags) == 3000
        assert max(lags) <= 2 * YIELD_EVERY


@pytest.mark.skipif(TRANSPORTS[-1] != "websocket", reason="polling reads in a greenlet")
def test_an_idle_connected_client_holds_no_greenlet(server):
    connect(server.url).disconnect()  # warm up lazily created resources
    greenlets = live_greenlets()
    with connect(server.url) as sio:
        sio.on("echo", lambda *a: None)
        sio.emit("echo", 1)  # a handler greenlet, which ends once idle
        assert sio.call("echo", "x", timeout=WAIT) == "x"
        with gevent.Timeout(WAIT, AssertionError("greenlets still alive while idle")):
            while live_greenlets() - greenlets:
                gevent.sleep(0.05)  # polls for the idle handler worker to end (its linger is 2 s)
        assert sio.call("echo", "still read", timeout=WAIT) == "still read"


def test_a_handler_may_call_on_the_same_connection(server):
    with connect(server.url) as sio:
        results = Recorder()
        sio.on("echo", lambda n: results(sio.call("echo", n * 10, timeout=WAIT)))
        sio.emit("echo", 4)
        assert results.wait(1) == [(40,)]


def test_wait_and_the_context_manager(server):
    sio = greensio.Socket(server.url, auto_connect=False, force_new=True, **FAST)
    with sio:
        assert sio.connected
        assert sio.wait(0.01) is False
    assert sio.wait(0) is True and not sio.active


def test_disconnect_from_a_handler_is_safe(server):
    sio = connect(server.url)
    reasons = Recorder()
    sio.on("disconnect", reasons)
    sio.on("echo", lambda *a: sio.disconnect())
    sio.emit("echo", 1)
    assert reasons.wait(1) == [("io client disconnect",)]
    assert sio.wait(WAIT)


def test_disconnect_in_any_state_is_safe(server):
    sio = greensio.Socket(server.url, auto_connect=False, force_new=True, **FAST)
    sio.disconnect()  # never connected
    sio.connect(wait=False)
    sio.disconnect()  # connecting
    sio.connect(timeout=WAIT)
    sio.disconnect()
    sio.disconnect()  # twice
    assert not sio.active


def test_nothing_is_left_running_or_open_after_disconnect(server):
    connect(server.url).disconnect()  # warm up lazily created resources (resolver, hub threads)
    greenlets, fds = live_greenlets(), open_fds()
    for _ in range(3):
        root = connect(server.url)
        chat = root.manager.socket("/chat")
        chat.connect(timeout=WAIT)
        root.on("echo", lambda *a: None)
        root.emit("echo", 1)
        assert root.call("echo", b"bin", timeout=WAIT) == b"bin"
        chat.disconnect()
        root.disconnect()
    assert live_greenlets() - greenlets == set()
    assert open_fds() - fds == set()


def test_nothing_is_left_after_disconnect_while_reconnecting(start_server):
    srv = start_server("node")
    greenlets_before = live_greenlets()
    sio = connect(srv.url)
    reasons, attempts = Recorder(), Recorder()
    sio.on("disconnect", reasons)
    sio.manager.on("reconnect_attempt", attempts)
    srv.stop()
    assert reasons.wait(1) == [("transport close",)]
    attempts.wait(2)
    sio.disconnect()
    assert not sio.manager.reconnecting
    assert live_greenlets() - greenlets_before == set()


def test_the_path_option_selects_the_engine_io_endpoint(server):
    with pytest.raises(greensio.ConnectionError):
        greensio.connect(
            server.url,
            path="/not-socket.io",
            transports=["websocket"],
            reconnection=False,
            force_new=True,
            timeout=WAIT,
        )
    with connect(server.url, path="/socket.io/") as sio:  # a trailing slash is the same endpoint
        assert sio.call("echo", "path", timeout=WAIT) == "path"
