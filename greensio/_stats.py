"""What a Manager has done, as a frozen snapshot, and the observer calls."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional

__all__ = ["Stats", "Counters", "notify"]

log = logging.getLogger("greensio")


@dataclass(frozen=True)
class Stats:
    """A snapshot of one Manager's counters (``manager.stats``)."""

    connects: int = 0
    """Successful Engine.IO opens, reconnects included."""
    reconnects: int = 0
    packets_sent: int = 0
    packets_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    buffered: int = 0
    """Packets waiting in the offline buffers of all namespaces."""
    pong_lag_last: float = 0.0
    """Seconds from the last server PING being read to its PONG being written."""
    pong_lag_max: float = 0.0


class Counters:
    """The live, mutable counters behind ``Stats`` (cheap to bump on the hot path)."""

    __slots__ = (
        "connects",
        "reconnects",
        "packets_sent",
        "packets_received",
        "bytes_sent",
        "bytes_received",
        "pong_lag_last",
        "pong_lag_max",
    )

    def __init__(self) -> None:
        self.connects = self.reconnects = 0
        self.packets_sent = self.packets_received = self.bytes_sent = self.bytes_received = 0
        self.pong_lag_last = self.pong_lag_max = 0.0

    def snapshot(self, buffered: int) -> Stats:
        return Stats(
            self.connects,
            self.reconnects,
            self.packets_sent,
            self.packets_received,
            self.bytes_sent,
            self.bytes_received,
            buffered,
            self.pong_lag_last,
            self.pong_lag_max,
        )


def notify(observer: Optional[Any], method: str, *args: Any) -> None:
    """Call ``observer.method(*args)`` if it has one; log what it raises."""
    if observer is None:
        return
    fn = getattr(observer, method, None)
    if fn is None:
        return
    try:
        fn(*args)
    except Exception:
        log.exception("observer %r raised in %s()", observer, method)
