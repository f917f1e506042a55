"""Socket.IO protocol v4 (Socket.IO 2.x servers): what differs from v5, on top of the v5 codec.

EVENT, ACK and binary packets are written and read as in v5 (:mod:`.sio`). The
rest differs; checked against socket.io 2.5.1 and python-socketio 4.6.1 (see
tests/v3/test_v3_servers_raw.py):

- "/" is joined by the server when the Engine.IO connection opens. Node puts
  ``40`` in the handshake response, or, when "/" has a middleware, sends ``40``
  (or ``44"reason"``) once it ran; python-socketio 4 sends ``40`` right after
  OPEN, and refuses "/" by refusing the Engine.IO connection (HTTP 401 with the
  reason as a JSON string over polling, a 101 then a close frame over WebSocket).
  The client must not send ``40`` for "/" while "/" is joined: Node would run
  its connection handler twice.
- CONNECT packets carry no payload. The client's may carry a query in the
  namespace, ``40/nsp?k=v,``: Node merges it into ``socket.handshake.query``
  (over the handshake request's query); python-socketio 4 drops it, its
  handlers see only the query of the Engine.IO handshake request.
- CONNECT replies carry no sid. The socket id is derived as the 2.x JavaScript
  client does: the Engine.IO sid for "/", ``<nsp>#<engine sid>`` otherwise
  (Node's ``socket.id`` is exactly that; python-socketio 4's sid is the engine
  sid in every namespace).
- A refusal is an ERROR packet (type 4, CONNECT_ERROR's number in v5) with any
  JSON data or none. Node sends ``err.data || err.message``, usually a plain
  string: ``44/nsp,"reason"``, and refuses a namespace it does not know with
  "Invalid namespace". python-socketio 4 sends ConnectionRefusedError's
  arguments: one (``44/nsp,"reason"``), a list for several, nothing for none;
  it accepts any namespace.
- python-socketio 4 writes a namespace with no comma when nothing follows
  (``40/chat``, ``41/chat``) and escapes non-ASCII characters in JSON.
- The client's DISCONNECT for "/": Node leaves "/" only; python-socketio 4
  leaves every namespace of the connection without telling the client. So the
  client leaves "/" on the wire only when no other namespace is in use.
- An ERROR for "/": the 2.x JavaScript client reports it on every socket. Node
  holds other namespaces' CONNECTs until "/" is joined, so after a refused "/"
  they get no answer.

This module is pure: no I/O, no gevent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Callable, Optional
from urllib.parse import quote

from .._exceptions import ProtocolError
from .sio import CONNECT, CONNECT_ERROR, DISCONNECT, Packet

__all__ = ["ERROR", "REFUSED", "Link", "handshake_refusal", "query_params", "refusal", "socket_id"]

#: The v4 ERROR packet type: the number CONNECT_ERROR has in v5.
ERROR = CONNECT_ERROR

#: The message of a refusal that carries no string to show.
REFUSED = "refused by the server"

_PENDING, _JOINED, _REFUSED, _LEFT = "pending", "joined", "refused", "left"


def socket_id(nsp: str, engine_sid: str) -> str:
    """The id of a namespace socket, as the 2.x JavaScript client derives it."""
    return engine_sid if nsp == "/" else f"{nsp}#{engine_sid}"


def query_params(values: Mapping[str, Any]) -> dict[str, str]:
    """*values* as query parameters: strings as they are, booleans ``true``/``false``,
    None empty, numbers as written, anything else as JSON."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, str):
            out[str(key)] = value
        elif value is None:
            out[str(key)] = ""
        elif isinstance(value, bool):
            out[str(key)] = "true" if value else "false"
        elif isinstance(value, (int, float)):
            out[str(key)] = repr(value)
        else:
            out[str(key)] = json.dumps(value, separators=(",", ":"))
    return out


def _query_string(values: Mapping[str, Any]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query_params(values).items())


def _check_nsp(nsp: str) -> None:
    if nsp[:1] != "/" or "," in nsp or "?" in nsp:
        raise ValueError(f"invalid namespace {nsp!r}")


def _split(s: str) -> tuple[str, str]:
    """The namespace and the rest of a packet text after its type character."""
    if s[1:2] != "/":
        return "/", s[1:]
    comma = s.find(",", 1)
    nsp, rest = (s[1:], "") if comma < 0 else (s[1:comma], s[comma + 1 :])
    if any(c in nsp for c in '"[{'):
        raise ProtocolError(f"invalid namespace {nsp[:40]!r} (missing ',')")
    return nsp, rest


def refusal(data: Any) -> Any:
    """The data of an ERROR packet in the shape the runtime reads from a v5 CONNECT_ERROR:
    a string, or ``{"message": str, "data": ...}``."""
    if isinstance(data, str):
        return data
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return data
    if isinstance(data, list) and data and isinstance(data[0], str):  # python-socketio: (message, data...)
        rest = data[1:]
        return {"message": data[0], "data": rest[0] if len(rest) == 1 else (rest or None)}
    return {"message": REFUSED, "data": data}


