"""Events and acknowledgements, both ways, text and binary."""

from __future__ import annotations

from typing import Any

import gevent
import pytest
from gevent import monkey

import greensio
from greensio._core import sio as sio_codec

from .fakes import Recorder, Rig, in_os_thread

os_thread_id = monkey.get_original("threading", "get_ident")  # unpatched even if another test module patched


def test_an_emit_reaches_the_server(rig: Rig) -> None:
    sio = rig.connected()
    sio.emit("chat", "hi", {"n": 1})
    sio.send("plain")
    rig.settle()
    assert rig.server.events() == [["chat", "hi", {"n": 1}], ["message", "plain"]]
    assert [p.id for p in rig.server.received(sio_codec.EVENT)] == [None, None]


def test_an_echoing_server_sends_events_back_in_order_binary_included(rig: Rig) -> None:
    rig.server.echo_events = True
    sio = rig.connected("/echo")
    got = Recorder()
    sio.on_any(got)
    sio.emit("a", 1)
    sio.emit("b", {"blob": b"\x00"})
    rig.settle()
    assert got.calls == [("a", 1), ("b", {"blob": b"\x00"})]


def test_an_emit_on_a_namespace_carries_it(rig: Rig) -> None:
    sio = rig.connected("/chat")
    sio.emit("x", 1)
    rig.settle()
    assert rig.server.events("/chat") == [["x", 1]]


def test_a_server_event_reaches_its_handlers_in_order_after_the_catch_all(rig: Rig) -> None:
    sio = rig.connected()
    seen: list[Any] = []
    sio.on("news", lambda *args: seen.append(("on", *args)))
    sio.once("news", lambda *args: seen.append(("once", *args)))
    sio.on_any(lambda event, *args: seen.append(("any", event, *args)))
    sio.prepend_any(lambda event, *args: seen.append(("first", event)))
    rig.server.emit("news", "a", 1)
    rig.server.emit("news", "b", 2)
    rig.settle()
    assert seen == [
        ("first", "news"),
        ("any", "news", "a", 1),
        ("on", "a", 1),
        ("once", "a", 1),
        ("first", "news"),
        ("any", "news", "b", 2),
        ("on", "b", 2),
    ]


def test_events_of_a_namespace_never_joined_are_ignored(rig: Rig) -> None:
    sio = rig.connected()
    got = Recorder()
    sio.on("x", got)
    rig.server.emit("x", 1, nsp="/other")
    rig.server.emit("x", 2)
    rig.settle()
    assert got.calls == [(2,)]
    assert sio.connected


def test_the_outgoing_catch_all_sees_every_emit(rig: Rig) -> None:
    sio = rig.connected()
    out = Recorder()
    sio.on_any_outgoing(out)
    sio.emit("a", 1)
    sio.emit("b")
    assert out.calls == [("a", 1), ("b",)]


def test_a_handler_return_value_acks_the_server_event(rig: Rig) -> None:
    sio = rig.connected()
    sio.on("one", lambda x: x + 1)
    sio.on("many", lambda: (1, "two"))
    sio.on("none", lambda: None)
    rig.server.emit("one", 41, ack_id=7)
    rig.server.emit("many", ack_id=8)
    rig.server.emit("none", ack_id=9)
    rig.server.emit("nobody", ack_id=10)
    rig.settle()
    acks = [(p.id, p.data) for p in rig.server.received(sio_codec.ACK)]
    assert acks == [(7, [42]), (8, [1, "two"]), (9, [])]


