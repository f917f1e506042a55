"""The owner of every greenlet and timer a Manager starts: one set of greenlets, one deadline timer."""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import gevent

from ._clock import Clock, Timer

__all__ = ["Runner"]


class Runner:
    """Spawns a Manager's greenlets, keeps the live ones in ``greenlets``, and runs one deadline timer.

    The timer is a hub timer, not a greenlet: it fires ``on_deadline(now)`` at the
    earliest deadline it was armed for, and the callback re-arms it.
    """

    __slots__ = ("greenlets", "hub", "clock", "_timer", "_armed_at", "_on_deadline")

    def __init__(self, clock: Clock, on_deadline: Callable[[float], None]) -> None:
        self.greenlets: set[gevent.Greenlet] = set()
        self.hub = gevent.get_hub()
        self.clock = clock
        self._timer: Optional[Timer] = None
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
        """Make sure the timer fires no later than ``deadline`` (clock seconds)."""
        if deadline >= self._armed_at or deadline == math.inf:
            return
        if self._timer is not None:
            self._timer.close()
        self._armed_at = deadline
        self._timer = self.clock.call_at(deadline, self._fire)

    def _fire(self) -> None:
        if self._timer is not None:
            self._timer.close()
        self._timer = None
        self._armed_at = math.inf
        self._on_deadline(self.clock.now())

    def run_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` soon in the hub of this Manager's thread (callable from any thread)."""
        self.hub.loop.run_callback_threadsafe(fn, *args)

    def disarm(self) -> None:
        """Stop the timer."""
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        self._armed_at = math.inf

    def kill_all(self, but: Any = None) -> None:
        """End every greenlet of this Manager except ``but`` without waiting (they run their ``finally``)."""
        for greenlet in list(self.greenlets):
            if greenlet is not but:
                greenlet.kill(block=False)
