"""python-socketio defects that greensio.compat fixes: each test fails against python-socketio's
client (a strict xfail there, with the reason) and passes against greensio.compat."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.integration.processes import ROOT

from .helpers import TRANSPORTS, WAIT, Background, Recorder, connected, reconnects_after_restart, stays, unique


@pytest.mark.fixed_defect("call() waits out its whole timeout after the connection is lost")
def test_call_fails_at_once_when_the_connection_ends(server, make_client, impl):
    sio = make_client(reconnection=False)

    @sio.event
    def drop():  # asked by the server while our call waits: the server then drops the connection
        sio.emit("close_engine")
        deadline = time.monotonic() + WAIT
        while sio.connected and time.monotonic() < deadline:  # no answer: the connection ends first
            sio.sleep(0.01)

    sio.connect(server.url, transports=TRANSPORTS)
    started = time.monotonic()
    with pytest.raises(impl.exceptions.DisconnectedError) as raised:
        sio.call("server_call", "drop", timeout=3)
    assert time.monotonic() - started < 2
    assert isinstance(raised.value, impl.exceptions.TimeoutError)  # what python-socketio code catches


@pytest.mark.fixed_defect("disconnect() throws away what its writer thread has not sent yet", strict=False)
def test_disconnect_sends_what_was_emitted_before(py_server, make_client):
    # python-socketio's server handles every event it reads before a DISCONNECT. Node's socket.io
    # server does not: it ignores events that arrive in the same read as the DISCONNECT (it runs
    # them on the next tick, once the socket is closed), whichever client sent them.
    server = py_server
    key = unique()
    sio = make_client()
    sio.connect(server.url, transports=TRANSPORTS)
    for seq in range(1000):
        sio.emit("tally", (key, seq))
    sio.disconnect()
    checker = make_client()
    checker.connect(server.url, transports=TRANSPORTS)
    assert checker.call("tally_report", key, timeout=WAIT) == [[0, 999, 1]]


@pytest.mark.fixed_defect("Client() installs a SIGINT handler (handle_sigint=True by default)")
def test_no_sigint_handler_is_installed(impl):
    program = (
        "import signal, sys; before = signal.getsignal(signal.SIGINT); "
        f"import {impl.__name__} as socketio; socketio.Client(); socketio.SimpleClient().client_args; "
        "sys.exit(0 if signal.getsignal(signal.SIGINT) is before else 1)"
    )
    assert subprocess.run([sys.executable, "-c", program], cwd=ROOT, timeout=60).returncode == 0


@pytest.mark.fixed_defect("a receive() waiting when the connection ends for good waits out its timeout (or forever)")
def test_a_waiting_receive_ends_when_the_server_disconnects(server, make_simple_client, impl):
    sio = make_simple_client()
    sio.connect(server.url, transports=TRANSPORTS)
    waiting = Background(sio.client, lambda: sio.receive(timeout=3))
    started = time.monotonic()
    sio.emit("disconnect_me")
    with pytest.raises(impl.exceptions.DisconnectedError):
        waiting.result()
    assert time.monotonic() - started < 2


@pytest.mark.fixed_defect("when connect() fails for one namespace, the others got connect but never disconnect")
def test_connect_and_disconnect_handlers_pair_when_connect_fails(server, make_client, impl):
    sio = make_client()
    connects, disconnects = Recorder(), Recorder()
    sio.on("connect", connects)
    sio.on("disconnect", disconnects)
    with pytest.raises(impl.exceptions.ConnectionError):
        sio.connect(server.url, namespaces=["/", "/private"], transports=TRANSPORTS)
    assert connects.calls == [()]
    assert disconnects.calls == [("client disconnect",)]  # before connect() raised


@pytest.mark.fixed_defect("a python-socketio server that restarts closes the Engine.IO session: no reconnection")
def test_a_restarted_python_server_is_reconnected_to(start_server, make_client):
    reconnects_after_restart(start_server("python"), make_client)


@pytest.mark.fixed_defect("disconnect() does not stop a reconnection in progress")
def test_disconnect_stops_a_reconnection(start_server, make_client):
    server = start_server("node")
    sio, reasons = connected(make_client, server.url)
    server.stop()
    reasons.wait()
    sio.disconnect()
    server.start()
    stays(lambda: not sio.connected, "disconnect() is final", 1.5)
