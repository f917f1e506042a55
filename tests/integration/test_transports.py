"""Polling, the upgrade, remember_upgrade, cookies and TLS against real servers."""

from __future__ import annotations

import ssl
from typing import Any

import gevent
import pytest
import socketio
import trustme
from gevent import pywsgi
from geventwebsocket.handler import WebSocketHandler

import greensio
from greensio._io.transport import TransportClosed

from .helpers import WAIT, Recorder, relay

FAST: dict[str, Any] = {"reconnection_delay": 0.05, "reconnection_delay_max": 0.2, "force_new": True}
SETTINGS = {"polling": ["polling"], "upgrade": ["polling", "websocket"], "websocket": ["websocket"]}


def _traffic(sio: greensio.Socket, count: int) -> None:
    """``count`` events each way with binary mixed in: all arrive, once, in order."""
    echoed, burst, done = [], [], Recorder()
    sio.on("echo", lambda *args: echoed.append(args))
    sio.on("burst", lambda i, payload: burst.append((i, payload)))
    sio.on("burst_done", done)
    sio.emit("burst", count, 3, True)  # the server's events, while ours go out
    for i in range(count):
        sio.emit("echo", i, b"\x00\x01" if i % 5 == 0 else "text")
    assert sio.call("echo", "sync", timeout=WAIT) == "sync"
    done.wait(1)
    with gevent.Timeout(WAIT, AssertionError(f"{len(echoed)} of {count} echoes")):
        while len(echoed) < count:
            gevent.sleep(0.01)
    assert echoed == [(i, b"\x00\x01" if i % 5 == 0 else "text") for i in range(count)]
    assert burst == [(i, b"\x00\x00\x00") for i in range(count)]


@pytest.mark.parametrize("setting", ["polling", "upgrade"])
def test_sustained_traffic_over_polling_and_across_the_upgrade(server, setting):
    # emits start before the connection exists: they leave over polling, the upgrade comes mid-stream
    sio = greensio.Socket(server.url, transports=SETTINGS[setting], **FAST)
    try:
        _traffic(sio, 2000)
        if setting == "upgrade":
            with gevent.Timeout(WAIT):
                while sio.transport != "websocket":
                    gevent.sleep(0.01)
    finally:
        sio.disconnect()


def test_a_failed_probe_leaves_the_connection_on_polling(server, monkeypatch):
    from greensio._io.websocket import WebSocketTransport

    def refuse(*args, **kwargs):
        raise TransportClosed("transport error", "WebSocket blocked by a proxy")

    monkeypatch.setattr(WebSocketTransport, "open", classmethod(refuse))
    sio = greensio.connect(server.url, timeout=WAIT, **FAST)
    try:
        assert sio.call("echo", "first", timeout=WAIT) == "first"
        assert sio.manager._conn is not None
        assert sio.manager._conn.upgrader is None  # the probe ran and gave up
        assert sio.transport == "polling"
        _traffic(sio, 50)
    finally:
        sio.disconnect()


def test_remember_upgrade_starts_the_next_connection_on_websocket(node_server):
    first = greensio.connect(node_server.url, remember_upgrade=True, timeout=WAIT, **FAST)
    try:
        with gevent.Timeout(WAIT):
            while first.transport != "websocket":
                gevent.sleep(0.01)
    finally:
        first.disconnect()
    second = greensio.connect(node_server.url, remember_upgrade=True, timeout=WAIT, **FAST)
    try:
        assert second.call("whoami", timeout=WAIT)["query"]["transport"] == "websocket"
    finally:
        second.disconnect()
    other = greensio.connect(node_server.url, timeout=WAIT, **FAST)  # without the option: polling first
    try:
        assert other.call("whoami", timeout=WAIT)["query"]["transport"] == "polling"
    finally:
        other.disconnect()


def _local_server(**server_options):
    """A python-socketio server in this process; returns (WSGIServer, the Cookie headers it saw)."""
    sio_server = socketio.Server(async_mode="gevent", **server_options)

    @sio_server.on("echo")
    def echo(sid, *args):
        return args

    app = socketio.WSGIApp(sio_server)
    seen: list[tuple[str, str]] = []

    def recording(environ, start_response):
        seen.append((environ.get("QUERY_STRING", ""), environ.get("HTTP_COOKIE", "")))
        return app(environ, start_response)

    return recording, seen


@pytest.mark.parametrize("setting", ["polling", "upgrade"])
def test_cookies_set_by_the_server_are_sent_back_on_every_request(setting):
    app, seen = _local_server(cookie={"name": "sticky", "path": "/"})
    http = pywsgi.WSGIServer(("127.0.0.1", 0), app, handler_class=WebSocketHandler, log=None)
    http.start()
    try:
        url = f"http://127.0.0.1:{http.server_port}"
        sio = greensio.connect(url, transports=SETTINGS[setting], timeout=WAIT, **FAST)
        try:
            for i in range(3):
                assert sio.call("echo", i, timeout=WAIT) == i
            if setting == "upgrade":
                with gevent.Timeout(WAIT):
                    while sio.transport != "websocket":
                        gevent.sleep(0.01)
        finally:
            sio.disconnect()
        handshake, *later = seen
        assert handshake[1] == ""
        assert later and all(cookie.startswith("sticky=") for _, cookie in later), later
        if setting == "upgrade":
            assert any("transport=websocket" in query for query, _ in later)
    finally:
        http.stop()


