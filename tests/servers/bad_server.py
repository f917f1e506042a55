"""A scriptable, misbehaving Engine.IO v4 / Socket.IO v5 peer (websocket only).

    python bad_server.py --port P

Query parameters of GET /socket.io/?EIO=4&transport=websocket:
  pi, pt  pingInterval (> 0) / pingTimeout in ms (default 25000 / 20000)
  bad     JSON list of raw frames sent after the first namespace CONNECT reply
          of the first connection carrying `token` (a string is a text frame,
          {"b64": "..."} a binary frame)
  token   identifies the client across reconnections

Otherwise it is a well-behaved echo peer: `42[ev, ...args]` is answered with
`42["echo", ...args]`, `42<id>[ev, ...args]` with `43<id>[...args]` (same
namespace prefix). Everything else from the client is ignored.
"""

import argparse
import base64
import functools
import json
import re
import secrets
import signal
from typing import Optional
from urllib.parse import parse_qsl

import gevent
from gevent.lock import Semaphore
from gevent.pywsgi import WSGIServer
from geventwebsocket.exceptions import WebSocketError
from geventwebsocket.handler import WebSocketHandler

# Socket.IO packet: type, optional "/nsp,", optional ack id, optional JSON.
PACKET = re.compile(r"(?P<type>\d)(?:(?P<nsp>/[^,]*),)?(?P<id>\d+)?(?P<data>.*)", re.S)

scripted_tokens: set[Optional[str]] = set()
dumps = functools.partial(json.dumps, separators=(",", ":"))


class Peer:
    def __init__(self, ws, query):
        self.ws = ws
        self.ping_interval = int(query.get("pi", 25000))
        self.ping_timeout = int(query.get("pt", 20000))
        if self.ping_interval <= 0:
            raise ValueError("pi must be positive")
        self.script = []
        token = query.get("token")
        if "bad" in query and token not in scripted_tokens:
            self.script = [decode_frame(frame) for frame in json.loads(query["bad"])]
            scripted_tokens.add(token)
        self.send_lock = Semaphore()

    def send(self, frame):
        with self.send_lock:
            self.ws.send(frame, binary=isinstance(frame, bytes))

    def run(self):
        self.send(
            "0"
            + dumps(
                {
                    "sid": secrets.token_urlsafe(15),
                    "upgrades": [],
                    "pingInterval": self.ping_interval,
                    "pingTimeout": self.ping_timeout,
                    "maxPayload": 1000000,
                }
            )
        )
        pinger = gevent.spawn(self.ping_forever)
        try:
            while (frame := self.ws.receive()) is not None:
                if isinstance(frame, str) and frame.startswith("4"):
                    self.on_packet(frame[1:])
        except WebSocketError:
            pass
        finally:
            pinger.kill()

    def ping_forever(self):
        try:
            while True:
                gevent.sleep(self.ping_interval / 1000)
                self.send("2")
        except WebSocketError:
            pass

    def on_packet(self, text):
        match = PACKET.fullmatch(text)
        if not match:
            return
        prefix = f"{match['nsp']}," if match["nsp"] else ""
        if match["type"] == "0":
            self.send("40" + prefix + dumps({"sid": secrets.token_urlsafe(15)}))
            self.play_script()
        elif match["type"] == "2":
            try:
                event = json.loads(match["data"])
            except ValueError:
                return
            if not isinstance(event, list) or not event:
                return
            if match["id"]:
                self.send(f"43{prefix}{match['id']}{dumps(event[1:])}")
            else:
                self.send(f"42{prefix}{dumps(['echo', *event[1:]])}")

    def play_script(self):
        script, self.script = self.script, []
        for frame in script:
            self.send(frame)


def decode_frame(frame):
    if isinstance(frame, str):
        return frame
    return base64.b64decode(frame["b64"], validate=True)


def application(environ, start_response):
    ws = environ.get("wsgi.websocket")
    query = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    if (
        ws is None
        or environ["PATH_INFO"] != "/socket.io/"
        or query.get("EIO") != "4"
        or query.get("transport") != "websocket"
    ):
        start_response("400 Bad Request", [("Content-Type", "text/plain")])
        return [b"websocket transport only\n"]
    try:
        peer = Peer(ws, query)
    except (ValueError, TypeError, KeyError):  # malformed pi, pt or bad
        ws.close(1008)
        return []
    peer.run()
    return []


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    server = WSGIServer(("127.0.0.1", args.port), application, handler_class=WebSocketHandler, log=None)
    gevent.signal_handler(signal.SIGTERM, server.close)
    server.start()
    print(f"READY {args.port}", flush=True)
    server.serve_forever(stop_timeout=1)


if __name__ == "__main__":
    main()
