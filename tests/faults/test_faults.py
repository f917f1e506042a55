"""Network faults between greensio and the Node server, injected by tests/faults/proxy.py.

Every scenario runs over websocket only and polling only, with traffic going on
during the fault: a second namespace socket (``/chat``, on the same Manager so it
shares the connection) with ``retries=3, ack_timeout=1`` keeps a few
``server_emit("seen", seq)`` packets in flight. The server emits ``seen(seq)``
back for every copy it processes, then acks ``"ok"``: the client's callbacks must
fire exactly once each, all successful and in order, while the ``seen`` events
count the copies the server handled (a lower bound: a ``seen`` sent just before
a fault can be lost with the connection).

The server pings every 0.3 s with a 0.3 s timeout, so heartbeat loss shows
within 0.6 s. After each scenario the socket is disconnected, the proxy stopped,
and no greenlet or file descriptor may be left behind.
"""
from __future__ import annotations

import collections
import gc
import time
from collections.abc import Iterator
from typing import Any, Callable

import gevent
import gevent.event
import gevent.threadpool
import greenlet
import pytest

import greensio
from tests.integration.helpers import WAIT, Recorder, live_greenlets, open_fds
from tests.servers.process import ServerProcess

from .proxy import FaultyProxy

MakeRig = Callable[..., "Rig"]
StartServer = Callable[..., ServerProcess]
Report = dict[str, Any]
PING_INTERVAL = PING_TIMEOUT = 0.3
HEARTBEAT_MARGIN = 1.0  # seconds allowed past pingInterval + pingTimeout
WINDOW = 4  # traffic packets emitted but not yet acked

TRANSPORT_PARAMS = pytest.mark.parametrize("transports", [["websocket"], ["polling"]], ids=["websocket", "polling"])
pytestmark = pytest.mark.timeout(20)  # pytest-timeout: every scenario well under it


def wait_until(condition: Callable[[], bool], timeout: float = WAIT, what: str = "condition") -> None:
    """Poll an observable condition, failing the test after ``timeout``."""
    with gevent.Timeout(timeout, AssertionError(f"timed out waiting for {what}")):
        while not condition():
            gevent.sleep(0.005)


def greensio_greenlets() -> set[int]:
    """live_greenlets() but gevent's own threadpool threads (their worker and main greenlets).

    A first getaddrinfo() in the process (gevent's default resolver runs it in
    the hub's threadpool) starts one; it ends after 5 s idle.
    """
    gevents = {id(g) for g in gc.get_objects() if isinstance(g, greenlet.greenlet)
               and (isinstance(g, gevent.threadpool._WorkerGreenlet) or g.parent is None)}
    return live_greenlets() - gevents


class Traffic:
    """Keeps WINDOW acked emits in flight on ``sio`` until stop(); records everything seen."""

    def __init__(self, sio: greensio.Socket) -> None:
        self.sio = sio
        self.sent = 0
        self.callbacks: dict[int, list[tuple[Any, ...]]] = collections.defaultdict(list)
        self.order: list[int] = []
        self.seen: collections.Counter[int] = collections.Counter()
        self._progress = gevent.event.Event()
        self._stopping = False
        sio.on("seen", self._on_seen)
        self._greenlet = gevent.spawn(self._run)

    @property
    def acked(self) -> int:
        return len(self.order)

    def _on_seen(self, seq: int) -> None:
        self.seen[seq] += 1

    def _callback(self, seq: int) -> Callable[..., None]:
        def callback(*args: Any) -> None:
            self.callbacks[seq].append(args)
            self.order.append(seq)
            self._progress.set()
        return callback

    def _run(self) -> None:
        while not self._stopping:
            if self.sent - self.acked >= WINDOW:
                self._progress.clear()
                self._progress.wait()
                continue
            self.sio.emit("server_emit", "seen", self.sent, callback=self._callback(self.sent))
            self.sent += 1

    def wait_acks(self, count: int, timeout: float = WAIT) -> None:
        wait_until(lambda: self.acked >= count, timeout, f"{count} acks (have {self.acked})")

    def more(self, count: int = 10) -> None:
        """Wait until ``count`` more packets than now are acked."""
        self.wait_acks(self.acked + count)

    def finish(self) -> None:
        """Stop emitting, wait for every outstanding ack, and check the callbacks."""
        self._stopping = True
        self._progress.set()
        self._greenlet.join(WAIT)
        assert self._greenlet.dead
        self.wait_acks(self.sent)
        failed = {seq: calls for seq, calls in self.callbacks.items() if calls != [(None, "ok")]}
        assert failed == {}, f"callbacks not exactly one success: {failed}"
        assert self.order == list(range(self.sent)), "acks out of order"
        missing = [seq for seq in range(self.sent) if not self.seen[seq]]
        # A seen(seq) can be lost with the connection only around a fault: a handful at most.
        assert len(missing) <= 2 * WINDOW, f"server never reported {missing}"

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.seen.values() if n > 1)


