"""Listener registry: on/once/off/listeners and the catch-all listeners, as in the JS client."""

from __future__ import annotations

from typing import Any, Callable, Optional, TypeVar, Union, overload

__all__ = ["Emitter", "take", "catch_all_lists", "listener_mode", "NOBODY", "DIRECT", "GREENLET"]

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)


class Emitter:
    """Named-event listeners plus incoming and outgoing catch-all listeners."""

    __slots__ = ("_listeners", "_any", "_any_outgoing")

    def __init__(self) -> None:
        self._listeners: dict[str, list[tuple[Handler, bool]]] = {}
        self._any: list[Handler] = []
        self._any_outgoing: list[Handler] = []

    @overload
    def on(self, event: str) -> Callable[[H], H]: ...
    @overload
    def on(self, event: str, handler: H) -> H: ...

    def on(self, event: str, handler: Optional[H] = None) -> Union[H, Callable[[H], H]]:
        """Register ``handler`` for ``event``; usable as a decorator."""
        return self._add(event, handler, once=False)

    @overload
    def once(self, event: str) -> Callable[[H], H]: ...
    @overload
    def once(self, event: str, handler: H) -> H: ...

    def once(self, event: str, handler: Optional[H] = None) -> Union[H, Callable[[H], H]]:
        """Register ``handler`` for the next ``event`` only."""
        return self._add(event, handler, once=True)

    def _add(self, event: str, handler: Optional[H], once: bool) -> Union[H, Callable[[H], H]]:
        if handler is None:
            return lambda h: self._add(event, h, once)  # type: ignore[return-value]
        if not callable(handler):
            raise TypeError(f"handler for {event!r} is not callable")
        self._listeners.setdefault(event, []).append((handler, once))
        return handler

    def off(self, event: Optional[str] = None, handler: Optional[Handler] = None) -> None:
        """Remove one handler, all handlers of ``event``, or every handler."""
        if event is None:
            self._listeners.clear()
        elif handler is None:
            self._listeners.pop(event, None)
        else:
            entries = self._listeners.get(event, [])
            for i, (h, _) in enumerate(entries):
                if h == handler:
                    del entries[i]
                    break
            if not entries:
                self._listeners.pop(event, None)

    def listeners(self, event: str) -> list[Handler]:
        """The handlers registered for ``event``, in order."""
        return [h for h, _ in self._listeners.get(event, ())]

    def on_any(self, handler: H) -> H:
        """Register a catch-all ``handler(event, *args)`` for incoming events."""
        self._any.append(handler)
        return handler

    def prepend_any(self, handler: H) -> H:
        """Like ``on_any``, called before the others."""
        self._any.insert(0, handler)
        return handler

    def off_any(self, handler: Optional[Handler] = None) -> None:
        """Remove one incoming catch-all handler, or all of them."""
        _remove(self._any, handler)

    def listeners_any(self) -> list[Handler]:
        """The incoming catch-all handlers."""
        return list(self._any)

    def on_any_outgoing(self, handler: H) -> H:
        """Register ``handler(event, *args)`` for every event this socket sends."""
        self._any_outgoing.append(handler)
        return handler

    def prepend_any_outgoing(self, handler: H) -> H:
        """Like ``on_any_outgoing``, called before the others."""
        self._any_outgoing.insert(0, handler)
        return handler

    def off_any_outgoing(self, handler: Optional[Handler] = None) -> None:
        """Remove one outgoing catch-all handler, or all of them."""
        _remove(self._any_outgoing, handler)

    def listeners_any_outgoing(self) -> list[Handler]:
        """The outgoing catch-all handlers."""
        return list(self._any_outgoing)


def _remove(handlers: list[Handler], handler: Optional[Handler]) -> None:
    if handler is None:
        handlers.clear()
    elif handler in handlers:
        handlers.remove(handler)


def take(emitter: Emitter, event: str) -> list[Handler]:
    """The handlers to call for one ``event``, removing the ``once`` ones."""
    listeners = emitter._listeners
    entries = listeners.get(event)
    if not entries:
        return []
    if len(entries) == 1:  # the common case, without a scan
        handler, once = entries[0]
        if once:
            del listeners[event]
        return [handler]
    if any(once for _, once in entries):
        kept = [e for e in entries if not e[1]]
        if kept:
            listeners[event] = kept
        else:
            del listeners[event]
    return [h for h, _ in entries]


def catch_all_lists(emitter: Emitter) -> tuple[list[Handler], list[Handler]]:
    """The live lists of incoming and outgoing catch-all handlers (changed in place, never replaced)."""
    return emitter._any, emitter._any_outgoing


NOBODY, DIRECT, GREENLET = "nobody", "direct", "greenlet"


def listener_mode(emitter: Emitter, event: Any) -> str:
    """How an incoming ``event`` must be handled: NOBODY listens; DIRECT, every listener is
    greensio's own and never blocks (marked ``direct = True``), so it runs where it is read;
    GREENLET, a user's handler: in a handler greenlet."""
    entries = emitter._listeners.get(event) if type(event) is str else None
    if not entries:
        return NOBODY
    for handler, _ in entries:
        if not getattr(handler, "direct", False):
            return GREENLET
    return DIRECT
