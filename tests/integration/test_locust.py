"""greensio.contrib.locust: SocketIOUser in a local Locust Environment, and the example locustfile
run distributed (a master and two workers as child processes)."""

from __future__ import annotations

import csv
import gc
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import gevent
import gevent.event
import pytest

import greensio
from tests.servers.process import free_port

from .helpers import TRANSPORTS, WAIT
from .processes import ROOT

pytest.importorskip("locust")

from locust import constant, task  # noqa: E402
from locust.env import Environment  # noqa: E402

from greensio.contrib import locust as locust_contrib  # noqa: E402
from greensio.contrib.locust import SocketIOUser  # noqa: E402

LOCUSTFILE = ROOT / "examples" / "locust" / "locustfile.py"
DISTRIBUTED_TIMEOUT = 90  # seconds for the master and both workers to exit


class SuiteUser(SocketIOUser):
    """The base of this module's users: over the transports the integration suite runs on."""

    abstract = True
    transports = TRANSPORTS


class Harness:
    """A local Locust runner over one user class, recording every request event."""

    def __init__(self, user_class: type[SocketIOUser], host: str) -> None:
        self.env = Environment(user_classes=[user_class], host=host)
        self.runner = self.env.create_local_runner()
        self.requests: list[dict[str, Any]] = []
        self.user_errors: list[BaseException] = []
        self._changed = gevent.event.Event()
        self.env.events.request.add_listener(self._on_request)
        self.env.events.user_error.add_listener(lambda user_instance, exception, tb: self.user_errors.append(exception))

    def _on_request(self, **kwargs: Any) -> None:
        self.requests.append(kwargs)
        self._changed.set()

    def start(self, users: int) -> None:
        self.runner.start(users, spawn_rate=100)

    def matching(self, request_type: str, name: str, failed: Optional[bool] = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.requests
            if r["request_type"] == request_type
            and r["name"] == name
            and (failed is None or (r["exception"] is not None) == failed)
        ]

    def wait_for(
        self, request_type: str, name: str, count: int = 1, failed: Optional[bool] = None, timeout: float = WAIT
    ) -> list[dict[str, Any]]:
        """Block until ``count`` matching request events were fired; fail the test after ``timeout``."""
        timer = gevent.Timeout(timeout)
        try:
            with timer:
                while len(self.matching(request_type, name, failed)) < count:
                    self._changed.clear()
                    self._changed.wait()
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            seen = [(r["request_type"], r["name"], r["exception"]) for r in self.requests[-20:]]
            raise AssertionError(
                f"fewer than {count} {request_type} {name} requests (failed={failed}) in {timeout} s; last: {seen}"
            ) from None
        return self.matching(request_type, name, failed)

    def until(self, predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        """Block until ``predicate()`` holds, re-checked on every request event and every 50 ms."""
        with gevent.Timeout(timeout, AssertionError(f"not within {timeout} s: {what}")):
            while not predicate():
                self._changed.clear()
                self._changed.wait(0.05)

    def stop(self) -> None:
        self.runner.quit()


@pytest.fixture
def harness():
    """harness(user_class, host) -> Harness; every runner is quit at the end of the test."""
    made: list[Harness] = []

    def make(user_class: type[SocketIOUser], host: str) -> Harness:
        made.append(Harness(user_class, host))
        return made[-1]

    yield make
    for h in made:
        h.stop()


# -- single process, local runner ------------------------------------------------------------------


def test_a_user_reports_its_connect_call_and_ack_round_trips_emits_and_received_events(node_server, harness):
    acked: list[tuple[str, float]] = []
    users: list[SocketIOUser] = []

    class Observer:
        def acked(self, event: str, seconds: float) -> None:
            acked.append((event, seconds))

    class EchoUser(SuiteUser):
        wait_time = constant(0.01)
        socketio_options = {"observer": Observer()}

        def on_start(self) -> None:
            users.append(self)
            super().on_start()

        @task
        def work(self) -> None:
            assert self.call("echo", "abc", 1) == ("abc", 1)
            self.emit("echo", {"k": "v"}, callback=lambda err, *args: None, timeout=WAIT)
            self.emit("echo", b"\x00" * 100)  # no ack: the server sends it back

    h = harness(EchoUser, node_server.url)
    h.start(2)
    h.wait_for("call", "echo", 10)
    h.wait_for("ack", "echo", 5)
    h.wait_for("recv", "echo", 5)
    h.stop()

    connects = h.matching("connect", "/")
    assert len(connects) == 2 and all(r["exception"] is None and r["response_time"] > 0 for r in connects)
    calls, acks = h.matching("call", "echo"), h.matching("ack", "echo")
    assert all(r["exception"] is None and r["response_time"] > 0 and r["response_length"] == 0 for r in calls + acks)
    # Each reported round trip is greensio's own figure, also passed on to the user's observer.
    assert sorted(r["response_time"] for r in calls + acks) == sorted(s * 1000.0 for _, s in acked)
    emits = h.matching("emit", "echo")
    binary = len('51-["echo",{"_placeholder":true,"num":0}]') + 100
    assert {r["response_length"] for r in emits} >= {len('20["echo","abc",1]'), binary}  # ack id 0 in "20[..."
    assert all(r["response_time"] == 0 for r in emits)
    assert {r["response_length"] for r in h.matching("recv", "echo")} == {binary}
    assert not [r for r in h.requests if r["exception"] is not None]
    assert not h.user_errors

    stats = h.env.stats
    assert stats.get("/", "connect").num_requests == 2
    call_stats = stats.get("echo", "call")
    assert call_stats.num_requests >= 10 and call_stats.avg_response_time > 0 and call_stats.min_response_time > 0
    assert stats.total.num_failures == 0
    assert len(users) == 2 and not any(u.sio.active for u in users)  # on_stop disconnected them
    assert not [r for r in h.requests if r["request_type"] == "disconnect"]  # "io client disconnect" is not a failure


@pytest.mark.parametrize("ack_timeout", [None, 0.1])
def test_a_call_timeout_is_a_failure_and_the_task_goes_on(node_server, harness, ack_timeout):
    results: list[Any] = []
    users: list[SocketIOUser] = []

    class SilentUser(SuiteUser):
        wait_time = constant(0)
        call_timeout = 0.1  # a gevent.Timeout around the wait; with ack_timeout set, greensio's own
        socketio_options = {"ack_timeout": ack_timeout} if ack_timeout else {}

        def on_start(self) -> None:
            users.append(self)
            super().on_start()

        @task
        def ask(self) -> None:
            results.append(self.call("nobody_acks_this"))  # the server has no handler for it

    h = harness(SilentUser, node_server.url)
    h.start(1)
    failures = h.wait_for("call", "nobody_acks_this", 2, failed=True)
    h.stop()
    message = "no ack for 'nobody_acks_this' " + ("in time" if ack_timeout else "within 0.1 s")
    assert all(isinstance(r["exception"], greensio.TimeoutError) for r in failures)
    assert {str(r["exception"]) for r in failures} == {message}
    assert all(r["response_time"] >= 100 for r in failures)
    assert results[:2] == [None, None]
    assert not h.user_errors
    assert h.env.stats.get("nobody_acks_this", "call").num_failures >= 2
    assert not users[0].sio._ns.session.acks  # no ack slot outlives its call


def test_a_lost_connection_fails_the_call_in_flight_reports_the_disconnect_and_the_reconnect(node_server, harness):
    users: list[SocketIOUser] = []

    class AskedUser(SuiteUser):
        wait_time = constant(0.01)
        socketio_options = {"reconnection_delay": 0.05, "reconnection_delay_max": 0.1}

        def on_start(self) -> None:
            users.append(self)
            super().on_start()

        @task
        def ask(self) -> None:
            # The server asks us "hang" and waits up to 5 s for an ack that never comes.
            self.call("server_call", "hang")

    h = harness(AskedUser, node_server.url)
    h.start(1)
    h.wait_for("recv", "hang")  # the call is in flight
    users[0].sio.emit("close_engine")
    (failed_call,) = h.wait_for("call", "server_call", failed=True)
    assert isinstance(failed_call["exception"], greensio.DisconnectedError)
    (disconnect,) = h.wait_for("disconnect", "transport close", failed=True)
    assert isinstance(disconnect["exception"], greensio.DisconnectedError)
    (reconnect,) = h.wait_for("reconnect", "/", failed=False)
    assert reconnect["response_time"] > 0
    h.wait_for("recv", "hang", 2)  # the task goes on over the new connection
    h.stop()
    assert len(h.matching("connect", "/")) == 1
    assert not h.user_errors


def test_a_server_disconnect_is_a_failure(node_server, harness):
    class LeavingUser(SuiteUser):
        wait_time = constant(0.01)
        call_timeout = 0.2

        @task
        def leave(self) -> None:
            if self.sio.connected:
                self.emit("disconnect_me")
            else:
                self.call("echo", 1)  # no reconnect after a server disconnect: it fails at once

    h = harness(LeavingUser, node_server.url)
    h.start(1)
    h.wait_for("disconnect", "io server disconnect", failed=True)
    (failed_call, *_) = h.wait_for("call", "echo", failed=True)
    h.stop()
    assert isinstance(failed_call["exception"], greensio.DisconnectedError)
    assert failed_call["response_time"] < 200  # not after call_timeout
    assert len(h.matching("disconnect", "io server disconnect")) == 1
    assert not h.user_errors


@pytest.mark.parametrize("refused", ["namespace", "port"])
def test_a_failed_connect_is_reported_and_the_user_stops_without_running_a_task(node_server, harness, refused):
    ran: list[SocketIOUser] = []
    users: list[SocketIOUser] = []

    class Unwelcome(SuiteUser):
        namespace = "/private"  # refused without auth.token == "secret"
        connect_timeout = 0.5

        def on_start(self) -> None:
            users.append(self)
            super().on_start()

        @task
        def work(self) -> None:
            ran.append(self)

    host = node_server.url if refused == "namespace" else f"http://127.0.0.1:{free_port()}"
    h = harness(Unwelcome, host)
    h.start(1)
    (failure,) = h.wait_for("connect", "/private", failed=True)
    users[0].greenlet.join(WAIT)
    assert users[0].greenlet.dead
    if refused == "namespace":
        assert isinstance(failure["exception"], greensio.ConnectionError)
        assert str(failure["exception"]) == "not authorized"
    else:
        assert isinstance(failure["exception"], greensio.TimeoutError)
        assert "connection refused by 127.0.0.1" in str(failure["exception"])
        assert failure["response_time"] >= 500
    assert not ran and not h.user_errors
    assert not users[0].sio.active
    h.until(lambda: h.runner.user_count == 0, "the runner forgets the stopped user")


def test_auth_namespace_and_report_switches(node_server, harness):
    class QuietUser(SuiteUser):
        url = node_server.url + "/ignored?x=1"
        namespace = "private"
        report_emits = False
        report_received = False
        wait_time = constant(0.01)

        def auth(self) -> dict[str, str]:
            return {"token": "secret"}

        @task
        def work(self) -> None:
            self.sio.emit("echo", "no ack")  # comes back as an event
            self.call("echo", 1)

    h = harness(QuietUser, "http://unused.invalid")
    h.start(1)
    h.wait_for("call", "echo", 5, failed=False)
    h.stop()
    (connect,) = h.matching("connect", "/private")
    assert connect["exception"] is None and connect["url"] == node_server.url + "/private?x=1"
    assert not [r for r in h.requests if r["request_type"] in ("emit", "recv")]


def test_emit_errors_and_ack_timeouts_are_reported_not_raised():
    # A user that is never started: its socket stays disconnected, so emits wait in the offline buffer.
    class Offline(SuiteUser):
        url = f"http://127.0.0.1:{free_port()}"
        socketio_options = {"max_buffer": 1}

    env = Environment(user_classes=[Offline])
    requests: list[dict[str, Any]] = []
    env.events.request.add_listener(lambda **kwargs: requests.append(kwargs))
    user = Offline(env)
    answers: list[tuple[Any, ...]] = []
    done = gevent.event.Event()

    def callback(*args: Any) -> None:
        answers.append(args)
        done.set()

    user.emit("echo", 1, callback=callback, timeout=0.05)  # buffered, then expires there
    user.emit("echo", 2)  # the buffer is full: reported, not raised
    assert done.wait(WAIT)
    user.on_stop()
    failures = [(r["request_type"], r["name"], type(r["exception"])) for r in requests if r["exception"] is not None]
    assert failures == [("emit", "echo", greensio.BufferFullError), ("ack", "echo", greensio.TimeoutError)]
    assert len(answers) == 1 and isinstance(answers[0][0], greensio.TimeoutError)


def test_the_hub_lag_is_one_row_a_second_per_process_and_shows_a_blocked_hub(node_server, harness):
    class Idle(SuiteUser):
        wait_time = constant(0.2)

        @task
        def nothing(self) -> None:
            pass

    h = harness(Idle, node_server.url)
    h.start(3)
    h.wait_for("connect", "/", 3)
    h.wait_for("hub", "hub lag", 1)
    started = time.perf_counter()
    while time.perf_counter() - started < 0.4:  # CPU-bound: the hub and every greenlet wait
        pass
    seen = len(h.matching("hub", "hub lag"))
    rows = h.wait_for("hub", "hub lag", seen + 2)
    # The sampler's 100 ms timer fired at least 400 - 100 ms late; the row of that second says so.
    assert max(r["response_time"] for r in rows) >= 300
    assert all(r["exception"] is None and r["response_time"] >= 0 and r["url"] == "" for r in rows)
    # One row a second for the process, not one per user: with 3 users they still come 1 s apart.
    starts = [r["start_time"] for r in rows]
    assert all(later - earlier >= 0.9 for earlier, later in zip(starts, starts[1:])), starts
    h.stop()
    h.until(lambda: locust_contrib._HUB_LAG._sampler is None, "the sampler ends with the last user")


@pytest.mark.parametrize("gc_freeze", [True, False])
def test_the_process_is_gc_frozen_once_the_ramp_up_is_connected_and_unfrozen_at_stop(node_server, harness, gc_freeze):
    class Idle(SuiteUser):
        wait_time = constant(0.2)

        @task
        def nothing(self) -> None:
            pass

    Idle.gc_freeze = gc_freeze
    freezes = locust_contrib._GC_FREEZE.freezes
    h = harness(Idle, node_server.url)
    h.start(3)
    h.wait_for("connect", "/", 3)
    ramp_done = lambda: h.runner.state == "running" and locust_contrib._GC_FREEZE.connecting == 0  # noqa: E731
    h.until(ramp_done, "spawning complete and every connect over")
    if gc_freeze:  # frozen by then: the freeze follows the later of the two at once
        assert locust_contrib._GC_FREEZE.freezes == freezes + 1
        assert gc.get_freeze_count() > 0
    else:
        assert locust_contrib._GC_FREEZE.freezes == freezes and gc.get_freeze_count() == 0
    h.stop()
    assert gc.get_freeze_count() == 0


def test_push_latency_rows_come_from_the_servers_send_time_in_seconds_or_milliseconds(node_server, harness):
    def fails() -> float:
        raise ZeroDivisionError("no send time")

    class Pushed(SuiteUser):
        wait_time = constant(0.05)
        push_latency = {"stamp_s": float, "stamp_ms": float, "ahead": float, "broken": fails}

        @task
        def ask(self) -> None:
            sent = time.time() - 0.2  # as if the server had sent these 200 ms ago
            self.emit("server_emit", "stamp_s", sent)  # the server emits ("stamp_s", sent) back
            self.emit("server_emit", "stamp_ms", sent * 1000.0)
            self.emit("server_emit", "ahead", time.time() + 60)  # a server clock 60 s ahead
            self.emit("server_emit", "broken")
            self.emit("server_emit", "other", sent)

    h = harness(Pushed, node_server.url)
    h.start(1)
    for event in ("stamp_s", "stamp_ms", "ahead"):
        h.wait_for("push", event, 3, failed=False)
    h.wait_for("push", "broken", 3, failed=True)
    h.wait_for("recv", "other", 3)
    h.stop()
    for event in ("stamp_s", "stamp_ms"):  # both units read right: about 200 ms, not 200 s nor 0
        times = [r["response_time"] for r in h.matching("push", event)]
        assert all(200 <= t < 200 + WAIT * 1000 for t in times), (event, times)
    assert {r["response_time"] for r in h.matching("push", "ahead")} == {0}
    broken = h.matching("push", "broken")
    assert all(isinstance(r["exception"], ZeroDivisionError) and r["response_time"] == 0 for r in broken)
    # The events listed in push_latency get push rows instead of recv rows; the others keep theirs.
    assert {r["name"] for r in h.requests if r["request_type"] == "recv"} == {"other"}
    assert not h.user_errors


def test_connect_phases_become_connect_rows_named_namespace_and_phase():
    forwarded: list[tuple[str, float]] = []

    class Inner:
        def connect_phase(self, phase: str, seconds: float) -> None:
            forwarded.append((phase, seconds))

    class Phased(SuiteUser):
        url = f"http://127.0.0.1:{free_port()}"
        namespace = "/chat"
        socketio_options = {"observer": Inner()}

    env = Environment(user_classes=[Phased])
    requests: list[dict[str, Any]] = []
    env.events.request.add_listener(lambda **kwargs: requests.append(kwargs))
    user = Phased(env)  # never started: the observer is called as greensio's runtime would
    phases = [("tcp", 0.0015), ("handshake", 0.002), ("namespace", 0.0125), ("upgrade", 0.25)]
    for phase, seconds in phases:
        user.sio.manager.observer.connect_phase(phase, seconds)
    rows = [(r["request_type"], r["name"], r["response_time"], r["exception"]) for r in requests]
    assert rows == [
        ("connect", "/chat tcp", 1.5, None),
        ("connect", "/chat handshake", 2.0, None),
        ("connect", "/chat namespace", 12.5, None),
        ("connect", "/chat upgrade", 250.0, None),
    ]
    assert forwarded == phases


def test_a_real_connect_reports_its_phases(node_server, harness):
    class Phased(SuiteUser):
        wait_time = constant(1)

        @task
        def nothing(self) -> None:
            pass

    h = harness(Phased, node_server.url)
    h.start(1)
    (connect,) = h.wait_for("connect", "/")
    upgrades = TRANSPORTS[0] == "polling" and "websocket" in TRANSPORTS
    phases = ["tcp", "handshake", "namespace"] + (["upgrade"] if upgrades else [])
    rows = {phase: h.wait_for("connect", f"/ {phase}", timeout=2)[0] for phase in phases}
    h.stop()
    assert all(r["exception"] is None and r["response_time"] > 0 for r in rows.values()), rows
    # The phases before the namespace's reply add up to at most the connect they are part of.
    parts = sum(rows[phase]["response_time"] for phase in ("tcp", "handshake", "namespace"))
    assert parts <= connect["response_time"] + 1, (parts, connect)


# -- distributed: the example locustfile, one master and two workers ---------------------------------


def _read_rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open(newline="") as f:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(f)}


