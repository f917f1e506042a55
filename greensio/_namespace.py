"""Namespace: the working side of a Socket — its session on the wire, as the Manager drives it.

The public ``Socket`` is a thin shell over one Namespace. The Namespace joins the
namespace when the connection opens, sends and buffers packets, routes what the
server sends (events to handler greenlets, acks to their callbacks), keeps the
connect waiters, and ends for good when refused, disconnected or given up.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from gevent._hub_local import get_hub_if_exists
from gevent.event import AsyncResult, Event

from ._contracts import SocketHost
from ._core import sio
from ._core.session import AckSlot, Frames, Session
from ._core.sio import EVENT, RESERVED_EVENTS
from ._dispatch import call_logged
from ._emitter import Emitter, catch_all_lists, take
from ._exceptions import ConnectionError, DisconnectedError, PayloadTooLargeError, ProtocolError
from ._io.transport import uncompressed
from ._options import SocketOptions, resolve
from ._retries import RetryQueue
from ._stats import notify

if TYPE_CHECKING:
    from ._socket import Socket

__all__ = ["Namespace", "check_event"]

log = logging.getLogger("greensio")


def check_event(event: Any) -> None:
    """Refuse what cannot be an event name to send."""
    if not isinstance(event, str):
        raise TypeError(f"event name must be a str, got {type(event).__name__}")
    if event in sio.RESERVED_EVENTS:
        raise ValueError(f"{event!r} is a reserved event name")


def _frames(first: Union[str, bytes], attachments: list[bytes]) -> Frames:
    """A Socket.IO packet as Engine.IO messages (text gets the MESSAGE type prefix)."""
    head: Union[str, bytes] = "4" + first if isinstance(first, str) else first
    return [head, *attachments] if attachments else [head]


def _ack_data(result: Any) -> list[Any]:
    """A handler's return value as ACK arguments."""
    if result is None:
        return []
    return list(result) if isinstance(result, tuple) else [result]


def _waits_forever(slot: AckSlot) -> bool:
    """A blocked ``call()`` without a deadline (one with a deadline times out, as in JS)."""
    return slot.deadline == math.inf and getattr(slot.callback, "call", False)


