"""permessage-deflate (RFC 7692): the offer, the check of the server's answer, and the codec.

Memory first: an idle connection holds no zlib object. We offer
``client_no_context_takeover`` (we never carry a compression context over from
one message to the next) and ask for ``server_no_context_takeover``, so every
message is compressed and inflated with zlib objects made for it and dropped
with it. Our compressor's window and hash table are sized to the message
(a 1 KiB message needs a 2 KiB window, not 32 KiB): the output is the same and
it costs a fraction of the CPU.

A server that will not give up context takeover gets a second offer without
``server_no_context_takeover`` (Node's ``ws`` answers a single offer it cannot
accept with HTTP 400, which would fail the connection). If it picks that one,
the connection keeps one inflater from the first compressed message on: about
7 KiB of zlib state plus a window of 2**server_max_window_bits bytes (32 KiB
by default). That is the price of such a server, paid only while connected.

Not offered: ``server_max_window_bits`` (a smaller server window saves the
server memory, not ours; some servers refuse the parameter). Accepted in an
answer: any ``server_max_window_bits`` (inflating with a larger window is
always correct), and ``client_max_window_bits`` from 8 to 15; at 8 we send
everything uncompressed, since zlib cannot deflate with a 256-byte window.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import NamedTuple, Optional, Union

from .._exceptions import ProtocolError
from .wsframe import FrameError

__all__ = [
    "DEFAULT_LEVEL",
    "DEFAULT_THRESHOLD",
    "EXTENSION",
    "Deflate",
    "DeflateParams",
    "accept",
    "offer",
]

EXTENSION = "permessage-deflate"
DEFAULT_THRESHOLD = 1024  #: messages shorter than this go uncompressed (as Node's ws does)
#: zlib's fastest level. Node's ws uses zlib's default (6); on a 64 KiB JSON event level 1 costs about
#: a fifth of the CPU for about 20% more bytes than 6 (72% saved instead of 77%): a client's CPU is
#: worth more than that. Deflate(level=...) changes it.
DEFAULT_LEVEL = 1
_NEVER = 1 << 62  # a threshold no message reaches
_TRAILER = b"\x00\x00\xff\xff"  # the empty stored block a sync flush ends with (RFC 7692 §7.2.1)
_INPUT_SLICE = 64 * 1024  # compressed bytes handed to zlib at a time
_INFLATE_BITS = 15  # a per-message inflater may use the largest window: it lives for one message

# Our offers, in order of preference (RFC 7692 §5): the first keeps no context on either side; the
# second lets a server keep its context (see the module docstring). client_max_window_bits without
# a value: we accept whatever window the server wants us to use.
_OFFER = (
    f"{EXTENSION}; server_no_context_takeover; client_no_context_takeover; client_max_window_bits, "
    f"{EXTENSION}; client_no_context_takeover; client_max_window_bits"
)

Buffer = Union[bytes, bytearray, memoryview]


class DeflateParams(NamedTuple):
    """What the server's answer settled (RFC 7692 §7.1); window sizes in bits, 15 when not given."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15


_SETTLED: dict[DeflateParams, DeflateParams] = {}


def offer() -> str:
    """The value of our Sec-WebSocket-Extensions request header."""
    return _OFFER


# -- the server's answer ---------------------------------------------------------------------------

# RFC 6455 §9.1: extension-list = 1#( token *( ";" token [ "=" ( token / quoted-string ) ] ) )
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED = r'"(?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\x09\x20-\x7e\x80-\xff])*"'
_OWS = r"[ \t]*"
_PARAM = re.compile(rf"{_OWS};{_OWS}({_TOKEN})(?:{_OWS}={_OWS}({_TOKEN}|{_QUOTED}))?")
_NAME = re.compile(rf"{_OWS}({_TOKEN})")
_COMMA = re.compile(rf"{_OWS},")
_WINDOW_BITS = re.compile(r"[89]|1[0-5]")  # RFC 7692 §7.1.2: 8 to 15, no leading zero


def _parse_extensions(value: str) -> list[tuple[str, list[tuple[str, Optional[str]]]]]:
    """Sec-WebSocket-Extensions as (name, [(param, value or None)]), names in lower case."""
    extensions: list[tuple[str, list[tuple[str, Optional[str]]]]] = []
    pos, end = 0, len(value)
    while True:
        name = _NAME.match(value, pos)
        if name is None:
            raise ProtocolError(f"malformed Sec-WebSocket-Extensions: {value!r}")
        params: list[tuple[str, Optional[str]]] = []
        pos = name.end()
        while (param := _PARAM.match(value, pos)) is not None:
            raw = param.group(2)
            if raw is not None and raw.startswith('"'):
                raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
                if not re.fullmatch(_TOKEN, raw):  # RFC 6455 §9.1: unquoted, it must be a token
                    raise ProtocolError(f"malformed Sec-WebSocket-Extensions: {value!r}")
            params.append((param.group(1).lower(), raw))
            pos = param.end()
        extensions.append((name.group(1).lower(), params))
        comma = _COMMA.match(value, pos)
        if comma is None:
            if value[pos:].strip(" \t"):
                raise ProtocolError(f"malformed Sec-WebSocket-Extensions: {value!r}")
            return extensions
        pos = comma.end()
        if pos >= end:
            raise ProtocolError(f"malformed Sec-WebSocket-Extensions: {value!r}")


