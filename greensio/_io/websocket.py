"""WebSocket transport: websocket-client does the opening handshake, we do the framing.

websocket-client is given a socket opened with gevent, so the handshake is
cooperative even without monkey patching. After it, frames are read with one
``recv`` per many frames and written with one ``sendall`` per batch: its own
per-frame path costs two or three ``recv`` calls and a pure-Python UTF-8 check.

Over plain TCP, ``watch()`` reads in hub callbacks instead of a reader
greenlet: a connection that is only waiting costs no greenlet, and a message
costs no greenlet switch. Each read lands in one receive buffer per hub.
"""

from __future__ import annotations

import os
import ssl
import struct
import weakref
from typing import Any, Callable, Optional, Sequence

import gevent
import websocket
from gevent.lock import Semaphore

from .._core.cookies import keep_cookies
from .._exceptions import ProtocolError
from .net import open_connection
from .transport import ConnectParams, Packet, TransportClosed

__all__ = ["WebSocketTransport", "encode_frame", "FrameReader"]

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
RECV_SIZE = 256 * 1024
_unpack_16 = struct.Struct("!H").unpack_from
_unpack_64 = struct.Struct("!Q").unpack_from
_pack_16 = struct.Struct("!BBH").pack
_pack_64 = struct.Struct("!BBQ").pack


class _MaskKeys:
    """Unpredictable 4-byte masking keys (RFC 6455 §5.3), drawn from os.urandom in bulk.

    One pool serves every connection of the process.
    """

    __slots__ = ("_pool", "_pos")

    def __init__(self) -> None:
        self._pool = b""
        self._pos = 0

    def reset(self) -> None:
        """Draw new keys from here on (in a forked child)."""
        self._pool = b""

    def next(self) -> bytes:
        pos = self._pos
        if pos >= len(self._pool):
            self._pool = os.urandom(4096)
            pos = 0
        self._pos = pos + 4
        return self._pool[pos : pos + 4]


_keys = _MaskKeys()
if hasattr(os, "register_at_fork"):  # a forked child draws keys of its own
    os.register_at_fork(after_in_child=_keys.reset)


# hub -> (buffer, view): watched reads of one thread land in one buffer (one read at a time
# per hub; a thread's hub is its own, and recv_into releases the GIL)
_recv_buffers: weakref.WeakKeyDictionary[Any, tuple[bytearray, memoryview]] = weakref.WeakKeyDictionary()


def _recv_buffer(hub: Any) -> tuple[bytearray, memoryview]:
    found = _recv_buffers.get(hub)
    if found is None:
        buffer = bytearray(RECV_SIZE)
        found = _recv_buffers[hub] = (buffer, memoryview(buffer))
    return found


def _mask(key: bytes, data: bytes) -> bytes:
    n = len(data)
    pad = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(pad, "little")).to_bytes(n, "little")


def encode_frame(opcode: int, data: bytes, key: bytes) -> bytes:
    """One final, masked client frame."""
    n = len(data)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        header = _pack_16(0x80 | opcode, 0xFE, n)
    else:
        header = _pack_64(0x80 | opcode, 0xFF, n)
    return header + key + _mask(key, data) if n else header + key


