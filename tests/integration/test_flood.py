"""A server flooding a client whose only handler greenlet is blocked (handler_concurrency=1).

SPEC: events beyond handler_concurrency wait in an unbounded in-order queue, and the
reader never blocks on handlers. So while the handler is stuck the reader keeps
answering heartbeats, the connection stays up, and the events queue; once the handler
is released every event is handled exactly once, in order. The memory each queued
event costs is measured with tracemalloc and printed; the bound asserted is generous.
"""

from __future__ import annotations

import tracemalloc
from typing import Any, Callable, Optional

import gevent
import pytest
from gevent.event import Event

from tests.servers.process import ServerProcess

from .helpers import WAIT, connect

CHUNKS = 10  # bursts of PER_CHUNK events, each asked for once the previous one is in
PER_CHUNK = 2_000
SIZE = 100  # characters of each event's payload
TOTAL = CHUNKS * PER_CHUNK
PONGS = 3  # heartbeats answered while everything is queued
BYTES_PER_EVENT_BOUND = 2048


class Watcher:
    """Observer (called by the reader, never queued): counts events as they arrive, and disconnects."""

    def __init__(self) -> None:
        self.events = 0
        self.done = 0
        self.disconnects: list[str] = []
        self.changed = Event()

    def received(self, event: str, nbytes: int) -> None:
        if event == "burst_done":
            self.done += 1
            self.changed.set()
        else:
            self.events += 1

    def disconnected(self, reason: str) -> None:
        self.disconnects.append(reason)
        self.changed.set()

    def wait_done(self, count: int) -> None:
        """Block until *count* burst_done events were read (or fail on a disconnect)."""
        with gevent.Timeout(WAIT, AssertionError(f"{self.done} of {count} bursts arrived")):
            while self.done < count and not self.disconnects:
                self.changed.clear()
                self.changed.wait()
        assert self.disconnects == []


class InOrder:
    """Handlers that check, without keeping them, that events come exactly once and in order."""

    def __init__(self, release: Event) -> None:
        self.release = release
        self.handled = 0  # events and burst_done markers, in the order they were handled
        self.mismatch: Optional[tuple[int, Any]] = None
        self.finished = Event()

    def _expect(self, got: Any) -> None:
        chunk, index = divmod(self.handled, PER_CHUNK + 1)
        expected = ("burst", index) if index < PER_CHUNK else ("done", PER_CHUNK)
        if got != expected and self.mismatch is None:
            self.mismatch = (self.handled, got)
        self.handled += 1

    def on_burst(self, index: int, payload: str) -> None:
        if self.handled == 0:
            self.release.wait()  # the only handler greenlet is stuck here until the test releases it
        assert len(payload) == SIZE
        self._expect(("burst", index))

    def on_done(self, n: int) -> None:
        self._expect(("done", n))
        if self.handled == TOTAL + CHUNKS:
            self.finished.set()


def _traced() -> int:
    return tracemalloc.get_traced_memory()[0]


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll a condition on the client's own counters, bounded by WAIT."""
    with gevent.Timeout(WAIT, AssertionError(f"never: {what}")):
        while not condition():
            gevent.sleep(0.02)


@pytest.mark.timeout(60)
def test_a_flood_queues_behind_a_blocked_handler_while_the_reader_keeps_reading(
    start_server: Callable[..., ServerProcess],
) -> None:
    srv = start_server("node", ping_interval=0.3, ping_timeout=0.3)
    watcher = Watcher()
    release = Event()
    checker = InOrder(release)
    sio = connect(srv.url, handler_concurrency=1, observer=watcher)
    manager = sio.manager
    tracing = False
    try:
        sio.on("burst", checker.on_burst)
        sio.on("burst_done", checker.on_done)
        tracemalloc.start()
        tracing = True
        before = _traced()
        for chunk in range(CHUNKS):
            sio.emit("burst", PER_CHUNK, SIZE)
            watcher.wait_done(chunk + 1)
        queued_bytes = _traced() - before

        # (1) all of it read and queued behind the stuck handler; the reader still answers pings
        assert watcher.events == TOTAL
        assert checker.handled == 0
        pongs = manager.stats.packets_sent
        _wait_for(
            lambda: manager.stats.packets_sent >= pongs + PONGS or bool(watcher.disconnects),
            f"{PONGS} PONGs written while the handler was blocked",
        )
        assert watcher.disconnects == []
        assert sio.connected and manager.stats.connects == 1

        # (2) released: each event handled exactly once, in order
        release.set()
        assert checker.finished.wait(WAIT), f"only {checker.handled} of {TOTAL + CHUNKS} handled"
        assert checker.mismatch is None, checker.mismatch
        assert checker.handled == TOTAL + CHUNKS
        left_bytes = _traced() - before
        tracemalloc.stop()
        tracing = False

        # (3) the memory of the backlog, and that it is given back
        per_event = queued_bytes / TOTAL
        print(
            f"\nmemory per queued {SIZE}-character event: {per_event:.0f} B "
            f"({queued_bytes} B for {TOTAL} events; {left_bytes} B left after the queue drained)"
        )
        assert per_event < BYTES_PER_EVENT_BOUND
        assert left_bytes < queued_bytes / 10
        assert watcher.disconnects == [] and manager.stats.connects == 1
        assert sio.call("echo", "still here", timeout=WAIT) == "still here"
    finally:
        if tracing:
            tracemalloc.stop()
        release.set()
        sio.disconnect()
