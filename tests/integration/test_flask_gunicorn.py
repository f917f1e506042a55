"""examples/flask_gunicorn end to end: real gunicorn (gevent worker, 2 workers) against the Node server."""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.error
import urllib.request
from typing import Any, Optional

import gevent
import gevent.event
import pytest

from tests.servers.process import free_port

from .helpers import WAIT, connect
from .processes import ROOT, LineReader, spawn, stop

pytest.importorskip("flask")
gunicorn_config = pytest.importorskip("gunicorn.config")

EXAMPLE = ROOT / "examples" / "flask_gunicorn"
RECOVERY = 30  # seconds the app gets to work again after the Socket.IO server restarted


def _gunicorn_command(port: int) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(EXAMPLE / "gunicorn.conf.py"),
        "--chdir",
        str(EXAMPLE),
        "--bind",
        f"127.0.0.1:{port}",
        "app:app",
    ]
    if any(s.name == "control_socket_disable" for s in gunicorn_config.KNOWN_SETTINGS):
        command.insert(-1, "--no-control-socket")  # gunicorn >= 25 would share one in $HOME between test runs
    return command


class App:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def request(self, method: str, path: str, body: Optional[Any] = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=WAIT) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as err:
            return err.code, json.load(err)

    def call(self, value: str) -> tuple[int, Any]:
        return self.request("GET", f"/call?value={value}")

    def emit(self, event: Any, *args: Any) -> tuple[int, Any]:
        return self.request("POST", "/emit", {"event": event, "args": list(args)})


def test_flask_under_gunicorn_gevent_workers_calls_emits_and_survives_a_server_restart(start_server):
    sio_server = start_server("node")
    port = free_port()
    gunicorn = spawn(_gunicorn_command(port), env={**os.environ, "SOCKETIO_URL": sio_server.url})
    try:
        log = LineReader(gunicorn.stderr)
        log.wait_for(f"Listening at: http://127.0.0.1:{port}")  # from here requests wait for a worker
        app = App(port)
        status, health = app.request("GET", "/health")
        assert (status, health["status"]) == (200, "ok")

        # /call: the echo round trip through the Socket.IO server, from whichever worker serves it
        # (the kernel picks; with a new connection per request both workers usually do).
        for i in range(10):
            status, body = app.call(f"before-{i}")
            assert (status, body["result"]) == (200, f"before-{i}"), body

        # /emit answers 202 at once; the app logs the server's ack, which shows the event got there.
        for i in range(3):
            assert app.emit("echo", f"emitted-{i}", i) == (202, {"queued": True})
        for i in range(3):
            log.wait_for(f"ack for 'echo': ['emitted-{i}', {i}]", timeout=WAIT)
        assert app.emit("connect")[0] == 400  # a reserved name
        assert app.emit(None)[0] == 400

        # The Socket.IO server goes away and comes back: each worker's client reconnects by itself.
        sio_server.restart()
        sids = set()
        successes = 0
        with gevent.Timeout(RECOVERY, AssertionError(f"/call did not recover in {RECOVERY} s: {log.lines[-20:]}")):
            while successes < 10:  # a /call waits (up to 5 s) for the reconnection, so this loop does not spin
                status, body = app.call(f"after-{successes}")
                if status == 200:
                    assert body["result"] == f"after-{successes}"
                    sids.add(body["sid"])
                    successes += 1
                else:
                    assert status in (503, 504), body
                    assert successes == 0, f"failed again after recovering: {body}"

        # Stopping gunicorn: each worker disconnects its client cleanly (worker_exit), and gunicorn exits 0.
        with connect(sio_server.url) as observer:
            reasons: dict[str, str] = {}
            all_seen = gevent.event.Event()

            def on_peer_disconnect(sid: str, reason: str) -> None:
                reasons[sid] = reason
                if sids <= reasons.keys():
                    all_seen.set()

            observer.on("peer_disconnect", on_peer_disconnect)
            assert observer.call("observe", timeout=WAIT) == "ok"
            gunicorn.send_signal(signal.SIGTERM)
            assert gunicorn.wait(RECOVERY) == 0, log.join()
            assert all_seen.wait(WAIT), (sids, reasons)
            assert {reasons[sid] for sid in sids} == {"client namespace disconnect"}
        lines = log.join()
        assert not [line for line in lines if "Traceback" in line or "ERROR" in line or "Exception" in line], lines
    finally:
        stop(gunicorn)
