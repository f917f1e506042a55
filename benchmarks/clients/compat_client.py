"""Benchmark client: greensio.compat, python-socketio's client API over greensio (imported
from the work tree: run.py puts the repository root first on PYTHONPATH).

Same process setup as greensio_client.py (NOT monkey-patched, one transport only,
defaults otherwise), so that the two rows differ only by the compat layer:
``sio.on/emit/call`` here are ``greensio.compat.Client``'s (python-socketio's
signatures: one data argument, a tuple for several). See _common.py for the
scenarios. The idle and mixed scenarios are n/a: a compat Client holds one greensio Manager
and Socket, as greensio's row does.
"""

import _common as C

CLIENT = "compat"


def main():
    args = C.parse_args()
    try:
        import gevent
        import gevent.event

        from greensio import compat

        if args.scenario in ("idle", "mixed"):
            raise NotImplementedError(f"{args.scenario}: the same Manager and Socket as greensio's row")
    except BaseException as e:  # noqa: BLE001 - also: the layer may not exist in the measured tree
        C.emit_error(CLIENT, args.scenario, e, na=True)
        C.exit_now(2)

    def body():
        sio = compat.Client()
        sio.connect(args.url, transports=[args.transport], wait_timeout=10)
        C.run_throughput(CLIENT, args, sio, gevent.event.Event, gevent.sleep)

    C.run_client(CLIENT, args, body)


if __name__ == "__main__":
    main()
