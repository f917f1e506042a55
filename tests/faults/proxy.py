"""A TCP proxy on 127.0.0.1 that a test drives to inject network faults.

Runs in-process on gevent. Between greensio and a real server::

    proxy = FaultyProxy(server.port)
    sio = greensio.Socket(proxy.url, ...)
    proxy.cut()          # every current connection closed with FIN
    proxy.reset()        # every current connection closed with RST (SO_LINGER 0)
    proxy.stall()        # nothing forwarded, nothing closed (half-open), until unstall()
    proxy.delay(0.05)    # each chunk read is held this long before it is forwarded
    proxy.trickle(7)     # each chunk is forwarded in pieces of 7 bytes, each written on its own
    proxy.stop()         # closes everything; every greenlet the proxy started has ended

stall() is global: connections accepted while stalled are accepted (the TCP
handshake succeeds, as with a dead path behind a load balancer) but stalled too,
so a client can only reconnect after unstall(). Connections that were stalled
resume forwarding on unstall() (what the far end does with stale bytes is its
business).
"""

from __future__ import annotations

import socket
import struct

import gevent
import gevent.event
from gevent import socket as gsocket
from gevent.server import StreamServer

CHUNK = 65536
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class _Link:
    """One accepted client connection and its upstream connection."""

    def __init__(self, proxy: FaultyProxy, client: socket.socket, upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.closed = False
        self.held = b""  # what the server sent that delay() holds back from the client right now
        self.pumps = [gevent.spawn(self._pump, client, upstream), gevent.spawn(self._pump, upstream, client)]

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        proxy = self.proxy
        try:
            while True:
                proxy._flowing.wait()
                data = src.recv(CHUNK)
                if not data:
                    break
                if src is self.upstream and _QUICKACK is not None:
                    # Acknowledge at once, as the client would without the proxy: gevent's pywsgi
                    # (python-socketio) writes headers and body separately without TCP_NODELAY and
                    # holds the body until that ACK, which Linux delays by 40 ms otherwise.
                    src.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                if proxy._delay:
                    if src is self.upstream:
                        self.held = data
                    gevent.sleep(proxy._delay)
                    self.held = b""
                step = proxy._trickle or len(data)
                for start in range(0, len(data), step):
                    proxy._flowing.wait()
                    dst.sendall(data[start : start + step])
                    if proxy._trickle:
                        gevent.sleep(0)
            dst.shutdown(socket.SHUT_WR)  # pass the FIN on; the other direction goes on
        except OSError:
            # A reset or a failed write on one side: end the other direction too, the handler closes.
            for pump in self.pumps:
                if pump is not gevent.getcurrent():
                    pump.kill(block=False)

    def join(self) -> None:
        gevent.joinall(self.pumps)

    def close(self, rst: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        gevent.killall(self.pumps)
        for sock in (self.client, self.upstream):
            try:
                if rst:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                else:
                    _drain(sock)  # unread bytes would make close() send a RST instead of a FIN
                    sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def _drain(sock: socket.socket) -> None:
    sock.setblocking(False)
    try:
        while sock.recv(CHUNK):
            pass
    except OSError:
        pass


class FaultyProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<upstream_port>; see the module docstring."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.connections = 0  # accepted so far
        self._links: set[_Link] = set()
        self._handlers: set[gevent.Greenlet] = set()  # StreamServer.stop() only kills pooled handlers
        self._flowing = gevent.event.Event()
        self._flowing.set()
        self._delay = 0.0
        self._trickle = 0
        self._server = StreamServer(("127.0.0.1", 0), self._handle)
        self._server.start()
        self.port: int = self._server.address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        return f"<FaultyProxy {self.url} -> {self.upstream_port}>"

    def _handle(self, client: socket.socket, _address: object) -> None:
        self.connections += 1
        self._handlers.add(gevent.getcurrent())
        try:
            self._serve(client)
        finally:
            self._handlers.discard(gevent.getcurrent())

    def _serve(self, client: socket.socket) -> None:
        upstream = gsocket.socket()
        try:
            upstream.connect(("127.0.0.1", self.upstream_port))
        except BaseException as exc:
            upstream.close()
            client.close()  # the server is down: the client sees its connection closed
            if isinstance(exc, OSError):
                return
            raise
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(self, client, upstream)
        self._links.add(link)
        try:
            link.join()
        finally:
            self._links.discard(link)
            link.close()

    @property
    def open_links(self) -> int:
        """Connections currently proxied."""
        return len(self._links)

    def holding(self, marker: bytes) -> bool:
        """Whether delay() holds back, on some connection, server bytes containing ``marker``."""
        return any(marker in link.held for link in self._links)

    def cut(self, holding: bytes | None = None) -> None:
        """Close every current connection, both ends, with a FIN.

        With ``holding``, only the connections on which delay() holds back server
        bytes containing it (they are lost, as on a real network).
        """
        for link in list(self._links):
            if holding is None or holding in link.held:
                link.close()

    def reset(self) -> None:
        """Close every current connection, both ends, with a RST."""
        for link in list(self._links):
            link.close(rst=True)

    def stall(self) -> None:
        """Stop forwarding in both directions, on current and new connections, without closing."""
        self._flowing.clear()

    def unstall(self) -> None:
        self._flowing.set()

    def delay(self, seconds: float) -> None:
        """Hold each chunk read this long before forwarding it (0: no delay)."""
        self._delay = seconds

    def trickle(self, bytes_per_chunk: int) -> None:
        """Forward in pieces of this many bytes, each written separately (0: whole chunks)."""
        self._trickle = bytes_per_chunk

    def stop(self) -> None:
        """Stop accepting, close every connection, and end every greenlet the proxy started."""
        self._server.close()
        self._flowing.set()
        self.cut()
        gevent.killall(list(self._handlers))
        self._server.stop()