class Namespace:
    """One namespace's session over a Manager's connection."""

    __slots__ = (
        "socket", "host", "session", "options", "active", "ended", "retries", "inactive", "last_error", "router",
        "_events", "_any", "_any_outgoing", "_waiters", "_fail_fast", "_connecting_since", "_told_buffering",
    )  # fmt: skip

    def __init__(self, socket: Socket, events: Emitter, host: SocketHost, name: str, options: SocketOptions) -> None:
        self.socket = socket
        self.host = host
        self.session = Session(name, host.options.max_buffer)
        self.options = options
        self.active = False
        self.ended = False
        """Disconnected by the user or the server, refused, or given up: not by a connection loss."""
        self.retries = RetryQueue(self, options.retries) if options.retries > 0 else None
        self.inactive = Event()
        self.inactive.set()
        self.last_error: Optional[ConnectionError] = None
        """The error of the last failed attempt."""
        self.router: Optional[Callable[[Any, list[Any]], Any]] = None
        """When set, every event goes to ``router(event, args)`` instead of the listeners, and its
        return value is the ack, sent even when None (greensio.compat: python-socketio's semantics)."""
        self._events = events
        self._any, self._any_outgoing = catch_all_lists(events)
        self._waiters: list[AsyncResult] = []
        self._fail_fast: list[AsyncResult] = []  # also in _waiters: they fail on the first error
        self._connecting_since = 0.0
        self._told_buffering = False

    # -- NamespaceSocket --------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return self.session.nsp

    @property
    def connected(self) -> bool:
        return self.session.connected and not self.host.forked

    @property
    def buffered(self) -> int:
        return len(self.session.buffer)

    def disconnect(self) -> None:
        self.socket.disconnect()

    # -- connecting -------------------------------------------------------------------

    def activate(self, waiter: Optional[AsyncResult], fail_fast: bool) -> None:
        """Start connecting if inactive; ``waiter`` gets the connected socket (``fail_fast``: or the first error)."""
        if waiter is not None:
            self._waiters.append(waiter)
            if fail_fast:
                self._fail_fast.append(waiter)
        if not self.active:
            self.active = True
            self.ended = False
            self._told_buffering = False
            self.inactive.clear()
            self._connecting_since = self.host.clock.now()
            self.host.attach(self)

    def forget(self, waiter: AsyncResult) -> None:
        """A connect waiter gave up waiting."""
        for waiters in (self._waiters, self._fail_fast):
            if waiter in waiters:
                waiters.remove(waiter)

    def leave(self) -> None:
        """The user's disconnect(): DISCONNECT if connected, then inactive for good."""
        if self.session.connected:
            link = self.host.link
            if link is None:
                first, _ = self.host.encoder.encode(sio.DISCONNECT, self.session.nsp, None, None)
                self.host.part(_frames(first, []))
            else:
                text = link.leave(self.namespace, last=not self.host.others_active(self))
                if text is not None:
                    self.host.part(["4" + text])
            self.on_close("io client disconnect")
        self._deactivate(DisconnectedError("the socket was disconnected"))

    # -- sending ------------------------------------------------------------------------

    def emit(
        self,
        event: str,
        args: tuple[Any, ...],
        callback: Optional[Callable[..., Any]],
        timeout: Optional[float],
        volatile: bool,
        error_first: bool,
        compress: bool = True,
    ) -> Optional[AckSlot]:
        """Encode and send (or buffer) an event; the ack slot if a callback was given."""
        host = self.host
        if get_hub_if_exists() is not host.home_hub:  # another thread, or a forked child
            host.check_usable()
        if type(event) is not str or event in RESERVED_EVENTS:
            check_event(event)
        session = self.session
        if timeout is None:
            timeout = self.options.ack_timeout
        slot = None
        if callback is not None:
            slot = session.add_ack(event, callback, timeout, error_first or timeout is not None, host.clock.now())
        try:
            first, attachments = host.encoder.encode(EVENT, session.nsp, [event, *args], slot.id if slot else None)
            limits = host.limits
            if limits is not None and (attachments or len(first) * 4 >= limits[0]):
                self._check_size(first, attachments, limits)
        except BaseException as exc:
            if slot is None:
                raise
            session.discard(slot)
            if isinstance(exc, PayloadTooLargeError) and slot.error_first:
                self.call_back(slot.callback, (exc,))
                return slot
            raise
        if self._any_outgoing:
            for handler in self._any_outgoing:
                call_logged(handler, event, *args)
        frames: Frames = ["4" + first] if not attachments and type(first) is str else _frames(first, attachments)
        if not compress:
            frames = [uncompressed(frame) for frame in frames]
        if session.connected and host.sendable():
            if volatile and not host.writable_now():
                if slot is not None:
                    session.discard(slot)
                return None
            if slot is not None:
                slot.sent = True
            host.write(frames)
        elif volatile:
            if slot is not None:
                session.discard(slot)
            return None
        else:
            if not self.active and not self._told_buffering:
                self._told_buffering = True
                log.info("%s is disconnected: emits wait in its buffer until connect()", self.namespace)
            session.buffer_packet(frames, slot)
        if host.observer is not None:  # written or buffered: not a dropped or refused emit
            notify(host.observer, "sent", event, len(first) + sum(map(len, attachments)))
        if slot is not None and timeout is not None:
            host.arm(slot.deadline)
        return slot

    @staticmethod
    def _check_size(first: Union[str, bytes], attachments: list[bytes], limits: tuple[int, bool]) -> None:
        limit, base64 = limits
        size = len(first) + 1
        if size * 4 > limit and isinstance(first, str):
            size = len(first.encode("utf-8")) + 1
        if base64:  # binary goes as "b" + base64
            sizes = [1 + 4 * ((len(a) + 2) // 3) for a in attachments]
        else:
            sizes = [len(a) for a in attachments]
        if size > limit or any(n > limit for n in sizes):
            raise PayloadTooLargeError(f"packet exceeds the server's maxPayload of {limit} bytes")

    def send_try(
        self, event: str, args: tuple[Any, ...], callback: Callable[..., Any], timeout: Optional[float]
    ) -> None:
        """One try of a retried emit (for the RetryQueue)."""
        self.emit(event, args, callback, timeout, False, error_first=True)

    def send_packet(self, type: int, data: Any, ack_id: Optional[int] = None) -> None:
        first, attachments = self.host.encoder.encode(type, self.session.nsp, data, ack_id)
        self.host.write(_frames(first, attachments))

    def call_back(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        """Internal callbacks run in place; the user's run in a handler greenlet."""
        if getattr(callback, "direct", False):
            callback(*args)
        else:
            self.host.dispatch.submit(callback, *args)

    # -- driven by the Manager -----------------------------------------------------------

    def resolved_auth(self) -> Optional[dict[str, Any]]:
        """The ``auth`` option's value now (a callable is called), or None."""
        return resolve(self.options.auth, "auth") if self.options.auth is not None else None

    def on_open(self) -> None:
        """The Engine.IO connection is open: join the namespace."""
        try:
            auth = self.resolved_auth()
        except Exception as exc:
            log.exception("the auth callable of %s raised", self.namespace)
            self._connect_failed(ConnectionError(f"auth callable raised: {exc}"))
            return
        host = self.host
        if host.options.timeout is not None:
            self.session.connect_deadline = host.clock.now() + host.options.timeout
            host.arm(self.session.connect_deadline)
        link = host.link
        if link is None:
            self.send_packet(sio.CONNECT, self.session.connect_data(auth))
            return
        try:
            text, reply = link.join(self.namespace, auth)  # v3: "/" is joined by the server, auth goes as a query
        except ValueError as exc:  # a namespace v3 cannot write (a "," or "?" in it)
            self._connect_failed(ConnectionError(str(exc)))
            return
        if text is not None:
            host.write(["4" + text])
        if reply is not None:
            self.on_packet(reply, 0)

    def on_packet(self, packet: sio.Packet, size: int) -> None:
        kind = packet.type
        session = self.session
        host = self.host
        if kind == EVENT:
            if session.connected:
                data = packet.data
                ack_id = packet.id
                args = data[1:] if session.pid is None else session.event_args(data, ack_id)
                host.dispatch.submit(self._run_event, data[0], args, ack_id)
            else:
                session.hold(packet, size, host.options.max_message_size)
            if host.observer is not None:
                notify(host.observer, "received", packet.data[0], size)
        elif kind == sio.ACK:
            slot = session.resolve(packet.id)
            if slot is not None:
                if host.observer is not None:
                    notify(host.observer, "acked", slot.event, host.clock.now() - slot.sent_at)
                self.call_back(slot.callback, slot.outcome(packet.data))
        elif kind == sio.CONNECT:
            self._on_connect(packet.data)
        elif kind == sio.DISCONNECT:
            if session.connected:
                self.on_close("io server disconnect")
            self._deactivate(DisconnectedError("the server disconnected the socket"))
        elif kind == sio.CONNECT_ERROR:
            data = packet.data
            message = data.get("message", "") if isinstance(data, dict) else str(data)
            extra = data.get("data") if isinstance(data, dict) else None
            self._connect_failed(ConnectionError(message, extra))

    def _on_connect(self, data: Any) -> None:
        session = self.session
        try:
            session.on_connect(data)
        except ProtocolError as exc:
            err = self.host.connect_reply_failed(data, exc)
            if err is not None:
                self._connect_failed(err)
            return
        host = self.host
        for packet in session.take_held():
            self._deliver(packet)
        now = host.clock.now()
        for frames in session.take_buffer(now):
            host.write(frames)
        if self.retries is not None:
            self.retries.drain(force=True)
        notify(host.observer, "connected", now - self._connecting_since, host.transport)
        waiters, self._waiters = self._waiters, []
        self._fail_fast = []
        for waiter in waiters:
            waiter.set(self.socket)
        self._fire("connect")

    def _deliver(self, packet: sio.Packet) -> None:
        data = packet.data
        args = self.session.event_args(data, packet.id)
        self.host.dispatch.submit(self._run_event, data[0], args, packet.id)

    def _run_event(self, event: Any, args: list[Any], ack_id: Optional[int]) -> None:
        if self.router is not None:
            self._route(self.router, event, args, ack_id)
            return
        if self._any:
            for handler in self._any:
                call_logged(handler, event, *args)
        handlers = take(self._events, event) if type(event) is str else []
        if ack_id is None and len(handlers) == 1:  # the common case: one handler, no ack asked
            try:
                handlers[0](*args)
            except Exception:
                log.exception("handler %r for %r raised", getattr(handlers[0], "__qualname__", handlers[0]), event)
            return
        result = None
        for handler in handlers:
            try:
                value = handler(*args)
            except Exception:
                log.exception("handler %r for %r raised", getattr(handler, "__qualname__", handler), event)
                value = None
            if result is None:
                result = value
        if ack_id is not None and handlers and self.session.connected:
            self.send_packet(sio.ACK, _ack_data(result), ack_id)

    def _route(
        self, router: Callable[[Any, list[Any]], Any], event: Any, args: list[Any], ack_id: Optional[int]
    ) -> None:
        try:
            result = router(event, args)
        except Exception:
            log.exception("handler for %r raised", event)
            return
        if ack_id is not None and self.session.connected:
            self.send_packet(sio.ACK, _ack_data(result), ack_id)

    def _fire(self, event: str, *args: Any) -> None:
        handlers = take(self._events, event)
        if handlers:
            self.host.dispatch.submit(_run_handlers, handlers, args)

    def on_open_failed(self, err: ConnectionError) -> bool:
        """The Engine.IO connection could not be opened (or the namespace CONNECT got no reply).

        True when a blocked ``greensio.connect()`` was given the error (it raises it: no need to log it).
        """
        self.last_error = err
        waiters, self._fail_fast = self._fail_fast, []
        for waiter in waiters:
            waiter.set_exception(err)
        if not self.session.connected:
            self._fire("connect_error", err)
        return bool(waiters)

    def _connect_failed(self, err: ConnectionError) -> None:
        """CONNECT_ERROR (or no usable reply): fire connect_error and stop for good."""
        self.last_error = err
        self._fire("connect_error", err)
        self._deactivate(err)

    def on_close(self, reason: str) -> None:
        """Left the connected state (the socket may reconnect)."""
        session = self.session
        session.connect_deadline = math.inf
        if not session.connected:
            session.take_held()
            return
        for slot, err in session.on_disconnect():
            self.call_back(slot.callback, (err,))
        self._connecting_since = self.host.clock.now()
        notify(self.host.observer, "disconnected", reason)
        self._fire("disconnect", reason)

    def expire(self, now: float) -> float:
        """Fail acks whose deadline passed, and a CONNECT reply that is late; return the next deadline."""
        session = self.session
        for slot, err in session.expire(now):
            self.call_back(slot.callback, (err,))
        if now >= session.connect_deadline:
            session.connect_deadline = math.inf
            self.on_open_failed(ConnectionError(f"no CONNECT reply for {self.namespace} within the timeout"))
            self.host.connect_timed_out()
        return session.next_deadline()

    def next_deadline(self) -> float:
        return self.session.next_deadline()

    def give_up(self, err: ConnectionError) -> None:
        """The Manager stopped reconnecting."""
        self._deactivate(err)

    def _deactivate(self, err: ConnectionError) -> None:
        waiters, self._waiters = self._waiters, []
        self._fail_fast = []
        for waiter in waiters:
            waiter.set_exception(err)
        if not self.active:
            return
        self.active = False
        self.ended = True
        session = self.session
        session.connect_deadline = math.inf  # a CONNECT reply still awaited will never matter now
        if session.connected:  # e.g. a CONNECT_ERROR on a connected socket: no answer will come
            for slot, failure in session.on_disconnect():
                self.call_back(slot.callback, (failure,))
        for slot in session.drop_buffered(_waits_forever):
            self.call_back(slot.callback, (DisconnectedError("the socket was disconnected before the call was sent"),))
        try:
            self.host.detach(self)
        finally:
            self.inactive.set()


def _run_handlers(handlers: list[Callable[..., Any]], args: tuple[Any, ...]) -> None:
    for handler in handlers:
        call_logged(handler, *args)
