"""The ``greensio`` command: listen to a Socket.IO server's events, or emit one.

    greensio listen URL [--count N] [--timeout S] [common options]
    greensio emit URL EVENT [JSON_ARG ...] [--ack] [--timeout S] [--linger S] [common options]
    common options: [--namespace NS] [--auth JSON] [--transports LIST] [--path PATH] [--verbose]

``listen`` prints each incoming event as one JSON line ``{"event": name, "args": [...]}``
(binary arguments as ``{"base64": "..."}``) and ``connected <id>`` on stderr once
connected. ``emit`` parses each argument as JSON; with ``--ack`` it prints the list of
the ack's arguments as JSON.

Exit codes: 0 done (``listen`` also on SIGINT/SIGTERM), 1 connection failed or lost
(unreachable, or refused by the server), 2 usage error, 3 timeout; ``emit`` stopped by a
signal exits 128 + its number. The CLI never reconnects: it fails fast. This module
installs signal handlers (in ``main()`` only, as an application may); the library never does.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import math
import os
import signal
import sys
import time
from typing import Any, Callable, Optional, Sequence
from urllib.parse import urlsplit, urlunsplit

import gevent
from gevent.event import AsyncResult

import greensio

__all__ = ["main"]

EXIT_OK, EXIT_CONNECTION, EXIT_USAGE, EXIT_TIMEOUT = 0, 1, 2, 3
CONNECT_TIMEOUT = 20.0  # seconds, when --timeout does not say otherwise
# Socket.IO servers run event handlers asynchronously (Node on the next tick, python-socketio in a
# task) and drop an event whose socket has gone by then: an EVENT followed at once by the DISCONNECT
# is lost. Without an ack nothing tells the client the event was handled, so it stays a little.
LINGER = 0.2  # seconds
TRANSPORTS = ("polling", "websocket")


class _Failure(Exception):
    """Ends a command with an exit code and a message for stderr."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- argument parsing -------------------------------------------------------------


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid JSON {text!r} ({exc}); quote strings, e.g. '\"hello\"'") from None


def _json_object(text: str) -> dict[str, Any]:
    value = _json_value(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _transports(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or not set(names) <= set(TRANSPORTS):
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {','.join(TRANSPORTS)}, got {text!r}")
    return names


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _seconds(text: str) -> float:
    value = _float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _non_negative_seconds(text: str) -> float:
    value = _float(text)
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number of seconds (0 or more), got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("url", metavar="URL", help="server URL, e.g. http://localhost:3000 (its path is the namespace)")
    common.add_argument("--namespace", "-n", metavar="NS", help="namespace, e.g. /chat (replaces the URL's path)")
    common.add_argument("--auth", type=_json_object, metavar="JSON", help="CONNECT auth payload, a JSON object")
    common.add_argument(
        "--transports",
        type=_transports,
        default=["websocket"],
        metavar="LIST",
        help="comma-separated transports to use (default: websocket)",
    )
    common.add_argument("--path", default="/socket.io", help="the server's Socket.IO path (default: /socket.io)")
    common.add_argument("--verbose", "-v", action="store_true", help="log the client's debug messages to stderr")

    parser = argparse.ArgumentParser(
        prog="greensio",
        description="A Socket.IO client (protocol v5) on the command line.",
        epilog="exit codes: 0 ok, 1 connection failed or lost, 2 usage error, 3 timeout",
    )
    parser.add_argument("--version", action="version", version=f"greensio {greensio.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    listen = commands.add_parser(
        "listen",
        parents=[common],
        help="print incoming events as JSON lines",
        description="Print each incoming event as one JSON line until --count events arrived or SIGINT/SIGTERM.",
    )
    listen.add_argument("--count", type=_positive_int, metavar="N", help="exit 0 after N events")
    listen.add_argument(
        "--timeout",
        type=_seconds,
        metavar="S",
        help=f"deadline in seconds for connecting and, with --count, for the N events "
        f"(default: {CONNECT_TIMEOUT:g} s to connect, then no limit)",
    )

    emit = commands.add_parser(
        "emit",
        parents=[common],
        help="send one event",
        description="Send one event; each JSON_ARG is one argument, parsed as JSON.",
    )
    emit.add_argument("event", metavar="EVENT")
    emit.add_argument("args", metavar="JSON_ARG", nargs="*", type=_json_value)
    emit.add_argument("--ack", action="store_true", help="ask for an ack and print its arguments as a JSON list")
    emit.add_argument(
        "--linger",
        type=_non_negative_seconds,
        default=LINGER,
        metavar="S",
        help=f"without --ack, stay connected S seconds after sending (default: {LINGER:g}): servers "
        "drop an event that arrives together with the disconnect",
    )
    emit.add_argument(
        "--timeout",
        type=_seconds,
        default=CONNECT_TIMEOUT,
        metavar="S",
        help=f"deadline in seconds for the whole command, ack included (default: {CONNECT_TIMEOUT:g})",
    )
    return parser


def _target(url: str, namespace: Optional[str]) -> str:
    if namespace is None:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + namespace.lstrip("/")))


# -- running ------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def to_json(value: Any) -> str:
    """``value`` as compact JSON text; bytes anywhere become ``{"base64": "..."}``."""
    return json.dumps(value, default=_json_default, ensure_ascii=False, separators=(", ", ": "))


