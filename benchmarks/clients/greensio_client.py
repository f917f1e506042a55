"""Benchmark client: greensio (this repository's library, imported from the
work tree: run.py puts the repository root first on PYTHONPATH).

The process is NOT monkey-patched: greensio uses gevent's sockets directly and
is meant to work the same either way (SPEC §1). One transport only: websocket,
or polling with --transport polling (no upgrade); every other option is left at
its default. See _common.py for the scenarios.

While the library is being written this client must never take the run down:
if `import greensio` fails it prints a result with "na": true (shown as n/a);
any other failure is printed as an error result for this scenario only.
"""

import time

import _common as C

CLIENT = "greensio"


def connect_many(args, greensio, gevent, n, auth=None, counts=None):
    """Connect n clients at once (each its own connection); the sockets and what connecting cost.

    ``auth``: the CONNECT payload of each; ``counts``: a TickCounts whose handler each gets for "tick".
    """
    import gevent.event

    state = {"connected": 0, "errors": [], "t_last": None}
    all_done = gevent.event.Event()

    def on_connect(*_):
        state["connected"] += 1
        if state["connected"] >= n and not all_done.is_set():
            state["t_last"] = time.perf_counter()
            all_done.set()

    def on_connect_error(err=None, *_):
        if len(state["errors"]) < 3:
            state["errors"].append(f"{type(err).__name__}: {err}")

    options = {"auth": auth} if auth is not None else {}
    c0 = C.cpu_seconds()
    t0 = time.perf_counter()
    sockets = []
    for i in range(n):
        s = greensio.Socket(args.url, transports=["websocket"], force_new=True, **options)
        s.on("connect", on_connect)
        s.on("connect_error", on_connect_error)
        if counts is not None:
            s.on("tick", counts.handler(i))
        sockets.append(s)
    deadline = t0 + args.connect_deadline
    while not all_done.is_set():
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        if all_done.wait(timeout=min(0.5, left)):
            break
        # fallback, should the connect handlers not fire: count the flags
        if sum(1 for s in sockets if s.connected) >= n:
            state["t_last"] = time.perf_counter()
            all_done.set()
    t1 = state["t_last"] or time.perf_counter()
    c1 = C.cpu_seconds()
    connected = [s for s in sockets if s.connected]
    fields = dict(n=n, connected=len(connected), connect_wall_s=t1 - t0, connect_cpu_s=c1 - c0)
    if len(connected) < n:
        fields["partial"] = f"only {len(connected)} of {n} connected within {args.connect_deadline:.0f} s"
        if state["errors"]:
            fields["first_errors"] = state["errors"]
    return sockets, connected, fields


def idle(args, greensio, gevent):
    def warm():
        sio = greensio.connect(args.url, transports=["websocket"], timeout=10)
        if args.expect_deflate:
            C.check_deflate(sio)
        return sio

    held = []

    def many():
        sockets, _, fields = connect_many(args, greensio, gevent, args.n)
        held.extend(sockets)
        return fields

    C.run_idle(CLIENT, warm, many, gevent.sleep, lambda: sum(1 for s in held if s.connected))


def mixed(args, greensio, gevent):
    C.raise_nofile()
    warm = greensio.connect(args.url, transports=["websocket"], timeout=10)
    counts = C.TickCounts(args.n)
    _, connected, fields = connect_many(args, greensio, gevent, args.n, auth={"mixed": 1}, counts=counts)
    if len(connected) < args.n:
        C.emit_result(CLIENT, "mixed", ok=False, error=fields["partial"], **fields)
        return
    C.run_mixed(CLIENT, args, warm, [s.emit for s in connected], counts, fields, gevent.sleep)


def main():
    args = C.parse_args()
    try:
        import gevent
        import gevent.event

        import greensio

        missing = [a for a in ("connect", "Socket") if not hasattr(greensio, a)]
        if missing:  # e.g. a package without its __init__.py yet
            raise ImportError(
                "greensio ({}) has no {} yet".format(
                    getattr(greensio, "__file__", None) or list(getattr(greensio, "__path__", [])), " / ".join(missing)
                )
            )
    except BaseException as e:  # noqa: BLE001 - the library may be half-written
        C.emit_error(CLIENT, args.scenario, e, na=True)
        C.exit_now(2)

    def body():
        if args.scenario == "idle":
            idle(args, greensio, gevent)
        elif args.scenario == "mixed":
            mixed(args, greensio, gevent)
        else:
            sio = greensio.connect(args.url, transports=[args.transport], timeout=10)
            C.run_throughput(CLIENT, args, sio, gevent.event.Event, gevent.sleep)

    C.run_client(CLIENT, args, body)


if __name__ == "__main__":
    main()
