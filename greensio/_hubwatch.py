"""How late the gevent hub runs: one sampling timer per hub, alive while someone watches.

A repeating hub timer notes how late it fires; a late timer means the hub was
blocked (CPU-bound code in some greenlet) for that long. The PONG lag uses it to
tell a blocked hub from a slow network, and load generators report it.
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from typing import Any, Deque

import gevent

__all__ = ["HubWatch", "hub_watch"]

INTERVAL = 0.1  # seconds between samples
NOTABLE = 0.02  # lateness worth remembering, seconds


class HubWatch:
    """Samples one hub's lateness while ``watchers`` > 0."""

    __slots__ = ("_loop", "_timer", "_due", "_blocks", "watchers", "max_lag", "__weakref__")

    def __init__(self, hub: Any) -> None:
        self._loop = hub.loop
        self._timer: Any = None
        self._due = 0.0
        self._blocks: Deque[tuple[float, float]] = deque(maxlen=64)  # (noticed at, seconds late)
        self.watchers = 0
        self.max_lag = 0.0
        """The largest lateness seen since the last ``take_max_lag()``."""

    def watch(self) -> None:
        """Start sampling (counted: each ``watch`` needs an ``unwatch``)."""
        self.watchers += 1
        if self._timer is None:
            self._timer = self._loop.timer(INTERVAL, INTERVAL)
            self._timer.start(self._tick)
            self._due = time.monotonic() + INTERVAL

    def unwatch(self) -> None:
        self.watchers -= 1
        if self.watchers <= 0 and self._timer is not None:
            self.watchers = 0
            self._timer.close()
            self._timer = None

    def _tick(self) -> None:
        now = time.monotonic()
        late = now - self._due
        self._due = now + INTERVAL
        if late > NOTABLE:
            self._blocks.append((now, late))
        if late > self.max_lag:
            self.max_lag = late

    def blocked_since(self, since: float) -> float:
        """The longest the hub was blocked after ``since`` (monotonic seconds), up to now."""
        now = time.monotonic()
        worst = 0.0
        if self._timer is not None and now > self._due:  # blocked right now: the sample is not taken yet
            worst = min(now - self._due, now - since)
        for noticed, late in self._blocks:
            if noticed > since:
                worst = max(worst, min(late, noticed - since))
        return worst

    def take_max_lag(self) -> float:
        """The largest lateness since the last call (and reset it)."""
        lag, self.max_lag = self.max_lag, 0.0
        return lag


_watches: weakref.WeakKeyDictionary[Any, HubWatch] = weakref.WeakKeyDictionary()


def hub_watch(hub: Any = None) -> HubWatch:
    """The HubWatch of ``hub`` (this thread's hub by default)."""
    hub = hub if hub is not None else gevent.get_hub()
    found = _watches.get(hub)
    if found is None:
        found = _watches[hub] = HubWatch(hub)
    return found
