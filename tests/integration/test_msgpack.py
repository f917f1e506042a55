"""parser="msgpack" against the Node server using socket.io-msgpack-parser (WebSocket transport)."""

from __future__ import annotations

import importlib.util
from datetime import datetime, timedelta, timezone

import pytest

import greensio

from .helpers import WAIT, Recorder

pytestmark = pytest.mark.skipif(importlib.util.find_spec("msgpack") is None, reason="msgpack is not installed")


@pytest.fixture
def msgpack_server(start_server):
    return start_server("node", parser="msgpack")


def connect(url, **options):
    return greensio.connect(url, parser="msgpack", transports=["websocket"], force_new=True, timeout=WAIT, **options)


def test_connect_gets_the_namespace_sid(msgpack_server):
    # the CONNECT reply is {sid, pid: undefined}: notepack.io's undefined must decode
    sio = connect(msgpack_server.url)
    try:
        assert sio.connected and sio.transport == "websocket"
        assert sio.id == sio.call("whoami", timeout=WAIT)["sid"]
    finally:
        sio.disconnect()
    assert not sio.connected


def test_echo_with_ack_keeps_values_and_types(msgpack_server):
    values = (
        "text",
        "é€\U0001f600",
        "x" * 70_000,
        0,
        -1,
        2**40,
        -(2**40),
        1.5,
        True,
        False,
        None,
        [1, [2, [3]]],
        {"k": {"nested": [None, {"deep": "yes"}]}, "n": 12},
    )
    with connect(msgpack_server.url) as sio:
        assert sio.call("echo", *values, timeout=WAIT) == values
        assert sio.call("echo", timeout=WAIT) is None
        assert sio.call("echo", {1: "int keys become strings"}, timeout=WAIT) == {"1": "int keys become strings"}


def test_bytes_anywhere_round_trip_as_bytes(msgpack_server):
    payload = {"a": [b"\x00\x01", {"b": bytearray(b"\xff" * 300)}], "c": memoryview(b"mv"), "e": b""}
    with connect(msgpack_server.url) as sio:
        result = sio.call("echo", b"top", payload, timeout=WAIT)
        assert result == (b"top", {"a": [b"\x00\x01", {"b": b"\xff" * 300}], "c": b"mv", "e": b""})
        echoed = Recorder()
        sio.on("echo", echoed)
        sio.emit("echo", [b"1", b"2", b"3"], "plain")
        assert echoed.wait(1) == [([b"1", b"2", b"3"], "plain")]


def test_large_binary_round_trip(msgpack_server):
    blob = bytes(range(256)) * 2000  # 512 KB, under the default maxPayload of 1 MB
    with connect(msgpack_server.url) as sio:
        assert sio.call("echo", blob, timeout=WAIT) == blob


def test_datetimes_travel_as_javascript_dates(msgpack_server):
    when = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=timezone(timedelta(hours=2)))
    with connect(msgpack_server.url) as sio:
        result = sio.call("echo", when, timeout=WAIT)
        assert result == when and result.tzinfo == timezone.utc


def test_events_from_the_server(msgpack_server):
    with connect(msgpack_server.url) as sio:
        got = Recorder()
        sio.on("burst", got)
        done = Recorder()
        sio.on("burst_done", done)
        sio.emit("burst", 20, 100)
        assert done.wait(1) == [(20,)]
        assert got.calls == [(i, "x" * 100) for i in range(20)]
        got.calls.clear()
        sio.emit("burst", 5, 64, True)
        assert done.wait(2)[1] == (5,)
        assert got.calls == [(i, bytes(64)) for i in range(5)]


def test_a_handler_return_value_is_the_ack_the_server_asked_for(msgpack_server):
    with connect(msgpack_server.url) as sio:
        sio.on("question", lambda x: x * 2)
        sio.on("pair", lambda: ("a", b"b"))
        sio.on("nothing", lambda: None)
        sio.on("nested", lambda d: {"got": d, "bin": [b"\x00"]})
        assert sio.call("server_call", "question", 21, timeout=WAIT) == [42]
        assert sio.call("server_call", "pair", timeout=WAIT) == ["a", b"b"]
        assert sio.call("server_call", "nothing", timeout=WAIT) == []
        assert sio.call("server_call", "nested", {"k": [1]}, timeout=WAIT) == [{"got": {"k": [1]}, "bin": [b"\x00"]}]


def test_namespaces_auth_and_connect_error(msgpack_server):
    with connect(msgpack_server.url + "/chat") as chat:
        assert chat.call("whoami", timeout=WAIT)["nsp"] == "/chat"
    with connect(msgpack_server.url + "/private", auth={"token": "secret"}) as private:
        assert private.call("whoami", timeout=WAIT)["auth"] == {"token": "secret"}
    with pytest.raises(greensio.ConnectionError, match="not authorized") as info:
        connect(msgpack_server.url + "/private", reconnection=False)
    assert info.value.data == {"code": 403}


def test_server_disconnect(msgpack_server):
    sio = connect(msgpack_server.url)
    reasons = Recorder()
    sio.on("disconnect", reasons)
    try:
        sio.emit("disconnect_me")
        assert reasons.wait(1) == [("io server disconnect",)]
        assert not sio.connected
    finally:
        sio.disconnect()


def test_payload_over_max_payload_raises_and_the_connection_stays_up(msgpack_server):
    with connect(msgpack_server.url) as sio:
        with pytest.raises(greensio.PayloadTooLargeError):
            sio.emit("echo", b"x" * 2_000_000)
        with pytest.raises(greensio.PayloadTooLargeError):
            sio.emit("echo", "y" * 2_000_000)
        assert sio.call("echo", "after", timeout=WAIT) == "after"
