"""HTTP long-polling transport: a small HTTP/1.1 client over gevent sockets, parsing in greensio._core.

Two keep-alive connections, one for the long-polling GETs (driven by the reader
greenlet) and one for the POSTs (driven by the writer), so there is never more
than one request of each kind in flight and no TCP connect per request. Responses
are parsed by the core's strict RFC 9112 parser, every byte counted against the
size limit from the first read on; a read that completed no response lets other
greenlets run before the next one. GET responses may be gzip- or
deflate-compressed (``compression``), decoded within the same bound.
"""

from __future__ import annotations

import _socket
import os
import re
import ssl
import time
from typing import Any, Optional, Sequence, Union
from urllib.parse import quote, urlsplit

import gevent
from gevent import socket as gsocket
from gevent.event import Event
from gevent.lock import Semaphore

from .._core.content import ACCEPT_ENCODING, decode_content
from .._core.eio import encoded_length
from .._core.http import HTTPError, Response, ResponseParser, TooLarge, build_head
from .._core.protocol import Protocol, detect_polling
from .._core.url import Proxy, host_header
from .._exceptions import ProtocolError
from .net import open_connection
from .transport import ConnectParams, HTTPStatusError, Packet, TransportClosed

__all__ = ["PollingTransport"]

RECV_SIZE = 64 * 1024
MAX_PACKETS = 16  # per POST: python-engineio rejects larger payloads
MAX_ANSWER = 64 * 1024  # bytes of a POST's answer body ("ok")
DECODE_SLICE = 64 * 1024  # bytes of a response body decoded at once
GRACEFUL_TIMEOUT = 1.0  # seconds for the CLOSE packet of close_gracefully()
_QUICKACK: Optional[int] = getattr(gsocket, "TCP_QUICKACK", None)  # Linux only
_EIO_PARAM = re.compile(r"(?<=[?&])EIO=[^&]*")


def _ack_now(sock: Any) -> None:
    """Acknowledge at once the part of a response that arrived.

    A server that writes headers and body separately without TCP_NODELAY
    (gevent's pywsgi, so python-socketio) holds the body until that ACK, which
    Linux would delay by 40 ms: 44 ms per request instead of 0.5 ms.
    """
    if _QUICKACK is not None:
        try:
            sock.setsockopt(gsocket.IPPROTO_TCP, _QUICKACK, 1)
        except OSError:
            pass


def _error(detail: str) -> TransportClosed:
    return TransportClosed("transport error", detail)


def _try_connect(
    host: str, port: int, timeout: Optional[float], ctx: Optional[ssl.SSLContext], proxy: Optional[Proxy]
) -> Any:
    try:
        return open_connection(host, port, timeout, ctx, proxy)
    except Exception as exc:  # returned, not raised: a failed greenlet would print a traceback
        return exc


