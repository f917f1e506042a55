"""Client: connect, sids, emit/send/call, acks both ways, handlers, background tasks."""

from __future__ import annotations

import functools

import pytest

from .helpers import TRANSPORTS, WAIT, Background, Recorder, until


def test_connect_sids_transport_and_client_disconnect(server, make_client):
    sio = make_client()
    disconnects = Recorder()
    sio.on("disconnect", disconnects)
    assert not sio.connected and sio.get_sid() is None and sio.namespaces == {}
    sio.connect(server.url, transports=TRANSPORTS)
    assert sio.connected
    assert sio.transport() == "websocket"
    me = sio.call("whoami", timeout=WAIT)
    # Client.sid is the Engine.IO session id; get_sid() the namespace's own id
    assert sio.get_sid() == sio.get_sid("/") == me["sid"]
    assert isinstance(sio.sid, str) and sio.sid != me["sid"]
    assert sio.namespaces == {"/": me["sid"]}
    assert me["nsp"] == "/"
    sio.disconnect()
    assert not sio.connected and sio.sid is None and sio.get_sid() is None
    assert disconnects.wait() == [("client disconnect",)]
    assert sio.reason.CLIENT_DISCONNECT == "client disconnect"
    assert sio.reason.SERVER_DISCONNECT == "server disconnect"
    assert sio.reason.TRANSPORT_ERROR == "transport error"


def test_connect_twice_raises_already_connected(server, make_client, impl):
    sio = make_client()
    sio.connect(server.url, transports=TRANSPORTS)
    with pytest.raises(impl.exceptions.ConnectionError, match="Already connected"):
        sio.connect(server.url, transports=TRANSPORTS)
    assert sio.call("echo", 1, timeout=WAIT) == 1


def test_reconnect_after_disconnect_with_the_same_client(server, make_client):
    sio = make_client()
    connects = Recorder()
    sio.on("connect", connects)
    sio.connect(server.url, transports=TRANSPORTS)
    first = sio.get_sid()
    sio.disconnect()
    sio.connect(server.url, transports=TRANSPORTS)
    assert sio.get_sid() not in (None, first)
    assert sio.call("echo", "again", timeout=WAIT) == "again"
    assert len(connects.calls) == 2


def test_a_tuple_is_several_arguments_a_list_is_one(server, make_client):
    sio = make_client()
    sio.connect(server.url, transports=TRANSPORTS)
    assert sio.call("echo", timeout=WAIT) is None
    assert sio.call("echo", 1, timeout=WAIT) == 1
    assert sio.call("echo", (1, "two"), timeout=WAIT) == (1, "two")
    assert sio.call("echo", [1, "two"], timeout=WAIT) == [1, "two"]
    assert sio.call("echo", ([1, 2],), timeout=WAIT) == [1, 2]
    assert sio.call("echo", {"k": [None, True, 1.5]}, timeout=WAIT) == {"k": [None, True, 1.5]}
    acked = Recorder()
    sio.emit("echo", (1, "two"), callback=acked)
    sio.emit("echo", [1, "two"], callback=acked)
    sio.emit("echo", callback=acked)
    assert sorted(acked.wait(3), key=repr) == sorted([(1, "two"), ([1, "two"],), ()], key=repr)


def test_emit_without_ack_and_events_from_the_server(server, make_client):
    sio = make_client()
    echoed = Recorder()
    sio.on("echo", echoed)
    sio.connect(server.url, transports=TRANSPORTS)
    sio.emit("echo", ("a", 2))  # no ack asked: the server emits it back
    assert echoed.wait() == [("a", 2)]
    pushed = Recorder()
    sio.on("pushed", pushed)  # handlers may be added once connected
    assert sio.call("server_emit", ("pushed", {"x": 1}, [2]), timeout=WAIT) == "ok"
    assert pushed.wait() == [({"x": 1}, [2])]


def test_send_is_a_message_event(server, make_client, impl):
    sio = make_client()
    with pytest.raises(impl.exceptions.BadNamespaceError):
        sio.send("hello")
    sio.connect(server.url, transports=TRANSPORTS)
    sio.send("hello")  # the servers ignore "message": nothing comes back, and the connection stays
    sio.send(("several", "args"), namespace="/")
    assert sio.call("echo", "after send", timeout=WAIT) == "after send"


