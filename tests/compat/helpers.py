"""Waiting helpers that work for both clients of the compat tests, unpatched.

python-socketio's client calls handlers from OS threads, greensio.compat from
greenlets of the test's own thread, so a test can neither block its thread on a
threading primitive (greensio's hub would stop) nor on a gevent one (a thread
cannot wake it). It polls with gevent.sleep instead: other greenlets run, and
other threads too (the GIL is released while the hub sleeps).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, Callable

import gevent

FAST: dict[str, Any] = {"reconnection_delay": 0.1, "reconnection_delay_max": 0.2, "randomization_factor": 0}
WAIT = 10.0  # bound of every wait on a server, in seconds
TRANSPORTS = ["websocket"]
POLL = 0.005


def until(predicate: Callable[[], Any], what: str, timeout: float = WAIT) -> None:
    """Return once ``predicate()`` is true; fail the test after ``timeout`` seconds."""
    with gevent.Timeout(timeout, AssertionError(f"not within {timeout} s: {what}")):
        while not predicate():
            gevent.sleep(POLL)


def stays(predicate: Callable[[], Any], what: str, duration: float) -> None:
    """Fail if ``predicate()`` becomes false within ``duration`` seconds (checks that nothing happens)."""
    with gevent.Timeout(duration, False):
        while True:
            assert predicate(), what
            gevent.sleep(POLL)


class Recorder:
    """A handler that records its calls' arguments, from any thread or greenlet."""

    def __init__(self, result: Any = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.result = result
        self._lock = threading.Lock()

    def __call__(self, *args: Any) -> Any:
        with self._lock:
            self.calls.append(args)
        return self.result

    def wait(self, count: int = 1, timeout: float = WAIT) -> list[tuple[Any, ...]]:
        """The calls, once there are at least ``count``."""
        until(lambda: len(self.calls) >= count, f"{count} calls (got {self.calls})", timeout)
        return list(self.calls)


class Background:
    """Runs ``fn()`` with the client's own ``start_background_task``; ``result()`` waits for its outcome."""

    def __init__(self, client: Any, fn: Callable[[], Any]) -> None:
        self.outcome: list[Any] = []

        def run() -> None:
            try:
                self.outcome.append(("returned", fn()))
            except BaseException as exc:  # noqa: BLE001 - handed to the test
                self.outcome.append(("raised", exc))

        client.start_background_task(run)

    @property
    def done(self) -> bool:
        return bool(self.outcome)

    def result(self, timeout: float = WAIT) -> Any:
        """fn()'s return value; re-raises what it raised."""
        until(lambda: self.outcome, "the background call to finish", timeout)
        kind, value = self.outcome[0]
        if kind == "raised":
            raise value
        return value


def connected(make_client: Callable[..., Any], url: str, event: str = "disconnect", **options: Any) -> Any:
    """(a client connected over TRANSPORTS, the Recorder of its ``event`` handler on ``'/'``)."""
    sio = make_client(**options)
    recorder = Recorder()
    sio.on(event, recorder)
    sio.connect(url, transports=TRANSPORTS)
    return sio, recorder


def reconnects_after_restart(server: Any, make_client: Callable[..., Any]) -> None:
    """Assert that a client reconnects by itself when ``server`` restarts (a transport error)."""
    sio, reasons = connected(make_client, server.url)
    first = sio.get_sid()
    server.restart()
    assert reasons.wait() == [("transport error",)]
    until(lambda: sio.connected, "connected again")
    assert sio.get_sid() not in (None, first)
    assert sio.call("echo", "after restart", timeout=WAIT) == "after restart"


def unique() -> str:
    return uuid.uuid4().hex
