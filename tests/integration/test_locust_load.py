"""The 10,000-user Locust scenario of examples/locust at CI size: 1,000 users for 20 s, through its runner.

One Locust process (the worker) and examples/locust/broadcast_server.js: every user
makes one acked call a second and gets one broadcast a second. The bounds are for a
loaded 2-core CI machine that also runs the server. On the project's 2-core machine
1,000 users take about a quarter of a core, with ack p95 1-170 ms, push p95 15-200 ms
and the worst hub lag of a second 1-35 ms. The bounds are 5 to 30 times those, so a busy
CI machine passes, while a worker that cannot keep up fails them all: at 10,000 users
today (one core saturated) ack p50 is 2.3 s, push p95 2.8 s, hub lag 0.3-0.7 s, calls fail.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from .processes import ROOT

pytest.importorskip("locust")

RUNNER = ROOT / "examples" / "locust" / "run_broadcast.py"
USERS = 1000
SECONDS = 20


def _rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with path.open(newline="") as f:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(f)}


@pytest.mark.timeout(240)
def test_a_thousand_users_in_one_locust_process_call_and_get_every_broadcast(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(RUNNER), "--users", str(USERS), "--time", str(SECONDS), "--out", str(tmp_path)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=200,
    )
    output = f"{run.stdout}\n{run.stderr[-3000:]}"
    assert run.returncode in (0, 1), output  # 1: one of the 10,000-user goals is not met at this size; 2: no run
    summary = json.loads((tmp_path / "summary.json").read_text())
    rows = _rows(tmp_path / "locust_stats.csv")

    assert summary["connected"] == USERS, output
    assert summary["seconds_to_all_connected"] < 15, output
    assert all(row["Failure Count"] == "0" for row in rows.values()), output

    # Every user got every broadcast of the steady part (>= 99% of 10 or more is all of them).
    sent = summary["broadcasts_sent"]
    assert sent >= 8, output
    assert summary["broadcasts_received_min"] == sent, output

    # One hub lag row a second for the process (not one per user), with sane values.
    hub = rows["hub", "hub lag"]
    assert SECONDS - 4 <= int(hub["Request Count"]) <= SECONDS + 4, hub
    lags = summary["hub_lag_steady_ms"]
    assert len(lags) >= sent - 2 and all(0 <= lag < 2000 for lag in lags), lags

    # Push latency: one row per broadcast received, from the server's own send time.
    push = rows["push", "tick"]
    assert int(push["Request Count"]) >= USERS * sent, push
    assert 0 <= float(push["50%"]) < 1000 and float(push["95%"]) < 2000, push
    assert ("recv", "tick") not in rows  # a push_latency event has its push row instead

    # One call a second per user, acked in well under a second.
    call = rows["call", "echo"]
    assert int(call["Request Count"]) >= USERS * summary["steady_seconds"] * 0.9, call
    assert float(call["95%"]) < 1000, call
    assert summary["cpu_percent_of_one_core"] > 0 and summary["server"]["cpu_percent_of_one_core"] > 0, summary
