"""A newcomer's first mistakes: greensio.connect() fails at once with a one-line cause, as text.

Real peers: a port nobody listens on, a name that does not resolve, the Node server
asked at the wrong path, and a plain HTTP server (gevent's WSGI server) that is no
Socket.IO server at all.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import gevent.pywsgi
import pytest

import greensio
from tests.servers.process import ServerProcess

TRANSPORTS = {"polling": ["polling"], "websocket": ["websocket"], "both": ["polling", "websocket"]}
# Node's engine.io drops an upgrade request for a path it does not serve after 1 s
# (destroyUpgradeTimeout) without answering; everything else fails at once.
FAILS_WITHIN = 2.0


@pytest.fixture
def plain_http() -> Iterator[str]:
    """A web server that answers every request with a small HTML page."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return [b"<html><body>hello</body></html>"]

    server = gevent.pywsgi.WSGIServer(("127.0.0.1", 0), app, log=None)
    server.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.stop(timeout=1)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _failure(url: str, transport: str, **options: Any) -> str:
    started = time.monotonic()
    with pytest.raises(greensio.ConnectionError) as caught:
        greensio.connect(url, transports=TRANSPORTS[transport], timeout=10, **options)
    assert time.monotonic() - started < FAILS_WITHIN
    return str(caught.value)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_refused_port_says_so(transport: str) -> None:
    port = _closed_port()
    assert _failure(f"http://127.0.0.1:{port}", transport) == (
        f"connection refused by 127.0.0.1:{port} (is the server running?)"
    )


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_name_that_does_not_resolve_says_so(transport: str) -> None:
    message = _failure("http://no-such-host.invalid:3000", transport)
    assert message.startswith("cannot resolve 'no-such-host.invalid': "), message


@pytest.mark.parametrize("transport", ["polling", "both"])
def test_a_wrong_path_is_a_404_with_a_hint(node_server: ServerProcess, transport: str) -> None:
    assert _failure(node_server.url, transport, path="/wrong") == (
        f"HTTP 404 from {node_server.url}/wrong/ — is path='/wrong' right?"
    )


def test_a_wrong_path_over_websocket_only_gets_the_hint_too(node_server: ServerProcess) -> None:
    ws_url = node_server.url.replace("http://", "ws://")
    assert _failure(node_server.url, "websocket", path="/wrong") == (
        f"not a WebSocket server at {ws_url}/wrong/: WebSocket handshake failed: connection closed inside the "
        "response (before its status line) — is path='/wrong' right?"
    )


@pytest.mark.parametrize("transport", ["polling", "both"])
def test_a_plain_web_server_is_not_a_socket_io_server(plain_http: str, transport: str) -> None:
    assert _failure(plain_http, transport) == (
        f"not a Socket.IO server at {plain_http}/socket.io/: unknown Engine.IO packet type '<' in polling payload"
    )


def test_a_plain_web_server_over_websocket_answers_200_not_101(plain_http: str) -> None:
    ws_url = plain_http.replace("http://", "ws://")
    assert (
        _failure(plain_http, "websocket")
        == f"not a WebSocket server at {ws_url}/socket.io/: HTTP 200 OK instead of 101"
    )
