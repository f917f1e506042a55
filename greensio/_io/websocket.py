"""WebSocket transport: our own opening handshake and framing (greensio._core) over a gevent socket.

The handshake is built and checked in the core (``wshandshake``): no redirect is
followed, the head is bounded, every Set-Cookie goes to the Manager's own jar.
Frames are read with one ``recv`` per many frames and written with one send per
batch. Over plain TCP, ``watch()`` reads in hub callbacks instead of a reader
greenlet: a connection that is only waiting costs no greenlet, and a message
costs no greenlet switch. Each read lands in one receive buffer per hub.

Control frames: the latest PING is answered once (RFC 6455 §5.5.3: a PONG that
cannot leave now waits in the reader as one pending PING, never as a queue), and
the server's CLOSE ends the stream after what came before it is delivered.
A read loop that completed no message lets other greenlets run before reading
again, so a server streaming control frames or empty fragments starves nothing.
"""

from __future__ import annotations

import fcntl
import os
import ssl
import sys
import termios
import time
import weakref
from typing import Any, Callable, Optional, Sequence
from urllib.parse import urlsplit

import gevent
from gevent import ssl as gssl
from gevent.lock import Semaphore

from .._core import deflate as permessage_deflate
from .._core.protocol import V4, Protocol
from .._core.url import host_header
from .._core.wsframe import (
    OP_BINARY,
    OP_CLOSE,
    OP_PONG,
    OP_TEXT,
    FrameError,
    FrameReader,
    encode_frame,
    encode_frames,
    mask_keys,
)
from .._core.wshandshake import ClientHandshake, build_request, new_key
from .._exceptions import ProtocolError
from .net import open_connection
from .transport import ConnectParams, Packet, TransportClosed, UncompressedBinary, UncompressedText

__all__ = ["WebSocketTransport", "RECV_SIZE"]

# What one read takes; a read full of tiny frames (a flood of PONGs or empty fragments) is
# parsed over several turns of the hub (the frame reader's FRAMES_PER_FEED and backlog).
RECV_SIZE = 256 * 1024
TURN_BUDGET = 0.02  # seconds of reading watched sockets per turn of the hub
_CLOSE_NORMAL = b"\x03\xe8"  # status 1000
_TLS_SOCKETS = (ssl.SSLSocket, gssl.SSLSocket)
_UNCOMPRESSED = (UncompressedText, UncompressedBinary)
_TIOCOUTQ: Optional[int] = getattr(termios, "TIOCOUTQ", None)  # Linux and the BSDs

# hub -> (buffer, view): watched reads of one thread land in one buffer (one read at a time
# per hub; a thread's hub is its own, and recv_into releases the GIL)
_recv_buffers: weakref.WeakKeyDictionary[Any, tuple[bytearray, memoryview]] = weakref.WeakKeyDictionary()


class _Turn:
    """How long the current turn of one hub's loop has spent reading watched sockets.

    When a broadcast makes thousands of sockets readable at once, reading them all in
    one turn would hold every waiting greenlet (the users' calls) for that long: past
    TURN_BUDGET, a socket is put aside until the next turn (its watcher restarted from
    a zero timer), and the greenlets woken meanwhile run in between.
    """

    __slots__ = ("loop", "mark", "started")

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.mark = -1.0
        self.started = 0.0

    def spent(self) -> bool:
        mark = self.loop.now()  # the loop's time, updated once per turn
        if mark != self.mark:
            self.mark = mark
            self.started = time.perf_counter()
            return False
        return time.perf_counter() - self.started > TURN_BUDGET


_turns: weakref.WeakKeyDictionary[Any, _Turn] = weakref.WeakKeyDictionary()


def _recv_buffer(hub: Any) -> tuple[bytearray, memoryview]:
    found = _recv_buffers.get(hub)
    if found is None:
        buffer = bytearray(RECV_SIZE)
        found = _recv_buffers[hub] = (buffer, memoryview(buffer))
    return found


