"""Connecting: the Engine.IO open, the namespace CONNECT and its reply, refusals, held events."""

from __future__ import annotations

import logging
import re
from typing import Any

import gevent
import pytest

import greensio
from greensio._core import sio as sio_codec
from greensio._core.session import MAX_HELD
from greensio._io.transport import Packet
from greensio._manager import ManagerState

from .fakes import Recorder, Rig


def test_a_socket_opens_polling_then_joins_its_namespace(rig: Rig) -> None:
    rig.server.upgrades = []
    sio = rig.connected()
    assert sio.connected and not sio.disconnected and sio.active
    assert sio.id == "sio1"
    assert sio.transport == "polling"
    assert sio.manager.sid == "eio1"
    assert sio.manager.transport == "polling"
    assert sio.manager.state is ManagerState.OPEN
    [(name, params)] = rig.server.opens
    assert name == "polling"
    assert params.url == "http://server.test:3000/socket.io/?EIO=4&transport=polling"
    assert (params.host, params.port) == ("server.test", 3000)
    assert rig.server.connects() == [None]
    assert repr(sio) == "<greensio.Socket / connected>"
    assert repr(sio.manager) == "<greensio.Manager http://server.test:3000/socket.io open>"


def test_the_socket_id_is_the_namespace_sid_not_the_engine_sid(rig: Rig) -> None:
    sio = rig.connected("/chat")
    assert sio.namespace == "/chat"
    assert rig.server.connects("/chat") == [None]
    assert sio.id == "sio1" and sio.manager.sid == "eio1"


def test_the_auth_dict_goes_in_the_connect_packet(rig: Rig) -> None:
    rig.connected(socket={"auth": {"token": "t"}})
    assert rig.server.connects() == [{"token": "t"}]


def test_an_auth_callable_is_called_on_every_connect(rig: Rig) -> None:
    calls: list[int] = []

    def auth() -> dict[str, Any]:
        calls.append(1)
        return {"n": len(calls)}

    sio = rig.connected(socket={"auth": auth})
    rig.server.drop()
    rig.clock.advance(5)
    assert sio.connected
    assert rig.server.connects() == [{"n": 1}, {"n": 2}]


