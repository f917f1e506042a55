"""permessage-deflate against the real Node server (socket.io 4.8, ``perMessageDeflate: {threshold: 0}``).

A plain gevent socket, a hand-written (test-only) upgrade request carrying
``deflate.offer()``, and the core's FrameReader and encode_message: what the
server answers, what it sends compressed, what it makes of what we send
compressed, and what an idle compressed connection holds at this layer. The
python-socketio server (gevent-websocket) does not do the extension: there
nothing is negotiated.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tracemalloc
from collections.abc import Iterator
from typing import Any, Optional

import gevent
import pytest
from gevent import socket as gsocket
from websocket._abnf import frame_buffer

from greensio._core.deflate import Deflate, DeflateParams, accept, offer
from greensio._core.wsframe import OP_BINARY, OP_TEXT, FrameReader, encode_message, mask_keys
from tests.servers.process import SERVERS_DIR, ServerProcess, free_port

WAIT = 10
NODE_ANSWER = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@pytest.fixture(scope="module")
def deflate_server(node_modules: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess("node", tmp_path_factory.mktemp("deflate") / "node.log", deflate=True)
    try:
        yield server
    finally:
        server.stop()


# A bare ws server (the library under engine.io) that insists on keeping its compression context
TAKEOVER_SERVER = """
const { WebSocketServer } = require("ws");
const wss = new WebSocketServer({
  host: "127.0.0.1", port: Number(process.argv[1]),
  perMessageDeflate: { serverNoContextTakeover: false, threshold: 0 },
});
wss.on("connection", (ws) => ws.on("message", (data, binary) => ws.send(binary ? data : data.toString())));
wss.on("listening", () => process.stdout.write("READY\\n"));
"""


@pytest.fixture(scope="module")
def takeover_port(node_modules: None) -> Iterator[int]:
    port = free_port()
    node = shutil.which("node") or "node"
    process = subprocess.Popen(
        [node, "-e", TAKEOVER_SERVER, str(port)], cwd=SERVERS_DIR, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == b"READY\n"
        yield port
    finally:
        process.terminate()
        process.wait(WAIT)


class Peer:
    """A test-only WebSocket client on a gevent socket: our offer, our reader and writer."""

    def __init__(
        self, port: int, extensions: Optional[str], path: str = "/socket.io/?EIO=4&transport=websocket"
    ) -> None:
        self.sock = gsocket.create_connection(("127.0.0.1", port), timeout=WAIT)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        )
        if extensions is not None:
            request += f"Sec-WebSocket-Extensions: {extensions}\r\n"
        self.sock.sendall((request + "\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            data = self.sock.recv(4096)
            assert data and len(head) < 65536, f"no complete response head: {head!r}"
            head += data
        head, self.early = head.split(b"\r\n\r\n", 1)
        status, *lines = head.decode("latin-1").split("\r\n")
        self.status = int(status.split(" ")[1])
        if self.status != 101:
            return
        headers: dict[str, list[str]] = {}
        for line in lines:
            name, value = line.split(":", 1)
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        accept_key = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        assert headers["sec-websocket-accept"] == [accept_key]
        answers = headers.get("sec-websocket-extensions", [])
        assert len(answers) <= 1
        self.answer = answers[0] if answers else None
        params = accept(self.answer)
        self.deflate = None if params is None else Deflate(params)
        self.reader = FrameReader(1 << 20, self.deflate)
        self.wire = bytearray()  # every byte the server sent after its response head

    def read(self, count: int) -> list[Any]:
        """The next *count* messages (str or bytes)."""
        out: list[Any] = []
        with gevent.Timeout(WAIT):
            if self.early:
                self.wire += self.early
                out += self.reader.feed(self.early)
                self.early = b""
            while len(out) < count:
                data = self.sock.recv(65536)
                assert data, f"the server closed the connection after {out!r}"
                self.wire += data
                out += self.reader.feed(data)
        assert len(out) == count, out
        return out

    def send(self, message: str | bytes, compress: bool = True) -> bytes:
        """Send one message; the frame as written."""
        opcode, data = (OP_TEXT, message.encode()) if isinstance(message, str) else (OP_BINARY, message)
        frame = encode_message(opcode, data, mask_keys.next(), self.deflate, compress)
        self.sock.sendall(frame)
        return frame

    def connect(self) -> None:
        """Engine.IO OPEN, then the Socket.IO CONNECT of "/"."""
        (opened,) = self.read(1)
        assert opened.startswith('0{"sid":')
        self.send("40")
        (connected,) = self.read(1)
        assert connected.startswith('40{"sid":')

    def close(self) -> None:
        self.sock.close()


def server_frames(wire: bytes | bytearray) -> list[tuple[int, int, int]]:
    """(rsv1, opcode, payload length) of each frame in *wire*, read by websocket-client's frame reader."""
    rest = [bytes(wire)]

    def recv(n: int) -> bytes:
        chunk, rest[0] = rest[0][:n], rest[0][n:]
        return chunk

    reader = frame_buffer(recv, skip_utf8_validation=True)
    frames = []
    while rest[0]:
        reader.recv_header()
        reader.recv_length()
        reader.recv_mask()
        assert reader.header is not None and reader.length is not None
        _, rsv1, _, _, opcode, masked, _ = reader.header
        assert not masked
        reader.recv_strict(reader.length)
        frames.append((rsv1, opcode, reader.length))
        reader.clear()
    return frames


