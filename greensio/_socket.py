"""Socket: one namespace on a Manager — events, emits, acks, connect and disconnect."""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional, Union

import gevent
from gevent.event import AsyncResult, Event

from ._core import sio
from ._core.session import AckSlot, Frames, Session
from ._core.url import parse_url
from ._dispatch import call_logged
from ._emitter import Emitter
from ._exceptions import ConnectionError, DisconnectedError, PayloadTooLargeError, ProtocolError, TimeoutError
from ._manager import Manager, manager_for
from ._options import SocketOptions, resolve, split_options
from ._runtime import monotonic
from ._stats import notify

__all__ = ["Socket"]

log = logging.getLogger("greensio")
_NOT_SET: Any = object()


def _check_event(event: Any) -> None:
    if not isinstance(event, str):
        raise TypeError(f"event name must be a str, got {type(event).__name__}")
    if event in sio.RESERVED_EVENTS:
        raise ValueError(f"{event!r} is a reserved event name")


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


def _ack_result(args: tuple[Any, ...]) -> Any:
    """``call()``'s return shape: None, the single value, or a tuple."""
    if not args:
        return None
    return args[0] if len(args) == 1 else args


def _frames(first: Union[str, bytes], attachments: list[bytes]) -> Frames:
    """A Socket.IO packet as Engine.IO messages (text gets the MESSAGE type prefix)."""
    head: Union[str, bytes] = "4" + first if isinstance(first, str) else first
    return [head, *attachments] if attachments else [head]


def _ack_data(result: Any) -> list[Any]:
    """A handler's return value as ACK arguments."""
    if result is None:
        return []
    return list(result) if isinstance(result, tuple) else [result]


