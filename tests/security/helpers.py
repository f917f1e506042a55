"""Shared helpers of the hostile-server tests."""

from __future__ import annotations

from typing import Any

import gevent

import greensio
from tests.integration.helpers import Recorder

__all__ = ["FAST", "WAIT", "Recorder", "connect", "until", "watched_socket"]

WAIT = 10.0  # bound of every wait on a peer, in seconds
# Fast reconnection, so "the normal reconnect follows" takes a fraction of a second.
FAST: dict[str, Any] = {"reconnection_delay": 0.05, "reconnection_delay_max": 0.1, "force_new": True}


def connect(url: str, **options: Any) -> greensio.Socket:
    """A connected socket on a fresh Manager with the fast options."""
    return greensio.connect(url, timeout=WAIT, **{**FAST, **options})


def until(predicate: Any, what: str, timeout: float = WAIT) -> None:
    """Wait until ``predicate()`` is true (checked every 10 ms); fail naming ``what`` after ``timeout``."""
    with gevent.Timeout(timeout, AssertionError(f"timed out waiting for {what}")):
        while not predicate():
            gevent.sleep(0.01)


def watched_socket(peer: Any, transport: str, **options: Any) -> tuple[greensio.Socket, Recorder, Recorder]:
    """A Socket on ``peer`` over ``transport``, not connected yet, with Recorders of its disconnects and connects."""
    sio = greensio.Socket(peer.url, auto_connect=False, **{**FAST, "transports": [transport], **options})
    reasons, connects = Recorder(), Recorder()
    sio.on("disconnect", reasons)
    sio.on("connect", connects)
    return sio, reasons, connects
