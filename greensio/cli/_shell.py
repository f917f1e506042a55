"""``greensio shell``: emit the events read from stdin, print acks and incoming events."""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import dataclass
from functools import partial
from typing import Any, Iterable, Optional

import gevent
from gevent.event import AsyncResult, Event

import greensio
from greensio._core.sio import RESERVED_EVENTS

from ._connection import (
    EXIT_CONNECTION,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    Deadline,
    Failure,
    answer_calls,
    connect,
    open_socket,
    print_events,
)
from ._output import Printer
from ._stdin import LineReader

__all__ = ["Line", "LineError", "parse_line", "shell"]

ACK_PREFIX = "--ack"
HINT = "type: EVENT [JSON_ARG ...], or --ack EVENT [JSON_ARG ...] to get an ack; Ctrl-D quits"
_ACK = re.compile(re.escape(ACK_PREFIX) + r"(?:\s+|$)")
_WORD = re.compile(r"\S+")
_decoder = json.JSONDecoder()


class LineError(ValueError):
    """A line of input that is not ``[--ack] EVENT [JSON_ARG ...]``."""


@dataclass(frozen=True)
class Line:
    """One parsed line of input: the event to emit, and whether to ask for an ack."""

    event: str
    args: list[Any]
    ack: bool = False


def parse_line(text: str) -> Optional[Line]:
    """``[--ack] EVENT [JSON_ARG ...]`` as a Line; None for a blank line or a ``#`` comment.

    The event name is a word, or a JSON string (for names with spaces); the arguments are
    JSON values separated by whitespace.
    """
    text = text.strip()
    if not text or text.startswith("#"):
        return None
    ack = _ACK.match(text)
    position = ack.end() if ack else 0
    if position == len(text):
        raise LineError(f"{ACK_PREFIX} needs an event name")
    event, position = _event_name(text, position)
    args = []
    while position < len(text):
        try:
            value, end = _decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise LineError(
                f'invalid JSON argument at column {exc.pos + 1}: {exc.msg} (strings need quotes: "hello")'
            ) from None
        if end < len(text) and not text[end].isspace():
            raise LineError(f"separate the JSON arguments with spaces (column {end + 1})")
        args.append(value)
        position = _skip_space(text, end)
    return Line(event, args, ack is not None)


def _event_name(text: str, position: int) -> tuple[str, int]:
    if text.startswith('"', position):
        try:
            event, end = _decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise LineError(f"invalid event name at column {exc.pos + 1}: {exc.msg}") from None
    else:
        word = _WORD.match(text, position)
        assert word is not None  # text is stripped and position < len(text)
        event, end = word.group(), word.end()
    if event in RESERVED_EVENTS:
        raise LineError(f"{event!r} is a reserved event name")
    if end < len(text) and not text[end].isspace():
        raise LineError(f"separate the event name from the arguments with a space (column {end + 1})")
    return event, _skip_space(text, end)


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position


class _Session:
    """Emits the lines of input, tracks the acks asked for, and remembers what went wrong."""

    def __init__(self, sio: greensio.Socket, printer: Printer, ack_timeout: float) -> None:
        self._sio = sio
        self._printer = printer
        self._ack_timeout = ack_timeout
        self._pending = 0
        self._drained = Event()
        self._drained.set()
        self.rejected = False  # a line could not be sent
        self.timed_out = False  # an ack did not come in time

    def run(self, lines: Iterable[bytes], linger: float) -> int:
        """Emit every line; at the end of input wait for the acks, linger, and return the exit code."""
        for number, raw in enumerate(lines, 1):
            self._emit(number, raw)
        self._drained.wait()  # each ack is bounded by its timeout
        gevent.sleep(linger)
        return EXIT_TIMEOUT if self.timed_out else EXIT_USAGE if self.rejected else EXIT_OK

    def _emit(self, number: int, raw: bytes) -> None:
        try:
            line = parse_line(raw.decode("utf-8"))
        except UnicodeDecodeError:
            return self._reject(number, "not UTF-8 text")
        except LineError as exc:
            return self._reject(number, str(exc))
        if line is None:
            return None
        try:
            if not line.ack:
                self._sio.emit(line.event, *line.args)
                return None
            callback = partial(self._acked, number, line.event)
            self._sio.emit(line.event, *line.args, callback=callback, timeout=self._ack_timeout)
        except greensio.PayloadTooLargeError as exc:
            return self._reject(number, str(exc))
        self._pending += 1
        self._drained.clear()
        return None

    def _acked(self, number: int, event: str, err: Optional[BaseException], *args: Any) -> None:
        self._pending -= 1
        if not self._pending:
            self._drained.set()
        if err is None:
            self._printer.record({"ack": event, "line": number, "args": list(args)})
        elif isinstance(err, greensio.TimeoutError):
            self.timed_out = True
            self._error(number, f"timeout: no ack for {event!r} within {self._ack_timeout:g} s")
        elif isinstance(err, greensio.PayloadTooLargeError):
            self._reject(number, str(err))
        # a DisconnectedError: the disconnect handler ends the shell

    def _reject(self, number: int, message: str) -> None:
        self.rejected = True
        self._error(number, message)

    def _error(self, number: int, message: str) -> None:
        self._printer.status(f"greensio: error: line {number}: {message}")


def shell(args: argparse.Namespace, printer: Printer, stdin_fd: int = 0) -> int:
    """Emit each line of stdin; print acks and incoming events; end at the end of stdin."""
    deadline = Deadline(args.timeout)
    sio = open_socket(args, deadline)
    finished: AsyncResult = AsyncResult()

    def finish(code: int) -> None:
        if not finished.ready():
            finished.set(code)

    def on_disconnect(reason: str) -> None:
        if not finished.ready():
            finished.set_exception(Failure(EXIT_CONNECTION, f"disconnected: {reason}"))

    printer.on_closed = partial(finish, EXIT_OK)
    if args.answer is not None:
        answer_calls(sio, args.answer)
    print_events(sio, printer)
    sio.on("disconnect", on_disconnect)
    try:
        connect(sio, deadline)
        printer.status(f"connected {sio.id}")
        if os.isatty(stdin_fd):
            printer.status(HINT)
        session = _Session(sio, printer, args.timeout)
        reader = gevent.spawn(session.run, LineReader(stdin_fd), args.linger)
        reader.link_value(lambda done: finish(done.value))
        reader.link_exception(lambda failed: finished.ready() or finished.set_exception(failed.exception))
        try:
            return int(finished.get())
        finally:
            reader.kill()
    finally:
        sio.disconnect()
