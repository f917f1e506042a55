"""The rig of the fault tests: a server, a FaultyProxy in front of it, a greensio client
through the proxy and acked traffic on it.

Shared by tests/faults/test_faults.py and the long fault run tests/soak/fault_run.py.
The client is a socket on ``/`` plus, on the same Manager (so sharing the
connection), a ``/chat`` socket with ``retries`` and ``ack_timeout`` on which
``Traffic`` keeps a few acked emits in flight. The traffic is either
``server_emit("seen", seq)`` (the server emits ``seen(seq)`` back for each copy it
processes: a lower bound of the copies, see Traffic) or, given a ``tally_key``,
``tally(key, seq)``, which the server counts exactly (tests/servers/README.md).
"""

from __future__ import annotations

import collections
import gc
import json
from pathlib import Path
from typing import Any, Callable, Optional

import gevent
import gevent.event
import gevent.threadpool
import greenlet

import greensio
from tests.integration.helpers import WAIT, Recorder, live_greenlets, open_fds
from tests.servers.process import ServerProcess

from .proxy import FaultyProxy

Report = dict[str, Any]
WINDOW = 4  # traffic packets emitted but not yet acked
# (pingInterval, pingTimeout) of the servers the fault scenarios run against: fast, so that
# heartbeat loss shows quickly. python-engineio only takes a whole-second pingInterval.
HEARTBEATS: dict[str, tuple[float, float]] = {"node": (0.3, 0.3), "python": (1, 1)}
HEARTBEAT_MARGIN = 1.0  # seconds allowed past pingInterval + pingTimeout
OK = (None, "ok")  # what an error-first callback gets for a successful traffic emit


def heartbeat_bound(kind: str) -> float:
    """Seconds within which a client must notice the silence of a ``kind`` server (HEARTBEATS)."""
    interval, timeout = HEARTBEATS[kind]
    return interval + timeout + HEARTBEAT_MARGIN


def wait_until(condition: Callable[[], bool], timeout: float = WAIT, what: str = "condition") -> None:
    """Poll an observable condition, failing the test after ``timeout``."""
    with gevent.Timeout(timeout, AssertionError(f"timed out waiting for {what}")):
        while not condition():
            gevent.sleep(0.005)


def greensio_greenlets() -> set[int]:
    """live_greenlets() but gevent's own threadpool threads (their worker and main greenlets).

    A first getaddrinfo() in the process (gevent's default resolver runs it in
    the hub's threadpool) starts one; it ends after 5 s idle.
    """
    gevents = {
        id(g)
        for g in gc.get_objects()
        if isinstance(g, greenlet.greenlet) and (isinstance(g, gevent.threadpool._WorkerGreenlet) or g.parent is None)
    }
    return live_greenlets() - gevents


class TallyServer(ServerProcess):
    """A ServerProcess whose server appends every ``tally`` to ``tally_file`` (``--tally-file``),
    so that the counts survive ``restart()``: see read_tally()."""

    def __init__(self, kind: str, log_path: Path, tally_file: Path, **options: object) -> None:
        self.tally_file = tally_file
        super().__init__(kind, log_path, **options)

    def start(self) -> None:
        if "--tally-file" not in self._command:  # ServerProcess has no option for it
            self._command = [*self._command, "--tally-file", str(self.tally_file)]
        super().start()


def tally_runs(counts: collections.Counter[int]) -> list[list[int]]:
    """Counts by seq as the runs ``[first, last, count]`` of the servers' ``tally_report``."""
    runs: list[list[int]] = []
    for seq in sorted(counts):
        if runs and runs[-1][1] == seq - 1 and runs[-1][2] == counts[seq]:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq, counts[seq]])
    return runs


def read_tally(path: Path, key: str) -> list[list[int]]:
    """What ``tally_report(key)`` answers, read straight from a server's ``--tally-file``.

    For a long run: the servers compute the report in their event loop, which
    takes longer than a fast heartbeat allows with a million tallies.
    """
    counts: collections.Counter[int] = collections.Counter()
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            line_key, seq = json.loads(line)
            if line_key == key:
                counts[seq] += 1
    return tally_runs(counts)


