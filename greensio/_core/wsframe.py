"""WebSocket framing (RFC 6455 §5) for the client side: bytes in, messages out; messages in, frames out.

Pure: the transport reads and writes, this module only parses and builds.
``FrameReader`` decodes the complete frames of each read straight from the
buffer it is given and copies only an unfinished frame; ``encode_frame``
builds one masked frame. With permessage-deflate negotiated (see
``deflate.py``), frames with RSV1 are inflated and ``encode_message`` may
compress.

Errors: a frame that breaks RFC 6455 or RFC 7692 raises ``FrameError``; a
message over ``max_message`` raises ``ProtocolError`` (both ProtocolError, so
the transport can tell a broken stream from an oversized message).
"""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

from .._exceptions import ProtocolError

if TYPE_CHECKING:
    from .deflate import Deflate

__all__ = [
    "FRAGMENT_MIN_COST",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "FrameError",
    "FrameReader",
    "MaskKeys",
    "compressed_limit",
    "encode_frame",
    "encode_frames",
    "encode_message",
    "mask_keys",
]

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

#: Each frame of a fragmented message counts at least this many bytes against ``max_message``,
#: so a stream of empty or tiny fragments ends (refused) after ``max_message / 16`` of them.
FRAGMENT_MIN_COST = 16
# A frame still missing this many bytes or more is read straight into its own buffer
# (frame_buffer); its buffer starts at most FIRST_FRAME_BUFFER large and doubles as bytes
# come, so a header announcing a large frame costs little memory until its bytes arrive.
DIRECT_READ_MIN = 16 * 1024
FIRST_FRAME_BUFFER = 256 * 1024
# Frames one ``feed`` parses at most (about 1 µs each when tiny): what follows is its ``backlog``,
# parsed by the next ``feed``, so a read full of tiny frames cannot hold the caller long.
FRAMES_PER_FEED = 16384

_unpack_16 = struct.Struct("!H").unpack_from
_unpack_64 = struct.Struct("!Q").unpack_from
_pack_16 = struct.Struct("!BBH").pack
_pack_64 = struct.Struct("!BBQ").pack


class FrameError(ProtocolError):
    """The server's frames break RFC 6455 or RFC 7692: the connection must fail."""


def compressed_limit(max_message: int) -> int:
    """The most compressed bytes a message of at most ``max_message`` bytes may take.

    DEFLATE stores incompressible data with 5 bytes of overhead per block;
    this allows for blocks of 320 bytes and more. Also the bound on garbage
    that inflates to nothing (empty blocks).
    """
    return max_message + max_message // 64 + 64


# -- writing ---------------------------------------------------------------------------------------


