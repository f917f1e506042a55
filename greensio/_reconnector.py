"""Opening the connection, and reopening it after a loss with the JS client's backoff.

One greenlet, alive only while connecting or waiting to reconnect: it tries, and
on failure waits ``backoff.duration()`` and tries again, until the connection opens,
the policy gives up (``reconnection=False``, or ``reconnection_attempts`` used up),
or ``stop()``. The Manager events ``reconnect_attempt``, ``reconnect_error``,
``reconnect`` and ``reconnect_failed`` are fired here, as in socket.io-client.
"""

from __future__ import annotations

import logging
from typing import Any, Optional, Protocol

import gevent

from ._core.backoff import Backoff
from ._exceptions import ConnectionError
from ._runner import Runner

__all__ = ["Reconnector", "ReconnectorHost"]

log = logging.getLogger("greensio")


class ReconnectorHost(Protocol):
    """What the Reconnector needs of its Manager."""

    def wanted(self) -> bool:
        """Some socket still wants a connection."""

    def attempt(self) -> Any:
        """Open the connection (blocking); raise ConnectionError on failure. Returns the opened connection."""

    def opened(self, connection: Any, reconnect_attempts: Optional[int]) -> None:
        """The connection is open (``reconnect_attempts``: set when this ends a reconnection)."""

    def failed(self, err: ConnectionError, reconnecting: bool) -> None:
        """An attempt failed."""

    def give_up(self, err: ConnectionError) -> None:
        """The policy gave up: no more attempts."""

    def fire(self, event: str, *args: Any) -> None: ...


class Reconnector:
    """The connect-and-reconnect loop of one Manager."""

    __slots__ = ("_host", "_runner", "_backoff", "_reconnection", "_max_attempts", "_greenlet", "reconnecting")

    def __init__(
        self, host: ReconnectorHost, runner: Runner, backoff: Backoff, reconnection: bool, max_attempts: float
    ) -> None:
        self._host = host
        self._runner = runner
        self._backoff = backoff
        self._reconnection = reconnection
        self._max_attempts = max_attempts
        self._greenlet: Optional[gevent.Greenlet] = None
        self.reconnecting = False
        """True while waiting to reconnect or trying to."""

    @property
    def running(self) -> bool:
        return self._greenlet is not None

    def start(self, after_loss: bool) -> None:
        """Connect now (``after_loss``: after the backoff delay, as a reconnection); no-op if running."""
        if self._greenlet is None:
            self._greenlet = self._runner.spawn(self._loop, after_loss)

    def stop(self) -> None:
        """End the loop (it is killed unless it is the caller, which then ends on its own)."""
        greenlet, self._greenlet = self._greenlet, None
        self.reconnecting = False
        if greenlet is not None and greenlet is not gevent.getcurrent():
            greenlet.kill()

    def reset(self) -> None:
        """Forget past attempts (the connection was lost after being open)."""
        self._backoff.reset()

    def _loop(self, after_loss: bool) -> None:
        current = gevent.getcurrent()
        host = self._host
        try:
            if after_loss and not self._wait():
                return
            while self._greenlet is current and host.wanted():
                try:
                    connection = host.attempt()
                except ConnectionError as err:
                    if self._greenlet is not current:
                        return
                    host.failed(err, self.reconnecting)
                    if not self._reconnection:
                        host.give_up(err)
                        return
                    if not self._wait():
                        return
                    continue
                if self._greenlet is not current:
                    return
                attempts: Optional[int] = None
                if self.reconnecting:
                    attempts = self._backoff.attempts
                    self.reconnecting = False
                self._backoff.reset()
                self._greenlet = None  # the loop is done: a loss from now on starts a new one
                host.opened(connection, attempts)
                return
        except Exception as exc:  # a bug of ours: say so, and leave no connect() waiting for ever
            log.exception("the connection loop failed")
            host.give_up(ConnectionError(f"internal error: {exc!r}"))
        finally:
            if self._greenlet is current:
                self._greenlet = None
                self.reconnecting = False

    def _wait(self) -> bool:
        """Wait out the next backoff delay; False when the policy gives up or the loop was stopped."""
        host = self._host
        if not host.wanted():
            return False
        if not self._reconnection:
            host.give_up(ConnectionError("the connection was lost and reconnection is off"))
            return False
        if self._backoff.attempts >= self._max_attempts:
            self._backoff.reset()
            self.reconnecting = False
            host.fire("reconnect_failed")
            log.info("gave up reconnecting after %d attempts", self._max_attempts)
            host.give_up(ConnectionError("reconnection failed"))
            return False
        self.reconnecting = True
        delay = self._backoff.duration()
        log.info("reconnecting in %.2f s (attempt %d)", delay, self._backoff.attempts)
        self._runner.clock.sleep(delay)
        if self._greenlet is not gevent.getcurrent() or not host.wanted():
            return False
        host.fire("reconnect_attempt", self._backoff.attempts)
        return True
