"""greensio against Socket.IO 2.x servers (socket.io 2.5.1, python-socketio 4.6.1): detection, forced
protocols, refusals, the client's heartbeat, the upgrade, reconnection, binary, UTF-16 lengths, compression.

The scenarios shared with the reference client are in test_reference_client.py; these are greensio's own.
Every open attempt is recorded (``Opens``) so that detection is asserted request by request.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlsplit

import gevent
import pytest
from gevent.event import AsyncResult

import greensio
from greensio import _registry
from greensio._core.protocol import V3, V4
from greensio._io.factory import GeventTransports
from greensio._io.transport import ConnectParams, Packet
from tests.integration.helpers import WAIT, Recorder
from tests.servers.process import ServerProcess

pytestmark = pytest.mark.timeout(60)

FAST: dict[str, Any] = {"reconnection_delay": 0.05, "reconnection_delay_max": 0.2, "timeout": WAIT}
SETTINGS = {"polling": ["polling"], "websocket": ["websocket"], "upgrade": ["polling", "websocket"]}
EMOJI = "\U0001f600 \u00e9 \U00010348\u20ac"


@pytest.fixture(autouse=True)
def _forget_protocols() -> Iterator[None]:
    """Each test detects from scratch (the process remembers each server's protocol)."""
    _registry._protocols.clear()
    yield
    _registry._protocols.clear()


class Opens(GeventTransports):
    """The default transports, recording ``(transport, EIO)`` of every open attempt."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def _record(self, name: str, params: ConnectParams) -> None:
        query = parse_qs(urlsplit(params.url).query)
        self.log.append((name + ("+sid" if "sid" in query else ""), query["EIO"][0]))

    def open_polling(self, params: ConnectParams) -> tuple[Any, list[Packet]]:
        self._record("polling", params)
        return super().open_polling(params)

    def open_websocket(self, params: ConnectParams) -> Any:
        self._record("websocket", params)
        return super().open_websocket(params)


def manager(url: str, opens: Optional[Opens] = None, **options: Any) -> greensio.Manager:
    return greensio.Manager(url, _transports=opens or Opens(), **{**FAST, **options})


def connected(
    url: str, opens: Optional[Opens] = None, namespace: str = "/", auth: Any = None, **options: Any
) -> greensio.Socket:
    """A socket connected on a new Manager (``options``: the Manager's)."""
    sio = manager(url, opens, **options).socket(namespace, auth=auth, auto_connect=False)
    return sio.connect(timeout=WAIT)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    with gevent.Timeout(WAIT, AssertionError(f"timed out waiting for {what}")):
        while not condition():
            gevent.sleep(0.01)


def handshake_eio(sio: greensio.Socket) -> str:
    """The EIO of the handshake request, as the server saw it (its ``whoami``)."""
    eio: str = sio.call("whoami", timeout=WAIT)["query"]["EIO"]
    return eio


# -- detection ------------------------------------------------------------------------------------

# what one connection asks, per server and first transport, when nothing is remembered
DETECTION = {
    # socket.io 2.x answers EIO=4 polling in v3: adopted as it is (no second request)
    ("node2", "polling"): [("polling", "4")],
    # python-socketio 4 refuses EIO=4 (HTTP 400): asked again in v3
    ("py4", "polling"): [("polling", "4"), ("polling", "3")],
    # socket.io 2.x: an OPEN without maxPayload, then its "40": adopted in place
    ("node2", "websocket"): [("websocket", "4")],
    # python-socketio 4 closes a WebSocket of EIO=4 before any packet: opened again in v3
    ("py4", "websocket"): [("websocket", "4"), ("websocket", "3")],
}


@pytest.mark.parametrize("first", ["polling", "websocket"])
def test_detection_per_server_and_first_transport_then_remembered(v3_server: ServerProcess, first: str) -> None:
    opens = Opens()
    sio = connected(v3_server.url, opens, transports=[first])
    try:
        assert opens.log == DETECTION[v3_server.kind, first]
        assert sio.manager.stats.connects == 1
        assert sio.call("echo", "detected", timeout=WAIT) == "detected"
        # the handshake's EIO as the server saw it: socket.io 2.x kept the EIO=4 request
        assert handshake_eio(sio) == ("4" if v3_server.kind == "node2" else "3")
    finally:
        sio.disconnect()
    assert _registry.protocol_for(("http", "127.0.0.1", v3_server.port, "/socket.io")) is V3

    again = Opens()  # another Manager of the same process: v3 at once
    sio = connected(v3_server.url, again, transports=[first])
    try:
        assert again.log == [(first, "3")]
        assert handshake_eio(sio) == "3"
    finally:
        sio.disconnect()


def test_the_upgrade_asks_in_the_detected_protocol(v3_server: ServerProcess) -> None:
    opens = Opens()
    sio = connected(v3_server.url, opens)
    try:
        wait_until(lambda: sio.transport == "websocket", "the upgrade")
        assert opens.log == [*DETECTION[v3_server.kind, "polling"], ("websocket+sid", "3")]
        assert sio.call("echo", b"\x00\xff", "up", timeout=WAIT) == (b"\x00\xff", "up")
    finally:
        sio.disconnect()


def test_v4_servers_are_asked_once_in_v4(server: ServerProcess) -> None:
    for first in ("polling", "websocket"):
        opens = Opens()
        sio = connected(server.url, opens, transports=[first])
        try:
            assert opens.log == [(first, "4")]
            assert sio.call("echo", "v4", timeout=WAIT) == "v4"
        finally:
            sio.disconnect()
    assert _registry.protocol_for(("http", "127.0.0.1", server.port, "/socket.io")) is V4


def test_a_remembered_v3_server_that_now_speaks_v4_is_detected_again(server: ServerProcess) -> None:
    _registry.remember_protocol(("http", "127.0.0.1", server.port, "/socket.io"), V3)
    for first in ("polling", "websocket"):
        opens = Opens()
        sio = connected(server.url, opens, transports=[first])
        try:
            assert opens.log == [(first, "3"), (first, "4")]
            assert sio.call("echo", "v4 again", timeout=WAIT) == "v4 again"
        finally:
            sio.disconnect()
        _registry.remember_protocol(("http", "127.0.0.1", server.port, "/socket.io"), V3)


# -- forced protocols -------------------------------------------------------------------------------

V3_SERVER = "speaks Engine.IO v3 (Socket.IO 2.x): leave protocol unset or use protocol=3"
NOT_V3 = "does not speak Engine.IO v3 (it is a Socket.IO 3+ server): leave protocol unset or use 4"
CLOSED_BEFORE_OPEN = "before the Engine.IO OPEN (with protocol="


def forced_failure(url: str, first: str, protocol: int) -> tuple[str, list[tuple[str, str]]]:
    """The message of a connect forcing ``protocol``, and the requests it made."""
    opens = Opens()
    with pytest.raises(greensio.ConnectionError) as caught:
        connected(url, opens, transports=[first], protocol=protocol, reconnection=False)
    return str(caught.value), opens.log


@pytest.mark.parametrize("first", ["polling", "websocket"])
def test_protocol_4_against_a_v3_server_fails_with_a_clear_message(v3_server: ServerProcess, first: str) -> None:
    message, requests = forced_failure(v3_server.url, first, 4)
    if first == "websocket" and v3_server.kind == "py4":  # a close before any packet: it cannot tell more
        assert message.startswith("the server closed the WebSocket " + CLOSED_BEFORE_OPEN + "4")
    else:
        scheme = "ws" if first == "websocket" else "http"
        assert message == f"{scheme}://127.0.0.1:{v3_server.port}/socket.io/ {V3_SERVER}"
    assert all(eio == "4" for _, eio in requests)


@pytest.mark.parametrize("first", ["polling", "websocket"])
def test_protocol_3_against_a_v4_server_fails_with_a_clear_message(server: ServerProcess, first: str) -> None:
    message, requests = forced_failure(server.url, first, 3)
    if first == "polling":
        assert message == f"http://127.0.0.1:{server.port}/socket.io/ {NOT_V3}"
    else:  # socket.io 4.8 breaks the WebSocket, python-socketio 5 closes it, before any packet
        assert CLOSED_BEFORE_OPEN + "3" in message
    assert requests == [(first, "3")]


def test_msgpack_cannot_be_used_with_v3(node2_server: ServerProcess) -> None:
    with pytest.raises(ValueError, match="parser='msgpack' cannot be used with protocol=3"):
        greensio.Manager(node2_server.url, protocol=3, parser="msgpack")
    with pytest.raises(greensio.ConnectionError) as caught:
        connected(node2_server.url, parser="msgpack", transports=["polling"], reconnection=False)
    assert str(caught.value) == (
        f"http://127.0.0.1:{node2_server.port}/socket.io/ speaks Socket.IO 2.x, whose msgpack parser "
        "greensio does not support"
    )


# -- refusals and namespaces ---------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["polling", "websocket"])
def test_socketio2_refusing_the_root_refuses_every_socket(start_v3_server: Any, first: str) -> None:
    server = start_v3_server("node2", root_middleware=True)
    m = manager(server.url, transports=[first], query={"refuse": "1"})
    root, chat = m.socket("/", auto_connect=False), m.socket("/chat", auto_connect=False)
    errors = {"/": AsyncResult(), "/chat": AsyncResult()}
    root.on("connect_error", errors["/"].set)
    chat.on("connect_error", errors["/chat"].set)
    chat.connect(wait=False)
    with pytest.raises(greensio.ConnectionError, match="^root refused$"):
        root.connect(timeout=WAIT)
    for error in errors.values():
        assert str(error.get(timeout=WAIT)) == "root refused"
    assert not root.active and not chat.active
    assert m.stats.connects == 1 and not m.reconnecting


def test_python_socketio4_refusing_the_root_over_polling_is_a_refusal(start_v3_server: Any) -> None:
    server = start_v3_server("py4", root_refuses=True)
    opens = Opens()
    m = manager(server.url, opens, transports=["polling"], query={"refuse": "1"})
    root, chat = m.socket("/", auto_connect=False), m.socket("/chat", auto_connect=False)
    chat_error = AsyncResult()
    chat.on("connect_error", chat_error.set)
    chat.connect(wait=False)
    with pytest.raises(greensio.ConnectionError, match="^root refused$"):
        root.connect(timeout=WAIT)
    assert str(chat_error.get(timeout=WAIT)) == "root refused"
    assert not root.active and not chat.active and not m.reconnecting
    assert opens.log == [("polling", "4"), ("polling", "3")]  # and no reconnection


def test_python_socketio4_refusing_the_root_over_websocket_is_a_connection_failure(start_v3_server: Any) -> None:
    server = start_v3_server("py4", root_refuses=True)
    opens = Opens()
    with pytest.raises(greensio.ConnectionError, match="closed"):
        connected(server.url, opens, transports=["websocket"], query={"refuse": "1"}, reconnection=False)
    assert opens.log == [("websocket", "4"), ("websocket", "3")]


def test_refused_namespace_and_auth_as_query_parameters(v3_server: ServerProcess) -> None:
    with pytest.raises(greensio.ConnectionError, match="^not authorized$"):
        connected(v3_server.url, namespace="/private", auth={"token": "wrong"}, reconnection=False)
    sio = connected(v3_server.url, namespace="/private", auth={"token": "secret", "n": 1, "ok": True})
    try:
        query = sio.call("whoami", timeout=WAIT)["query"]
        assert (query["token"], query["n"], query["ok"]) == ("secret", "1", "true")
        assert sio.id == f"/private#{sio.manager.sid}"
    finally:
        sio.disconnect()


def test_auth_of_a_socket_added_to_an_open_connection(v3_server: ServerProcess) -> None:
    """socket.io 2.x reads the CONNECT's query; python-socketio 4 only the handshake's (README)."""
    root = connected(v3_server.url)
    private = root.manager.socket("/private", auth={"token": "secret"}, auto_connect=False)
    try:
        if v3_server.kind == "node2":
            private.connect(timeout=WAIT)
            assert private.call("whoami", timeout=WAIT)["query"]["token"] == "secret"
        else:
            with pytest.raises(greensio.ConnectionError, match="^not authorized$"):
                private.connect(timeout=WAIT)
    finally:
        private.disconnect()
        root.disconnect()


@pytest.mark.parametrize("setting", ["polling", "websocket"])
def test_leaving_the_root_keeps_the_other_namespaces(v3_server: ServerProcess, setting: str) -> None:
    m = manager(v3_server.url, transports=SETTINGS[setting])
    root, chat = m.socket("/", auto_connect=False), m.socket("/chat", auto_connect=False)
    root.connect(timeout=WAIT)
    chat.connect(timeout=WAIT)
    try:
        root.disconnect()  # sends nothing: python-socketio 4 would drop /chat too
        assert chat.call("echo", "still here", timeout=WAIT) == "still here"
        root.connect(timeout=WAIT)  # "/" is still joined on the server: at once
        assert root.call("echo", "back", timeout=WAIT) == "back"
        chat.disconnect()  # "41/chat,"
        root.disconnect()
        root.connect(timeout=WAIT)  # a new connection
        assert root.call("echo", "new", timeout=WAIT) == "new"
    finally:
        chat.disconnect()
        root.disconnect()


# -- heartbeat -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["polling", "websocket", "upgrade"])
def test_the_client_pings_and_stays_connected(start_v3_server: Any, setting: str) -> None:
    server = start_v3_server("node2", ping_interval=0.3, ping_timeout=0.3)
    sio = connected(server.url, transports=SETTINGS[setting], protocol=3)
    pings, closes = Recorder(), Recorder()
    sio.manager.on("ping", pings)
    sio.manager.on("close", closes)
    try:
        pings.wait(5)  # 1.5 s of 0.3 s intervals: a silent client would be dropped after 0.6 s
        assert closes.calls == [] and sio.connected
        assert 0 < sio.manager.stats.pong_lag_last < 0.3
        assert sio.call("echo", "alive", timeout=WAIT) == "alive"
    finally:
        sio.disconnect()


PY4_SHORT = {"ping_interval": 1, "ping_timeout": 2}


@pytest.mark.parametrize("kind", ["node2", "py4"])
def test_a_frozen_server_is_a_ping_timeout(start_v3_server: Any, kind: str) -> None:
    # python-socketio 4 takes whole seconds
    options = {"ping_interval": 0.3, "ping_timeout": 0.3} if kind == "node2" else PY4_SHORT
    server = start_v3_server(kind, **options)
    sio = connected(server.url, transports=["websocket"], protocol=3, reconnection=False)
    reason = AsyncResult()
    sio.on("disconnect", reason.set)
    pinged = Recorder()
    sio.manager.on("ping", pinged)
    pinged.wait(1)
    server.pause()
    try:
        # the next PING is due pingInterval after the last PONG, its PONG within pingTimeout
        assert reason.get(timeout=5) == "ping timeout"
    finally:
        server.resume()
        sio.disconnect()


# -- reconnection ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["polling", "websocket"])
def test_reconnects_after_a_server_restart_in_v3(start_v3_server: Any, setting: str) -> None:
    for kind in ("node2", "py4"):
        server = start_v3_server(kind)
        opens = Opens()
        sio = connected(server.url, opens, transports=SETTINGS[setting])
        back = AsyncResult()
        sio.manager.on("reconnect", back.set)
        try:
            first_id = sio.id
            server.restart()
            assert back.get(timeout=WAIT) >= 1
            wait_until(lambda: sio.connected, "the reconnection")  # noqa: B023
            assert sio.id != first_id
            assert sio.call("echo", "again", timeout=WAIT) == "again"
            assert all(eio == "3" for _, eio in opens.log[len(DETECTION[kind, setting]) :])
        finally:
            sio.disconnect()


# -- payloads ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["polling", "websocket"])
def test_binary_bursts_both_ways(v3_server: ServerProcess, setting: str) -> None:
    sio = connected(v3_server.url, transports=SETTINGS[setting], protocol=3)
    burst, echoed = [], []
    done = AsyncResult()
    sio.on("burst", lambda i, payload: burst.append((i, payload)))
    sio.on("burst_done", done.set)
    sio.on("echo", lambda *args: echoed.append(args))
    try:
        sio.emit("burst", 50, 1000, True)  # 50 binary events, answered in few polling responses
        for i in range(50):
            sio.emit("echo", i, bytes([i]) * (i + 1), "t\u00e9xt")
        assert done.get(timeout=WAIT) == 50
        assert burst == [(i, bytes(1000)) for i in range(50)]
        wait_until(lambda: len(echoed) == 50, "50 echoes")
        assert echoed == [(i, bytes([i]) * (i + 1), "t\u00e9xt") for i in range(50)]
    finally:
        sio.disconnect()


def test_characters_outside_the_bmp_over_polling(v3_server: ServerProcess) -> None:
    """socket.io 2.x counts text lengths in UTF-16 code units, python-engineio 3 in bytes (binary framing)."""
    sio = connected(v3_server.url, transports=["polling"], protocol=3)
    echoed: list[tuple[Any, ...]] = []
    sio.on("echo", lambda *args: echoed.append(args))
    try:
        texts = [EMOJI * n + "\U0001f4a9" for n in range(1, 30)]
        for text in texts:
            sio.emit("echo", text)  # queued together: one POST, and several packets per GET
        wait_until(lambda: len(echoed) == len(texts), "the echoes")
        assert echoed == [(text,) for text in texts]
        assert sio.call("echo", EMOJI * 500, timeout=WAIT) == EMOJI * 500
    finally:
        sio.disconnect()


def test_compression_on_both_transports(start_v3_server: Any) -> None:
    """socket.io 2.x with perMessageDeflate and httpCompression at threshold 0: 200 KB of one letter
    travel in far fewer bytes, over WebSocket (permessage-deflate) and polling (gzip)."""
    server = start_v3_server("node2", deflate=True)
    for setting in ("websocket", "polling"):
        sio = connected(server.url, transports=[setting], protocol=3)
        done = AsyncResult()
        sio.on("burst_done", done.set)
        try:
            before = sio.manager.stats.bytes_received
            sio.emit("burst", 20, 10_000)
            assert done.get(timeout=WAIT) == 20
            assert sio.manager.stats.bytes_received - before < 20_000
        finally:
            sio.disconnect()


def test_a_v3_emit_over_the_assumed_max_payload_is_refused(node2_server: ServerProcess) -> None:
    """No maxPayload in a v3 OPEN: 1 MB is assumed (socket.io 2.x's maxHttpBufferSize)."""
    sio = connected(node2_server.url, transports=["polling"], protocol=3)
    try:
        with pytest.raises(greensio.PayloadTooLargeError, match="maxPayload of 1000000 bytes"):
            sio.emit("echo", "x" * 1_000_001)
        big = b"\x01" * 900_000  # binary travels raw in v3 polling: no base64 growth to count
        assert sio.call("echo", big, timeout=WAIT) == big
    finally:
        sio.disconnect()