class Socket(Emitter):
    """A Socket.IO client socket for one namespace (the URL's path).

    ``Socket(url, **options)`` starts connecting in the background unless
    ``auto_connect=False``; handlers registered before the current greenlet
    yields see the first ``connect``.
    """

    def __init__(self, url: str = "http://localhost", **options: Any) -> None:
        manager_options, socket_options = split_options(options)
        target = parse_url(url)
        path = manager_options.get("path", "/socket.io")
        key = (target.scheme, target.host, target.port, path)
        manager = manager_for(url, key, target.namespace, manager_options)
        self._setup(manager, target.namespace, SocketOptions(**socket_options))

    @classmethod
    def _on_manager(cls, manager: Manager, namespace: str, **options: Any) -> Socket:
        socket = cls.__new__(cls)
        socket._setup(manager, namespace, SocketOptions(**options))
        return socket

    def _setup(self, manager: Manager, namespace: str, options: SocketOptions) -> None:
        Emitter.__init__(self)
        if not namespace.startswith("/"):
            namespace = "/" + namespace
        self._manager = manager
        self._options = options
        self._session = Session(namespace, manager.options.max_buffer)
        self._encoder = manager._encoder
        self._active = False
        self._inactive = Event()
        self._inactive.set()
        self._connect_waiters: list[AsyncResult] = []
        self._fail_fast_waiters: list[AsyncResult] = []  # also in _connect_waiters: fail on the first error
        self._last_error: Optional[ConnectionError] = None  # of the last failed attempt
        self._connecting_since = 0.0
        self._queue: list[_Queued] = []  # the retry queue (small: one packet in flight)
        manager._nsps[namespace] = self
        self._ack_timeout = options.ack_timeout
        if options.auto_connect:
            self.connect(wait=False)

    # -- properties -----------------------------------------------------------

    @property
    def id(self) -> Optional[str]:
        """The namespace session id while connected, else None."""
        return self._session.sid if self._session.connected else None

    @property
    def connected(self) -> bool:
        """True while connected to the namespace."""
        return self._session.connected

    @property
    def disconnected(self) -> bool:
        """True while not connected."""
        return not self._session.connected

    @property
    def active(self) -> bool:
        """True while connected or (re)connecting: the socket has not been closed for good."""
        return self._active

    @property
    def recovered(self) -> bool:
        """True when the last connect recovered the previous session's state."""
        return self._session.recovered

    @property
    def namespace(self) -> str:
        """The namespace, e.g. ``"/"`` or ``"/chat"``."""
        return self._session.nsp

    @property
    def manager(self) -> Manager:
        """The Manager carrying this socket."""
        return self._manager

    @property
    def transport(self) -> Optional[str]:
        """``"polling"``, ``"websocket"``, or None while disconnected."""
        return self._manager.transport if self._session.connected else None

    # -- connecting -------------------------------------------------------------

    def connect(self, wait: bool = True, timeout: Optional[float] = None) -> Socket:
        """Open (or reopen) the socket; with ``wait``, block until connected.

        Raises ConnectionError when the attempt fails for good, TimeoutError when
        ``timeout`` passes first.
        """
        return self._connect(wait, timeout, fail_fast=False)

    open = connect

    def _connect(self, wait: bool, timeout: Optional[float], fail_fast: bool) -> Socket:
        """``connect()``; with ``fail_fast`` the wait ends with the first failed attempt's error."""
        self._manager._check_fork()
        if self._session.connected:
            return self
        waiter: Optional[AsyncResult] = AsyncResult() if wait else None
        if waiter is not None:
            self._connect_waiters.append(waiter)
            if fail_fast:
                self._fail_fast_waiters.append(waiter)
        if not self._active:
            self._active = True
            self._inactive.clear()
            self._connecting_since = monotonic()
            self._manager._add(self)
        if waiter is None:
            return self
        try:
            waiter.get(timeout=timeout)
        except gevent.Timeout:
            raise TimeoutError(f"not connected to {self.namespace} within {timeout} s") from self._last_error
        finally:
            if waiter in self._connect_waiters:
                self._connect_waiters.remove(waiter)
            if waiter in self._fail_fast_waiters:
                self._fail_fast_waiters.remove(waiter)
        return self

    def disconnect(self) -> Socket:
        """Leave the namespace; the Manager closes the connection when no socket is active."""
        manager = self._manager
        if manager._forked:
            return self
        session = self._session
        was_connected = session.connected
        if was_connected:
            self._send_packet(sio.DISCONNECT, None)
        if was_connected:
            self._on_close("io client disconnect")
        self._deactivate(ConnectionError("the socket was disconnected"))
        return self

    close = disconnect

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the socket is inactive for good; False if ``timeout`` passed first."""
        return bool(self._inactive.wait(timeout))

    def __enter__(self) -> Socket:
        if not self._session.connected:
            self.connect(wait=True)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.disconnect()

    # -- sending ----------------------------------------------------------------

    def emit(
        self,
        event: str,
        *args: Any,
        callback: Optional[Callable[..., Any]] = None,
        timeout: Optional[float] = None,
        volatile: bool = False,
    ) -> None:
        """Send an event; never blocks on the network (buffered while disconnected)."""
        if self._options.retries > 0 and not volatile:
            self._enqueue(event, args, callback, timeout)
        else:
            self._emit(event, args, callback, timeout, volatile, error_first=False)

    def _emit(
        self,
        event: str,
        args: tuple[Any, ...],
        callback: Optional[Callable[..., Any]],
        timeout: Optional[float],
        volatile: bool,
        error_first: bool,
    ) -> Optional[AckSlot]:
        _check_event(event)
        manager = self._manager
        manager._check_fork()
        session = self._session
        if timeout is None:
            timeout = self._ack_timeout
        slot = None
        if callback is not None:
            slot = session.add_ack(event, callback, timeout, error_first or timeout is not None, monotonic())
        try:
            first, attachments = self._encoder.encode(sio.EVENT, session.nsp, [event, *args], slot.id if slot else None)
            self._check_size(first, attachments)
        except BaseException as exc:
            if slot is None:
                raise
            session.discard(slot)
            if isinstance(exc, PayloadTooLargeError) and slot.error_first:
                self._settle(slot, (exc,))
                return slot
            raise
        for handler in self._any_outgoing:
            call_logged(handler, event, *args)
        frames = _frames(first, attachments)
        if session.connected and not manager._heartbeat_expired():
            if volatile and not manager._writable_now():
                if slot is not None:
                    session.discard(slot)
                return None
            if slot is not None:
                slot.sent = True
            manager._write(frames)
        elif volatile:
            if slot is not None:
                session.discard(slot)
            return None
        else:
            session.buffer_packet(frames, slot)
        if manager.observer is not None:  # written or buffered: not a dropped or refused emit
            notify(manager.observer, "sent", event, len(first) + sum(map(len, attachments)))
        if slot is not None and timeout is not None:
            manager._arm(slot.deadline)
        return slot

    def _check_size(self, first: Union[str, bytes], attachments: list[bytes]) -> None:
        engine = self._manager._engine
        if engine is None or engine.handshake is None:
            return
        limit = engine.handshake.max_payload
        size = len(first) + 1
        if size * 4 > limit and isinstance(first, str):
            size = len(first.encode("utf-8")) + 1
        if self._manager.transport == "polling":  # binary goes as "b" + base64
            sizes = [1 + 4 * ((len(a) + 2) // 3) for a in attachments]
        else:
            sizes = [len(a) for a in attachments]
        if size > limit or any(n > limit for n in sizes):
            raise PayloadTooLargeError(f"packet exceeds the server's maxPayload of {limit} bytes")

    def send(self, *args: Any, callback: Optional[Callable[..., Any]] = None) -> None:
        """``emit("message", *args)``."""
        self.emit("message", *args, callback=callback)

    def call(self, event: str, *args: Any, timeout: Optional[float] = None) -> Any:
        """Emit with an ack and block this greenlet for it: None, the value, or a tuple.

        Raises TimeoutError, or DisconnectedError when the socket disconnects
        after the packet was sent.
        """
        result: AsyncResult = AsyncResult()

        def settle(err: Optional[BaseException], *ack_args: Any) -> None:
            if err is not None:
                result.set_exception(err)
            else:
                result.set(ack_args)

        settle.direct = True  # type: ignore[attr-defined]
        slot = None
        if self._options.retries > 0:
            self._enqueue(event, args, settle, timeout)
        else:
            slot = self._emit(event, args, settle, timeout, False, error_first=True)
        try:
            return _ack_result(result.get())
        finally:
            if slot is not None and not slot.done:
                self._session.discard(slot)

    def wait_for(
        self, event: str, timeout: Optional[float] = None, predicate: Optional[Callable[..., bool]] = None
    ) -> Any:
        """Block until the next ``event`` (passing ``predicate``); returns like ``call()``."""
        result: AsyncResult = AsyncResult()

        def listener(*args: Any) -> None:
            if not result.ready() and (predicate is None or predicate(*args)):
                result.set(args)

        self.on(event, listener)
        try:
            return _ack_result(result.get(timeout=timeout))
        except gevent.Timeout:
            raise TimeoutError(f"no {event!r} event within {timeout} s") from None
        finally:
            self.off(event, listener)

    # -- retries: one packet in flight, in order, a new ack id per try (JS semantics) --

    def _enqueue(
        self, event: str, args: tuple[Any, ...], callback: Optional[Callable[..., Any]], timeout: Optional[float]
    ) -> None:
        _check_event(event)
        self._manager._check_fork()
        self._queue.append(_Queued(event, args, callback, timeout))
        self._drain_queue(force=False)

    def _drain_queue(self, force: bool) -> None:
        """Send the head of the retry queue unless it is in flight (``force``: resend it)."""
        queue = self._queue
        if not self._session.connected or not queue:
            return
        entry = queue[0]
        if entry.pending and not force:
            return
        entry.pending = True
        entry.tries += 1

        def result(err: Optional[BaseException], *args: Any) -> None:
            self._queued_result(entry, err, args)

        result.direct = True  # type: ignore[attr-defined]
        try:
            self._emit(entry.event, entry.args, result, entry.timeout, False, error_first=True)
        except Exception as exc:  # cannot be encoded: no try will ever succeed
            entry.tries = self._options.retries + 1
            self._queued_result(entry, exc, ())

    def _queued_result(self, entry: _Queued, err: Optional[BaseException], args: tuple[Any, ...]) -> None:
        queue = self._queue
        if not queue or queue[0] is not entry:
            return  # already settled
        if err is None or entry.tries > self._options.retries:
            queue.pop(0)
            if entry.callback is not None:
                self._call_back(entry.callback, (err,) if err is not None else (None, *args))
        entry.pending = False
        self._drain_queue(force=False)

    def emit_threadsafe(self, event: str, *args: Any, callback: Optional[Callable[..., Any]] = None) -> None:
        """``emit`` from another OS thread; the callback runs in a greenlet on the hub's thread."""
        self._manager._runner.run_threadsafe(self._emit_logged, event, args, callback)

    def _emit_logged(self, event: str, args: tuple[Any, ...], callback: Optional[Callable[..., Any]]) -> None:
        try:
            self._emit(event, args, callback, None, False, error_first=False)
        except Exception:
            log.exception("emit_threadsafe(%r) failed", event)

    def _send_packet(self, type: int, data: Any, ack_id: Optional[int] = None) -> None:
        first, attachments = self._encoder.encode(type, self._session.nsp, data, ack_id)
        self._manager._write(_frames(first, attachments))

    # -- called by the Manager (reader greenlet or hub timer) ---------------------

    def _on_open(self) -> None:
        """The Engine.IO connection is open: join the namespace."""
        try:
            auth = resolve(self._options.auth, "auth") if self._options.auth is not None else None
        except Exception as exc:
            log.exception("the auth callable of %s raised", self.namespace)
            self._connect_failed(ConnectionError(f"auth callable raised: {exc}"))
            return
        self._send_packet(sio.CONNECT, self._session.connect_data(auth))

    def _on_packet(self, packet: sio.Packet, size: int) -> None:
        kind = packet.type
        session = self._session
        if kind == sio.EVENT:
            if session.connected:
                data = packet.data
                ack_id = packet.id
                args = session.event_args(data, ack_id)
                self._manager._dispatch.submit(self._run_event, data[0], args, ack_id)
            else:
                session.held.append(packet)
            if self._manager.observer is not None:
                notify(self._manager.observer, "received", packet.data[0], size)
        elif kind == sio.ACK:
            slot = session.resolve(packet.id)
            if slot is not None:
                if self._manager.observer is not None:
                    notify(self._manager.observer, "acked", slot.event, monotonic() - slot.sent_at)
                self._settle(slot, slot.outcome(packet.data))
        elif kind == sio.CONNECT:
            self._on_connect(packet.data)
        elif kind == sio.DISCONNECT:
            if session.connected:
                self._on_close("io server disconnect")
            self._deactivate(ConnectionError("the server disconnected the socket"))
        elif kind == sio.CONNECT_ERROR:
            data = packet.data
            message = data.get("message", "") if isinstance(data, dict) else str(data)
            extra = data.get("data") if isinstance(data, dict) else None
            self._connect_failed(ConnectionError(message, extra))

    def _on_connect(self, data: Any) -> None:
        session = self._session
        try:
            session.on_connect(data)
        except ProtocolError as exc:
            self._connect_failed(ConnectionError(str(exc)))
            return
        for packet in session.take_held():
            self._deliver(packet)
        now = monotonic()
        for frames in session.take_buffer(now):
            self._manager._write(frames)
        self._drain_queue(force=True)
        notify(self._manager.observer, "connected", now - self._connecting_since, self._manager.transport)
        waiters, self._connect_waiters = self._connect_waiters, []
        for waiter in waiters:
            waiter.set(self)
        self._fire("connect")

    def _deliver(self, packet: sio.Packet) -> None:
        data = packet.data
        args = self._session.event_args(data, packet.id)
        self._manager._dispatch.submit(self._run_event, data[0], args, packet.id)

    def _run_event(self, event: Any, args: list[Any], ack_id: Optional[int]) -> None:
        if self._any:
            for handler in self._any:
                call_logged(handler, event, *args)
        handlers = self.take(event) if isinstance(event, str) else []
        result = None
        for handler in handlers:
            try:
                value = handler(*args)
            except Exception:
                log.exception("handler %r for %r raised", getattr(handler, "__qualname__", handler), event)
                value = None
            if result is None:
                result = value
        if ack_id is not None and handlers and self._session.connected:
            self._send_packet(sio.ACK, _ack_data(result), ack_id)

    def _settle(self, slot: AckSlot, args: tuple[Any, ...]) -> None:
        self._call_back(slot.callback, args)

    def _call_back(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Internal callbacks run in place; the user's run in a handler greenlet."""
        if getattr(callback, "direct", False):
            callback(*args)
        else:
            self._manager._dispatch.submit(callback, *args)

    def _fire(self, event: str, *args: Any) -> None:
        handlers = self.take(event)
        if handlers:
            self._manager._dispatch.submit(self._run_handlers, handlers, args)

    @staticmethod
    def _run_handlers(handlers: list[Callable[..., Any]], args: tuple[Any, ...]) -> None:
        for handler in handlers:
            call_logged(handler, *args)

    def _on_error(self, err: ConnectionError) -> None:
        """The Engine.IO connection could not be opened."""
        self._last_error = err
        waiters, self._fail_fast_waiters = self._fail_fast_waiters, []
        for waiter in waiters:
            waiter.set_exception(err)
        if not self._session.connected:
            self._fire("connect_error", err)

    def _connect_failed(self, err: ConnectionError) -> None:
        """CONNECT_ERROR (or no usable reply): fire connect_error and stop for good."""
        self._fire("connect_error", err)
        self._deactivate(err)

    def _on_close(self, reason: str) -> None:
        """Left the connected state (the socket may reconnect)."""
        session = self._session
        if not session.connected:
            return
        for slot, err in session.on_disconnect():
            self._settle(slot, (err,))
        self._connecting_since = monotonic()
        notify(self._manager.observer, "disconnected", reason)
        self._fire("disconnect", reason)

    def _expire(self, now: float) -> float:
        """Fail acks whose deadline passed; return the next deadline."""
        for slot, err in self._session.expire(now):
            self._settle(slot, (err,))
        return self._session.next_deadline()

    def _give_up(self, err: ConnectionError) -> None:
        """The Manager stopped reconnecting."""
        self._deactivate(err)

    def _deactivate(self, err: ConnectionError) -> None:
        waiters, self._connect_waiters = self._connect_waiters, []
        self._fail_fast_waiters = []
        for waiter in waiters:
            waiter.set_exception(err)
        if not self._active:
            return
        self._active = False
        if self._session.connected:  # e.g. a CONNECT_ERROR on a connected socket: no answer will come
            for slot, failure in self._session.on_disconnect():
                self._settle(slot, (failure,))
        self._manager._remove(self)
        self._inactive.set()

    def clear_buffer(self) -> None:
        """Drop the offline buffer; waiting error-first callbacks and ``call()``s fail."""
        for slot in self._session.clear_buffer():
            self._settle(slot, (DisconnectedError("the offline buffer was cleared"),))
