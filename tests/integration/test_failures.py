"""Unreachable servers, dead servers and misbehaving servers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import uuid

import gevent
import pytest

import greensio

from .helpers import FAST, WAIT, Recorder, connect, live_greenlets


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_without_reconnection_raises_connection_error():
    url = f"http://127.0.0.1:{_closed_port()}"
    sio = greensio.Socket(url, auto_connect=False, reconnection=False, force_new=True, **{**FAST})
    errors = Recorder()
    sio.on("connect_error", errors)
    with pytest.raises(greensio.ConnectionError):
        sio.connect(timeout=WAIT)
    assert len(errors.wait(1)) == 1 and isinstance(errors.calls[0][0], greensio.ConnectionError)
    assert not sio.active and sio.wait(0)


def test_reconnection_attempts_are_counted_then_reconnect_failed():
    url = f"http://127.0.0.1:{_closed_port()}"
    sio = greensio.Socket(url, auto_connect=False, reconnection_attempts=2, force_new=True, **FAST)
    events = Recorder()

    def record(name, *args):
        events(name, *[type(x).__name__ if isinstance(x, Exception) else x for x in args])

    for name in ("reconnect_attempt", "reconnect_error", "reconnect_failed", "error"):
        sio.manager.on(name, lambda *a, name=name: record(name, *a))
    with pytest.raises(greensio.ConnectionError, match="reconnection failed"):
        sio.connect(timeout=WAIT)
    assert events.wait(8) == [
        ("error", "ConnectionError"),
        ("reconnect_attempt", 1),
        ("error", "ConnectionError"),
        ("reconnect_error", "ConnectionError"),
        ("reconnect_attempt", 2),
        ("error", "ConnectionError"),
        ("reconnect_error", "ConnectionError"),
        ("reconnect_failed",),
    ]
    assert not sio.active


def test_connect_helper_fails_at_the_first_attempt_and_leaves_nothing_running():
    url = f"http://127.0.0.1:{_closed_port()}"
    greenlets = live_greenlets()
    with gevent.Timeout(WAIT, AssertionError("connect() did not fail fast")):
        with pytest.raises(greensio.ConnectionError, match="refused"):
            greensio.connect(url, force_new=True, **FAST)
    assert live_greenlets() - greenlets == set()


def test_connect_helper_with_retry_times_out_chained_to_the_last_error():
    url = f"http://127.0.0.1:{_closed_port()}"
    greenlets = live_greenlets()
    with pytest.raises(greensio.TimeoutError) as raised:
        greensio.connect(url, timeout=0.5, retry=True, force_new=True, **FAST)
    assert isinstance(raised.value.__cause__, greensio.ConnectionError)
    assert "refused" in str(raised.value.__cause__)
    assert live_greenlets() - greenlets == set()


def test_the_first_connection_attempt_is_retried_until_the_server_comes_up(start_server):
    srv = start_server("node")
    srv.stop()
    sio = greensio.Socket(srv.url, force_new=True, **FAST)
    errors = Recorder()
    sio.on("connect_error", errors)
    try:
        errors.wait(1)
        srv.restart()
        sio.connect(timeout=WAIT)
        assert sio.connected
    finally:
        sio.disconnect()


def test_a_stopped_server_is_detected_as_ping_timeout_then_reconnected(start_server):
    srv = start_server("node", ping_interval=0.2, ping_timeout=0.2)
    sio = connect(srv.url)
    try:
        pings, reasons, connects = Recorder(), Recorder(), Recorder()
        sio.manager.on("ping", pings)
        sio.on("disconnect", reasons)
        sio.on("connect", connects)
        pings.wait(1)
        srv.pause()
        assert reasons.wait(1) == [("ping timeout",)]
        srv.resume()
        connects.wait(1)
        assert sio.call("echo", "back", timeout=WAIT) == "back"
    finally:
        sio.disconnect()


def test_call_fails_with_disconnected_error_when_the_connection_drops(start_server):
    srv = start_server("node", ping_interval=0.2, ping_timeout=0.2)
    sio = connect(srv.url)
    try:
        srv.pause()
        with pytest.raises(greensio.DisconnectedError):
            sio.call("echo", 1)  # sent, never answered: fails at the ping timeout, not never
    finally:
        srv.resume()
        sio.disconnect()


def test_call_times_out_with_timeout_error(server):
    with connect(server.url) as sio:
        with pytest.raises(greensio.TimeoutError):
            sio.call("server_call", "unhandled", timeout=0.1)  # the server waits 5 s for our ack
        assert sio.call("echo", "fine", timeout=WAIT) == "fine"


def test_a_buffered_call_still_times_out_after_disconnect():
    # Its packet never left (nothing listens): disconnect() keeps the offline buffer for a later
    # connect(), and the call's deadline still runs, as JS's per-ack timer does.
    sio = greensio.Socket(
        f"http://127.0.0.1:{_closed_port()}",
        force_new=True,
        **{**FAST, "reconnection_delay": 5, "reconnection_delay_max": 5},
    )

    call = gevent.spawn(sio.call, "echo", 1, timeout=0.2)
    with gevent.Timeout(WAIT, AssertionError("the call was never buffered")):
        while sio.manager.stats.buffered != 1:
            gevent.sleep(0.01)  # polls for the call's packet in the offline buffer
    sio.disconnect()
    call.join(WAIT)
    assert isinstance(call.exception, greensio.TimeoutError)


BAD_PACKETS = {
    "event-payload-not-a-list": ['42{"a":1}'],
    "placeholder-out-of-range": ['451-["x",{"_placeholder":true,"num":5}]', {"b64": "AAE="}],
    "unknown-engine-packet": ["9"],
    "second-open": ['0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000}'],
    "unknown-socketio-type": ["48"],
    "invalid-json": ['42["x",'],
    "reserved-event-name": ['42["disconnect"]'],
    "binary-without-packet": [{"b64": "AAE="}],
}


@pytest.mark.parametrize("frames", list(BAD_PACKETS.values()), ids=list(BAD_PACKETS))
def test_malformed_packets_close_with_parse_error_and_the_client_reconnects(bad_server, frames):
    query = {"bad": json.dumps(frames), "token": uuid.uuid4().hex}
    # the scripted server speaks WebSocket only
    sio = connect(bad_server.url, query=query, auto_connect=False, transports=["websocket"])
    errors, reasons = Recorder(), Recorder()
    sio.manager.on("error", errors)
    sio.on("disconnect", reasons)
    try:
        assert reasons.wait(1) == [("parse error",)]
        assert isinstance(errors.wait(1)[0][0], greensio.ProtocolError)
        sio.wait_for("connect", timeout=WAIT)
        assert sio.call("echo", "recovered", timeout=WAIT) == "recovered"
    finally:
        sio.disconnect()


def test_packets_for_unknown_namespaces_and_acks_are_ignored(bad_server):
    frames = ['42/elsewhere,["x"]', '43999["late"]', '42["hello","world"]']
    query = {"bad": json.dumps(frames), "token": uuid.uuid4().hex}
    sio = connect(bad_server.url, query=query, transports=["websocket"])
    try:
        assert sio.wait_for("hello", timeout=WAIT) == "world"
        assert sio.connected
    finally:
        sio.disconnect()


UNPATCHED_SCENARIO = textwrap.dedent(
    """
    import socket, sys, gevent, greensio
    from gevent import monkey
    assert not monkey.is_anything_patched()

    # A server that accepts TCP but never answers: waiting on it must not block the hub.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    ticks = []
    ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.01)) for _ in range(1000)])
    try:
        greensio.connect("http://127.0.0.1:%d" % silent.getsockname()[1], transports=["websocket"], timeout=0.5)
    except greensio.TimeoutError:
        pass
    ticker.kill()
    assert len(ticks) >= 10, "the hub was blocked: %d ticks" % len(ticks)

    with greensio.connect(sys.argv[1], transports=["websocket"], timeout=10) as sio:
        got = []
        sio.on("echo", got.append)
        assert sio.call("echo", "unpatched", b"\\x00", timeout=10) == ("unpatched", b"\\x00")
        sio.emit("echo", 5)
        sio.wait_for("echo", timeout=10)
    print("OK", got)
    """
)


def test_works_without_monkey_patching_in_a_subprocess(server):
    out = subprocess.run(
        [sys.executable, "-c", UNPATCHED_SCENARIO, server.url], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "OK [5]"


FORK_SCENARIO = textwrap.dedent(
    """
    import os, sys, gevent, greensio
    sio = greensio.connect(sys.argv[1], transports=["websocket"], timeout=10)
    pid = os.fork()
    if pid == 0:
        gevent.reinit()  # what every gevent program does after a plain os.fork()
        for action in (lambda: sio.emit("echo", 1), lambda: sio.call("echo", 1), lambda: sio.connect()):
            try:
                action()
            except greensio.Error as exc:
                assert "after fork" in str(exc), exc
            else:
                os._exit(3)
        sio.disconnect()  # a silent no-op in the child
        fresh = greensio.connect(sys.argv[1], transports=["websocket"], timeout=10)
        assert fresh.manager is not sio.manager
        # the parent's reader greenlet, copied into this process, must not steal these bytes
        ok = all(fresh.call("echo", i, timeout=10) == i for i in range(20))
        fresh.disconnect()
        os._exit(0 if ok else 4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
    # the child neither closed nor read our connection
    assert [sio.call("echo", i, timeout=10) for i in range(20)] == list(range(20))
    sio.disconnect()
    print("OK")
    """
)


def test_a_client_created_before_fork_is_inert_in_the_child(node_server):
    out = subprocess.run(
        [sys.executable, "-c", FORK_SCENARIO, node_server.url], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "OK"


def test_without_reconnection_a_lost_connection_makes_the_socket_inactive(server):
    sio = connect(server.url, reconnection=False)
    reasons = Recorder()
    sio.on("disconnect", reasons)
    sio.emit("close_engine")
    assert reasons.wait(1) == [("transport close",)]
    assert sio.wait(WAIT) and not sio.active


BLOCKED_HUB_SCENARIO = textwrap.dedent(
    """
    import logging, sys, time, gevent, greensio
    from gevent import monkey
    assert not monkey.is_anything_patched()
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logging.getLogger("greensio").addHandler(handler)
    logging.getLogger("greensio").setLevel(logging.INFO)

    with greensio.connect(sys.argv[1], transports=["websocket"], timeout=10) as sio:
        pings = []
        sio.manager.on("ping", lambda: pings.append(time.monotonic()))
        while not pings:
            gevent.sleep(0.01)
        time.sleep(1.4)  # CPU-bound code: the hub is blocked across the next PING (every 0.5 s)
        while len(pings) < 3:
            gevent.sleep(0.01)
        lag = sio.manager.stats.pong_lag_max
    blocked = [m for m in records if "the gevent hub was blocked" in m]
    print(len(blocked), round(lag, 3))
    """
)


def test_a_hub_blocked_by_cpu_bound_code_is_reported(start_server):
    # pingTimeout 1.5 s: a PONG later than 0.75 s is reported. The hub is blocked 1.4 s right after a
    # PING, so the next one (due 0.5 s later) waits about 0.9 s for its PONG.
    srv = start_server("node", ping_interval=0.5, ping_timeout=1.5)
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED_HUB_SCENARIO, srv.url], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    warnings, lag = result.stdout.split()
    assert int(warnings) >= 1 and 0.75 < float(lag) < 1.4, result.stdout
