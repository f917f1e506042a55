"""Thousands of clients in one process for minutes: nothing may drop, grow or leak.

    python -m tests.soak.soak --clients 2000 --chatty 200 --minutes 10

Starts one Node server (tests/servers/node_server.js with its default heartbeat, a
PING every 25 s, so idle clients do real heartbeats) and connects ``--clients``
greensio clients over WebSocket in this process, each on its own Manager
(``force_new=True``). Idle clients just stay connected. Each of the ``--chatty``
first ones loops once per ``--interval`` seconds (default 1, at a random phase):

- ``emit("echo", seq, payload)``: the server emits it back;
- ``call("echo", seq, payload, timeout=10)``: the ack must carry them back;
- ``emit("burst", 2, 16)``: the server emits ``burst`` twice, then ``burst_done``;

that is 3 messages out and 5 in per loop. Every ``--sample`` seconds it reports RSS,
greenlets, fds, greensio objects alive (after ``gc.collect()``), connected clients,
messages, disconnects and errors so far, server PINGs seen, this process's CPU over
the interval (``cpu_pct``, the census excluded) and how long the census held the hub
(``sample_ms``: a full collection and two passes over ``gc.get_objects()``; a call
in flight then waits for it, which shows in ``call_max_ms``).

At the end: RSS after the warm-up (``--warmup-minutes``) and at the end, the RSS
slope over the last ``--slope-minutes`` (least squares), min/max connected, totals,
the object types whose count grew most from the warm-up sample to the last one
(``types_grown``), every disconnect and error with its reason; then it stops the
loops, checks every echo, ack and burst arrived, disconnects every client and
reports the greenlets, fds and greensio objects left behind (expected: none).
A table and, last, one JSON line. tests/soak/test_soak.py runs it small.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import collections  # noqa: E402
import dataclasses  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Callable, Optional, Sequence  # noqa: E402

import gevent  # noqa: E402
import gevent.event  # noqa: E402

import greensio  # noqa: E402
from greensio._limits import raise_nofile  # noqa: E402
from tests.integration.helpers import open_fds  # noqa: E402
from tests.servers.process import ServerProcess  # noqa: E402
from tests.soak.cycles import (  # noqa: E402
    Row,
    Snapshot,
    connect_cycle,
    greensio_greenlets,
    greensio_objects,
    rss_kb,
    table,
)

CALL_TIMEOUT = 10.0  # seconds for one call("echo") of a chatty client
BURST = 2  # burst events asked for per loop (then one burst_done)
PAYLOAD = "p" * 32
DRAIN = 30.0  # bound of the wait for outstanding replies after the loops stop, and for the clean-up

COLUMNS = [
    "t_s",
    "connected",
    "greenlets",
    "fds",
    "rss_kb",
    "greensio_objects",
    "sent",
    "received",
    "calls_ok",
    "errors",
    "disconnects",
    "pings",
    "msgs_per_s",
    "cpu_pct",
    "sample_ms",
]


@dataclasses.dataclass
class Incident:
    """A disconnect or an error, at ``t`` seconds after all clients were first connected."""

    t: float
    client: int
    kind: str
    reason: str


class Tally:
    """What every client reports, summed; min/max connected are tracked at every change."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.connected = 0
        self.connected_min: Optional[int] = None  # from all_connected on
        self.connected_max = 0
        self.all_connected = gevent.event.Event()
        self.t0 = time.monotonic()
        self.incidents: list[Incident] = []
        self.pings = 0
        self.sent = self.received = 0
        self.calls_ok = 0
        self.call_max = 0.0

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 3)

    def change(self, delta: int) -> None:
        self.connected += delta
        if self.connected_min is not None:
            self.connected_min = min(self.connected_min, self.connected)
            self.connected_max = max(self.connected_max, self.connected)
        elif self.connected == self.clients:  # the soak starts
            self.t0 = time.monotonic()
            self.connected_min = self.connected_max = self.connected
            self.all_connected.set()

    def record(self, client: int, kind: str, reason: str) -> None:
        self.incidents.append(Incident(self.now(), client, kind, reason))

    @property
    def errors(self) -> list[Incident]:
        return [e for e in self.incidents if e.kind != "disconnect"]

    @property
    def disconnects(self) -> list[Incident]:
        return [e for e in self.incidents if e.kind == "disconnect"]