def handshake_refusal(status: int, body: bytes) -> Optional[str]:
    """The reason python-socketio 4 gave for refusing "/" in a polling handshake (HTTP 401 whose
    body is a JSON string), or None: its root refusal, to report like an ERROR for "/"."""
    if status != 401:
        return None
    try:
        reason = json.loads(body)
    except ValueError:
        return None
    return reason if isinstance(reason, str) else None


class Link:
    """The Socket.IO v4 side of one Engine.IO v3 connection.

    As a decoder (``feed_text``, ``feed_binary``, ``reset``) it hands the
    runtime packets in their v5 shape: a CONNECT reply with ``{"sid": ...}``, an
    ERROR as CONNECT_ERROR with a string or ``{"message", "data"}``, a DISCONNECT
    without data. ``join`` and ``leave`` say what to send for a namespace, if
    anything, given whether the server has joined "/".
    """

    __slots__ = ("engine_sid", "root", "on_root_refused", "_root_refusal", "_decoder", "_loads", "_awaiting")

    def __init__(self, decoder: Any, engine_sid: str, loads: Callable[[str], Any] = json.loads) -> None:
        """*decoder*: a fresh :class:`.sio.Decoder` for this connection."""
        self.engine_sid = engine_sid
        self.root = _PENDING  # "/" as the server sees it
        self._root_refusal: Any = None
        self.on_root_refused: Optional[Callable[[Any], None]] = None
        """Called with the refusal's data when the server refuses "/" (before the packet is returned):
        the server then answers no other namespace's CONNECT, so every waiting socket is refused."""
        self._decoder = decoder
        self._loads = loads
        self._awaiting = False  # a binary packet waits for its attachments

    # -- reading --------------------------------------------------------------

    def feed_text(self, s: str, start: int = 0) -> Optional[Packet]:
        """Decode a text frame (``s[start:]``); None if a binary packet now awaits attachments."""
        if start:
            s = s[start:]
        kind = s[:1]
        if kind == "0":
            reply: Packet = self._decoder.feed_text(s)  # a CONNECT has no attachments: never None
            if reply.nsp == "/":
                self.root = _JOINED
            return Packet(CONNECT, reply.nsp, {"sid": socket_id(reply.nsp, self.engine_sid)})
        if kind == "4":
            if self._awaiting:
                raise ProtocolError("got text data while reconstructing a binary packet")
            nsp, rest = _split(s)
            data = refusal(self._json(rest) if rest else None)
            if nsp == "/":
                self.root = _REFUSED
                self._root_refusal = data
                if self.on_root_refused is not None:
                    self.on_root_refused(data)
            return Packet(CONNECT_ERROR, nsp, data)
        if kind == "1":
            if self._awaiting:
                raise ProtocolError("got text data while reconstructing a binary packet")
            nsp, _ = _split(s)  # python-socketio 4 may add the reason of a refusal: not used
            if nsp == "/":
                self.root = _LEFT
            return Packet(DISCONNECT, nsp)
        packet: Optional[Packet] = self._decoder.feed_text(s)
        self._awaiting = packet is None
        return packet

    def feed_binary(self, b: bytes) -> Optional[Packet]:
        """Add an attachment; return the packet once its last attachment arrived."""
        packet: Optional[Packet] = self._decoder.feed_binary(b)
        self._awaiting = packet is None
        return packet

    def reset(self) -> None:
        """Drop a partially received binary packet."""
        self._decoder.reset()
        self._awaiting = False

    def _json(self, text: str) -> Any:
        try:
            return self._loads(text)
        except Exception as exc:
            raise ProtocolError(f"invalid JSON payload ({exc})") from exc

    # -- joining and leaving --------------------------------------------------------

    def join(self, nsp: str, query: Optional[Mapping[str, Any]] = None) -> tuple[Optional[str], Optional[Packet]]:
        """What joining *nsp* takes: ``(text to send or None, packet to handle now as if received or None)``.

        *query* goes in the CONNECT packet (``0/nsp?k=v,``); "/" is joined by
        the server, so its query can only travel in the handshake request.
        """
        _check_nsp(nsp)
        if self.root == _REFUSED:  # Node holds every other CONNECT until "/" is joined: none would be answered
            return None, Packet(CONNECT_ERROR, nsp, self._root_refusal)
        if nsp != "/":
            tail = f"?{_query_string(query)}" if query else ""
            return f"0{nsp}{tail},", None
        if self.root == _JOINED:
            return None, Packet(CONNECT, "/", {"sid": self.engine_sid})
        if self.root == _LEFT:
            self.root = _PENDING
            return ("0/?" + _query_string(query) + ",") if query else "0", None
        return None, None  # the server's own CONNECT (or ERROR) for "/" is on its way

    def leave(self, nsp: str, last: bool) -> Optional[str]:
        """The DISCONNECT to send when the client leaves *nsp* (*last*: no other namespace is in use), or None."""
        _check_nsp(nsp)
        if nsp != "/":
            return f"1{nsp},"
        if last and self.root == _JOINED:
            self.root = _LEFT
            return "1"
        return None  # "/" stays joined on the server (python-socketio 4 would drop every namespace)
