"""Shared helpers of the integration tests."""

from __future__ import annotations

import gc
import os
from typing import Any

import greenlet

import greensio

# Fast reconnection so the tests do not wait out the default backoff.
# GREENSIO_TEST_TRANSPORTS runs the suite over another transport setting, e.g. "polling" or
# "polling,websocket" (polling, then the upgrade); .ci/run runs all three.
TRANSPORTS = os.environ.get("GREENSIO_TEST_TRANSPORTS", "websocket").split(",")
FAST: dict[str, Any] = {"transports": TRANSPORTS, "reconnection_delay": 0.05, "reconnection_delay_max": 0.2}
WAIT = 10  # bound of every wait on a server round trip, in seconds


def connect(url: str, **options: Any) -> greensio.Socket:
    """A connected socket on a fresh Manager with the fast test options, on its final transport."""
    sio = greensio.connect(url, timeout=WAIT, **{**FAST, "force_new": True, **options})
    settled(sio)
    return sio


def settled(sio: greensio.Socket) -> None:
    """Wait until an upgrade to WebSocket, if the transports allow one, is done."""
    import gevent

    wanted = sio.manager.options.transports[-1]
    with gevent.Timeout(WAIT, AssertionError(f"still on {sio.transport}, expected {wanted}")):
        while sio.connected and sio.transport != wanted:
            gevent.sleep(0.005)


def live_greenlets() -> set[int]:
    """Ids of every greenlet alive in this process (not dead, not the current one)."""
    current = greenlet.getcurrent()
    return {
        id(g)
        for g in gc.get_objects()
        if isinstance(g, greenlet.greenlet) and not g.dead and g is not current and not _is_hub(g)
    }


def _is_hub(g: greenlet.greenlet) -> bool:
    import gevent.hub

    return isinstance(g, gevent.hub.Hub)


def open_fds() -> set[int]:
    """File descriptors open in this process."""
    return {int(fd) for fd in os.listdir("/proc/self/fd")}


class Recorder:
    """Collects calls made to it, and wakes a waiter after a given count."""

    def __init__(self) -> None:
        import gevent.event

        self.calls: list[tuple[Any, ...]] = []
        self._changed = gevent.event.Event()

    def __call__(self, *args: Any) -> None:
        self.calls.append(args)
        self._changed.set()

    def wait(self, count: int = 1, timeout: float = WAIT) -> list[tuple[Any, ...]]:
        """Block until ``count`` calls were recorded; fail the test after ``timeout``."""
        import gevent

        with gevent.Timeout(timeout, AssertionError(f"only {len(self.calls)} of {count} calls: {self.calls}")):
            while len(self.calls) < count:
                self._changed.clear()
                self._changed.wait()
        return self.calls


def relay(source: Any, sink: Any) -> None:
    """Copy ``source`` to ``sink`` until either ends, then shut both down (one direction of a test proxy)."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            try:
                sock.shutdown(2)
            except OSError:
                pass
