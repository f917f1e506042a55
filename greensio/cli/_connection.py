"""The commands' socket: built from the options, connected once (never reconnecting), failures as exit codes."""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable, Optional
from urllib.parse import urlsplit, urlunsplit

import greensio

from ._args import CONNECT_TIMEOUT, headers
from ._output import Printer, to_json

__all__ = ["Deadline", "Failure", "answer_calls", "connect", "open_socket", "print_events", "target"]

EXIT_OK, EXIT_CONNECTION, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3
MESSAGE_LIMIT = 300  # characters of a library error message shown on the one error line


class Failure(Exception):
    """Ends a command with an exit code and a message for stderr."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Deadline:
    """``seconds`` from now, or none."""

    def __init__(self, seconds: Optional[float]) -> None:
        self.seconds = seconds
        self._end = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> Optional[float]:
        if self._end is None:
            return None
        return max(0.001, self._end - time.monotonic())


def target(url: str, namespace: Optional[str]) -> str:
    """``url`` with its path replaced by ``namespace``, if given."""
    if namespace is None:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + namespace.lstrip("/")))


def one_line(error: BaseException) -> str:
    """An exception's message on one bounded line (its type name if it has none)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def socket_options(args: argparse.Namespace, connect_timeout: float) -> dict[str, Any]:
    """The greensio options the command line asks for."""
    options: dict[str, Any] = {
        "auth": args.auth,
        "path": args.path,
        "parser": args.parser,
        "reconnection": False,  # the CLI fails fast
        "force_new": True,
        "auto_connect": False,  # handlers first, then connect()
        "timeout": connect_timeout + 1,  # the overall deadline in connect() fires first, as a TimeoutError
    }
    extra_headers = headers(args.headers)
    if extra_headers:
        options["extra_headers"] = extra_headers
    if args.query:
        options["query"] = dict(args.query)
    if args.transports is not None:
        options["transports"] = args.transports
    if args.proxy is not None:
        options["proxy"] = args.proxy
    if args.ssl_context is not None:
        options["ssl_context"] = args.ssl_context
    return options


def open_socket(args: argparse.Namespace, deadline: Deadline) -> greensio.Socket:
    """A Socket, not yet connected, so handlers can be added before the first event."""
    try:
        return greensio.Socket(
            target(args.url, args.namespace), **socket_options(args, deadline.seconds or CONNECT_TIMEOUT)
        )
    except (ValueError, TypeError, ImportError) as exc:  # a bad URL or option value, msgpack not installed
        raise Failure(EXIT_USAGE, one_line(exc)) from None


def connect(sio: greensio.Socket, deadline: Deadline) -> None:
    """Connect once, or raise Failure: exit 3 on timeout, 1 on any other failure."""
    timeout = deadline.remaining() or CONNECT_TIMEOUT
    try:
        sio.connect(wait=True, timeout=timeout)
    except greensio.TimeoutError:
        raise Failure(EXIT_TIMEOUT, f"timeout: not connected within {deadline.seconds or timeout:g} s") from None
    except greensio.ConnectionError as err:
        detail = "" if err.data is None else f" (data: {to_json(err.data)})"
        raise Failure(EXIT_CONNECTION, f"connection failed: {one_line(err)}{detail}") from None
    except (greensio.Error, OSError, ValueError) as err:  # e.g. a proxy URL the library refuses only now
        raise Failure(EXIT_CONNECTION, f"connection failed: {one_line(err)}") from None


def print_events(sio: greensio.Socket, printer: Printer, on_event: Callable[[], None] = lambda: None) -> None:
    """Print each incoming event as ``{"event": name, "args": [...]}``, then call ``on_event()``."""

    def show(event: str, *event_args: Any) -> None:
        if not printer.closed:
            printer.record({"event": event, "args": list(event_args)})
            if not printer.closed:
                on_event()

    sio.on_any(show)


def answer_calls(sio: greensio.Socket, value: Any) -> None:
    """Answer every incoming event with the ack ``value`` (one argument) when the server asked for one.

    An ack goes out only from a handler registered for the event's name, and the names are not
    known in advance: the catch-all listener, which runs first, registers one for each new name.
    """

    def answer(*_: Any) -> tuple[Any]:
        return (value,)

    def register(event: str, *_: Any) -> None:
        if answer not in sio.listeners(event):
            sio.on(event, answer)

    sio.prepend_any(register)
