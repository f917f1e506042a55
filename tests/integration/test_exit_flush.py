"""At interpreter exit, what connected sockets already queued is flushed and the DISCONNECT sent (#13.6)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid

from .helpers import TRANSPORTS, WAIT, connect

SCRIPT = textwrap.dedent(
    """
    import sys, greensio
    url, key, transports = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    sio = greensio.connect(url, transports=transports, timeout=10)
    if transports[-1] == "websocket":
        while sio.transport != "websocket":  # the upgrade, if any, is done
            import gevent; gevent.sleep(0.01)
    for seq in range(300):
        sio.emit("tally", key, seq)
    # main returns: no disconnect(), no sleep
    """
)


def test_what_was_emitted_before_exit_reaches_the_server(server):
    key = uuid.uuid4().hex
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, server.url, key, ",".join(TRANSPORTS)],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert result.returncode == 0, result.stderr
    with connect(server.url) as checker:
        assert checker.call("tally_report", key, timeout=WAIT) == [[0, 299, 1]]
