"""Namespaces: which ones connect, catch-all events and namespaces, class-based namespaces."""

from __future__ import annotations

from typing import Any

import pytest

from .helpers import TRANSPORTS, WAIT, Recorder


def test_without_namespaces_only_those_with_handlers_connect(server, make_client, impl):
    sio = make_client()
    sio.on("anything", lambda: None, namespace="/chat")
    sio.connect(server.url, transports=TRANSPORTS)
    assert list(sio.namespaces) == ["/chat"]
    assert sio.get_sid("/") is None
    with pytest.raises(impl.exceptions.BadNamespaceError):
        sio.emit("echo", 1)
    assert sio.call("whoami", namespace="/chat", timeout=WAIT)["nsp"] == "/chat"


def test_without_handlers_the_default_namespace_connects(server, make_client):
    sio = make_client()
    sio.on("x", lambda: None, namespace="*")  # the catch-all namespace is not joined itself
    sio.connect(server.url, transports=TRANSPORTS)
    assert list(sio.namespaces) == ["/"]


def test_namespaces_as_a_string_or_a_list(server, make_client):
    one = make_client()
    one.connect(server.url, namespaces="/chat", transports=TRANSPORTS)
    assert list(one.namespaces) == ["/chat"]
    both = make_client()
    both.connect(server.url, namespaces=["/", "/chat"], transports=TRANSPORTS)
    assert sorted(both.namespaces) == ["/", "/chat"]
    assert both.get_sid("/") != both.get_sid("/chat")
    for name in ("/", "/chat"):
        me = both.call("whoami", namespace=name, timeout=WAIT)
        assert (me["nsp"], me["sid"]) == (name, both.get_sid(name))


def test_catch_all_event_handler_gets_the_event_name_first(server, make_client):
    sio = make_client()
    anything, known = Recorder(result="from the catch-all"), Recorder()
    connects = Recorder()
    sio.on("*", anything)
    sio.on("known", known)
    sio.on("connect", connects)
    sio.connect(server.url, transports=TRANSPORTS)
    sio.call("server_emit", ("known", 1), timeout=WAIT)
    sio.call("server_emit", ("unknown", 1, "b"), timeout=WAIT)
    assert known.wait() == [(1,)]
    assert anything.wait() == [("unknown", 1, "b")]
    # its return value is the ack; connect/disconnect never reach it
    assert sio.call("server_call", ("asked", 2), timeout=WAIT) == ["from the catch-all"]
    sio.disconnect()
    assert connects.calls == [()]
    assert [c[0] for c in anything.calls] == ["unknown", "asked"]


def test_catch_all_namespace_handlers(server, make_client):
    sio = make_client()
    per_event, everything, connects, disconnects = Recorder(), Recorder(), Recorder(), Recorder()
    sio.on("ping_all", per_event, namespace="*")
    sio.on("*", everything, namespace="*")
    sio.on("connect", connects, namespace="*")
    sio.on("disconnect", disconnects, namespace="*")
    sio.connect(server.url, namespaces=["/", "/chat"], transports=TRANSPORTS)
    assert sorted(connects.calls) == [("/",), ("/chat",)]  # the namespace comes first
    sio.call("server_emit", ("ping_all", 1), namespace="/chat", timeout=WAIT)
    sio.call("server_emit", ("other", 2), timeout=WAIT)
    assert per_event.wait() == [("/chat", 1)]
    assert everything.wait() == [("other", "/", 2)]  # event, then namespace
    sio.disconnect()
    assert sorted(disconnects.wait(2)) == [("/", "client disconnect"), ("/chat", "client disconnect")]


def test_a_namespace_with_handlers_does_not_fall_back_to_the_catch_all_namespace(server, make_client):
    sio = make_client()
    fallback, own = Recorder(), Recorder()
    sio.on("only_in_star", fallback, namespace="*")
    sio.on("own", own, namespace="/chat")
    sio.connect(server.url, namespaces=["/", "/chat"], transports=TRANSPORTS)
    sio.call("server_emit", "only_in_star", namespace="/chat", timeout=WAIT)
    sio.call("server_emit", "only_in_star", timeout=WAIT)
    sio.call("server_emit", ("own", 1), namespace="/chat", timeout=WAIT)
    assert own.wait() == [(1,)]
    assert fallback.wait() == [("/",)]


