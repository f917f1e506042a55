"""Socket.IO v5 codec of the ``socket.io-msgpack-parser`` (3.x) wire format.

Each packet is ONE binary frame: the msgpack map ``{"type", "data", "id",
"nsp"}`` (``data`` and ``id`` left out when absent; ``nsp`` always there, as
the Node parser requires it).  Binary values are msgpack ``bin``; there are no
attachments and no BINARY_EVENT/BINARY_ACK types.  The Node side uses
notepack.io, whose extension type 0 carries three JavaScript values:

* ``fixext 1`` type 0: ``undefined`` (e.g. ``pid`` in a CONNECT reply) -> ``None``
* ``fixext 8`` type 0: a ``Date`` (int64 ms since the epoch) <-> aware ``datetime``
* ``ext 8/16/32`` type 0: an ``ArrayBuffer`` or typed array -> ``bytes``

Other extension types decode as notepack does, to ``[type, bytes]``; msgpack
timestamps (type -1) decode to aware ``datetime`` objects.

This module is pure (no I/O, no gevent).  It needs the optional ``msgpack``
package, imported when the first encoder or decoder is made (ImportError if
it is missing), so that the module itself always imports and loads nothing
more: msgpack imports ``datetime``, which imports ``time``.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Optional

from .._exceptions import ProtocolError
from .sio import ACK, CONNECT, CONNECT_ERROR, DISCONNECT, EVENT, Packet, check_event_data

__all__ = ["MAX_ENCODE_DEPTH", "MsgpackDecoder", "MsgpackEncoder"]

#: Deepest container nesting the encoder accepts (msgpack's own limit is 511).
MAX_ENCODE_DEPTH = 500

_TYPES: dict[int, int] = {0: CONNECT, 1: DISCONNECT, 2: EVENT, 3: ACK, 4: CONNECT_ERROR, 5: EVENT, 6: ACK}
_MAX_ID = 10**16  # ids have at most 16 digits, as with the default parser
_INT64 = struct.Struct(">q")
_LEAVES = frozenset({str, int, float, bool, bytes, bytearray, type(None)})
_BYTES_LIKE = (bytes, bytearray, memoryview)

# Set by _load(): the msgpack module, datetime.datetime, datetime.timedelta, the Unix epoch (UTC).
_msgpack: Any = None
_datetime: Any = None
_timedelta: Any = None
_EPOCH: Any = None


def _load() -> Any:
    """Import msgpack (and datetime, which msgpack imports anyway) on first use."""
    global _msgpack, _datetime, _timedelta, _EPOCH
    if _msgpack is None:
        try:
            import msgpack
        except ImportError as exc:
            raise ImportError("the msgpack parser needs the 'msgpack' package (pip install msgpack)") from exc
        import datetime

        _datetime = datetime.datetime
        _timedelta = datetime.timedelta
        _EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        _msgpack = msgpack
    return _msgpack


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- encoder


def _json_key(key: Any) -> str:
    """A non-str dict key as ``json.dumps`` writes it (notepack peers coerce keys alike)."""
    if isinstance(key, str):
        return str(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        if key != key:
            return "NaN"
        if key in (float("inf"), float("-inf")):
            return "Infinity" if key > 0 else "-Infinity"
        return float.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _prepare(obj: Any, depth: int) -> Any:
    """*obj*, or a copy of it with non-str keys stringified and strided memoryviews copied."""
    t = type(obj)
    if t is list or t is tuple or (t is not dict and isinstance(obj, (list, tuple))):
        if depth > MAX_ENCODE_DEPTH:
            raise ValueError("data nested too deeply (or circular)")
        new: Any = None
        i = -1
        for v in obj:
            i += 1
            if type(v) in _LEAVES:
                continue
            r = _prepare(v, depth + 1)
            if r is not v:
                if new is None:
                    new = list(obj)
                new[i] = r
        return obj if new is None else new
    if t is dict or isinstance(obj, dict):
        if depth > MAX_ENCODE_DEPTH:
            raise ValueError("data nested too deeply (or circular)")
        rekey = False
        values: Optional[dict[Any, Any]] = None
        for k, v in obj.items():
            if type(k) is not str:
                rekey = True
            if type(v) in _LEAVES:
                continue
            r = _prepare(v, depth + 1)
            if r is not v:
                if values is None:
                    values = {}
                values[k] = r
        if not rekey and values is None:
            return obj
        if values is None:
            values = {}
        return {(k if type(k) is str else _json_key(k)): (values[k] if k in values else v) for k, v in obj.items()}
    if t is memoryview and not obj.c_contiguous:
        return obj.tobytes()
    return obj


def _default(obj: Any) -> Any:
    """msgpack's hook for types it does not know: aware datetimes become notepack Dates."""
    if isinstance(obj, _datetime):
        if obj.utcoffset() is None:
            raise ValueError(f"cannot encode a naive datetime ({obj!r}): give it a tzinfo")
        delta = obj - _EPOCH
        ms = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
        return _msgpack.ExtType(0, _INT64.pack(ms))
    if isinstance(obj, int):  # msgpack hands over the ints it cannot pack
        raise ValueError(f"integer out of msgpack's 64-bit range: {_short(obj)}")
    raise TypeError(f"Object of type {type(obj).__name__} is not msgpack serializable")


