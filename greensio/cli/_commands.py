"""``greensio listen`` and ``greensio emit``."""

from __future__ import annotations

import argparse

import gevent
from gevent.event import AsyncResult

import greensio

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

__all__ = ["emit", "listen"]


def listen(args: argparse.Namespace, printer: Printer) -> int:
    """Print incoming events until ``--count`` of them, a signal, or the connection's end."""
    deadline = Deadline(args.timeout)
    sio = open_socket(args, deadline)
    finished: AsyncResult = AsyncResult()
    seen = 0

    def counted() -> None:
        nonlocal seen
        seen += 1
        if args.count is not None and seen >= args.count and not finished.ready():
            finished.set(EXIT_OK)

    def on_disconnect(reason: str) -> None:
        if not finished.ready():
            finished.set_exception(Failure(EXIT_CONNECTION, f"disconnected: {reason}"))

    def output_closed() -> None:  # e.g. `greensio listen URL | head -1`
        if not finished.ready():
            finished.set(EXIT_OK)

    printer.on_closed = output_closed
    if args.answer is not None:
        answer_calls(sio, args.answer)
    print_events(sio, printer, counted)
    sio.on("disconnect", on_disconnect)
    try:
        connect(sio, deadline)
        printer.status(f"connected {sio.id}")
        try:
            return int(finished.get(timeout=deadline.remaining() if args.count is not None else None))
        except gevent.Timeout:
            raise Failure(EXIT_TIMEOUT, f"timeout: {seen} of {args.count} events within {args.timeout:g} s") from None
    finally:
        sio.disconnect()


def emit(args: argparse.Namespace, printer: Printer) -> int:
    """Send one event; with ``--ack`` print the list of the ack's arguments."""
    deadline = Deadline(args.timeout)
    sio = open_socket(args, deadline)
    try:
        connect(sio, deadline)
        acked: AsyncResult = AsyncResult()
        try:
            if not args.ack:
                sio.emit(args.event, *args.args)
                gevent.sleep(args.linger)  # see LINGER; disconnect() below flushes the event anyway
                return EXIT_OK
            sio.emit(
                args.event, *args.args, callback=lambda err, *ack: acked.set((err, ack)), timeout=deadline.remaining()
            )
        except greensio.PayloadTooLargeError as exc:
            raise Failure(EXIT_USAGE, str(exc)) from None
        err, ack = acked.get()
        if isinstance(err, greensio.PayloadTooLargeError):
            raise Failure(EXIT_USAGE, str(err))
        if isinstance(err, greensio.TimeoutError):
            raise Failure(EXIT_TIMEOUT, f"timeout: no ack for {args.event!r} within {args.timeout:g} s")
        if err is not None:
            raise Failure(EXIT_CONNECTION, f"no ack for {args.event!r}: {err}")
        printer.record(list(ack))
        return EXIT_OK
    finally:
        sio.disconnect()
