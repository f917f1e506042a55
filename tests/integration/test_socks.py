"""SOCKS5 proxies (RFC 1928, RFC 1929 credentials) against a real SOCKS5 server, pproxy, on every transport.

pproxy answers a CONNECT with success before it connects to the target, so a
refused target shows as a closed tunnel there; the refusal in words is checked
with a small SOCKS5 server in this process that connects first, as RFC 1928
describes.
"""

from __future__ import annotations

import errno
import ssl
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import pytest
from gevent import socket as gsocket
from gevent.server import StreamServer

import greensio
import greensio._core.url
import greensio._io.net
from tests.servers.process import free_port

from .helpers import WAIT, relay
from .test_transports import tls_server  # noqa: F401 (a fixture)

FAST: dict[str, Any] = {"reconnection_delay": 0.05, "reconnection_delay_max": 0.2, "force_new": True}
SETTINGS = {"polling": ["polling"], "upgrade": ["polling", "websocket"], "websocket": ["websocket"]}
USER, PASSWORD = "alice", "p@ss:w0rd"
CREDENTIALS = "alice:p%40ss%3Aw0rd"  # percent-encoded in proxy URLs
READY_TIMEOUT = 10


class Pproxy:
    """pproxy as a SOCKS5 server requiring a username and password, in a child process."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.log = log
        listen = f"socks5://127.0.0.1:{self.port}/#{USER}:{PASSWORD}"
        # --auth 0: authenticate every connection (by default pproxy trusts an address for 30 days)
        command = [sys.executable, "-u", "-m", "pproxy", "-l", listen, "--auth", "0", "-v"]
        with log.open("wb") as out:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT
        while b"Serving on" not in log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"pproxy did not start: {command}\n{log.read_text(errors='replace')}")
            time.sleep(0.02)

    def url(self, scheme: str = "socks5", credentials: str = CREDENTIALS) -> str:
        return f"{scheme}://{credentials}@127.0.0.1:{self.port}" if credentials else f"{scheme}://127.0.0.1:{self.port}"

    def targets(self, offset: int) -> list[str]:
        """The targets pproxy was asked for since ``offset`` bytes of its log (as received: name or address)."""
        lines = self.log.read_bytes()[offset:].decode(errors="replace").splitlines()
        return [line.rsplit(" -> ", 1)[1] for line in lines if line.startswith("socks5 ") and " -> " in line]

    def offset(self) -> int:
        return self.log.stat().st_size

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def pproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pproxy]:
    server = Pproxy(tmp_path_factory.mktemp("pproxy") / "pproxy.log")
    yield server
    server.stop()


def _connect(url: str, proxy: str, setting: str = "websocket", **options: object) -> greensio.Socket:
    return greensio.connect(url, transports=SETTINGS[setting], proxy=proxy, timeout=WAIT, **{**FAST, **options})


def _settle(sio: greensio.Socket, setting: str) -> None:
    if setting == "upgrade":
        with gevent.Timeout(WAIT, AssertionError(f"still on {sio.transport}")):
            while sio.transport != "websocket":
                gevent.sleep(0.01)


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
@pytest.mark.parametrize("setting", ["websocket", "polling", "upgrade"])
def test_socks5_with_credentials_tunnels_every_transport(node_server, pproxy, scheme, setting):
    offset = pproxy.offset()
    url = f"http://localhost:{node_server.port}"
    with _connect(url, pproxy.url(scheme), setting) as sio:
        assert sio.call("echo", "through socks", timeout=WAIT) == "through socks"
        _settle(sio, setting)
        assert sio.call("echo", b"\x00\x01binary", timeout=WAIT) == b"\x00\x01binary"
    # socks5h sends the name for the proxy to resolve; socks5 resolves it here and sends the address
    expected = f"localhost:{node_server.port}" if scheme == "socks5h" else f"127.0.0.1:{node_server.port}"
    targets = pproxy.targets(offset)
    assert targets and set(targets) == {expected}, targets
    if setting != "websocket":
        assert len(targets) >= 2  # polling's GET and POST connections each went through the proxy


@pytest.mark.parametrize("setting", ["websocket", "polling"])
def test_wrong_credentials_fail_the_connection_without_showing_them(node_server, pproxy, setting):
    with pytest.raises(greensio.ConnectionError) as caught:
        _connect(node_server.url, pproxy.url(credentials="alice:not-the-s3cret"), setting, reconnection=False)
    text = str(caught.value)
    # pproxy closes the connection instead of answering RFC 1929 status 1
    assert f"SOCKS5 proxy 127.0.0.1:{pproxy.port}" in text
    assert "username/password" in text
    assert "not-the-s3cret" not in text and "alice" not in text


def test_no_credentials_for_a_proxy_that_requires_them(node_server, pproxy):
    with pytest.raises(greensio.ConnectionError) as caught:
        _connect(node_server.url, pproxy.url(credentials=""), reconnection=False)
    assert f"SOCKS5 proxy 127.0.0.1:{pproxy.port}" in str(caught.value)
    assert "method selection" in str(caught.value)  # pproxy closes instead of answering "no acceptable method"


def test_a_closed_target_port_behind_pproxy_fails_the_connection(pproxy):
    started = time.monotonic()
    with pytest.raises(greensio.ConnectionError):
        _connect(f"http://127.0.0.1:{free_port()}", pproxy.url(), reconnection=False)
    assert time.monotonic() - started < WAIT


def test_a_proxy_that_is_not_listening(node_server):
    port = free_port()
    with pytest.raises(greensio.ConnectionError) as caught:
        _connect(node_server.url, f"socks5://{CREDENTIALS}@127.0.0.1:{port}", reconnection=False)
    assert f"cannot reach the SOCKS5 proxy 127.0.0.1:{port}" in str(caught.value)
    assert PASSWORD not in str(caught.value) and "p%40ss" not in str(caught.value)


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
@pytest.mark.parametrize("setting", ["upgrade", "websocket"])
def test_tls_through_socks5(tls_server, pproxy, scheme, setting):  # noqa: F811
    ca, url = tls_server
    context = ssl.create_default_context()
    ca.configure_trust(context)
    url = url.replace("127.0.0.1", "localhost")  # the certificate names both: check the name is verified
    offset = pproxy.offset()
    with _connect(url, pproxy.url(scheme), setting, ssl_context=context) as sio:
        assert sio.call("echo", "tunnelled", timeout=WAIT) == "tunnelled"
        _settle(sio, setting)
    assert pproxy.targets(offset)


def test_tls_through_socks5_still_verifies_the_certificate(tls_server, pproxy):  # noqa: F811
    _, url = tls_server
    with pytest.raises(greensio.ConnectionError):
        _connect(url, pproxy.url("socks5h"), reconnection=False)


# -- refusals in words, from a SOCKS5 server that connects before it answers -----------------------------

REPLIES = {
    errno.ECONNREFUSED: 5,
    errno.ENETUNREACH: 3,
    errno.EADDRNOTAVAIL: 3,
    errno.EHOSTUNREACH: 4,
    errno.EAFNOSUPPORT: 8,
}


class ConnectFirstSocks5:
    """A SOCKS5 server (no authentication, CONNECT only) that answers after connecting to the target.

    It replies with the RFC 1928 code of the connect error (5 for a refused
    connection), or 0 and relays bytes both ways.
    """

    def __init__(self) -> None:
        self.requests: list[str] = []  # the addresses or names asked for
        self.server = StreamServer(("127.0.0.1", 0), self._handle)
        self.server.start()
        self.port = self.server.server_port

    def _handle(self, client: gsocket.socket, address: object) -> None:
        stream = client.makefile("rb")
        version, count = stream.read(2)
        stream.read(count)
        client.sendall(b"\x05\x00")
        version, command, _, kind = stream.read(4)
        if kind == 1:
            host = gsocket.inet_ntoa(stream.read(4))
        elif kind == 4:
            host = gsocket.inet_ntop(gsocket.AF_INET6, stream.read(16))
        else:
            host = stream.read(stream.read(1)[0]).decode()
        (port,) = struct.unpack("!H", stream.read(2))
        self.requests.append(host)
        try:
            upstream = gsocket.create_connection((host, port))
        except OSError as exc:
            client.sendall(bytes((5, REPLIES.get(exc.errno or 0, 1), 0, 1)) + bytes(6))
            return
        client.sendall(b"\x05\x00\x00\x01" + bytes(6))
        gevent.joinall([gevent.spawn(relay, client, upstream), gevent.spawn(relay, upstream, client)])
        upstream.close()

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def connect_first() -> Iterator[ConnectFirstSocks5]:
    server = ConnectFirstSocks5()
    yield server
    server.stop()


def test_the_connect_first_server_tunnels(node_server, connect_first):
    with _connect(node_server.url, f"socks5h://127.0.0.1:{connect_first.port}") as sio:
        assert sio.call("echo", "relayed", timeout=WAIT) == "relayed"


@pytest.mark.parametrize("setting", ["websocket", "polling"])
def test_a_closed_target_port_is_named_connection_refused(connect_first, setting):
    with pytest.raises(greensio.ConnectionError) as caught:
        _connect(
            f"http://127.0.0.1:{free_port()}", f"socks5://127.0.0.1:{connect_first.port}", setting, reconnection=False
        )
    text = str(caught.value)
    assert f"SOCKS5 proxy 127.0.0.1:{connect_first.port}: connection refused (SOCKS5 reply 5)" in text


def test_local_dns_tries_the_next_family_when_the_first_is_refused(node_server, connect_first, monkeypatch):
    # "localhost" resolving to ::1 first while the server listens on 127.0.0.1 only
    monkeypatch.setattr(greensio._io.net, "_resolve", lambda host, port: ["::1", "127.0.0.1"])
    with _connect(f"http://localhost:{node_server.port}", f"socks5://127.0.0.1:{connect_first.port}") as sio:
        assert sio.call("echo", "second family", timeout=WAIT) == "second family"
    assert connect_first.requests == ["::1", "127.0.0.1"]


class SilentServer:
    """Accepts connections and reads what comes, never answering (a stuck proxy)."""

    def __init__(self) -> None:
        self.server = StreamServer(("127.0.0.1", 0), self._handle)
        self.server.start()
        self.port = self.server.server_port

    def _handle(self, client: gsocket.socket, address: object) -> None:
        while client.recv(4096):
            pass


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.server.stop()


@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "http"])
def test_a_proxy_that_never_answers_is_bounded_by_the_timeout(silent, scheme):
    started = time.monotonic()
    with pytest.raises(greensio.TimeoutError):
        greensio.connect(
            "http://127.0.0.1:9", proxy=f"{scheme}://127.0.0.1:{silent.port}", timeout=0.5, reconnection=False, **FAST
        )
    assert 0.5 <= time.monotonic() - started < 1.0


def test_open_connection_with_a_socket_timeout_names_the_proxy(silent):
    proxy = greensio._core.url.parse_proxy(f"socks5h://{CREDENTIALS}@127.0.0.1:{silent.port}")
    with pytest.raises(greensio._io.net.ProxyError) as caught:
        greensio._io.net.open_connection("example.com", 80, 0.2, None, proxy)
    assert str(caught.value) == f"SOCKS5 proxy 127.0.0.1:{silent.port}: timed out"