def _handshake(sock: Any, params: ConnectParams) -> tuple[Optional[permessage_deflate.Deflate], bytes]:
    """Do the opening handshake on ``sock``; the negotiated compression and the bytes after the head."""
    parts = urlsplit(params.url)
    resource = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
    secure = parts.scheme == "wss"
    headers = dict(params.headers)
    jar = params.cookies
    if jar is not None:
        cookie = jar.header(params.host, parts.path or "/", secure, time.time())
        if cookie is not None:
            headers["Cookie"] = cookie
    offer = permessage_deflate.offer() if params.compression else None
    key = new_key(os.urandom(16))
    sock.sendall(build_request(resource, host_header(parts.scheme, params.host, params.port), key, headers, offer))
    handshake = ClientHandshake(key, extensions=offer)
    while True:
        data = sock.recv(RECV_SIZE)
        accepted = handshake.feed(data) if data else handshake.feed_eof()
        if accepted is not None:
            break
        gevent.sleep(0)  # a server trickling its answer never holds up the hub
    if jar is not None:
        for value in accepted.set_cookies:
            jar.store(value, params.host, parts.path or "/", secure, time.time())
    agreed = permessage_deflate.accept(accepted.extensions) if offer is not None else None
    return (permessage_deflate.Deflate(agreed) if agreed is not None else None), accepted.rest