def test_the_example_runs_distributed_and_the_master_aggregates_the_round_trips(start_server, tmp_path):
    server = start_server("node")
    port = free_port()
    prefix = tmp_path / "run"
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", server.url]
    master_argv = command + [
        "--master",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        "--expect-workers",
        "2",
        "--expect-workers-max-wait",
        "60",
        "--headless",
        "-u",
        "6",
        "-r",
        "6",
        "-t",
        "6s",
        "--csv",
        str(prefix),
    ]
    worker_argv = command + ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: tmp_path / f"{name}.log" for name in ("master", "worker1", "worker2")}
    try:
        for name, argv in (("master", master_argv), ("worker1", worker_argv), ("worker2", worker_argv)):
            with logs[name].open("wb") as log:  # the child keeps its own copy of the descriptor
                processes[name] = subprocess.Popen(
                    argv, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
                )
        deadline = time.monotonic() + DISTRIBUTED_TIMEOUT
        for name, process in processes.items():
            try:
                process.wait(max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} still running after {DISTRIBUTED_TIMEOUT} s:\n{_tails(logs)}")
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait(10)
    codes = {name: p.returncode for name, p in processes.items()}
    assert codes == {"master": 0, "worker1": 0, "worker2": 0}, _tails(logs)  # the master exits 1 on any failure

    rows = _read_rows(Path(f"{prefix}_stats.csv"))

    def count(kind: str, name: str) -> int:
        return int(rows[kind, name]["Request Count"]) if (kind, name) in rows else 0

    assert count("connect", "/") == 6, rows
    assert count("call", "echo") > 0 and count("call", "server_call") > 0, rows
    assert count("ack", "echo") > 0 and count("emit", "echo") > 0, rows
    assert count("recv", "echo") > 0 and count("recv", "think") > 0, rows
    echo = rows["call", "echo"]
    assert float(echo["Average Response Time"]) > 0 and float(echo["Min Response Time"]) > 0, echo
    # server_call's round trip includes the example's 20 ms handler on the client: a real ack round trip
    # (Locust buckets times under 100 ms to whole milliseconds, so a loopback echo's median may read 0).
    asked = rows["call", "server_call"]
    assert int(asked["50%"]) >= 15 and int(asked["Median Response Time"]) >= 15, asked
    assert float(rows["emit", "echo"]["Average Content Size"]) > 0
    assert all(row["Failure Count"] == "0" for row in rows.values()), rows
    with open(f"{prefix}_failures.csv", newline="") as f:
        assert len(list(csv.reader(f))) == 1  # the header only


def _tails(logs: dict[str, Path]) -> str:
    return "\n".join(
        f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-30:])
        for name, path in logs.items()
        if path.exists()
    )