class MsgpackEncoder:
    """Encode Socket.IO packets to one msgpack frame each (no attachments)."""

    __slots__ = ("_pack",)

    def __init__(self, dumps: Optional[Callable[..., Any]] = None) -> None:
        """*dumps* is ignored (it is the JSON serialiser of the default parser)."""
        packer = _load().Packer(default=_default, use_bin_type=True, datetime=False, autoreset=True)
        self._pack: Callable[[Any], bytes] = packer.pack

    def encode(
        self,
        type: int,
        nsp: str,
        data: Any = None,
        id: Optional[int] = None,  # noqa: A002
    ) -> tuple[bytes, list[bytes]]:
        """Return the packet as one msgpack ``bytes`` and an empty attachment list.

        BINARY_EVENT/BINARY_ACK are sent as EVENT/ACK.  Bytes-like values
        anywhere are msgpack ``bin``; non-str dict keys are stringified as
        ``json.dumps`` does; aware datetimes become JavaScript Dates.
        Unserialisable data raises TypeError or ValueError.
        """
        ptype = _TYPES.get(type) if isinstance(type, int) else None
        if ptype is None:
            raise ValueError(f"unknown Socket.IO packet type {type!r}")
        if nsp != "/" and (not isinstance(nsp, str) or nsp[:1] != "/" or "," in nsp):
            raise ValueError(f"invalid namespace {nsp!r}")
        packet: dict[str, Any] = {"type": ptype}
        if data is not None:
            packet["data"] = _prepare(data, 0)
        if id is not None:
            if not isinstance(id, int) or isinstance(id, bool):
                raise TypeError(f"ack id must be an int, not {id.__class__.__name__}")
            if not 0 <= id < _MAX_ID:
                raise ValueError(f"ack id out of range: {id!r}")
            packet["id"] = int(id)
        packet["nsp"] = str(nsp)
        try:
            return self._pack(packet), []
        except OverflowError as exc:
            raise ValueError(f"integer out of msgpack's 64-bit range ({exc})") from exc


# --------------------------------------------------------------------------- decoder


def _ext_formats(buf: bytes) -> list[bool]:
    """For each extension value of *buf* handed to ``ext_hook``, in order: is it a fixext?

    msgpack's ``ext_hook`` gets no format, yet notepack gives ``fixext 1`` and
    ``ext 8`` type 0 different meanings.  Every msgpack value is a header
    followed by its payload or by its elements, so a linear walk over the
    headers finds them all.  Timestamps (type -1) never reach ``ext_hook``.
    """
    out: list[bool] = []
    n = len(buf)
    pos = 0
    while pos < n:
        b = buf[pos]
        if b <= 0x9F or b >= 0xE0 or b == 0xC0 or b == 0xC2 or b == 0xC3:
            pos += 1  # fixint, fixmap, fixarray, negative fixint, nil, bool
        elif b <= 0xBF:
            pos += 1 + (b & 0x1F)  # fixstr
        elif 0xD4 <= b <= 0xD8:  # fixext 1/2/4/8/16
            if pos + 1 < n and buf[pos + 1] != 0xFF:
                out.append(True)
            pos += 2 + (1 << (b - 0xD4))
        elif 0xC7 <= b <= 0xC9:  # ext 8/16/32
            w = 1 << (b - 0xC7)
            if pos + 1 + w < n and buf[pos + 1 + w] != 0xFF:
                out.append(False)
            pos += 2 + w + int.from_bytes(buf[pos + 1 : pos + 1 + w], "big")
        elif 0xC4 <= b <= 0xC6 or 0xD9 <= b <= 0xDB:  # bin / str 8/16/32
            w = 1 << (b - 0xC4 if b <= 0xC6 else b - 0xD9)
            pos += 1 + w + int.from_bytes(buf[pos + 1 : pos + 1 + w], "big")
        elif b in _FIXED_SIZES:
            pos += _FIXED_SIZES[b]
        else:  # 0xC1, never used
            break
    return out


_FIXED_SIZES = {
    0xCA: 5,
    0xCB: 9,
    0xCC: 2,
    0xCD: 3,
    0xCE: 5,
    0xCF: 9,
    0xD0: 2,
    0xD1: 3,
    0xD2: 5,
    0xD3: 9,
    0xDC: 3,
    0xDD: 5,
    0xDE: 3,
    0xDF: 5,
}


def _check_keys(obj: dict[Any, Any]) -> dict[Any, Any]:
    for k in obj:
        if type(k) is not str:  # strict_map_key still lets bin keys through
            raise ProtocolError(f"invalid payload: map keys must be strings, got {type(k).__name__}")
    return obj


