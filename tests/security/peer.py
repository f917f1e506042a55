"""A scriptable Engine.IO v4 / Socket.IO v5 server over raw gevent sockets, to misbehave at every layer.

``Peer`` is a well-behaved server for both transports (polling without upgrade,
and WebSocket) until a test overrides one of its hooks:

- ``respond(conn, request)``: answer an HTTP request itself (True) with any bytes;
- ``handshake_headers(request)``: extra header lines of the 101, or of the polling OPEN response;
- ``on_connect(session, nsp, data)``: answer a namespace CONNECT (or not);
- ``on_event(session, nsp, ack_id, args)``: answer an event (an ack, or the ``echo`` event).

Everything the peer receives is recorded: ``accepts`` (TCP connections),
``requests`` (every request head, raw), ``connects`` (namespace CONNECT payloads)
and each session's Engine.IO packets. Nothing here shares code with greensio:
the framing, the handshake and the HTTP are written out again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import ssl
import struct
from dataclasses import dataclass, field
from typing import Any, Optional, Union
from urllib.parse import parse_qsl, urlsplit

import gevent
import gevent.pool
import gevent.socket
from gevent.event import Event
from gevent.queue import Empty, Queue
from gevent.server import StreamServer

from tests.integration.helpers import relay

__all__ = ["Conn", "Peer", "Request", "Session", "http_response", "server_frame", "dumps"]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
READ_TIMEOUT = 30.0  # seconds a connection may stay silent before the peer drops it
POLL_WAIT = 5.0  # seconds a long-polling GET waits for packets before it is answered with a NOOP
MAX_HEAD = 1 << 20
# Socket.IO packet: type, attachments, namespace, ack id, JSON
PACKET = re.compile(r"(?P<type>\d)(?:(?P<att>\d+)-)?(?:(?P<nsp>/[^,]*),)?(?P<id>\d+)?(?P<data>.*)", re.S)
OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x2, 0x8, 0x9, 0xA


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def http_response(status: int, body: Union[bytes, str] = b"", headers: tuple[str, ...] = (), reason: str = "") -> bytes:
    """A complete HTTP/1.1 response with a Content-Length."""
    data = body.encode() if isinstance(body, str) else body
    reason = reason or {200: "OK", 101: "Switching Protocols", 400: "Bad Request"}.get(status, "Status")
    lines = [f"HTTP/1.1 {status} {reason}", *headers, f"Content-Length: {len(data)}", "", ""]
    return "\r\n".join(lines).encode("latin-1") + data


def server_frame(opcode: int, payload: bytes = b"", fin: bool = True, rsv1: bool = False) -> bytes:
    """One unmasked server frame."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


@dataclass
class Request:
    """One HTTP request as the peer received it."""

    conn: int  # which TCP connection carried it (1 for the first accepted)
    method: str
    target: str
    head: bytes  # the raw head, request line and final CRLF CRLF included
    body: bytes

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query, keep_blank_values=True))

    @property
    def header_lines(self) -> list[bytes]:
        """The raw header lines, without the request line and the empty line."""
        return self.head.split(b"\r\n")[1:-2]

    def lines_named(self, name: str) -> list[bytes]:
        """The raw header lines called ``name`` (any case)."""
        prefix = name.lower().encode() + b":"
        return [line for line in self.header_lines if line.lower().startswith(prefix)]

    def get(self, name: str) -> Optional[str]:
        lines = self.lines_named(name)
        return lines[0].split(b":", 1)[1].strip().decode("latin-1") if lines else None