class Traffic:
    """Keeps ``window`` acked emits in flight on ``sio`` until stopped; records every callback.

    Without ``tally_key`` it emits ``server_emit("seen", seq)`` and counts the
    ``seen`` events in ``seen``; with it, ``tally(tally_key, seq)``. The record
    takes a byte per emit (a long run emits millions): how many times each
    callback fired, and the calls of those that did not fire once with success.
    """

    def __init__(self, sio: greensio.Socket, tally_key: Optional[str] = None, window: int = WINDOW) -> None:
        self.sio = sio
        self.tally_key = tally_key
        self.window = window
        self.sent = 0
        self.acked = 0  # callback calls so far (a callback called twice counts twice)
        self.out_of_order = 0  # callback calls that came after one of a later emit
        self.calls = bytearray()  # by seq: how many times its callback fired (at most 255)
        self.odd: dict[int, list[tuple[Any, ...]]] = {}  # by seq: the calls, when not one success
        self.seen: collections.Counter[int] = collections.Counter()
        self._highest = -1
        self._progress = gevent.event.Event()
        self._stopping = False
        sio.on("seen", self._on_seen)
        self._greenlet = gevent.spawn(self._run)

    def _on_seen(self, seq: int) -> None:
        self.seen[seq] += 1

    def _callback(self, seq: int) -> Callable[..., None]:
        def callback(*args: Any) -> None:
            before = self.calls[seq]
            self.calls[seq] = min(before + 1, 255)
            if seq in self.odd or before or args != OK:
                self.odd.setdefault(seq, [OK] * before).append(args)
            if seq < self._highest:
                self.out_of_order += 1
            self._highest = max(self._highest, seq)
            self.acked += 1
            self._progress.set()

        return callback

    def _run(self) -> None:
        while not self._stopping:
            if self.sent - self.acked >= self.window:
                self._progress.clear()
                self._progress.wait()
                continue
            self.calls.append(0)
            if self.tally_key is None:
                self.sio.emit("server_emit", "seen", self.sent, callback=self._callback(self.sent))
            else:
                self.sio.emit("tally", self.tally_key, self.sent, callback=self._callback(self.sent))
            self.sent += 1

    def wait_acks(self, count: int, timeout: float = WAIT) -> None:
        wait_until(lambda: self.acked >= count, timeout, f"{count} acks (have {self.acked})")

    def more(self, count: int = 10, timeout: float = WAIT) -> None:
        """Wait until ``count`` more packets than now are acked."""
        self.wait_acks(self.acked + count, timeout)

    def stop(self) -> None:
        """Stop emitting (what was emitted still gets its callback)."""
        self._stopping = True
        self._progress.set()
        self._greenlet.join(WAIT)
        assert self._greenlet.dead

    def finish(self) -> None:
        """Stop emitting, wait for every outstanding ack, and check the callbacks."""
        self.stop()
        self.wait_acks(self.sent)
        failed = {seq: self.odd.get(seq, []) for seq in range(self.sent) if seq in self.odd or not self.calls[seq]}
        assert failed == {}, f"callbacks not exactly one success: {failed}"
        assert self.out_of_order == 0 and self.acked == self.sent, "acks out of order"
        missing = [seq for seq in range(self.sent) if not self.seen[seq]]
        # A seen(seq) can be lost with the connection only around a fault: a handful at most.
        assert len(missing) <= 2 * WINDOW, f"server never reported {missing}"

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.seen.values() if n > 1)

    def outcome(self) -> Report:
        """What the callbacks saw: ``failed_acks`` (emits whose callback got an error),
        ``double_acks`` (fired more than once), ``out_of_order_acks`` (callbacks that
        came after one of a later emit), ``unsettled`` (emits with no callback yet)."""
        return {
            "failed_acks": sum(1 for calls in self.odd.values() if any(call[0] is not None for call in calls)),
            "double_acks": sum(1 for calls in self.odd.values() if len(calls) > 1),
            "out_of_order_acks": self.out_of_order,
            "unsettled": self.calls.count(0),
        }

    def abort(self) -> None:
        """Stop emitting without waiting for anything."""
        self._stopping = True
        self._progress.set()


class Rig:
    """A server, a proxy in front of it, a socket on ``/`` and traffic on ``/chat``.

    ``retries`` and ``ack_timeout`` are those of the ``/chat`` socket; ``tally_key``
    that of its Traffic; other options go to the ``/`` Socket (and its Manager).
    """

    def __init__(
        self,
        server: ServerProcess,
        transports: list[str],
        *,
        retries: int = 3,
        ack_timeout: float = 1,
        tally_key: Optional[str] = None,
        **options: Any,
    ) -> None:
        self.server = server
        self.greenlets, self.fds = greensio_greenlets(), open_fds()
        self.proxy = FaultyProxy(server.port)
        self.disconnects = Recorder()
        self.connects = Recorder()
        self.sio = greensio.Socket(
            self.proxy.url,
            transports=transports,
            force_new=True,
            timeout=2,
            reconnection_delay=0.05,
            reconnection_delay_max=0.2,
            randomization_factor=0,
            **options,
        )
        self.sio.on("disconnect", self.disconnects)
        self.sio.on("connect", self.connects)
        self.chat = self.sio.manager.socket("/chat", retries=retries, ack_timeout=ack_timeout)
        self.connects.wait(1)
        wait_until(lambda: self.chat.connected, what="/chat connected")
        self.traffic = Traffic(self.chat, tally_key)
        self.traffic.more(10)

    def reconnected(self, timeout: float = WAIT) -> None:
        """Wait for the next connect of both namespaces, then for traffic on it."""
        self.connects.wait(2, timeout)
        wait_until(lambda: self.chat.connected, timeout, "/chat reconnected")
        self.traffic.more(10)

    def abort(self) -> None:
        """Stop everything without checking anything (teardown after a failure)."""
        self.traffic.abort()
        self.chat.disconnect()
        self.sio.disconnect()
        self.proxy.stop()

    def leftovers(self, timeout: float = 5) -> tuple[set[int], set[int]]:
        """Wait up to ``timeout`` for the greenlets and fds opened since the rig started to end;
        return those still there (greenlet ids, fds)."""

        def left() -> tuple[set[int], set[int]]:
            return greensio_greenlets() - self.greenlets, open_fds() - self.fds

        try:
            wait_until(lambda: left() == (set(), set()), timeout, "greenlets and fds to end")
        except AssertionError:
            pass
        return left()

    def close(self, report: Report) -> None:
        self.traffic.finish()
        report["duplicates_seen_by_server"] = self.traffic.duplicates
        report["emitted"] = self.traffic.sent
        self.chat.disconnect()
        self.sio.disconnect()
        assert not self.sio.active and not self.chat.active
        self.proxy.stop()
        greenlets, fds = self.leftovers()
        assert greenlets == set(), "greensio greenlets did not end"
        assert fds == set(), f"fds did not close: {fds}"