class Rig:
    """The Node server, a proxy in front of it, a socket on ``/`` and traffic on ``/chat``."""

    def __init__(self, server: ServerProcess, transports: list[str], **options: Any) -> None:
        self.server = server
        self.greenlets, self.fds = greensio_greenlets(), open_fds()
        self.proxy = FaultyProxy(server.port)
        self.disconnects = Recorder()
        self.connects = Recorder()
        self.sio = greensio.Socket(
            self.proxy.url, transports=transports, force_new=True, timeout=2,
            reconnection_delay=0.05, reconnection_delay_max=0.2, randomization_factor=0, **options)
        self.sio.on("disconnect", self.disconnects)
        self.sio.on("connect", self.connects)
        self.chat = self.sio.manager.socket("/chat", retries=3, ack_timeout=1)
        self.connects.wait(1)
        wait_until(lambda: self.chat.connected, what="/chat connected")
        self.traffic = Traffic(self.chat)
        self.traffic.more(10)

    def reconnected(self, timeout: float = WAIT) -> None:
        """Wait for the next connect of both namespaces, then for traffic on it."""
        self.connects.wait(2, timeout)
        wait_until(lambda: self.chat.connected, timeout, "/chat reconnected")
        self.traffic.more(10)

    def abort(self) -> None:
        """Stop everything without checking anything (teardown after a failure)."""
        self.traffic._stopping = True
        self.traffic._progress.set()
        self.chat.disconnect()
        self.sio.disconnect()
        self.proxy.stop()

    def close(self, report: Report) -> None:
        self.traffic.finish()
        report["duplicates_seen_by_server"] = self.traffic.duplicates
        report["emitted"] = self.traffic.sent
        self.chat.disconnect()
        self.sio.disconnect()
        assert not self.sio.active and not self.chat.active
        self.proxy.stop()
        wait_until(lambda: greensio_greenlets() - self.greenlets == set(), 5, "greensio greenlets to end")
        wait_until(lambda: open_fds() - self.fds == set(), 5, f"fds to close: {open_fds() - self.fds}")


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


@pytest.fixture
def node(start_server: StartServer) -> ServerProcess:
    return start_server("node", ping_interval=PING_INTERVAL, ping_timeout=PING_TIMEOUT)


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
        make_rig: MakeRig, node: ServerProcess, transports: list[str], report: Report) -> None:
    rig = make_rig(node, transports)
    rig.proxy.stall()  # a request surely in flight (see test_reset_reconnects)
    rig.proxy.cut()
    rig.proxy.unstall()
    reason = rig.disconnects.wait(1, timeout=3)[0][0]
    report["reason"] = reason
    assert reason in ("transport close", "transport error")
    rig.reconnected()
    rig.close(report)


@TRANSPORT_PARAMS
def test_reset_reconnects(
        make_rig: MakeRig, node: ServerProcess, transports: list[str], report: Report) -> None:
    rig = make_rig(node, transports)
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
        make_rig: MakeRig, node: ServerProcess, transports: list[str], report: Report) -> None:
    rig = make_rig(node, transports)
    stalled_at = time.monotonic()
    rig.proxy.stall()
    bound = PING_INTERVAL + PING_TIMEOUT + HEARTBEAT_MARGIN
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
        make_rig: MakeRig, node: ServerProcess, transports: list[str], report: Report) -> None:
    rig = make_rig(node, transports)
    paused_at = time.monotonic()
    node.pause()
    try:
        bound = PING_INTERVAL + PING_TIMEOUT + HEARTBEAT_MARGIN
        reason = rig.disconnects.wait(1, timeout=bound + 1)[0][0]
        report["detected_after"] = round(time.monotonic() - paused_at, 3)
        assert reason == "ping timeout"
        assert report["detected_after"] < bound
        assert not rig.sio.connected
    finally:
        node.resume()
    rig.reconnected()
    rig.close(report)


@TRANSPORT_PARAMS
def test_slow_link_still_works_in_order(
        make_rig: MakeRig, start_server: StartServer, transports: list[str], report: Report) -> None:
    # 7-byte pieces after 50 ms per chunk: a heartbeat of 0.3 s + 0.3 s would rightly time
    # out behind a few hundred bytes, so this server pings at the Node defaults' pace.
    server = start_server("node", ping_interval=5, ping_timeout=20)
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
        make_rig: MakeRig, node: ServerProcess, transports: list[str], report: Report) -> None:
    rig = make_rig(node, transports)
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
        make_rig: MakeRig, start_server: StartServer, transports: list[str], report: Report) -> None:
    # The server's answer is in flight (held by the proxy) when the connection carrying it is
    # cut. Without connection state recovery it is gone; the client must notice (a disconnect,
    # then a reconnect) rather than carry on with the same session as if nothing was missed.
    # The 0.3 s delay each way would rightly break a 0.3 s + 0.3 s heartbeat: slower pings here.
    rig = make_rig(start_server("node", ping_interval=2, ping_timeout=5), transports)
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
