"""HTTP long-polling transport: a small HTTP/1.1 client over gevent sockets.

Two keep-alive connections, one for the long-polling GETs (driven by the reader
greenlet) and one for the POSTs (driven by the writer), so there is never more
than one request of each kind in flight and no TCP connect per request. The
requests are simple (GET, or POST with Content-Length) and the responses are
read with Content-Length, chunked encoding, or until EOF.
"""

from __future__ import annotations

import _socket
import os
import ssl
from typing import Any, MutableMapping, Optional, Sequence, Union
from urllib.parse import quote, urlsplit

import gevent
from gevent import socket as gsocket
from gevent.event import Event
from gevent.lock import Semaphore

from .._core.cookies import cookie_header, keep_cookies
from .._core.eio import decode_payload, encode_payload, encoded_length, parse_handshake
from .._core.url import Proxy
from .._exceptions import ProtocolError
from .net import open_connection
from .transport import ConnectParams, Packet, TransportClosed

__all__ = ["PollingTransport"]

RECV_SIZE = 64 * 1024
MAX_HEAD = 64 * 1024  # bytes of a response's status line and headers
MAX_PACKETS = 16  # per POST: python-engineio rejects larger payloads
GRACEFUL_TIMEOUT = 1.0  # seconds for the CLOSE packet of close_gracefully()
_POST_HEADERS = "Content-Type: text/plain;charset=UTF-8\r\n"
_QUICKACK: Optional[int] = getattr(gsocket, "TCP_QUICKACK", None)  # Linux only


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


