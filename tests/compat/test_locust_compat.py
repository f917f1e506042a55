"""examples/locust/compat_locustfile.py, a python-socketio-style Locust user on greensio.compat,
run headless against the Node server."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.processes import ROOT

if importlib.util.find_spec("locust") is None:
    pytest.skip("locust is not installed", allow_module_level=True)

# test_locust's helpers import Locust, which monkey-patches the importing process unless told
# not to; these tests run unpatched. Only the import is affected: Locust reads this at import.
_skip = os.environ.get("LOCUST_SKIP_MONKEY_PATCH")
os.environ["LOCUST_SKIP_MONKEY_PATCH"] = "1"
try:
    from tests.integration.test_locust import _read_rows, _tails
finally:
    if _skip is None:
        del os.environ["LOCUST_SKIP_MONKEY_PATCH"]

LOCUSTFILE = ROOT / "examples" / "locust" / "compat_locustfile.py"
RUN_TIMEOUT = 60  # seconds for the headless run to exit


def test_the_compat_locustfile_runs_headless(node_server, tmp_path):
    prefix = tmp_path / "run"
    log = tmp_path / "locust.log"
    env = {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))  # this tree's greensio
    argv = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", node_server.url]
    argv += ["--headless", "-u", "4", "-r", "4", "-t", "4s", "--csv", str(prefix)]
    with log.open("wb") as out:
        process = subprocess.run(
            argv,
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=RUN_TIMEOUT,
        )
    assert process.returncode == 0, _tails({"locust": log})  # Locust exits 1 on any failure

    rows = _read_rows(Path(f"{prefix}_stats.csv"))

    def count(kind: str, name: str) -> int:
        return int(rows[kind, name]["Request Count"]) if (kind, name) in rows else 0

    assert count("connect", "/") == 4, rows
    assert count("call", "echo") > 0 and count("call", "server_call") > 0 and count("emit", "echo") > 0, rows
    # server_call's round trip includes the user's 20 ms think handler
    assert float(rows["call", "server_call"]["Min Response Time"]) >= 20, rows["call", "server_call"]
    assert all(row["Failure Count"] == "0" for row in rows.values()), rows