def test_handler_return_values_are_the_ack(server, make_client):
    sio = make_client()
    sio.on("one", lambda: "a")
    sio.on("several", lambda: ("a", 1))
    sio.on("a_list", lambda: ["a", 1])
    sio.on("nothing", lambda: None)
    sio.on("args", lambda *args: args)
    sio.connect(server.url, transports=TRANSPORTS)
    # server_call acks with the list of arguments the client acked with
    assert sio.call("server_call", "one", timeout=WAIT) == ["a"]
    assert sio.call("server_call", "several", timeout=WAIT) == ["a", 1]
    assert sio.call("server_call", "a_list", timeout=WAIT) == [["a", 1]]
    assert sio.call("server_call", "nothing", timeout=WAIT) == []
    assert sio.call("server_call", ("args", 1, "b"), timeout=WAIT) == [1, "b"]
    # an event without a handler is still acked, with no arguments
    assert sio.call("server_call", "no_handler", timeout=WAIT) == []


def test_binary_arguments(server, make_client):
    sio = make_client()
    got = Recorder()
    sio.on("burst", got)
    sio.connect(server.url, transports=TRANSPORTS)
    assert sio.call("echo", b"\x00\xff", timeout=WAIT) == b"\x00\xff"
    assert sio.call("echo", {"a": [b"x", {"b": b"yy"}]}, timeout=WAIT) == {"a": [b"x", {"b": b"yy"}]}
    assert sio.call("echo", (b"1", "2", b"3"), timeout=WAIT) == (b"1", "2", b"3")
    sio.emit("burst", (3, 1000, True))
    calls = got.wait(3)
    assert sorted(calls) == [(i, bytes(1000)) for i in range(3)]


def test_bad_namespace_and_timeout_errors(server, make_client, impl):
    sio = make_client()
    sio.on("slow", lambda: sio.sleep(1))  # answers server_call after the caller's timeout
    errors = impl.exceptions
    with pytest.raises(errors.BadNamespaceError, match="/ is not a connected namespace"):
        sio.emit("echo", 1)
    with pytest.raises(errors.BadNamespaceError):
        sio.call("echo", 1, timeout=WAIT)
    sio.connect(server.url, transports=TRANSPORTS)
    with pytest.raises(errors.BadNamespaceError, match="/chat is not a connected namespace"):
        sio.emit("echo", 1, namespace="/chat")
    with pytest.raises(errors.TimeoutError):
        sio.call("server_call", "slow", timeout=0.2)
    assert issubclass(errors.TimeoutError, errors.SocketIOError)
    assert issubclass(errors.BadNamespaceError, errors.SocketIOError)
    sio.disconnect()
    with pytest.raises(errors.BadNamespaceError):
        sio.emit("echo", 1)


def test_auth_headers_and_query(server, make_client):
    sio = make_client()
    sio.connect(
        server.url + "/ignored/path?room=blue&n=1",
        headers={"X-Compat": "yes"},
        auth={"token": "t", "n": 1},
        transports=TRANSPORTS,
    )
    me = sio.call("whoami", timeout=WAIT)
    assert me["auth"] == {"token": "t", "n": 1}
    assert me["headers"]["x-compat"] == "yes"
    assert me["query"]["room"] == "blue" and me["query"]["n"] == "1"
    assert me["nsp"] == "/"


def test_callables_for_url_headers_and_auth(server, make_client):
    sio = make_client()
    sio.connect(
        lambda: server.url + "?from=callable",
        headers=lambda: {"X-From": "callable"},
        auth=lambda: {"token": "from callable"},
        transports=TRANSPORTS,
    )
    me = sio.call("whoami", timeout=WAIT)
    assert me["auth"] == {"token": "from callable"}
    assert me["headers"]["x-from"] == "callable"
    assert me["query"]["from"] == "callable"


def test_polling_and_the_upgrade_to_websocket(server, make_client):
    polling = make_client()
    polling.connect(server.url, transports=["polling"])
    assert polling.transport() == "polling"
    assert polling.call("echo", (b"\x01", "polling"), timeout=WAIT) == (b"\x01", "polling")
    upgraded = make_client()
    upgraded.connect(server.url)  # polling first, then the upgrade
    until(lambda: upgraded.transport() == "websocket", "the upgrade to websocket")
    assert upgraded.call("echo", "upgraded", timeout=WAIT) == "upgraded"


def test_handlers_run_concurrently_and_may_block_on_the_connection(server, make_client):
    sio = make_client()
    answers = Recorder()

    @sio.event
    def outer():
        # blocks this handler until the server got the answer of "inner", which
        # another handler gives meanwhile
        answers(sio.call("server_call", "inner", timeout=WAIT))

    @sio.event
    def inner():
        return "from inner"

    sio.connect(server.url, transports=TRANSPORTS)
    assert sio.call("server_emit", "outer", timeout=WAIT) == "ok"
    assert answers.wait() == [(["from inner"],)]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # python-socketio's thread
