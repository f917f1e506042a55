"""The retry queue of a Socket with ``retries`` (socket.io-client's semantics).

One packet in flight at a time, in order; each try gets a new ack id. A packet is
retried when its ack times out, up to ``retries`` times, then its callback gets the
error. The queue is drained (its head resent) right after every CONNECT reply,
before the user's ``connect`` handlers run, so nothing is sent twice.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Protocol

__all__ = ["RetryQueue"]


class _Sender(Protocol):
    @property
    def connected(self) -> bool: ...

    def send_try(
        self, event: str, args: tuple[Any, ...], callback: Callable[..., Any], timeout: Optional[float]
    ) -> None: ...

    def call_back(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None: ...


class _Queued:
    """An emit waiting in the retry queue."""

    __slots__ = ("event", "args", "callback", "timeout", "tries", "pending")

    def __init__(
        self, event: str, args: tuple[Any, ...], callback: Optional[Callable[..., Any]], timeout: Optional[float]
    ) -> None:
        self.event = event
        self.args = args
        self.callback = callback
        self.timeout = timeout
        self.tries = 0
        self.pending = False


class RetryQueue:
    """Emits waiting for their turn, the head in flight."""

    __slots__ = ("_sender", "_retries", "_queue")

    def __init__(self, sender: _Sender, retries: int) -> None:
        self._sender = sender
        self._retries = retries
        self._queue: list[_Queued] = []  # small: one packet in flight

    def __len__(self) -> int:
        return len(self._queue)

    def add(
        self, event: str, args: tuple[Any, ...], callback: Optional[Callable[..., Any]], timeout: Optional[float]
    ) -> None:
        """Queue an emit; it is sent when the ones before it are settled."""
        self._queue.append(_Queued(event, args, callback, timeout))
        self.drain(force=False)

    def drain(self, force: bool) -> None:
        """Send the head of the queue unless it is in flight (``force``: resend it, after a reconnect)."""
        queue = self._queue
        if not self._sender.connected or not queue:
            return
        entry = queue[0]
        if entry.pending and not force:
            return
        entry.pending = True
        entry.tries += 1

        def result(err: Optional[BaseException], *args: Any) -> None:
            self._settled(entry, err, args)

        result.direct = True  # type: ignore[attr-defined]
        try:
            self._sender.send_try(entry.event, entry.args, result, entry.timeout)
        except Exception as exc:  # cannot be encoded: no try will ever succeed
            entry.tries = self._retries + 1
            self._settled(entry, exc, ())

    def _settled(self, entry: _Queued, err: Optional[BaseException], args: tuple[Any, ...]) -> None:
        queue = self._queue
        if not queue or queue[0] is not entry:
            return  # already settled
        if err is None or entry.tries > self._retries:
            queue.pop(0)
            if entry.callback is not None:
                self._sender.call_back(entry.callback, (err,) if err is not None else (None, *args))
        entry.pending = False
        self.drain(force=False)
