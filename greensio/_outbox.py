"""The write path of a Manager: packets leave in order and contiguously, and ``write`` never blocks.

What is queued in one turn of the hub leaves in one write: from a hub callback when
the transport takes it at once (``try_write``), else from a writer greenlet that lives
only while a write would block. While held (the upgrade switches transports) nothing is
written. At most one Engine.IO PONG waits unsent (it answers every PING before it), and
the bytes waiting behind a server that does not read are capped.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import gevent

from . import _packetlog as packetlog
from ._io.transport import Packet, Transport, TransportClosed
from ._runner import Runner
from ._stats import Counters

__all__ = ["Outbox"]


class Outbox:
    """Queued Engine.IO packets and the greenlet or hub callback that writes them."""

    __slots__ = (
        "transport", "_runner", "_clock", "_loop", "_counters", "_on_failed", "_on_pong", "_limit",
        "_queue", "_backlog", "_writer", "_scheduled", "_held", "_pong_due", "_pong_handed", "last_write",
    )  # fmt: skip

    def __init__(
        self,
        runner: Runner,
        counters: Counters,
        on_failed: Callable[[str], None],
        on_pong: Callable[[float, float], None],
        limit: int,
    ) -> None:
        """``on_failed(reason)``: a write failed; ``on_pong(hub_lag, socket_wait)``: a PONG was written.

        ``limit``: bytes that may wait behind a transport that does not take them.
        """
        self.transport: Optional[Transport] = None
        self._runner = runner
        self._clock = runner.clock
        self._loop = runner.hub.loop
        self._counters = counters
        self._on_failed = on_failed
        self._on_pong = on_pong
        self._limit = limit
        self._queue: list[Packet] = []
        self._backlog = 0  # bytes queued while a write was blocked or held
        self._writer: Optional[gevent.Greenlet] = None  # alive only while a write would block
        self._scheduled: Any = None  # the hub callback that will run _flush, if one is pending
        self._held = False
        self._pong_due = 0.0  # when the PING whose PONG is queued arrived or was due; 0: no PONG queued
        self._pong_handed: Optional[tuple[float, float]] = None  # (hub lag, handed at) of a PONG not yet sent
        self.last_write = -1.0
        """When packets were last handed to the transport (clock seconds)."""

    def attach(self, transport: Transport) -> None:
        """Write to ``transport`` from now on (a new connection: nothing of the old one is left)."""
        self.detach()
        self.transport = transport

    def detach(self, wait: bool = False) -> None:
        """Forget the transport and what waits for it; end the writer (``wait``: until it is gone)."""
        writer = self._writer
        if writer is not None and writer is not gevent.getcurrent():
            writer.kill(block=wait)
        self._writer = None
        if self._scheduled is not None:
            self._scheduled.stop()  # a pending hub callback would keep the Manager alive after disconnect()
            self._scheduled = None
        self.transport = None
        self._queue = []
        self._backlog = 0
        self._held = False
        self._pong_due = 0.0
        self._pong_handed = None

    def write(self, packets: Sequence[Packet]) -> None:
        """Queue packets (never blocks); they leave in order, contiguously."""
        self._queue.extend(packets)
        if self._writer is None and not self._held:
            if self._scheduled is None:
                self._scheduled = self._loop.run_callback(self._flush)
        else:
            self._grow(packets)

    def write_pong(self, packet: str, due: float) -> None:
        """Queue a PONG unless one already waits (RFC-style: answer the latest PING once).

        ``due``: when its PING arrived or was due, for the PONG lag.
        """
        if self._pong_due:
            return
        self._pong_due = due
        self.write((packet,))

    def _grow(self, packets: Sequence[Packet]) -> None:
        self._backlog += sum(map(len, packets))
        if self._backlog > self._limit:
            self._queue = []
            self._backlog = 0
            self._on_failed("transport error")

    @property
    def blocked(self) -> bool:
        """A writer greenlet waits for the transport to take a write (backpressure)."""
        return self._writer is not None

    def writable_now(self) -> bool:
        """Nothing waits to be written (what a volatile emit needs, as in JS)."""
        return not self._queue and self._writer is None

    def hold(self) -> None:
        """Write nothing until ``release()``; wait for a write in progress to finish."""
        self._held = True
        writer = self._writer
        if writer is not None and writer is not gevent.getcurrent():
            writer.join()

    def release(self, transport: Optional[Transport] = None) -> None:
        """Write again, to ``transport`` if given (the upgrade succeeded)."""
        self._held = False
        if transport is not None:
            self.transport = transport
        if self._queue and self._scheduled is None and self._writer is None:
            self._scheduled = self._loop.run_callback(self._flush)

    def _take(self) -> tuple[list[Packet], float]:
        batch, self._queue = self._queue, []
        self.last_write = self._clock.now()
        if packetlog.enabled():
            packetlog.log_sent(batch)
        self._backlog = 0
        due, self._pong_due = self._pong_due, 0.0
        return batch, due

    def _flush(self) -> None:
        """Hub callback: write what is queued without blocking, or hand it to a writer greenlet."""
        self._scheduled = None
        transport = self.transport
        if transport is None or self._writer is not None or not self._queue or self._held:
            return
        try_write = getattr(transport, "try_write", None)
        if try_write is None:
            self._writer = self._runner.spawn(self._write_loop, transport)
            return
        batch, due = self._take()
        now = self._clock.now() if due else 0.0
        try:
            done = try_write(batch)
        except TransportClosed as exc:
            self._on_failed(exc.reason)
            return
        self._counters.packets_sent += len(batch)
        if due:
            self._pong_left(now - due, now, done)
        if not done:
            self._writer = self._runner.spawn(self._write_loop, transport)

    def _pong_left(self, lag: float, handed: float, written: bool) -> None:
        if written:
            self._on_pong(lag, 0.0)
        else:
            self._pong_handed = (lag, handed)

    def _write_loop(self, transport: Transport) -> None:
        """Writer greenlet: blocking writes until the queue is empty, then it ends."""
        clock = self._clock
        try:
            while True:
                batch, due = self._take()
                if due:
                    self._pong_left(clock.now() - due, clock.now(), False)
                transport.write(batch)
                self._counters.packets_sent += len(batch)
                handed = self._pong_handed
                if handed is not None:
                    self._pong_handed = None
                    self._on_pong(handed[0], clock.now() - handed[1])
                if not self._queue or self._held:
                    break
        except TransportClosed as exc:
            self._on_failed(exc.reason)
        finally:
            if self._writer is gevent.getcurrent():
                self._writer = None

    def flush(self, timeout: float) -> None:
        """Write everything queued from the calling greenlet, within ``timeout`` (for closing)."""
        transport = self.transport
        current = gevent.getcurrent()
        with gevent.Timeout(timeout, False):
            writer = self._writer
            if writer is not None and writer is not current:
                writer.join()
            if transport is not None and self._queue and self._writer is None:
                self._writer = current  # hub flushes must not interleave with this write
                self._write_loop(transport)