class MsgpackDecoder:
    """Decode Socket.IO packets from msgpack frames (one frame per packet)."""

    __slots__ = ("_buf", "_ext_fixed", "_ext_index", "_unpackb", "max_attachments")

    def __init__(self, loads: Optional[Callable[[str], Any]] = None, max_attachments: int = 10) -> None:
        """Both arguments are ignored (kept for the default parser's interface)."""
        msgpack = _load()
        self._unpackb: Callable[..., Any] = msgpack.unpackb
        self.max_attachments = max_attachments
        self._buf: Any = None
        self._ext_fixed: Optional[list[bool]] = None
        self._ext_index = 0

    def reset(self) -> None:
        """Nothing to drop: every packet is a single frame."""

    def feed_text(self, s: str) -> Optional[Packet]:
        """Always fails: the msgpack parser sends binary frames only."""
        raise ProtocolError("got a text frame: the msgpack parser only uses binary frames")

    def _ext_hook(self, code: int, data: bytes) -> Any:
        index = self._ext_index
        self._ext_index = index + 1
        if code != 0:
            return [code, data]  # as notepack.io decodes an unknown extension
        size = len(data)
        if size not in (1, 2, 4, 8, 16):
            return data  # ext 8/16/32: an ArrayBuffer
        fixed = self._ext_fixed
        if fixed is None:
            buf = self._buf
            fixed = self._ext_fixed = _ext_formats(buf if type(buf) is bytes else bytes(buf))
        if index >= len(fixed) or not fixed[index]:
            return data  # pragma: no cover - _ext_formats sees every extension
        if size == 1:
            return None  # undefined
        if size == 8:
            ms = _INT64.unpack(data)[0]
            try:
                return _EPOCH + _timedelta(milliseconds=ms)
            except OverflowError as exc:
                raise ProtocolError(f"Date out of Python's datetime range ({ms} ms)") from exc
        return [0, data]

    def feed_binary(self, b: bytes) -> Optional[Packet]:
        """Decode one msgpack frame into a packet."""
        if type(b) is not bytes and not isinstance(b, _BYTES_LIKE):
            raise ProtocolError(f"msgpack packet must be bytes, got {type(b).__name__}")
        self._buf = b
        self._ext_fixed = None
        self._ext_index = 0
        try:
            obj = self._unpackb(
                b,
                raw=False,
                strict_map_key=True,
                use_list=True,
                timestamp=3,
                ext_hook=self._ext_hook,
                object_hook=_check_keys,
            )
        except ProtocolError:
            raise
        except _msgpack.StackError as exc:
            raise ProtocolError("invalid msgpack data: nested too deeply") from exc
        except Exception as exc:  # never leak anything but ProtocolError
            raise ProtocolError(f"invalid msgpack data ({type(exc).__name__}: {exc})") from exc
        finally:
            self._buf = None
            self._ext_fixed = None
        if type(obj) is not dict:
            raise ProtocolError(f"invalid packet: expected a msgpack map, got {type(obj).__name__}")
        return _packet(obj)


def _packet(obj: dict[str, Any]) -> Packet:
    """Validate a decoded map as the default decoder validates a text packet."""
    ptype = obj.get("type")
    if type(ptype) is not int or not CONNECT <= ptype <= CONNECT_ERROR:
        raise ProtocolError(f"unknown Socket.IO packet type {_short(ptype)}")
    nsp = obj.get("nsp")
    if nsp is None:
        nsp = "/"
    elif type(nsp) is not str or nsp[:1] != "/" or "," in nsp:
        raise ProtocolError(f"invalid namespace {_short(nsp)}")
    pid = obj.get("id")
    if pid is not None:
        if ptype != EVENT and ptype != ACK:
            raise ProtocolError(f"invalid ack id: packet type {ptype} takes none")
        if type(pid) is not int or not 0 <= pid < _MAX_ID:
            if ptype != ACK:
                raise ProtocolError(f"invalid ack id {_short(pid)}")
            pid = None  # an ACK nobody waits for: ignored, as the reference client does
    data = obj.get("data")  # nil and undefined mean "none" (python-socketio sends nil)
    if ptype == EVENT:
        if data is None:
            raise ProtocolError("invalid payload: packet type 2 requires one")
        check_event_data(data)
    elif ptype == ACK:
        if type(data) is not list:
            if data is None:
                raise ProtocolError("invalid payload: packet type 3 requires one")
            raise ProtocolError("invalid payload: ACK needs an array")
    elif ptype == CONNECT:
        if data is not None and type(data) is not dict:
            raise ProtocolError("invalid payload: CONNECT needs an object")
    elif ptype == CONNECT_ERROR:
        if type(data) is not str and type(data) is not dict:
            if data is None:
                raise ProtocolError("invalid payload: packet type 4 requires one")
            raise ProtocolError("invalid payload: CONNECT_ERROR needs a string or object")
    elif data is not None:
        raise ProtocolError("invalid payload: DISCONNECT takes none")
    return Packet(ptype, nsp, data, pid)