@pytest.fixture
def peer(deflate_server: ServerProcess) -> Iterator[Peer]:
    client = Peer(deflate_server.port, offer())
    try:
        yield client
    finally:
        client.close()


# -- negotiation ------------------------------------------------------------------------------------


@pytest.mark.timeout(WAIT * 2)
def test_node_accepts_our_offer_without_context_takeover(peer: Peer) -> None:
    assert peer.answer == NODE_ANSWER
    assert accept(peer.answer) == DeflateParams(server_no_context_takeover=True, client_no_context_takeover=True)
    peer.connect()


@pytest.mark.timeout(WAIT * 2)
@pytest.mark.parametrize(
    ("extensions", "answer"),
    [
        (None, None),
        ("permessage-deflate; client_max_window_bits", "permessage-deflate"),
        (
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=10",
            "permessage-deflate; client_no_context_takeover; client_max_window_bits=10",
        ),
    ],
    ids=["no-offer", "plain-offer", "small-client-window"],
)
def test_node_answers_other_offers(
    deflate_server: ServerProcess, extensions: Optional[str], answer: Optional[str]
) -> None:
    client = Peer(deflate_server.port, extensions)
    try:
        assert client.answer == answer
        client.connect()
        if answer is None:
            assert all(rsv1 == 0 for rsv1, _, _ in server_frames(client.wire))
    finally:
        client.close()


@pytest.mark.timeout(WAIT * 2)
def test_the_python_server_does_not_negotiate_compression(py_server: ServerProcess) -> None:
    # gevent-websocket ignores Sec-WebSocket-Extensions: no answer, so nothing is compressed
    client = Peer(py_server.port, offer())
    try:
        assert client.answer is None and client.deflate is None
        client.connect()
        assert all(rsv1 == 0 for rsv1, _, _ in server_frames(client.wire))
    finally:
        client.close()


@pytest.mark.timeout(WAIT * 2)
def test_a_server_that_keeps_its_context_takes_our_second_offer(takeover_port: int) -> None:
    # one offer without takeover: ws refuses the handshake (HTTP 400), hence our second offer
    alone = Peer(takeover_port, offer().split(", ")[0], path="/")
    alone.close()
    assert alone.status == 400
    client = Peer(takeover_port, offer(), path="/")
    try:
        assert client.answer == "permessage-deflate; client_no_context_takeover"
        assert client.deflate is not None and client.deflate._inflater is None
        text = " ".join(f"{i * 7919 % 10007:x}" for i in range(600))  # 3 KB that compresses about 2:1 alone
        for _ in range(3):
            assert client.send(text)[0] == 0xC1
        assert client.read(3) == [text] * 3
        frames = server_frames(client.wire)
        assert frames[2][2] < frames[0][2] // 5  # the later echoes refer back to the first: context kept
        # the price: one inflater for the connection, kept between messages
        assert client.deflate._inflater is not None
    finally:
        client.close()


# -- what the server sends --------------------------------------------------------------------------


@pytest.mark.timeout(WAIT * 2)
def test_events_the_server_compresses_decode_through_our_reader(peer: Peer) -> None:
    peer.connect()
    peer.send('42["burst",3,70000]')
    messages = peer.read(4)
    assert messages == [f'42["burst",{i},"{"x" * 70000}"]' for i in range(3)] + ['42["burst_done",3]']
    frames = server_frames(peer.wire)
    assert frames and all(rsv1 == 1 for rsv1, _, _ in frames)  # threshold 0: every message compressed
    assert len(peer.wire) < 3 * 70000 // 50  # 70 KB of "x" compress about 500:1


