"""``Client``: python-socketio's event-driven client, over one greensio Manager per connection."""

from __future__ import annotations

import logging
from time import monotonic as _now
from typing import Any, Callable, Optional, TypeVar, Union, overload
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import gevent
from gevent.event import Event

import greensio

from . import _bridge, exceptions
from ._calls import call_handler
from ._options import enable_logging, translate
from .namespace import ClientNamespace

__all__ = ["Client", "Reason"]

log = logging.getLogger("greensio")
Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)
Headers = Union[dict[str, str], Callable[[], dict[str, str]]]
RESERVED_EVENTS = frozenset(("connect", "connect_error", "disconnect"))


class Reason:
    """The reasons a ``disconnect`` handler gets, as ``Client.reason.X``."""

    CLIENT_DISCONNECT = "client disconnect"
    SERVER_DISCONNECT = "server disconnect"
    TRANSPORT_ERROR = "transport error"


# greensio's reasons -> python-socketio's; every other one is a transport error.
_REASONS = {"io client disconnect": Reason.CLIENT_DISCONNECT, "io server disconnect": Reason.SERVER_DISCONNECT}


def _args(data: Any) -> tuple[Any, ...]:
    """python-socketio's data argument as event arguments: a tuple is several, None is none."""
    if isinstance(data, tuple):
        return data
    return () if data is None else (data,)


