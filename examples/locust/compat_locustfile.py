"""A Locust user written the python-socketio way, running on greensio.compat.

This is how Locust users drive ``socketio.Client`` today: a plain ``User`` that
connects in ``on_start``, times each ``call()`` itself and reports it with
``events.request.fire``. The only line that differs from a python-socketio
locustfile is the import. Against the project's test server::

    node tests/servers/node_server.js --port 3000 &
    locust -f examples/locust/compat_locustfile.py --headless -u 10 -r 5 -t 10s --host http://127.0.0.1:3000

Rows in Locust's statistics: ``connect /``, ``call echo``, ``call server_call`` (the
server asks this user ``think`` and acks with its answer), ``emit echo``.
greensio's own ``SocketIOUser`` (examples/locust/locustfile.py) reports more, and
more exactly (round trips measured by greensio's reader rather than around the call).
"""

from __future__ import annotations

import time
from typing import Any, Optional

from locust import User, between, task
from locust.exception import StopUser

from greensio import compat as socketio  # was: import socketio


class CompatUser(User):
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.sio = socketio.Client(reconnection_delay=0.5)
        self.sio.on("think", self.think)
        started = time.perf_counter()
        try:
            self.sio.connect(self.host, transports=["websocket"], wait_timeout=10)
        except socketio.exceptions.ConnectionError as exc:
            self.report("connect", "/", started, exc)
            raise StopUser() from exc
        self.report("connect", "/", started)

    def on_stop(self) -> None:
        self.sio.disconnect()

    @task(4)
    def call_echo(self) -> None:
        answer = self.timed_call("echo", {"text": "hello", "n": 42})
        if answer is not None and answer != {"text": "hello", "n": 42}:
            raise AssertionError(f"echo answered {answer!r}")

    @task(2)
    def emit_echo(self) -> None:
        started = time.perf_counter()
        try:
            self.sio.emit("echo", "fire and forget")  # the server emits it back: handled by nobody
        except socketio.exceptions.SocketIOError as exc:  # BadNamespaceError while reconnecting
            self.report("emit", "echo", started, exc)
        else:
            self.report("emit", "echo", started)

    @task(1)
    def server_asks_back(self) -> None:
        self.timed_call("server_call", ("think", 20))

    def think(self, milliseconds: int) -> str:
        self.sio.sleep(milliseconds / 1000)  # simulated client-side work; handlers may block
        return "done"

    def timed_call(self, event: str, data: Any) -> Any:
        started = time.perf_counter()
        try:
            answer = self.sio.call(event, data, timeout=10)
        except socketio.exceptions.SocketIOError as exc:  # TimeoutError, DisconnectedError, BadNamespaceError
            self.report("call", event, started, exc)
            return None
        self.report("call", event, started)
        return answer

    def report(self, kind: str, name: str, started: float, exc: Optional[BaseException] = None) -> None:
        self.environment.events.request.fire(
            request_type=kind,
            name=name,
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=0,
            exception=exc,
            context={},
        )
