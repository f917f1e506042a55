"""Benchmark client: python-socketio's socketio.Client under gevent.

The process is monkey-patched (gevent.monkey.patch_all()) before python-socketio
is imported, so its threads are greenlets and websocket-client's socket is
cooperative; this is how python-socketio is run in a gevent application. One
transport only: websocket, or polling with --transport polling (no upgrade;
python-engineio then polls with `requests`, which must be installed); every
other Client option is left at its default
(notably async_handlers=True: each event handler call runs in a new
thread, i.e. greenlet). See _common.py for the scenarios.
"""

from gevent import monkey

monkey.patch_all()

import time  # noqa: E402

import _common as C  # noqa: E402
import gevent  # noqa: E402
import gevent.event  # noqa: E402

CLIENT = "psio"


def new_client():
    import socketio

    return socketio.Client(logger=False, engineio_logger=False)


# python-engineio decodes at most 16 packets per HTTP payload and drops the
# connection ("Unexpected packet from server, aborting") on a poll response with
# more: the Node server answers a poll with everything queued (thousands of
# events in the receive scenario). Over polling this client raises the limit,
# the workaround python-engineio's maintainer gives (python-engineio issue #142);
# run.py says so under the table. Websocket runs keep the default.
POLLING_MAX_DECODE_PACKETS = 1_000_000


def connect(url, transport="websocket", wait_timeout=10.0):
    if transport == "polling":
        import requests  # noqa: F401 - python-engineio polls with it; fail clearly
        from engineio.payload import Payload

        Payload.max_decode_packets = POLLING_MAX_DECODE_PACKETS
    sio = new_client()
    sio.connect(url, transports=[transport], wait_timeout=wait_timeout)
    return sio


def connect_many(args, n, auth=None, counts=None):
    """Connect n clients at once, one greenlet each; the clients and what connecting cost."""
    clients = []
    errors = []
    deadline = args.connect_deadline

    def one(i):
        c = new_client()
        if counts is not None:
            c.on("tick", counts.handler(i))
        try:
            c.connect(args.url, transports=["websocket"], wait_timeout=deadline, auth=auth)
        except Exception as e:  # noqa: BLE001
            errors.append(f"{type(e).__name__}: {e}")
            return
        clients.append(c)

    c0 = C.cpu_seconds()
    t0 = time.perf_counter()
    greenlets = [gevent.spawn(one, i) for i in range(n)]
    gevent.joinall(greenlets, timeout=deadline)
    t1 = time.perf_counter()
    c1 = C.cpu_seconds()
    fields = dict(n=n, connected=len(clients), connect_wall_s=t1 - t0, connect_cpu_s=c1 - c0)
    if len(clients) < n:
        fields["partial"] = f"only {len(clients)} of {n} connected within {deadline:.0f} s"
        if errors:
            fields["first_errors"] = errors[:3]
    return clients, fields


def idle(args):
    def warm():
        sio = connect(args.url)
        if args.expect_deflate:
            C.check_deflate(sio)
        return sio

    held = []

    def many():
        clients, fields = connect_many(args, args.n)
        held.extend(clients)
        return fields

    C.run_idle(CLIENT, warm, many, gevent.sleep)


def mixed(args):
    C.raise_nofile()
    warm = connect(args.url)
    counts = C.TickCounts(args.n)
    clients, fields = connect_many(args, args.n, auth={"mixed": 1}, counts=counts)
    if len(clients) < args.n:
        C.emit_result(CLIENT, "mixed", ok=False, error=fields["partial"], **fields)
        return
    C.run_mixed(CLIENT, args, warm, [c.emit for c in clients], counts, fields, gevent.sleep)


def main():
    args = C.parse_args()

    def body():
        if args.scenario == "idle":
            idle(args)
        elif args.scenario == "mixed":
            mixed(args)
        else:
            sio = connect(args.url, args.transport)
            C.run_throughput(CLIENT, args, sio, gevent.event.Event, gevent.sleep)

    C.run_client(CLIENT, args, body)


if __name__ == "__main__":
    main()
