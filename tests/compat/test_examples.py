"""python-socketio's examples/client/sync programs, ported to this project's test servers.

Each program is the example's code with ``socketio`` passed in, so the same program runs
on python-socketio's client and on greensio.compat; what the servers of the original
examples did on their side is asked of ours with ``server_emit`` and ``disconnect_me``.
"""

from __future__ import annotations

import logging
import time

import pytest

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _restore_logging():
    """latency_client's logger=True configures loggers for the whole process: undo it."""
    loggers = [logging.getLogger(name) for name in ("greensio", "socketio.client", "engineio.client")]
    saved = [(logger, logger.level, list(logger.handlers)) for logger in loggers]
    yield
    for logger, level, handlers in saved:
        logger.setLevel(level)
        logger.handlers[:] = handlers


def fiddle_client(socketio, url, out):
    """fiddle_client.py: connect with auth, print hello(a, b, c), wait until disconnected."""
    sio = socketio.Client()

    @sio.event
    def connect():
        out("connected to server")
        # what the fiddle server does on connection: emit hello(1, 2, {'hello': 'you'})
        sio.emit("server_emit", ("hello", 1, 2, {"hello": "you"}))

    @sio.event
    def disconnect(reason):
        out("disconnected from server, reason:", reason)

    @sio.event
    def hello(a, b, c):
        out(a, b, c)
        sio.emit("disconnect_me")  # so that wait() returns

    sio.connect(url, auth={"token": "my-token"})
    sio.wait()


def latency_client(socketio, url, out, pings=5):
    """latency_client.py: ping the server, time each pong, ping again while connected."""
    sio = socketio.Client(logger=True, engineio_logger=True)
    start_timer = [0.0]
    pongs = [0]

    def send_ping():
        start_timer[0] = time.time()
        sio.emit("server_emit", "pong_from_server")  # the latency server answers ping_from_client so

    @sio.event
    def connect():
        out("connected to server")
        send_ping()

    @sio.event
    def pong_from_server():
        latency = time.time() - start_timer[0]
        out(f"latency is {latency * 1000:.2f} ms")
        pongs[0] += 1
        if pongs[0] == pings:
            sio.disconnect()
            return
        sio.sleep(0.1)
        if sio.connected:
            send_ping()

    sio.connect(url)
    sio.wait()


def test_fiddle_client(server, impl):
    lines: list[str] = []
    fiddle_client(impl, server.url, lambda *args: lines.append(" ".join(map(str, args))))
    assert lines == [
        "connected to server",
        "1 2 {'hello': 'you'}",
        "disconnected from server, reason: server disconnect",
    ]


def test_latency_client(server, impl):
    lines: list[str] = []
    latency_client(impl, server.url, lines.append)
    assert lines[0] == "connected to server"
    assert len(lines) == 6
    assert all(line.startswith("latency is ") and line.endswith(" ms") for line in lines[1:])
