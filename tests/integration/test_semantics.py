"""handler_concurrency, json=, volatile, max_buffer, ack timeouts and disconnects."""

from __future__ import annotations

import uuid

import gevent
import gevent.event
import orjson
import pytest

import greensio

from .helpers import FAST, WAIT, Recorder, connect


def test_handler_concurrency_one_runs_handlers_strictly_in_order(server):
    with connect(server.url, handler_concurrency=1) as sio:
        running, order, peak = [0], Recorder(), [0]

        def handler(i, payload):
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            gevent.sleep(0.001)  # blocking handler: the next one must still wait for it
            running[0] -= 1
            order(i)

        sio.on("burst", handler)
        sio.emit("burst", 20, 10)
        assert order.wait(20) == [(i,) for i in range(20)]
        assert peak[0] == 1


def test_handler_concurrency_bounds_concurrent_handlers(server):
    with connect(server.url, handler_concurrency=3) as sio:
        release = gevent.event.Event()
        running, peak, done = [0], [0], Recorder()

        def handler(i, payload):
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            release.wait()
            running[0] -= 1
            done(i)

        sio.on("burst", handler)
        sio.emit("burst", 10, 10)
        with gevent.Timeout(WAIT):
            while running[0] < 3:
                gevent.sleep(0.01)
        assert sio.call("echo", "reader not blocked", timeout=WAIT) == "reader not blocked"
        assert running[0] == 3
        release.set()
        assert sorted(done.wait(10)) == [(i,) for i in range(10)]
        assert peak[0] == 3


@pytest.mark.parametrize("concurrency", [None, 1, 2])
def test_a_handler_may_call_on_its_own_connection_at_any_concurrency(server, concurrency):
    with connect(server.url, handler_concurrency=concurrency) as sio:
        results = Recorder()
        sio.on("burst", lambda i, p: results(sio.call("echo", i, timeout=WAIT)))
        sio.emit("burst", 3, 1)
        assert sorted(results.wait(3)) == [(0,), (1,), (2,)]


def test_json_option_is_per_client(server):
    class CountingJson:
        calls = 0

        @classmethod
        def dumps(cls, obj, **kwargs):
            cls.calls += 1
            return orjson.dumps(obj, **{k: v for k, v in kwargs.items() if k == "default"}).decode()

        @staticmethod
        def loads(s):
            return orjson.loads(s)

    with connect(server.url, json=CountingJson) as custom, connect(server.url) as plain:
        assert custom.call("echo", {"a": [1, 2]}, b"\x01", timeout=WAIT) == ({"a": [1, 2]}, b"\x01")
        calls = CountingJson.calls
        assert calls >= 1
        assert plain.call("echo", {"b": 1}, timeout=WAIT) == {"b": 1}
        assert CountingJson.calls == calls  # the other client's codec is untouched


def test_volatile_emits_are_dropped_while_disconnected(server):
    sio = greensio.Socket(server.url, auto_connect=False, force_new=True, **FAST)
    echoed = Recorder()
    sio.on("echo", echoed)
    try:
        sio.emit("echo", "lost", volatile=True)
        sio.emit("echo", "kept")
        assert sio.manager.stats.buffered == 1
        sio.connect(timeout=WAIT)
        assert echoed.wait(1) == [("kept",)]
        with gevent.Timeout(WAIT):  # as in JS, a volatile packet also drops while a write is in flight
            while not sio.manager.writable_now():
                gevent.sleep(0.01)
        sio.emit("echo", "live", volatile=True)
        assert echoed.wait(2) == [("kept",), ("live",)]
    finally:
        sio.disconnect()


def test_max_buffer_bounds_the_offline_buffer(server):
    sio = greensio.Socket(server.url, auto_connect=False, force_new=True, max_buffer=2, **FAST)
    try:
        sio.emit("echo", 1)
        sio.emit("echo", 2, callback=lambda *a: None)
        with pytest.raises(greensio.BufferFullError):
            sio.emit("echo", 3)
        with pytest.raises(greensio.BufferFullError):
            sio.emit("echo", 4, callback=lambda *a: None)
        assert sio.manager.stats.buffered == 2
    finally:
        sio.disconnect()


