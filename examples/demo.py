"""greensio demo: starts a python-socketio server in this process and talks to it.

Run: ./dev demo
"""

from gevent import monkey

monkey.patch_all()

import logging  # noqa: E402

import socketio  # noqa: E402
from gevent import pywsgi  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402

import greensio  # noqa: E402


def start_server() -> pywsgi.WSGIServer:
    """A tiny chat server on a free port of 127.0.0.1."""
    server = socketio.Server(async_mode="gevent")

    @server.event
    def chat(sid, text):
        server.emit("chat", f"server got {text!r}", to=sid)
        return len(text)  # the ack

    @server.event
    def upper(sid, text):
        return text.upper()

    http = pywsgi.WSGIServer(("127.0.0.1", 0), socketio.WSGIApp(server), handler_class=WebSocketHandler, log=None)
    http.start()
    return http


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    http = start_server()
    url = f"http://127.0.0.1:{http.server_port}"
    print(f"server listening on {url}")

    with greensio.connect(url, timeout=10) as sio:
        print(f"connected: id={sio.id} transport={sio.transport}")

        @sio.on("chat")
        def on_chat(text):
            print(f"event 'chat': {text}")

        sio.emit("chat", "hello", callback=lambda length: print(f"ack for 'chat': {length} characters"))
        print(f"call('upper', 'gevent') -> {sio.call('upper', 'gevent', timeout=5)!r}")
        sio.off("chat")
        sio.emit("chat", "again")
        print(f"wait_for('chat') -> {sio.wait_for('chat', timeout=5)!r}")
    print("disconnected")
    http.stop()


if __name__ == "__main__":
    main()
