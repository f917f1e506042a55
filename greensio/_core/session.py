"""One namespace's Socket.IO session: ack table, deadlines, offline buffer, recovery.

Rules:
- Ack ids grow by one per acked emit and are never reused by a socket.
- A packet emitted while not connected waits in the offline buffer and goes out,
  in order, right after the next CONNECT reply.
- On disconnect, acks whose packet was written are settled: error-first
  callbacks (a timeout applies, or a ``call()`` waits) fail with
  DisconnectedError, plain callbacks are forgotten (the server can no longer
  answer them). Acks of packets still in the buffer stay.
- An ack whose deadline passes fails with TimeoutError and, if its packet still
  waits in the buffer, the packet is dropped unsent.
- Events that arrive before the CONNECT reply are held and delivered after it; at
  most MAX_HELD events and ``max_bytes`` bytes are held (more is a protocol error).
- The CONNECT reply must come before ``connect_deadline``.
- With connection state recovery (the server sent a ``pid``), the last string
  argument of an event without ack id is the server's offset: it is stripped
  and sent back with ``pid`` on the next CONNECT.
"""

from __future__ import annotations

import heapq
import math
from typing import Any, Callable, Optional, Union

from .._exceptions import BufferFullError, DisconnectedError, ProtocolError, TimeoutError

__all__ = ["AckSlot", "Session", "Frames", "MAX_HELD"]

MAX_HELD = 1000  # events held before a namespace CONNECT reply

Frames = list[Union[str, bytes]]
AckCallback = Callable[..., Any]


def _released(*args: Any) -> None:
    """The callback of a slot whose callback was taken (never called: an ack is answered once)."""


class AckSlot:
    """An emitted packet waiting for its acknowledgement."""

    __slots__ = ("id", "event", "callback", "deadline", "error_first", "sent", "done", "entry", "sent_at")

    def __init__(self, id: int, event: str, callback: AckCallback, deadline: float, error_first: bool) -> None:
        self.sent_at = 0.0
        self.id = id
        self.event = event
        self.callback = callback
        self.deadline = deadline
        self.error_first = error_first
        self.sent = False
        self.done = False
        self.entry: Optional[tuple[Frames, Optional[AckSlot]]] = None

    def take_callback(self) -> AckCallback:
        """The callback, once: the slot lets go of it (and of the waiter or closure it holds),
        since a settled slot may wait in the deadline heap until its deadline."""
        callback, self.callback = self.callback, _released
        return callback

    def outcome(self, args: list[Any]) -> tuple[Any, ...]:
        """The callback arguments for an ack carrying ``args``."""
        return (None, *args) if self.error_first else tuple(args)

    def __lt__(self, other: AckSlot) -> bool:
        return self.deadline < other.deadline