def test_a_raising_handler_does_not_end_the_connection(server, make_client):
    sio = make_client()
    raised = Recorder()

    @sio.event
    def boom():
        raised()
        raise RuntimeError("handler failure on purpose")

    sio.connect(server.url, transports=TRANSPORTS)
    assert sio.call("server_emit", "boom", timeout=WAIT) == "ok"
    raised.wait()
    assert sio.call("echo", "still here", timeout=WAIT) == "still here"
    assert sio.connected


def test_connect_handlers_finish_before_connect_returns_and_may_emit(server, make_client):
    sio = make_client()
    seen = []

    @sio.on("connect", namespace="/chat")
    def connect():
        seen.append(sio.call("whoami", namespace="/chat", timeout=WAIT)["nsp"])
        sio.emit("echo", "emitted by the connect handler", namespace="/chat")

    echoed = Recorder()
    sio.on("echo", echoed, namespace="/chat")
    sio.connect(server.url, transports=TRANSPORTS)
    assert seen == ["/chat"]
    assert echoed.wait() == [("emitted by the connect handler",)]


def test_events_sent_before_the_connect_reply_reach_the_handlers(server, make_client):
    sio = make_client()
    welcome = Recorder()
    sio.on("welcome", welcome)
    sio.connect(server.url, auth={"welcome": True}, transports=TRANSPORTS)
    assert welcome.wait() == [("hi",)]


def test_background_tasks_and_sleep(make_client):
    sio = make_client()
    done = Recorder()

    def task(a, b=0):
        sio.sleep(0.01)
        done(a, b)

    handle = sio.start_background_task(task, 1, b=2)
    handle.join()
    assert done.calls == [(1, 2)]
    assert sio.sleep() is None


def test_event_decorator_with_and_without_arguments(server, make_client):
    sio = make_client()
    got = Recorder()

    @sio.event
    def plain(x):
        got("plain", x)

    @sio.event(namespace="/chat")
    def chatty(x):
        got("chatty", x)

    sio.connect(server.url, namespaces=["/", "/chat"], transports=TRANSPORTS)
    sio.call("server_emit", ("plain", 1), timeout=WAIT)
    sio.call("server_emit", ("chatty", 2), namespace="/chat", timeout=WAIT)
    assert sorted(got.wait(2)) == [("chatty", 2), ("plain", 1)]


def test_call_from_a_background_task(server, make_client):
    sio = make_client()
    sio.connect(server.url, transports=TRANSPORTS)
    calls = [Background(sio, functools.partial(sio.call, "echo", i, timeout=WAIT)) for i in range(5)]
    assert [c.result() for c in calls] == [0, 1, 2, 3, 4]


class CountingJson:
    """A json module that counts its calls."""

    def __init__(self) -> None:
        import json

        self.json = json
        self.calls = 0

    def dumps(self, *args, **kwargs):
        self.calls += 1
        return self.json.dumps(*args, **kwargs)

    def loads(self, *args, **kwargs):
        self.calls += 1
        return self.json.loads(*args, **kwargs)


@pytest.fixture
def restore_json():
    """python-socketio's json= option is process-wide (a class attribute of its packets): restore it."""
    from engineio import packet as eio_packet
    from socketio import packet as sio_packet

    saved = sio_packet.Packet.json, eio_packet.Packet.json
    yield
    sio_packet.Packet.json, eio_packet.Packet.json = saved


def test_json_option(server, make_client, restore_json):
    counting = CountingJson()
    sio = make_client(json=counting)
    sio.connect(server.url, transports=TRANSPORTS)
    before = counting.calls
    assert sio.call("echo", {"through": "the json module"}, timeout=WAIT) == {"through": "the json module"}
    assert counting.calls >= before + 2  # encoding the event, decoding the ack


def test_a_wrong_socketio_path_fails_the_connect(server, make_client, impl):
    sio = make_client(request_timeout=1)  # Node's HTTP server does not answer other paths
    errors = Recorder()
    sio.on("connect_error", errors)
    with pytest.raises(impl.exceptions.ConnectionError):
        sio.connect(server.url, socketio_path="not-socket.io", transports=["polling"])
    assert len(errors.calls) == 1  # python-socketio passes the body of the HTTP error, or None
