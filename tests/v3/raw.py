"""Raw Engine.IO v3 peers for tests: plain gevent sockets and greensio's pure codecs, no runtime.

``http_request`` does one HTTP/1.1 request per connection; ``RawPolling`` and
``RawWebSocket`` speak Engine.IO over it with ``greensio._core.eio3``. The
WebSocket opening handshake is websocket-client's (given a gevent socket); the
frames are read and written here, minimally (no fragmentation, no extensions).
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Optional, Union
from urllib.parse import urlencode

import websocket
from gevent import socket as gsocket

from greensio._core import eio3

TIMEOUT = 5.0  # seconds for any single read
Packet = Union[str, bytes]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def _read_until_eof(sock: Any) -> bytes:
    chunks: list[bytes] = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def _dechunk(body: bytes) -> bytes:
    out: list[bytes] = []
    while True:
        line, _, body = body.partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        if not size:
            return b"".join(out)
        out.append(body[:size])
        body = body[size + 2 :]


def http_request(
    port: int,
    method: str,
    query: dict[str, str],
    body: bytes = b"",
    content_type: Optional[str] = None,
    timeout: float = TIMEOUT,
    headers: Optional[dict[str, str]] = None,
) -> Response:
    """One request to /socket.io/ on 127.0.0.1:*port* (Connection: close); the whole response."""
    sock = gsocket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        head = f"{method} /socket.io/?{urlencode(query)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        if content_type is not None:
            head += f"Content-Type: {content_type}\r\n"
        if method == "POST":
            head += f"Content-Length: {len(body)}\r\n"
        sock.sendall(head.encode("ascii") + b"\r\n" + body)
        data = _read_until_eof(sock)
    finally:
        sock.close()
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    received = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        received[name.strip().lower()] = value.strip()
    if "chunked" in received.get("transfer-encoding", ""):
        payload = _dechunk(payload)
    return Response(int(lines[0].split()[1]), received, payload)


@dataclass
class RawPolling:
    """An Engine.IO v3 long-polling session (open it with ``handshake``)."""

    port: int
    query: dict[str, str] = field(default_factory=dict)
    sid: str = ""
    handshake_response: Optional[Response] = None

    def _query(self, **extra: str) -> dict[str, str]:
        return {**self.query, "EIO": "3", "transport": "polling", **extra}

    def handshake(self) -> list[Packet]:
        """The handshake GET; returns its packets (OPEN first), raises AssertionError unless 200."""
        response = self.handshake_response = http_request(self.port, "GET", self._query())
        assert response.status == 200, (response.status, response.body)
        packets = eio3.decode_payload(response.body)
        assert isinstance(packets[0], str)
        self.sid = json.loads(packets[0][1:])["sid"]
        return packets

    def post(self, packets: list[Packet]) -> Response:
        """POST *packets* in binary framing, as greensio sends them."""
        body = eio3.encode_payload(packets)
        return http_request(self.port, "POST", self._query(sid=self.sid), body, eio3.BINARY_CONTENT_TYPE)

    def get(self, timeout: float = TIMEOUT) -> Response:
        return http_request(self.port, "GET", self._query(sid=self.sid), timeout=timeout)

    def poll(self, timeout: float = TIMEOUT) -> list[Packet]:
        """One long-polling GET: its packets."""
        response = self.get(timeout)
        assert response.status == 200, (response.status, response.body)
        return eio3.decode_payload(response.body)

    def poll_until(self, count: int, timeout: float = TIMEOUT) -> list[Packet]:
        """Poll until at least *count* packets arrived in all (NOOPs excluded)."""
        got: list[Packet] = []
        while len(got) < count:
            got += [p for p in self.poll(timeout) if p != "6"]
        return got

    def send_and_poll(self, packets: list[Packet], count: int) -> list[Packet]:
        response = self.post(packets)
        assert response.status == 200, (response.status, response.body)
        return self.poll_until(count)


OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class Refused(Exception):
    """The WebSocket handshake did not end with 101."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:100]!r}")
        self.status = status
        self.body = body


class RawWebSocket:
    """An Engine.IO connection over one WebSocket (frames read and written here)."""

    def __init__(self, port: int, eio: str = "3", sid: Optional[str] = None, **query: str) -> None:
        params = {**query, "EIO": eio, "transport": "websocket"}
        if sid is not None:
            params["sid"] = sid
        self.sock = gsocket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        try:
            ws = websocket.create_connection(
                f"ws://127.0.0.1:{port}/socket.io/?{urlencode(params)}",
                socket=self.sock,
                timeout=TIMEOUT,
                suppress_origin=True,
            )
        except websocket.WebSocketBadStatusException as exc:
            self.sock.close()
            raise Refused(exc.status_code, exc.resp_body or b"") from exc
        ws.sock = None  # the socket is ours from here on
        self._buffer = b""
        self.closed_by_server = False

    def _recv_exact(self, n: int) -> bytes:
        while len(self._buffer) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed")
            self._buffer += data
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def raw_rest(self, timeout: float = 1.0) -> bytes:
        """Whatever bytes come until EOF or *timeout* (for servers that do not frame their answer)."""
        self.sock.settimeout(timeout)
        data = self._buffer
        try:
            while True:
                more = self.sock.recv(65536)
                if not more:
                    break
                data += more
        except (TimeoutError, OSError):
            pass
        return data

    def recv_frame(self) -> tuple[int, bytes]:
        b0, b1 = self._recv_exact(2)
        size = b1 & 0x7F
        if size == 126:
            (size,) = struct.unpack("!H", self._recv_exact(2))
        elif size == 127:
            (size,) = struct.unpack("!Q", self._recv_exact(8))
        return b0 & 0x0F, self._recv_exact(size)

    def recv(self) -> Optional[Packet]:
        """The next Engine.IO packet: str for text, the raw bytes of a binary message; None at a close frame."""
        while True:
            opcode, payload = self.recv_frame()
            if opcode == OP_TEXT:
                return payload.decode("utf-8")
            if opcode == OP_BINARY:
                return payload
            if opcode == OP_CLOSE:
                self.closed_by_server = True
                return None
            if opcode == OP_PING:
                self._send_frame(OP_PONG, payload)

    def recv_packets(self, count: int) -> list[Packet]:
        """The next *count* packets; a close frame before them fails the test."""
        packets: list[Packet] = []
        for _ in range(count):
            packet = self.recv()
            assert packet is not None, f"closed by the server after {packets}"
            packets.append(packet)
        return packets

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        key = os.urandom(4)
        masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
        elif size < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0xFE, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0xFF, size)
        self.sock.sendall(head + key + masked)

    def send(self, packet: Packet) -> None:
        """Send one Engine.IO packet: text as is, bytes as a binary MESSAGE (the v3 0x04 byte first)."""
        if isinstance(packet, str):
            self._send_frame(OP_TEXT, packet.encode("utf-8"))
        else:
            self._send_frame(OP_BINARY, eio3.ws_encode_binary(packet))

    def close(self) -> None:
        try:
            self._send_frame(OP_CLOSE, b"\x03\xe8")
        except OSError:
            pass
        self.sock.close()