class Client:
    """A Socket.IO client with python-socketio's ``socketio.Client`` API, run by greensio.

    Engine.IO options: ``request_timeout`` (default 5: each connection attempt's
    deadline), ``ssl_verify``, ``websocket_extra_options`` (``header``, ``sslopt``
    and the proxy keys are honoured, others ignored with a warning),
    ``http_session`` (ignored with a warning), ``engineio_logger`` (as ``logger``).
    Any other keyword is a greensio Manager option (``proxy``, ``ssl_context``,
    ``handler_concurrency``, ``observer``...). ``handle_sigint`` is accepted and
    ignored: greensio never installs a signal handler. ``logger=True`` sends the
    ``greensio`` logger's INFO records to stderr unless it is configured already.
    """

    reason = Reason
    reserved_events = ["connect", "connect_error", "disconnect"]

    def __init__(
        self,
        reconnection: bool = True,
        reconnection_attempts: int = 0,
        reconnection_delay: float = 1,
        reconnection_delay_max: float = 5,
        randomization_factor: float = 0.5,
        logger: Any = False,
        serializer: Any = "default",
        json: Any = None,
        handle_sigint: bool = True,
        **eio_options: Any,
    ) -> None:
        self.reconnection = reconnection
        self.reconnection_attempts = reconnection_attempts
        self.reconnection_delay = reconnection_delay
        self.reconnection_delay_max = reconnection_delay_max
        self.randomization_factor = randomization_factor
        self.handle_sigint = handle_sigint  # accepted for compatibility; no handler is ever installed
        enable_logging(logger)
        self._options = translate(
            reconnection,
            reconnection_attempts,
            reconnection_delay,
            reconnection_delay_max,
            randomization_factor,
            serializer,
            json,
            eio_options,
        )
        greensio.Manager("http://localhost", **self._options.manager)  # checks the options now, as python-socketio does
        self.handlers: dict[str, dict[str, Handler]] = {}
        self.namespace_handlers: dict[str, ClientNamespace] = {}
        self.connection_url: Any = None
        self.connection_headers: Any = None
        self.connection_auth: Any = None
        self.connection_transports: Any = None
        self.connection_namespaces: list[str] = []
        self.socketio_path: Optional[str] = None
        self.failed_namespaces: list[str] = []
        self._manager: Optional[greensio.Manager] = None
        self._sockets: dict[str, greensio.Socket] = {}
        self._senders: dict[str, tuple[greensio.Socket, _bridge.ConnectionState]] = {}  # emit's and call's view
        self._handled: dict[str, Event] = {}  # set once the namespace's connect handler has run
        self._engine_error: Optional[BaseException] = None  # the last failed Engine.IO connection attempt
        self._open = False  # between a successful connect() and disconnect()
        self._on_final: Optional[Callable[[str], None]] = None  # SimpleClient: a namespace is gone for good

    # -- state ------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True once ``connect()`` succeeded, while a namespace is connected."""
        return self._open and any(s.connected for s in self._sockets.values())

    @property
    def namespaces(self) -> dict[str, Optional[str]]:
        """The connected namespaces and their session ids."""
        return {name: s.id for name, s in self._sockets.items() if s.connected}

    @property
    def sid(self) -> Optional[str]:
        """The Engine.IO session id (``get_sid()`` gives a namespace's own id)."""
        return self._manager.sid if self._manager is not None else None

    def get_sid(self, namespace: Optional[str] = None) -> Optional[str]:
        """The session id of ``namespace`` (default ``'/'``), None when it is not connected."""
        socket = self._sockets.get(namespace or "/")
        return socket.id if socket is not None else None

    def transport(self) -> Optional[str]:
        """``'polling'`` or ``'websocket'``; None while not connected."""
        return self._manager.transport if self._manager is not None else None

    def is_asyncio_based(self) -> bool:
        """False: a gevent client."""
        return False

    # -- handlers ---------------------------------------------------------------

    @overload
    def on(self, event: str, handler: None = None, namespace: Optional[str] = None) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: Handler, namespace: Optional[str] = None) -> None: ...

    def on(
        self, event: str, handler: Optional[Handler] = None, namespace: Optional[str] = None
    ) -> Optional[Callable[[H], H]]:
        """Register ``handler`` for ``event`` on ``namespace`` (default ``'/'``); a decorator without ``handler``.

        ``'*'`` as event catches events without a handler (the name comes first);
        ``'*'`` as namespace catches namespaces without handlers (the namespace
        comes first; both: event, then namespace).
        """
        handlers = self.handlers.setdefault(namespace or "/", {})

        def set_handler(h: H) -> H:
            handlers[event] = h
            return h

        if handler is None:
            return set_handler
        set_handler(handler)
        return None

    def event(self, *args: Any, **kwargs: Any) -> Any:
        """Decorator registering a handler named after the function: ``@sio.event`` or ``@sio.event(namespace=...)``."""
        if len(args) == 1 and not kwargs and callable(args[0]):
            return self.on(args[0].__name__)(args[0])

        def set_handler(handler: H) -> H:
            decorate: Callable[[H], H] = self.on(handler.__name__, *args, **kwargs)
            return decorate(handler)

        return set_handler

    def register_namespace(self, namespace_handler: ClientNamespace) -> None:
        """Use a ``ClientNamespace`` instance for the events of its namespace."""
        if not isinstance(namespace_handler, ClientNamespace):
            raise ValueError("Not a namespace instance")
        if namespace_handler.is_asyncio_based():
            raise ValueError("Not a valid namespace class for this client")
        namespace_handler._set_client(self)
        self.namespace_handlers[namespace_handler.namespace] = namespace_handler

    # -- connecting ---------------------------------------------------------------

    def connect(
        self,
        url: Union[str, Callable[[], str]],
        headers: Optional[Headers] = None,
        auth: Any = None,
        transports: Union[str, list[str], None] = None,
        namespaces: Union[str, list[str], None] = None,
        socketio_path: str = "socket.io",
        wait: bool = True,
        wait_timeout: float = 1,
        retry: bool = False,
    ) -> None:
        """Connect to a Socket.IO server and join ``namespaces`` (default: those with handlers, else ``'/'``).

        One attempt, unless ``retry``: then attempts go on as the reconnection
        options say. Raises ``exceptions.ConnectionError``, after ``connect_error``
        handlers ran for each namespace. With ``wait`` (default) it returns once
        every namespace is connected and its connect handler has run (waiting at
        most ``wait_timeout`` for them).
        """
        if self.connected:
            raise exceptions.ConnectionError("Already connected")
        self._teardown()
        names = self._namespaces_to_connect(namespaces)
        self.connection_url, self.connection_headers, self.connection_auth = url, headers, auth
        self.connection_transports, self.connection_namespaces, self.socketio_path = transports, names, socketio_path
        self.failed_namespaces = []
        self._engine_error = None
        manager = self._new_manager(url, headers or {}, transports, socketio_path)
        sockets = {name: self._new_socket(manager, name, auth) for name in names}
        manager.on("error", self._note_engine_error)
        manager.on("reconnect_failed", lambda: self._finished(sockets))
        self._manager, self._sockets = manager, sockets
        self._senders = {name: (s, _bridge.connection_state(s)) for name, s in sockets.items()}
        try:
            self._start(wait, wait_timeout, retry)
        except BaseException:
            self._teardown()
            raise
        self._open = True

    def _namespaces_to_connect(self, namespaces: Union[str, list[str], None]) -> list[str]:
        if isinstance(namespaces, str):
            return [namespaces]
        if namespaces is not None:
            return list(namespaces)
        names = [n for n in {**self.handlers, **self.namespace_handlers} if n != "*"]
        return names or ["/"]

    def _new_manager(
        self,
        url: Union[str, Callable[[], str]],
        headers: Headers,
        transports: Union[str, list[str], None],
        socketio_path: str,
    ) -> greensio.Manager:
        options = dict(self._options.manager)
        options["path"] = "/" + socketio_path.strip("/")
        if transports is not None:
            options["transports"] = _transports(transports)
        options["extra_headers"] = _merged(self._options.headers, headers)
        if callable(url):  # called again at each reconnection, for its query
            get_url = url
            options["query"] = lambda: dict(parse_qsl(urlsplit(get_url()).query))
            url = urlunsplit(urlsplit(get_url())._replace(query=""))
        return greensio.Manager(url, **options)

    def _new_socket(self, manager: greensio.Manager, namespace: str, auth: Any) -> greensio.Socket:
        socket = manager.socket(namespace, auth=auth, auto_connect=False)
        handled = self._handled[namespace] = Event()
        trigger = self._trigger_event
        _bridge.route_events(socket, lambda event, args: trigger(event, namespace, *args))

        def on_connect() -> None:
            try:
                trigger("connect", namespace)
            finally:
                handled.set()

        def on_connect_error(err: greensio.ConnectionError) -> None:
            trigger("connect_error", namespace, self._connect_error_data(err))

        def on_disconnect(reason: str) -> None:
            try:
                trigger("disconnect", namespace, _REASONS.get(reason, Reason.TRANSPORT_ERROR))
            finally:
                if not socket.active:
                    self._finished({namespace: socket})

        socket.on("connect", on_connect)
        socket.on("connect_error", on_connect_error)
        socket.on("disconnect", on_disconnect)
        return socket

    def _start(self, wait: bool, wait_timeout: float, retry: bool) -> None:
        """Connect every socket at once; raise as python-socketio's ``connect()`` does."""
        manager, sockets = self._manager, self._sockets
        assert manager is not None
        for socket in sockets.values():
            socket.connect(wait=False)  # every CONNECT goes out as soon as Engine.IO is open
        first = next(iter(sockets.values()))
        try:
            if retry:
                first.connect(wait=True)  # until connected or the reconnection options give up
            else:
                _bridge.connect_once(first, self._options.request_timeout + wait_timeout)
        except (greensio.ConnectionError, greensio.TimeoutError) as exc:
            if manager.stats.connects == 0:  # Engine.IO never opened
                cause = self._engine_error or exc.__cause__ or exc
                raise exceptions.ConnectionError(str(cause) or "Connection error") from exc
        if wait:
            self._wait_for_namespaces(wait_timeout)

    def _wait_for_namespaces(self, wait_timeout: float) -> None:
        deadline = _now() + wait_timeout
        for socket in self._sockets.values():
            if socket.active and not socket.connected:
                try:
                    socket.connect(wait=True, timeout=max(0.0, deadline - _now()))
                except (greensio.ConnectionError, greensio.TimeoutError):
                    pass  # judged below
        failed = [name for name, s in self._sockets.items() if not s.connected and not s.active]
        if failed:
            self.failed_namespaces = failed
            raise exceptions.ConnectionError("One or more namespaces failed to connect: " + ", ".join(failed))
        if not all(s.connected for s in self._sockets.values()):
            raise exceptions.ConnectionError("Unexpected connection error")
        for name in self._sockets:
            self._handled[name].wait(max(0.0, deadline - _now()))

    def _note_engine_error(self, err: BaseException) -> None:
        self._engine_error = err

    def _connect_error_data(self, err: greensio.ConnectionError) -> Any:
        """What python-socketio gives a connect_error handler: the cause, or the server's refusal."""
        if err is self._engine_error:
            return str(err)
        refusal: dict[str, Any] = {"message": str(err)}
        if err.data is not None:
            refusal["data"] = err.data
        return refusal

    def _finished(self, sockets: dict[str, greensio.Socket]) -> None:
        """Namespaces that will not reconnect: tell SimpleClient."""
        if self._on_final is not None:
            for name, socket in sockets.items():
                if self._sockets.get(name) is socket:
                    self._on_final(name)

    def wait(self) -> None:
        """Block until the connection has ended for good (disconnected and not reconnecting)."""
        for socket in list(self._sockets.values()):
            socket.wait()

    def disconnect(self) -> None:
        """Leave every namespace and close the connection, after what was already emitted is sent.

        Also stops a reconnection in progress.
        """
        self._teardown()

    def shutdown(self) -> None:
        """Disconnect, or stop reconnecting."""
        self._teardown()

    def _teardown(self) -> None:
        self._open = False
        for socket in list(self._sockets.values()):
            socket.disconnect()

    # -- sending ------------------------------------------------------------------

    def emit(
        self, event: str, data: Any = None, namespace: Optional[str] = None, callback: Optional[Handler] = None
    ) -> None:
        """Send ``event`` (a tuple ``data`` is several arguments); ``callback(*ack_args)`` on the server's ack.

        Raises ``BadNamespaceError`` when ``namespace`` is not connected.
        """
        sender = self._senders.get(namespace or "/")
        if sender is None or not sender[1].connected:
            raise _not_connected(namespace)
        socket = sender[0]
        if callback is None:  # the hot path: no keyword argument to pass on
            if isinstance(data, tuple):
                socket.emit(event, *data)
            elif data is None:
                socket.emit(event)
            else:
                socket.emit(event, data)
        else:
            socket.emit(event, *_args(data), callback=callback)

    def send(self, data: Any, namespace: Optional[str] = None, callback: Optional[Handler] = None) -> None:
        """``emit('message', data, ...)``."""
        self.emit("message", data=data, namespace=namespace, callback=callback)

    def call(self, event: str, data: Any = None, namespace: Optional[str] = None, timeout: Optional[float] = 60) -> Any:
        """Emit and wait for the ack: None, its value, or a tuple of its values.

        Raises ``TimeoutError`` after ``timeout`` seconds, ``BadNamespaceError``
        when not connected, and ``DisconnectedError`` (also a ``TimeoutError``)
        as soon as the connection ends while waiting.
        """
        sender = self._senders.get(namespace or "/")
        if sender is None or not sender[1].connected:
            raise _not_connected(namespace)
        args = data if isinstance(data, tuple) else () if data is None else (data,)
        try:
            return sender[0].call(event, *args, timeout=timeout)
        except greensio.DisconnectedError as exc:
            raise exceptions.CallDisconnectedError(str(exc)) from None
        except greensio.TimeoutError:
            raise exceptions.TimeoutError(f"no answer to {event!r} within {timeout} s") from None

    # -- dispatch -------------------------------------------------------------------

    def _trigger_event(self, event: str, namespace: str, *args: Any) -> Any:
        """Run the handler of ``event`` as python-socketio picks it; its result is the ack."""
        handler: Optional[Handler] = None
        own = self.handlers.get(namespace)
        if own is not None:
            handler = own.get(event)
            if handler is None and event not in RESERVED_EVENTS:
                handler = own.get("*")
                args = (event, *args)
        else:
            anywhere = self.handlers.get("*")
            if anywhere is not None:
                handler = anywhere.get(event)
                if handler is not None:
                    args = (namespace, *args)
                elif event not in RESERVED_EVENTS:
                    handler = anywhere.get("*")
                    args = (event, namespace, *args)
        if handler is not None:
            return call_handler(event, handler, args)
        namespace_handler = self.namespace_handlers.get(namespace)
        if namespace_handler is None:
            namespace_handler = self.namespace_handlers.get("*")
            args = (namespace, *args)
        if namespace_handler is not None:
            return namespace_handler.trigger_event(event, *args)
        return None

    # -- utilities ------------------------------------------------------------------

    def start_background_task(self, target: Callable[..., Any], *args: Any, **kwargs: Any) -> gevent.Greenlet:
        """Run ``target(*args, **kwargs)`` in a new greenlet (``join()`` waits for it)."""
        return gevent.spawn(target, *args, **kwargs)

    def sleep(self, seconds: float = 0) -> None:
        """``gevent.sleep``."""
        gevent.sleep(seconds)


def _not_connected(namespace: Optional[str]) -> exceptions.BadNamespaceError:
    return exceptions.BadNamespaceError(f"{namespace or '/'} is not a connected namespace.")


def _transports(transports: Union[str, list[str]]) -> tuple[str, ...]:
    if isinstance(transports, str):
        transports = [transports]
    valid = tuple(t for t in transports if t in ("polling", "websocket"))
    if not valid:
        raise ValueError("No valid transports provided")
    return valid


def _merged(base: dict[str, str], headers: Headers) -> Headers:
    """The connect() headers over websocket_extra_options' ones (a callable stays one)."""
    if not base:
        return headers
    if callable(headers):
        get_headers = headers
        return lambda: {**base, **get_headers()}
    return {**base, **headers}
