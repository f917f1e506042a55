"""Engine.IO v4 codec: packet types, the OPEN handshake and the polling payload.

A packet is a ``str`` (type character followed by its data, e.g. ``"4hello"``)
or ``bytes`` (a binary MESSAGE).  This module is pure: no I/O, no gevent.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from .._exceptions import ProtocolError

__all__ = [
    "CLOSE",
    "DEFAULT_MAX_PAYLOAD",
    "MESSAGE",
    "NOOP",
    "OPEN",
    "PING",
    "PONG",
    "SEPARATOR",
    "TYPES",
    "UPGRADE",
    "Handshake",
    "decode_payload",
    "encode_payload",
    "encoded_length",
    "parse_handshake",
    "payload_slices",
]

OPEN = "0"
CLOSE = "1"
PING = "2"
PONG = "3"
MESSAGE = "4"
UPGRADE = "5"
NOOP = "6"

#: Every valid type character of a text packet.
TYPES: frozenset[str] = frozenset((OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP))

#: Record separator between the packets of a polling payload.
SEPARATOR = "\x1e"

#: ``maxPayload`` assumed when the OPEN packet does not carry one.
DEFAULT_MAX_PAYLOAD = 1_000_000


_a2b_base64: Callable[..., bytes] = binascii.a2b_base64
try:
    _a2b_base64("", strict_mode=True)
    _HAS_STRICT_MODE = True
except TypeError:  # pragma: no cover - Python < 3.11
    _HAS_STRICT_MODE = False


def _b64decode(s: str) -> bytes:
    if _HAS_STRICT_MODE:
        return _a2b_base64(s, strict_mode=True)
    return base64.b64decode(s, validate=True)  # pragma: no cover


@dataclass(frozen=True)
class Handshake:
    """The session parameters of an OPEN packet (times in seconds)."""

    sid: str
    upgrades: tuple[str, ...]
    ping_interval: float
    ping_timeout: float
    max_payload: int


def _duration(obj: dict[str, Any], key: str) -> float:
    value: Any = obj.get(key)
    seconds = math.nan
    if type(value) is int or type(value) is float:
        try:
            seconds = value / 1000.0
        except OverflowError:  # an integer too large for a float
            pass
    if not (0.0 <= seconds < math.inf):
        raise ProtocolError(f"invalid handshake: {key!r} must be a non-negative number of ms, got {value!r}")
    return seconds


def parse_handshake(data: str, loads: Callable[[str], Any] = json.loads) -> Handshake:
    """Parse the JSON data of an OPEN packet (the text after ``"0"``)."""
    try:
        obj = loads(data)
    except Exception as exc:
        raise ProtocolError(f"invalid handshake: not valid JSON ({exc})") from exc
    if type(obj) is not dict:
        raise ProtocolError(f"invalid handshake: expected a JSON object, got {type(obj).__name__}")
    sid = obj.get("sid")
    if type(sid) is not str or not sid:
        raise ProtocolError(f"invalid handshake: 'sid' must be a non-empty string, got {sid!r}")
    upgrades = obj.get("upgrades", [])
    if type(upgrades) is not list or any(type(u) is not str for u in upgrades):
        raise ProtocolError(f"invalid handshake: 'upgrades' must be a list of strings, got {upgrades!r}")
    max_payload = obj.get("maxPayload")
    if max_payload is None:
        max_payload = DEFAULT_MAX_PAYLOAD
    elif type(max_payload) is float and max_payload.is_integer():
        max_payload = int(max_payload)
    if type(max_payload) is not int or max_payload < 0:
        raise ProtocolError(f"invalid handshake: 'maxPayload' must be a non-negative integer, got {max_payload!r}")
    return Handshake(
        sid=sid,
        upgrades=tuple(upgrades),
        ping_interval=_duration(obj, "pingInterval"),
        ping_timeout=_duration(obj, "pingTimeout"),
        max_payload=max_payload,
    )


def decode_payload(body: str) -> list[str | bytes]:
    """Split a polling response body into packets (``"b..."`` items become bytes)."""
    items = body.split(SEPARATOR)
    packets = cast("list[str | bytes]", items)  # binary items are replaced in place
    for i, item in enumerate(items):
        head = item[:1]
        if head not in TYPES:
            packets[i] = _other(item)
    return packets


def payload_slices(body: str, size: int = 64 * 1024) -> Iterator[list[str | bytes]]:
    """The packets of a large polling body, about ``size`` characters at a time (cut at
    separators), NOOPs and repeated PINGs left out: the caller may yield between slices,
    and a body of many tiny packets (a hostile flood) costs no list entry per packet."""
    if body.endswith(SEPARATOR):
        raise ProtocolError("empty packet in polling payload")
    pos, end = 0, len(body)
    last: object = None
    while pos < end:
        cut = body.find(SEPARATOR, pos + size)
        stop = end if cut < 0 else cut
        packets: list[str | bytes] = []
        for item in body[pos:stop].split(SEPARATOR):
            if item == NOOP or (item == PING and last == PING):
                continue  # nothing to do for a NOOP, nor for a PING right after a PING
            last = item if item[:1] in TYPES else _other(item)
            packets.append(last)
        yield packets
        pos = stop + 1


def _other(item: str) -> bytes:
    """A payload item whose first character is no packet type: a binary packet, or an error."""
    head = item[:1]
    if head == "b":
        return b64_item(item[1:])
    raise no_packet_type(head)


def b64_item(text: str) -> bytes:
    """The data of a base64 polling payload item; ProtocolError if it is not base64."""
    try:
        return _b64decode(text)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"invalid base64 in polling payload ({exc})") from exc


def no_packet_type(head: str) -> ProtocolError:
    """The error for a polling payload item that starts with ``head``, which is no packet type."""
    if not head:
        return ProtocolError("empty packet in polling payload")
    return ProtocolError(f"unknown Engine.IO packet type {head!r} in polling payload")


def _b64(data: bytes | bytearray | memoryview) -> str:
    return "b" + binascii.b2a_base64(data, newline=False).decode("ascii")


def encode_payload(packets: Sequence[str | bytes]) -> str:
    """Join packets into a polling request body (binary ones as ``"b"`` + base64)."""
    return SEPARATOR.join([p if isinstance(p, str) else _b64(p) for p in packets])


def encoded_length(packet: str | bytes) -> int:
    """UTF-8 byte length of *packet* inside a polling payload (separator excluded)."""
    if isinstance(packet, str):
        return len(packet) if packet.isascii() else len(packet.encode("utf-8", "surrogatepass"))
    size = len(packet) if type(packet) is bytes else memoryview(packet).nbytes
    return 1 + 4 * ((size + 2) // 3)
