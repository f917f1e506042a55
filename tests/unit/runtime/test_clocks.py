"""The clocks: the FakeClock the other tests trust, the real GeventClock, and the hub watch behind it."""

from __future__ import annotations

from typing import Any, Callable, Optional

import gevent
import pytest
from gevent.event import Event

from greensio import _hubwatch
from greensio._clock import GEVENT_CLOCK
from greensio._hubwatch import INTERVAL, HubWatch, hub_watch
from greensio._limits import raise_nofile

from .fakes import FakeClock


def test_the_fake_clock_fires_timers_and_wakes_sleepers_in_deadline_order() -> None:
    clock = FakeClock(start=100.0)
    order: list[Any] = []
    clock.call_at(103, lambda: order.append(("timer", clock.now())))
    clock.call_at(101, lambda: order.append(("timer", clock.now())))
    cancelled = clock.call_at(102, lambda: order.append("cancelled"))
    cancelled.close()

    def sleeper(seconds: float) -> None:
        clock.sleep(seconds)
        order.append(("woke", clock.now()))

    gevent.spawn(sleeper, 1.5)
    gevent.spawn(sleeper, 0)
    clock.advance(0)
    assert order == [("woke", 100.0)]
    assert clock.timers == [101, 103] and clock.sleepers == 1
    clock.advance(2.5)
    assert order[1:] == [("timer", 101), ("woke", 101.5)]
    assert clock.now() == 102.5
    clock.advance(0.5)
    assert order[3:] == [("timer", 103)]
    assert clock.sleeps == [1.5, 0]


def test_the_fake_clock_jumps_without_running_anything_and_never_goes_back() -> None:
    clock = FakeClock(start=0.0)
    fired: list[float] = []
    clock.call_at(1, lambda: fired.append(clock.now()))
    clock.jump(5)
    assert fired == [] and clock.now() == 5
    clock.advance(0)
    assert fired == [5]
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_the_fake_clock_runs_timer_callbacks_in_the_hub() -> None:
    clock = FakeClock()
    where: list[Any] = []
    clock.call_at(clock.now(), lambda: where.append(gevent.getcurrent()))
    clock.advance(0)
    assert where == [gevent.get_hub()]


def test_the_gevent_clock_runs_timers_in_the_hub_and_sleeps() -> None:
    fired, cancelled = Event(), Event()
    GEVENT_CLOCK.call_at(GEVENT_CLOCK.now(), fired.set)
    GEVENT_CLOCK.call_at(GEVENT_CLOCK.now(), cancelled.set).close()
    assert fired.wait(5)
    GEVENT_CLOCK.sleep(0)
    assert not cancelled.is_set()
    GEVENT_CLOCK.watch_hub()
    try:
        assert GEVENT_CLOCK.hub_blocked_since(GEVENT_CLOCK.now()) >= 0.0
    finally:
        GEVENT_CLOCK.unwatch_hub()


class SampleTimer:
    """The repeating hub timer of a HubWatch, fired by hand."""

    def __init__(self) -> None:
        self.callback: Optional[Callable[[], None]] = None
        self.closed = False

    def start(self, callback: Callable[[], None]) -> None:
        self.callback = callback

    def close(self) -> None:
        self.closed = True


class Loop:
    def __init__(self) -> None:
        self.timers: list[SampleTimer] = []

    def timer(self, after: float, repeat: float) -> SampleTimer:
        assert after == repeat == INTERVAL
        self.timers.append(SampleTimer())
        return self.timers[-1]


class Hub:
    def __init__(self) -> None:
        self.loop = Loop()


class Time:
    def __init__(self, now: float) -> None:
        self.now = now

    def monotonic(self) -> float:
        return self.now


def test_the_hub_watch_notes_how_late_its_samples_are(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_time = Time(10.0)
    monkeypatch.setattr(_hubwatch, "time", fake_time)
    hub = Hub()
    watch = HubWatch(hub)
    watch.watch()
    watch.watch()
    [timer] = hub.loop.timers  # one timer for every watcher
    assert timer.callback is not None
    fake_time.now = 10.1
    timer.callback()  # on time
    assert watch.blocked_since(10.0) == 0.0
    fake_time.now = 10.35
    timer.callback()  # due at 10.2: the hub was blocked 0.15 s
    assert watch.blocked_since(10.0) == pytest.approx(0.15)
    assert watch.blocked_since(10.3) == pytest.approx(0.05)  # only what came after ``since``
    fake_time.now = 10.6  # due at 10.45, not sampled yet: blocked right now
    assert watch.blocked_since(10.5) == pytest.approx(0.1)
    assert watch.take_max_lag() == pytest.approx(0.15) and watch.take_max_lag() == 0.0
    watch.unwatch()
    assert not timer.closed
    watch.unwatch()
    assert timer.closed and watch.watchers == 0


def test_each_hub_has_one_watch() -> None:
    assert hub_watch() is hub_watch(gevent.get_hub())
    other = Hub()
    assert hub_watch(other) is hub_watch(other) is not hub_watch()


def test_raise_nofile_raises_the_soft_limit_to_the_hard_one() -> None:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    raised = raise_nofile()
    assert raised == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert raised >= soft
    assert hard == resource.RLIM_INFINITY or raised == hard