class Conn:
    """One accepted TCP connection: raw reads and writes, HTTP requests, server-side WebSocket frames."""

    def __init__(self, peer: Peer, sock: Any, number: int) -> None:
        self.peer = peer
        self.sock = sock
        self.number = number
        self.closed = False
        self._buf = bytearray()
        sock.settimeout(READ_TIMEOUT)

    def _fill(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except (OSError, ValueError):
            data = b""
        if not data:
            return False
        self._buf += data
        return True

    def read_exact(self, n: int) -> Optional[bytes]:
        while len(self._buf) < n:
            if not self._fill():
                return None
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def read_request(self) -> Optional[Request]:
        """The next request on this connection; None when the client closed it."""
        while (end := self._buf.find(b"\r\n\r\n")) < 0:
            if len(self._buf) > MAX_HEAD or not self._fill():
                return None
        head = bytes(self._buf[: end + 4])
        del self._buf[: end + 4]
        method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        request = Request(self.number, method, target, head, b"")
        length = request.get("content-length")
        if length:
            body = self.read_exact(int(length))
            if body is None:
                return None
            request.body = body
        return request

    def send(self, data: bytes) -> bool:
        """False when the client is gone."""
        try:
            self.sock.sendall(data)
        except (OSError, ValueError):
            return False
        return True

    def flood(self, chunk: bytes) -> None:
        """Send ``chunk`` again and again, as fast as the client takes it, until it is gone."""
        while self.send(chunk):
            self.peer.flooded += len(chunk)

    def drain(self) -> gevent.Greenlet:
        """Read and drop everything the client sends, in a greenlet of its own."""

        def drop() -> None:
            while self._fill():
                self._buf.clear()

        return self.peer.spawn(drop)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    # -- WebSocket, server side ----------------------------------------------------------

    def accept_websocket(self, request: Request, headers: tuple[str, ...] = ()) -> bool:
        key = request.get("sec-websocket-key") or ""
        accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade"]
        lines += [f"Sec-WebSocket-Accept: {accept}", *headers, "", ""]
        return self.send("\r\n".join(lines).encode("latin-1"))

    def ws_send(self, opcode: int, payload: bytes = b"", fin: bool = True, rsv1: bool = False) -> bool:
        return self.send(server_frame(opcode, payload, fin, rsv1))

    def ws_read(self) -> Optional[tuple[int, bytes]]:
        """The next client frame (opcode, unmasked payload); None when the client is gone."""
        head = self.read_exact(2)
        if head is None:
            return None
        n = head[1] & 0x7F
        if n == 126:
            raw = self.read_exact(2)
            n = struct.unpack("!H", raw)[0] if raw else -1
        elif n == 127:
            raw = self.read_exact(8)
            n = struct.unpack("!Q", raw)[0] if raw else -1
        key = self.read_exact(4) if head[1] & 0x80 else b"\0\0\0\0"
        payload = self.read_exact(n) if n >= 0 and key is not None else None
        if payload is None or key is None:
            return None
        return head[0] & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(payload))


@dataclass
class Session:
    """One Engine.IO session of the peer."""

    peer: Peer
    sid: str
    transport: str
    conn: Optional[Conn] = None  # the WebSocket connection
    packets: list[str] = field(default_factory=list)  # every Engine.IO text packet received
    queue: Queue = field(default_factory=Queue)  # polling: what the next GET returns
    closed: Event = field(default_factory=Event)

    def send(self, *packets: Union[str, bytes]) -> None:
        """Send Engine.IO packets (binary ones as binary frames, or "b" + base64 over polling)."""
        for packet in packets:
            if self.conn is not None:
                if isinstance(packet, bytes):
                    self.conn.ws_send(OP_BINARY, packet)
                else:
                    self.conn.ws_send(OP_TEXT, packet.encode())
            else:
                self.queue.put(packet if isinstance(packet, str) else "b" + base64.b64encode(packet).decode())

    def received(self, packet: str) -> None:
        self.packets.append(packet)
        if packet.startswith("4"):
            self.peer.on_message(self, packet[1:])
        elif packet == "1":
            self.closed.set()


