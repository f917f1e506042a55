"""Connect/disconnect cycles and server-forced reconnects: nothing may be left behind.

    python -m tests.soak.cycles --cycles 1000 --reconnects 1000 [--server node|python]
        [--transports websocket websocket websocket polling,websocket] [--reconnect-transports websocket]

Starts a test server of tests/servers/ and runs two phases, each after a warm-up:

1. connect cycles: a greensio client on a fresh Manager connects (the cycles rotate
   through ``--transports``; ``polling,websocket`` waits for the upgrade), makes one
   ``call("echo")``, and disconnects;
2. reconnects: one long-lived client; the server closes its Engine.IO connection
   (``close_engine``), the client reconnects after a 10 ms backoff and makes one
   ``call("echo")``. It learns of the disconnect and the reconnect through an
   observer (see Watch), and its greenlets and fds are compared with those it had
   while connected after the warm-up.

After every cycle the greenlets greensio started and the process's file descriptors
must be exactly what they were before (within a bounded wait), else it stops with
what was left. Every ``--every`` cycles, and at the end, it reports greenlets, fds,
RSS and the greensio objects alive (after ``gc.collect()``) as a table; the last line
is one JSON object. tests/soak/test_cycles.py runs the same functions with small counts.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import collections  # noqa: E402
import dataclasses  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Optional, Sequence  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402
import gevent.hub  # noqa: E402
import gevent.threadpool  # noqa: E402
import greenlet  # noqa: E402

import greensio  # noqa: E402
from tests.integration.helpers import open_fds  # noqa: E402
from tests.servers.process import ServerProcess  # noqa: E402

WAIT = 10.0  # bound of every wait on a server round trip, in seconds
SETTLE = 5.0  # bound of the wait for greenlets and fds to be back to what they were
RECONNECT: dict[str, Any] = {"reconnection_delay": 0.01, "reconnection_delay_max": 0.01, "randomization_factor": 0}
DEFAULT_ROTATION = ("websocket", "websocket", "websocket", "polling,websocket")

Transports = list[str]
Row = dict[str, Any]


# -- measuring -------------------------------------------------------------------


def rss_kb() -> float:
    """Current resident set size of this process, in KiB (not the peak)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024


def greensio_greenlets() -> set[int]:
    """Ids of the live greenlets but the current one, the hub and gevent's threadpool threads.

    What tests/faults counts (live_greenlets() of tests/integration/helpers.py less the
    threadpool's), in one pass over gc.get_objects(): it runs after every cycle.
    """
    current = greenlet.getcurrent()
    return {
        id(g)
        for g in gc.get_objects()
        if isinstance(g, greenlet.greenlet)
        and not g.dead
        and g is not current
        and g.parent is not None
        and not isinstance(g, (gevent.hub.Hub, gevent.threadpool._WorkerGreenlet))
    }


def greensio_objects() -> collections.Counter[str]:
    """Instances of greensio's classes alive after a full collection, by class name."""
    gc.collect()
    found: collections.Counter[str] = collections.Counter()
    for o in gc.get_objects():
        module = type(o).__module__
        if isinstance(module, str) and module.startswith("greensio"):
            found[f"{module}.{type(o).__qualname__}"] += 1
    return found


def describe_greenlets(ids: set[int]) -> list[str]:
    """What the greenlets with these ids run, and where they are (for a leak report)."""
    found = []
    for g in gc.get_objects():
        if isinstance(g, greenlet.greenlet) and id(g) in ids:
            frame = g.gr_frame
            where = f"{frame.f_code.co_filename}:{frame.f_lineno}" if frame is not None else "not started"
            found.append(f"{g!r} at {where}")
    return found