def test_ack_timeout_makes_callbacks_error_first(server):
    with connect(server.url, ack_timeout=WAIT) as sio:
        got = Recorder()
        sio.emit("echo", "v", callback=got)
        assert got.wait(1) == [(None, "v")]
        late = Recorder()
        sio.emit("server_call", "unhandled", callback=late, timeout=0.05)
        ((err,),) = late.wait(1)
        assert isinstance(err, greensio.TimeoutError)


def test_pending_acks_fail_on_disconnect_but_buffered_packets_wait(server):
    sio = connect(server.url, reconnection_delay=0.5, reconnection_delay_max=0.5, randomization_factor=0)
    try:
        failed = Recorder()
        sio.emit("server_call", "unhandled", callback=failed, timeout=WAIT)  # sent, never acked in time
        reasons = Recorder()
        sio.on("disconnect", reasons)
        sio.emit("close_engine")
        reasons.wait(1)
        ((err,),) = failed.wait(1)
        assert isinstance(err, greensio.DisconnectedError)
        assert not sio.connected  # reconnects 0.5 s later
        buffered = Recorder()
        sio.emit("echo", "after", callback=buffered, timeout=WAIT)
        assert sio.manager.stats.buffered == 1
        assert buffered.wait(1) == [(None, "after")]
    finally:
        sio.disconnect()


def test_a_buffered_packet_whose_timeout_expires_is_never_sent(server):
    sio = greensio.Socket(server.url, auto_connect=False, force_new=True, **FAST)
    echoed, expired = Recorder(), Recorder()
    sio.on("echo", echoed)
    try:
        sio.emit("echo", "expired", callback=expired, timeout=0.01)
        ((err,),) = expired.wait(1)
        assert isinstance(err, greensio.TimeoutError)
        assert sio.manager.stats.buffered == 0
        sio.connect(timeout=WAIT)
        sio.emit("echo", "fresh")
        assert echoed.wait(1) == [("fresh",)]
    finally:
        sio.disconnect()


def test_clear_buffer_fails_waiting_calls_at_once(server):
    sio = greensio.Socket(server.url, auto_connect=False, force_new=True, **FAST)
    try:
        # never connected, not connecting: only a call with a timeout is buffered (JS semantics)
        with pytest.raises(greensio.DisconnectedError, match="not connected"):
            sio.call("echo", 1)
        waiter = gevent.spawn(sio.call, "echo", 1, timeout=WAIT)
        gevent.sleep(0)  # let the call be buffered
        assert sio.manager.stats.buffered == 1
        sio.clear_buffer()
        with pytest.raises(greensio.DisconnectedError):
            waiter.get(timeout=WAIT)
        assert sio.manager.stats.buffered == 0
    finally:
        sio.disconnect()


def test_killing_a_blocked_call_frees_its_ack_slot(server):
    with connect(server.url) as sio:
        waiter = gevent.spawn(sio.call, "server_call", "unhandled")
        gevent.sleep(0)
        assert len(sio._ns.session.acks) == 1
        waiter.kill()
        assert sio._ns.session.acks == {}
        with pytest.raises(gevent.Timeout), gevent.Timeout(0.05):
            sio.call("server_call", "unhandled")
        assert sio._ns.session.acks == {}


def test_events_emitted_right_before_disconnect_reach_the_server(server):
    # socket.io servers run an event's handler on the next tick and drop it if the socket left
    # meanwhile: events read together with the DISCONNECT would be lost (the JS client loses them).
    key = uuid.uuid4().hex
    sio = connect(server.url)
    for seq in range(200):
        sio.emit("tally", key, seq)
    sio.disconnect()
    with connect(server.url) as checker:
        assert checker.call("tally_report", key, timeout=WAIT) == [[0, 199, 1]]
