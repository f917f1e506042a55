"""Socket.IO v5 codec: packet encoder and (binary-reassembling) decoder.

Text format: ``<type>[<attachments>-][<nsp>,][<id>][<json>]``; binary values
travel as separate attachments referenced by ``{"_placeholder":true,"num":N}``.
This module is pure: no I/O, no gevent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from .._exceptions import ProtocolError

try:  # the stdlib's C JSON encoder, called directly (absent on some interpreters)
    from _json import encode_basestring as _c_encode_basestring
    from _json import make_encoder as _c_make_encoder
except ImportError:  # pragma: no cover
    _c_make_encoder = None  # type: ignore[assignment,misc]

__all__ = [
    "ACK",
    "BINARY_ACK",
    "BINARY_EVENT",
    "CONNECT",
    "CONNECT_ERROR",
    "DISCONNECT",
    "EVENT",
    "MAX_DEPTH",
    "RESERVED_EVENTS",
    "Decoder",
    "Encoder",
    "Packet",
]

CONNECT = 0
DISCONNECT = 1
EVENT = 2
ACK = 3
CONNECT_ERROR = 4
BINARY_EVENT = 5
BINARY_ACK = 6

#: Event names with a special meaning; never valid in an EVENT packet.
RESERVED_EVENTS: frozenset[str] = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)

#: Deepest container nesting walked when extracting or restoring binary data.
MAX_DEPTH = 100

_TYPE_CODES: dict[str, int] = {str(t): t for t in range(7)}
_TYPE_STRS: dict[int, str] = {t: str(t) for t in range(7)}
_MAX_ID_DIGITS = 64  # more than any id a peer means: an ACK id beyond 2**53 is read, then ignored
_ID_TYPES = frozenset({EVENT, ACK, BINARY_EVENT, BINARY_ACK})
_BYTES_LIKE = (bytes, bytearray, memoryview)


class Packet:
    """A decoded Socket.IO packet (binary types are reported as EVENT/ACK)."""

    __slots__ = ("data", "id", "nsp", "type")

    type: int
    nsp: str
    data: Any
    id: int | None

    def __init__(self, type: int, nsp: str = "/", data: Any = None, id: int | None = None) -> None:  # noqa: A002
        self.type = type
        self.nsp = nsp
        self.data = data
        self.id = id

    def __repr__(self) -> str:
        return f"Packet(type={self.type!r}, nsp={self.nsp!r}, data={self.data!r}, id={self.id!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Packet):
            return NotImplemented
        return self.type == other.type and self.nsp == other.nsp and self.id == other.id and self.data == other.data

    __hash__ = None  # type: ignore[assignment]


# --------------------------------------------------------------------------- encoder


def _to_bytes(obj: bytes | bytearray | memoryview) -> bytes:
    if type(obj) is bytes:
        return obj
    if isinstance(obj, memoryview):
        return obj.tobytes()
    return bytes(obj)


def _deconstruct(obj: Any, out: list[bytes], depth: int) -> Any:
    """Copy *obj* with bytes-like values replaced by placeholders (only if any)."""
    if isinstance(obj, _BYTES_LIKE):
        out.append(_to_bytes(obj))
        return {"_placeholder": True, "num": len(out) - 1}
    if depth > MAX_DEPTH:
        raise ValueError("data nested too deeply (or circular)")
    if isinstance(obj, (list, tuple)):
        new: Any = None
        for i, v in enumerate(obj):
            r = _deconstruct(v, out, depth + 1)
            if r is not v:
                if new is None:
                    new = list(obj)
                new[i] = r
        return obj if new is None else new
    if isinstance(obj, dict):
        new = None
        for k, v in obj.items():
            r = _deconstruct(v, out, depth + 1)
            if r is not v:
                if new is None:
                    new = dict(obj)
                new[k] = r
        return obj if new is None else new
    return obj


class Encoder:
    """Encode Socket.IO packets to a text frame plus binary attachments."""

    __slots__ = ("_atts", "_markers", "_serialise")

    def __init__(self, dumps: Callable[..., Any] = json.dumps) -> None:
        """*dumps* serialises JSON (str or UTF-8 bytes); ``default=`` is used if supported."""
        atts: list[bytes] = []
        self._atts = atts
        self._markers: dict[int, Any] = {}

        def hook(obj: Any) -> Any:
            if isinstance(obj, _BYTES_LIKE):
                atts.append(_to_bytes(obj))
                return {"_placeholder": True, "num": len(atts) - 1}
            raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

        self._serialise: Callable[[Any], str]
        if dumps is json.dumps:
            self._serialise = self._stdlib_serialiser(hook)
        elif self._accepts_default(dumps):

            def serialise(data: Any) -> str:
                out = dumps(data, default=hook)
                return out if type(out) is str else out.decode("utf-8")

            self._serialise = serialise
        else:

            def serialise(data: Any) -> str:
                out = dumps(_deconstruct(data, atts, 0))
                return out if type(out) is str else out.decode("utf-8")

            self._serialise = serialise

    def _stdlib_serialiser(self, hook: Callable[[Any], Any]) -> Callable[[Any], str]:
        atts = self._atts
        if _c_make_encoder is not None:
            try:
                args = (self._markers, hook, _c_encode_basestring, None, ":", ",", False, False, False)
                enc = _c_make_encoder(*args)
                ok = "".join(enc(["\u00e9", 1], 0)) == '["\u00e9",1]'
            except (TypeError, ValueError):  # pragma: no cover - C API changed
                ok = False
            if ok:
                join = "".join

                def serialise(data: Any) -> str:
                    out: str = join(enc(data, 0))
                    if out.isascii() or _is_utf8_safe(out):
                        return out
                    atts.clear()  # lone surrogates: redo with \u escapes, as JSON.stringify
                    return _ascii_encoder(hook).encode(data)

                return serialise
        utf8 = json.JSONEncoder(  # pragma: no cover
            separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=hook
        )

        def serialise_py(data: Any) -> str:  # pragma: no cover
            out = utf8.encode(data)
            if out.isascii() or _is_utf8_safe(out):
                return out
            atts.clear()
            return _ascii_encoder(hook).encode(data)

        return serialise_py

    @staticmethod
    def _accepts_default(dumps: Callable[..., Any]) -> bool:
        called: list[Any] = []

        def probe(obj: Any) -> Any:
            called.append(obj)
            return {"_placeholder": True, "num": 0}

        try:
            dumps([b"\x00"], default=probe)
        except Exception:  # noqa: BLE001 - any failure means "no usable default="
            return False
        return bool(called)

    def encode(
        self,
        type: int,
        nsp: str,
        data: Any = None,
        id: int | None = None,  # noqa: A002
    ) -> tuple[str, list[bytes]]:
        """Return the text frame and the binary attachments of a packet.

        EVENT/ACK data holding bytes-like values anywhere becomes BINARY_EVENT/
        BINARY_ACK.  Unserialisable data raises TypeError or ValueError.
        """
        head = _TYPE_STRS.get(type)
        if head is None:
            raise ValueError(f"unknown Socket.IO packet type {type!r}")
        if data is None:
            payload = ""
        else:
            atts = self._atts
            try:
                payload = self._serialise(data)
            except BaseException:
                atts.clear()
                self._markers.clear()
                raise
            if atts:
                attachments = atts[:]
                atts.clear()
                if type == EVENT or type == BINARY_EVENT:
                    head = f"5{len(attachments)}-"
                elif type == ACK or type == BINARY_ACK:
                    head = f"6{len(attachments)}-"
                else:
                    raise TypeError("binary data is only allowed in EVENT and ACK packets")
                if nsp != "/":
                    head += _nsp_prefix(nsp)
                if id is not None:
                    head += str(id)
                return head + payload, attachments
        if type >= BINARY_EVENT:  # no binary after all
            head = "2" if type == BINARY_EVENT else "3"
        if nsp != "/":
            head += _nsp_prefix(nsp)
        if id is not None:
            head += str(id)
        return head + payload, []


def _is_utf8_safe(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _ascii_encoder(hook: Callable[[Any], Any]) -> json.JSONEncoder:
    return json.JSONEncoder(separators=(",", ":"), allow_nan=False, default=hook)


def _nsp_prefix(nsp: str) -> str:
    if nsp[:1] != "/" or "," in nsp:
        raise ValueError(f"invalid namespace {nsp!r}")
    return nsp + ","


# --------------------------------------------------------------------------- decoder


def _restore(obj: Any, buffers: list[bytes], depth: int) -> Any:
    """Replace placeholders in freshly parsed *obj* (in place) by their buffers."""
    if depth > MAX_DEPTH:
        raise ProtocolError("binary packet nested too deeply")
    if type(obj) is list:
        for i, v in enumerate(obj):
            t = type(v)
            if t is list or t is dict:
                obj[i] = _restore(v, buffers, depth + 1)
    elif type(obj) is dict:
        if obj.get("_placeholder") is True:
            num = obj.get("num")
            if type(num) is not int or not 0 <= num < len(buffers):
                raise ProtocolError(f"illegal attachment placeholder num {num!r}")
            return buffers[num]
        for k, v in obj.items():
            t = type(v)
            if t is list or t is dict:
                obj[k] = _restore(v, buffers, depth + 1)
    return obj


def check_event_data(data: Any) -> None:
    """Reject an EVENT payload the reference parser rejects (shared by both parsers)."""
    if type(data) is not list or not data:
        raise ProtocolError("invalid payload: EVENT needs a non-empty array")
    name = data[0]
    t = type(name)
    if t is str:
        if name in RESERVED_EVENTS:
            raise ProtocolError(f"invalid payload: reserved event name {name!r}")
    elif t is not int and t is not float:
        raise ProtocolError("invalid payload: event name must be a string or number")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # JSON.parse, so the reference parser, refuses NaN and ±Infinity


# Shared like json.loads' own decoder: it keeps no state between calls.
_STRICT = json.JSONDecoder(parse_constant=_no_constants)
_SCAN: Callable[[str, int], tuple[Any, int]] = cast(Any, _STRICT).scan_once


class Decoder:
    """Decode Socket.IO packets; reassembles binary packets from their attachments."""

    __slots__ = ("_buffers", "_expected", "_loads", "_pending", "_scan", "max_attachments")

    def __init__(self, loads: Callable[[str], Any] = json.loads, max_attachments: int = 10) -> None:
        """*loads* parses JSON text; at most *max_attachments* per binary packet."""
        self.max_attachments = max_attachments
        self._loads = _STRICT.decode if loads is json.loads else loads
        # json.loads' own scanner, called directly: same result, much less overhead.
        self._scan: Callable[[str, int], tuple[Any, int]] | None = _SCAN if loads is json.loads else None
        self._pending: Packet | None = None
        self._buffers: list[bytes] = []
        self._expected = 0

    def reset(self) -> None:
        """Drop a partially received binary packet."""
        self._pending = None
        self._buffers = []
        self._expected = 0

    def _loads_slice(self, s: str, i: int) -> Any:
        try:
            return self._loads(s[i:])
        except Exception as exc:
            raise ProtocolError(f"invalid JSON payload ({exc})") from exc

    def feed_text(self, s: str, start: int = 0) -> Packet | None:
        """Decode a text frame (``s[start:]``: the Engine.IO message without its type, uncopied);
        None if a binary packet now awaits attachments."""
        if self._pending is not None:
            raise ProtocolError("got text data while reconstructing a binary packet")
        scan = self._scan
        if scan is not None and type(s) is str and s.startswith("2[", start):  # EVENT on "/", no ack id
            try:
                data, end = scan(s, start + 1)
            except (StopIteration, ValueError, RecursionError):
                end = -1
            if end == len(s):
                if type(data) is not list or not data or type(data[0]) is not str or data[0] in RESERVED_EVENTS:
                    check_event_data(data)
                return Packet(EVENT, "/", data, None)
        if start:
            s = s[start:]
        try:
            n = len(s)
            if not n:
                raise ProtocolError("empty Socket.IO packet")
            ptype = _TYPE_CODES.get(s[0])
            if ptype is None:
                raise ProtocolError(f"unknown Socket.IO packet type {s[0]!r}")
            i = 1
            attachments = 0
            if ptype >= BINARY_EVENT:
                j = s.find("-", 1, 12)
                count = s[1:j]
                if j < 0 or not count or not count.isascii() or not count.isdigit():
                    raise ProtocolError("illegal attachments count")
                attachments = int(count)
                if attachments > self.max_attachments:
                    raise ProtocolError(f"too many attachments ({attachments})")
                i = j + 1
            nsp = "/"
            if i < n and s[i] == "/":
                j = s.find(",", i)
                if j < 0:  # the namespace runs to the end: no payload may follow
                    nsp = s[i:]
                    if "[" in nsp or "{" in nsp or '"' in nsp:
                        raise ProtocolError(f"invalid namespace {nsp[:40]!r} (missing ',')")
                    i = n
                else:
                    nsp = s[i:j]
                    i = j + 1
            pid = None
            if i < n and s[i] != "[" and ptype in _ID_TYPES:
                j = s.find("[", i, i + _MAX_ID_DIGITS + 1)
                digits = s[i:j]
                if j < 0 or not digits.isascii() or not digits.isdigit():
                    raise ProtocolError("invalid ack id (or payload is not an array)")
                pid = int(digits)
                i = j
            if i < n:
                scan = self._scan
                if scan is not None:
                    try:
                        data, end = scan(s, i)
                    except (StopIteration, ValueError, RecursionError):
                        end = -1
                    if end != n:
                        data = self._loads_slice(s, i)
                else:
                    data = self._loads_slice(s, i)
                if ptype == EVENT or ptype == BINARY_EVENT:
                    check_event_data(data)
                elif ptype == ACK or ptype == BINARY_ACK:
                    if type(data) is not list:
                        raise ProtocolError("invalid payload: ACK needs an array")
                elif ptype == CONNECT:
                    if type(data) is not dict:
                        raise ProtocolError("invalid payload: CONNECT needs an object")
                elif ptype == CONNECT_ERROR:
                    if type(data) is not str and type(data) is not dict:
                        raise ProtocolError("invalid payload: CONNECT_ERROR needs a string or object")
                else:
                    raise ProtocolError("invalid payload: DISCONNECT takes none")
            elif ptype == CONNECT or ptype == DISCONNECT:
                data = None
            else:
                raise ProtocolError(f"invalid payload: packet type {ptype} requires one")
        except ProtocolError:
            raise
        except Exception as exc:  # defensive: never leak anything but ProtocolError
            raise ProtocolError(f"malformed Socket.IO packet ({exc!r})") from exc
        if ptype < BINARY_EVENT:
            return Packet(ptype, nsp, data, pid)
        packet = Packet(ptype - 3, nsp, data, pid)
        if attachments:
            self._pending = packet
            self._expected = attachments
            return None
        try:
            _restore(data, [], 0)
        except RecursionError as exc:  # pragma: no cover - MAX_DEPTH is far lower
            raise ProtocolError("binary packet nested too deeply") from exc
        return packet

    def feed_binary(self, b: bytes) -> Packet | None:
        """Add an attachment; return the packet once its last attachment arrived."""
        packet = self._pending
        if packet is None:
            raise ProtocolError("got binary data when not reconstructing a packet")
        if type(b) is not bytes:
            if not isinstance(b, _BYTES_LIKE):
                raise ProtocolError(f"binary attachment must be bytes, got {type(b).__name__}")
            try:
                b = _to_bytes(b)
            except ValueError as exc:  # e.g. a released memoryview
                raise ProtocolError(f"invalid binary attachment ({exc})") from exc
        buffers = self._buffers
        buffers.append(b)
        if len(buffers) < self._expected:
            return None
        self.reset()
        try:
            packet.data = _restore(packet.data, buffers, 0)
        except RecursionError as exc:  # pragma: no cover - MAX_DEPTH is far lower
            raise ProtocolError("binary packet nested too deeply") from exc
        return packet
