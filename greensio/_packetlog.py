"""DEBUG lines for packets: type, namespace, ack id, event name and size — never the payload.

Payloads (which may hold credentials: a CONNECT carries ``auth``) are not logged.
"""

from __future__ import annotations

import logging
import re
from typing import Union

from ._core import sio

__all__ = ["log_received", "log_sent", "enabled"]

log = logging.getLogger("greensio")

_ENGINE = {"0": "OPEN", "1": "CLOSE", "2": "PING", "3": "PONG", "5": "UPGRADE", "6": "NOOP"}
_SOCKET = {
    sio.CONNECT: "CONNECT",
    sio.DISCONNECT: "DISCONNECT",
    sio.EVENT: "EVENT",
    sio.ACK: "ACK",
    sio.CONNECT_ERROR: "CONNECT_ERROR",
    sio.BINARY_EVENT: "BINARY_EVENT",
    sio.BINARY_ACK: "BINARY_ACK",
}
# a Socket.IO packet as text: type, attachments, namespace, ack id, then the start of an event name
_HEAD = re.compile(r'([0-6])(?:\d+-)?(/[^,]{0,200},)?(\d{0,16})(?:\["((?:[^"\\]|\\.){0,100})")?')


def enabled() -> bool:
    """Packet lines are wanted (checked once per batch, not per packet)."""
    return log.isEnabledFor(logging.DEBUG)


def _socket_line(kind: int, nsp: str, ack_id: object, event: object, size: int) -> str:
    name = _SOCKET.get(kind, str(kind))
    parts = [name, nsp]
    if ack_id not in (None, ""):
        parts.append(f"#{ack_id}")
    if event is not None:
        parts.append(repr(event))
    return f"{' '.join(parts)} ({size} bytes)"


def log_received(packet: Union[sio.Packet, str], size: int) -> None:
    """One DEBUG line for a decoded Socket.IO packet, or an Engine.IO control packet."""
    if isinstance(packet, str):
        log.debug("received %s", _ENGINE.get(packet[:1], repr(packet[:1])))
        return
    data = packet.data
    event = data[0] if packet.type == sio.EVENT and isinstance(data, list) and data else None
    log.debug("received %s", _socket_line(packet.type, packet.nsp, packet.id, event, size))


def log_sent(packets: list[Union[str, bytes]]) -> None:
    """One DEBUG line per Engine.IO packet about to be written."""
    for packet in packets:
        if isinstance(packet, (bytes, bytearray, memoryview)):
            log.debug("sent binary attachment (%d bytes)", len(packet))
        elif packet[:1] == "4":
            match = _HEAD.match(packet, 1)
            if match is None:
                log.debug("sent MESSAGE (%d bytes)", len(packet))
                continue
            kind, nsp, ack_id, event = match.groups()
            line = _socket_line(int(kind), (nsp or "/,")[:-1], ack_id, event, len(packet) - 1)
            log.debug("sent %s", line)
        else:
            log.debug("sent %s", _ENGINE.get(packet[:1], repr(packet[:1])))
