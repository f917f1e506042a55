"""Tests of the handler dispatcher (greensio._dispatch) on a real gevent Group.

Synchronisation uses gevent Events with bounded waits, never sleeps.
``gevent.sleep(0)`` inside a job only yields, to give other greenlets the
chance to interleave if the dispatcher allowed it.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional

import gevent
import pytest
from gevent.event import Event
from gevent.pool import Group

from greensio._dispatch import Dispatcher, call_logged

WAIT = 5.0


@pytest.fixture
def group() -> Any:
    g = Group()
    yield g
    g.kill(timeout=WAIT)  # never leave a greenlet behind, even when a test fails
    assert len(g) == 0


def yielding_job(log: list[tuple[str, int]], i: int, done: Optional[Event] = None) -> Callable[[], None]:
    def job() -> None:
        log.append(("start", i))
        for _ in range(3):
            gevent.sleep(0)
        log.append(("end", i))
        if done is not None:
            done.set()

    return job


# -- construction ----------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [0, -1])
def test_concurrency_must_be_positive(group: Group, concurrency: int) -> None:
    with pytest.raises(ValueError):
        Dispatcher(group.spawn, concurrency)


def test_nothing_runs_before_a_submit(group: Group) -> None:
    d = Dispatcher(group.spawn)
    assert len(group) == 0
    assert len(d._jobs) == 0


# -- order and blocking --------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [None, 1, 2, 5])
def test_jobs_start_in_submission_order(group: Group, concurrency: Optional[int]) -> None:
    d = Dispatcher(group.spawn, concurrency)
    started: list[int] = []
    done = Event()
    for i in range(20):
        d.submit(started.append, i)
    d.submit(done.set)
    assert done.wait(timeout=WAIT)
    assert started == list(range(20))
    assert len(d._jobs) == 0


def test_arguments_are_passed(group: Group) -> None:
    d = Dispatcher(group.spawn)
    got: list[tuple[Any, ...]] = []
    done = Event()

    def job(*args: Any) -> None:
        got.append(args)
        done.set()

    d.submit(job, 1, "two", b"3", None)
    assert done.wait(timeout=WAIT)
    assert got == [(1, "two", b"3", None)]


def test_a_blocking_job_does_not_hold_up_later_ones(group: Group) -> None:
    d = Dispatcher(group.spawn, None)
    gate, a_started, a_done, b_done, c_done = Event(), Event(), Event(), Event(), Event()

    def blocking() -> None:
        a_started.set()
        gate.wait()
        a_done.set()

    d.submit(blocking)
    d.submit(b_done.set)
    d.submit(c_done.set)
    assert a_started.wait(timeout=WAIT)
    assert b_done.wait(timeout=WAIT)
    assert c_done.wait(timeout=WAIT)
    assert not a_done.is_set()
    gate.set()
    assert a_done.wait(timeout=WAIT)


def test_many_blocking_jobs_all_run_at_once_without_a_limit(group: Group) -> None:
    d = Dispatcher(group.spawn, None)
    gate = Event()
    all_started = Event()
    running: list[int] = []

    def job(i: int) -> None:
        running.append(i)
        if len(running) == 10:
            all_started.set()
        gate.wait()

    for i in range(10):
        d.submit(job, i)
    assert all_started.wait(timeout=WAIT)
    assert running == list(range(10))
    gate.set()


def test_without_a_limit_handlers_interleave(group: Group) -> None:
    # the control for the sequential test below: yielding jobs do overlap
    d = Dispatcher(group.spawn, None)
    log: list[tuple[str, int]] = []
    done = [Event() for _ in range(3)]
    for i in range(3):
        d.submit(yielding_job(log, i, done[i]))
    assert all(e.wait(timeout=WAIT) for e in done)
    assert log[:3] == [("start", 0), ("start", 1), ("start", 2)]


def test_concurrency_one_runs_jobs_one_after_another(group: Group) -> None:
    d = Dispatcher(group.spawn, 1)
    gate, first_started = Event(), Event()
    log: list[tuple[str, int]] = []

    def first() -> None:
        log.append(("start", 0))
        first_started.set()
        gate.wait()
        log.append(("end", 0))

    done = Event()
    d.submit(first)
    for i in range(1, 4):
        d.submit(yielding_job(log, i, done if i == 3 else None))
    assert first_started.wait(timeout=WAIT)
    assert len(d._jobs) == 3
    assert len(group) == 1
    assert log == [("start", 0)]
    gate.set()
    assert done.wait(timeout=WAIT)
    assert log == [(kind, i) for i in range(4) for kind in ("start", "end")]


def test_concurrency_bounds_concurrent_jobs(group: Group) -> None:
    d = Dispatcher(group.spawn, 2)
    n = 6
    gates = [Event() for _ in range(n)]
    started = [Event() for _ in range(n)]
    finished = [Event() for _ in range(n)]
    running: set[int] = set()
    peak: list[int] = []

    def job(i: int) -> None:
        running.add(i)
        peak.append(len(running))
        started[i].set()
        for _ in range(3):
            gevent.sleep(0)  # give a third worker every chance to start
        gates[i].wait()
        running.discard(i)
        finished[i].set()

    for i in range(n):
        d.submit(job, i)
    assert started[0].wait(timeout=WAIT)
    assert started[1].wait(timeout=WAIT)
    assert not started[2].is_set()
    assert len(d._jobs) == 4
    assert len(group) <= 2
    for i in range(n):
        gates[i].set()
        assert finished[i].wait(timeout=WAIT)
        if i + 2 < n:
            assert started[i + 2].wait(timeout=WAIT)
    assert max(peak) == 2
    assert len(d._jobs) == 0


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [None, 1])
def test_a_raising_job_is_logged_and_later_jobs_run(
    group: Group, caplog: pytest.LogCaptureFixture, concurrency: Optional[int]
) -> None:
    d = Dispatcher(group.spawn, concurrency)
    done = Event()
    ran: list[int] = []

    def broken_handler() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="greensio"):
        d.submit(broken_handler)
        d.submit(ran.append, 1)
        d.submit(broken_handler)
        d.submit(ran.append, 2)
        d.submit(done.set)
        assert done.wait(timeout=WAIT)
    assert ran == [1, 2]
    records = [r for r in caplog.records if r.name == "greensio"]
    assert len(records) == 2
    for record in records:
        assert record.levelno == logging.ERROR
        assert "broken_handler" in record.getMessage()
        assert record.exc_info is not None
        assert record.exc_info[0] is RuntimeError
        assert str(record.exc_info[1]) == "boom"


def test_call_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken(x: int) -> int:
        raise KeyError(x)

    assert call_logged(lambda a, b: a + b, 2, 3) == 5
    with caplog.at_level(logging.ERROR, logger="greensio"):
        assert call_logged(broken, 7) is None
    [record] = [r for r in caplog.records if r.name == "greensio"]
    assert record.levelno == logging.ERROR
    assert "broken" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is KeyError


# -- worker reuse ------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", [None, 1, 4])
def test_a_steady_stream_reuses_workers(group: Group, concurrency: Optional[int]) -> None:
    d = Dispatcher(group.spawn, concurrency)
    sizes: list[int] = []

    def job(done: Event) -> None:
        sizes.append(len(group))
        done.set()

    for _ in range(200):
        done = Event()
        d.submit(job, done)
        sizes.append(len(group))
        assert done.wait(timeout=WAIT)
    assert max(sizes) <= 2
    assert len(group) >= 1  # one idle worker stays for the next job


def test_the_idle_worker_ends_after_the_linger_and_a_new_one_takes_the_next_job(group: Group) -> None:
    d = Dispatcher(group.spawn, linger=0.01)
    done = Event()
    d.submit(done.set)
    assert done.wait(timeout=WAIT)
    assert group.join(timeout=WAIT) is True  # the idle worker ended by itself
    assert len(group) == 0
    again = Event()
    d.submit(again.set)
    assert again.wait(timeout=WAIT)


def test_a_lone_job_ends_its_worker_at_once_and_jobs_close_together_keep_one_idle(group: Group) -> None:
    d = Dispatcher(group.spawn, linger=60.0)
    first = Event()
    d.submit(first.set)
    assert first.wait(timeout=WAIT)
    assert group.join(timeout=WAIT) is True  # it did not wait the 60 s linger
    second = Event()
    d.submit(second.set)
    assert second.wait(timeout=WAIT)
    assert len(group) == 1  # a job soon after the last: its worker waits for the next one
    third = Event()
    d.submit(third.set)
    assert third.wait(timeout=WAIT)
    assert len(group) == 1


def test_a_burst_with_concurrency_one_uses_one_worker(group: Group) -> None:
    d = Dispatcher(group.spawn, 1)
    sizes: list[int] = []
    done = Event()
    for _ in range(100):
        d.submit(lambda: sizes.append(len(group)))
    d.submit(done.set)
    sizes.append(len(group))
    assert done.wait(timeout=WAIT)
    assert len(sizes) == 101
    assert max(sizes) == 1


@pytest.mark.parametrize("warm", [False, True])
def test_a_burst_of_non_blocking_jobs_uses_at_most_two_workers(group: Group, warm: bool) -> None:
    d = Dispatcher(group.spawn, None)
    if warm:
        warmed = Event()
        d.submit(warmed.set)
        assert warmed.wait(timeout=WAIT)
    sizes: list[int] = []
    done = Event()
    for _ in range(100):  # a reader batch: many events from one recv, no yield in between
        d.submit(lambda: sizes.append(len(group)))
        sizes.append(len(group))
    d.submit(done.set)
    assert done.wait(timeout=WAIT)
    assert max(sizes) <= 2


# -- close -------------------------------------------------------------------------------


def live(group: Group) -> list[gevent.Greenlet]:
    """Greenlets of *group* that have not ended.

    A Group forgets an ended greenlet from a link callback the hub runs a moment
    later, so right after ``close()`` the group may still list dead workers.
    """
    return [g for g in group if not g.dead]


@pytest.mark.parametrize("concurrency", [None, 1, 3])
def test_close_runs_what_was_queued_then_leaves_no_greenlet(group: Group, concurrency: Optional[int]) -> None:
    d = Dispatcher(group.spawn, concurrency)
    ran: list[int] = []
    for i in range(10):
        d.submit(ran.append, i)
    d.close(WAIT)
    assert ran == list(range(10))
    assert live(group) == []
    assert group.join(timeout=WAIT) is True
    assert len(group) == 0
    assert len(d._jobs) == 0


def test_close_runs_queued_jobs_behind_a_busy_one(group: Group) -> None:
    d = Dispatcher(group.spawn, 1)
    gate, started = Event(), Event()
    ran: list[int] = []

    def first() -> None:
        started.set()
        gate.wait()
        ran.append(0)

    d.submit(first)
    d.submit(ran.append, 1)
    d.submit(ran.append, 2)
    assert started.wait(timeout=WAIT)
    closer = gevent.spawn(d.close, WAIT)
    gate.set()
    closer.join(timeout=WAIT)
    assert closer.dead
    assert ran == [0, 1, 2]
    assert live(group) == []


def test_close_ends_an_idle_worker(group: Group) -> None:
    d = Dispatcher(group.spawn)
    for _ in range(2):  # two jobs close together: the worker waits for a third
        done = Event()
        d.submit(done.set)
        assert done.wait(timeout=WAIT)
    assert len(live(group)) == 1  # the idle worker
    d.close(WAIT)
    assert live(group) == []
    assert group.join(timeout=WAIT) is True
    assert len(group) == 0


def test_close_without_workers(group: Group) -> None:
    d = Dispatcher(group.spawn)
    d.close(WAIT)
    assert len(group) == 0


def test_close_kills_a_job_still_busy_after_the_timeout(group: Group) -> None:
    d = Dispatcher(group.spawn)
    never = Event()
    started, unwound = Event(), Event()

    def stuck() -> None:
        started.set()
        try:
            never.wait()
        finally:
            unwound.set()

    d.submit(stuck)
    assert started.wait(timeout=WAIT)
    d.close(0.05)
    assert unwound.is_set()
    assert live(group) == []
    assert group.join(timeout=WAIT) is True
    assert len(group) == 0


def test_close_kills_every_busy_worker_after_the_timeout(group: Group) -> None:
    d = Dispatcher(group.spawn)
    warmed = Event()
    d.submit(warmed.set)
    assert warmed.wait(timeout=WAIT)  # one idle worker now
    never = Event()
    for _ in range(3):
        d.submit(never.wait)
    d.close(0.05)
    assert live(group) == []


def test_close_from_a_worker_does_not_wait_for_itself(group: Group) -> None:
    d = Dispatcher(group.spawn, 1)
    returned = Event()
    ran: list[str] = []

    def closer() -> None:
        d.close(WAIT)  # would deadlock if it joined its own greenlet
        returned.set()

    d.submit(closer)
    d.submit(ran.append, "queued after close")
    assert returned.wait(timeout=WAIT)
    assert group.join(timeout=WAIT) is True
    assert ran == ["queued after close"]
    assert len(group) == 0