class Client:
    """One greensio client on its own Manager; a chatty one also runs a loop (see the module docstring)."""

    def __init__(self, index: int, url: str, tally: Tally, transports: list[str]) -> None:
        self.index = index
        self.tally = tally
        self.loops = 0  # loops started
        self.echoes = self.burst_events = self.bursts_done = self.calls_ok = 0
        self.sio = greensio.Socket(url, transports=transports, force_new=True, auto_connect=False)
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("connect_error", self._on_connect_error)
        self.sio.on("echo", self._on_echo)
        self.sio.on("burst", self._on_burst)
        self.sio.on("burst_done", self._on_burst_done)
        self.sio.manager.on("ping", self._on_ping)
        self.sio.connect(wait=False)

    def _on_connect(self) -> None:
        self.tally.change(+1)

    def _on_disconnect(self, reason: str) -> None:
        self.tally.change(-1)
        self.tally.record(self.index, "disconnect", reason)

    def _on_connect_error(self, err: Exception) -> None:
        self.tally.record(self.index, "connect_error", repr(err))

    def _on_ping(self) -> None:
        self.tally.pings += 1

    def _on_echo(self, seq: int, payload: str) -> None:
        self.echoes += 1
        self.tally.received += 1
        if payload != PAYLOAD:
            self.tally.record(self.index, "bad echo", f"{seq}: {payload!r}")

    def _on_burst(self, i: int, payload: str) -> None:
        self.burst_events += 1
        self.tally.received += 1

    def _on_burst_done(self, n: int) -> None:
        self.bursts_done += 1
        self.tally.received += 1

    def loop(self, interval: float, stop: gevent.event.Event) -> None:
        """Once per ``interval`` (from a random phase): echo, call, burst; until ``stop`` is set."""
        next_at = time.monotonic() + random.uniform(0, interval)
        while not stop.wait(max(0.0, next_at - time.monotonic())):  # pacing, not synchronisation
            self.step(self.loops)
            next_at += interval

    def step(self, seq: int) -> None:
        sio, tally = self.sio, self.tally
        self.loops += 1
        sio.emit("echo", seq, PAYLOAD)
        tally.sent += 1
        started = time.monotonic()
        try:
            got = sio.call("echo", seq, PAYLOAD, timeout=CALL_TIMEOUT)
        except greensio.Error as exc:
            tally.record(self.index, "call failed", repr(exc))
        else:
            tally.call_max = max(tally.call_max, time.monotonic() - started)
            if got == (seq, PAYLOAD):
                self.calls_ok += 1
                tally.calls_ok += 1
                tally.received += 1
            else:
                tally.record(self.index, "bad ack", f"{seq}: {got!r}")
        tally.sent += 2
        sio.emit("burst", BURST, 16)

    def missing(self) -> int:
        """Replies not (yet) received for what the loop sent: echoes, acks, bursts."""
        return (
            (self.loops - self.echoes)
            + (self.loops - self.calls_ok)
            + (self.loops * BURST - self.burst_events)
            + (self.loops - self.bursts_done)
        )


def type_census() -> collections.Counter[str]:
    """Every object gc tracks, by type name, after a full collection (what grows, if RSS does)."""
    gc.collect()
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())


