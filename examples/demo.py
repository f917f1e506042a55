"""greensio demo: starts a python-socketio server in this process and talks to it.

    ./dev demo            # the demo: a client session against the in-process server
    ./dev demo --serve    # only the server, on http://localhost:3000, for the README's tour

Needs greensio with the ``demo`` extra (gevent-websocket, python-socketio), which
``./dev demo`` installs. The output is the client's: the server logs nothing.

The server answers the same events in ``/`` and ``/chat``:

- ``message(text)``: emits ``message(text, user)`` to every socket of that namespace,
  ``user`` being ``auth["user"]`` if the sender's CONNECT gave one, else its id;
  acks with the length of ``text``;
- ``echo(*args)``: acks with ``args``;
- ``ping()``: acks with ``"pong"``.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import logging  # noqa: E402
from typing import Any  # noqa: E402

import socketio  # noqa: E402
from gevent import pywsgi  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402

import greensio  # noqa: E402

NAMESPACES = ("/", "/chat")


class DemoNamespace(socketio.Namespace):  # type: ignore[misc]  # python-socketio has no type hints
    """The events of the module docstring, in one namespace."""

    def __init__(self, namespace: str) -> None:
        super().__init__(namespace)
        self.users: dict[str, str] = {}

    def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        user = auth.get("user") if isinstance(auth, dict) else None
        self.users[sid] = str(user) if user else sid

    def on_disconnect(self, sid: str, *reason: Any) -> None:
        self.users.pop(sid, None)

    def on_message(self, sid: str, text: str) -> int:
        self.emit("message", (text, self.users.get(sid, sid)))
        return len(text)

    def on_echo(self, sid: str, *args: Any) -> tuple[Any, ...]:
        return args

    def on_ping(self, sid: str) -> str:
        return "pong"


def make_server() -> socketio.Server:
    """The demo's Socket.IO server, quiet: DemoNamespace in each of NAMESPACES."""
    server = socketio.Server(async_mode="gevent", logger=False, engineio_logger=False)
    for namespace in NAMESPACES:
        server.register_namespace(DemoNamespace(namespace))
    return server


def start_server(port: int = 0) -> pywsgi.WSGIServer:
    """Serve make_server() on 127.0.0.1:port (0: a free port), without an access log."""
    # gevent-websocket logs each request at INFO on the "geventwebsocket.handler" logger.
    logging.getLogger("geventwebsocket.handler").setLevel(logging.WARNING)
    app = socketio.WSGIApp(make_server())
    http = pywsgi.WSGIServer(("127.0.0.1", port), app, handler_class=WebSocketHandler, log=None, error_log=None)
    http.start()
    return http


def demo() -> None:
    """A client session against the in-process server: events, acks, call, wait_for."""
    http = start_server()
    url = f"http://127.0.0.1:{http.server_port}/chat"
    print(f"demo server (python-socketio, in this process) at {url}")

    with greensio.connect(url, auth={"user": "demo"}, timeout=10) as sio:
        print(f"connected: id={sio.id} transport={sio.transport}")

        @sio.on("message")
        def on_message(text: str, user: str) -> None:
            print(f"event 'message': {user} says {text!r}")

        sio.emit("message", "hello", callback=lambda length: print(f"ack for 'message': {length} characters"))
        print(f"call('echo', 42) -> {sio.call('echo', 42, timeout=5)!r}")
        print(f"call('ping') -> {sio.call('ping', timeout=5)!r}")
        sio.off("message")
        sio.emit("message", "again")
        print(f"wait_for('message') -> {sio.wait_for('message', timeout=5)!r}")
    print("disconnected")
    http.stop(timeout=1)


def serve(port: int) -> None:
    """Only the server, until Ctrl-C."""
    http = start_server(port)
    print(f"demo server at http://localhost:{http.server_port} (namespaces / and /chat); Ctrl-C stops it", flush=True)
    try:
        http.serve_forever()
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="greensio demo")
    parser.add_argument("--serve", action="store_true", help="only run the server, for the README's tour")
    parser.add_argument("--port", type=int, default=3000, help="the port of --serve (default 3000)")
    args = parser.parse_args(argv)
    # greensio's own INFO lines are part of the client's output; everything else only from WARNING on.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("greensio").setLevel(logging.INFO)
    if args.serve:
        serve(args.port)
    else:
        demo()


if __name__ == "__main__":
    main()