def accept(response_value: Optional[str]) -> Optional[DeflateParams]:
    """Check the server's Sec-WebSocket-Extensions answer to ``offer()`` (RFC 7692 §7).

    None (or an empty value): the server declined, messages go uncompressed.
    An extension we did not offer, permessage-deflate twice, an unknown or
    repeated parameter, a missing or out-of-range value, or a value where none
    belongs raise ProtocolError: the client must fail the connection.
    """
    if response_value is None or not response_value.strip(" \t"):
        return None
    extensions = _parse_extensions(response_value)
    names = [name for name, _ in extensions]
    if names != [EXTENSION]:
        raise ProtocolError(f"the server answered extensions we did not offer or twice: {response_value!r}")
    found: dict[str, Optional[str]] = {}
    for key, raw in extensions[0][1]:
        if key in found:
            raise ProtocolError(f"permessage-deflate parameter {key} given twice: {response_value!r}")
        found[key] = raw
        if key in ("server_no_context_takeover", "client_no_context_takeover"):
            if raw is not None:
                raise ProtocolError(f"permessage-deflate parameter {key} takes no value: {response_value!r}")
        elif key in ("server_max_window_bits", "client_max_window_bits"):
            if raw is None or not _WINDOW_BITS.fullmatch(raw):
                raise ProtocolError(f"permessage-deflate {key} must be 8 to 15: {response_value!r}")
        else:
            raise ProtocolError(f"unknown permessage-deflate parameter {key}: {response_value!r}")
    params = DeflateParams(
        server_no_context_takeover="server_no_context_takeover" in found,
        client_no_context_takeover="client_no_context_takeover" in found,
        server_max_window_bits=int(found.get("server_max_window_bits") or 15),
        client_max_window_bits=int(found.get("client_max_window_bits") or 15),
    )
    return _SETTLED.setdefault(params, params)  # one object per combination (at most 256), shared by connections


# -- the codec -----------------------------------------------------------------------------------


class Deflate:
    """The permessage-deflate codec of one connection.

    ``threshold``: messages shorter than this are sent uncompressed (the
    writer asks ``len(data) >= deflate.threshold``, and a per-message
    ``compress=False`` skips compression altogether). ``level``: zlib's
    compression level. Holds no zlib object between messages unless the
    server keeps its context (see the module docstring).
    """

    __slots__ = ("params", "threshold", "level", "_max_bits", "_inflater")

    def __init__(self, params: DeflateParams, threshold: int = DEFAULT_THRESHOLD, level: int = DEFAULT_LEVEL) -> None:
        self.params = params
        self._max_bits = params.client_max_window_bits
        # zlib cannot deflate with a 256-byte window (windowBits 8 is refused for raw streams)
        self.threshold = threshold if self._max_bits >= 9 else _NEVER
        self.level = level
        self._inflater: Optional[zlib._Decompress] = None  # kept only when the server keeps its context

    def compress(self, data: Buffer) -> bytes:
        """One message's payload, compressed on its own (no context taken over), trailer removed."""
        # A window larger than the message finds nothing more, and a smaller hash table for a
        # small message costs less to set up: the same output for a fraction of the CPU.
        bits = max(9, min(self._max_bits, len(data).bit_length()))
        compressor = zlib.compressobj(self.level, zlib.DEFLATED, -bits, max(1, min(8, bits - 7)))
        out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return out[:-4]

    def decompress(self, chunks: Sequence[Buffer], max_size: int) -> bytes:
        """Inflate one message from its frames' payloads; at most ``max_size`` bytes.

        The output is counted while inflating: a message that would inflate
        past ``max_size`` raises ProtocolError once ``max_size + 1`` bytes are
        out, never more. Data that is not a valid DEFLATE stream raises
        FrameError (a ProtocolError).
        """
        takeover = not self.params.server_no_context_takeover
        inflater = self._inflater
        if inflater is None:
            inflater = zlib.decompressobj(-max(9, self.params.server_max_window_bits) if takeover else -_INFLATE_BITS)
            if takeover:
                self._inflater = inflater
        parts: list[bytes] = []
        room = max_size
        try:
            for chunk in (*chunks, _TRAILER):
                room = _inflate(inflater, chunk, room, parts)
                # What follows a final block is ignored: RFC 7692 §7.2.3.4 shows a sender that
                # appends an empty stored block after it, so such a message ends in 0x00.
                if inflater.eof:
                    break
        except zlib.error as exc:
            raise FrameError(f"invalid compressed data: {exc}") from exc
        if (
            inflater.eof and takeover
        ):  # after a final block (RFC 7692 §7.2.3.4) the next message starts afresh, as in ws
            self._inflater = None
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)


def _inflate(inflater: zlib._Decompress, data: Buffer, room: int, parts: list[bytes]) -> int:
    """Inflate ``data`` into ``parts``, at most ``room`` bytes; the room left."""
    if len(data) > _INPUT_SLICE:  # zlib copies the input it did not read when the output is full: keep that small
        view = memoryview(data)
        for at in range(0, len(view), _INPUT_SLICE):
            room = _inflate(inflater, view[at : at + _INPUT_SLICE], room, parts)
            if inflater.eof:
                break
        return room
    piece = inflater.decompress(data, room + 1)  # max_length 0 would mean no limit: room + 1 >= 1
    if piece:
        room -= len(piece)
        if room < 0:
            raise ProtocolError("compressed message exceeds max_message_size once inflated")
        parts.append(piece)
    return room
