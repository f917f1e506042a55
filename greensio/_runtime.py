"""The owner of every greenlet and timer a Manager starts: one set of greenlets, one watchdog timer."""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import gevent

__all__ = ["Runner", "monotonic"]

monotonic = time.monotonic


class Runner:
    """Spawns a Manager's greenlets, keeps the live ones in ``greenlets``, and runs one deadline timer.

    The timer is a hub timer, not a greenlet: it fires ``on_deadline(now)`` at
    the earliest deadline it was armed for, and the callback re-arms it.
    """

    __slots__ = ("greenlets", "hub", "_timer", "_armed_at", "_on_deadline")

    def __init__(self, on_deadline: Callable[[float], None]) -> None:
        self.greenlets: set[gevent.Greenlet] = set()
        self.hub = gevent.get_hub()
        self._timer: Any = None
        self._armed_at = math.inf
        self._on_deadline = on_deadline

    def spawn(self, fn: Callable[..., Any], *args: Any) -> gevent.Greenlet:
        """Start ``fn(*args)`` in a greenlet of this Manager."""
        greenlet = gevent.Greenlet(fn, *args)
        self.greenlets.add(greenlet)
        greenlet.rawlink(self.greenlets.discard)
        greenlet.start()
        return greenlet

    def arm(self, deadline: float) -> None:
        """Make sure the timer fires no later than ``deadline`` (monotonic seconds)."""
        if deadline >= self._armed_at or deadline == math.inf:
            return
        if self._timer is not None:
            self._timer.close()
        self._armed_at = deadline
        # libev's loop clock may lag monotonic() by a few ms; _fire re-arms if early.
        self._timer = self.hub.loop.timer(max(0.0, deadline - monotonic()) + 0.001)
        self._timer.start(self._fire)

    def _fire(self) -> None:
        self._timer.close()
        self._timer = None
        self._armed_at = math.inf
        self._on_deadline(monotonic())

    def run_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` soon in the hub of this Manager's thread (callable from any thread)."""
        self.hub.loop.run_callback_threadsafe(fn, *args)

    def disarm(self) -> None:
        """Stop the timer."""
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        self._armed_at = math.inf