class FrameReader:
    """Incremental parser of server frames; ``feed`` returns complete messages.

    Text messages come out as ``str``, binary ones as ``bytes``; control frames
    come out as ``(opcode, payload)`` tuples for the transport to answer. A
    message over ``max_message`` bytes raises ProtocolError before it is
    buffered; a broken frame raises TransportClosed. ``feed`` takes bytes or a
    memoryview that is only valid during the call: complete frames are decoded
    straight from it, and only an unfinished frame is copied.
    """

    __slots__ = ("_parts", "_have", "_need", "_frag_op", "_frags", "max_message")

    def __init__(self, max_message: int) -> None:
        # An unfinished frame: its bytes so far in parts, joined once when complete (joining on
        # every read would copy a large frame once per read), and its length once known.
        self._parts: list[bytes] = []
        self._have = 0
        self._need = 0
        self._frag_op = 0
        self._frags = bytearray()  # the payload of an unfinished fragmented message
        self.max_message = max_message

    def feed(self, data: Any) -> list[object]:
        out: list[object] = []
        if self._have:
            data = self._finish_frame(data, out)
            if data is None:
                return out
        pos = self._parse(data, out)
        if pos < len(data):
            rest = bytes(data[pos:])
            self._parts, self._have, self._need = [rest], len(rest), self._frame_size(rest)
        return out

    def _finish_frame(self, data: Any, out: list[object]) -> Any:
        """Complete the unfinished frame from ``data``; what follows it, or None if still unfinished."""
        if not self._need:  # its header is not complete yet
            head = b"".join(self._parts) + bytes(data[:14])
            self._need = self._frame_size(head)
            if not self._need:
                self._parts, self._have = [head], len(head)
                return None
            self._parts = [b"".join(self._parts)]
        missing = self._need - self._have
        if len(data) < missing:
            self._parts.append(bytes(data))
            self._have += len(data)
            return None
        frame = b"".join([*self._parts, data[:missing]])
        self._parts, self._have, self._need = [], 0, 0
        self._parse(frame, out)
        return data[missing:]

    def _frame_size(self, buf: Any) -> int:
        """The whole length of the frame ``buf`` starts with; 0 while its header is incomplete.

        For an unfinished frame only: ``_parse`` reads headers inline, once per frame.
        """
        end = len(buf)
        if end < 2:
            return 0
        b1 = buf[1]
        n = b1 & 0x7F
        start = 2
        if n == 126:
            if end < 4:
                return 0
            n = _unpack_16(buf, 2)[0]
            start = 4
        elif n == 127:
            if end < 10:
                return 0
            n = _unpack_64(buf, 2)[0]
            start = 10
        if b1 & 0x80:
            raise TransportClosed("transport error", "the server sent a masked frame")
        if n > self.max_message:
            raise ProtocolError(f"frame of {n} bytes exceeds max_message_size")
        return start + int(n)

    def _parse(self, buf: Any, out: list[object]) -> int:
        """Decode the complete frames at the start of ``buf``; where the first unfinished one starts."""
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            n = b1 & 0x7F
            start = pos + 2
            if n == 126:
                if end - pos < 4:
                    break
                n = _unpack_16(buf, start)[0]
                start += 2
            elif n == 127:
                if end - pos < 10:
                    break
                n = _unpack_64(buf, start)[0]
                start += 8
            if b1 & 0x80:
                raise TransportClosed("transport error", "the server sent a masked frame")
            if n > self.max_message:
                raise ProtocolError(f"frame of {n} bytes exceeds max_message_size")
            stop = start + n
            if stop > end:
                break
            payload = buf[start:stop]
            pos = stop
            opcode = b0 & 0x0F
            if b0 & 0x70:
                raise TransportClosed("transport error", "reserved bits set in a frame")
            if opcode >= OP_CLOSE:
                if opcode > OP_PONG or n > 125 or not b0 & 0x80:  # RFC 6455 §5.5
                    raise TransportClosed("transport error", f"invalid control frame (opcode {opcode}, {n} bytes)")
                out.append((opcode, bytes(payload)))
                continue
            if not b0 & 0x80 or opcode == OP_CONT or self._frag_op:
                message = self._fragment(opcode, payload, bool(b0 & 0x80))
                if message is None:
                    continue
                opcode, payload = message
            if opcode == OP_TEXT:
                try:
                    out.append(str(payload, "utf-8"))
                except UnicodeDecodeError as exc:
                    raise TransportClosed("transport error", "invalid UTF-8 in a text frame") from exc
            elif opcode == OP_BINARY:
                out.append(bytes(payload))
            else:
                raise TransportClosed("transport error", f"unknown frame opcode {opcode}")
        return pos

    def _fragment(self, opcode: int, payload: Any, fin: bool) -> Optional[tuple[int, bytes]]:
        if opcode != OP_CONT:
            if self._frag_op:
                raise TransportClosed("transport error", "new message inside a fragmented one")
            self._frag_op = opcode
        elif not self._frag_op:
            raise TransportClosed("transport error", "continuation frame without a message")
        if len(self._frags) + len(payload) > self.max_message:
            raise ProtocolError("fragmented message exceeds max_message_size")
        self._frags += payload
        if not fin:
            return None
        message = (self._frag_op, bytes(self._frags))
        self._frags = bytearray()
        self._frag_op = 0
        return message


