"""Network faults between greensio and a server, injected by tests/faults/proxy.py.

Every scenario runs against the Node server and the python-socketio one (on
gevent + gevent-websocket), over websocket only and polling only, with traffic
going on during the fault (tests/faults/rig.py): a second namespace socket
(``/chat``, on the same Manager so it shares the connection) with ``retries=3,
ack_timeout=1`` keeps a few ``server_emit("seen", seq)`` packets in flight. The
server emits ``seen(seq)`` back for every copy it processes, then acks ``"ok"``:
the client's callbacks must fire exactly once each, all successful and in order,
while the ``seen`` events count the copies the server handled (a lower bound: a
``seen`` sent just before a fault can be lost with the connection).

The Node server pings every 0.3 s with a 0.3 s timeout, so heartbeat loss shows
within 0.6 s; python-engineio only takes a whole-second pingInterval: 1 s with a
1 s timeout, so within 2 s (rig.HEARTBEATS). After each scenario the socket is
disconnected, the proxy stopped, and no greenlet or file descriptor may be left
behind.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Callable

import gevent
import pytest

import greensio
from tests.integration.helpers import Recorder
from tests.servers.process import ServerProcess

from .proxy import FaultyProxy
from .rig import HEARTBEATS, Report, Rig, heartbeat_bound, wait_until

MakeRig = Callable[..., Rig]
StartServer = Callable[..., ServerProcess]

TRANSPORT_PARAMS = pytest.mark.parametrize("transports", [["websocket"], ["polling"]], ids=["websocket", "polling"])
pytestmark = pytest.mark.timeout(20)  # pytest-timeout: every scenario well under it


@pytest.fixture
def make_rig(start_server: StartServer) -> Iterator[MakeRig]:
    """Factory: rig(server, transports, **options) -> Rig, aborted at the end even if the test failed."""
    rigs: list[Rig] = []

    def make(server: ServerProcess, transports: list[str], **options: Any) -> Rig:
        rigs.append(Rig(server, transports, **options))
        return rigs[-1]

    yield make
    for made in rigs:
        made.abort()


@pytest.fixture(params=["node", "python"])
def kind(request: pytest.FixtureRequest) -> str:
    """The kind of server: the Node one, then the python-socketio one."""
    value: str = request.param
    return value


@pytest.fixture
def fast_server(start_server: StartServer, kind: str) -> ServerProcess:
    """A ``kind`` server with the fast heartbeat of rig.HEARTBEATS."""
    interval, timeout = HEARTBEATS[kind]
    return start_server(kind, ping_interval=interval, ping_timeout=timeout)


@pytest.fixture
def report(request: pytest.FixtureRequest, record_property: Callable[[str, Any], None]) -> Iterator[dict[str, Any]]:
    """Figures a scenario reports (printed with -s, and kept in the junit xml)."""
    figures: dict[str, Any] = {}
    yield figures
    for key, value in figures.items():
        record_property(key, value)
    print(f"\n{request.node.name}: {figures}")


@TRANSPORT_PARAMS
def test_cut_reconnects_and_traffic_completes(
    make_rig: MakeRig, fast_server: ServerProcess, transports: list[str], report: Report
) -> None:
    rig = make_rig(fast_server, transports)
    rig.proxy.stall()  # a request surely in flight (see test_reset_reconnects)
    rig.proxy.cut()
    rig.proxy.unstall()
    reason = rig.disconnects.wait(1, timeout=3)[0][0]
    report["reason"] = reason
    assert reason in ("transport close", "transport error")
    rig.reconnected()
    rig.close(report)


@TRANSPORT_PARAMS
def test_reset_reconnects(make_rig: MakeRig, fast_server: ServerProcess, transports: list[str], report: Report) -> None:
    rig = make_rig(fast_server, transports)
    # Stalled first, so a request is surely in flight: a polling connection reset while idle
    # between two requests is replaced before the next one and costs the session nothing.
    rig.proxy.stall()
    rig.proxy.reset()
    rig.proxy.unstall()
    reason = rig.disconnects.wait(1, timeout=3)[0][0]
    report["reason"] = reason
    assert reason == "transport error"
    rig.reconnected()
    rig.close(report)


@TRANSPORT_PARAMS
def test_stall_is_a_ping_timeout_then_reconnects_after_unstall(
    make_rig: MakeRig, fast_server: ServerProcess, transports: list[str], report: Report
) -> None:
    rig = make_rig(fast_server, transports)
    stalled_at = time.monotonic()
    rig.proxy.stall()
    bound = heartbeat_bound(fast_server.kind)
    reason = rig.disconnects.wait(1, timeout=bound + 1)[0][0]
    report["detected_after"] = round(time.monotonic() - stalled_at, 3)
    assert reason == "ping timeout"
    assert report["detected_after"] < bound
    # The proxy stays stalled for new connections too: no reconnect can succeed until unstall().
    attempts = rig.proxy.connections
    wait_until(lambda: rig.proxy.connections > attempts, what="a reconnection attempt while stalled")
    assert not rig.sio.connected and len(rig.connects.calls) == 1
    rig.proxy.unstall()
    rig.reconnected()
    rig.close(report)


@TRANSPORT_PARAMS
def test_paused_server_is_a_ping_timeout_then_reconnects_after_resume(
    make_rig: MakeRig, fast_server: ServerProcess, transports: list[str], report: Report
) -> None:
    rig = make_rig(fast_server, transports)
    paused_at = time.monotonic()
    fast_server.pause()
    try:
        bound = heartbeat_bound(fast_server.kind)
        reason = rig.disconnects.wait(1, timeout=bound + 1)[0][0]
        report["detected_after"] = round(time.monotonic() - paused_at, 3)
        assert reason == "ping timeout"
        assert report["detected_after"] < bound
        assert not rig.sio.connected
    finally:
        fast_server.resume()
    rig.reconnected()
    rig.close(report)


@TRANSPORT_PARAMS
def test_slow_link_still_works_in_order(
    make_rig: MakeRig, start_server: StartServer, kind: str, transports: list[str], report: Report
) -> None:
    # 7-byte pieces after 50 ms per chunk: a heartbeat of 0.3 s + 0.3 s would rightly time
    # out behind a few hundred bytes, so this server pings at the Node defaults' pace.
    server = start_server(kind, ping_interval=5, ping_timeout=20)
    rig = make_rig(server, transports)
    rig.proxy.delay(0.05)
    rig.proxy.trickle(7)
    bursts = Recorder()
    rig.sio.on("burst", bursts)
    done = Recorder()
    rig.sio.on("burst_done", done)
    rig.sio.emit("burst", 20, 30)
    answers = [rig.sio.call("echo", i, "é" * i) for i in range(5)]
    assert answers == [(i, "é" * i) for i in range(5)]
    done.wait(1)
    assert bursts.calls == [(i, "x" * 30) for i in range(20)]
    rig.traffic.more(5)
    assert not rig.disconnects.calls
    report["proxied_connections"] = rig.proxy.connections
    rig.close(report)


@TRANSPORT_PARAMS
def test_blocked_call_fails_fast_when_the_connection_drops(
    make_rig: MakeRig, fast_server: ServerProcess, transports: list[str], report: Report
) -> None:
    rig = make_rig(fast_server, transports)
    asked = Recorder()
    rig.sio.on_any(lambda event, *args: asked(event) if event == "unhandled" else None)

    def blocked_call() -> Any:
        try:
            return rig.sio.call("server_call", "unhandled", timeout=30)
        except greensio.Error as exc:
            return exc

    call = gevent.spawn(blocked_call)
    asked.wait(1)  # the server got the call: the packet was sent
    started = time.monotonic()
    rig.proxy.cut()
    with gevent.Timeout(5, AssertionError("call() still blocked 5 s after the connection dropped")):
        call.join()
    report["failed_after"] = round(time.monotonic() - started, 3)
    assert isinstance(call.value, greensio.DisconnectedError), call.value
    rig.disconnects.wait(1)
    rig.reconnected()
    rig.close(report)


@TRANSPORT_PARAMS
def test_server_data_lost_in_a_cut_is_never_lost_silently(
    make_rig: MakeRig, start_server: StartServer, kind: str, transports: list[str], report: Report
) -> None:
    # The server's answer is in flight (held by the proxy) when the connection carrying it is
    # cut. Without connection state recovery it is gone; the client must notice (a disconnect,
    # then a reconnect) rather than carry on with the same session as if nothing was missed.
    # The 0.3 s delay each way would rightly break a 0.3 s + 0.3 s heartbeat: slower pings here.
    rig = make_rig(start_server(kind, ping_interval=2, ping_timeout=5), transports)
    echoes = Recorder()
    rig.sio.on("echo", echoes)
    rig.proxy.delay(0.3)
    rig.sio.emit("echo", "canary")
    wait_until(lambda: rig.proxy.holding(b"canary"), what="the server's echo to be in flight")
    rig.proxy.cut(holding=b"canary")
    rig.proxy.delay(0)
    # A cut shows at once; a session that silently survived it shows as neither event.
    wait_until(lambda: bool(echoes.calls or rig.disconnects.calls), 3, "either the echo or a disconnect")
    report["echo_received"] = bool(echoes.calls)
    report["disconnects"] = [c[0] for c in rig.disconnects.calls]
    rig.reconnected()
    rig.close(report)


@TRANSPORT_PARAMS
def test_a_slow_link_is_not_reported_as_a_blocked_hub(
    start_server: StartServer, transports: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Found by the long fault run (tests/soak/fault_run.py) over polling. No traffic here: the
    # heartbeat only. The warning is for a PONG leaving more than pingTimeout / 2 = 0.5 s after
    # its PING. 0.35 s each way keeps the session up (the server gets each PONG about 0.7 s
    # after sending its PING) while the hub, idle, writes every PONG as soon as its PING is read.
    server = start_server("node", ping_interval=1, ping_timeout=1)
    proxy = FaultyProxy(server.port)
    sio = greensio.Socket(proxy.url, transports=transports, force_new=True)
    pings = Recorder()
    sio.manager.on("ping", pings)
    try:
        wait_until(lambda: sio.connected, what="connected")
        proxy.delay(0.35)
        # The first PING read from now on has its PONG sent over the slow link; the server
        # sends the next PING a pingInterval after that PONG arrived: two more for good measure.
        pings.wait(len(pings.calls) + 3, timeout=15)
        assert sio.connected
        warnings = [
            record.getMessage()
            for record in caplog.records
            if record.name == "greensio" and "hub was blocked" in record.getMessage()
        ]
        assert warnings == []
        assert sio.manager.stats.pong_lag_max < 0.5
    finally:
        sio.disconnect()
        proxy.stop()
