"""Compression against the Node server with everything compressed (threshold 0): permessage-deflate on
WebSocket, gzip/deflate on polling, and the upgrade between them (issue #16)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import greensio
from tests.servers.process import ServerProcess

from .helpers import WAIT, connect

SETTINGS = {"polling": ["polling"], "upgrade": ["polling", "websocket"], "websocket": ["websocket"]}
BIG = "compressible " * 8000  # 104 KB of text that deflates to a few hundred bytes


@pytest.fixture(scope="module")
def deflate_server(node_modules: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess("node", tmp_path_factory.mktemp("deflate") / "node.log", deflate=True)
    yield server
    server.stop()


def _received_for(sio: greensio.Socket, payload: str) -> int:
    """Bytes read from the wire while the server sends ``payload`` back once."""
    before = sio.manager.stats.bytes_received
    assert sio.call("echo", payload, timeout=WAIT) == payload
    return sio.manager.stats.bytes_received - before


def _sent_for(sio: greensio.Socket, payload: str, **emit: bool) -> int:
    before = sio.manager.stats.bytes_sent
    done = []
    sio.emit("echo", payload, callback=lambda *args: done.append(args), **emit)
    assert sio.call("echo", "sync", timeout=WAIT) == "sync"  # acks come in order: the first one is done
    assert done == [(payload,)]
    return sio.manager.stats.bytes_sent - before


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_what_the_server_sends_arrives_compressed(deflate_server: ServerProcess, setting: str) -> None:
    with connect(deflate_server.url, transports=SETTINGS[setting]) as sio:
        assert sio.transport == SETTINGS[setting][-1]
        assert _received_for(sio, BIG) < len(BIG) // 20


def test_what_the_client_sends_over_websocket_is_compressed_unless_told_not_to(
    deflate_server: ServerProcess,
) -> None:
    with connect(deflate_server.url, transports=["websocket"]) as sio:
        assert _sent_for(sio, BIG) < len(BIG) // 20
        assert _sent_for(sio, BIG, compress=False) > len(BIG)


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_compression_false_asks_for_none(deflate_server: ServerProcess, setting: str) -> None:
    with connect(deflate_server.url, transports=SETTINGS[setting], compression=False) as sio:
        assert _received_for(sio, BIG) > len(BIG)
        assert _sent_for(sio, BIG) > len(BIG)


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_small_binary_and_unicode_events_survive_compression(deflate_server: ServerProcess, setting: str) -> None:
    with connect(deflate_server.url, transports=SETTINGS[setting]) as sio:
        for payload in ("é☃😀" * 100, "x", ""):
            assert sio.call("echo", payload, timeout=WAIT) == payload
        assert sio.call("echo", b"\x00" * 5000, [b"\xff"], timeout=WAIT) == (b"\x00" * 5000, [b"\xff"])