class _Response:
    __slots__ = ("status", "body", "cookies")

    def __init__(self, status: int, body: Union[bytes, bytearray], cookies: list[str]) -> None:
        self.status = status
        self.body = body
        self.cookies = cookies


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
        self._started = False  # some bytes of the current response arrived
        self.closed = False
        self.bytes_in = self.bytes_out = 0  # on the wire, HTTP headers included

    def request(self, data: bytes, limit: int, timeout: Optional[float]) -> _Response:
        """Send one request and return its response.

        A kept-alive connection the server closed while it was idle (Node's
        keep-alive timeout) is replaced before the request is written. A request
        is never sent twice: once written, any failure is a transport error, as
        the server may have handled it (or written a response we lost).
        """
        if self.closed:
            raise TransportClosed("transport close", "transport closed")
        if self._sock is not None and self._reused and _closed_by_peer(self._sock):
            self.drop()
        sock = self._sock or self._connect()
        self._started = False
        try:
            if self._sock_timeout != timeout:
                sock.settimeout(timeout)
                self._sock_timeout = timeout
            sock.sendall(data)
            self.bytes_out += len(data)
            response = self._response(sock, limit)
            self._reused = True
            return response
        except (OSError, EOFError) as exc:
            self.drop()
            if self.closed:
                raise TransportClosed("transport close", "transport closed") from None
            raise _error(str(exc) or "connection closed by the server") from exc
        except TransportClosed:
            self.drop()
            raise

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

    def _recv(self, sock: Any) -> bytes:
        if self._started:
            _ack_now(sock)
        data: bytes = sock.recv(RECV_SIZE)
        if not data:
            raise EOFError("connection closed by the server")
        self._started = True
        self.bytes_in += len(data)
        return data

    def _response(self, sock: Any, limit: int) -> _Response:
        buf = b""
        while True:  # skip 1xx responses
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                if len(buf) > MAX_HEAD:
                    raise _error("HTTP response headers too large")
                buf += self._recv(sock)
                end = buf.find(b"\r\n\r\n")
            lines = buf[:end].decode("latin-1").split("\r\n")
            buf = buf[end + 4 :]
            version, _, rest = lines[0].partition(" ")
            try:
                status = int(rest[:3])
            except ValueError:
                raise _error(f"malformed HTTP status line {lines[0][:100]!r}") from None
            if status >= 200:
                break
        headers: dict[str, str] = {}
        cookies = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "set-cookie":
                cookies.append(value.strip())
            else:
                headers[name] = value.strip()
        keep_alive = "close" not in headers.get("connection", "").lower() and version == "HTTP/1.1"
        if status in (204, 304):
            body: Union[bytes, bytearray] = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body, buf = self._chunked(sock, buf, limit)
        elif "content-length" in headers:
            try:
                size = int(headers["content-length"])
            except ValueError:
                raise _error("malformed Content-Length") from None
            if size > limit:
                raise _error(f"HTTP response of {size} bytes exceeds max_message_size")
            body, buf = self._exact(sock, buf, size)
        else:
            body, buf, keep_alive = self._until_eof(sock, buf, limit), b"", False
        if buf or not keep_alive:
            self.drop()  # unsolicited bytes, or the server will close it
        return _Response(status, body, cookies)

    def _exact(self, sock: Any, buf: bytes, size: int) -> tuple[Union[bytes, bytearray], bytes]:
        if len(buf) >= size:
            return buf[:size], buf[size:]
        body = bytearray(size)
        view = memoryview(body)
        pos = len(buf)
        body[:pos] = buf
        while pos < size:
            _ack_now(sock)
            got = sock.recv_into(view[pos:], size - pos)
            if not got:
                raise EOFError("connection closed by the server inside a response")
            self._started = True
            self.bytes_in += got
            pos += got
        return body, b""

    def _line(self, sock: Any, buf: bytes) -> tuple[bytes, bytes]:
        end = buf.find(b"\r\n")
        while end < 0:
            if len(buf) > MAX_HEAD:
                raise _error("malformed chunked encoding")
            buf += self._recv(sock)
            end = buf.find(b"\r\n")
        return buf[:end], buf[end + 2 :]

    def _chunked(self, sock: Any, buf: bytes, limit: int) -> tuple[bytes, bytes]:
        parts = []
        total = 0
        while True:
            line, buf = self._line(sock, buf)
            try:
                size = int(line.split(b";", 1)[0], 16)
            except ValueError:
                raise _error("malformed chunked encoding") from None
            if size == 0:
                break
            total += size
            if total > limit:
                raise _error(f"HTTP response of more than {limit} bytes exceeds max_message_size")
            chunk, buf = self._exact(sock, buf, size + 2)
            parts.append(bytes(chunk[:size]))
        while line:  # trailers, up to the empty line
            line, buf = self._line(sock, buf)
        return b"".join(parts), buf

    def _until_eof(self, sock: Any, buf: bytes, limit: int) -> bytes:
        parts = [buf]
        total = len(buf)
        while True:
            _ack_now(sock)
            data = sock.recv(RECV_SIZE)
            if not data:
                return b"".join(parts)
            self.bytes_in += len(data)
            total += len(data)
            if total > limit:
                raise _error(f"HTTP response of more than {limit} bytes exceeds max_message_size")
            parts.append(data)

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
        base_url, host, port, headers = params.url, params.host, params.port, params.headers
        timeout, ssl_context, proxy, cookies = params.timeout, params.ssl_context, params.proxy, params.cookies
        max_message = params.max_message
        parts = urlsplit(base_url)
        self._target = f"{parts.path or '/'}?{parts.query}"
        lines = [f"{name}: {value}\r\n" for name, value in headers.items()]
        if not any(name.lower() == "host" for name in headers):
            netloc = parts.netloc
            default = {"http": ":80", "https": ":443"}.get(parts.scheme, "")
            host_header = netloc[: -len(default)] if default and netloc.endswith(default) else netloc
            lines.insert(0, f"Host: {host_header}\r\n")
        self._headers = "".join(lines)
        self._get = _Connection(host, port, timeout, ssl_context, proxy)
        self._post = _Connection(host, port, timeout, ssl_context, proxy)
        self._post_lock = Semaphore()
        self.cookies: MutableMapping[str, str] = cookies if cookies is not None else {}
        self.max_message = max_message
        # Room for one max_message_size binary message: "b" + base64.
        self._body_limit = 1 + 4 * ((max_message + 2) // 3)
        self.sid = ""
        self.max_payload = 0
        self.bytes_in = self.bytes_out = 0
        self._get_line = self._post_line = ""
        self._get_head = self._post_head = b""
        self._closed = False
        self._wakeup = Event()  # set on resume() and on close
        self._paused = False
        self._busy = 0  # requests in flight
        self._idle = Event()

    @classmethod
    def open(cls, params: ConnectParams) -> tuple[PollingTransport, list[Packet]]:
        """Do the handshake GET; return the transport and the packets of its response (OPEN first)."""
        self = cls(params)
        timeout = params.timeout
        try:
            packets = self._receive(self._head(f"GET {self._target} HTTP/1.1\r\n"), timeout)
            first = packets[0]
            if not isinstance(first, str) or first[:1] != "0":
                raise ProtocolError(f"expected an OPEN packet, got {first[:100]!r}")
            handshake = parse_handshake(first[1:])
        except BaseException:
            self.close()
            raise
        self.sid = handshake.sid
        self.max_payload = handshake.max_payload
        target = f"{self._target}&sid={quote(handshake.sid, safe='')}"
        self._get_line = f"GET {target} HTTP/1.1\r\n"
        self._post_line = f"POST {target} HTTP/1.1\r\n"
        self._get_head = self._head(self._get_line, cookies=False)
        self._post_head = self._head(self._post_line, _POST_HEADERS, cookies=False)[:-2]
        return self, packets

    def _head(self, line: str, extra: str = "", cookies: bool = True) -> bytes:
        """The request line and headers, with the kept cookies."""
        head = line + self._headers + extra
        if cookies and self.cookies:
            head += f"Cookie: {cookie_header(self.cookies)}\r\n"
        return (head + "\r\n").encode("utf-8")

    def _check(self, response: _Response) -> None:
        self.bytes_in = self._get.bytes_in + self._post.bytes_in
        self.bytes_out = self._get.bytes_out + self._post.bytes_out
        if response.cookies:
            keep_cookies(self.cookies, response.cookies)
        if response.status != 200:
            text = bytes(response.body[:200]).decode("utf-8", "replace")
            raise _error(f"HTTP {response.status}: {text}")

    def _receive(self, head: bytes, timeout: Optional[float]) -> list[Packet]:
        response = self._get.request(head, self._body_limit, timeout)
        self._check(response)
        body = response.body
        if not body:  # python-engineio answers a poll of a closing session with nothing
            return []
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("invalid UTF-8 in a polling response") from None
        packets = decode_payload(text)
        if len(body) > self.max_message:
            for packet in packets:
                size = encoded_length(packet) if isinstance(packet, str) else len(packet)
                if size > self.max_message:
                    raise _error(f"message of {size} bytes exceeds max_message_size")
        return packets

    def read(self) -> list[Packet]:
        """One long-polling GET: the packets it brought (binary ones as bytes)."""
        while self._paused and not self._closed:
            self._wakeup.clear()
            self._wakeup.wait()
        if self._closed:
            raise TransportClosed("transport close", "transport closed")
        self._busy += 1
        try:
            return self._receive(self._head(self._get_line) if self.cookies else self._get_head, None)
        finally:
            self._done()

    def write(self, packets: Sequence[Packet]) -> None:
        """POST the packets in order: at most 16 and at most maxPayload bytes per POST."""
        batch: list[Packet] = []
        size = 0
        limit = self.max_payload
        for packet in packets:
            n = encoded_length(packet)
            if batch and (len(batch) == MAX_PACKETS or size + 1 + n > limit):
                self._send(batch, None)
                batch = []
            size = n if not batch else size + 1 + n
            batch.append(packet)
        if batch:
            self._send(batch, None)

    def _send(self, batch: Sequence[Packet], timeout: Optional[float]) -> None:
        body = encode_payload(batch).encode("utf-8", "surrogatepass")
        if self.cookies:
            head = self._head(self._post_line, f"{_POST_HEADERS}Content-Length: {len(body)}\r\n")
        else:
            head = self._post_head + b"Content-Length: %d\r\n\r\n" % len(body)
        with self._post_lock:
            if self._closed:
                raise TransportClosed("transport close", "transport closed")
            self._busy += 1
            try:
                self._check(self._post.request(head + body, MAX_HEAD, timeout))
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
        if not self._closed and self._post_line:
            with gevent.Timeout(GRACEFUL_TIMEOUT, False):
                try:
                    self._send(["1"], GRACEFUL_TIMEOUT)
                except TransportClosed:
                    pass
        self.close()