def slope_kb_per_min(rows: list[Row], since: float) -> Optional[float]:
    """Least-squares slope of rss_kb over t_s for the rows from ``since`` on, in KB per minute."""
    points = [(float(r["t_s"]), float(r["rss_kb"])) for r in rows if r["t_s"] >= since]
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_r = sum(r for _, r in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return None
    return sum((t - mean_t) * (r - mean_r) for t, r in points) / var * 60


def run_soak(
    url: str,
    clients: int,
    chatty: int,
    seconds: float,
    sample_every: float = 30.0,
    interval: float = 1.0,
    warmup: float = 60.0,
    slope_window: float = 300.0,
    transports: Sequence[str] = ("websocket",),
    connect_timeout: float = 120.0,
    report: Callable[[Row], None] = lambda row: None,
) -> dict[str, Any]:
    """Run the soak against ``url`` for ``seconds`` once all clients are connected; return the figures."""
    connect_cycle(url, list(transports), 0)  # process-wide one-offs (imports, per-hub caches) before the baseline
    before = Snapshot.take()
    objects_before = greensio_objects()
    tally = Tally(clients)
    started = time.monotonic()
    group = [Client(i, url, tally, list(transports)) for i in range(clients)]
    if not tally.all_connected.wait(connect_timeout):
        _disconnect_all(group)
        raise AssertionError(
            f"only {tally.connected} of {clients} clients connected within {connect_timeout} s: {tally.incidents[:10]}"
        )
    connect_seconds = time.monotonic() - started
    cpu0 = _cpu_seconds()
    stop = gevent.event.Event()
    loops = [gevent.spawn(c.loop, interval, stop) for c in group[:chatty]]
    rows: list[Row] = []
    types: collections.Counter[str] = collections.Counter()  # all objects by type, after the warm-up
    last = (0.0, 0, _cpu_seconds())

    def sample() -> None:
        nonlocal last
        t, done, cpu = tally.now(), tally.sent + tally.received, _cpu_seconds()
        took = time.monotonic()
        objects = greensio_objects()  # after gc.collect()
        greenlets = len(greensio_greenlets())
        took = time.monotonic() - took
        span = t - last[0]
        row = {
            "t_s": round(t, 1),
            "connected": sum(c.sio.connected for c in group),
            "greenlets": greenlets,
            "fds": len(open_fds()),
            "rss_kb": round(rss_kb()),
            "greensio_objects": sum(objects.values()),
            "sent": tally.sent,
            "received": tally.received,
            "calls_ok": tally.calls_ok,
            "errors": len(tally.errors),
            "disconnects": len(tally.disconnects),
            "pings": tally.pings,
            "msgs_per_s": round((done - last[1]) / span, 1) if span > 0 else 0,
            "cpu_pct": round(100 * (cpu - last[2]) / span, 1) if span > 0 else 0,
            "sample_ms": round(took * 1000),
        }
        if t >= warmup and not types:
            types.update(type_census())
        last = (t, done, _cpu_seconds())  # the census's own CPU counts in the next row
        rows.append(row)
        report(row)

    next_at = tally.t0
    while True:
        sample()
        if tally.now() >= seconds:
            break
        next_at += sample_every
        gevent.sleep(max(0.0, min(next_at, tally.t0 + seconds) - time.monotonic()))  # pacing
    grown = type_census()
    grown.subtract(types)
    stop.set()
    gevent.joinall(loops, timeout=DRAIN)
    deadline = time.monotonic() + DRAIN
    while any(c.missing() for c in group) and time.monotonic() < deadline:
        gevent.sleep(0.05)  # the last replies are on their way; bounded
    missing = sum(c.missing() for c in group)
    end = rows[-1]
    after_warmup = next((r for r in rows if r["t_s"] >= warmup), end)
    window = [r for r in rows if r["t_s"] >= end["t_s"] - slope_window]
    figures: dict[str, Any] = {
        "clients": clients,
        "chatty": chatty,
        "seconds": seconds,
        "interval": interval,
        "connect_seconds": round(connect_seconds, 2),
        "rss_after_warmup_kb": after_warmup["rss_kb"],
        "rss_after_warmup_t": after_warmup["t_s"],
        "rss_end_kb": end["rss_kb"],
        "rss_last_window_min_kb": min(r["rss_kb"] for r in window),
        "rss_last_window_max_kb": max(r["rss_kb"] for r in window),
        "slope_kb_per_min": _round(slope_kb_per_min(rows, end["t_s"] - slope_window)),
        "slope_window_s": slope_window,
        "connected_min": tally.connected_min,
        "connected_max": tally.connected_max,
        "loops": sum(c.loops for c in group),
        "sent": tally.sent,
        "received": tally.received,
        "calls_ok": tally.calls_ok,
        "call_max_ms": round(tally.call_max * 1000, 1),
        "missing_replies": missing,
        "pings": tally.pings,
        "cpu_pct": round(100 * (_cpu_seconds() - cpu0) / (tally.now() or 1), 1),
        "sample_ms_max": max(r["sample_ms"] for r in rows),
        "loops_alive": sum(1 for g in loops if not g.dead),
        "types_grown": dict(grown.most_common(8)),
        "disconnects": [dataclasses.asdict(e) for e in tally.disconnects],
        "errors": [dataclasses.asdict(e) for e in tally.errors],
        "min_loops_per_chatty": min((c.loops for c in group[:chatty]), default=0),
    }
    _disconnect_all(group)
    group.clear()  # drop every greensio object before counting what is left
    loops.clear()
    now = before.wait_back(DRAIN)
    figures["greenlets_left"] = len(now.greenlets - before.greenlets)
    figures["fds_left"] = len(now.fds - before.fds)
    if not before.within(now):
        figures["left_behind"] = before.difference(now)
    figures["objects_left"] = dict(greensio_objects() - objects_before)
    figures["rows"] = rows
    return figures


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _disconnect_all(group: list[Client]) -> None:
    for client in group:
        client.sio.disconnect()


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 2)


