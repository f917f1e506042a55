"""Benchmark client: greensio.compat, python-socketio's client API over greensio (imported
from the work tree: run.py puts the repository root first on PYTHONPATH).

Same process setup as greensio_client.py (NOT monkey-patched, one transport only,
defaults otherwise), so that the two rows differ only by the compat layer:
``sio.on/emit/call`` here are ``greensio.compat.Client``'s (python-socketio's
signatures: one data argument, a tuple for several). See _common.py for the
scenarios.
"""

import gc
import time

import _common as C

CLIENT = "compat"


def idle(args, compat, gevent):
    nofile = C.raise_nofile()
    warm = compat.Client()
    warm.connect(args.url, transports=["websocket"], wait_timeout=10)
    gevent.sleep(0.2)
    gc.collect()
    rss0 = C.rss_bytes()

    clients = []
    errors = []
    done_at = []

    def one():
        c = compat.Client()
        try:
            c.connect(args.url, transports=["websocket"], wait_timeout=args.connect_deadline)
        except Exception as e:  # noqa: BLE001
            if len(errors) < 3:
                errors.append(f"{type(e).__name__}: {e}")
            return
        clients.append(c)
        if len(clients) == args.n:
            done_at.append(time.perf_counter())

    c0 = C.cpu_seconds()
    t0 = time.perf_counter()
    greenlets = [gevent.spawn(one) for _ in range(args.n)]
    gevent.joinall(greenlets, timeout=args.connect_deadline)
    t1 = done_at[0] if done_at else time.perf_counter()
    c1 = C.cpu_seconds()
    n_ok = len(clients)
    gevent.sleep(1.0)  # let connection set-up settle before measuring memory
    gc.collect()
    rss1 = C.rss_bytes()
    fields = dict(
        ok=n_ok > 0,
        n=args.n,
        connected=n_ok,
        connect_wall_s=t1 - t0,
        connect_cpu_s=c1 - c0,
        mem_kb_per_client=(rss1 - rss0) / max(n_ok, 1) / 1024.0,
        rss0_mb=rss0 / 2**20,
        rss1_mb=rss1 / 2**20,
        nofile=nofile,
    )
    if n_ok < args.n:
        fields["partial"] = f"only {n_ok} of {args.n} connected within {args.connect_deadline:.0f} s"
        if errors:
            fields["first_errors"] = errors
        if n_ok == 0:
            fields["error"] = fields["partial"]
    del warm
    C.emit_result(CLIENT, "idle", **fields)


def main():
    args = C.parse_args()
    try:
        import gevent
        import gevent.event

        from greensio import compat
    except BaseException as e:  # noqa: BLE001 - the layer may not exist in the measured tree
        C.emit_error(CLIENT, args.scenario, e, na=True)
        C.exit_now(2)
    try:
        if args.scenario == "idle":
            idle(args, compat, gevent)
        else:
            sio = compat.Client()
            sio.connect(args.url, transports=[args.transport], wait_timeout=10)
            C.run_throughput(CLIENT, args, sio, gevent.event.Event, gevent.sleep)
    except BaseException as e:  # noqa: BLE001
        C.emit_error(CLIENT, args.scenario, e)
        C.exit_now(1)
    C.exit_now(0)


if __name__ == "__main__":
    main()