class Peer:
    """A Socket.IO server on 127.0.0.1 (TLS with ``ssl_context``) whose every layer a test can replace."""

    ping_interval = 25000
    ping_timeout = 20000
    max_payload = 1_000_000

    def __init__(self, ssl_context: Optional[ssl.SSLContext] = None) -> None:
        self.accepts = 0
        self.flooded = 0  # bytes sent by Conn.flood
        self.requests: list[Request] = []
        self.connects: list[tuple[str, Any]] = []  # (namespace, CONNECT payload)
        self.sessions: dict[str, Session] = {}
        self.conns: list[Conn] = []
        self._pool = gevent.pool.Pool()
        self._ssl_context = ssl_context
        self.server = StreamServer(("127.0.0.1", 0), self._accept, spawn=self._pool)
        self.server.start()
        self.port: int = self.server.server_port
        self.secure = ssl_context is not None

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://127.0.0.1:{self.port}"

    def spawn(self, fn: Any, *args: Any) -> gevent.Greenlet:
        greenlet = gevent.Greenlet(fn, *args)
        self._pool.start(greenlet)
        return greenlet

    def stop(self) -> None:
        self.server.close()
        for conn in self.conns:
            conn.close()
        self._pool.kill(block=True, timeout=5)

    def requests_of(self, transport: str) -> list[Request]:
        return [r for r in self.requests if r.query.get("transport") == transport]

    # -- hooks ------------------------------------------------------------------------

    def respond(self, conn: Conn, request: Request) -> bool:
        """Answer ``request`` here (True), or let the normal server do it (False)."""
        return False

    def handshake_headers(self, request: Request) -> tuple[str, ...]:
        """Extra header lines of the 101, or of the polling response carrying the OPEN."""
        return ()

    def open_packet(self, session: Session) -> str:
        data = {
            "sid": session.sid,
            "upgrades": [],
            "pingInterval": self.ping_interval,
            "pingTimeout": self.ping_timeout,
            "maxPayload": self.max_payload,
        }
        return "0" + dumps(data)

    def on_connect(self, session: Session, nsp: str, data: Any) -> None:
        """Answer a namespace CONNECT: accept it."""
        session.send(f"40{prefix(nsp)}{dumps({'sid': secrets.token_urlsafe(12)})}")

    def on_event(self, session: Session, nsp: str, ack_id: Optional[str], args: list[Any]) -> None:
        """An acked event is acked with its arguments; any other is echoed as ``echo``."""
        if ack_id is not None:
            session.send(f"43{prefix(nsp)}{ack_id}{dumps(args[1:])}")
        else:
            session.send(f"42{prefix(nsp)}{dumps(['echo', *args[1:]])}")

    # -- the server -----------------------------------------------------------------------

    def on_message(self, session: Session, text: str) -> None:
        match = PACKET.fullmatch(text)
        if match is None:
            return
        nsp = match["nsp"] or "/"
        data = json.loads(match["data"]) if match["data"] else None
        if match["type"] == "0":
            self.connects.append((nsp, data))
            self.on_connect(session, nsp, data)
        elif match["type"] == "2" and isinstance(data, list) and data:
            self.on_event(session, nsp, match["id"], data)

    def _accept(self, sock: Any, _address: Any) -> None:
        self.accepts += 1
        conn = Conn(self, sock, self.accepts)
        self.conns.append(conn)
        if self._ssl_context is not None:
            try:  # here rather than in the StreamServer: a client refusing our certificate is no server error
                conn.sock = self._ssl_context.wrap_socket(sock, server_side=True)
            except OSError:
                conn.close()
                return
        self._handle(conn)

    def _handle(self, conn: Conn) -> None:
        try:
            while (request := conn.read_request()) is not None:
                self.requests.append(request)
                if self.respond(conn, request):
                    continue
                if request.query.get("transport") == "websocket":
                    self._websocket(conn, request)
                    return
                if not self._polling(conn, request):
                    return
        finally:
            conn.close()

    def _new_session(self, transport: str, conn: Optional[Conn] = None) -> Session:
        session = Session(self, secrets.token_urlsafe(12), transport, conn)
        self.sessions[session.sid] = session
        return session

    def _websocket(self, conn: Conn, request: Request) -> None:
        if not conn.accept_websocket(request, self.handshake_headers(request)):
            return
        session = self._new_session("websocket", conn)
        session.send(self.open_packet(session))
        while (frame := conn.ws_read()) is not None:
            opcode, payload = frame
            if opcode == OP_TEXT:
                session.received(payload.decode())
            elif opcode == OP_PING:
                conn.ws_send(OP_PONG, payload)
            elif opcode == OP_CLOSE:
                conn.ws_send(OP_CLOSE, payload[:2])
                break
        session.closed.set()

    def _polling(self, conn: Conn, request: Request) -> bool:
        """Answer one polling request; False when the connection must end."""
        sid = request.query.get("sid")
        if sid is None:
            session = self._new_session("polling")
            headers = ("Content-Type: text/plain; charset=UTF-8", *self.handshake_headers(request))
            return conn.send(http_response(200, self.open_packet(session), headers))
        session_or_none = self.sessions.get(sid)
        if session_or_none is None:
            return conn.send(http_response(400, '{"code":1,"message":"Session ID unknown"}'))
        session = session_or_none
        if request.method == "POST":
            for packet in request.body.decode().split("\x1e"):
                session.received(packet)
            return conn.send(http_response(200, "ok", ("Content-Type: text/html",)))
        return conn.send(http_response(200, "\x1e".join(self.poll(session)), ("Content-Type: text/plain",)))

    def poll(self, session: Session) -> list[str]:
        """What a long-polling GET returns: the queued packets, or a NOOP after POLL_WAIT."""
        try:
            packets = [session.queue.get(timeout=POLL_WAIT)]
        except Empty:
            return ["6"]
        while not session.queue.empty():
            packets.append(session.queue.get())
        return packets


