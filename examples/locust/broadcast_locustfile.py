"""Many users in one Locust process: each makes one acked call a second and gets one broadcast a second.

The server is ``broadcast_server.js`` beside this file (``npm ci`` here first); it
broadcasts ``tick(seq, sent_ms)`` to every socket once a second. ``run_broadcast.py``
starts it and Locust, and prints the figures; by hand::

    node examples/locust/broadcast_server.js --port 3000 &
    locust -f examples/locust/broadcast_locustfile.py --headless -u 1000 -r 1000 -t 30s \\
        --host http://127.0.0.1:3000

Rows: ``connect /``, ``call echo`` (the ack round trip), ``push tick`` (from the
broadcast's own send time to its handler), ``hub lag`` (how long the worker's gevent hub
was busy without a break, worst of each second). ``emit`` rows are off: ``call echo``
already counts every packet sent.

With ``GREENSIO_BROADCAST_SUMMARY=path`` set, the process writes a JSON summary there
when the test stops: when every user was connected, the worker's CPU over the steady
part of the run (from STEADY_AFTER seconds after the last connect to the stop), and
how many of the broadcasts of that part each user received.
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import time
from typing import Any, Optional

import gevent
from locust import events, task

from greensio.contrib.locust import SocketIOUser

# gevent records where each greenlet was spawned (ten stack frames): with greensio starting
# a handler greenlet for events, that is a few percent of the CPU and garbage for the
# collector. Nothing here reads it.
gevent.config.track_greenlet_tree = False

STEADY_AFTER = 3.0  # seconds after the last connect before the steady part (CPU, broadcasts) begins


class BroadcastUser(SocketIOUser):
    report_emits = False
    connect_timeout = 60.0
    call_timeout = 10.0

    def __init__(self, environment: Any) -> None:
        self.ticks: list[int] = []  # the seq of every broadcast received
        self.next_call = 0.0
        # push_latency per user (set before SocketIOUser.__init__ reads it), so that the
        # extractor also notes which broadcasts this user got, at no extra handler call
        self.push_latency = {"tick": self.tick_sent}
        super().__init__(environment)
        RUN.users.append(self)

    def on_start(self) -> None:
        super().on_start()
        if self.sio.connected:
            RUN.connected()
        # One call a second, at a random point of the second: Locust's constant_pacing(1) keeps
        # the phase of the user's creation, so users spawned together would call together.
        gevent.sleep(random.random())
        self.next_call = time.monotonic()

    def wait_time(self) -> float:
        self.next_call += 1.0
        return max(0.0, self.next_call - time.monotonic())

    def tick_sent(self, seq: int, sent_ms: float) -> float:
        self.ticks.append(seq)
        return sent_ms

    @task
    def echo(self) -> None:
        if self.call("echo", 1) == 1 and RUN.steady is not None:
            RUN.calls_steady += 1


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _waiting_seconds() -> float:
    """Seconds this process was runnable but waiting for a CPU (Linux; 0 elsewhere): a busy machine."""
    try:
        with open("/proc/self/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


class Steady:
    """Where the steady part began."""

    def __init__(self) -> None:
        self.monotonic = time.monotonic()
        self.epoch = time.time()
        self.cpu = _cpu_seconds()
        self.waiting = _waiting_seconds()
        self.frozen = gc.get_freeze_count()


class Run:
    """What the summary needs, gathered in this process."""

    def __init__(self) -> None:
        self.users: list[BroadcastUser] = []
        self.target = 0
        self.started = 0.0
        self.connected_count = 0
        self.all_connected: Optional[float] = None
        self.steady: Optional[Steady] = None
        self.first_seq = 0  # the newest broadcast seen when the steady part began
        self.calls_steady = 0  # calls acked in the steady part
        self.hub_lag_steady_ms: list[float] = []  # the "hub lag" rows of the steady part

    def connected(self) -> None:
        self.connected_count += 1
        if self.connected_count == self.target and self.all_connected is None:
            self.all_connected = time.monotonic()
            gevent.spawn_later(STEADY_AFTER, self._steady_begins)

    def _steady_begins(self) -> None:
        self.steady = Steady()
        self.first_seq = self._highest_seq()

    def _highest_seq(self) -> int:
        return max((u.ticks[-1] for u in self.users if u.ticks), default=0)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "users": self.target,
            "connected": self.connected_count,
            "seconds_to_all_connected": None if self.all_connected is None else self.all_connected - self.started,
        }
        steady = self.steady
        if steady is not None:
            seconds = time.monotonic() - steady.monotonic
            # broadcasts sent after the steady part began, except the newest two, which may still
            # be on their way to some users when the test stops: a broadcast counts as received
            # when it arrived within about 2 s
            window = range(self.first_seq + 1, self._highest_seq() - 1)
            got = sorted(sum(1 for seq in u.ticks if seq in window) for u in self.users)
            out.update(
                steady_seconds=seconds,
                steady_epoch=[steady.epoch, time.time()],
                cpu_percent_of_one_core=100.0 * (_cpu_seconds() - steady.cpu) / seconds,
                waiting_for_cpu_percent=100.0 * (_waiting_seconds() - steady.waiting) / seconds,
                frozen_objects=steady.frozen,
                hub_lag_steady_ms=self.hub_lag_steady_ms,
                calls_steady=self.calls_steady,
                broadcasts_sent=len(window),
                broadcasts_received_min=got[0] if got else 0,
                broadcasts_received_median=got[len(got) // 2] if got else 0,
            )
        return out


RUN = Run()


def _on_test_start(environment: Any, **kwargs: Any) -> None:
    RUN.started = time.monotonic()
    parsed = environment.parsed_options
    RUN.target = parsed.num_users if parsed is not None else 0


def _on_request(request_type: str, response_time: float, **kwargs: Any) -> None:
    if request_type == "hub" and RUN.steady is not None:
        RUN.hub_lag_steady_ms.append(response_time)


def _on_test_stopping(environment: Any, **kwargs: Any) -> None:
    path = os.environ.get("GREENSIO_BROADCAST_SUMMARY")
    if path:
        with open(path, "w") as f:
            json.dump(RUN.summary(), f)


events.test_start.add_listener(_on_test_start)  # type: ignore[no-untyped-call]
events.request.add_listener(_on_request)  # type: ignore[no-untyped-call]
# before the users stop: their disconnects are not counted
events.test_stopping.add_listener(_on_test_stopping)  # type: ignore[no-untyped-call]
