"""python-socketio 4 (Engine.IO v3) counterpart of ../v2/node2_server.js (see ../README.md).

    .venv/bin/python py4_server.py --port P [--ping-interval S] [--ping-timeout S] [--root-refuses]

Runs in the virtualenv that venv.py makes beside this file (python-socketio 4.6.1,
python-engineio 3.14.2). Prints "READY <port>" once listening.

Differences forced by python-socketio 4: handlers see only the query of the
Engine.IO handshake request (the ``?k=v`` of a CONNECT packet's namespace is
dropped by its parser); a namespace socket's sid is the Engine.IO sid in every
namespace; ``/private`` refuses with ``ConnectionRefusedError("not authorized")``,
which sends ``44/private,"not authorized"``. With --root-refuses, "/" refuses when
the query has refuse=1 (python-engineio then answers the handshake with HTTP 401).
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import collections  # noqa: E402
import signal  # noqa: E402
from urllib.parse import parse_qsl  # noqa: E402

import gevent  # noqa: E402
import socketio  # noqa: E402
from gevent.event import AsyncResult  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402

TALLIES: collections.defaultdict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)


def tally_report(key):
    runs: list[list[int]] = []
    counts = TALLIES[key]
    for seq in sorted(counts):
        if runs and runs[-1][1] == seq - 1 and runs[-1][2] == counts[seq]:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq, counts[seq]])
    return runs


class Server(socketio.Server):
    """python-socketio hides from handlers whether the client asked for an ack,
    which `echo` needs to know: answer ack-less echoes here."""

    def _handle_event_internal(self, server, sid, data, namespace, id):
        if data[0] == "echo" and id is None:
            self.emit("echo", tuple(data[1:]), room=sid, namespace=namespace)
        else:
            super()._handle_event_internal(server, sid, data, namespace, id)


def query_of(environ):
    return dict(parse_qsl(environ.get("QUERY_STRING", "")))


class PublicNamespace(socketio.Namespace):
    """Handler return values are the ack arguments (a tuple means several)."""

    def on_connect(self, sid, environ):
        if query_of(environ).get("welcome"):
            self.emit("welcome", "hi", room=sid)

    def on_disconnect(self, sid):
        self.server.emit("peer_disconnect", (sid, "disconnect"), room="observers", namespace="/", skip_sid=sid)

    def on_echo(self, sid, *args):
        return args

    def on_whoami(self, sid):
        environ = self.server.environ[sid]
        return {
            "sid": sid,
            "nsp": self.namespace,
            "engine_sid": sid,
            "query": query_of(environ),
            "headers": {
                key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
            },
        }

    def on_server_emit(self, sid, event, *args):
        self.emit(event, args, room=sid)
        return "ok"

    def on_server_call(self, sid, event, *args):
        reply = AsyncResult()
        self.emit(event, args, room=sid, callback=lambda *acked: reply.set(list(acked)))
        try:
            return reply.get(timeout=5)
        except gevent.Timeout:
            return {"error": "timeout"}

    def on_burst(self, sid, n, size, binary=False):
        payload = bytes(size) if binary else "x" * size
        for i in range(n):
            self.emit("burst", (i, payload), room=sid)
        self.emit("burst_done", n, room=sid)

    def on_broadcast(self, sid, event, *args):
        self.emit(event, args)
        return "ok"

    def on_disconnect_me(self, sid):
        self.disconnect(sid)

    def on_close_engine(self, sid):
        self.server.eio.disconnect(sid)

    def on_observe(self, sid):
        self.enter_room(sid, "observers")
        return "ok"

    def on_tally(self, sid, key, seq):
        TALLIES[key][seq] += 1
        return "ok"

    def on_tally_report(self, sid, key):
        return tally_report(key)


class PrivateNamespace(PublicNamespace):
    def on_connect(self, sid, environ):
        if query_of(environ).get("token") != "secret":
            raise socketio.exceptions.ConnectionRefusedError("not authorized")
        super().on_connect(sid, environ)


class RefusingRoot(PublicNamespace):
    def on_connect(self, sid, environ):
        if query_of(environ).get("refuse") == "1":
            raise socketio.exceptions.ConnectionRefusedError("root refused")
        super().on_connect(sid, environ)


def whole_seconds(value):
    # python-engineio advertises int(ping_interval * 1000) ms, but its checks use seconds
    if not float(value).is_integer():
        raise argparse.ArgumentTypeError("use whole seconds")
    return int(float(value))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    # python-engineio 3 ends a long-poll that found nothing to send after pingTimeout
    # (HTTP 400, session closed), so pingTimeout must exceed pingInterval: its defaults.
    parser.add_argument("--ping-interval", type=whole_seconds, default=25)
    parser.add_argument("--ping-timeout", type=float, default=60)
    parser.add_argument("--root-refuses", action="store_true")
    args = parser.parse_args()

    sio = Server(
        async_mode="gevent", cors_allowed_origins="*", ping_interval=args.ping_interval, ping_timeout=args.ping_timeout
    )
    sio.register_namespace((RefusingRoot if args.root_refuses else PublicNamespace)("/"))
    sio.register_namespace(PublicNamespace("/chat"))
    sio.register_namespace(PrivateNamespace("/private"))

    server = WSGIServer(("127.0.0.1", args.port), socketio.WSGIApp(sio), handler_class=WebSocketHandler, log=None)

    def shutdown():
        gevent.joinall([gevent.spawn(sio.eio.disconnect, sid) for sid in list(sio.eio.sockets)], timeout=1)
        server.close()

    gevent.signal_handler(signal.SIGTERM, gevent.spawn, shutdown)
    server.start()
    print(f"READY {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
