"""Run the broadcast load test: the Node server, then Locust headless in one process; print the figures.

    python examples/locust/run_broadcast.py --users 10000 --time 60

It raises the soft open-files limit to the hard one (the server and Locust inherit it),
installs the server's pinned socket.io (``npm ci`` in this folder) when needed, starts
``broadcast_server.js`` on a free loopback port, runs ``broadcast_locustfile.py`` with
``locust --headless`` (one process: it is the worker), and prints the figures of issue
#17's 10,000-user requirements with "met" / "not met". Locust's CSV files and the
summary stay in ``--out`` (a temporary folder by default). Exit code: 0 when every
requirement is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's greensio, for the runner and for Locust below

from greensio._limits import raise_nofile  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--spawn-rate", type=float, default=None, help="users started per second (default: all in 1 s)")
    parser.add_argument("--time", type=float, default=60.0, help="seconds Locust runs, connecting included")
    parser.add_argument("--out", type=Path, default=None, help="folder for Locust's CSV files and the summary")
    parser.add_argument("--locust-arg", action="append", default=[], help="one more argument for locust (repeatable)")
    opts = parser.parse_args()

    limit = raise_nofile()
    if limit < opts.users + 100:
        print(
            f"the open-files limit is {limit}, too low for {opts.users} users: raise the hard limit "
            f"(ulimit -Hn, /etc/security/limits.conf, systemd LimitNOFILE=) or run fewer users",
            file=sys.stderr,
        )
        return 2
    out = opts.out or Path(tempfile.mkdtemp(prefix="greensio-broadcast-"))
    out.mkdir(parents=True, exist_ok=True)
    install_server()
    server = subprocess.Popen(
        ["node", str(HERE / "broadcast_server.js"), "--port", "0", "--stats"],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    server_stats: list[dict[str, Any]] = []
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline() or "{}")
        if "port" not in info:
            print("the server did not start", file=sys.stderr)
            return 2
        reader = threading.Thread(target=read_stats, args=(server.stdout, server_stats), daemon=True)
        reader.start()
        summary_path = out / "summary.json"
        command = [
            *(sys.executable, "-m", "locust", "-f", str(HERE / "broadcast_locustfile.py"), "--headless"),
            *("-u", str(opts.users), "-r", str(opts.spawn_rate or opts.users), "-t", f"{opts.time:g}s"),
            *("--host", f"http://127.0.0.1:{info['port']}", "--csv", str(out / "locust"), "--only-summary"),
            *("--loglevel", "WARNING", *opts.locust_arg),
        ]
        env = {**os.environ, "GREENSIO_BROADCAST_SUMMARY": str(summary_path)}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        locust = subprocess.run(command, env=env, stdin=subprocess.DEVNULL)
    finally:
        server.terminate()
        server.wait(10)
    if not summary_path.exists():
        print(f"locust exited with {locust.returncode} and wrote no summary", file=sys.stderr)
        return 2
    summary = json.loads(summary_path.read_text())
    summary["server"] = server_figures(server_stats, summary.get("steady_epoch"))
    summary_path.write_text(json.dumps(summary))
    rows = read_rows(out / "locust_stats.csv")
    met = report(opts.users, summary, rows)
    print(f"\nLocust's CSV files and the summary: {out}")
    return 0 if met else 1


def install_server() -> None:
    installed = HERE / "node_modules" / ".package-lock.json"
    lock = HERE / "package-lock.json"
    if not installed.exists() or lock.stat().st_mtime > installed.stat().st_mtime:
        npm = shutil.which("npm") or "npm"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, stdout=sys.stderr)


def read_stats(stream: Any, into: list[dict[str, Any]]) -> None:
    """Collect the server's one-a-second stats lines (and keep its stdout pipe drained)."""
    for line in stream:
        try:
            into.append(json.loads(line))
        except ValueError:
            pass


