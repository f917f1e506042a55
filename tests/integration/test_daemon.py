"""examples/daemon.py as a child process: graceful shutdown with jobs in flight, and reconnection."""

from __future__ import annotations

import signal
import sys

import pytest

from .processes import ROOT, LineReader, spawn, stop

DAEMON = str(ROOT / "examples" / "daemon.py")
JOBS = 3


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_lets_the_jobs_in_flight_finish_then_the_daemon_exits_0(node_server, signum):
    # Each job takes 2 s; the signal goes out as soon as the last one has started.
    daemon = spawn([sys.executable, DAEMON, node_server.url, "--demo-jobs", str(JOBS), "--job-seconds", "2"])
    try:
        log = LineReader(daemon.stderr)
        log.wait_for("connected as ")
        log.wait_for(f"job {JOBS - 1} started")
        daemon.send_signal(signum)
        assert daemon.wait(20) == 0, log.join()
        lines = log.join()
        assert log.find(f"shutdown requested: waiting up to 10 s for {JOBS} job(s) in flight"), lines
        requested, complete = log.index("shutdown requested"), log.index("shutdown complete")
        for n in range(JOBS):  # every job finished and its result reached the server, after the signal
            assert requested < log.index(f"job {n} done: server confirmed {{'job': {n}, 'result': {n * n}}}") < complete
        assert complete == len(lines) - 1
        assert not [line for line in lines if "ERROR" in line or "Traceback" in line], lines
    finally:
        stop(daemon)


def test_the_daemon_reconnects_after_a_server_restart(start_server):
    srv = start_server("node")
    daemon = spawn([sys.executable, DAEMON, srv.url, "--demo-jobs", "0"])
    try:
        log = LineReader(daemon.stderr)
        first = log.wait_for("connected as ")
        srv.restart()
        log.wait_for("disconnected: transport close")
        second = log.wait_for("connected as ", count=2)
        assert second.split()[-1] != first.split()[-1]  # a new session
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(20) == 0, log.join()
        assert log.join()[-1].endswith("shutdown complete")
    finally:
        stop(daemon)
