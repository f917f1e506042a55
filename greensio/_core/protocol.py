"""The two protocols a Socket.IO server may speak, as values the runtime holds per connection.

``V4``: Engine.IO v4 / Socket.IO v5 (socket.io 3 and later, python-socketio 5).
``V3``: Engine.IO v3 / Socket.IO v4 (socket.io 2.x, python-socketio 4.x).
The runtime asks the one it holds for everything that differs (query, polling
payload, binary WebSocket messages, heartbeat, namespace joins) instead of
testing a version; see /work/plan/v3-wiring.md.

Detection: try V4 first; switch to V3 when the server answers as only a v3
server does. What each server answers (checked by tests/v3/test_v3_servers_raw.py):

========================  ==========================================================
request                   answer
========================  ==========================================================
EIO=4 polling, Node 2.x   200, a v3 payload: ``97:0{"sid":...}2:40`` (engine.io 3 ignores EIO)
EIO=4 polling, py-sio 4   400, ``"The client is using an unsupported version of the
                          Socket.IO or Engine.IO protocols"``
EIO=4 WS, Node 2.x        101, OPEN without ``maxPayload``, then ``40`` in its own frame
EIO=4 WS, py-sio 4        101, then a close frame before any packet (gevent-websocket
                          upgrades before python-engineio checks EIO)
EIO=3 polling, Node 4.8   400, ``{"code":5,"message":"Unsupported protocol version"}``
EIO=3 polling, py-sio 5   400, the same sentence as python-engineio 3 above
EIO=3 WS, Node 4.8        101, then the bytes of an HTTP 400 response ("Unsupported
                          protocol version") in the upgraded stream: a frame error
EIO=3 WS, py-sio 5        101, then a close frame before any packet
========================  ==========================================================

A v3-only server's OPEN never has ``maxPayload``; every current v4 server sends
it, to v3 clients too (socket.io 3.x and early python-engineio 4 did not send it,
so its absence alone proves nothing).
Over WebSocket a refusal of the connection by python-socketio (a refused "/")
looks exactly like the version refusal, a close before OPEN, so that answer only
says "try the other protocol once". With ``transports=["websocket"]`` and the
protocol unknown the runtime therefore: opens with V4; on a close before OPEN
retries once with V3; on an OPEN judges with :func:`detect_open` (Node 2.x's
``40`` usually comes in the same read); and, undecided, goes on in V4, where a
CONNECT reply without payload (:func:`is_v3_connect_reply`) proves a v3 server.

This module is pure: no I/O, no gevent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional, Union

from .._exceptions import ProtocolError
from . import eio, eio3
from .eio import encoded_length as _encoded_length_v4
from .engine import EngineState
from .engine3 import EngineState3
from .sio3 import Link

__all__ = [
    "V3",
    "V4",
    "Protocol",
    "by_revision",
    "detect_open",
    "detect_polling",
    "detect_refusal",
    "is_v3_connect_reply",
]

Packet = Union[str, bytes]


@dataclass(frozen=True)
class Protocol:
    """One protocol: flags for what the runtime does differently, and its codecs."""

    revision: int
    """Engine.IO revision: 4 or 3 (the Socket.IO revision is one more)."""
    client_pings: bool
    """The client sends PING and the server answers PONG (engine ``tick`` matters)."""
    implicit_root: bool
    """The server joins "/" itself: namespaces are joined through a :class:`.sio3.Link`."""
    auth_in_connect: bool
    """The CONNECT packet carries ``auth``; else auth travels as query parameters."""
    recovery: bool
    """Connection state recovery can be used."""
    payload_content_type: str
    """Content-Type of a polling POST."""
    ws_binary_prefix: bytes
    """What a binary WebSocket message starts with (the packet type byte in v3)."""

    @property
    def eio(self) -> str:
        """The value of the ``EIO`` query parameter."""
        return str(self.revision)

    @property
    def socketio_revision(self) -> int:
        return self.revision + 1

    def new_engine(self, loads: Callable[[str], Any] = json.loads) -> Union[EngineState, EngineState3]:
        """A fresh Engine.IO state for one connection."""
        return EngineState(loads)

    def decode_payload(self, body: Union[bytes, bytearray]) -> list[Packet]:
        """The packets of a polling response body."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("invalid UTF-8 in a polling response") from None
        return eio.decode_payload(text)

    def payload_slices(self, body: Union[bytes, bytearray]) -> Iterator[list[Packet]]:
        """The packets of a large polling body, a slice at a time (see eio.payload_slices)."""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("invalid UTF-8 in a polling response") from None
        return eio.payload_slices(text)

    def encode_payload(self, packets: Sequence[Packet]) -> bytes:
        """A polling POST body."""
        return eio.encode_payload(packets).encode("utf-8", "surrogatepass")

    # Bytes a packet adds to a POST body, separator excluded (POSTs are cut at maxPayload): the
    # codec's own function, called per packet written, so no extra call.
    encoded_length = staticmethod(_encoded_length_v4)  # (the class's `eio` is the property)

    def max_body(self, max_message: int) -> int:
        """The largest polling response accepted for messages of *max_message* bytes."""
        return 1 + 4 * ((max_message + 2) // 3)

    def ws_encode_binary(self, data: bytes) -> bytes:
        """The binary WebSocket message carrying *data*."""
        return data

    def ws_decode_binary(self, message: bytes) -> bytes:
        """The data of a binary WebSocket message."""
        return message

    def new_link(self, decoder: Any, engine_sid: str, loads: Callable[[str], Any] = json.loads) -> Any:
        """The Socket.IO decoder of one connection: *decoder* itself in v5."""
        return decoder


@dataclass(frozen=True)
class _Protocol3(Protocol):
    def new_engine(self, loads: Callable[[str], Any] = json.loads) -> Union[EngineState, EngineState3]:
        return EngineState3(loads)

    def decode_payload(self, body: Union[bytes, bytearray]) -> list[Packet]:
        return eio3.decode_payload(body)

    def payload_slices(self, body: Union[bytes, bytearray]) -> Iterator[list[Packet]]:
        return iter([eio3.decode_payload(body)])

    def encode_payload(self, packets: Sequence[Packet]) -> bytes:
        return eio3.encode_payload(packets)

    encoded_length = staticmethod(eio3.encoded_length)

    def max_body(self, max_message: int) -> int:
        return eio3.max_body(max_message)

    def ws_encode_binary(self, data: bytes) -> bytes:
        return eio3.ws_encode_binary(data)

    def ws_decode_binary(self, message: bytes) -> bytes:
        return eio3.ws_decode_binary(message)

    def new_link(self, decoder: Any, engine_sid: str, loads: Callable[[str], Any] = json.loads) -> Any:
        return Link(decoder, engine_sid, loads)


V4 = Protocol(
    revision=4,
    client_pings=False,
    implicit_root=False,
    auth_in_connect=True,
    recovery=True,
    payload_content_type="text/plain;charset=UTF-8",
    ws_binary_prefix=b"",
)
V3 = _Protocol3(
    revision=3,
    client_pings=True,
    implicit_root=True,
    auth_in_connect=False,
    recovery=False,
    payload_content_type=eio3.BINARY_CONTENT_TYPE,
    ws_binary_prefix=eio3.WS_BINARY_PREFIX,
)


def by_revision(revision: int) -> Protocol:
    """V3 or V4 for the ``protocol`` option (3 or 4; 5, the Socket.IO revision of V4, is accepted too)."""
    if revision == 3:
        return V3
    if revision in (4, 5):
        return V4
    raise ValueError(f"protocol must be 3 (Socket.IO 2.x servers) or 4, got {revision!r}")


def _other(requested: Protocol) -> Protocol:
    return V3 if requested is V4 else V4


# --------------------------------------------------------------------------- detection

# python-engineio (3 and 4): "The client is using an unsupported version of the Socket.IO or
# Engine.IO protocols"; Node engine.io 4+: {"code":5,"message":"Unsupported protocol version"}.
_VERSION_REFUSAL = re.compile(rb"unsupported (?:protocol )?version", re.IGNORECASE)
_V3_TEXT_OPEN = re.compile(rb"[0-9]{1,10}:0\{")
_V3_BINARY_OPEN = re.compile(rb"\x00[\x00-\x09]{1,10}\xff0\{")


def detect_refusal(requested: Protocol, status: int, body: Union[bytes, bytearray]) -> Optional[Protocol]:
    """The protocol to try instead when a handshake (polling, or WebSocket upgrade) was refused
    because of its version; None when the refusal says nothing about the version."""
    if status == 400 and _VERSION_REFUSAL.search(body[:512]):
        return _other(requested)
    return None


def detect_polling(requested: Protocol, status: int, body: Union[bytes, bytearray]) -> Optional[Protocol]:
    """The protocol the server speaks, from its answer to a polling handshake sent as *requested*.

    None: the answer does not tell (report it as the error it is).
    """
    if status != 200:
        return detect_refusal(requested, status, body)
    head = bytes(body[:16])
    if head.startswith(b"0{"):
        return V4
    if _V3_TEXT_OPEN.match(head) or _V3_BINARY_OPEN.match(head):
        return V3
    return None


def detect_open(requested: Protocol, packets: Sequence[Packet]) -> Optional[Protocol]:
    """The protocol a WebSocket server speaks, from the packets of its first read (OPEN first).

    An OPEN answering V3 means V3 (a v4-only server refuses EIO=3; socket.io 3+
    with ``allowEIO3`` speaks v3 to it, ``maxPayload`` included). Answering V4:
    a ``maxPayload`` means V4 (no v3-only server sends it); none, and a CONNECT
    without payload (or a refusal as a plain string) after the OPEN, means V3
    (Node 2.x joins "/" unasked, or refuses it when its middleware says so).
    None: not known yet, or not an OPEN.
    """
    if not packets or not isinstance(packets[0], str) or packets[0][:1] != eio.OPEN:
        return None
    try:
        handshake = json.loads(packets[0][1:])
    except ValueError:
        return None
    if requested is V3:
        return V3
    if isinstance(handshake, dict) and "maxPayload" in handshake:
        return V4
    for p in packets[1:]:
        if isinstance(p, str) and p[:1] == eio.MESSAGE and (is_v3_connect_reply(p[1:]) or _is_v3_refusal(p[1:])):
            return V3
    return None


def _is_v3_refusal(text: str) -> bool:
    """True for an ERROR whose data is a string or nothing (``4"reason"``, ``4/nsp,"reason"``): a v5
    server's CONNECT_ERROR always carries an object."""
    if text[:1] != "4":
        return False
    rest = text[1:]
    if rest[:1] == "/":
        comma = rest.find(",")
        rest = "" if comma < 0 else rest[comma + 1 :]
    return not rest or rest[:1] == '"'


def is_v3_connect_reply(text: str) -> bool:
    """True for a Socket.IO CONNECT without payload (``0``, ``0/nsp``, ``0/nsp,``): a v5 server
    always puts ``{"sid": ...}`` in its CONNECT, a v4 server never puts anything."""
    if text[:1] != "0":
        return False
    if len(text) == 1:
        return True
    if text[1:2] != "/":
        return False
    comma = text.find(",")
    return comma < 0 or comma == len(text) - 1
