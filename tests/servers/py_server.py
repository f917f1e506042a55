"""python-socketio counterpart of node_server.js (see README.md beside it).

    python py_server.py --port P [--ping-interval S] [--ping-timeout S] [--tally-file PATH]

Prints "READY <port>" once listening.
"""

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import collections  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
from urllib.parse import parse_qsl  # noqa: E402

import gevent  # noqa: E402
import socketio  # noqa: E402
from gevent.event import AsyncResult  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402


class Tally:
    """How many times each seq was processed, per key: in memory, or appended to a
    file (one JSON line [key, seq] each, written before the ack) so that the counts
    survive a restart of the server."""

    def __init__(self, path=None):
        self.path = path
        self.fd = None if path is None else os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.counts = collections.defaultdict(collections.Counter)

    def add(self, key, seq):
        if self.fd is not None:
            os.write(self.fd, (json.dumps([key, seq]) + "\n").encode())
        else:
            self.counts[key][seq] += 1

    def report(self, key):
        """Runs [first, last, count]: every seq from first to last was processed
        count times; seqs in no run never were."""
        counts = self.counts[key]
        if self.fd is not None:
            counts = collections.Counter()
            with open(self.path, encoding="utf-8") as lines:
                for line in lines:
                    line_key, seq = json.loads(line)
                    if line_key == key:
                        counts[seq] += 1
        runs: list[list[int]] = []
        for seq in sorted(counts):
            if runs and runs[-1][1] == seq - 1 and runs[-1][2] == counts[seq]:
                runs[-1][1] = seq
            else:
                runs.append([seq, seq, counts[seq]])
        return runs


tally = Tally()


class Server(socketio.Server):
    """python-socketio hides from handlers whether the client asked for an ack,
    which `echo` needs to know: answer ack-less echoes here."""

    def _handle_event_internal(self, server, sid, eio_sid, data, namespace, ack_id):
        if data[0] == "echo" and ack_id is None:
            self.emit("echo", tuple(data[1:]), to=sid, namespace=namespace)
        else:
            super()._handle_event_internal(server, sid, eio_sid, data, namespace, ack_id)


class PublicNamespace(socketio.Namespace):
    """Handler return values are the ack arguments (a tuple means several)."""

    def on_connect(self, sid, environ, auth):
        auth = auth or {}
        self.save_session(sid, {"auth": auth})
        if auth.get("welcome"):
            # With always_connect=False this goes out before the CONNECT reply.
            self.emit("welcome", "hi", to=sid)

    def on_disconnect(self, sid, reason):
        # Observed reasons: "client disconnect" (namespace DISCONNECT),
        # "server disconnect" (disconnect_me and close_engine),
        # "transport close", "ping timeout".
        self.server.emit("peer_disconnect", (sid, str(reason)), to="observers", namespace="/", skip_sid=sid)

    def on_echo(self, sid, *args):
        return args

    def on_whoami(self, sid):
        environ = self.server.get_environ(sid, self.namespace)
        return {
            "sid": sid,
            "nsp": self.namespace,
            "auth": self.get_session(sid)["auth"],
            "query": dict(parse_qsl(environ.get("QUERY_STRING", ""))),
            "headers": {
                key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
            },
        }

    def on_server_emit(self, sid, event, *args):
        self.emit(event, args, to=sid)
        return "ok"

    def on_server_call(self, sid, event, *args):
        reply = AsyncResult()
        self.emit(event, args, to=sid, callback=lambda *acked: reply.set(list(acked)))
        try:
            return reply.get(timeout=5)
        except gevent.Timeout:
            return {"error": "timeout"}

    def on_call_peer(self, sid, peer, event, *args):
        if not self.server.manager.is_connected(peer, self.namespace):
            return {"error": "no such socket"}
        return self.on_server_call(peer, event, *args)

    def on_burst(self, sid, n, size, binary=False):
        payload = bytes(size) if binary else "x" * size
        for i in range(n):
            self.emit("burst", (i, payload), to=sid)
        self.emit("burst_done", n, to=sid)

    def on_disconnect_me(self, sid):
        self.disconnect(sid)

    def on_close_engine(self, sid):
        self.server.eio.disconnect(self.server.manager.eio_sid_from_sid(sid, self.namespace))

    def on_observe(self, sid):
        self.enter_room(sid, "observers")
        return "ok"

    def on_tally(self, sid, key, seq):
        tally.add(key, seq)
        return "ok"

    def on_tally_report(self, sid, key):
        return tally.report(key)

    def on_close_and_emit(self, sid, n):
        self.emit("closing", to=sid)
        self.on_close_engine(sid)
        gevent.sleep(0.05)
        for i in range(n):
            self.emit("missed", i, to=sid)


class PrivateNamespace(PublicNamespace):
    def on_connect(self, sid, environ, auth):
        if (auth or {}).get("token") != "secret":
            raise socketio.exceptions.ConnectionRefusedError("not authorized", {"code": 403})
        super().on_connect(sid, environ, auth)


def whole_seconds(value):
    # python-engineio advertises int(ping_interval) * 1000 ms: fractions would be lost.
    if not float(value).is_integer():
        raise argparse.ArgumentTypeError("python-engineio only supports whole seconds")
    return int(float(value))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ping-interval", type=whole_seconds, default=25)
    parser.add_argument("--ping-timeout", type=float, default=20)
    parser.add_argument("--tally-file")
    args = parser.parse_args()
    global tally
    tally = Tally(args.tally_file)

    # Node's server does not check Origin either.
    sio = Server(
        async_mode="gevent", cors_allowed_origins="*", ping_interval=args.ping_interval, ping_timeout=args.ping_timeout
    )
    sio.register_namespace(PublicNamespace("/"))
    sio.register_namespace(PublicNamespace("/chat"))
    sio.register_namespace(PrivateNamespace("/private"))

    server = WSGIServer(("127.0.0.1", args.port), socketio.WSGIApp(sio), handler_class=WebSocketHandler, log=None)

    def shutdown():
        # Close every client like Node's io.close(); closing an idle polling
        # session waits for its next poll, hence the timeout.
        gevent.joinall([gevent.spawn(sio.eio.disconnect, eio_sid) for eio_sid in list(sio.eio.sockets)], timeout=1)
        server.close()  # serve_forever() then stops the server and returns

    gevent.signal_handler(signal.SIGTERM, gevent.spawn, shutdown)
    server.start()
    print(f"READY {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
