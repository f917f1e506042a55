"""Socket: the public face of one namespace — listeners, emits, calls, connect and disconnect."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Optional

import gevent
from gevent.event import AsyncResult

from ._core.url import parse_url
from ._emitter import Emitter
from ._exceptions import DisconnectedError, TimeoutError
from ._manager import manager_for
from ._namespace import Namespace, check_event
from ._options import SocketOptions, options_doc, signature_with_options, split_options

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._contracts import SocketHost
    from ._manager import Manager
    from ._options import OptionsDict

__all__ = ["Socket"]

log = logging.getLogger("greensio")


def _ack_result(args: tuple[Any, ...]) -> Any:
    """``call()``'s return shape: None, the single value, or a tuple."""
    if not args:
        return None
    return args[0] if len(args) == 1 else args


class Socket(Emitter):
    """A Socket.IO client socket for one namespace (the URL's path).

    ``Socket(url, **options)`` starts connecting in the background unless
    ``auto_connect=False``; handlers registered before the current greenlet
    yields see the first ``connect``.
    """

    def __init__(self, url: str = "http://localhost", **options: Unpack[OptionsDict]) -> None:
        manager_options, socket_options = split_options(options)
        target = parse_url(url)
        manager = manager_for(url, target, target.namespace, manager_options)
        self._setup(manager, target.namespace, SocketOptions(**socket_options))

    @classmethod
    def _on_manager(cls, manager: Manager, namespace: str, options: dict[str, Any]) -> Socket:
        manager_options, _ = split_options(options)  # unknown names are refused with a hint
        if manager_options:
            names = ", ".join(sorted(manager_options))
            raise TypeError(f"{names}: Manager option(s), given to Manager(...), not to manager.socket()")
        socket = cls.__new__(cls)
        socket._setup(manager, namespace, SocketOptions(**options))
        return socket

    def _setup(self, host: SocketHost, namespace: str, options: SocketOptions) -> None:
        Emitter.__init__(self)
        self._host = host
        self._ns = Namespace(self, self, host, namespace, options)
        host.register(self._ns)
        if options.auto_connect:
            self.connect(wait=False)

    def __repr__(self) -> str:
        state = "connected" if self.connected else "active" if self._ns.active else "inactive"
        return f"<greensio.Socket {self.namespace} {state}>"

    # -- properties -----------------------------------------------------------

    @property
    def id(self) -> Optional[str]:
        """The namespace session id while connected, else None."""
        return self._ns.session.sid if self._ns.connected else None

    @property
    def connected(self) -> bool:
        """True while connected to the namespace."""
        return self._ns.connected

    @property
    def disconnected(self) -> bool:
        """True while not connected."""
        return not self._ns.connected

    @property
    def active(self) -> bool:
        """True while connected or (re)connecting: the socket has not been closed for good."""
        return self._ns.active

    @property
    def recovered(self) -> bool:
        """True when the last connect recovered the previous session's state."""
        return self._ns.session.recovered

    @property
    def namespace(self) -> str:
        """The namespace, e.g. ``"/"`` or ``"/chat"``."""
        return self._ns.namespace

    @property
    def manager(self) -> Manager:
        """The Manager carrying this socket."""
        return self._host  # type: ignore[return-value]

    @property
    def transport(self) -> Optional[str]:
        """``"polling"``, ``"websocket"``, or None while disconnected."""
        return self._host.transport if self._ns.connected else None

    # -- connecting -------------------------------------------------------------

    def connect(self, wait: bool = True, timeout: Optional[float] = None) -> Socket:
        """Open (or reopen) the socket; with ``wait``, block until connected.

        Raises ConnectionError when the attempt fails and the reconnection policy
        gives up, TimeoutError when ``timeout`` passes first (chained to the last
        attempt's error).
        """
        return self._connect(wait, timeout, fail_fast=False)

    open = connect

    def _connect(self, wait: bool, timeout: Optional[float], fail_fast: bool) -> Socket:
        """``connect()``; with ``fail_fast`` the wait ends with the first failed attempt's error."""
        self._host.check_usable()
        ns = self._ns
        if ns.session.connected:
            return self
        waiter: Optional[AsyncResult] = AsyncResult() if wait else None
        ns.activate(waiter, fail_fast)
        if waiter is None:
            return self
        try:
            waiter.get(timeout=timeout)
        except gevent.Timeout:
            raise TimeoutError(f"not connected to {self.namespace} within {timeout} s") from ns.last_error
        finally:
            ns.forget(waiter)
        return self

    def disconnect(self) -> Socket:
        """Leave the namespace; the Manager closes the connection when no socket is active."""
        if not self._host.forked:
            self._ns.leave()
        return self

    close = disconnect

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the socket is inactive for good; False if ``timeout`` passed first."""
        return bool(self._ns.inactive.wait(timeout))

    def __enter__(self) -> Socket:
        if not self._ns.session.connected:
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
        compress: bool = True,
    ) -> None:
        """Send an event; never blocks on the network (buffered while disconnected).

        ``compress=False``: never permessage-deflate this packet (as JS ``socket.compress(false)``).
        """
        ns = self._ns
        if ns.retries is not None and not volatile:
            check_event(event)
            self._host.check_usable()
            ns.retries.add(event, args, callback, timeout)
        else:
            ns.emit(event, args, callback, timeout, volatile, False, compress)

    def send(self, *args: Any, callback: Optional[Callable[..., Any]] = None) -> None:
        """``emit("message", *args)``."""
        self.emit("message", *args, callback=callback)

    def call(self, event: str, *args: Any, timeout: Optional[float] = None) -> Any:
        """Emit with an ack and block this greenlet for it: None, the value, or a tuple.

        Raises TimeoutError, or DisconnectedError when the socket disconnects
        after the packet was sent (or is not connecting and could never answer).
        """
        self._host.check_usable()
        ns = self._ns
        if not ns.active and (ns.ended or (timeout is None and ns.options.ack_timeout is None)):
            state = "was disconnected" if ns.ended else "is not connected (call connect() first)"
            raise DisconnectedError(f"call({event!r}): the socket {state}")
        result: AsyncResult = AsyncResult()

        def settle(err: Optional[BaseException], *ack_args: Any) -> None:
            if err is not None:
                result.set_exception(err)
            else:
                result.set(ack_args)

        settle.direct = settle.call = True  # type: ignore[attr-defined]
        slot = None
        if ns.retries is not None:
            check_event(event)
            ns.retries.add(event, args, settle, timeout)
        else:
            slot = ns.emit(event, args, settle, timeout, False, error_first=True)
        try:
            return _ack_result(result.get())
        finally:
            if slot is not None and not slot.done:
                ns.session.discard(slot)

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

    def emit_threadsafe(self, event: str, *args: Any, callback: Optional[Callable[..., Any]] = None) -> None:
        """``emit`` from another OS thread; the callback runs in a greenlet on the hub's thread."""
        self._host.run_threadsafe(self._emit_logged, event, args, callback)

    def _emit_logged(self, event: str, args: tuple[Any, ...], callback: Optional[Callable[..., Any]]) -> None:
        try:
            self._ns.emit(event, args, callback, None, False, error_first=False)
        except Exception:
            log.exception("emit_threadsafe(%r) failed", event)

    def clear_buffer(self) -> None:
        """Drop the offline buffer; waiting error-first callbacks and ``call()``s fail."""
        ns = self._ns
        for slot in ns.session.clear_buffer():
            ns.call_back(slot.take_callback(), (DisconnectedError("the offline buffer was cleared"),))


Socket.__init__.__signature__ = signature_with_options(Socket.__init__)  # type: ignore[attr-defined]
Socket.__doc__ = f"{Socket.__doc__}\n    Options:\n{options_doc()}\n"
