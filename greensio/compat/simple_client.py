"""``SimpleClient``: python-socketio's blocking client (``receive()`` instead of handlers)."""

from __future__ import annotations

from time import monotonic
from typing import Any, Callable, Optional, Union

from gevent.event import Event

from . import exceptions
from .client import Client, Headers

__all__ = ["SimpleClient"]


class SimpleClient:
    """One namespace; events wait in a buffer for ``receive()``.

    The constructor's arguments are ``Client``'s. While the connection is being
    re-established, ``emit()`` and ``call()`` wait for it; once it has ended for
    good they raise ``DisconnectedError``, and so does a ``receive()`` that was
    waiting (python-socketio's waits out its timeout).
    """

    client_class = Client

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.client_args = args
        self.client_kwargs = kwargs
        self.client: Optional[Client] = None
        self.namespace = "/"
        self.connected = False
        self.input_buffer: list[list[Any]] = []
        self._reconnecting = False
        self._changed = Event()  # an event arrived, or the connection state changed

    def connect(
        self,
        url: Union[str, Callable[[], str]],
        headers: Optional[Headers] = None,
        auth: Any = None,
        transports: Union[str, list[str], None] = None,
        namespace: str = "/",
        socketio_path: str = "socket.io",
        wait_timeout: float = 5,
    ) -> None:
        """Connect to ``namespace`` of a Socket.IO server; raises ``exceptions.ConnectionError``."""
        if self.connected:
            raise RuntimeError("Already connected")
        self.namespace = namespace
        self.input_buffer = []
        self._reconnecting = False
        client = self.client = self.client_class(*self.client_args, **self.client_kwargs)
        client.on("connect", self._on_connect, namespace=namespace)
        client.on("disconnect", self._on_disconnect, namespace=namespace)
        client.on("*", self._on_event, namespace=namespace)
        client._on_final = self._on_final
        client.connect(
            url,
            headers=headers,
            auth=auth,
            transports=transports,
            namespaces=[namespace],
            socketio_path=socketio_path,
            wait_timeout=wait_timeout,
        )

    @property
    def sid(self) -> Optional[str]:
        """The namespace's session id (not the Engine.IO one), None when not connected."""
        return self.client.get_sid(self.namespace) if self.client is not None else None

    @property
    def transport(self) -> str:
        """``'polling'`` or ``'websocket'``; ``''`` without a client."""
        return (self.client.transport() or "") if self.client is not None else ""

    def emit(self, event: str, data: Any = None) -> None:
        """Send an event (a tuple is several arguments); waits while reconnecting."""
        while True:
            client = self._ready_client()
            try:
                client.emit(event, data, namespace=self.namespace)
                return
            except exceptions.BadNamespaceError:
                self._reconnecting = True  # the disconnect handler has not run yet: wait for what comes next

    def call(self, event: str, data: Any = None, timeout: Optional[float] = 60) -> Any:
        """Emit and wait for the ack (see ``Client.call``); waits while reconnecting."""
        while True:
            client = self._ready_client()
            try:
                return client.call(event, data, namespace=self.namespace, timeout=timeout)
            except exceptions.BadNamespaceError:
                self._reconnecting = True

    def receive(self, timeout: Optional[float] = None) -> list[Any]:
        """The next event as ``[name, *args]``; raises ``TimeoutError``, or ``DisconnectedError`` once disconnected."""
        deadline = None if timeout is None else monotonic() + timeout
        while not self.input_buffer:
            if not self.connected:
                raise exceptions.DisconnectedError("the client is not connected")
            if not self._wait(lambda: bool(self.input_buffer) or not self.connected, deadline):
                raise exceptions.TimeoutError(f"no event within {timeout} s")
        return self.input_buffer.pop(0)

    def disconnect(self) -> None:
        """Disconnect (what was emitted before is sent first)."""
        if self.connected and self.client is not None:
            client, self.client = self.client, None
            self.connected = False
            client.disconnect()
            self._changed.set()

    def __enter__(self) -> SimpleClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.disconnect()

    # -- state, from the client's handlers ----------------------------------------

    def _ready_client(self) -> Client:
        """The client once connected and not reconnecting; DisconnectedError if that will not happen."""
        self._wait(lambda: not self._reconnecting or not self.connected, None)
        if not self.connected or self.client is None:
            raise exceptions.DisconnectedError("the client is not connected")
        return self.client

    def _wait(self, ready: Callable[[], bool], deadline: Optional[float]) -> bool:
        while not ready():
            self._changed.clear()
            if ready():
                break
            left = None if deadline is None else deadline - monotonic()
            if (left is not None and left <= 0) or not self._changed.wait(left):
                return False
        return True

    def _on_connect(self) -> None:
        self.connected = True
        self._reconnecting = False
        self._changed.set()

    def _on_disconnect(self) -> None:
        self._reconnecting = True
        self._changed.set()

    def _on_final(self, namespace: str) -> None:
        if namespace == self.namespace:
            self.connected = False
            self._reconnecting = False
            self._changed.set()

    def _on_event(self, event: str, *args: Any) -> None:
        self.input_buffer.append([event, *args])
        self._changed.set()