def describe_fds(fds: set[int]) -> list[str]:
    """What these file descriptors are open on."""
    found = []
    for fd in sorted(fds):
        try:
            found.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            found.append(f"{fd} (closed since)")
    return found


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll an observable condition (there is no event for "a greenlet ended somewhere"), bounded."""
    with gevent.Timeout(timeout, AssertionError(f"timed out after {timeout} s waiting for {what}")):
        while not condition():
            gevent.sleep(0.005)


@dataclasses.dataclass
class Snapshot:
    """The greenlets (ids) and file descriptors of this process at one moment."""

    greenlets: set[int]
    fds: set[int]

    @classmethod
    def take(cls) -> Snapshot:
        return cls(greensio_greenlets(), open_fds())

    def within(self, now: Snapshot) -> bool:
        """True when ``now`` has nothing this snapshot has not (what ended since is no leak)."""
        return now.greenlets <= self.greenlets and now.fds <= self.fds

    def wait_back(self, timeout: float = SETTLE) -> Snapshot:
        """Wait until no greenlet or fd is left beyond these, at most ``timeout``; the last snapshot."""
        deadline = time.monotonic() + timeout
        while True:
            now = Snapshot.take()
            if self.within(now) or time.monotonic() > deadline:
                return now
            gevent.sleep(0.005)

    def settle(self, timeout: float = SETTLE) -> None:
        """wait_back(), raising AssertionError with the difference when something was left."""
        now = self.wait_back(timeout)
        if not self.within(now):
            raise AssertionError(f"not back to the snapshot after {timeout} s: {self.difference(now)}")

    def difference(self, now: Snapshot) -> str:
        """What ``now`` has that this snapshot has not, and the other way round."""
        return (
            f"greenlets added {describe_greenlets(now.greenlets - self.greenlets)}, "
            f"{len(self.greenlets - now.greenlets)} gone; fds added {describe_fds(now.fds - self.fds)}, "
            f"gone {sorted(self.fds - now.fds)}"
        )


def settled(sio: greensio.Socket) -> None:
    """Wait until the socket is on the last of its transports (an upgrade to WebSocket is done)."""
    wanted = sio.manager.options.transports[-1]
    wait_until(lambda: sio.transport == wanted, WAIT, f"transport {wanted} (on {sio.transport})")


# -- the phases ------------------------------------------------------------------


@dataclasses.dataclass
class Phase:
    """What one phase measured. RSS is taken after gc.collect(), after the warm-up and at the end."""

    name: str
    cycles: int
    warmup: int
    seconds: float = 0.0
    rss_start_kb: float = 0.0
    rss_end_kb: float = 0.0
    objects_left: dict[str, int] = dataclasses.field(default_factory=dict)
    objects_after_close: dict[str, int] = dataclasses.field(default_factory=dict)
    holders: list[str] = dataclasses.field(default_factory=list)  # what kept a Manager alive, if one was
    reasons: dict[str, int] = dataclasses.field(default_factory=dict)
    rows: list[Row] = dataclasses.field(default_factory=list)

    @property
    def growth_per_cycle_kb(self) -> float:
        return (self.rss_end_kb - self.rss_start_kb) / max(self.cycles, 1)

    def summary(self) -> Row:
        return {
            "cycles": self.cycles,
            "warmup": self.warmup,
            "seconds": round(self.seconds, 2),
            "rss_start_kb": round(self.rss_start_kb),
            "rss_end_kb": round(self.rss_end_kb),
            "growth_per_cycle_kb": round(self.growth_per_cycle_kb, 3),
            "objects_left": self.objects_left,
            "objects_after_close": self.objects_after_close,
            "reasons": self.reasons,
        }


def _sample(
    phase: Phase,
    done: int,
    started: float,
    objects0: collections.Counter[str],
    baseline: Snapshot,
    report: Callable[[Row], None],
) -> None:
    objects = greensio_objects()
    now = Snapshot.take()
    row = {
        "phase": phase.name,
        "done": done,
        "greenlets": len(now.greenlets),
        "fds": len(now.fds),
        "new_greenlets": len(now.greenlets - baseline.greenlets),
        "new_fds": len(now.fds - baseline.fds),
        "rss_kb": round(rss_kb()),
        "greensio_objects": sum(objects.values()),
        "objects_added": sum((objects - objects0).values()),
        "seconds": round(time.monotonic() - started, 2),
    }
    phase.rows.append(row)
    report(row)


def echo(sio: greensio.Socket, seq: int) -> None:
    """``call("echo", seq)``, bounded by a gevent.Timeout rather than by call()'s own timeout.

    A call() with a timeout leaves its settled ack slot (with the callback, and so the
    ack's value) in the socket's deadline heap until the deadline passes: bounded, but
    here it would add the last WAIT seconds of calls to the RSS and object counts.
    """
    with gevent.Timeout(WAIT, AssertionError(f"no ack for echo({seq}) within {WAIT} s")):
        got = sio.call("echo", seq)
    assert got == seq, f"echo({seq}) acked {got!r}"


def connect_cycle(url: str, transports: Transports, seq: int) -> None:
    """One client on a fresh Manager: connect, (upgrade,) call("echo"), disconnect."""
    sio = greensio.connect(url, transports=transports, force_new=True, timeout=WAIT)
    try:
        settled(sio)
        echo(sio, seq)
    finally:
        sio.disconnect()
    assert not sio.active


def connect_cycles(
    url: str,
    cycles: int,
    rotation: Sequence[Transports],
    warmup: int = 20,
    every: int = 100,
    report: Callable[[Row], None] = lambda row: None,
) -> Phase:
    """``warmup`` (at least 1) then ``cycles`` connect cycles; after each, greenlets and fds are as before the first.

    Objects are counted from after the warm-up: the first client creates process-wide
    one-offs (imports, greensio's per-hub caches) that are not leaks.
    """
    assert warmup >= 1, "the object baseline needs a first cycle"
    phase = Phase("connect", cycles, warmup)
    before = Snapshot.take()
    for seq in range(warmup):
        connect_cycle(url, rotation[seq % len(rotation)], seq)
        before.settle()
    objects0 = greensio_objects()
    phase.rss_start_kb = rss_kb()
    started = time.monotonic()
    for seq in range(cycles):
        connect_cycle(url, rotation[seq % len(rotation)], seq)
        before.settle()
        if (seq + 1) % every == 0 or seq + 1 == cycles:
            _sample(phase, seq + 1, started, objects0, before, report)
    phase.seconds = time.monotonic() - started
    objects = greensio_objects()
    phase.rss_end_kb = rss_kb()
    phase.objects_left = phase.objects_after_close = dict(objects - objects0)
    return phase


class Watch:
    """An observer (greensio's ``observer=`` option): counts disconnect reasons, signals (re)connects.

    greensio calls an observer in place, from its reader greenlet; event handlers
    would run in handler greenlets, which linger a moment after their last job (by
    design) and so would blur the exact greenlet check after every reconnect.
    """

    def __init__(self) -> None:
        self.reasons: collections.Counter[str] = collections.Counter()
        self.up = gevent.event.Event()
        self.down = gevent.event.Event()

    def connected(self, seconds: float, transport: Optional[str]) -> None:
        self.up.set()

    def disconnected(self, reason: str) -> None:
        self.reasons[reason] += 1
        self.down.set()


class LongLived:
    """One client that the server disconnects again and again (``close_engine``)."""

    def __init__(self, url: str, transports: Transports) -> None:
        self.watch = Watch()
        self.sio = greensio.Socket(
            url,
            transports=transports,
            force_new=True,
            auto_connect=False,
            timeout=WAIT,
            observer=self.watch,
            **RECONNECT,
        )
        self.sio.connect(timeout=WAIT)
        settled(self.sio)

    def reconnect(self, seq: int) -> None:
        """Have the server close the connection; wait for the reconnect, then call("echo")."""
        watch = self.watch
        watch.up.clear()
        watch.down.clear()
        self.sio.emit("close_engine")
        if not watch.down.wait(WAIT):
            raise AssertionError(f"no disconnect within {WAIT} s after close_engine")
        if not watch.up.wait(WAIT):
            raise AssertionError(f"not reconnected within {WAIT} s (reasons so far {dict(watch.reasons)})")
        settled(self.sio)
        echo(self.sio, seq)


def reconnect_cycles(
    url: str,
    cycles: int,
    transports: Transports,
    warmup: int = 20,
    every: int = 100,
    report: Callable[[Row], None] = lambda row: None,
) -> Phase:
    """``warmup`` then ``cycles`` forced reconnects of one client; after each, greenlets and fds are as before it.

    The process before the client existed (after one connect cycle, for process-wide
    one-offs) is compared with the process after the client disconnected, too.
    """
    phase = Phase("reconnect", cycles, warmup)
    connect_cycle(url, transports, -1)
    before = Snapshot.take()
    objects_before = greensio_objects()
    client = LongLived(url, transports)
    try:
        for seq in range(warmup):
            client.reconnect(seq)
        during = Snapshot.take()
        objects0 = greensio_objects()
        phase.rss_start_kb = rss_kb()
        started = time.monotonic()
        for seq in range(cycles):
            client.reconnect(seq)
            during.settle()
            if (seq + 1) % every == 0 or seq + 1 == cycles:
                _sample(phase, seq + 1, started, objects0, during, report)
        phase.seconds = time.monotonic() - started
        objects = greensio_objects()
        phase.rss_end_kb = rss_kb()
        phase.objects_left = dict(objects - objects0)
        reconnects = client.sio.manager.stats.reconnects
        assert reconnects == warmup + cycles, f"{reconnects} reconnects counted, {warmup + cycles} forced"
    finally:
        client.sio.disconnect()
    phase.reasons = dict(client.watch.reasons)
    del client
    before.settle()
    phase.objects_after_close = dict(greensio_objects() - objects_before)
    if phase.objects_after_close:
        phase.holders = holders_of("Manager")
    return phase


def holders_of(class_name: str) -> list[str]:
    """What refers to the live greensio objects of that class (for a leak report)."""
    gc.collect()
    found = [
        o for o in gc.get_objects() if type(o).__name__ == class_name and type(o).__module__.startswith("greensio")
    ]
    lines = []
    for obj in found[-2:]:
        for ref in gc.get_referrers(obj):
            if ref is found:
                continue
            kind = type(ref).__name__
            where = getattr(ref, "f_code", None) or getattr(ref, "__qualname__", None) or ""
            lines.append(f"{kind} {str(where)[:120]}")
    return lines


# -- the command line ------------------------------------------------------------

COLUMNS = [
    "phase",
    "done",
    "greenlets",
    "new_greenlets",
    "fds",
    "new_fds",
    "rss_kb",
    "greensio_objects",
    "objects_added",
    "seconds",
]


def table(rows: list[Row], columns: Sequence[str]) -> str:
    """Rows as a fixed-width text table."""
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def print_row(row: Row) -> None:
    print("  ".join(f"{c}={row[c]}" for c in COLUMNS), flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=1000, help="connect/disconnect cycles (default 1000)")
    parser.add_argument("--reconnects", type=int, default=1000, help="forced reconnects (default 1000)")
    parser.add_argument("--server", choices=["node", "python"], default="node")
    parser.add_argument(
        "--transports",
        nargs="+",
        default=list(DEFAULT_ROTATION),
        help="the connect cycles rotate through these comma-separated transport lists "
        "(default: websocket websocket websocket polling,websocket)",
    )
    parser.add_argument("--reconnect-transports", default="websocket", help="of the long-lived client")
    parser.add_argument("--warmup", type=int, default=20, help="cycles before RSS is first measured")
    parser.add_argument("--every", type=int, default=100, help="report every N cycles")
    args = parser.parse_args(argv)

    logs = Path(tempfile.mkdtemp(prefix="greensio-cycles-"))
    server = ServerProcess(args.server, logs / f"{args.server}.log")
    print(f"{args.server} server at {server.url}, log in {logs}", flush=True)
    phases: list[Phase] = []
    try:
        if args.cycles:
            rotation = [t.split(",") for t in args.transports]
            phases.append(connect_cycles(server.url, args.cycles, rotation, args.warmup, args.every, print_row))
        if args.reconnects:
            phases.append(
                reconnect_cycles(
                    server.url,
                    args.reconnects,
                    args.reconnect_transports.split(","),
                    args.warmup,
                    args.every,
                    print_row,
                )
            )
    finally:
        server.stop()
    print()
    print(table([row for phase in phases for row in phase.rows], COLUMNS))
    print()
    summary = [{"phase": p.name, **p.summary()} for p in phases]
    print(
        table(
            summary,
            [
                "phase",
                "cycles",
                "seconds",
                "rss_start_kb",
                "rss_end_kb",
                "growth_per_cycle_kb",
                "objects_left",
                "objects_after_close",
                "reasons",
            ],
        )
    )
    print(
        json.dumps(
            {
                "server": args.server,
                "transports": args.transports,
                "reconnect_transports": args.reconnect_transports,
                "greensio": greensio.__version__,
                "python": sys.version.split()[0],
                **{p.name: p.summary() for p in phases},
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