@pytest.fixture(scope="module")
def tls_server():
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    app, _ = _local_server()
    with cert.private_key_and_cert_chain_pem.tempfile() as pem:  # read on every TLS handshake
        http = pywsgi.WSGIServer(
            ("127.0.0.1", 0), app, handler_class=WebSocketHandler, log=None, certfile=pem, keyfile=pem
        )
        http.start()
        yield ca, f"https://127.0.0.1:{http.server_port}"
        http.stop()


@pytest.mark.parametrize("setting", ["polling", "upgrade", "websocket"])
def test_tls_with_a_custom_ca(tls_server, setting):
    ca, url = tls_server
    context = ssl.create_default_context()
    ca.configure_trust(context)
    with greensio.connect(url, transports=SETTINGS[setting], ssl_context=context, timeout=WAIT, **FAST) as sio:
        assert sio.call("echo", b"secret", timeout=WAIT) == b"secret"


@pytest.mark.parametrize("setting", ["polling", "websocket"])
def test_tls_is_verified_by_default(tls_server, setting):
    _, url = tls_server
    with pytest.raises(greensio.ConnectionError):
        greensio.connect(url, transports=SETTINGS[setting], reconnection=False, timeout=WAIT, **FAST)


def test_tls_verification_can_be_turned_off(tls_server):
    _, url = tls_server
    with greensio.connect(url, ssl_verify=False, timeout=WAIT, **FAST) as sio:
        assert sio.call("echo", "unverified", timeout=WAIT) == "unverified"


class ConnectProxy:
    """An HTTP CONNECT proxy on loopback that records what it was asked and requires credentials."""

    def __init__(self, authorization: str) -> None:
        from gevent.server import StreamServer

        self.authorization = authorization
        self.requests: list[tuple[str, str]] = []
        self.server = StreamServer(("127.0.0.1", 0), self._handle)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def _handle(self, client, address) -> None:
        from gevent import socket as gsocket

        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        lines = head.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        self.requests.append((target, headers.get("Proxy-Authorization", "")))
        if method != "CONNECT" or headers.get("Proxy-Authorization") != self.authorization:
            client.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        upstream = gsocket.create_connection((host, int(port)))
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        gevent.joinall([gevent.spawn(relay, client, upstream), gevent.spawn(relay, upstream, client)])
        upstream.close()

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def proxy():
    import base64

    server = ConnectProxy("Basic " + base64.b64encode(b"user:p@ss").decode())
    yield server
    server.stop()


@pytest.mark.parametrize("setting", ["polling", "upgrade", "websocket"])
def test_a_proxy_with_credentials_tunnels_every_transport(node_server, proxy, setting):
    proxy_url = proxy.url.replace("http://", "http://user:p%40ss@")
    with greensio.connect(node_server.url, transports=SETTINGS[setting], proxy=proxy_url, timeout=WAIT, **FAST) as sio:
        assert sio.call("echo", "through the proxy", timeout=WAIT) == "through the proxy"
        if setting == "upgrade":
            with gevent.Timeout(WAIT):
                while sio.transport != "websocket":
                    gevent.sleep(0.01)
    target = f"127.0.0.1:{node_server.port}"
    assert proxy.requests and all(request == (target, proxy.authorization) for request in proxy.requests)


def test_a_proxy_refusing_the_credentials_fails_the_connection(node_server, proxy):
    with pytest.raises(greensio.ConnectionError, match="407"):
        greensio.connect(
            node_server.url, transports=["websocket"], proxy=proxy.url, reconnection=False, timeout=WAIT, **FAST
        )


def test_tls_through_a_proxy(tls_server, proxy):
    ca, url = tls_server
    context = ssl.create_default_context()
    ca.configure_trust(context)
    proxy_url = proxy.url.replace("http://", "http://user:p%40ss@")
    with greensio.connect(url, proxy=proxy_url, ssl_context=context, timeout=WAIT, **FAST) as sio:
        assert sio.call("echo", "tunnelled", timeout=WAIT) == "tunnelled"


def test_a_restarted_server_ends_a_polling_session_then_the_client_reconnects(start_server):
    srv = start_server("node")
    sio = greensio.connect(srv.url, transports=["polling"], timeout=WAIT, **FAST)
    reasons, connects = Recorder(), Recorder()
    sio.on("disconnect", reasons)
    sio.on("connect", connects)
    try:
        first_id = sio.id
        srv.restart()  # a graceful shutdown: the server sends CLOSE on the pending GET
        assert reasons.wait(1) == [("transport close",)]
        connects.wait(1)
        assert sio.call("echo", "after restart", timeout=WAIT) == "after restart"
        assert sio.id != first_id
    finally:
        sio.disconnect()


@pytest.mark.parametrize("option", ["extra_headers", "query"])
def test_cr_or_lf_in_headers_or_query_is_refused_before_anything_is_sent(option):
    in_a_value: dict[str, Any] = {option: {"X-Evil": "a\r\nInjected: yes"}}
    in_a_name: dict[str, Any] = {option: {"X-Evil\n": "a"}}
    with pytest.raises(ValueError, match="CR or LF"):
        greensio.Socket("http://127.0.0.1:9", **in_a_value, **FAST)
    with pytest.raises(ValueError, match="CR or LF"):
        greensio.Socket("http://127.0.0.1:9", **in_a_name, **FAST)


def test_cr_or_lf_from_a_callable_fails_the_connection_attempt(node_server):
    requests = []

    def evil_headers():
        requests.append(1)
        return {"X-Evil": "a\nb"}

    sio = greensio.Socket(
        node_server.url,
        extra_headers=evil_headers,
        auto_connect=False,
        reconnection=False,
        **FAST,
    )
    with pytest.raises(greensio.ConnectionError, match="CR or LF"):
        sio.connect(timeout=WAIT)
    assert requests == [1]
