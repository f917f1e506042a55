"""A long-running greensio consumer: takes "job" events, does them, reports the results, shuts down gracefully.

Run:  python examples/daemon.py http://localhost:3000      (or set GREENSIO_URL)

- It reconnects forever (greensio's default options) and logs the connection's ups and downs.
- Each "job" event runs in a handler greenlet of its own, so jobs overlap: the handler works
  (``gevent.sleep`` stands in for real I/O), reports the result with ``call("echo", ...)``
  and returns it, which is the job's ack when the producer asked for one.
- SIGTERM and SIGINT handlers are installed here, by the application (greensio never installs
  any). On either: take no new jobs (they are refused, with an ack saying so), wait up to
  ``--grace`` seconds for the jobs in flight, disconnect, log "shutdown complete", exit 0.

The test servers have no job producer, so on its first connect the daemon asks the server to
send it ``--demo-jobs`` jobs (``server_emit("job", n)``); use ``--demo-jobs 0`` with a real one.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gevent
from gevent.event import Event

import greensio

log = logging.getLogger("daemon")


class Daemon:
    def __init__(self, url: str, job_seconds: float, grace: float, demo_jobs: int) -> None:
        self.job_seconds = job_seconds
        self.grace = grace
        self.demo_jobs = demo_jobs
        self.stopping = Event()
        self.in_flight = 0
        self.idle = Event()
        self.idle.set()
        self.first_connect = True
        self.sio = greensio.Socket(url)  # connects in the background; handlers added before we yield see it
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        self.sio.on("connect_error", lambda err: log.error("connection refused: %s %s", err, err.data or ""))
        self.sio.manager.on("reconnect_attempt", lambda n: log.info("reconnecting (attempt %d)", n))
        self.sio.on("job", self.on_job)

    def on_connect(self) -> None:
        log.info("connected as %s", self.sio.id)
        if self.first_connect:
            self.first_connect = False
            for n in range(self.demo_jobs):  # stands in for a producer: the test server sends us job(n)
                self.sio.emit("server_emit", "job", n)

    def on_disconnect(self, reason: str) -> None:
        log.log(logging.INFO if self.stopping.is_set() else logging.WARNING, "disconnected: %s", reason)

    def on_job(self, n: Any) -> dict[str, Any]:
        if self.stopping.is_set():
            log.warning("job %s refused: shutting down", n)
            return {"job": n, "refused": "shutting down"}
        with self.tracked():
            log.info("job %s started", n)
            gevent.sleep(self.job_seconds)  # the work
            result = {"job": n, "result": n * n if isinstance(n, int) else None}
            try:
                confirmed = self.sio.call("echo", result, timeout=10)
            except greensio.Error as err:
                log.error("job %s done but its result was not confirmed: %r", n, err)
            else:
                log.info("job %s done: server confirmed %s", n, confirmed)
            return result

    @contextmanager
    def tracked(self) -> Iterator[None]:
        self.in_flight += 1
        self.idle.clear()
        try:
            yield
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self.idle.set()

    def on_signal(self, signum: int) -> None:
        if not self.stopping.is_set():
            log.info("%s received", signal.Signals(signum).name)
            self.stopping.set()

    def run(self) -> int:
        handlers = [gevent.signal_handler(signum, self.on_signal, signum) for signum in (signal.SIGTERM, signal.SIGINT)]
        gone = gevent.spawn(self.sio.wait)  # ends if the socket stops for good (e.g. the server refused it)
        gevent.wait([self.stopping, gone], count=1)
        code = 0
        if self.stopping.is_set():
            log.info("shutdown requested: waiting up to %g s for %d job(s) in flight", self.grace, self.in_flight)
            if not self.idle.wait(self.grace):
                log.warning("%d job(s) still running after %g s: abandoning them", self.in_flight, self.grace)
        else:
            log.error("the socket stopped for good")
            code = 1
        self.stopping.set()
        self.sio.disconnect()
        gone.join()
        for handler in handlers:
            handler.cancel()
        log.info("shutdown complete")
        return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default=os.environ.get("GREENSIO_URL", "http://localhost:3000"))
    parser.add_argument("--job-seconds", type=float, default=1.0, help="how long one job's work takes")
    parser.add_argument("--grace", type=float, default=10.0, help="how long shutdown waits for jobs in flight")
    parser.add_argument("--demo-jobs", type=int, default=3, help="jobs to ask the test server for on first connect")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return Daemon(args.url, args.job_seconds, args.grace, args.demo_jobs).run()


if __name__ == "__main__":
    sys.exit(main())