def print_row(row: Row) -> None:
    print("  ".join(f"{c}={row[c]}" for c in COLUMNS), flush=True)


def print_report(figures: dict[str, Any]) -> None:
    """The samples as a table, the summary, every disconnect and error, then one JSON line."""
    print()
    print(table(figures["rows"], COLUMNS))
    print()
    for key, value in figures.items():
        if key not in ("rows", "disconnects", "errors"):
            print(f"{key:>22}: {value}")
    for kind in ("disconnects", "errors"):
        print(f"{kind:>22}: {len(figures[kind])}")
        for event in figures[kind]:
            print(f"{'':>24}t={event['t']} s client {event['client']} {event['kind']}: {event['reason']}")
    print(json.dumps({k: v for k, v in figures.items() if k != "rows"}), flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--chatty", type=int, default=200, help="clients among them that send and receive")
    parser.add_argument("--minutes", type=float, default=10.0, help="once all clients are connected")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between two loops of a chatty client")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between two samples")
    parser.add_argument("--warmup-minutes", type=float, default=1.0, help="RSS 'after warm-up' is sampled then")
    parser.add_argument("--slope-minutes", type=float, default=5.0, help="the RSS slope is over these last minutes")
    parser.add_argument("--transports", default="websocket", help="comma-separated, e.g. polling,websocket")
    args = parser.parse_args(argv)

    nofile = raise_nofile()  # before the server starts: it inherits the limit
    if nofile < args.clients + 100:
        print(f"RLIMIT_NOFILE is {nofile}: too low for {args.clients} clients", file=sys.stderr)
        return 2
    logs = Path(tempfile.mkdtemp(prefix="greensio-soak-"))
    server = ServerProcess("node", logs / "node.log")
    print(
        f"node server at {server.url} (default heartbeat), log in {logs}; {args.clients} clients, "
        f"{args.chatty} chatty, {args.minutes} min, RLIMIT_NOFILE {nofile}",
        flush=True,
    )
    try:
        figures = run_soak(
            server.url,
            args.clients,
            args.chatty,
            args.minutes * 60,
            args.sample,
            args.interval,
            args.warmup_minutes * 60,
            args.slope_minutes * 60,
            args.transports.split(","),
            report=print_row,
        )
    finally:
        server.stop()
    print_report(figures)
    ok = (
        not figures["disconnects"]
        and not figures["errors"]
        and not figures["missing_replies"]
        and not figures["greenlets_left"]
        and not figures["fds_left"]
        and not figures["objects_left"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
