"""``ClientNamespace``: python-socketio's class-based handlers (``on_<event>`` methods)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from ._calls import call_handler

if TYPE_CHECKING:
    from .client import Client

__all__ = ["ClientNamespace"]


class ClientNamespace:
    """Handlers of one namespace as methods: event ``x`` calls ``on_x(*args)``.

    Register an instance with ``Client.register_namespace()``; ``'*'`` as the
    namespace catches every namespace without handlers of its own (its methods
    then get the namespace first). ``emit``, ``send``, ``call`` and ``disconnect``
    default to this namespace.
    """

    def __init__(self, namespace: Optional[str] = None) -> None:
        self.namespace = namespace or "/"
        self.client: Optional[Client] = None

    def is_asyncio_based(self) -> bool:
        """False: this namespace works with the gevent-based ``Client``."""
        return False

    def _set_client(self, client: Client) -> None:
        self.client = client

    def trigger_event(self, event: str, *args: Any) -> Any:
        """Call the ``on_<event>`` method if there is one and return its result (the ack).

        Override it to route events differently.
        """
        handler: Optional[Callable[..., Any]] = getattr(self, "on_" + (event or ""), None)
        if handler is None:
            return None
        return call_handler(event, handler, args)

    def emit(
        self,
        event: str,
        data: Any = None,
        namespace: Optional[str] = None,
        callback: Optional[Callable[..., Any]] = None,
    ) -> None:
        """``Client.emit`` on this namespace unless ``namespace`` is given."""
        self._client().emit(event, data=data, namespace=namespace or self.namespace, callback=callback)

    def send(
        self,
        data: Any,
        room: Optional[str] = None,
        namespace: Optional[str] = None,
        callback: Optional[Callable[..., Any]] = None,
    ) -> None:
        """``Client.send`` on this namespace unless ``namespace`` is given (``room`` is ignored)."""
        self._client().send(data, namespace=namespace or self.namespace, callback=callback)

    def call(
        self, event: str, data: Any = None, namespace: Optional[str] = None, timeout: Optional[float] = None
    ) -> Any:
        """``Client.call`` on this namespace unless ``namespace`` is given; no timeout by default."""
        return self._client().call(event, data=data, namespace=namespace or self.namespace, timeout=timeout)

    def disconnect(self) -> None:
        """``Client.disconnect()``: the whole client, as in python-socketio."""
        self._client().disconnect()

    def _client(self) -> Client:
        if self.client is None:
            raise RuntimeError("this namespace is not registered with a client (Client.register_namespace)")
        return self.client
