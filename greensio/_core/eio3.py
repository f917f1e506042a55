"""Engine.IO v3 codec (Socket.IO 2.x servers): the polling payload and binary WebSocket messages.

Packets are represented as in :mod:`greensio._core.eio`: ``str`` (type character
and data) or ``bytes`` (the data of a binary MESSAGE, without its type byte).

Polling payloads have no separator; each packet is preceded by its length:

- text framing ``<len>:<packet>...``, lengths in UTF-16 code units (JavaScript's
  ``String.length``); a binary packet is ``b4<base64>``;
- binary framing ``<0|1><digits as bytes 0-9>\\xff<packet>...`` (0: UTF-8 text,
  1: binary whose first byte is the packet type), lengths in bytes.

What the servers send (checked against socket.io 2.5.1 and python-socketio 4.6.1
with python-engineio 3.14.2, see tests/v3/test_v3_servers_raw.py), when the
client does not send ``b64=1``, as greensio does not:

- Node: text framing when the response holds no binary packet, binary framing
  when it does;
- python-engineio 3: binary framing always (text framing with ``b64=1``, whose
  lengths its source counts in UTF-8 bytes: a third unit; never asked for here).

What greensio sends: binary framing with ``Content-Type: application/octet-stream``.
Both servers read it (Node by that content type, python-engineio by its first
byte) and count bytes alike. Text framing would not do: Node counts UTF-16 code
units, python-engineio 3 code points, so any character outside the BMP would be
read differently by one of them.

This module is pure: no I/O, no gevent.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Sequence
from typing import Any

from .._exceptions import ProtocolError
from .eio import MESSAGE, TYPES, b64_item, no_packet_type

__all__ = [
    "BINARY_CONTENT_TYPE",
    "MAX_LENGTH_DIGITS",
    "WS_BINARY_PREFIX",
    "decode_payload",
    "decode_text_payload",
    "encode_payload",
    "encode_text_payload",
    "encoded_length",
    "max_body",
    "utf16_length",
    "ws_decode_binary",
    "ws_encode_binary",
]

#: Content-Type of a POST in binary framing (Node reads the body as binary only with exactly this).
BINARY_CONTENT_TYPE = "application/octet-stream"

#: First byte of a binary WebSocket message: the MESSAGE packet type.
WS_BINARY_PREFIX = b"\x04"

#: Longest length prefix accepted (10**10 bytes is far past any body this client reads).
MAX_LENGTH_DIGITS = 10

_STRING, _BINARY, _END = 0, 1, 255
_MESSAGE_BYTE = 4
_DIGIT_BYTES = bytes(range(10))
_TO_DIGIT_BYTES = bytes.maketrans(b"0123456789", _DIGIT_BYTES)
_FROM_DIGIT_BYTES = bytes.maketrans(_DIGIT_BYTES, b"0123456789")
_TEXT_HEAD = re.compile(f"([0-9]{{1,{MAX_LENGTH_DIGITS}}}):")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_Cut = Callable[[Any, int, int], str]


def utf16_length(text: str) -> int:
    """``len()`` of *text* in JavaScript: characters outside the BMP count twice."""
    if text.isascii():
        return len(text)
    return len(text) + len(_ASTRAL.findall(text))


# --------------------------------------------------------------------------- decoding


def decode_payload(body: bytes | bytearray | memoryview) -> list[str | bytes]:
    """Split a polling response body (either framing) into packets; empty body: no packet."""
    if not body:
        return []
    data = body if type(body) is bytes else bytes(body)
    first = data[0]
    if first == _STRING or first == _BINARY:
        return _decode_binary_framing(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("invalid UTF-8 in a polling response") from None
    return decode_text_payload(text)


def _decode_binary_framing(body: bytes) -> list[str | bytes]:
    packets: list[str | bytes] = []
    end = len(body)
    find = body.find
    i = 0
    while i < end:
        kind = body[i]
        if kind > _BINARY:
            raise ProtocolError(f"invalid binary payload: packet kind {kind} (expected 0 or 1)")
        j = find(b"\xff", i + 1, i + 2 + MAX_LENGTH_DIGITS)
        digits = body[i + 1 : j]
        if j < 0 or not digits:
            raise ProtocolError("invalid binary payload: missing or overlong length")
        if digits.translate(None, _DIGIT_BYTES):
            raise ProtocolError(f"invalid binary payload: length digits {digits!r}")
        size = int(digits.translate(_FROM_DIGIT_BYTES))
        start = j + 1
        i = start + size
        if i > end:
            raise ProtocolError(f"truncated binary payload: a packet of {size} bytes, {end - start} left")
        if not size:
            raise ProtocolError("empty packet in binary payload")
        if kind == _BINARY:
            if body[start] != _MESSAGE_BYTE:
                raise ProtocolError(f"binary packet of type {body[start]} (only MESSAGE carries binary)")
            packets.append(body[start + 1 : i])
            continue
        try:
            text = body[start:i].decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("invalid UTF-8 in a binary payload") from None
        packets.append(text if text[0] in TYPES else _text_packet(text))
    return packets


def decode_text_payload(text: str) -> list[str | bytes]:
    """Split a text-framed payload whose lengths count UTF-16 code units."""
    if text.isascii():
        return _split_bmp(text)
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) == 2 * len(text):  # no character outside the BMP: code points and units agree
        return _split_bmp(text)
    return _split(units, len(units) // 2, _cut_utf16_head, _cut_utf16)


def _split_bmp(text: str) -> list[str | bytes]:
    """``<len>:<packet>`` items of a text where each character is one UTF-16 unit."""
    packets: list[str | bytes] = []
    end = len(text)
    match = _TEXT_HEAD.match
    i = 0
    while i < end:
        head = match(text, i)
        if head is None:
            raise ProtocolError(f"invalid text payload: bad length prefix {text[i : i + 12]!r}")
        start = head.end()
        size = int(head.group(1))
        i = start + size
        if i > end:
            raise ProtocolError(f"truncated text payload: a packet of {size} units, {end - start} left")
        if size:  # "0:" is the empty payload
            packet = text[start:i]
            packets.append(packet if packet[0] in TYPES else _text_packet(packet))
    return packets


def _cut_utf16_head(units: Any, start: int, stop: int) -> str:
    cut: str = units[2 * start : 2 * stop].decode("utf-16-le", "surrogatepass")  # may end inside a pair
    return cut


def _cut_utf16(units: Any, start: int, stop: int) -> str:
    try:
        cut: str = units[2 * start : 2 * stop].decode("utf-16-le")
    except UnicodeDecodeError:  # a length that cuts a surrogate pair
        raise ProtocolError("invalid text payload: a length splits a character") from None
    return cut


def _split(data: bytes, end: int, head_cut: _Cut, cut: _Cut) -> list[str | bytes]:
    """Walk the ``<len>:<packet>`` items of *end* UTF-16 units of *data*; ``cut(data, start, stop)``
    is a slice in units (``head_cut`` reads a length prefix, which may end inside a character)."""
    packets: list[str | bytes] = []
    i = 0
    while i < end:
        head = head_cut(data, i, min(end, i + MAX_LENGTH_DIGITS + 1))
        colon = head.find(":")
        digits = head[:colon]
        if colon <= 0 or not digits.isascii() or not digits.isdigit():
            raise ProtocolError(f"invalid text payload: bad length prefix {head[:12]!r}")
        size = int(digits)
        start = i + colon + 1
        i = start + size
        if i > end:
            raise ProtocolError(f"truncated text payload: a packet of {size} units, {end - start} left")
        if size:  # "0:" is the empty payload
            packets.append(_text_packet(cut(data, start, i)))
    return packets


def _text_packet(packet: str) -> str | bytes:
    head = packet[:1]
    if head in TYPES:
        return packet
    if head == "b":
        if packet[1:2] != MESSAGE:
            raise ProtocolError(f"base64 packet of type {packet[1:2]!r} (only MESSAGE carries binary)")
        return b64_item(packet[2:])
    raise no_packet_type(head)


# --------------------------------------------------------------------------- encoding


def _length(n: int) -> bytes:
    return str(n).encode("ascii").translate(_TO_DIGIT_BYTES)


def encode_payload(packets: Sequence[str | bytes]) -> bytes:
    """Join packets into a polling request body in binary framing (byte lengths)."""
    parts: list[bytes] = []
    for packet in packets:
        if isinstance(packet, str):
            data = packet.encode("utf-8", "surrogatepass")
            parts += (b"\x00", _length(len(data)), b"\xff", data)
        else:
            data = bytes(packet)
            parts += (b"\x01", _length(len(data) + 1), b"\xff\x04", data)
    return b"".join(parts)


def encode_text_payload(packets: Sequence[str | bytes]) -> str:
    """Text framing as Node and the JavaScript client write it (UTF-16 lengths, binary as ``b4`` + base64)."""
    parts = []
    for packet in packets:
        if not isinstance(packet, str):
            packet = "b4" + binascii.b2a_base64(packet, newline=False).decode("ascii")
        parts.append(f"{utf16_length(packet)}:{packet}")
    return "".join(parts)


def encoded_length(packet: str | bytes) -> int:
    """Bytes *packet* takes in a binary-framed payload, its length prefix included."""
    if isinstance(packet, str):
        size = len(packet) if packet.isascii() else len(packet.encode("utf-8", "surrogatepass"))
    else:
        size = len(packet) + 1
    return 2 + len(str(size)) + size


def max_body(max_message: int) -> int:
    """The largest response body accepted for messages of *max_message* bytes (room for base64, as in v4)."""
    return 16 + 4 * ((max_message + 2) // 3)


# --------------------------------------------------------------------------- WebSocket


def ws_encode_binary(data: bytes | bytearray | memoryview) -> bytes:
    """The WebSocket binary message carrying *data* (the MESSAGE type byte first)."""
    return WS_BINARY_PREFIX + bytes(data)


def ws_decode_binary(message: bytes | bytearray | memoryview) -> bytes:
    """The data of a binary WebSocket message; its first byte must be the MESSAGE type."""
    if not message or message[0] != _MESSAGE_BYTE:
        head = bytes(message[:1])
        raise ProtocolError(f"binary WebSocket message of type {head!r} (expected MESSAGE, b'\\x04')")
    return bytes(message[1:])
