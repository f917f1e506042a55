"""Time for the runtime: the monotonic clock, hub timers and sleeping, behind one small interface.

The runtime never reads the time or sleeps by itself: it asks its Clock, so the unit
tests drive a whole Manager with a fake one (tests/unit/runtime/fakes.py).
"""

from __future__ import annotations

import time
from typing import Callable, Protocol

import gevent

from ._hubwatch import hub_watch

__all__ = ["Clock", "Timer", "GeventClock", "GEVENT_CLOCK"]


class Timer(Protocol):
    """A started one-shot timer."""

    def close(self) -> None:
        """Stop it; its callback will not run."""


class Clock(Protocol):
    """Monotonic seconds, sleeping, and one-shot timers that run in the hub."""

    def now(self) -> float:
        """Monotonic seconds."""

    def sleep(self, seconds: float) -> None:
        """Block the calling greenlet for ``seconds``."""

    def call_at(self, deadline: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback()`` from the hub at ``deadline`` (``now()`` seconds) or a little later.

        The callback must not block.
        """

    def watch_hub(self) -> None:
        """Start noting how late the hub runs (counted; each call needs an ``unwatch_hub``)."""

    def unwatch_hub(self) -> None: ...

    def hub_blocked_since(self, since: float) -> float:
        """The longest the hub was blocked (by CPU-bound code) after ``since``, up to now."""


class GeventClock:
    """The real clock: ``time.monotonic`` and gevent's hub timers."""

    __slots__ = ()

    now = staticmethod(time.monotonic)
    sleep = staticmethod(gevent.sleep)

    def call_at(self, deadline: float, callback: Callable[[], None]) -> Timer:
        # libev's loop clock may lag monotonic() by a few ms: the callback must check the time itself.
        timer = gevent.get_hub().loop.timer(max(0.0, deadline - time.monotonic()) + 0.001)
        timer.start(callback)
        return timer  # type: ignore[no-any-return]

    def watch_hub(self) -> None:
        hub_watch().watch()

    def unwatch_hub(self) -> None:
        hub_watch().unwatch()

    def hub_blocked_since(self, since: float) -> float:
        return hub_watch().blocked_since(since)


GEVENT_CLOCK = GeventClock()
