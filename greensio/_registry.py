"""What greensio keeps per process: shared Managers, servers that upgraded, and the fork and exit hooks.

- Multiplexing: a Socket reuses a live Manager for the same scheme, host, port and
  path only if every Manager option is equal (security settings are never shared
  silently) and the namespace is free on it.
- ``remember_upgrade``: servers this process upgraded to WebSocket, as the JS
  client's ``priorWebsocketSuccess``.
- ``remember_protocol``: the Engine.IO protocol each server spoke, so that a
  Socket.IO 2.x server is asked in v3 at once after the first detection.
- After ``os.fork()`` the child forgets the shared Managers, and every Manager of
  the parent becomes inert in it (never touching the parent's connection).
- At interpreter exit, what connected sockets already queued is flushed (bounded).
"""

from __future__ import annotations

import atexit
import logging
import os
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional

if TYPE_CHECKING:
    from ._core.protocol import Protocol
    from ._manager import Manager

__all__ = [
    "shared_manager",
    "share",
    "track",
    "remember_upgrade",
    "upgraded_before",
    "remember_protocol",
    "protocol_for",
    "EXIT_FLUSH_TIMEOUT",
]

log = logging.getLogger("greensio")
EXIT_FLUSH_TIMEOUT = 1.0  # seconds for every connected socket together at interpreter exit

ServerKey = tuple[str, str, int, str]  # scheme, host, port, path

_shared: dict[ServerKey, list[weakref.ref[Manager]]] = {}
# id(manager) -> (abandon in a forked child, flush at exit), as weak methods
_hooks: dict[int, tuple[weakref.WeakMethod[Callable[[], None]], weakref.WeakMethod[Callable[[], bool]]]] = {}
_upgraded: set[ServerKey] = set()
_protocols: dict[ServerKey, Protocol] = {}


def shared_manager(key: ServerKey, fits: Callable[[Manager], bool]) -> Any:
    """A live shared Manager for ``key`` that ``fits``, or None."""
    refs = _shared.get(key)
    if not refs:
        return None
    alive = [ref for ref in refs if ref() is not None]
    _shared[key] = alive
    for ref in alive:
        manager = ref()
        if manager is not None and fits(manager):
            return manager
    return None


def share(key: ServerKey, manager: Manager) -> None:
    """Offer ``manager`` to later Sockets of the same server and options."""
    _shared.setdefault(key, []).append(weakref.ref(manager))


def track(owner: object, abandon: Callable[[], None], flush_at_exit: Callable[[], bool]) -> None:
    """Call ``abandon()`` in a forked child and ``flush_at_exit()`` at interpreter exit, while ``owner`` lives.

    ``flush_at_exit`` returns False when it had nothing to flush.
    """
    key = id(owner)
    _hooks[key] = (weakref.WeakMethod(abandon), weakref.WeakMethod(flush_at_exit))
    forget = weakref.finalize(owner, _hooks.pop, key, None)
    forget.atexit = False  # at exit the hooks must still be there for _flush_at_exit


def remember_upgrade(key: ServerKey) -> None:
    _upgraded.add(key)


def upgraded_before(key: ServerKey) -> bool:
    return key in _upgraded


def remember_protocol(key: ServerKey, protocol: Protocol) -> None:
    """The server at ``key`` answered in ``protocol``."""
    _protocols[key] = protocol


def protocol_for(key: ServerKey) -> Optional[Protocol]:
    """The protocol the server at ``key`` last answered in, or None if unknown."""
    return _protocols.get(key)


def _after_fork_in_child() -> None:
    _shared.clear()
    for abandon, _ in list(_hooks.values()):
        method = abandon()
        if method is not None:
            method()


def _flush_at_exit() -> None:
    import gevent

    flushes = [flush() for _, flush in list(_hooks.values())]
    with gevent.Timeout(EXIT_FLUSH_TIMEOUT, False):
        for flush in flushes:
            if flush is not None:
                flush()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_flush_at_exit)
