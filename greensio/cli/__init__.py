"""The ``greensio`` command: a Socket.IO client on the command line, like wscat for WebSocket.

    greensio listen URL [--count N] [--ack JSON] [--timeout S] [common options]
    greensio emit URL EVENT [JSON_ARG ...] [--ack] [--timeout S] [--linger S] [common options]
    greensio shell URL [--ack JSON] [--timeout S] [--linger S] [common options]

``listen`` prints each incoming event as ``{"event": name, "args": [...]}`` (binary arguments as
``{"base64": "..."}``) and ``connected <id>`` on stderr once connected. ``emit`` parses each
argument as JSON; with ``--ack`` it prints the list of the ack's arguments. ``shell`` emits each
stdin line ``[--ack] EVENT [JSON_ARG ...]`` and prints acks as ``{"ack": EVENT, "line": N,
"args": [...]}`` and incoming events as ``listen`` does. Output is one JSON line per result, or
indented and coloured JSON on a terminal (``--format``). See ``greensio COMMAND --help``.

Exit codes: 0 done (``listen`` and ``shell`` also on SIGINT/SIGTERM), 1 connection failed or lost,
2 usage error (``shell``: a line could not be sent), 3 timeout (``shell``: an ack did not come);
``emit`` stopped by a signal exits 128 + its number. The CLI never reconnects: it fails fast. This
package installs signal handlers (in ``main()`` only, as an application may); the library never does.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import traceback
from typing import Callable, Optional, Sequence

import gevent
from gevent.event import AsyncResult

from ._args import UsageError, parse_args
from ._commands import emit, listen
from ._connection import EXIT_CONNECTION, EXIT_USAGE, Failure, one_line
from ._output import Printer, timestamp, use_pretty
from ._shell import shell

__all__ = ["main"]

Command = Callable[[argparse.Namespace, Printer], int]
COMMANDS: dict[str, tuple[Command, Callable[[int], int]]] = {
    # command, and the exit code when SIGINT or SIGTERM stops it
    "listen": (listen, lambda signum: 0),
    "shell": (shell, lambda signum: 0),
    "emit": (emit, lambda signum: 128 + signum),
}
# By the count of -v. Without it, only errors: the command reports a failure itself, on one line (the
# library's WARNING for a failed connect would say it twice).
LOG_LEVELS = (logging.ERROR, logging.INFO, logging.DEBUG)


class _LogFormatter(logging.Formatter):
    def __init__(self, timestamps: bool) -> None:
        super().__init__("greensio: %(levelname)s %(name)s: %(message)s")
        self.timestamps = timestamps

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return f"{timestamp()} {text}" if self.timestamps else text


def _log_to_stderr(verbosity: int, timestamps: bool) -> Callable[[], None]:
    """Send the ``greensio`` logger's records at the level ``-v`` asks for to stderr; return the undo."""
    logger = logging.getLogger("greensio")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LogFormatter(timestamps))
    saved = logger.level, logger.propagate
    logger.setLevel(LOG_LEVELS[min(verbosity, len(LOG_LEVELS) - 1)])
    logger.propagate = False  # one line per record, whatever the root logger does
    logger.addHandler(handler)

    def undo() -> None:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]

    return undo


def _run(command: Command, args: argparse.Namespace, printer: Printer, on_signal: Callable[[int], int]) -> int:
    """Run ``command`` in a greenlet; SIGINT/SIGTERM end it with ``on_signal(signum)``.

    The greenlet is killed then, so its ``finally`` disconnects cleanly.
    """
    result: AsyncResult = AsyncResult()

    def stop(signum: int) -> None:
        if not result.ready():
            result.set(on_signal(signum))

    def done(worker: gevent.Greenlet) -> None:
        if not result.ready():
            result.set(worker.value if worker.successful() else EXIT_CONNECTION)

    handlers = [gevent.signal_handler(signum, stop, signum) for signum in (signal.SIGINT, signal.SIGTERM)]
    worker = gevent.Greenlet(_report, command, args, printer)
    worker.link(done)
    worker.start()
    try:
        return int(result.get())
    finally:
        worker.kill()
        for handler in handlers:
            handler.cancel()


def _report(command: Command, args: argparse.Namespace, printer: Printer) -> int:
    """Run ``command``; a failure becomes its exit code and one line on stderr."""
    try:
        return command(args, printer)
    except Failure as failure:
        printer.status(f"greensio: error: {failure}")
        return failure.code
    except Exception as exc:  # a bug: one line, and the traceback with -vv
        printer.status(f"greensio: error: unexpected {type(exc).__name__}: {one_line(exc)}")
        if args.verbose >= 2:
            traceback.print_exc()
        else:
            printer.status("greensio: run with -vv for the traceback")
        return EXIT_CONNECTION


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``greensio`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    try:
        args = parse_args(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr, flush=True)
        return EXIT_USAGE
    except SystemExit as exc:  # --help or --version (argparse printed it)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    pretty, color = use_pretty(args.format, sys.stdout)
    printer = Printer(pretty=pretty, color=color, timestamps=args.timestamps)
    command, on_signal = COMMANDS[args.command]
    undo_logging = _log_to_stderr(args.verbose, args.timestamps)
    try:
        return _run(command, args, printer, on_signal)
    finally:
        undo_logging()
