"""Reconnection backoff: the socket.io-client formula as a value object (no sleeping)."""

from __future__ import annotations

import random
from typing import Callable

__all__ = ["Backoff"]


class Backoff:
    """Exponential backoff with jitter, as ``backo2`` in the JS client.

    ``duration()`` returns the next delay in seconds and counts an attempt;
    ``reset()`` starts over. ``rand`` returns a float in [0, 1).
    """

    __slots__ = ("min", "max", "factor", "jitter", "attempts", "_rand")

    def __init__(
        self,
        min: float = 1.0,
        max: float = 5.0,
        jitter: float = 0.5,
        factor: float = 2.0,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.min = min
        self.max = max
        self.factor = factor
        self.jitter = jitter if 0 < jitter <= 1 else 0.0
        self.attempts = 0
        self._rand = rand

    def duration(self) -> float:
        """Return the delay before the next attempt, in seconds."""
        # the exponent is capped so that endless reconnection never overflows
        ms = min(self.min * 1000.0 * self.factor ** min(self.attempts, 64), 1e12)
        self.attempts += 1
        if self.jitter:
            rand = self._rand()
            deviation = int(rand * self.jitter * ms)
            ms = ms - deviation if int(rand * 10) & 1 == 0 else ms + deviation
        return int(min(ms, self.max * 1000.0)) / 1000.0

    def reset(self) -> None:
        """Forget past attempts."""
        self.attempts = 0
