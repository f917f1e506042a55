"""Calling user handlers as python-socketio does: a disconnect handler may omit the reason."""

from __future__ import annotations

import inspect
from typing import Any, Callable

__all__ = ["call_handler"]


def call_handler(event: str, handler: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """``handler(*args)``; a ``disconnect`` handler that takes no reason gets ``args`` without it.

    The signature is checked, not the call retried on TypeError, so a TypeError
    raised inside a handler is not mistaken for a missing parameter.
    """
    if event == "disconnect" and args and not _accepts(handler, len(args)):
        args = args[:-1]
    return handler(*args)


def _accepts(handler: Callable[..., Any], count: int) -> bool:
    try:
        inspect.signature(handler).bind(*range(count))
    except TypeError:
        return False
    except ValueError:  # no signature (some builtins): let the call tell
        return True
    return True