@pytest.mark.timeout(WAIT * 2)
def test_binary_events_the_server_compresses_decode_through_our_reader(peer: Peer) -> None:
    peer.connect()
    peer.send('42["burst",2,100000,true]')
    messages = peer.read(5)
    for i in range(2):
        assert messages[2 * i] == f'451-["burst",{i},{{"_placeholder":true,"num":0}}]'
        assert messages[2 * i + 1] == bytes(100000)
    assert messages[4] == '42["burst_done",2]'
    frames = server_frames(peer.wire)
    binary = [length for rsv1, opcode, length in frames if opcode == OP_BINARY and rsv1]
    assert len(binary) == 2 and all(length < 1000 for length in binary)  # 100 KB of zeros, compressed
    assert all(rsv1 == 1 for rsv1, _, _ in frames)


# -- what we send ------------------------------------------------------------------------------------


@pytest.mark.timeout(WAIT * 2)
@pytest.mark.parametrize("size", [2000, 100_000])
def test_a_compressed_echo_request_is_understood_and_echoed(peer: Peer, size: int) -> None:
    peer.connect()
    text = "".join(f"item {i}, " for i in range(size))[:size]
    frame = peer.send(json.dumps(["echo", text], separators=(",", ":")).join(["42", ""]))
    assert frame[0] == 0xC1  # FIN, RSV1, text: we compressed it
    assert len(frame) < size // 2
    assert peer.read(1) == ["42" + json.dumps(["echo", text], separators=(",", ":"))]


@pytest.mark.timeout(WAIT * 2)
def test_a_compressed_binary_attachment_is_echoed(peer: Peer) -> None:
    peer.connect()
    blob = bytes(range(256)) * 40
    peer.send('451-["echo",{"_placeholder":true,"num":0}]')
    frame = peer.send(blob)
    assert frame[0] == 0xC2  # FIN, RSV1, binary
    assert peer.read(2) == ['451-["echo",{"_placeholder":true,"num":0}]', blob]


@pytest.mark.timeout(WAIT * 2)
def test_uncompressed_messages_mix_with_compressed_ones(peer: Peer) -> None:
    peer.connect()
    long = "y" * 5000
    assert peer.send(f'42["echo","{long}"]', compress=False)[0] == 0x81  # compress=False: plain
    assert peer.send('42["echo","short"]')[0] == 0x81  # under the 1 KiB threshold: plain
    assert peer.send(f'42["echo","{long}"]')[0] == 0xC1
    assert peer.read(3) == [f'42["echo","{long}"]', '42["echo","short"]', f'42["echo","{long}"]']


# -- memory of an idle connection at this layer ----------------------------------------------------


def _codec(answer: Optional[str]) -> tuple[Optional[Deflate], FrameReader]:
    """What greensio keeps per connection at this layer: the reader, and the codec if negotiated."""
    params = accept(answer)
    deflate = None if params is None else Deflate(params)
    return deflate, FrameReader(1 << 20, deflate)


def _held_per_connection(port: int, extensions: Optional[str], count: int) -> tuple[int, list[Peer]]:
    """Bytes held per idle connection, after a short exchange, by what ``_codec`` made and by greensio's
    core (zlib objects included: zlib allocates through Python's allocator), measured with tracemalloc."""
    peers = [Peer(port, extensions) for _ in range(count)]  # sockets and handshakes outside the measure
    mask_keys.reset()
    mask_keys.next()  # a fresh pool of 1,024 keys, shared by the process: not refilled during the measure
    tracemalloc.start(10)
    try:
        for client in peers:
            client.deflate, client.reader = _codec(client.answer)
            client.connect()
            client.send('42["echo","' + "z" * 5000 + '"]')
            assert client.read(1)[0].startswith('42["echo","zzz')
            client.wire.clear()
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    code = _codec.__code__
    ours = snapshot.filter_traces(
        [tracemalloc.Filter(True, "*greensio/_core/*", all_frames=True)]
        + [tracemalloc.Filter(True, code.co_filename, lineno=line) for _, _, line in code.co_lines() if line]
    )
    held = sum(stat.size for stat in ours.statistics("filename"))
    return held // count, peers


@pytest.mark.timeout(WAIT * 4)
def test_an_idle_compressed_connection_holds_no_zlib_object(deflate_server: ServerProcess) -> None:
    count = 20
    plain, plain_peers = _held_per_connection(deflate_server.port, None, count)
    zipped, zipped_peers = _held_per_connection(deflate_server.port, offer(), count)
    try:
        assert all(client.deflate is None for client in plain_peers)
        assert all(client.deflate is not None and client.deflate._inflater is None for client in zipped_peers)
        print(f"held by greensio._core per idle connection: {plain} B plain, {zipped} B with permessage-deflate")
        # the goal: within 2 KB of the same connection without compression (a 32 KiB window would show)
        assert zipped - plain < 2048
    finally:
        for client in plain_peers + zipped_peers:
            client.close()