def prefix(nsp: str) -> str:
    return "" if nsp == "/" else nsp + ","


class TunnelProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 that records each CONNECT head; ``refuse``: answer with that status line."""

    def __init__(self, refuse: Optional[str] = None) -> None:
        self.refuse = refuse
        self.heads: list[bytes] = []
        self._socks: list[Any] = []
        self._pool = gevent.pool.Pool()
        self.server = StreamServer(("127.0.0.1", 0), self._handle, spawn=self._pool)
        self.server.start()
        self.port: int = self.server.server_port

    def url(self, credentials: str = "") -> str:
        return f"http://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.close()
        for sock in self._socks:
            sock.close()
        self._pool.kill(block=True, timeout=5)

    def _handle(self, client: Any, _address: Any) -> None:
        self._socks.append(client)
        head = b""
        while b"\r\n\r\n" not in head:
            data = client.recv(4096)
            if not data:
                return
            head += data
        self.heads.append(head)
        if self.refuse is not None:
            client.sendall(self.refuse.encode("latin-1") + b"\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = head.split(b" ", 2)[1].decode().rpartition(":")
        upstream = gevent.socket.socket()
        self._socks.append(upstream)
        upstream.connect((host, int(port)))  # an IP address: no resolver thread
        client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        pipe = self._pool.spawn(relay, upstream, client)
        relay(client, upstream)
        pipe.join()


class SocksRefusing:
    """A SOCKS5 proxy that asks for a username and password (RFC 1929) and refuses them; records what it got."""

    def __init__(self) -> None:
        self.received = b""
        self._socks: list[Any] = []
        self._pool = gevent.pool.Pool()
        self.server = StreamServer(("127.0.0.1", 0), self._handle, spawn=self._pool)
        self.server.start()
        self.port: int = self.server.server_port

    def stop(self) -> None:
        self.server.close()
        for sock in self._socks:
            sock.close()
        self._pool.kill(block=True, timeout=5)

    def _handle(self, client: Any, _address: Any) -> None:
        self._socks.append(client)
        self.received += client.recv(257)  # greeting: version, methods
        client.sendall(b"\x05\x02")  # username/password, please
        self.received += client.recv(513)
        client.sendall(b"\x01\x01")  # refused
