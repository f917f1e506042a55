"""What the runtime needs of a transport, and the errors a transport raises."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Protocol, Sequence, Union

from .._core.cookies import CookieJar
from .._core.protocol import V4
from .._core.protocol import Protocol as EngineProtocol
from .._core.url import Proxy

__all__ = [
    "Transport",
    "Watchable",
    "Pausable",
    "TransportClosed",
    "HTTPStatusError",
    "Packet",
    "ConnectParams",
    "TransportFactory",
    "UncompressedText",
    "UncompressedBinary",
    "uncompressed",
]

Packet = Union[str, bytes]
"""An Engine.IO packet: text whose first character is the type, or a binary message."""


class UncompressedText(str):
    """A text packet the WebSocket must not compress (``emit(..., compress=False)``)."""

    __slots__ = ()


class UncompressedBinary(bytes):
    """A binary packet the WebSocket must not compress."""

    __slots__ = ()


def uncompressed(packet: Packet) -> Packet:
    """``packet`` marked to be sent without permessage-deflate."""
    return UncompressedText(packet) if isinstance(packet, str) else UncompressedBinary(packet)


class TransportClosed(Exception):
    """The transport ended; ``reason`` is ``"transport close"`` or ``"transport error"``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason


class HTTPStatusError(TransportClosed):
    """The server answered a polling request with a status other than 200."""

    def __init__(self, status: int, phrase: str, body: bytes, location: Optional[str] = None) -> None:
        text = bytes(body[:200]).decode("utf-8", "replace")
        super().__init__("transport error", f"HTTP {status} {phrase}: {text}".rstrip(": "))
        self.status = status
        self.phrase = phrase
        self.body = body
        """The start of the response body (what tells a refused protocol version or a refusal)."""
        self.location = location
        """Where a 3xx pointed (never followed)."""


@dataclass(frozen=True)
class ConnectParams:
    """Where and how a transport connects."""

    url: str
    """The Engine.IO URL of the request, query included."""
    host: str
    port: int
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: Optional[float] = None
    ssl_context: Optional[ssl.SSLContext] = None
    max_message: int = 100 * 2**20
    cookies: Optional[CookieJar] = field(default=None, repr=False)
    proxy: Optional[Proxy] = None
    compression: bool = True
    """Offer permessage-deflate (WebSocket), accept gzip/deflate responses (polling)."""
    protocol: EngineProtocol = V4
    """The Engine.IO protocol asked for (its ``EIO`` is in ``url``)."""


class Transport(Protocol):
    """A connected Engine.IO transport, driven by a reader and a writer greenlet or hub callbacks."""

    name: str
    bytes_in: int
    """Bytes read so far."""
    bytes_out: int
    """Bytes written so far."""

    def read(self) -> list[Packet]:
        """Block until at least one packet arrived; raise TransportClosed at the end.

        A transport that can read without a greenlet also offers
        ``watch(on_packets, on_closed) -> bool`` (read in hub callbacks from now
        on) with ``pause_reading()`` and ``resume_reading()``.
        """

    def write(self, packets: Sequence[Packet]) -> None:
        """Send packets in order (after anything ``try_write`` kept), as few writes as possible.

        A transport that can write without blocking also offers
        ``try_write(packets) -> bool``, callable from the hub: it writes what the
        socket takes at once and keeps the rest for the next ``write``, returning
        True when nothing is left.
        """

    def speak(self, protocol: EngineProtocol) -> None:
        """Read and write in ``protocol`` from now on (the server answered in it)."""

    def close(self) -> None:
        """Close at once (idempotent); a blocked ``read`` raises TransportClosed."""

    def close_gracefully(self) -> None:
        """Tell the server we are leaving (best effort, bounded), then close."""

    def abandon(self) -> None:
        """In a forked child: close this process's copy of the connection, never shutting it down."""


class Watchable(Transport, Protocol):
    """A transport that can be read in hub callbacks (a plain-TCP WebSocket)."""

    def watch(self, on_packets: Any, on_closed: Any) -> bool:
        """Read in hub callbacks from now on; False if this transport cannot."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class Pausable(Transport, Protocol):
    """Polling, as the upgrade drives it."""

    protocol: EngineProtocol
    """The protocol the server answered the handshake in (it may differ from the one asked for:
    socket.io 2.x answers any ``EIO`` in v3); the Dialer judges."""

    def begin(self, sid: str, max_payload: int) -> None:
        """The session the handshake opened (later requests carry its sid)."""

    def pause(self, timeout: Optional[float] = None) -> bool:
        """Issue no new request; wait until none is in flight (True) or ``timeout`` passed."""

    def resume(self) -> None: ...


class TransportFactory(Protocol):
    """Opens transports (the Manager is given one; tests give a fake)."""

    def open_polling(self, params: ConnectParams) -> tuple[Pausable, list[Packet]]:
        """Do the polling handshake; return the transport and the packets of its response (OPEN first)."""

    def open_websocket(self, params: ConnectParams) -> Transport:
        """Connect and complete the WebSocket handshake."""
