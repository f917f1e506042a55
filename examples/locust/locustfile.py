"""A Locust load test of a Socket.IO server with greensio's SocketIOUser.

Against the project's test server (tests/servers/: ``echo`` acks with its arguments,
or emits them back without an ack; ``server_call`` asks the client and acks with
the client's answer)::

    node tests/servers/node_server.js --port 3000 &
    locust -f examples/locust/locustfile.py --headless -u 10 -r 5 -t 10s --host http://127.0.0.1:3000

Rows in Locust's statistics (Type / Name): ``connect /``, ``call echo`` and
``call server_call`` (real ack round trips), ``ack echo`` (an emit with a callback),
``emit <event>`` (bytes sent), ``recv <event>`` (bytes received).
"""

from __future__ import annotations

import gevent
from locust import between, task

from greensio.contrib.locust import SocketIOUser


class EchoUser(SocketIOUser):
    wait_time = between(0.05, 0.2)
    socketio_options = {"reconnection_delay": 0.5}
    call_timeout = 10.0  # a call not acked within 10 s is a failure ("call echo"), and the task goes on

    def on_start(self) -> None:
        # Handlers first, so that events sent right on connection are seen too.
        self.sio.on("think", self.think)
        super().on_start()  # connects ("connect /" row); a user that cannot connect stops

    @task(4)
    def call_echo(self) -> None:
        answer = self.call("echo", {"text": "hello", "n": 42})
        if answer is not None and answer != {"text": "hello", "n": 42}:
            raise AssertionError(f"echo answered {answer!r}")  # Locust lists it under Exceptions

    @task(2)
    def emit_echo(self) -> None:
        # No ack asked: the server emits it back, which shows up as "recv echo".
        self.emit("echo", "fire and forget")

    @task(2)
    def emit_with_ack(self) -> None:
        # A callback with a timeout: the round trip is an "ack echo" row, a timeout a failure of it.
        self.emit("echo", 1, 2, 3, callback=self.acked, timeout=10)

    @task(1)
    def server_asks_back(self) -> None:
        # The server asks this client "think(20)" and acks with the answer: the round trip
        # includes the client's 20 ms of work in the handler below.
        self.call("server_call", "think", 20)

    def think(self, milliseconds: int) -> str:
        gevent.sleep(milliseconds / 1000)  # simulated client-side work; handlers may block
        return "done"

    def acked(self, err: BaseException | None, *args: object) -> None:
        pass  # failures are already reported; a real test might check args here