def _closed_by_peer(sock: Any) -> bool:
    """True when an idle kept-alive connection is closing: the peer sent FIN, RST, or anything at all.

    The peek goes through a duplicate of the descriptor made with the C socket
    module, so it never waits (gevent's recv would) and works under TLS too.
    """
    try:
        probe = _socket.socket(fileno=os.dup(sock.fileno()))
    except OSError:
        return True
    try:
        probe.recv(1, _socket.MSG_PEEK | _socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False  # nothing to read: the connection is alive
    except OSError:
        pass
    finally:
        probe.close()
    return True


class _Connection:
    """One keep-alive HTTP/1.1 connection, reopened when the server dropped it."""

    def __init__(
        self,
        host: str,
        port: int,
        timeout: Optional[float],
        ssl_context: Optional[ssl.SSLContext],
        proxy: Optional[Proxy],
    ) -> None:
        self._addr = (host, port, timeout, ssl_context, proxy)
        self._sock: Any = None
        self._sock_timeout = timeout
        self._reused = False
        self._connector: Optional[gevent.Greenlet] = None
        self.closed = False
        self.bytes_in = self.bytes_out = 0  # on the wire, HTTP headers included

    def request(self, data: bytes, limit: int, timeout: Optional[float]) -> Response:
        """Send one request and return its response (body at most ``limit`` bytes on the wire).

        A kept-alive connection the server closed while it was idle (Node's
        keep-alive timeout) is replaced before the request is written. A request
        is never sent twice: once written, any failure is a transport error, as
        the server may have handled it (or written a response we lost). A
        response over the limits raises ProtocolError.
        """
        if self.closed:
            raise TransportClosed("transport close", "transport closed")
        if self._sock is not None and self._reused and _closed_by_peer(self._sock):
            self.drop()
        sock = self._sock or self._connect()
        try:
            if self._sock_timeout != timeout:
                sock.settimeout(timeout)
                self._sock_timeout = timeout
            sock.sendall(data)
            self.bytes_out += len(data)
            response, rest = self._response(sock, limit)
        except OSError as exc:
            self.drop()
            if self.closed:
                raise TransportClosed("transport close", "transport closed") from None
            raise _error(str(exc) or "connection closed by the server") from exc
        except TooLarge:
            self.drop()
            raise
        except HTTPError as exc:
            self.drop()
            raise _error(str(exc)) from exc
        if rest or not response.keep_alive:
            self.drop()  # unsolicited bytes, or the server will close it
        else:
            self._reused = True
        return response

    def _connect(self) -> Any:
        # Connecting in a helper greenlet lets close() interrupt it at once.
        host, port, timeout = self._addr[:3]
        helper = gevent.spawn(_try_connect, *self._addr)
        self._connector = helper
        try:
            helper.join()
        finally:
            self._connector = None
            if not helper.dead:
                helper.kill(block=False)
        sock = helper.value
        if isinstance(sock, Exception) and not self.closed:
            raise _error(f"cannot connect to {host}:{port}: {sock}") from sock
        if sock is None or isinstance(sock, BaseException) or self.closed:
            if sock is not None and not isinstance(sock, BaseException):
                sock.close()
            raise TransportClosed("transport close", "transport closed")
        self._sock = sock
        self._sock_timeout = timeout
        self._reused = False
        return sock

    def _response(self, sock: Any, limit: int) -> tuple[Response, bytes]:
        """Read one response; it and the bytes that came after it."""
        parser = ResponseParser(limit)
        started = False
        while True:
            if started:
                _ack_now(sock)
            buffer = parser.body_buffer()
            if buffer is not None:  # a Content-Length body: straight into its buffer
                n = sock.recv_into(buffer, len(buffer))
                self.bytes_in += n
                response = parser.body_filled(n) if n else parser.feed_eof()
            else:
                data = sock.recv(RECV_SIZE)
                self.bytes_in += len(data)
                response = parser.feed(data) if data else parser.feed_eof()
            if response is not None:
                return response, parser.rest
            started = True
            gevent.sleep(0)  # a read that completed no response: others run before the next one

    def drop(self, shutdown: bool = True) -> None:
        """Close the socket; the next request opens a new one."""
        sock, self._sock = self._sock, None
        if sock is not None:
            if shutdown:
                try:
                    sock.shutdown(2)
                except OSError:
                    pass
            sock.close()

    def close(self, shutdown: bool = True) -> None:
        self.closed = True
        connector = self._connector
        if connector is not None:
            connector.kill(block=False)
        self.drop(shutdown)


class PollingTransport:
    """Engine.IO over HTTP long-polling."""

    name = "polling"

    def __init__(self, params: ConnectParams) -> None:
        parts = urlsplit(params.url)
        self._target = f"{parts.path or '/'}?{parts.query}"
        self._path = parts.path or "/"
        self._secure = parts.scheme == "https"
        self._host = params.host
        headers = [(name, value) for name, value in params.headers.items() if name.lower() != "host"]
        host = next((v for k, v in params.headers.items() if k.lower() == "host"), None)
        self._headers = [("Host", host or host_header(parts.scheme, params.host, params.port)), *headers]
        self._accept = [("Accept-Encoding", ACCEPT_ENCODING)] if params.compression else []
        connection = (params.host, params.port, params.timeout, params.ssl_context, params.proxy)
        self._get = _Connection(*connection)
        self._post = _Connection(*connection)
        self._post_lock = Semaphore()
        self._jar = params.cookies
        self.max_message = params.max_message
        self.protocol: Protocol = params.protocol
        # Room for one max_message_size binary message: "b" + base64.
        self._body_limit = self.protocol.max_body(params.max_message)
        self.max_payload = 0
        self.bytes_in = self.bytes_out = 0
        self._session_target = ""
        self._get_head = self._post_head = b""
        self._closed = False
        self._wakeup = Event()  # set on resume() and on close
        self._paused = False
        self._busy = 0  # requests in flight
        self._idle = Event()

    @classmethod
    def open(cls, params: ConnectParams) -> tuple[PollingTransport, list[Packet]]:
        """Do the handshake GET; return the transport and the packets of its response (OPEN first).

        The caller reads the OPEN and then calls ``begin(sid, max_payload)``.
        A status other than 200 raises HTTPStatusError. A body in the other protocol
        (socket.io 2.x answers any ``EIO`` in v3) is read in it, and ``protocol`` says so.
        """
        self = cls(params)
        try:
            body = self._get_body(self._head("GET", self._target, self._accept), params.timeout)
            spoken = detect_polling(self.protocol, 200, body)
            if spoken is not None and spoken is not self.protocol:
                self.speak(spoken)
            packets = self._decode(body)
        except BaseException:
            self.close()
            raise
        return self, packets

    def speak(self, protocol: Protocol) -> None:
        """Read and write in ``protocol`` from now on (the handshake answered in it; before ``begin``)."""
        self.protocol = protocol
        self._body_limit = protocol.max_body(self.max_message)
        self._target = _EIO_PARAM.sub(f"EIO={protocol.eio}", self._target)

    def begin(self, sid: str, max_payload: int) -> None:
        """The session the handshake opened: later requests carry its ``sid``."""
        self.max_payload = max_payload
        self._session_target = f"{self._target}&sid={quote(sid, safe='')}"
        self._get_head = self._head("GET", self._session_target, self._accept, cookies=False)
        self._post_head = self._head("POST", self._session_target, [], cookies=False)[:-2]

    def _head(self, method: str, target: str, extra: list[tuple[str, str]], cookies: bool = True) -> bytes:
        """The request head, with the kept cookies."""
        fields = self._headers + extra
        if method == "POST":
            fields = [*fields, ("Content-Type", self.protocol.payload_content_type)]
        if cookies and self._jar is not None:
            cookie = self._jar.header(self._host, self._path, self._secure, time.time())
            if cookie is not None:
                fields = [*fields, ("Cookie", cookie)]
        return build_head(method, target, fields)

    def _check(self, response: Response) -> None:
        self.bytes_in = self._get.bytes_in + self._post.bytes_in
        self.bytes_out = self._get.bytes_out + self._post.bytes_out
        if self._jar is not None:
            for value in response.get_all("set-cookie"):
                self._jar.store(value, self._host, self._path, self._secure, time.time())
        if response.status != 200:
            location = response.get("location") if 300 <= response.status < 400 else None
            raise HTTPStatusError(response.status, response.reason, bytes(response.body[:512]), location)

    def _receive(self, head: bytes, timeout: Optional[float]) -> list[Packet]:
        return self._decode(self._get_body(head, timeout))

    def _get_body(self, head: bytes, timeout: Optional[float]) -> Union[bytes, bytearray]:
        response = self._get.request(head, self._body_limit, timeout)
        self._check(response)
        return decode_content(response.body, response.get("content-encoding"), self._body_limit)

    def _decode(self, body: Union[bytes, bytearray]) -> list[Packet]:
        if not body:  # python-engineio answers a poll of a closing session with nothing
            return []
        if len(body) <= DECODE_SLICE:
            packets = self.protocol.decode_payload(body)
        else:  # a large body is decoded a slice at a time, letting other greenlets run in between
            packets = []
            for part in self.protocol.payload_slices(body):
                packets += part
                gevent.sleep(0)
        if len(body) > self.max_message:
            for packet in packets:
                size = encoded_length(packet) if isinstance(packet, str) else len(packet)
                if size > self.max_message:
                    raise ProtocolError(f"message of {size} bytes exceeds max_message_size")
        return packets

    def _cookies_kept(self) -> bool:
        return self._jar is not None and len(self._jar) > 0

    def read(self) -> list[Packet]:
        """One long-polling GET: the packets it brought (binary ones as bytes)."""
        while self._paused and not self._closed:
            self._wakeup.clear()
            self._wakeup.wait()
        if self._closed:
            raise TransportClosed("transport close", "transport closed")
        self._busy += 1
        try:
            head = self._head("GET", self._session_target, self._accept) if self._cookies_kept() else self._get_head
            return self._receive(head, None)
        finally:
            self._done()

    def write(self, packets: Sequence[Packet]) -> None:
        """POST the packets in order: at most 16 and at most maxPayload bytes per POST."""
        batch: list[Packet] = []
        size = 0
        limit = self.max_payload
        length = self.protocol.encoded_length
        for packet in packets:
            n = length(packet)
            if batch and (len(batch) == MAX_PACKETS or size + 1 + n > limit):
                self._send(batch, None)
                batch = []
            size = n if not batch else size + 1 + n
            batch.append(packet)
        if batch:
            self._send(batch, None)

    def _send(self, batch: Sequence[Packet], timeout: Optional[float]) -> None:
        body = self.protocol.encode_payload(batch)
        if self._cookies_kept():
            head = self._head("POST", self._session_target, [("Content-Length", str(len(body)))])
        else:
            head = self._post_head + b"Content-Length: %d\r\n\r\n" % len(body)
        with self._post_lock:
            if self._closed:
                raise TransportClosed("transport close", "transport closed")
            self._busy += 1
            try:
                self._check(self._post.request(head + body, MAX_ANSWER, timeout))
            finally:
                self._done()

    def _done(self) -> None:
        self._busy -= 1
        if self._paused and not self._busy:
            self._idle.set()

    def pause(self, timeout: Optional[float] = None) -> bool:
        """Issue no new GET; wait until no request is in flight (True) or ``timeout`` passed.

        Later ``read()`` calls block until ``close()``. For the upgrade to websocket:
        the caller stops writing first, and the server answers the pending GET (NOOP).
        """
        self._paused = True
        with gevent.Timeout(timeout, False):
            while self._busy and not self._closed:
                self._idle.clear()
                self._idle.wait()
        return not self._busy

    def resume(self) -> None:
        """Undo ``pause()`` (the upgrade failed): reads and writes go on."""
        self._paused = False
        self._wakeup.set()

    def close(self) -> None:
        """Close both connections at once (idempotent); a blocked read() raises TransportClosed."""
        if not self._closed:
            self._end(shutdown=True)

    def abandon(self) -> None:
        """In a forked child: close this process's copies of the sockets, never shutting them down."""
        self._end(shutdown=False)

    def _end(self, shutdown: bool) -> None:
        self._closed = True
        self._get.close(shutdown)
        self._post.close(shutdown)
        self._wakeup.set()
        self._idle.set()

    def close_gracefully(self) -> None:
        """POST a CLOSE packet (best effort, bounded), then close."""
        if not self._closed and self._session_target:
            with gevent.Timeout(GRACEFUL_TIMEOUT, False):
                try:
                    self._send(["1"], GRACEFUL_TIMEOUT)
                except (TransportClosed, ProtocolError):
                    pass
        self.close()