class WebSocketTransport:
    """Engine.IO over one WebSocket connection."""

    name = "websocket"

    def __init__(
        self,
        sock: Any,
        max_message: int,
        compression: Optional[permessage_deflate.Deflate] = None,
        protocol: Protocol = V4,
    ) -> None:
        self._sock = sock
        self._protocol = protocol
        self._prefix = protocol.ws_binary_prefix  # the type byte of binary messages in Engine.IO v3
        self._tail = b""  # framed bytes try_write could not hand to the kernel yet
        self._early = b""
        # TLS writes cannot be retried with other data after a partial write, and a TLS socket
        # must be read through TLS: only plain TCP sockets are written and read from the hub
        self._plain = not isinstance(sock, _TLS_SOCKETS)
        self._deflate = compression
        self._reader = FrameReader(max_message, compression)
        self._write_lock = Semaphore()
        self._closed = False
        self._peer_closed = False  # the server sent a CLOSE frame
        self.bytes_in = 0
        self.bytes_out = 0
        self.connect_seconds = 0.0
        """Seconds its TCP connection took (TLS and a proxy's tunnel included)."""
        self._watcher: Any = None  # the io watcher while reading in hub callbacks (watch())
        self._paused = False
        self._on_packets: Optional[Callable[[list[Packet]], None]] = None
        self._on_closed: Optional[Callable[[str, Optional[ProtocolError]], None]] = None

    @classmethod
    def open(cls, params: ConnectParams) -> WebSocketTransport:
        """Connect and complete the WebSocket handshake.

        Connection failures raise TransportClosed (with the OSError as cause); a
        refused or broken handshake raises the core's HandshakeError.
        """
        started = time.monotonic()
        try:
            sock = open_connection(params.host, params.port, params.timeout, params.ssl_context, params.proxy)
        except OSError as exc:
            raise TransportClosed("transport error", f"cannot connect to {params.host}:{params.port}: {exc}") from exc
        connected = time.monotonic() - started
        try:
            compression, early = _handshake(sock, params)
        except OSError as exc:
            sock.close()
            raise TransportClosed("transport error", f"WebSocket handshake failed: {exc}") from exc
        except BaseException:
            sock.close()
            raise
        sock.settimeout(None)
        transport = cls(sock, params.max_message, compression, params.protocol)
        transport._early = early
        transport.connect_seconds = connected
        return transport

    def speak(self, protocol: Protocol) -> None:
        """Read and write in ``protocol`` from now on (the server's OPEN was in it)."""
        self._protocol = protocol
        self._prefix = protocol.ws_binary_prefix

    # -- reading --------------------------------------------------------------------

    def read(self) -> list[Packet]:
        """Block until at least one message arrived (reader greenlet mode)."""
        if self._early:  # frames that came with the handshake response
            early, self._early = self._early, b""
            self.bytes_in += len(early)
            packets = self._packets(self._feed(early), blocking=True)
            if packets:
                return packets
        while True:
            if self._peer_closed:
                raise TransportClosed("transport close", "the server closed the WebSocket")
            if self._reader.backlog:
                packets = self._packets(self._feed(b""), blocking=True)
            else:
                packets = self._packets(self._read_blocking(), blocking=True)
            if packets:
                return packets
            gevent.sleep(0)  # a read that completed no message: others run before the next one

    def _read_blocking(self) -> list[object]:
        """One read of the socket (reader greenlet mode), into the reader's frame buffer if it has one."""
        room = self._reader.frame_buffer()
        try:
            if room is None:
                data = self._sock.recv(RECV_SIZE)
                n = len(data)
            else:
                n = self._sock.recv_into(room)
        except OSError as exc:
            raise TransportClosed("transport close" if self._closed else "transport error", str(exc)) from exc
        if not n:
            raise TransportClosed("transport close", "connection closed by the server")
        self.bytes_in += n
        return self._feed(data) if room is None else self._filled(n)

    def _feed(self, data: Any) -> list[object]:
        try:
            return self._reader.feed(data)
        except FrameError as exc:
            raise TransportClosed("transport error", str(exc)) from exc

    def _filled(self, n: int) -> list[object]:
        """Like ``_feed``, for ``n`` bytes read into the reader's ``frame_buffer()``."""
        try:
            return self._reader.frame_filled(n)
        except FrameError as exc:
            raise TransportClosed("transport error", str(exc)) from exc

    def watch(
        self, on_packets: Callable[[list[Packet]], None], on_closed: Callable[[str, Optional[ProtocolError]], None]
    ) -> bool:
        """Read in hub callbacks from now on; False (nothing changed) over TLS.

        ``on_packets(packets)`` is called from the hub for what each read
        brings; ``on_closed(reason, error)`` once, when the connection ends
        (``error``: the ProtocolError that ended it) or ``close()`` is called.
        Both must not block. One read per turn of the hub: a flood shares the hub.
        """
        if not self._plain or self._closed:
            return False
        raw = self._sock._sock  # gevent's socket wraps the real one
        hub = gevent.get_hub()
        self._on_packets, self._on_closed = on_packets, on_closed
        self._buffer, self._view = _recv_buffer(hub)
        turn = _turns.get(hub)
        if turn is None:
            turn = _turns[hub] = _Turn(hub.loop)
        self._turn = turn
        self._loop = hub.loop
        self._raw = raw
        self._watcher = hub.loop.io(raw.fileno(), 1)
        self._watcher.start(self._readable)
        return True

    def pause_reading(self) -> None:
        """Stop reading until ``resume_reading()`` (watch mode)."""
        self._paused = True
        if self._watcher is not None:
            self._watcher.stop()

    def resume_reading(self) -> None:
        self._paused = False
        if self._watcher is not None and self._on_closed is not None:
            self._watcher.start(self._readable)
            if self._reader.backlog:
                self._next_turn()

    def _next_turn(self) -> None:
        """Read again at the next turn of the hub (what was read so far ran long, or left a backlog)."""
        self._watcher.stop()
        deferred = self._loop.timer(0.0)
        deferred.start(self._resume_next_turn, deferred)

    def _readable(self) -> None:
        if self._turn.spent():
            self._next_turn()
            return
        reader = self._reader
        try:
            if reader.backlog:
                items = self._feed(b"")
            else:
                room = reader.frame_buffer()
                n = self._raw.recv_into(self._buffer, RECV_SIZE) if room is None else self._raw.recv_into(room)
                if not n:
                    self._end("transport close")
                    return
                self.bytes_in += n
                items = self._feed(self._view[:n]) if room is None else self._filled(n)
            packets = self._packets(items, blocking=False)
        except BlockingIOError:
            return
        except TransportClosed as exc:
            self._end(exc.reason)
            return
        except ProtocolError as exc:
            self._end("parse error", exc)
            return
        except OSError:
            self._end("transport error")
            return
        if packets:
            self._on_packets(packets)  # type: ignore[misc]
        if self._peer_closed:
            self._end("transport close")
        elif reader.backlog and self._on_closed is not None and not self._paused:
            self._next_turn()

    def _resume_next_turn(self, deferred: Any) -> None:
        deferred.close()
        if self._watcher is not None and self._on_closed is not None and not self._paused:
            self._watcher.start(self._readable)
            if self._reader.backlog:  # nothing may be left to read on the socket: parse it now
                self._readable()

    def _end(self, reason: str, error: Optional[ProtocolError] = None) -> None:
        """Watch mode: the connection is over; tell the owner once."""
        on_closed, self._on_closed = self._on_closed, None
        self.close()
        if on_closed is not None:
            on_closed(reason, error)

    def _packets(self, items: list[Any], blocking: bool) -> list[Packet]:
        """The messages among what the reader returned, with the latest PING and a CLOSE answered.

        A CLOSE frame is always last (the reader ignores what follows it): what came
        before it is delivered, then the transport ends (``_peer_closed``).
        """
        if items and type(items[-1]) is tuple:
            items.pop()
            self._peer_closed = True
            self._reply(encode_frame(OP_CLOSE, _CLOSE_NORMAL, mask_keys.next()), blocking)
        elif self._reader.ping is not None:
            self._answer_ping(blocking)
        if self._prefix:
            decode = self._protocol.ws_decode_binary
            return [item if type(item) is str else decode(item) for item in items]
        return items

    def _answer_ping(self, blocking: bool) -> None:
        if not blocking and (self._tail or self._write_lock.locked()):
            return  # a write is pending: the PING waits in the reader, answered with that write
        payload = self._reader.take_ping()
        if payload is not None:
            self._reply(encode_frame(OP_PONG, payload, mask_keys.next()), blocking)

    def _reply(self, frame: bytes, blocking: bool) -> None:
        """Send a control frame. From the hub it never waits: what the socket does not
        take now leaves before the next write."""
        try:
            if blocking:
                self._send([frame])
            else:
                self._try_send(self._tail + frame)
        except TransportClosed:
            pass

    # -- writing --------------------------------------------------------------------

    def _frame(self, packets: Sequence[Packet]) -> bytes:
        keys = mask_keys
        deflate = self._deflate
        ping = self._reader.take_ping()
        if deflate is None and ping is None and not self._prefix:
            data = encode_frames(packets, keys.take(len(packets)))
            self.bytes_out += len(data)
            return data
        frames = []
        if ping is not None:  # the PONG the hub could not send when the PING came
            frames.append(encode_frame(OP_PONG, ping, keys.next()))
        for packet in packets:
            if isinstance(packet, str):
                opcode, data = OP_TEXT, packet.encode("utf-8")
            else:
                opcode, data = OP_BINARY, self._prefix + packet if self._prefix else bytes(packet)
            if deflate is not None and len(data) >= deflate.threshold and not isinstance(packet, _UNCOMPRESSED):
                frames.append(encode_frame(opcode, deflate.compress(data), keys.next(), rsv1=True))
            else:
                frames.append(encode_frame(opcode, data, keys.next()))
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        self.bytes_out += len(data)
        return data

    def try_write(self, packets: Sequence[Packet]) -> bool:
        """Write what the socket takes at once (from the hub); True when nothing is left."""
        return self._try_send(self._tail + self._frame(packets))

    def _try_send(self, data: bytes) -> bool:
        """Hand ``data`` (which includes the tail) to the kernel without waiting; keep the rest."""
        if not self._plain or self._write_lock.locked():
            self._tail = data
            return False
        try:
            sent = self._sock.send(data, 0, 0.0)  # gevent: timeout 0, never waits
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            raise TransportClosed("transport error", str(exc)) from exc
        self._tail = data[sent:]
        return not self._tail

    def write(self, packets: Sequence[Packet]) -> None:
        """Blocking write, after what ``try_write`` kept."""
        self._send([self._frame(packets)])

    def _send(self, frames: list[bytes]) -> None:
        with self._write_lock:
            data = b"".join([self._tail, *frames])
            self._tail = b""
            try:
                self._sock.sendall(data)
            except OSError as exc:
                raise TransportClosed("transport error", str(exc)) from exc

    def unsent(self) -> int:
        """Bytes written but not yet acknowledged by the server's TCP (0 where the OS cannot tell)."""
        if _TIOCOUTQ is None or self._closed:
            return 0
        try:
            raw = fcntl.ioctl(self._sock.fileno(), _TIOCOUTQ, b"\0\0\0\0")
        except OSError:
            return 0
        return len(self._tail) + int.from_bytes(raw, sys.byteorder)

    # -- closing --------------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop_watching()
        try:
            self._sock.shutdown(2)
        except OSError:
            pass
        self._sock.close()
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
        self._sock.close()

    def close_gracefully(self) -> None:
        """Send a WebSocket close frame, then close (the caller bounds the time)."""
        if not self._closed:
            self._reply(encode_frame(OP_CLOSE, _CLOSE_NORMAL, mask_keys.next()), blocking=True)
        self.close()