def server_figures(stats: list[dict[str, Any]], window: Optional[list[float]]) -> dict[str, float]:
    """The server's CPU and event-loop delay over the steady part (epoch ``window``)."""
    if not window:
        return {}
    seconds = [s for s in stats if window[0] <= s["t"] <= window[1]]
    if not seconds:
        return {}
    delays = sorted(s["loop_max_ms"] for s in seconds)
    emits = sorted(s["emit_ms"] for s in seconds)
    return {
        "cpu_percent_of_one_core": sum(s["cpu_ms"] for s in seconds) / len(seconds) / 10.0,
        "loop_delay_max_ms_median": delays[len(delays) // 2],
        "loop_delay_max_ms": delays[-1],
        "broadcast_ms_median": emits[len(emits) // 2],
    }


def read_rows(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(path, newline="") as f:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(f)}


def report(users: int, summary: dict[str, Any], rows: dict[tuple[str, str], dict[str, str]]) -> bool:
    """Print the figures and whether each requirement is met; True when all are."""
    checks: list[bool] = []

    def line(label: str, value: str, ok: Optional[bool] = None, goal: str = "") -> None:
        if ok is not None:
            checks.append(ok)
            value = f"{value:<42} {goal}: {'met' if ok else 'NOT MET'}"
        print(f"{label:<28} {value}")

    def figure(kind: str, name: str, column: str) -> float:
        row = rows.get((kind, name))
        return float(row[column]) if row and row[column] not in ("", "N/A") else float("nan")

    print(f"\n{users} users, one Locust process, one Node server")
    seconds = summary.get("seconds_to_all_connected")
    connected = summary.get("connected", 0)
    if seconds is None:
        line("all connected", f"no: {connected} of {users}", False, "within 30 s")
    else:
        line("all connected in", f"{seconds:.1f} s", seconds <= 30, "within 30 s")
    p50, p95 = figure("call", "echo", "50%"), figure("call", "echo", "95%")
    calls = figure("call", "echo", "Request Count")
    steady = summary.get("steady_seconds", 0.0)
    if steady and users:
        rate = summary.get("calls_steady", 0) / steady
        line("calls made (steady part)", f"{rate:.0f}/s of the {users}/s asked")
    ok = p50 < 50 and p95 < 250
    line("ack p50 / p95 (call echo)", f"{p50:g} / {p95:g} ms ({calls:.0f} calls)", ok, "< 50 / < 250")
    cpu = summary.get("cpu_percent_of_one_core")
    if cpu is None:
        line("worker CPU", "not measured (never all connected)", False, "< 90%")
    else:
        line("worker CPU", f"{cpu:.1f}% of one core over the last {steady:.0f} s", cpu < 90, "< 90%")
        line("  per user-second", f"{cpu / 100 / users * 1e6:.0f} µs")
        waiting = summary.get("waiting_for_cpu_percent", 0.0)
        line("  waiting for a CPU", f"{waiting:.0f}% of the time (others' load on the machine)")
    sent = summary.get("broadcasts_sent", 0)
    low, median = summary.get("broadcasts_received_min", 0), summary.get("broadcasts_received_median", 0)
    share = low / sent if sent else 0.0
    line(
        "broadcasts received",
        f"lowest user {low}/{sent} ({100 * share:.1f}%), median {median}",
        sent > 0 and share >= 0.99,
        ">= 99%",
    )
    failed = {key: int(row["Failure Count"]) for key, row in rows.items() if key != ("", "Aggregated")}
    failures = sum(failed.values())
    where = ", ".join(f"{n} {kind} {name}" for (kind, name), n in failed.items() if n)
    line("failures", f"{failures}" + (f" ({where})" if where else ""), failures == 0, "none")
    lag = summary.get("hub_lag_steady_ms", [])
    if lag:
        lag = sorted(lag)
        line(
            "hub lag (steady part)",
            f"median {lag[len(lag) // 2]:.0f}, max {lag[-1]:.0f} ms ({len(lag)} s)",
            lag[-1] <= 100,
            "max <= 100 ms",
        )
    hub = rows.get(("hub", "hub lag"))
    if hub:
        line(
            "hub lag row (whole run)",
            f"median {figure('hub', 'hub lag', '50%'):g}, p95 {figure('hub', 'hub lag', '95%'):g}, "
            f"max {figure('hub', 'hub lag', 'Max Response Time'):.0f} ms",
        )
    if ("push", "tick") in rows:
        line(
            "push latency (push tick)",
            f"p50 {figure('push', 'tick', '50%'):g}, p95 {figure('push', 'tick', '95%'):g}, "
            f"max {figure('push', 'tick', 'Max Response Time'):.0f} ms",
        )
    server = summary.get("server") or {}
    if server:
        line(
            "server (steady part)",
            f"CPU {server['cpu_percent_of_one_core']:.0f}%, event-loop delay worst of each second: "
            f"median {server['loop_delay_max_ms_median']:.0f}, max {server['loop_delay_max_ms']:.0f} ms; "
            f"a broadcast takes {server['broadcast_ms_median']:.0f} ms",
        )
    return all(checks)


if __name__ == "__main__":
    sys.exit(main())