class _Deadline:
    """``seconds`` from now, or none."""

    def __init__(self, seconds: Optional[float]) -> None:
        self.seconds = seconds
        self._end = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> Optional[float]:
        if self._end is None:
            return None
        return max(0.001, self._end - time.monotonic())


def _open(args: argparse.Namespace, deadline: _Deadline) -> greensio.Socket:
    """A Socket, not yet connected, so handlers can be added before the first event."""
    connect_timeout = deadline.seconds or CONNECT_TIMEOUT
    try:
        return greensio.Socket(
            _target(args.url, args.namespace),
            auth=args.auth,
            transports=args.transports,
            path=args.path,
            reconnection=False,
            force_new=True,
            auto_connect=False,
            timeout=connect_timeout + 1,  # the overall deadline in _connect() fires first, as a TimeoutError
        )
    except ValueError as exc:  # e.g. not an http(s):// or ws(s):// URL
        raise _Failure(EXIT_USAGE, str(exc)) from None


def _connect(sio: greensio.Socket, deadline: _Deadline) -> None:
    timeout = deadline.remaining() or CONNECT_TIMEOUT
    try:
        sio.connect(wait=True, timeout=timeout)
    except greensio.TimeoutError:
        raise _Failure(EXIT_TIMEOUT, f"timeout: not connected within {deadline.seconds or timeout:g} s") from None
    except greensio.ConnectionError as err:
        detail = "" if err.data is None else f" (data: {to_json(err.data)})"
        raise _Failure(EXIT_CONNECTION, f"connection failed: {err or type(err).__name__}{detail}") from None


def _write_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _listen(args: argparse.Namespace) -> int:
    deadline = _Deadline(args.timeout)
    sio = _open(args, deadline)
    finished: AsyncResult = AsyncResult()
    seen = 0

    def print_event(event: str, *event_args: Any) -> None:
        nonlocal seen
        if finished.ready():
            return
        try:
            _write_line(to_json({"event": event, "args": list(event_args)}))
        except BrokenPipeError:  # e.g. `greensio listen ... | head -1`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            finished.set(EXIT_OK)
            return
        seen += 1
        if args.count is not None and seen >= args.count:
            finished.set(EXIT_OK)

    def on_disconnect(reason: str) -> None:
        if not finished.ready():
            finished.set_exception(_Failure(EXIT_CONNECTION, f"disconnected: {reason}"))

    sio.on_any(print_event)
    sio.on("disconnect", on_disconnect)
    try:
        _connect(sio, deadline)
        print(f"connected {sio.id}", file=sys.stderr, flush=True)
        try:
            return int(finished.get(timeout=deadline.remaining() if args.count is not None else None))
        except gevent.Timeout:
            raise _Failure(EXIT_TIMEOUT, f"timeout: {seen} of {args.count} events within {args.timeout:g} s") from None
    finally:
        sio.disconnect()


def _emit(args: argparse.Namespace) -> int:
    deadline = _Deadline(args.timeout)
    sio = _open(args, deadline)
    try:
        _connect(sio, deadline)
        if not args.ack:
            sio.emit(args.event, *args.args)
            gevent.sleep(args.linger)  # see LINGER; disconnect() below flushes the event anyway
            return EXIT_OK
        acked: AsyncResult = AsyncResult()
        sio.emit(args.event, *args.args, callback=lambda err, *ack: acked.set((err, ack)), timeout=deadline.remaining())
        err, ack = acked.get()
        if isinstance(err, greensio.TimeoutError):
            raise _Failure(EXIT_TIMEOUT, f"timeout: no ack for {args.event!r} within {args.timeout:g} s")
        if err is not None:
            raise _Failure(EXIT_CONNECTION, f"no ack for {args.event!r}: {err}")
        _write_line(to_json(list(ack)))
        return EXIT_OK
    finally:
        sio.disconnect()


Command = Callable[[argparse.Namespace], int]


def _run(command: Command, args: argparse.Namespace, on_signal: Callable[[int], int]) -> int:
    """Run ``command`` in a greenlet; SIGINT/SIGTERM end it with ``on_signal(signum)``.

    The greenlet is killed then, so its ``finally`` disconnects cleanly.
    """
    result: AsyncResult = AsyncResult()

    def stop(signum: int) -> None:
        if not result.ready():
            result.set(on_signal(signum))

    def done(worker: gevent.Greenlet) -> None:
        if not result.ready():  # an unexpected exception was already printed by gevent
            result.set(worker.value if worker.successful() else EXIT_CONNECTION)

    handlers = [gevent.signal_handler(signum, stop, signum) for signum in (signal.SIGINT, signal.SIGTERM)]
    worker = gevent.Greenlet(_report, command, args)
    worker.link(done)
    worker.start()
    try:
        return int(result.get())
    finally:
        worker.kill()
        for handler in handlers:
            handler.cancel()


def _report(command: Command, args: argparse.Namespace) -> int:
    try:
        return command(args)
    except _Failure as failure:
        print(f"greensio: error: {failure}", file=sys.stderr, flush=True)
        return failure.code


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``greensio`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (argparse printed it)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="greensio: %(levelname)s %(name)s: %(message)s"
    )
    if args.command == "listen":
        return _run(_listen, args, lambda signum: EXIT_OK)
    return _run(_emit, args, lambda signum: 128 + signum)