def test_disconnect_handlers_with_or_without_the_reason(server, make_client):
    sio = make_client()
    seen: list[object] = []

    @sio.on("disconnect")
    def without_reason():
        seen.append("/")

    @sio.on("disconnect", namespace="/chat")
    def with_reason(reason):
        seen.append(("/chat", reason))

    sio.connect(server.url, namespaces=["/", "/chat"], transports=TRANSPORTS)
    sio.disconnect()  # the handlers have run when it returns
    assert sorted(seen, key=repr) == sorted(["/", ("/chat", "client disconnect")], key=repr)


def make_namespace_class(impl, record):
    ClientNamespace: Any = impl.ClientNamespace  # socketio's or greensio.compat's

    class Chat(ClientNamespace):
        def on_connect(self):
            record("connect", self.namespace)

        def on_disconnect(self, reason):
            record("disconnect", reason)

        def on_news(self, item):
            record("news", item)
            return "read", item

        def on_ask_back(self):
            return self.call("whoami")["nsp"]

    return Chat


def test_class_based_namespace(server, make_client, impl):
    sio = make_client()
    record = Recorder()
    chat = make_namespace_class(impl, record)("/chat")
    sio.register_namespace(chat)
    assert chat.client is sio and chat.namespace == "/chat"
    sio.connect(server.url, transports=TRANSPORTS)  # /chat has a handler: only it connects
    assert list(sio.namespaces) == ["/chat"]
    assert record.calls == [("connect", "/chat")]
    # emit/send/call of the namespace default to its namespace
    assert chat.call("echo", (1, 2), timeout=WAIT) == (1, 2)
    acked = Recorder()
    chat.emit("echo", "via the namespace", callback=acked)
    assert acked.wait() == [("via the namespace",)]
    chat.send("a message")
    assert sio.call("server_call", ("news", "n1"), namespace="/chat", timeout=WAIT) == ["read", "n1"]
    assert sio.call("server_call", "ask_back", namespace="/chat", timeout=WAIT) == ["/chat"]
    assert sio.call("server_call", "no_method", namespace="/chat", timeout=WAIT) == []
    chat.disconnect()  # the whole client, as python-socketio does
    assert not sio.connected
    assert record.wait(3)[-1] == ("disconnect", "client disconnect")


def test_class_based_namespace_legacy_disconnect_and_trigger_event_override(server, make_client, impl):
    sio = make_client()
    record = Recorder()

    ClientNamespace: Any = impl.ClientNamespace  # socketio's or greensio.compat's

    class Legacy(ClientNamespace):
        def on_disconnect(self):  # no reason parameter
            record("disconnect")

    class Routed(ClientNamespace):
        def trigger_event(self, event, *args):
            record("routed", event, *args)
            return event.upper()

    sio.register_namespace(Legacy("/"))
    sio.register_namespace(Routed("/chat"))
    sio.connect(server.url, transports=TRANSPORTS)
    assert sorted(sio.namespaces) == ["/", "/chat"]
    assert sio.call("server_call", ("shout", 1), namespace="/chat", timeout=WAIT) == ["SHOUT"]
    sio.disconnect()
    calls = record.wait(3)
    assert ("disconnect",) in calls
    assert ("routed", "connect") in calls and ("routed", "shout", 1) in calls
    assert ("routed", "disconnect", "client disconnect") in calls


def test_catch_all_class_namespace_gets_the_namespace_first(server, make_client, impl):
    sio = make_client()
    record = Recorder()

    ClientNamespace: Any = impl.ClientNamespace  # socketio's or greensio.compat's

    class Everything(ClientNamespace):
        def on_connect(self, namespace):
            record("connect", namespace)

        def on_tick(self, namespace, n):
            record("tick", namespace, n)

    sio.register_namespace(Everything("*"))
    sio.connect(server.url, namespaces=["/chat"], transports=TRANSPORTS)
    sio.call("server_emit", ("tick", 7), namespace="/chat", timeout=WAIT)
    assert record.wait(2) == [("connect", "/chat"), ("tick", "/chat", 7)]


def test_function_handlers_win_over_the_class_namespace(server, make_client, impl):
    sio = make_client()
    record = Recorder()

    ClientNamespace: Any = impl.ClientNamespace  # socketio's or greensio.compat's

    class Chat(ClientNamespace):
        def on_news(self, item):
            record("method", item)

    sio.register_namespace(Chat("/chat"))
    sio.on("news", lambda item: record("function", item), namespace="/chat")
    sio.connect(server.url, transports=TRANSPORTS)
    sio.call("server_emit", ("news", 1), namespace="/chat", timeout=WAIT)
    assert record.wait() == [("function", 1)]


def test_register_namespace_rejects_other_objects(make_client):
    sio = make_client()
    with pytest.raises(ValueError):
        sio.register_namespace(object())