class Session:
    """Protocol state of one namespace socket (no I/O)."""

    __slots__ = (
        "nsp",
        "sid",
        "pid",
        "offset",
        "recovered",
        "connected",
        "acks",
        "buffer",
        "held",
        "held_bytes",
        "connect_deadline",
        "max_buffer",
        "_deadlines",
        "_settled_in_heap",
        "_next_id",
    )

    def __init__(self, nsp: str, max_buffer: Optional[int] = None) -> None:
        self.nsp = nsp
        self.sid: Optional[str] = None
        self.pid: Optional[str] = None
        self.offset: Optional[str] = None
        self.recovered = False
        self.connected = False
        self.acks: dict[int, AckSlot] = {}
        self.buffer: list[tuple[Frames, Optional[AckSlot]]] = []  # a list: lighter than a deque per socket
        self.held: list[Any] = []
        self.held_bytes = 0
        self.connect_deadline = math.inf  # of the CONNECT reply, while one is awaited
        self.max_buffer = max_buffer
        self._deadlines: list[AckSlot] = []
        self._settled_in_heap = 0  # done slots still in _deadlines (popped lazily, or compacted)
        self._next_id = 0

    # -- connecting -------------------------------------------------------

    def connect_data(self, auth: Optional[dict[str, Any]]) -> Optional[dict[str, Any]]:
        """The CONNECT payload: ``auth`` plus ``pid``/``offset`` when recovering."""
        if self.pid is None:
            return auth
        return {"pid": self.pid, "offset": self.offset, **(auth or {})}

    def on_connect(self, data: Any) -> None:
        """Take the server's CONNECT reply."""
        if not isinstance(data, dict) or not isinstance(data.get("sid"), str):
            raise ProtocolError(f"CONNECT reply without a sid: {data!r}")
        pid = data.get("pid")
        pid = pid if isinstance(pid, str) else None
        self.recovered = pid is not None and pid == self.pid
        self.pid = pid
        self.sid = data["sid"]
        self.connected = True
        self.connect_deadline = math.inf

    def hold(self, packet: Any, size: int, max_bytes: int) -> None:
        """Keep an event that arrived before the CONNECT reply; ProtocolError past the bounds."""
        if len(self.held) >= MAX_HELD or self.held_bytes + size > max_bytes:
            raise ProtocolError(
                f"the server sent more than {MAX_HELD} events or {max_bytes} bytes to {self.nsp} "
                "before answering its CONNECT"
            )
        self.held.append(packet)
        self.held_bytes += size

    def take_held(self) -> list[Any]:
        """Events that arrived before the CONNECT reply, in order."""
        held, self.held = self.held, []
        self.held_bytes = 0
        return held

    # -- sending ------------------------------------------------------------

    def add_ack(
        self, event: str, callback: AckCallback, timeout: Optional[float], error_first: bool, now: float
    ) -> AckSlot:
        """Allocate an ack id for an emit; ``timeout`` None means no deadline."""
        ack_id = self._next_id
        self._next_id += 1
        deadline = math.inf if timeout is None else now + timeout
        slot = AckSlot(ack_id, event, callback, deadline, error_first)
        slot.sent_at = now
        self.acks[ack_id] = slot
        if timeout is not None:
            heapq.heappush(self._deadlines, slot)
        return slot

    def buffer_packet(self, frames: Frames, slot: Optional[AckSlot]) -> None:
        """Keep a packet for the next connection; raise BufferFullError past ``max_buffer``."""
        if self.max_buffer is not None and len(self.buffer) >= self.max_buffer:
            if slot is not None:
                self.discard(slot)
            raise BufferFullError(f"offline buffer of {self.nsp} is full ({self.max_buffer} packets)")
        entry = (frames, slot)
        if slot is not None:
            slot.entry = entry
        self.buffer.append(entry)

    def take_buffer(self, now: Optional[float] = None) -> list[Frames]:
        """Empty the offline buffer, marking its acks as sent (at ``now``)."""
        out: list[Frames] = []
        for frames, slot in self.buffer:
            if slot is not None:
                slot.sent = True
                slot.entry = None
                if now is not None:
                    slot.sent_at = now
            out.append(frames)
        self.buffer.clear()
        return out

    def drop_buffered(self, where: Callable[[AckSlot], bool]) -> list[AckSlot]:
        """Remove the buffered packets whose ack slot matches ``where``; return those slots."""
        dropped = [slot for _, slot in self.buffer if slot is not None and where(slot)]
        for slot in dropped:
            self.discard(slot)
        return dropped

    def clear_buffer(self) -> list[AckSlot]:
        """Drop the offline buffer; return its acks to fail."""
        slots = [slot for _, slot in self.buffer if slot is not None]
        self.buffer.clear()
        for slot in slots:
            slot.entry = None
            self.discard(slot)
        return [slot for slot in slots if slot.error_first]

    # -- acks ---------------------------------------------------------------

    def resolve(self, ack_id: Any) -> Optional[AckSlot]:
        """The slot an incoming ACK settles, or None for an unknown id."""
        slot = self.acks.pop(ack_id, None)
        if slot is not None:
            self._settle(slot)
        return slot

    def discard(self, slot: AckSlot) -> None:
        """Forget a slot (its waiter went away)."""
        if not slot.done:
            self._settle(slot)
        self.acks.pop(slot.id, None)
        if slot.entry is not None:
            self.buffer.remove(slot.entry)
            slot.entry = None

    def _settle(self, slot: AckSlot) -> None:
        slot.done = True
        if slot.deadline == math.inf:
            return
        # A settled slot waits in the heap until its deadline; when they are most of the
        # heap, drop them at once, so fast acks with long timeouts keep no memory.
        self._settled_in_heap += 1
        heap = self._deadlines
        if self._settled_in_heap > 64 and 2 * self._settled_in_heap > len(heap):
            heap[:] = [s for s in heap if not s.done]
            heapq.heapify(heap)
            self._settled_in_heap = 0

    def _pop_deadline(self) -> AckSlot:
        slot = heapq.heappop(self._deadlines)
        if slot.done:
            self._settled_in_heap -= 1
        return slot

    def next_deadline(self) -> float:
        """The earliest pending deadline, of an ack or of the CONNECT reply (``inf`` when none)."""
        heap = self._deadlines
        while heap and heap[0].done:
            self._pop_deadline()
        return min(heap[0].deadline, self.connect_deadline) if heap else self.connect_deadline

    def expire(self, now: float) -> list[tuple[AckSlot, TimeoutError]]:
        """Pop acks whose deadline passed, each with the error to give them."""
        expired = []
        heap = self._deadlines
        while heap and (heap[0].done or heap[0].deadline <= now):
            slot = self._pop_deadline()
            if not slot.done:
                slot.done = True  # settled here, out of the heap already
                self.discard(slot)
                expired.append((slot, TimeoutError(f"no ack for {slot.event!r} in time")))
        return expired

    def on_disconnect(self) -> list[tuple[AckSlot, DisconnectedError]]:
        """Leave the connected state; return the acks to fail."""
        self.connected = False
        self.sid = None
        self.connect_deadline = math.inf
        failed = []
        for slot in [s for s in self.acks.values() if s.sent]:
            self.discard(slot)
            if slot.error_first:
                failed.append((slot, DisconnectedError("socket has been disconnected")))
        return failed

    # -- receiving ------------------------------------------------------------

    def event_args(self, data: list[Any], ack_id: Optional[int]) -> list[Any]:
        """An event's arguments, without the recovery offset the server appended."""
        if self.pid is not None and ack_id is None and len(data) > 1 and isinstance(data[-1], str):
            self.offset = data[-1]
            return data[1:-1]
        return data[1:]