class MaskKeys:
    """Unpredictable 4-byte masking keys (RFC 6455 §5.3), drawn from os.urandom in bulk.

    One pool (``mask_keys``) serves every connection of the process.
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

    def take(self, count: int) -> bytes:
        """``count`` keys at once, 4 bytes each."""
        size = 4 * count
        pos = self._pos
        if pos + size > len(self._pool):
            self._pool = os.urandom(max(4096, size))
            pos = 0
        self._pos = pos + size
        return self._pool[pos : pos + size]


mask_keys = MaskKeys()
if hasattr(os, "register_at_fork"):  # a forked child draws keys of its own
    os.register_at_fork(after_in_child=mask_keys.reset)


def _mask(key: bytes, data: bytes) -> bytes:
    n = len(data)
    pad = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(pad, "little")).to_bytes(n, "little")


def encode_frame(opcode: int, data: bytes, key: bytes, rsv1: bool = False) -> bytes:
    """One final, masked client frame; ``rsv1`` marks a compressed message (RFC 7692)."""
    n = len(data)
    first = (0xC0 if rsv1 else 0x80) | opcode
    if n < 126:
        header = bytes((first, 0x80 | n))
    elif n < 65536:
        header = _pack_16(first, 0xFE, n)
    else:
        header = _pack_64(first, 0xFF, n)
    return header + key + _mask(key, data) if n else header + key


# The 2-byte headers of final, masked, uncompressed frames under 126 bytes: _SMALL[opcode][n].
_SMALL = {op: [bytes((0x80 | op, 0x80 | n)) for n in range(126)] for op in (0x1, 0x2)}
_ZEROS = [bytes(n) for n in range(15)]


def encode_frames(packets: Sequence[Union[str, bytes]], keys: bytes) -> bytes:
    """Final, masked, uncompressed frames for several messages (str: text, bytes: binary), one per
    packet with its own key (``keys``: 4 bytes each), masked together with one XOR.
    """
    parts: list[bytes] = []
    masks: list[bytes] = []
    add, add_mask = parts.append, masks.append
    start = 0
    for packet in packets:
        if type(packet) is str or isinstance(packet, str):
            data = packet.encode("utf-8")
            opcode = 0x1
        else:
            data = bytes(packet)
            opcode = 0x2
        n = len(data)
        if n < 126:
            header = _SMALL[opcode][n]
        elif n < 65536:
            header = _pack_16(0x80 | opcode, 0xFE, n)
        else:
            header = _pack_64(0x80 | opcode, 0xFF, n)
        key = keys[start : start + 4]
        start += 4
        add(header)
        add(key)
        add(data)
        add_mask(_ZEROS[len(header) + 4])
        add_mask((key * (n // 4 + 1))[:n])
    frames = b"".join(parts)
    size = len(frames)
    return (int.from_bytes(frames, "little") ^ int.from_bytes(b"".join(masks), "little")).to_bytes(size, "little")


def encode_message(
    opcode: int, data: bytes, key: bytes, deflate: Optional[Deflate] = None, compress: bool = True
) -> bytes:
    """One data message as one masked frame, compressed when that is negotiated and worth it.

    Compressed when ``deflate`` is given (permessage-deflate negotiated),
    ``compress`` is true (false for one message: JS ``socket.compress(false)``)
    and ``data`` is at least ``deflate.threshold`` bytes.
    """
    if deflate is not None and compress and len(data) >= deflate.threshold:
        return encode_frame(opcode, deflate.compress(data), key, True)
    return encode_frame(opcode, data, key)


# -- reading ---------------------------------------------------------------------------------------


class FrameReader:
    """Incremental parser of server frames; ``feed`` returns complete messages.

    Text messages come out as ``str``, binary ones as ``bytes``; a CLOSE frame
    comes out as ``(OP_CLOSE, payload)`` and ends the stream: what follows it
    is ignored (``closed``). PINGs do not come out: ``ping`` holds the payload
    of the latest one not yet answered (RFC 6455 §5.5.3: answering the latest
    is enough), which the transport takes with ``take_ping()`` when it can
    write. PONGs are dropped (the Engine.IO heartbeat is above this layer).

    ``feed`` takes bytes or a memoryview that is only valid during the call:
    complete frames are decoded straight from it, and only an unfinished frame
    is copied. A message over ``max_message`` bytes (inflated size for a
    compressed one) raises ProtocolError before it is buffered, or while it is
    inflated; a frame that breaks the protocol raises FrameError. With
    ``deflate`` (permessage-deflate negotiated), RSV1 on the first frame of a
    data message marks it compressed. Each frame of a fragmented message counts
    at least ``FRAGMENT_MIN_COST`` bytes, so empty fragments cannot go on for
    ever.
    """

    __slots__ = (
        "backlog",
        "_frame",
        "_have",
        "_need",
        "_frag_op",
        "_frags",
        "_spent",
        "_compressed",
        "_deflate",
        "max_message",
        "ping",
        "closed",
    )

    def __init__(self, max_message: int, deflate: Optional[Deflate] = None) -> None:
        # An unfinished frame: its first _have bytes in _frame (which grows with what arrives,
        # doubling up to the frame's size), and its whole size once its header is known.
        self.backlog = b""
        """Read bytes not parsed yet (FRAMES_PER_FEED): the next ``feed`` starts with them."""
        self._frame = bytearray()
        self._have = 0
        self._need = 0
        self._frag_op = 0  # the opcode of an unfinished fragmented message, 0 when none
        self._frags = bytearray()  # its payload so far (compressed if _compressed)
        self._spent = 0  # what its frames counted against the limit so far
        self._compressed = False
        self._deflate = deflate
        self.max_message = max_message
        self.ping: Optional[bytes] = None
        self.closed = False

    def take_ping(self) -> Optional[bytes]:
        """The payload of the latest PING not answered yet (then forgotten), or None."""
        ping, self.ping = self.ping, None
        return ping

    def feed(self, data: Any) -> list[object]:
        """The messages (and a CLOSE) that ``data``, the next bytes read, completes."""
        out: list[object] = []
        if self.closed:
            return out
        if self.backlog:
            data, self.backlog = self.backlog + bytes(data) if len(data) else self.backlog, b""
        if self._have:
            data = self._finish_frame(data, out)
            if data is None:
                return out
        pos = self._parse(data, out)
        if pos < len(data) and not self.closed:
            rest = data[pos:]
            self._need = self._frame_size(rest)
            self._frame = bytearray(rest)
            self._have = len(rest)
        return out

    def frame_buffer(self) -> Optional[memoryview]:
        """Room for the next bytes of a large unfinished frame, to ``recv_into`` (then
        ``frame_filled``) instead of ``feed``: they are not copied; None when ``feed`` is needed."""
        if self._need - self._have < DIRECT_READ_MIN or self.closed or self.backlog:
            return None
        return memoryview(self._room(self._have + 1))[self._have :]

    def frame_filled(self, n: int) -> list[object]:
        """``n`` bytes were written into ``frame_buffer()``: the messages that completes."""
        if not 0 < n <= len(self._frame) - self._have or self._have + n > self._need:
            raise RuntimeError("frame_filled() without a matching frame_buffer()")
        self._have += n
        out: list[object] = []
        if self._have == self._need:
            self._complete(out)
        return out

    def _finish_frame(self, data: Any, out: list[object]) -> Any:
        """Complete the unfinished frame from ``data``; what follows it, or None if nothing does."""
        have = self._have
        if not self._need:  # its header is not complete yet
            head = bytes(self._frame[:have]) + bytes(data[:14])
            self._need = self._frame_size(head)
            if not self._need:
                self._frame, self._have = bytearray(head), len(head)
                return None
        take = min(self._need - have, len(data))
        self._room(have + take)[have : have + take] = data[:take]
        self._have = have + take
        if self._have < self._need:
            return None
        self._complete(out)
        return None if self.closed else data[take:]

    def _room(self, size: int) -> bytearray:
        """The unfinished frame's buffer, grown to hold at least ``size`` bytes (at most the frame).

        A new buffer, never a resized one: a view the caller still holds pins the old one.
        """
        frame = self._frame
        if len(frame) < size:
            grown = bytearray(min(self._need, max(size, 2 * len(frame), FIRST_FRAME_BUFFER)))
            grown[: self._have] = memoryview(frame)[: self._have]
            frame = self._frame = grown
        return frame

    def _complete(self, out: list[object]) -> None:
        frame, need = self._frame, self._need
        self._frame, self._have, self._need = bytearray(), 0, 0
        self._parse(memoryview(frame)[:need], out, 1)

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
            raise FrameError("the server sent a masked frame")
        b0 = buf[0]
        if n > self.max_message:
            self._check_length(b0, n)
        if self._frag_op and b0 & 0x0F == OP_CONT:  # a fragment over the limit is refused before it is buffered
            self._cost(n)
        return start + int(n)

    def _check_length(self, b0: int, n: int) -> None:
        """A frame longer than ``max_message``: fine only for compressed data within its bound."""
        compressed = b0 & 0x40 or (b0 & 0x0F == OP_CONT and self._compressed)
        if not (compressed and self._deflate is not None and n <= compressed_limit(self.max_message)):
            raise ProtocolError(f"frame of {n} bytes exceeds max_message_size")

    def _parse(self, buf: Any, out: list[object], budget: int = FRAMES_PER_FEED) -> int:
        """Decode the complete frames at the start of ``buf``; where the first unfinished one starts.

        After ``budget`` frames, the rest of ``buf`` is kept as the ``backlog`` (and all of it counts as parsed).
        """
        pos = 0
        end = len(buf)
        limit = self.max_message
        fragmented = self._frag_op
        while end - pos >= 2:
            budget -= 1
            if budget < 0:
                self.backlog = bytes(buf[pos:])
                return end
            b0 = buf[pos]
            b1 = buf[pos + 1]
            n = b1 & 0x7F
            start = pos + 2
            if n >= 126:
                if n == 126:
                    if end - pos < 4:
                        break
                    n = _unpack_16(buf, start)[0]
                    start += 2
                else:
                    if end - pos < 10:
                        break
                    n = _unpack_64(buf, start)[0]
                    start += 8
            if b1 & 0x80:
                raise FrameError("the server sent a masked frame")
            if n > limit:
                self._check_length(b0, n)
            stop = start + n
            if stop > end:
                break
            pos = stop
            # the common case first: a whole, uncompressed text or binary message
            if b0 == 0x81 and not fragmented:
                try:
                    out.append(str(buf[start:stop], "utf-8"))
                except UnicodeDecodeError as exc:
                    raise FrameError("invalid UTF-8 in a text frame") from exc
            elif b0 == 0x82 and not fragmented:
                out.append(bytes(buf[start:stop]))
            else:
                self._other(b0, buf[start:stop], out)
                if self.closed:
                    break
                fragmented = self._frag_op
        return pos

    def _other(self, b0: int, payload: Any, out: list[object]) -> None:
        """Any frame but a whole uncompressed message: control, fragment, compressed or invalid."""
        opcode = b0 & 0x0F
        if opcode >= OP_CLOSE:
            if b0 & 0x70 or opcode > OP_PONG or len(payload) > 125 or not b0 & 0x80:  # RFC 6455 §5.5
                raise FrameError(f"invalid control frame (opcode {opcode}, {len(payload)} bytes)")
            if opcode == OP_PING:
                self.ping = bytes(payload)
            elif opcode == OP_CLOSE:
                out.append((OP_CLOSE, bytes(payload)))
                self.closed = True
            return
        rsv = b0 & 0x70
        if opcode == OP_CONT:
            if not self._frag_op:
                raise FrameError("continuation frame without a message")
            if rsv:
                raise FrameError("reserved bits set in a continuation frame")
        else:
            if opcode > OP_BINARY:
                raise FrameError(f"unknown frame opcode {opcode}")
            if self._frag_op:
                raise FrameError("new message inside a fragmented one")
            if rsv and (rsv != 0x40 or self._deflate is None):
                raise FrameError("reserved bits set in a frame")
            if b0 & 0x80:  # a whole compressed message
                out.append(self._message(opcode, payload, True))
                return
            self._frag_op = opcode
            self._compressed = bool(rsv)
            self._spent = 0
        self._charge(len(payload))
        self._frags += payload
        if b0 & 0x80:
            frags, self._frags = self._frags, bytearray()
            opcode, self._frag_op = self._frag_op, 0
            out.append(self._message(opcode, frags, self._compressed))

    def _charge(self, n: int) -> None:
        """Count a fragment of ``n`` bytes against its message's limit."""
        self._spent = self._cost(n)

    def _cost(self, n: int) -> int:
        """What the message will have counted with a fragment of ``n`` bytes (at least
        FRAGMENT_MIN_COST); ProtocolError past its limit."""
        spent = self._spent + max(n, FRAGMENT_MIN_COST)
        if spent > (compressed_limit(self.max_message) if self._compressed else self.max_message):
            raise ProtocolError("fragmented message exceeds max_message_size")
        return spent

    def _message(self, opcode: int, payload: Any, compressed: bool) -> object:
        if compressed:
            assert self._deflate is not None  # RSV1 is refused without it
            payload = self._deflate.decompress((payload,), self.max_message)
        if opcode == OP_TEXT:
            try:
                return str(payload, "utf-8")
            except UnicodeDecodeError as exc:
                raise FrameError("invalid UTF-8 in a text message") from exc
        return bytes(payload)
