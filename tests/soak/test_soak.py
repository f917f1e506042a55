"""The soak of tests/soak/soak.py, small and short, so that the script cannot rot.

50 clients in this process, 10 of them chatty (echo, call and a burst, five times a
second each), for 5 s against a Node server that pings every second: every client
stays connected and answers heartbeats, every call succeeds, every reply arrives,
and after the clients disconnect no greenlet, fd or greensio object is left.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from tests.servers.process import ServerProcess
from tests.soak.soak import print_report, run_soak

CLIENTS = 50
CHATTY = 10
SECONDS = 5.0

pytestmark = pytest.mark.timeout(30)


def test_soak_smoke(start_server: Callable[..., ServerProcess]) -> None:
    # pingTimeout 5 s: a heartbeat is lost only if this process stalls that long.
    server = start_server("node", ping_interval=1, ping_timeout=5)
    figures: dict[str, Any] = run_soak(
        server.url, CLIENTS, CHATTY, SECONDS, sample_every=1.0, interval=0.2, warmup=1.0, slope_window=SECONDS
    )
    print_report(figures)
    assert figures["disconnects"] == []
    assert figures["errors"] == []
    assert figures["connected_min"] == figures["connected_max"] == CLIENTS
    assert all(row["connected"] == CLIENTS for row in figures["rows"])
    # Every chatty client looped at least once (each loop: one call) and every call succeeded.
    assert figures["min_loops_per_chatty"] >= 1
    assert figures["calls_ok"] == figures["loops"]
    assert figures["missing_replies"] == 0
    assert figures["loops_alive"] == 0
    # Heartbeats: the server pinged every client at least once (every second for 5 s).
    assert figures["pings"] >= CLIENTS
    assert figures["greenlets_left"] == 0, figures.get("left_behind")
    assert figures["fds_left"] == 0, figures.get("left_behind")
    assert figures["objects_left"] == {}