def test_a_handler_that_raises_is_logged_and_acked_with_nothing(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    sio = rig.connected()

    def broken() -> None:
        raise RuntimeError("boom")

    sio.on("x", broken)
    rig.server.emit("x", ack_id=1)
    rig.settle()
    assert [(p.id, p.data) for p in rig.server.received(sio_codec.ACK)] == [(1, [])]
    assert "raised" in caplog.text and sio.connected


def test_an_emit_with_a_callback_gets_the_server_ack(rig: Rig) -> None:
    sio = rig.connected()
    got = Recorder()
    sio.emit("echo", 1, 2, callback=got)
    rig.settle()
    assert got.calls == [(1, 2)]
    assert [p.id for p in rig.server.received(sio_codec.EVENT)] == [0]


def test_call_returns_none_a_value_or_a_tuple(rig: Rig) -> None:
    sio = rig.connected()
    assert sio.call("echo") is None
    assert sio.call("echo", 5) == 5
    assert sio.call("echo", 5, "x") == (5, "x")


def test_ack_ids_grow_and_unknown_ack_ids_are_ignored(rig: Rig) -> None:
    rig.server.ack_events = False
    sio = rig.connected()
    first, second = Recorder(), Recorder()
    sio.emit("a", callback=first)
    sio.emit("b", callback=second)
    rig.settle()
    assert [p.id for p in rig.server.received(sio_codec.EVENT)] == [0, 1]
    rig.server.ack(99, "stray")
    rig.server.ack(1, "b!")
    rig.server.ack(1, "again")
    rig.settle()
    assert first.calls == [] and second.calls == [("b!",)]
    assert sio.connected


def test_binary_arguments_go_as_attachments_and_come_back_as_bytes(rig: Rig) -> None:
    sio = rig.connected()
    sio.emit("blob", b"\x00\x01", {"nested": [bytearray(b"ab"), memoryview(b"cd")]})
    rig.settle()
    assert rig.server.events() == [["blob", b"\x00\x01", {"nested": [b"ab", b"cd"]}]]
    assert rig.server.received(sio_codec.EVENT)[0].type == sio_codec.EVENT
    got = Recorder()
    sio.on("file", got)
    rig.server.emit("file", b"\xff" * 10, {"name": "f", "data": b"\x00"})
    rig.settle()
    assert got.calls == [(b"\xff" * 10, {"name": "f", "data": b"\x00"})]
    assert sio.call("echo", b"bin") == b"bin"


def test_a_binary_ack_to_a_server_event(rig: Rig) -> None:
    sio = rig.connected()
    sio.on("get", lambda: b"\x01\x02")
    rig.server.emit("get", ack_id=3)
    rig.settle()
    [ack] = rig.server.received(sio_codec.ACK)
    assert (ack.id, ack.data) == (3, [b"\x01\x02"])


def test_binary_attachments_larger_than_max_message_size_are_a_parse_error(rig: Rig) -> None:
    sio = rig.connected(max_message_size=100)
    closes = Recorder()
    sio.on("disconnect", closes)
    rig.server.emit("file", b"x" * 200)
    rig.settle()
    assert closes.calls == [("parse error",)]


@pytest.mark.parametrize("name", ["connect", "connect_error", "disconnect", "disconnecting", "newListener"])
def test_reserved_event_names_cannot_be_emitted(rig: Rig, name: str) -> None:
    sio = rig.connected()
    with pytest.raises(ValueError, match="reserved event name"):
        sio.emit(name)
    with pytest.raises(ValueError, match="reserved event name"):
        sio.call(name)


def test_an_event_name_must_be_a_string(rig: Rig) -> None:
    sio = rig.connected()
    with pytest.raises(TypeError, match="event name must be a str"):
        sio.emit(42)  # type: ignore[arg-type]


def test_unencodable_arguments_raise_and_free_their_ack_slot(rig: Rig) -> None:
    sio = rig.connected()
    with pytest.raises(TypeError):
        sio.emit("x", object(), callback=Recorder())
    assert sio._ns.session.acks == {}
    assert sio.call("echo", 1) == 1


def test_a_packet_larger_than_the_server_max_payload_raises_before_anything_is_written(rig: Rig) -> None:
    rig.server.max_payload = 100
    sio = rig.connected()
    with pytest.raises(greensio.PayloadTooLargeError, match="maxPayload of 100 bytes"):
        sio.emit("big", "x" * 200)
    with pytest.raises(greensio.PayloadTooLargeError):
        sio.emit("big", b"x" * 101)
    sio.emit("small", "x" * 50)
    rig.settle()
    assert rig.server.events() == [["small", "x" * 50]]
    assert sio.connected


def test_over_polling_binary_counts_as_base64_against_max_payload(rig: Rig) -> None:
    rig.server.max_payload = 100
    rig.server.upgrades = []
    sio = rig.connected()
    with pytest.raises(greensio.PayloadTooLargeError):
        sio.emit("bin", b"x" * 90)  # 1 + 4 * 30 = 121 bytes as "b" + base64


def test_with_a_timeout_a_too_large_packet_goes_to_the_error_first_callback(rig: Rig) -> None:
    rig.server.max_payload = 100
    sio = rig.connected()
    got = Recorder()
    sio.emit("big", "x" * 200, callback=got, timeout=5)
    rig.settle()
    [(err,)] = got.calls
    assert isinstance(err, greensio.PayloadTooLargeError)
    assert sio._ns.session.acks == {}
    with pytest.raises(greensio.PayloadTooLargeError):
        sio.call("big", "x" * 200, timeout=5)


def test_a_volatile_emit_while_disconnected_is_dropped(rig: Rig) -> None:
    sio = rig.socket(socket={"auto_connect": False})
    got = Recorder()
    sio.emit("gone", volatile=True, callback=got)
    assert sio.manager.stats.buffered == 0
    sio.connect(timeout=5)
    rig.settle()
    assert rig.server.events() == []
    assert sio._ns.session.acks == {}


def test_a_volatile_emit_is_dropped_while_the_writer_is_busy(rig: Rig) -> None:
    rig.server.ws_accepting = False
    sio = rig.connected()
    assert sio.transport == "websocket"
    rig.server.transport.write_gate.clear()
    sio.emit("kept")
    rig.settle()
    sio.emit("dropped", volatile=True, callback=Recorder())
    sio.emit("kept too")
    rig.server.transport.write_gate.set()
    rig.settle()
    assert rig.server.events() == [["kept"], ["kept too"]]
    assert sio._ns.session.acks == {}
    sio.emit("sent", volatile=True)
    rig.settle()
    assert rig.server.events()[-1] == ["sent"]


def test_wait_for_returns_the_next_matching_event(rig: Rig) -> None:
    sio = rig.connected()

    def later() -> None:
        rig.server.emit("score", 1)
        rig.server.emit("score", 5, "final")

    gevent.spawn(later)
    assert sio.wait_for("score", timeout=5, predicate=lambda n, *rest: n > 1) == (5, "final")
    assert sio.listeners("score") == []
    with pytest.raises(greensio.TimeoutError, match="no 'score' event within 0.01 s"):
        sio.wait_for("score", timeout=0.01)


def test_emit_threadsafe_from_another_thread_is_sent_and_its_callback_runs_in_the_hub_thread(rig: Rig) -> None:
    sio = rig.connected()
    threads: list[int] = []
    done = Recorder()

    def callback(*args: Any) -> None:
        threads.append(os_thread_id())
        done(*args)

    assert in_os_thread(lambda: sio.emit_threadsafe("echo", 1, callback=callback)) is None
    assert done.called.wait(5)
    assert rig.server.events() == [["echo", 1]]
    assert threads == [os_thread_id()] and done.calls == [(1,)]


def test_emit_threadsafe_logs_an_emit_that_fails(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    sio = rig.connected()
    done = Recorder()

    def from_thread() -> None:
        sio.emit_threadsafe("connect")
        sio.emit_threadsafe("echo", callback=done)

    assert in_os_thread(from_thread) is None
    assert done.called.wait(5)
    assert "emit_threadsafe('connect') failed" in caplog.text
    assert rig.server.events() == [["echo"]]


def test_a_msgpack_socket_talks_to_a_msgpack_server(rig: Rig) -> None:
    pytest.importorskip("msgpack")
    rig.server.use_msgpack()
    sio = rig.connected(parser="msgpack")
    got = Recorder()
    sio.on("x", got)
    rig.server.emit("x", {"a": [1, b"\x00"]})
    rig.settle()
    assert got.calls == [({"a": [1, b"\x00"]},)]
    assert sio.call("echo", b"\x01", 2) == (b"\x01", 2)