class _BufferedHandshakeSocket:
    """The socket as websocket-client's handshake sees it: one recv() per 4 KiB, not per byte.

    websocket-client reads the HTTP response one byte per recv() call; bytes
    read past the headers (the server's first frames) are kept in ``rest``.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._data = b""
        self._pos = 0

    @property
    def rest(self) -> bytes:
        return self._data[self._pos :]

    def recv(self, size: int) -> bytes:
        pos = self._pos
        if pos >= len(self._data):
            self._data = self._sock.recv(4096)
            pos = 0
        self._pos = pos + size
        return self._data[pos : pos + size]

    def gettimeout(self) -> float:
        # 0 takes websocket-client's direct recv()/send() path (no selector set up per byte);
        # the gevent socket underneath still waits cooperatively.
        return 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class WebSocketTransport:
    """Engine.IO over one WebSocket connection."""

    name = "websocket"

    def __init__(self, sock: object, max_message: int) -> None:
        self._sock = sock
        self._tail = b""  # framed bytes try_write could not hand to the kernel yet
        self._early = b""
        # TLS writes cannot be retried with other data after a partial write: only plain TCP
        # sockets are written from the hub
        self._can_try = not isinstance(sock, ssl.SSLSocket)
        self.bytes_out = 0
        self._reader = FrameReader(max_message)
        self._write_lock = Semaphore()
        self._closed = False
        self._peer_closed = False  # the server sent a CLOSE frame
        self.bytes_in = 0
        self._watcher: Any = None  # the io watcher while reading in hub callbacks (watch())
        self._on_packets: Optional[Callable[[list[Packet]], None]] = None
        self._on_closed: Optional[Callable[[str, Optional[ProtocolError]], None]] = None

    @classmethod
    def open(cls, params: ConnectParams) -> WebSocketTransport:
        """Connect and complete the WebSocket handshake."""
        url, host, port, timeout = params.url, params.host, params.port, params.timeout
        headers, cookies, max_message = params.headers, params.cookies, params.max_message
        try:
            sock = open_connection(host, port, timeout, params.ssl_context, params.proxy)
        except OSError as exc:
            raise TransportClosed("transport error", f"cannot connect to {host}:{port}: {exc}") from exc
        try:
            buffered = _BufferedHandshakeSocket(sock)
            ws = websocket.create_connection(
                url,
                socket=buffered,
                timeout=timeout,
                header=dict(headers),
                suppress_origin=True,
                skip_utf8_validation=True,
            )
            ws.sock = None  # the socket is ours from here on
            sock.settimeout(None)
            set_cookie = (ws.getheaders() or {}).get("set-cookie")
            if cookies is not None and set_cookie:
                keep_cookies(cookies, [set_cookie])
        except BaseException as exc:
            sock.close()
            if isinstance(exc, (OSError, websocket.WebSocketException)):
                raise TransportClosed("transport error", f"WebSocket handshake failed: {exc}") from exc
            raise
        transport = cls(sock, max_message)
        transport._early = buffered.rest
        return transport

    def read(self) -> list[Packet]:
        reader = self._reader
        sock = self._sock
        if self._early:  # frames that came with the handshake response
            early, self._early = self._early, b""
            self.bytes_in += len(early)
            packets = self._packets(reader.feed(early), blocking=True)
            if packets:
                return packets
        while True:
            if self._peer_closed:
                raise TransportClosed("transport close", "the server closed the WebSocket")
            try:
                data = sock.recv(RECV_SIZE)  # type: ignore[attr-defined]
            except OSError as exc:
                raise TransportClosed("transport close" if self._closed else "transport error", str(exc)) from exc
            if not data:
                raise TransportClosed("transport close", "connection closed by the server")
            self.bytes_in += len(data)
            packets = self._packets(reader.feed(data), blocking=True)
            if packets:
                return packets

    def watch(
        self, on_packets: Callable[[list[Packet]], None], on_closed: Callable[[str, Optional[ProtocolError]], None]
    ) -> bool:
        """Read in hub callbacks from now on; False (nothing changed) over TLS.

        ``on_packets(packets)`` is called from the hub for what each read
        brings; ``on_closed(reason, error)`` once, when the connection ends
        (``error``: the ProtocolError that ended it) or ``close()`` is called.
        Both must not block.
        """
        if not self._can_try or self._closed:
            return False
        raw = self._sock._sock  # type: ignore[attr-defined]  # gevent's socket wraps the real one
        hub = gevent.get_hub()
        self._on_packets, self._on_closed = on_packets, on_closed
        self._buffer, self._view = _recv_buffer(hub)
        self._raw = raw
        self._watcher = hub.loop.io(raw.fileno(), 1)
        self._watcher.start(self._readable)
        return True

    def pause_reading(self) -> None:
        """Stop reading until ``resume_reading()`` (watch mode)."""
        if self._watcher is not None:
            self._watcher.stop()

    def resume_reading(self) -> None:
        if self._watcher is not None and self._on_closed is not None:
            self._watcher.start(self._readable)

    def _readable(self) -> None:
        try:
            n = self._raw.recv_into(self._buffer)
        except BlockingIOError:
            return
        except OSError:
            self._end("transport error")
            return
        if not n:
            self._end("transport close")
            return
        self.bytes_in += n
        try:
            packets = self._packets(self._reader.feed(self._view[:n]), blocking=False)
        except TransportClosed as exc:
            self._end(exc.reason)
            return
        except ProtocolError as exc:
            self._end("parse error", exc)
            return
        if packets:
            self._on_packets(packets)  # type: ignore[misc]
        if self._peer_closed:
            self._end("transport close")

    def _end(self, reason: str, error: Optional[ProtocolError] = None) -> None:
        """Watch mode: the connection is over; tell the owner once."""
        on_closed, self._on_closed = self._on_closed, None
        self.close()
        if on_closed is not None:
            on_closed(reason, error)

    def _packets(self, items: list[Any], blocking: bool) -> list[Packet]:
        """The messages among what the reader returned, in order, with control frames answered.

        What came before a CLOSE frame is still delivered; then the transport ends
        (``_peer_closed``) and what followed it is ignored.
        """
        first = next((i for i, item in enumerate(items) if type(item) is tuple), -1)
        if first < 0:
            return items
        packets = items[:first]
        for item in items[first:]:
            if type(item) is not tuple:
                packets.append(item)
                continue
            opcode, payload = item
            if opcode == OP_PING:
                self._reply(encode_frame(OP_PONG, payload, _keys.next()), blocking)
            elif opcode == OP_CLOSE:
                self._reply(encode_frame(OP_CLOSE, b"\x03\xe8", _keys.next()), blocking)
                self._peer_closed = True
                break
        return packets

    def _reply(self, frame: bytes, blocking: bool) -> None:
        """Answer a control frame. From the hub it never waits: what the socket does not
        take now leaves before the next write."""
        try:
            if blocking:
                self._send_frames([frame])
            else:
                self._try_send(self._tail + frame)
        except TransportClosed:
            pass

    def _frame(self, packets: Sequence[Packet]) -> bytes:
        keys = _keys
        frames = []
        for packet in packets:
            if isinstance(packet, str):
                frames.append(encode_frame(OP_TEXT, packet.encode("utf-8"), keys.next()))
            else:
                frames.append(encode_frame(OP_BINARY, bytes(packet), keys.next()))
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        self.bytes_out += len(data)
        return data

    def try_write(self, packets: Sequence[Packet]) -> bool:
        return self._try_send(self._tail + self._frame(packets))

    def _try_send(self, data: bytes) -> bool:
        """Hand ``data`` (which includes the tail) to the kernel without waiting; keep the rest."""
        if not self._can_try or self._write_lock.locked():
            self._tail = data
            return False
        try:
            sent = self._sock.send(data, 0, 0.0)  # type: ignore[attr-defined]  # gevent: timeout 0, never waits
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            raise TransportClosed("transport error", str(exc)) from exc
        self._tail = data[sent:]
        return not self._tail

    def write(self, packets: Sequence[Packet]) -> None:
        self._send_frames([self._frame(packets)])

    def _send_frames(self, frames: list[bytes]) -> None:
        """Blocking write, after what ``try_write`` kept (taken under the lock, so order holds)."""
        with self._write_lock:
            data = b"".join([self._tail, *frames])
            self._tail = b""
            try:
                self._sock.sendall(data)  # type: ignore[attr-defined]
            except OSError as exc:
                raise TransportClosed("transport error", str(exc)) from exc

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_watching()
        try:
            self._sock.shutdown(2)  # type: ignore[attr-defined]
        except OSError:
            pass
        self._sock.close()  # type: ignore[attr-defined]
        on_closed, self._on_closed = self._on_closed, None
        if on_closed is not None:
            on_closed("transport close", None)

    def _stop_watching(self) -> None:
        if self._watcher is not None:  # before the fd closes: libev must not watch a closed fd
            self._watcher.close()
            self._watcher = None

    def abandon(self) -> None:
        self._closed = True
        self._on_closed = None
        self._stop_watching()
        self._sock.close()  # type: ignore[attr-defined]

    def close_gracefully(self) -> None:
        """Send a WebSocket close frame, then close."""
        if not self._closed:
            self._reply(encode_frame(OP_CLOSE, b"\x03\xe8", _keys.next()), blocking=True)
        self.close()