def test_an_auth_callable_that_raises_fails_the_connect_for_good(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    def auth() -> dict[str, Any]:
        raise RuntimeError("no token")

    sio = rig.socket(socket={"auth": auth, "auto_connect": False})
    errors = Recorder()
    sio.on("connect_error", errors)
    with pytest.raises(greensio.ConnectionError, match="auth callable raised: no token"):
        sio.connect(timeout=5)
    rig.settle()
    assert [type(e) for (e,) in errors] == [greensio.ConnectionError]
    assert not sio.active
    assert rig.server.connects() == []
    assert "the auth callable of / raised" in caplog.text


def test_a_refused_namespace_fires_connect_error_with_the_server_data_and_does_not_retry(rig: Rig) -> None:
    rig.server.refusals["/"] = ("not authorized", {"code": 4})
    sio = rig.socket(socket={"auto_connect": False})
    errors = Recorder()
    sio.on("connect_error", errors)
    with pytest.raises(greensio.ConnectionError, match="not authorized") as raised:
        sio.connect(timeout=5)
    assert raised.value.data == {"code": 4}
    rig.settle()
    [(err,)] = errors.calls
    assert str(err) == "not authorized" and err.data == {"code": 4}
    assert not sio.active and sio.wait(timeout=0)
    rig.clock.advance(10)
    assert len(rig.server.sessions) == 1


@pytest.mark.parametrize(
    ("type", "data", "message"),
    [
        (sio_codec.CONNECT_ERROR, "go away", "^go away$"),
        (sio_codec.CONNECT, {"nosid": 1}, "CONNECT reply without a sid"),
    ],
    ids=["CONNECT_ERROR with a plain string", "CONNECT without a sid"],
)
def test_a_connect_reply_that_refuses_ends_the_socket(rig: Rig, type: int, data: Any, message: str) -> None:
    rig.server.answer_connects = False
    sio = rig.socket(socket={"auto_connect": False})
    errors = Recorder()
    sio.on("connect_error", errors)
    sio.connect(wait=False)
    rig.settle()
    rig.server.send(*rig.server.frames(type, "/", data))
    rig.settle()
    assert not sio.active
    [(err,)] = errors.calls
    assert isinstance(err, greensio.ConnectionError) and err.data is None
    assert re.search(message, str(err))


def test_websocket_only_opens_a_websocket(rig: Rig) -> None:
    sio = rig.connected(transports=["websocket"])
    assert sio.transport == "websocket"
    [(name, params)] = rig.server.opens
    assert name == "websocket"
    assert params.url == "ws://server.test:3000/socket.io/?EIO=4&transport=websocket"


def test_query_and_headers_go_to_the_transport_and_callables_are_called_per_connect(rig: Rig) -> None:
    count = [0]

    def query() -> dict[str, str]:
        count[0] += 1
        return {"try": str(count[0])}

    sio = rig.connected(query=query, extra_headers={"X-Token": "abc"}, upgrade=False)
    rig.server.drop()
    rig.clock.advance(5)
    assert sio.connected
    urls = [params.url for _, params in rig.server.opens]
    assert urls == [
        "http://server.test:3000/socket.io/?try=1&EIO=4&transport=polling",
        "http://server.test:3000/socket.io/?try=2&EIO=4&transport=polling",
    ]
    assert all(params.headers == {"X-Token": "abc"} for _, params in rig.server.opens)


def test_a_query_callable_returning_garbage_fails_the_attempt_with_a_clear_error(rig: Rig) -> None:
    sio = rig.socket(query=lambda: 42, reconnection=False, socket={"auto_connect": False})
    with pytest.raises(greensio.ConnectionError, match="cannot connect: query must be a dict"):
        sio.connect(timeout=5)


def test_cookies_from_the_polling_handshake_go_with_the_upgrade(rig: Rig) -> None:
    rig.server.cookies = {"lb": "node-2"}
    sio = rig.connected()
    assert sio.transport == "websocket"
    (_, polling), (_, websocket) = rig.server.opens
    assert "Cookie" not in polling.headers
    assert websocket.headers["Cookie"] == "lb=node-2"
    assert websocket.url.endswith("transport=websocket&sid=eio1")


@pytest.mark.parametrize(
    ("handshake", "message"),
    [
        (b"\x00binary", "expected an OPEN packet, got binary data"),
        ("4hello", "expected an OPEN packet"),
        ('0{"sid": ""}', "invalid handshake"),
    ],
)
def test_a_server_that_does_not_speak_engine_io_fails_the_attempt(rig: Rig, handshake: Packet, message: str) -> None:
    rig.server.handshake = handshake
    sio = rig.socket(reconnection=False, socket={"auto_connect": False})
    with pytest.raises(greensio.ConnectionError, match=message):
        sio.connect(timeout=5)
    assert rig.server.sessions[0].transport.closed


def test_a_refused_open_without_reconnection_fails_connect_with_the_cause(rig: Rig) -> None:
    rig.server.refuse(1, "cannot connect to server.test:3000: [Errno 111] Connection refused")
    sio = rig.socket(reconnection=False, socket={"auto_connect": False})
    with pytest.raises(greensio.ConnectionError, match="Connection refused"):
        sio.connect(timeout=5)
    assert not sio.active


def test_an_open_that_takes_longer_than_timeout_fails_with_timeout(rig: Rig) -> None:
    rig.server.open_gate.clear()
    sio = rig.socket(reconnection=False, timeout=0.01, socket={"auto_connect": False})
    with pytest.raises(greensio.ConnectionError) as raised:
        sio.connect(timeout=5)
    assert str(raised.value) == "no answer from http://server.test:3000/socket.io/ within 0.01 s"
    rig.server.open_gate.set()


def test_a_zero_timeout_fails_before_any_io(rig: Rig) -> None:
    sio = rig.socket(reconnection=False, timeout=0, socket={"auto_connect": False})
    with pytest.raises(greensio.ConnectionError, match="^timeout$"):
        sio.connect(timeout=5)
    assert rig.server.opens == []


def test_connect_with_a_timeout_raises_timeout_error_chained_to_the_last_attempt(rig: Rig) -> None:
    rig.server.refuse(100, "refused")
    sio = rig.socket(socket={"auto_connect": False})
    with pytest.raises(greensio.TimeoutError, match="not connected to / within 0.01 s") as raised:
        sio.connect(timeout=0.01)
    assert isinstance(raised.value.__cause__, greensio.ConnectionError)
    assert str(raised.value.__cause__) == "refused"


def test_connect_on_a_connected_socket_returns_at_once(rig: Rig) -> None:
    sio = rig.connected()
    assert sio.connect() is sio
    assert sio.open(wait=False) is sio
    assert len(rig.server.sessions) == 1


def test_the_with_statement_connects_and_disconnects(rig: Rig) -> None:
    sio = rig.socket(socket={"auto_connect": False})
    with sio as entered:
        assert entered is sio and sio.connected
    assert not sio.active
    assert rig.server.received(sio_codec.DISCONNECT) != []


def test_handlers_registered_before_yielding_see_the_first_connect(rig: Rig) -> None:
    sio = rig.socket()
    connected = Recorder()
    sio.on("connect", connected)
    rig.settle()
    assert connected.calls == [()]
    assert sio.connected


def test_the_no_reply_to_connect_within_timeout_fails_the_attempt_and_the_connection_is_retried(rig: Rig) -> None:
    rig.server.silent.add("/")
    sio = rig.socket(timeout=5, socket={"auto_connect": False})
    errors, closes = Recorder(), Recorder()
    sio.on("connect_error", errors)
    sio.manager.on("close", closes)
    sio.connect(wait=False)
    rig.clock.advance(4.9)
    assert errors.calls == [] and len(rig.server.sessions) == 1
    rig.clock.advance(0.1)
    [(err,)] = errors.calls
    assert str(err) == "no CONNECT reply for / within the timeout"
    assert closes.calls == [("transport error",)]
    assert rig.server.sessions[0].transport.closed
    assert sio.active
    rig.server.silent.clear()
    rig.clock.advance(5)
    assert sio.connected and len(rig.server.sessions) == 2


def test_a_connect_timeout_does_not_drop_a_connection_another_namespace_uses(rig: Rig) -> None:
    manager = rig.manager(timeout=5)
    main = manager.socket("/")
    rig.settle()
    assert main.connected
    rig.server.silent.add("/slow")
    slow = manager.socket("/slow")
    errors = Recorder()
    slow.on("connect_error", errors)
    rig.clock.advance(5)
    assert len(errors) == 1
    assert main.connected and len(rig.server.sessions) == 1


def test_events_sent_before_the_connect_reply_are_delivered_after_it_before_the_connect_handlers(rig: Rig) -> None:
    server = rig.server
    server.before_connect_reply = [server.frames(sio_codec.EVENT, "/", ["welcome", 1]), ["2"]]
    sio = rig.socket(socket={"auto_connect": False})
    seen: list[Any] = []
    sio.on("welcome", lambda n: seen.append(("welcome", n, sio.connected, sio.id)))
    sio.on("connect", lambda: seen.append(("connect",)))
    sio.connect(timeout=5)
    rig.settle()
    assert seen == [("welcome", 1, True, "sio1"), ("connect",)]
    assert server.pongs == 1


def test_more_than_the_held_limit_before_the_connect_reply_is_a_parse_error(rig: Rig) -> None:
    server = rig.server
    server.answer_connects = False
    sio = rig.socket(socket={"auto_connect": False})
    closes, errors = Recorder(), Recorder()
    sio.manager.on("close", closes)
    sio.manager.on("error", errors)
    sio.connect(wait=False)
    rig.settle()
    server.send(*[p for _ in range(MAX_HELD) for p in server.frames(sio_codec.EVENT, "/", ["x"])])
    rig.settle()
    assert closes.calls == []
    server.emit("x")
    rig.settle()
    assert closes.calls == [("parse error",)]
    [(err,)] = errors.calls
    assert isinstance(err, greensio.ProtocolError) and "before answering its CONNECT" in str(err)
    held = sio._ns.session.held
    assert held == []


def test_a_failing_background_socket_warns_once_per_streak_then_at_most_once_a_minute(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, "greensio")
    rig.server.refuse(100, "refused")
    rig.socket(reconnection_delay=10, reconnection_delay_max=10, randomization_factor=0)
    rig.settle()
    for _ in range(7):
        rig.clock.advance(10)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["cannot connect to http://server.test:3000/socket.io: refused (reconnecting with backoff)"] * 2
    assert len(rig.server.opens) == 8


def test_the_dial_resolves_the_proxy_from_the_option_or_the_environment(rig: Rig) -> None:
    from greensio._core.url import parse_url
    from greensio._dial import choose_proxy
    from greensio._options import ManagerOptions

    target = parse_url("http://server.test:3000")
    env = {"HTTP_PROXY": "http://envproxy:8080"}
    assert choose_proxy(target, ManagerOptions(), env) is None
    found = choose_proxy(target, ManagerOptions(trust_env=True), env)
    assert found is not None and (found.host, found.port) == ("envproxy", 8080)
    given = choose_proxy(target, ManagerOptions(proxy="socks5://p:1080", trust_env=True), env)
    assert given is not None and (given.scheme, given.host) == ("socks5", "p")
    rig.connected(proxy="http://p:3128", upgrade=False)
    [(_, params)] = rig.server.opens
    assert params.proxy is not None and params.proxy.host == "p"


def test_a_tls_url_gets_a_tls_context(rig: Rig) -> None:
    manager = rig.manager("https://server.test", upgrade=False)
    manager.socket("/")
    rig.settle()
    [(_, params)] = rig.server.opens
    assert params.ssl_context is not None
    assert params.url.startswith("https://server.test:443/")


def test_a_handshake_response_may_carry_packets_after_the_open(rig: Rig) -> None:
    rig.server.first_packets = ["2"]
    rig.connected(upgrade=False)
    assert rig.server.pongs == 1


def test_connect_from_a_greenlet_and_a_timeout_that_frees_the_waiter(rig: Rig) -> None:
    rig.server.answer_connects = False
    sio = rig.socket(socket={"auto_connect": False})
    waiter = gevent.spawn(sio.connect, timeout=0.01)
    with pytest.raises(greensio.TimeoutError):
        waiter.get(timeout=5)
    assert sio._ns._waiters == []


def test_a_refused_socket_gets_one_connect_error_not_a_second_one_when_the_connect_timeout_passes(rig: Rig) -> None:
    rig.server.refusals["/"] = ("not authorized", None)
    sio = rig.socket(timeout=5, socket={"auto_connect": False})
    errors = Recorder()
    sio.on("connect_error", errors)
    with pytest.raises(greensio.ConnectionError):
        sio.connect(timeout=5)
    rig.clock.advance(5)
    assert [str(err) for (err,) in errors] == ["not authorized"]


def test_a_socket_disconnected_while_its_connect_is_unanswered_gets_no_connect_error_later(rig: Rig) -> None:
    rig.server.silent.add("/")
    sio = rig.socket(timeout=5)
    errors = Recorder()
    sio.on("connect_error", errors)
    rig.settle()
    assert rig.server.connects() == [None]
    sio.disconnect()
    rig.clock.advance(5)
    assert errors.calls == []
