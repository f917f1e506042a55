"""Tests of the reconnection backoff (greensio._core.backoff).

Expected values are worked out by hand from socket.io-client's
``lib/contrib/backo2.ts`` (times there in ms, here in seconds)::

    ms = this.ms * Math.pow(this.factor, this.attempts++);
    if (this.jitter) {
      var rand = Math.random();
      var deviation = Math.floor(rand * this.jitter * ms);
      ms = (Math.floor(rand * 10) & 1) == 0 ? ms - deviation : ms + deviation;
    }
    return Math.min(ms, this.max) | 0;
"""

from __future__ import annotations

import math
from typing import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greensio._core.backoff import Backoff


def fixed(*values: float) -> Callable[[], float]:
    """A ``rand`` that returns *values* in turn (and fails the test if called more often)."""
    it = iter(values)
    return lambda: next(it)


def backo2_ms(min_ms: float, max_ms: float, jitter: float, factor: float, attempt: int, rand: float) -> int:
    """backo2.ts duration() in ms, transcribed (for the property test)."""
    ms = min_ms * factor**attempt
    if jitter:
        deviation = math.floor(rand * jitter * ms)
        ms = ms - deviation if (math.floor(rand * 10) & 1) == 0 else ms + deviation
    return int(min(ms, max_ms))


def test_defaults_match_the_socket_io_options() -> None:
    b = Backoff()
    assert (b.min, b.max, b.jitter, b.factor, b.attempts) == (1.0, 5.0, 0.5, 2.0, 0)


def test_no_jitter_doubles_up_to_the_cap() -> None:
    b = Backoff(min=1.0, max=5.0, jitter=0, rand=fixed())  # rand must not be called
    assert [b.duration() for _ in range(6)] == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]
    assert b.attempts == 6


def test_jitter_even_tenth_subtracts_the_deviation() -> None:
    # rand 0.25: floor(2.5) = 2 is even -> ms - floor(0.25 * 0.5 * ms)
    b = Backoff(min=1.0, max=5.0, jitter=0.5, rand=fixed(0.25, 0.25, 0.25, 0.25))
    assert b.duration() == 0.875  # 1000 - 125
    assert b.duration() == 1.75  # 2000 - 250
    assert b.duration() == 3.5  # 4000 - 500
    assert b.duration() == 5.0  # 8000 - 1000 = 7000, capped at 5000


def test_jitter_odd_tenth_adds_the_deviation() -> None:
    # rand 0.125: floor(1.25) = 1 is odd -> ms + floor(0.125 * 0.5 * ms)
    b = Backoff(min=1.0, max=5.0, jitter=0.5, rand=fixed(0.125, 0.125, 0.125, 0.125))
    assert b.duration() == 1.062  # 1000 + floor(62.5)
    assert b.duration() == 2.125  # 2000 + 125
    assert b.duration() == 4.25  # 4000 + 250
    assert b.duration() == 5.0  # 8000 + 500, capped


def test_each_attempt_draws_one_random_number() -> None:
    calls: list[int] = []

    def rand() -> float:
        calls.append(1)
        return [0.0, 0.99, 0.5][len(calls) - 1]

    b = Backoff(min=0.1, max=10.0, jitter=1.0, rand=rand)
    # 0.0: even, deviation 0 -> 100; 0.99: floor(9.9)=9 odd -> 200 + floor(198) = 398;
    # 0.5: floor(5) odd -> 400 + floor(200) = 600
    assert [b.duration(), b.duration(), b.duration()] == [0.1, 0.398, 0.6]
    assert len(calls) == 3


def test_other_factor_and_cap() -> None:
    b = Backoff(min=0.5, max=10.0, jitter=0, factor=3)
    assert [b.duration() for _ in range(5)] == [0.5, 1.5, 4.5, 10.0, 10.0]


def test_result_is_truncated_to_whole_milliseconds() -> None:
    # backo2 returns `... | 0`: 1.5 ms -> 1 ms, 3 ms, 6 ms
    b = Backoff(min=0.0015, max=100.0, jitter=0)
    assert [b.duration() for _ in range(3)] == [0.001, 0.003, 0.006]
    # floor(0.3333 * 10) = 3 is odd -> 1000 + floor(0.3333 * 0.5 * 1000)
    b = Backoff(min=1.0, max=5.0, jitter=0.5, rand=fixed(0.3333))
    assert b.duration() == 1.166  # 1000 + floor(166.65)


@pytest.mark.parametrize("jitter", [0, -0.5, 1.5])
def test_jitter_outside_zero_one_is_ignored(jitter: float) -> None:
    b = Backoff(min=1.0, max=5.0, jitter=jitter, rand=fixed())
    assert b.jitter == 0.0
    assert [b.duration(), b.duration()] == [1.0, 2.0]


def test_jitter_of_one_is_kept() -> None:
    b = Backoff(min=1.0, max=5.0, jitter=1.0, rand=fixed(0.25))
    assert b.jitter == 1.0
    assert b.duration() == 0.75  # 1000 - floor(0.25 * 1 * 1000)


def test_reset_starts_over() -> None:
    b = Backoff(min=1.0, max=5.0, jitter=0)
    assert [b.duration(), b.duration(), b.duration()] == [1.0, 2.0, 4.0]
    b.reset()
    assert b.attempts == 0
    assert [b.duration(), b.duration()] == [1.0, 2.0]
    assert b.attempts == 2


def test_cap_below_min() -> None:
    b = Backoff(min=3.0, max=2.0, jitter=0)
    assert [b.duration(), b.duration()] == [2.0, 2.0]


@given(
    min_ms=st.integers(min_value=1, max_value=10_000),
    max_ms=st.integers(min_value=1, max_value=60_000),
    jitter=st.sampled_from([0, 0.1, 0.25, 0.5, 1.0]),
    factor=st.sampled_from([1, 1.5, 2, 3]),
    rands=st.lists(st.floats(min_value=0.0, max_value=1.0, exclude_max=True), min_size=1, max_size=12),
)
def test_matches_backo2(min_ms: int, max_ms: int, jitter: float, factor: float, rands: list[float]) -> None:
    b = Backoff(min=min_ms / 1000, max=max_ms / 1000, jitter=jitter, factor=factor, rand=fixed(*rands))
    for attempt, rand in enumerate(rands):
        expected = backo2_ms(min_ms / 1000 * 1000.0, max_ms / 1000 * 1000.0, jitter, factor, attempt, rand)
        assert b.duration() == expected / 1000
        assert 0 <= expected <= max_ms


def test_many_attempts_stay_at_the_cap() -> None:
    b = Backoff(min=1.0, max=5.0, jitter=0.5, rand=lambda: 0.25)
    durations = [b.duration() for _ in range(1100)]
    assert durations[3:] == [5.0] * 1097
