"""A Flask app that talks to a Socket.IO server through greensio, served by gunicorn's gevent worker.

    SOCKETIO_URL=http://localhost:3000 gunicorn -c gunicorn.conf.py app:app

Routes: ``POST /emit`` (JSON body ``{"event": ..., "args": [...]}``; queues the event, 202),
``GET /call?value=...`` (calls the server's ``echo`` and returns its answer), ``GET /health``.
Each worker process has one greensio Socket, created on first use, i.e. after gunicorn forked
the worker (see README.md for why).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Optional

from flask import Flask, jsonify, request

import greensio

SOCKETIO_URL = os.environ.get("SOCKETIO_URL", "http://localhost:3000")
CALL_TIMEOUT = 5.0  # seconds a request waits for the server's answer (reconnecting included)
ACK_TIMEOUT = 10.0  # seconds an emitted event waits for its ack before a warning is logged

logging.basicConfig(level=logging.INFO, format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")
log = logging.getLogger("app")


class SocketIOClient:
    """This process's one greensio Socket, created on first use.

    A Socket created before ``os.fork()`` is inert in the child, so the Socket is created
    lazily in the worker, and again if the process turns out to be a fork of its creator.
    No lock is needed: nothing here yields to another greenlet.
    """

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.options = options
        self._socket: Optional[greensio.Socket] = None
        self._pid = 0

    def get(self) -> greensio.Socket:
        if self._socket is None or self._pid != os.getpid():
            # Connects in the background and reconnects forever (the defaults); emits made
            # while disconnected wait in the offline buffer, bounded by max_buffer.
            self._socket = greensio.Socket(self.url, transports=["websocket"], max_buffer=1000, **self.options)
            self._pid = os.getpid()
            self._socket.on("connect", lambda: log.info("connected to %s", self.url))
            self._socket.on("disconnect", self._on_disconnect)
        return self._socket

    def _on_disconnect(self, reason: str) -> None:
        level = logging.INFO if reason == "io client disconnect" else logging.WARNING  # ours, or the network's
        log.log(level, "disconnected from %s: %s", self.url, reason)

    def close(self) -> None:
        """Disconnect cleanly (gunicorn.conf.py calls this when a worker exits)."""
        socket, self._socket = self._socket, None
        if socket is not None and self._pid == os.getpid():
            socket.disconnect()


app = Flask(__name__)
socketio = app.extensions["greensio"] = SocketIOClient(SOCKETIO_URL)


@app.post("/emit")
def emit() -> Any:
    body = request.get_json(silent=True)
    event = body.get("event") if isinstance(body, dict) else None
    args = body.get("args", []) if isinstance(body, dict) else None
    if not isinstance(event, str) or not isinstance(args, list):
        return jsonify(error='expected a JSON body {"event": name, "args": [...]}'), 400

    def acked(err: Optional[Exception], *ack: Any) -> None:
        if err is None:
            log.info("ack for %r: %s", event, list(ack))
        else:
            log.warning("no ack for %r: %r", event, err)

    try:
        socketio.get().emit(event, *args, callback=acked, timeout=ACK_TIMEOUT)
    except greensio.BufferFullError:
        return jsonify(error="the Socket.IO server is unreachable and the send buffer is full"), 503
    except ValueError as exc:  # a reserved event name, or larger than the server accepts
        return jsonify(error=str(exc)), 400
    return jsonify(queued=True), 202


@app.get("/call")
def call() -> Any:
    sio = socketio.get()
    try:
        result = sio.call("echo", request.args.get("value", ""), timeout=CALL_TIMEOUT)
    except greensio.TimeoutError:
        return jsonify(error="the Socket.IO server did not answer in time"), 504
    except greensio.ConnectionError as exc:  # DisconnectedError: the connection dropped meanwhile
        return jsonify(error=f"the Socket.IO connection dropped: {exc}"), 503
    return jsonify(result=result, worker=os.getpid(), sid=sio.id)


@app.get("/health")
def health() -> Any:
    return jsonify(status="ok", worker=os.getpid(), socketio="connected" if socketio.get().connected else "connecting")
