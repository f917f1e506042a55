"""Runs handlers off the reader: one greenlet per running handler call, started in order.

Jobs wait in one FIFO queue. A worker greenlet takes a job; before running it,
if more jobs wait and no worker is idle, it starts a standby worker, so a job
that blocks never holds up the next one. Workers that find the queue empty
stay as one idle worker (the others end), so a steady stream costs no spawns;
the idle worker ends after ``linger`` seconds without a job, so an idle
connection holds no handler greenlet. A worker lingers only once jobs came
within ``linger`` of each other: a lone job (a connection's ``connect``
event) ends its worker at once, so thousands of clients connecting together
do not keep thousands of idle greenlets (and their memory) for ``linger``. With ``concurrency`` N, at most N workers
exist; the rest wait in the queue.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any, Callable, Deque, Optional

import gevent
from gevent.event import Event

__all__ = ["Dispatcher"]

log = logging.getLogger("greensio")
Job = tuple[Callable[..., Any], tuple[Any, ...]]
Spawn = Callable[[Callable[[], None]], gevent.Greenlet]
# Seconds an idle worker waits for the next job before it ends: long enough that an event a
# second (a load test's broadcast) reuses its worker instead of spawning one each time.
LINGER = 2.0


class Dispatcher:
    """Handler greenlets for one Manager."""

    __slots__ = (
        "_spawn", "_limit", "_linger", "_jobs", "_workers", "_idle", "_starting", "_wake", "_closed",
        "_loop", "_ran_out",
    )  # fmt: skip

    def __init__(self, spawn: Spawn, concurrency: Optional[int] = None, linger: float = LINGER) -> None:
        if concurrency is not None and concurrency < 1:
            raise ValueError("handler_concurrency must be None or at least 1")
        self._spawn = spawn
        self._limit = concurrency
        self._linger = linger
        self._jobs: Deque[Job] = deque()
        self._workers: set[gevent.Greenlet] = set()
        self._idle = 0
        self._starting = 0  # spawned, not yet running: they will take queued jobs too
        self._wake = Event()
        self._closed = False
        self._loop = gevent.get_hub().loop
        self._ran_out = -math.inf  # when a worker last found no job (the hub loop's clock)

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)``; it runs in a handler greenlet, in submission order."""
        self._jobs.append((fn, args))
        if self._idle:
            self._wake.set()
        elif not self._starting:
            self._maybe_spawn()

    def _maybe_spawn(self) -> None:
        if self._limit is None or len(self._workers) < self._limit:
            self._starting += 1
            worker = self._spawn(self._work)
            self._workers.add(worker)
            worker.link(self._workers.discard)

    def _work(self) -> None:
        self._starting -= 1
        try:
            self._run_jobs()
        finally:
            # At once, not in the link callback: a job submitted before that runs would
            # otherwise find the concurrency limit reached by a worker that has ended.
            self._workers.discard(gevent.getcurrent())

    def _run_jobs(self) -> None:
        jobs = self._jobs
        while jobs or not self._closed:
            if not jobs:
                if self._idle:
                    return  # one idle worker is enough
                now = self._loop.now()
                last, self._ran_out = self._ran_out, now
                if now - last > self._linger:
                    return  # a lone job: nothing says another comes soon
                self._idle += 1
                try:
                    self._wake.clear()
                    woken = self._wake.wait(self._linger)
                finally:
                    self._idle -= 1
                if not woken and not jobs:
                    return
                continue
            fn, args = jobs.popleft()
            if jobs and not self._idle and not self._starting:
                self._maybe_spawn()
            try:
                fn(*args)
            except Exception:
                log.exception("handler %r raised", getattr(fn, "__qualname__", fn))

    def close(self, timeout: float, stop_waiting: Callable[[], bool] = lambda: False) -> None:
        """Run what is queued, then end every worker; kill those still busy after ``timeout``.

        Called from one of its own workers, it does not wait: that worker ends
        after its current job and the queue. Once ``stop_waiting()`` is true
        (the connection was reopened) busy workers are left to finish.
        """
        self._closed = True
        self._wake.set()
        if gevent.getcurrent() in self._workers:
            return
        with gevent.Timeout(timeout, False):
            while self._alive() and not stop_waiting():
                gevent.joinall(self._alive(), timeout=0.05)
        while self._alive() and not stop_waiting():  # busy past the timeout, late spawns included
            gevent.killall(self._alive())

    def _alive(self) -> list[gevent.Greenlet]:
        return [w for w in self._workers if not w.dead]


def call_logged(fn: Callable[..., Any], *args: Any) -> Any:
    """Call user code in place, logging instead of raising."""
    try:
        return fn(*args)
    except Exception:
        log.exception("callback %r raised", getattr(fn, "__qualname__", fn))
        return None
