"""Ported from socket.io-client test/retry.ts: retries with ack_timeout, one packet in flight, in order."""

from __future__ import annotations

import gevent

import greensio

from .helpers import FAST, WAIT, Recorder


class SentEvents:
    """Observer recording the event name of every packet written (each try included)."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def sent(self, event, nbytes):
        self.events.append(event)


def _socket(url, **options):
    return greensio.Socket(url, force_new=True, **{**FAST, **options})


def test_should_preserve_the_order_of_the_packets(server):
    sent = SentEvents()
    sio = _socket(server.url, retries=1, ack_timeout=5, observer=sent)
    results = Recorder()
    try:
        for n in (1, 2, 3):
            sio.emit("echo", n, callback=lambda *a: results(*a))
        assert len(sio._ns.retries) == 3
        assert results.wait(3) == [(None, 1), (None, 2), (None, 3)]
        assert sent.events == ["echo", "echo", "echo"]
        assert len(sio._ns.retries) == 0
    finally:
        sio.disconnect()


def test_should_fail_when_the_server_does_not_acknowledge_the_packet(server):
    # server_call makes the server emit "unacked" to us and wait (5 s) for an ack we never send
    sent = SentEvents()
    sio = _socket(server.url, retries=3, ack_timeout=0.05, observer=sent)
    received, results = Recorder(), Recorder()
    sio.on_any(lambda event, *args: received(event) if event == "unacked" else None)
    try:
        sio.emit("server_call", "unacked", callback=results)
        ((err,),) = results.wait(1)
        assert isinstance(err, greensio.TimeoutError)
        assert sent.events == ["server_call"] * 4
        assert received.wait(4) == [("unacked",)] * 4
    finally:
        sio.disconnect()


def test_should_not_drain_the_queue_while_the_socket_is_disconnected(server):
    sio = _socket(server.url, auto_connect=False, retries=1, ack_timeout=0.2)
    results = Recorder()
    try:
        sio.emit("echo", 1, callback=results)
        assert len(sio._ns.retries) == 1 and sio.manager.stats.buffered == 0  # queued, not sent, not failed
        gevent.sleep(0.5)  # part of the scenario: longer than two ack timeouts pass while disconnected
        assert results.calls == []
        sio.connect(timeout=WAIT)
        assert results.wait(1) == [(None, 1)]
    finally:
        sio.disconnect()


def test_should_not_emit_a_packet_twice_in_the_connect_handler(server):
    sent = SentEvents()
    sio = _socket(server.url, auto_connect=False, retries=3, observer=sent)
    results = Recorder()
    sio.on("connect", lambda: sio.emit("echo", None, callback=results))
    try:
        sio.connect(timeout=WAIT)
        assert results.wait(1) == [(None, None)]
        assert sent.events == ["echo"]
    finally:
        sio.disconnect()


def test_call_goes_through_the_retry_queue(server):
    sio = _socket(server.url, retries=2, ack_timeout=0.05)
    try:
        sio.connect(timeout=WAIT)
        assert sio.call("echo", "queued", timeout=None) == "queued"
        try:
            sio.call("server_call", "unacked")
        except greensio.TimeoutError:
            pass
        else:
            raise AssertionError("expected a TimeoutError after 3 tries")
    finally:
        sio.disconnect()
