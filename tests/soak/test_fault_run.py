"""A short fault run in the test suite: the code of tests/soak/fault_run.py with a few faults.

Each case starts its own server, proxy and client, injects FAULTS random faults
(seed SEED, printed, so that a failure reproduces with
``python -m tests.soak.fault_run --faults 15 --seed SEED --transports T --server S``)
and checks what the server tallied and what the callbacks saw. First, the
servers' tally itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest

import greensio
from tests.faults.rig import TallyServer, read_tally
from tests.integration.helpers import WAIT
from tests.servers.process import ServerProcess

from .fault_run import missed_targets, run_faults, table

SEED = 20261125
FAULTS = 15


def _tally(server: ServerProcess, key: str, seqs: list[int]) -> None:
    with greensio.connect(server.url, transports=["websocket"], force_new=True, timeout=WAIT) as sio:
        for seq in seqs:
            assert sio.call("tally", key, seq, timeout=WAIT) == "ok"


def _report(server: ServerProcess, key: str) -> Any:
    with greensio.connect(server.url, transports=["websocket"], force_new=True, timeout=WAIT) as sio:
        return sio.call("tally_report", key, timeout=WAIT)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("server", ["node", "python"])
def test_the_servers_tally_counts_exactly_and_the_tally_file_survives_a_restart(
    server: str, start_server: Callable[..., ServerProcess], tmp_path: Path
) -> None:
    in_memory = start_server(server)
    _tally(in_memory, "a", [0, 1, 2, 2, 5, 6])
    _tally(in_memory, "b", [1])
    assert _report(in_memory, "a") == [[0, 1, 1], [2, 2, 2], [5, 6, 1]]
    assert _report(in_memory, "b") == [[1, 1, 1]]
    assert _report(in_memory, "c") == []

    tally_file = tmp_path / "tally"
    persistent = TallyServer(server, tmp_path / "server.log", tally_file)
    try:
        _tally(persistent, "a", [0, 1, 2, 2, 5])
        _tally(persistent, "b", [1])
        persistent.restart()
        _tally(persistent, "a", [6])
        assert _report(persistent, "a") == [[0, 1, 1], [2, 2, 2], [5, 6, 1]]
        assert _report(persistent, "c") == []
    finally:
        persistent.stop()
    assert read_tally(tally_file, "a") == [[0, 1, 1], [2, 2, 2], [5, 6, 1]]
    assert read_tally(tally_file, "b") == [[1, 1, 1]]


@pytest.mark.timeout(150)  # a case takes 5 to 30 s
@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("server", ["node", "python"])
def test_a_short_fault_run_loses_nothing(
    server: str, transport: str, node_modules: None, tmp_path: Path, record_property: Callable[[str, Any], None]
) -> None:
    print(f"\nfault run: {FAULTS} faults, seed {SEED}, {server} server, {transport}")
    report = run_faults(FAULTS, SEED, transport, server, tmp_path, log=print)
    print(table(report))
    for key, value in report.items():
        record_property(key, value)
    assert sum(report["faults"].values()) == FAULTS
    assert report["emitted"] > 0 and report["delivered"] == report["emitted"] - report["lost"]
    assert report["lost"] == 0, f"seed {SEED}: lost {report['lost_seqs']}"
    assert report["double_acks"] == 0, f"seed {SEED}"
    assert report["out_of_order_acks"] == 0, f"seed {SEED}"
    assert report["failed_acks"] == 0, f"seed {SEED}"
    assert report["leaked_greenlets"] == 0, f"seed {SEED}"
    assert report["leaked_fds"] == 0, f"seed {SEED}"
    assert missed_targets(report) == [], f"seed {SEED}"
