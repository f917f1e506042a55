"""A long fault run: random network and server faults, one after another, under traffic.

    python -m tests.soak.fault_run --faults 1000 [--seed N] [--transports websocket|polling|both]
                                   [--server node|python] [--workdir DIR]

For each transport, it starts a server (tests/servers, with a fast heartbeat and
``--tally-file``) and the FaultyProxy in front of it, and connects a greensio
client through the proxy (the rig of tests/faults/rig.py): traffic on ``/chat`` is
``tally(key, seq)`` emits with ``retries`` and ``ack_timeout``, a few in flight.
Then it injects the faults, in rounds of every kind of FAULTS once in an order
drawn at random (``--seed``): cut (FIN), reset (RST), stall past the heartbeat
deadline (until the client noticed and tried to reconnect), short stall (under
half of it), delay and trickle (for 0.3 to 1.5 s), server paused past the
heartbeat deadline (SIGSTOP until the client noticed, SIGCONT), server restart.
After each one it waits (bounded) until the traffic progresses again.

At the end it stops the traffic, waits for every callback, disconnects, reads
how many times the server processed each seq from its tally file (exact: the
server appends to it before acking, and it survives restarts), and prints a
table and one JSON line (the last line of the output) of what it saw. Exit
status 0 when the targets are met (``TARGETS``: nothing lost, no double, failed
or out-of-order ack, no leak, no stuck fault).

The retry settings are chosen so that no emit can exhaust its retries during a
fault: a fault costs the packet in flight one try for the disconnect, and at
most a couple more for acks that time out while the link is stalled (ack
timeout well above the heartbeat deadline).

tests/soak/test_fault_run.py runs a short version of it in the test suite.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

# Imports after patch_all(), as gevent.monkey asks:
# ruff: noqa: E402
import argparse
import collections
import gc
import json
import logging
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import gevent

from tests.faults.rig import HEARTBEATS, Report, Rig, TallyServer, heartbeat_bound, read_tally, wait_until
from tests.integration.helpers import WAIT

FAULTS = ("cut", "reset", "stall", "short_stall", "delay", "trickle", "pause", "restart")
TARGETS = (
    "lost",
    "double_acks",
    "out_of_order_acks",
    "failed_acks",
    "unsettled",
    "stuck",
    "unexpected_seqs",
    "leaked_greenlets",
    "leaked_fds",
)
PROGRESS = 10  # acks that make "traffic progresses again" after a fault
RECOVERY_BOUND = 30.0  # seconds a fault may take to recover from before it counts as stuck
SETTLE_BOUND = 60.0  # seconds for every callback to fire once the traffic stops


@dataclass(frozen=True)
class Profile:
    """Heartbeat, retry and fault settings for one kind of server."""

    ping_interval: float
    ping_timeout: float
    ack_timeout: float  # well above the heartbeat deadline: a stalled packet costs at most a try or two
    retries: int  # far more than a fault can cost one packet (see the module docstring)
    max_delay: float  # per chunk, each way; a round trip of 4 x this stays under pingTimeout

    @property
    def deadline(self) -> float:
        return self.ping_interval + self.ping_timeout


PROFILES = {
    "node": Profile(*HEARTBEATS["node"], ack_timeout=2.0, retries=10, max_delay=0.05),
    "python": Profile(*HEARTBEATS["python"], ack_timeout=4.0, retries=10, max_delay=0.2),
}


def rss_kb() -> int:
    """Resident set size of this process, in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class _LogCounter(logging.Handler):
    """Counts the greensio logger's records by level, and keeps the first few."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.levels: collections.Counter[str] = collections.Counter()
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.levels[record.levelname] += 1
        if len(self.samples) < 10:
            self.samples.append(f"{record.levelname}: {record.getMessage()}")


class FaultRun:
    """One server, one transport, ``faults`` faults; ``run()`` returns the report."""

    def __init__(
        self, faults: int, seed: int, transport: str, server: str, workdir: Path, log: Callable[[str], None] = print
    ) -> None:
        self.faults = faults
        self.seed = seed
        self.transport = transport
        self.kind = server
        self.profile = PROFILES[server]
        self.workdir = workdir
        self.log = log
        self.rng = random.Random(f"{seed}-{transport}-{server}")
        self.key = f"{server}-{transport}-{seed}-{uuid.uuid4().hex[:8]}"
        self.injected: collections.Counter[str] = collections.Counter()
        self.reasons: collections.Counter[str] = collections.Counter()
        self.reasons_by_fault: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        self.detection: list[float] = []  # seconds from a stall or pause to the disconnect
        self.undetected = 0  # stalls and pauses that no disconnect followed within the heartbeat bound
        self.recovery: list[float] = []  # seconds from the end of a fault to traffic progressing again
        self.stuck = 0
        self.current = "start"  # the fault being injected or the last one
        self.disconnects_between = 0  # disconnects after a fault's recovery and before the next fault
        self._recovered = False

    def _on_disconnect(self, reason: str) -> None:
        self.reasons[reason] += 1
        self.reasons_by_fault[self.current][reason] += 1
        if self._recovered:
            self.disconnects_between += 1

    # -- the faults ---------------------------------------------------------------

    def _cut(self) -> None:
        proxy = self.rig.proxy
        proxy.stall()  # a request surely in flight (see tests/faults/test_faults.py test_reset_reconnects)
        proxy.cut()
        proxy.unstall()

    def _reset(self) -> None:
        proxy = self.rig.proxy
        proxy.stall()
        proxy.reset()
        proxy.unstall()

    def _wait_disconnect(self, before: int, started: float) -> bool:
        """Wait (bounded) for a disconnect after the ``before``-th; record how long it took."""
        try:
            wait_until(
                lambda: len(self.rig.disconnects.calls) > before,
                heartbeat_bound(self.kind) + 1,
                "a heartbeat disconnect",
            )
        except AssertionError:
            self.undetected += 1
            return False
        self.detection.append(time.monotonic() - started)
        return True

    def _stall(self) -> None:
        """Stall beyond the heartbeat deadline; unstall after the client's next connection attempt."""
        rig = self.rig
        before = len(rig.disconnects.calls)
        started = time.monotonic()
        rig.proxy.stall()
        try:
            if self._wait_disconnect(before, started):
                attempts = rig.proxy.connections
                try:
                    wait_until(lambda: rig.proxy.connections > attempts, WAIT, "a reconnection attempt")
                except AssertionError:
                    self.log("no reconnection attempt while stalled")
        finally:
            rig.proxy.unstall()

    def _short_stall(self) -> None:
        """Stall for less than half the heartbeat deadline (the fault's duration, not a wait)."""
        self.rig.proxy.stall()
        gevent.sleep(self.rng.uniform(0.05, 0.4 * self.profile.deadline))
        self.rig.proxy.unstall()

    def _delay(self) -> None:
        self.rig.proxy.delay(self.rng.uniform(0.005, self.profile.max_delay))
        gevent.sleep(self.rng.uniform(0.3, 1.5))  # the fault's duration
        self.rig.proxy.delay(0)

    def _trickle(self) -> None:
        self.rig.proxy.trickle(self.rng.randint(1, 64))
        gevent.sleep(self.rng.uniform(0.3, 1.5))  # the fault's duration
        self.rig.proxy.trickle(0)

    def _pause(self) -> None:
        """SIGSTOP the server until the client noticed (heartbeat), then SIGCONT."""
        before = len(self.rig.disconnects.calls)
        started = time.monotonic()
        self.server.pause()
        try:
            self._wait_disconnect(before, started)
        finally:
            self.server.resume()

    def _restart(self) -> None:
        self.server.restart()

    # -- the run ------------------------------------------------------------------

    def _draw(self) -> Iterator[str]:
        """The faults to inject, in rounds: each round every kind once, in a random order."""
        while True:
            kinds = list(FAULTS)
            self.rng.shuffle(kinds)
            yield from kinds

    def run(self) -> Report:
        profile = self.profile
        logger = logging.getLogger("greensio")
        counter = _LogCounter()
        logger.addHandler(counter)
        tally_file = self.workdir / f"{self.key}.tally"
        self.server = TallyServer(
            self.kind,
            self.workdir / f"{self.key}.log",
            tally_file,
            ping_interval=profile.ping_interval,
            ping_timeout=profile.ping_timeout,
        )
        try:
            return self._run(counter)
        finally:
            self.server.stop()
            logger.removeHandler(counter)

    def _run(self, counter: _LogCounter) -> Report:
        profile = self.profile
        gc.collect()
        rss_before = rss_warm = rss_kb()
        started = time.monotonic()
        self.rig = rig = Rig(
            self.server, [self.transport], retries=profile.retries, ack_timeout=profile.ack_timeout, tally_key=self.key
        )
        rig.sio.on("disconnect", self._on_disconnect)
        self._recovered = True
        inject = {name: getattr(self, f"_{name}") for name in FAULTS}
        traffic = rig.traffic
        try:
            for index, fault in zip(range(self.faults), self._draw()):
                self.current = fault
                self.injected[fault] += 1
                self._recovered = False
                inject[fault]()
                ended = time.monotonic()
                try:
                    traffic.more(PROGRESS, RECOVERY_BOUND)
                except AssertionError:
                    self.stuck += 1
                    self.log(f"fault {index} ({fault}): no progress within {RECOVERY_BOUND} s")
                else:
                    self.recovery.append(time.monotonic() - ended)
                self._recovered = True
                if index + 1 == max(1, self.faults // 10):
                    rss_warm = rss_kb()
                if (index + 1) % 50 == 0 or index + 1 == self.faults:
                    self.log(
                        f"[{self.kind}/{self.transport}] {index + 1}/{self.faults} faults, "
                        f"{traffic.sent} emitted, {traffic.acked} acked, RSS {rss_kb()} KiB, "
                        f"{time.monotonic() - started:.0f} s"
                    )
            traffic.stop()
            rig.sio.off("disconnect", self._on_disconnect)  # the client's own disconnect is next
            try:
                traffic.wait_acks(traffic.sent, SETTLE_BOUND)
            except AssertionError:
                self.log(f"not every callback fired within {SETTLE_BOUND} s")
        finally:
            rig.abort()
        greenlets, fds = rig.leftovers()
        gc.collect()
        rss_after = rss_kb()  # before reading the tally, which takes memory of its own
        elapsed = time.monotonic() - started
        report = self._figures(read_tally(self.server.tally_file, self.key), counter)
        report.update(
            leaked_greenlets=len(greenlets),
            leaked_fds=len(fds),
            rss_before_kb=rss_before,
            rss_after_first_tenth_kb=rss_warm,
            rss_after_kb=rss_after,
            elapsed_s=round(elapsed, 1),
        )
        return report

    def _figures(self, runs: list[list[int]], counter: _LogCounter) -> Report:
        traffic = self.rig.traffic
        emitted = traffic.sent
        distinct = processed = unexpected = 0
        lost_seqs: list[int] = []
        expected = 0  # the next seq the runs should cover
        for first, last, count in runs:
            if first < 0 or last >= emitted:
                unexpected += last - first + 1
                continue
            lost_seqs.extend(range(expected, first))
            expected = last + 1
            distinct += last - first + 1
            processed += (last - first + 1) * count
        lost_seqs.extend(range(expected, emitted))
        return {
            "server": self.kind,
            "transport": self.transport,
            "seed": self.seed,
            "faults": dict(sorted(self.injected.items())),
            "emitted": emitted,
            "delivered": distinct,
            "duplicated": processed - distinct,
            "lost": len(lost_seqs),
            "lost_seqs": lost_seqs[:20],
            "unexpected_seqs": unexpected,
            **traffic.outcome(),
            "stuck": self.stuck,
            "disconnect_reasons": dict(sorted(self.reasons.items())),
            "disconnect_reasons_by_fault": {
                fault: dict(sorted(reasons.items())) for fault, reasons in sorted(self.reasons_by_fault.items())
            },
            "disconnects_between_faults": self.disconnects_between,
            "undetected_heartbeat_faults": self.undetected,
            "detection_max_s": round(max(self.detection, default=0), 3),
            "recovery_mean_s": round(sum(self.recovery) / len(self.recovery), 3) if self.recovery else None,
            "recovery_max_s": round(max(self.recovery, default=0), 3),
            "greensio_log": dict(sorted(counter.levels.items())),
            "greensio_log_samples": counter.samples,
            "settings": {
                "ping_interval": self.profile.ping_interval,
                "ping_timeout": self.profile.ping_timeout,
                "ack_timeout": self.profile.ack_timeout,
                "retries": self.profile.retries,
            },
        }


def run_faults(
    faults: int, seed: int, transport: str, server: str, workdir: Path, log: Callable[[str], None] = print
) -> Report:
    """Run ``faults`` random faults against a fresh ``server`` over ``transport``; return the report."""
    return FaultRun(faults, seed, transport, server, workdir, log).run()


def missed_targets(report: Report) -> list[str]:
    """The TARGETS a report misses (each must be 0)."""
    return [name for name in TARGETS if report[name]]


def table(report: Report) -> str:
    """The report as an aligned two-column table."""
    rows: list[tuple[str, Any]] = []
    for name, value in report.items():
        if isinstance(value, dict) and value and name != "settings":
            rows.append((name, ""))
            rows.extend((f"  {key}", sub) for key, sub in value.items())
        else:
            rows.append((name, value))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.soak.fault_run", description=__doc__.split("\n")[0])
    parser.add_argument("--faults", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=None, help="default: random, printed")
    parser.add_argument("--transports", choices=["websocket", "polling", "both"], default="both")
    parser.add_argument("--server", choices=sorted(PROFILES), default="node")
    parser.add_argument("--workdir", type=Path, default=None, help="server logs and tally files (default: a temp dir)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fault-run-"))
    workdir.mkdir(parents=True, exist_ok=True)
    transports = ["websocket", "polling"] if args.transports == "both" else [args.transports]
    print(
        f"fault run: {args.faults} faults, seed {seed}, server {args.server}, {transports}, workdir {workdir}",
        flush=True,
    )

    def log(line: str) -> None:
        print(line, flush=True)

    reports = []
    for transport in transports:
        report = run_faults(args.faults, seed, transport, args.server, workdir, log)
        missed = missed_targets(report)
        print(f"\n{table(report)}\nverdict  {'PASS' if not missed else 'FAIL: ' + ', '.join(missed)}\n", flush=True)
        reports.append(report)
    for report in reports:
        print(json.dumps(report, separators=(",", ":")), flush=True)
    return 0 if not any(missed_targets(report) for report in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
