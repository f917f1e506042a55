"""The client side of the flood tests, run in a process of its own, without monkey patching:

    python -m tests.security.flood_client '{"url": "http://127.0.0.1:P", "timeout": 1.5, "options": {...}}'

A ticker greenlet sleeps ``TICK`` seconds at a time and records how late each
wake-up is: on the wall clock (``max_lag``); without the time the kernel kept
this thread waiting for a CPU (``max_own_lag``: the delay this process caused
itself, which other processes on a shared machine do not inflate); and in CPU
time of this thread (``max_cpu``: the work the hub did instead of waking it).
``greensio.connect(url, timeout=...)`` runs meanwhile, with ``retry`` if asked,
and a connected socket is held for ``hold`` seconds. Prints one JSON line:
outcome, elapsed, the lags, ticks, the resident set size at the start and its
peak, and the disconnect reasons seen while held.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import gevent
from gevent import monkey

import greensio

TICK = 0.005
RSS_EVERY = 10  # ticks between two readings of the resident set size


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


class RunQueueWait:
    """Seconds this thread has spent runnable but waiting for a CPU (/proc/thread-self/schedstat)."""

    def __init__(self) -> None:
        self._fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)

    def __call__(self) -> float:
        return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9


class Ticker:
    """A greenlet that wants to run every TICK seconds, and how late it got to."""

    def __init__(self) -> None:
        self.max_lag = self.max_own_lag = self.max_cpu = 0.0
        self.ticks = 0
        self.rss_peak = rss_kb()
        self.waited = RunQueueWait()
        self.greenlet = gevent.spawn(self._run)

    def _run(self) -> None:
        wall, cpu, waited = time.perf_counter(), time.thread_time(), self.waited()
        while True:
            gevent.sleep(TICK)
            now_wall, now_cpu, now_waited = time.perf_counter(), time.thread_time(), self.waited()
            lag = now_wall - wall - TICK
            self.max_lag = max(self.max_lag, lag)
            self.max_own_lag = max(self.max_own_lag, lag - (now_waited - waited))
            self.max_cpu = max(self.max_cpu, now_cpu - cpu)
            wall, cpu, waited = now_wall, now_cpu, now_waited
            self.ticks += 1
            if self.ticks % RSS_EVERY == 0:
                self.rss_peak = max(self.rss_peak, rss_kb())


def main(spec: dict[str, Any]) -> dict[str, Any]:
    assert not monkey.is_anything_patched()
    rss_start = rss_kb()
    ticker = Ticker()
    gevent.sleep(TICK * 2)  # the ticker runs before the flood starts
    reasons: list[str] = []
    started = time.perf_counter()
    try:
        sio = greensio.connect(spec["url"], timeout=spec["timeout"], retry=spec.get("retry", False), **spec["options"])
    except greensio.Error as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    else:
        outcome = "connected"
        sio.on("disconnect", reasons.append)
        gevent.sleep(spec.get("hold", 0))
        sio.disconnect()
    elapsed = time.perf_counter() - started
    ticker.greenlet.kill()
    return {
        "outcome": outcome,
        "elapsed": elapsed,
        "max_lag": ticker.max_lag,
        "max_own_lag": ticker.max_own_lag,
        "max_cpu": ticker.max_cpu,
        "ticks": ticker.ticks,
        "rss_start_kb": rss_start,
        "rss_peak_kb": ticker.rss_peak,
        "reasons": reasons,
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
