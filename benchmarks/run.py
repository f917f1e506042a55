#!/usr/bin/env python3
"""greensio benchmark suite: one command, the clients side by side, one Node server.

    python benchmarks/run.py            # full run   (~25 min)
    python benchmarks/run.py --quick    # quick look (~5 min)

Runs greensio, python-socketio's Client under gevent, the official Node
socket.io-client and the floor (no protocol work, clients/floor_client.py) side
by side against the same Node socket.io 4.8 server (benchmarks/server.js; a
second instance with compression for the *-deflate rows), each scenario in a
fresh subprocess whose own CPU time (getrusage / process.cpuUsage) is measured
over the measured section only. Optionally a second greensio build
(--baseline-path) as a column of its own. Prints the median table with the
goals (greensio / Node, met or not met), the other ratios and the distance to
the floor, and writes benchmarks/results/<timestamp>.json and .md. See
benchmarks/README.md.

Only the Python standard library is needed here; the Python clients run under
--python (default: this interpreter), which needs gevent and python-socketio.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time

from clients._common import raise_nofile  # the one place the benchmarks raise it
from table import (
    ALIASES,
    CLIENT_TITLES_RUN,
    CLIENTS,
    FIGURES,
    MANY,
    SCENARIOS,
    THROUGHPUT,
    build_table,
    derive,
    detail_table,
    goal_status,
    markdown_table,
    mixed_verdict,
    ratio,
    summarize,
)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")

DEFAULT_CLIENTS = ["psio", "node", "greensio", "floor"]  # + baseline with --baseline-path; compat when named
GREENSIO_LIKE = ("greensio", "baseline", "floor")  # the clients that connect --greensio-clients in "idle"
# the floor is measured over WebSocket without compression only
FLOOR_SCENARIOS = {"emit", "recv", "call", "recv64k", "idle", "mixed"}

PROFILE_KEYS = (
    "reps",  # of each throughput scenario
    "idle_reps",  # of idle and idle-deflate
    "target_cpu",  # CPU seconds per measured section
    "clients",  # idle: N of Node and python-socketio
    "greensio_clients",  # idle: N of greensio, the baseline and the floor
    "mixed_clients",  # mixed: N
    "mixed_duration",  # mixed: measured seconds
    "psio_mixed_ladder",  # mixed: python-socketio's N, tried in order
)
PROFILES = {
    "full": dict(zip(PROFILE_KEYS, (5, 3, 1.0, 5000, 10000, 10000, 30.0, "1000,2000,5000"))),
    "quick": dict(zip(PROFILE_KEYS, (3, 1, 0.3, 1000, 2000, 1000, 10.0, "500,1000"))),
}
# python-socketio over polling: most messages in any one warm-up or measured
# section (--psio-polling-max-m). Its polling client could be latency-bound (an
# HTTP request per batch through `requests`), so CPU-sized counts alone would
# not bound its wall time; the cap does, and the table says when it bound.
PSIO_POLLING_MAX_M = 50_000
# python-socketio over polling raises python-engineio's Payload.max_decode_packets
# (see clients/psio_client.py); the note under the table says so.
PSIO_POLLING_NOTE = (
    "python-socketio over polling: python-engineio's Payload.max_decode_packets raised "
    "from 16 to 1,000,000 in its process (with the default it drops the connection at the "
    "first poll response of more than 16 packets, and the Node server answers a poll with "
    "everything queued; the workaround from python-engineio issue #142); {cap}"
)


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------- setup


def ensure_node_modules(npm):
    marker = os.path.join(HERE, "node_modules", "socket.io-client", "package.json")
    if os.path.exists(marker) and os.path.exists(os.path.join(HERE, "node_modules", "socket.io", "package.json")):
        return
    log("benchmarks/node_modules missing: npm ci --no-audit --no-fund")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, stdout=sys.stderr)


class Server:
    """benchmarks/server.js, started once per kind ("plain", or "deflate": compression on); stopped by its own pid."""

    def __init__(self, node, deflate=False):
        cmd = [node, os.path.join(HERE, "server.js"), "--host", "127.0.0.1", "--port", "0"]
        if deflate:
            cmd.append("--deflate")
        self.proc = subprocess.Popen(
            cmd,
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read()
            raise RuntimeError("server.js did not start: " + err[-2000:])
        self.info = json.loads(line)
        self.port = self.info["port"]
        self.url = f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self):
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Servers:
    """The plain server, and the compressing one once a *-deflate scenario needs it."""

    def __init__(self, node):
        self._node = node
        self.by_kind = {"plain": Server(node)}

    def get(self, kind):
        if kind not in self.by_kind:
            self.by_kind[kind] = Server(self._node, deflate=(kind == "deflate"))
        return self.by_kind[kind]

    @property
    def plain(self):
        return self.by_kind["plain"]

    def stop(self):
        for server in self.by_kind.values():
            server.stop()


# ---------------------------------------------------------------- machine info


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def mem_total_gb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


PY_VERSIONS = r"""
import json, sys
from importlib import metadata
out = {"python": sys.version.split()[0], "python_executable": sys.executable}
for dist in ("python-socketio", "python-engineio", "websocket-client", "gevent", "greenlet"):
    try:
        out[dist] = metadata.version(dist)
    except Exception:
        out[dist] = None
try:
    sys.path.insert(0, sys.argv[1])
    import greensio
    out["greensio"] = getattr(greensio, "__version__", "(no __version__)")
except Exception as e:
    out["greensio"] = "not importable: %s" % type(e).__name__
print(json.dumps(out))
"""


def git_commit(path, subdir="greensio"):
    """(commit, dirty) of the git work tree holding ``path``, or (None, None)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", subdir], cwd=path, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return commit or None, bool(dirty) if commit else None
    except Exception:  # noqa: BLE001
        return None, None


def machine_info(opts, servers):
    info = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "mem_total_gb": mem_total_gb(),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "loadavg_start": list(os.getloadavg()),
        "runner_python": sys.version.split()[0],
    }
    try:
        r = subprocess.run(
            [opts.python, "-c", PY_VERSIONS, opts.greensio_path], capture_output=True, text=True, timeout=60
        )
        info.update(json.loads(r.stdout.strip().splitlines()[-1]))
    except Exception as e:  # noqa: BLE001
        info["python_versions_error"] = str(e)
    if opts.baseline_path:
        try:
            r = subprocess.run(
                [opts.python, "-c", PY_VERSIONS, opts.baseline_path], capture_output=True, text=True, timeout=60
            )
            info["baseline greensio"] = json.loads(r.stdout.strip().splitlines()[-1]).get("greensio")
        except Exception as e:  # noqa: BLE001
            info["baseline greensio"] = f"error: {e}"
        info["baseline_path"] = opts.baseline_path
        info["baseline_commit"] = git_commit(opts.baseline_path)[0]
    try:
        info["node"] = subprocess.run(
            [opts.node, "--version"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except Exception as e:  # noqa: BLE001
        info["node"] = f"error: {e}"
    info["socket.io (server)"] = servers.plain.info.get("socketio")
    try:
        with open(os.path.join(HERE, "node_modules", "socket.io-client", "package.json")) as f:
            info["socket.io-client"] = json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        info["socket.io-client"] = None
    info["git_commit"], info["git_dirty"] = git_commit(ROOT)
    return info


# ---------------------------------------------------------------- what runs where


def not_run_reason(client, scenario):
    """Why a client is not run for a scenario (its cell is n/a), or None."""
    if client == "floor" and scenario not in FLOOR_SCENARIOS:
        return "the floor is measured over WebSocket without compression only"
    return None


def planned_ns(client, scenario, opts):
    """The N values a client is run with, in order (mixed: a ladder), and how to read them.

    Returns (ns, mode): mode "one" (a single N), "up" (python-socketio's mixed
    ladder: stop at the first N it does not hold, report the largest held) or
    "down" (Node's mixed: stop at the first N it holds; report the first N if it ran).
    """
    if scenario == "mixed":
        if client == "psio":
            return opts.psio_ladder, "up"
        if client == "node" and opts.mixed_clients >= 2:
            return [opts.mixed_clients, opts.mixed_clients // 2], "down"
        return [opts.mixed_clients], "one"
    if scenario in ("idle", "idle-deflate"):
        if client in GREENSIO_LIKE:
            return [opts.greensio_clients], "one"
        n = opts.clients
        if client == "psio" and opts.psio_max_clients:
            n = min(n, opts.psio_max_clients)
        return [n], "one"
    return [0], "one"


def client_n(opts, clients):
    """For the table's titles: scenario -> [(client, the first N planned)], but for a ladder."""

    def of(scenario):
        pairs = []
        for c in clients:
            ns, mode = planned_ns(c, scenario, opts)
            if not not_run_reason(c, scenario) and mode != "up":  # a ladder's cell names its N
                pairs.append((c, ns[0]))
        return pairs

    return of


def client_command(client, scenario, opts, url, n):
    client_scenario, transport, server_kind = SCENARIOS[scenario]
    common = [
        "--url",
        url,
        "--scenario",
        client_scenario,
        "--target-cpu",
        str(opts.target_cpu),
        "--n",
        str(n),
        "--connect-deadline",
        str(opts.connect_deadline),
        "--transport",
        transport,
    ]
    if scenario == "mixed":
        common += ["--duration", str(opts.mixed_duration)]
    if server_kind == "deflate":
        common.append("--expect-deflate")
    if opts.m:
        common += ["--m", str(opts.m)]
    elif client == "psio" and transport == "polling" and opts.psio_polling_max_m:
        common += ["--max-m", str(opts.psio_polling_max_m)]
    env = dict(os.environ)
    if client == "node":
        return [opts.node, "--expose-gc", os.path.join(HERE, "clients", "node_client.js")] + common, env
    script = {
        "psio": "psio_client.py",
        "greensio": "greensio_client.py",
        "baseline": "greensio_client.py",  # this tree's client, the other build's package
        "floor": "floor_client.py",
        "compat": "compat_client.py",
    }[client]
    path = {"greensio": opts.greensio_path, "compat": opts.greensio_path, "baseline": opts.baseline_path}.get(client)
    if path:  # the library from that directory, not an installed copy
        env["PYTHONPATH"] = path + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return [opts.python, os.path.join(HERE, "clients", script)] + common, env


def timeout_of(scenario, opts):
    if scenario == "mixed":
        return opts.connect_deadline + opts.mixed_duration + 120
    if scenario in MANY:
        return opts.connect_deadline + 90
    return opts.timeout


def run_one(client, scenario, opts, server, n):
    reason = not_run_reason(client, scenario)
    if reason:
        return {"client": client, "scenario": scenario, "ok": False, "na": True, "error": reason, "not_run": True}
    cmd, env = client_command(client, scenario, opts, server.url, n)
    timeout = timeout_of(scenario, opts)
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        tail = e.stderr or b""
        tail = tail.decode(errors="replace") if isinstance(tail, bytes) else tail
        return {
            "client": client,
            "scenario": scenario,
            "ok": False,
            "na": False,
            "n": n or None,
            "error": f"killed after {timeout:.0f} s (timeout)",
            "stderr_tail": tail[-1500:],
            "elapsed_s": time.perf_counter() - t0,
        }
    res = None
    for line in reversed(r.stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                res = json.loads(line)
                break
            except ValueError:
                continue
    if res is None:
        res = {
            "client": client,
            "scenario": scenario,
            "ok": False,
            "na": False,
            "n": n or None,
            "error": f"no result line (exit code {r.returncode})",
        }
    else:  # the client reports its own scenario name ("emit" for run.py's "emit-polling") and name
        res["client_scenario"] = res.get("scenario")
        res["scenario"] = scenario
        res["client"] = client
    if not res.get("ok"):
        res["stderr_tail"] = r.stderr[-1500:]
    res["returncode"] = r.returncode
    res["elapsed_s"] = time.perf_counter() - t0
    return derive(res)


def run_planned(client, scenario, opts, server):
    """Every run of one (client, scenario, rep): one N, or a mixed-load ladder; each result says
    whether it is the one the table reports (``reported``)."""
    ns, mode = planned_ns(client, scenario, opts)
    results = []
    for n in ns:
        res = run_one(client, scenario, opts, server, n)
        results.append(res)
        if mode == "one" or res.get("na"):
            break
        held = mixed_verdict(res)[0]
        res["holds"] = held
        if (mode == "up" and not held) or (mode == "down" and held):
            break
    for res in results:
        res["reported"] = False
    if mode == "up":
        held = [r for r in results if r.get("holds")]
        (held[-1] if held else results[0])["reported"] = True
    elif mode == "down":  # the full N when it ran at all (its cell says if it did not hold it)
        held = [r for r in results if r.get("holds")]
        first = results[0]
        (first if first.get("ok") else held[0] if held else results[-1])["reported"] = True
    else:
        results[-1]["reported"] = True
    return results


def describe(res):
    if res.get("na"):
        return "n/a ({})".format(res.get("error", "")[:100])
    if not res.get("ok"):
        return "ERROR: {}".format(res.get("error", "")[:200])
    scenario = res["scenario"]
    if scenario == "mixed":
        held, why = mixed_verdict(res)
        received = f"{res['recv_pct']:.1f}%" if res.get("recv_pct") is not None else "—"
        return (
            f"N={res['n']:,}: {res['cpu_pct']:.1f}% of a core, {received} of {res['ticks']} "
            f"broadcasts, {res['emits_delivered']:,}/{res['emits_sent']:,} emits, late ≤ {res['late_max_s']:.2f} s"
            + ("" if held else f" — does not hold: {why}")
        )
    if scenario in MANY:
        s = (
            f"{res['connected']}/{res['n']} connected in {res['connect_wall_s']:.2f} s "
            f"({res['connect_cpu_s']:.2f} s CPU), {res['mem_kb_per_client']:.1f} KB/client"
        )
        return s + (" [{}]".format(res["partial"]) if res.get("partial") else "")
    s = f"{res['value']:.2f} µs/msg (M={res['m']}, {res['cpu_s']:.2f} s CPU, {res['wall_s']:.2f} s wall)"
    if "wire_read_per_msg" in res:
        s += f", {res['wire_read_per_msg'] + res['wire_written_per_msg']:.0f} B/msg on the wire"
    if "msgs_per_read" in res:
        s += f", {res['msgs_per_read']:.1f} msgs/read"
    return s


# ---------------------------------------------------------------- notes under the table


def psio_polling_note(summary, opts):
    psio_polling = [summary.get(f"{sc}.value.psio", {}) for sc in ("emit-polling", "recv-polling")]
    if "psio" not in opts.client_list or not any(c.get("runs") for c in psio_polling):
        return None
    cap = opts.psio_polling_max_m
    if opts.m:
        text = f"no message cap (--m {opts.m:,} forces every count)"
    elif not cap:
        text = "no message cap (--psio-polling-max-m 0)"
    else:
        ok = sum(c.get("ok_runs", 0) for c in psio_polling)
        hit = sum(c.get("capped_runs", 0) for c in psio_polling)
        text = f"at most {cap:,} messages per warm-up or measured section (--psio-polling-max-m); the cap bound " + (
            f"{hit} of {ok} measured sections (cells marked M ≤ {cap:,})"
            if hit
            else f"none of the {ok} measured sections"
        )
    return PSIO_POLLING_NOTE.format(cap=text)


def median_field(runs, client, scenario, field):
    vals = [r[field] for r in runs if r["client"] == client and r["scenario"] == scenario and r.get(field) is not None]
    return statistics.median(vals) if vals else None


def extra_notes(runs, summary, opts):
    notes = []
    clients = opts.client_list
    if "baseline" in clients:
        notes.append(
            f"{CLIENT_TITLES_RUN['baseline']}: the greensio package in {opts.baseline_path}, "
            "driven by this tree's clients/greensio_client.py (same scenarios, same process set-up)."
        )
    if "floor" in clients:
        reads = {
            sc: median_field(runs, "floor", sc, "msgs_per_read") for sc in ("recv", "recv64k") if sc in opts.scenarios
        }
        per_read = ", ".join(f"{sc} {v:.1f}" for sc, v in reads.items() if v is not None)
        notes.append(
            "floor: not a Socket.IO client — the same sockets and system calls as greensio with no protocol work "
            "(pre-built frames, frames split by their headers and never decoded; benchmarks/README.md). "
            "Its receive reads wait for a full 256 KiB buffer (SO_RCVLOWAT)"
            + (f" (messages per read: {per_read})" if per_read else "")
            + ". Polling and compressed rows: not measured (n/a)."
        )
    wires = []
    for sc in ("emit-deflate", "recv-deflate"):
        if sc not in opts.scenarios:
            continue
        parts = []
        for c in clients:
            cell = summary.get(f"{sc}.value.{c}", {})
            if cell.get("wire_bytes_per_msg") is not None:
                parts.append(f"{CLIENT_TITLES_RUN[c]} {cell['wire_bytes_per_msg']:,.0f}")
        if parts:
            wires.append(f"{sc}: " + ", ".join(parts))
    if any(sc in opts.scenarios for sc in ("emit-deflate", "recv-deflate", "idle-deflate")):
        notes.append(
            "*-deflate rows: a second server.js with perMessageDeflate and httpCompression at threshold 0 "
            "(ws compresses at zlib's default level); payloads are JSON-like text, 1,024 characters "
            "(emit) and 65,536 characters (receive, a string argument). greensio deflates at zlib level 1, "
            "Node's client (ws) at the default level; a client that did not negotiate permessage-deflate is n/a"
            + (
                ". Bytes on the wire per message, both directions (the server's TCP counters): " + "; ".join(wires)
                if wires
                else ""
            )
            + "."
        )
    if "mixed" in opts.scenarios:
        notes.append(
            f'mixed: each client emits one 50-character "m" a second (spread evenly: every 10 ms, 1/100 of '
            f'the clients) and receives one broadcast a second (the server emits "tick" (seq, 100-character '
            f"string) once a second to the room all mixed clients joined); client CPU over {opts.mixed_duration:g} s. "
            "A client holds N when all N connected, ≥ 99% of the broadcasts and emits got through, it stayed "
            "under 95% of a core and its emit schedule never fell 1 s behind."
        )
        for client, how in (("psio", "largest N it holds"), ("node", "N")):
            rs = [r for r in runs if r["client"] == client and r["scenario"] == "mixed" and "holds" in r]
            if not rs:
                continue
            parts = []
            for r in rs:
                held, why = mixed_verdict(r)
                if held:
                    parts.append(f"holds {r['n']:,} ({r['cpu_pct']:.0f}% of a core)")
                else:
                    parts.append(f"fails at {r.get('n') or '?':,}: {why}")
            notes.append(f"mixed, {CLIENT_TITLES_RUN[client]} ({how}): " + "; ".join(parts))
    psio = psio_polling_note(summary, opts)
    if psio:
        notes.append(psio)
    return notes


def goals_line(summary, opts):
    met = total = 0
    for scenario, field, _title, goal in FIGURES:
        if goal and scenario in opts.scenarios:
            ok, _ = goal_status(summary, scenario, field, goal)
            if ok is not None:
                total += 1
                met += ok
    return f"goals: {met} of {total} met" if total else None


def reps_sentence(opts):
    parts = []
    if any(sc in opts.scenarios for sc in THROUGHPUT):
        parts.append(f"medians of {opts.reps} reps, client-process CPU time")
    if any(sc in opts.scenarios for sc in ("idle", "idle-deflate")):
        parts.append(
            f"N-client figures: median of {opts.idle_reps} reps" if opts.idle_reps > 1 else "N-client figures: one rep"
        )
    if "mixed" in opts.scenarios:
        parts.append("mixed load: one run per N")
    return "; ".join(parts)


# ---------------------------------------------------------------- main


def parse_args():
    p = argparse.ArgumentParser(
        description="greensio vs python-socketio+gevent vs Node socket.io-client (and the floor), "
        "against one Node socket.io 4.8 server; client CPU per message."
    )
    p.add_argument("--quick", action="store_true", help="fewer reps, shorter sections, smaller N (about 5 minutes)")
    p.add_argument("--reps", type=int, help="repetitions of each throughput scenario (default 5; --quick 3)")
    p.add_argument("--idle-reps", type=int, help="repetitions of idle and idle-deflate (default 3; --quick 1)")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only these scenarios and/or clients (comma-separated, repeatable): {}; {}; {}".format(
            ", ".join(SCENARIOS), ", ".join(CLIENTS), "; ".join(f"{k} = {', '.join(v)}" for k, v in ALIASES.items())
        ),
    )
    p.add_argument(
        "--clients",
        type=int,
        metavar="N",
        help="idle: clients Node's and python-socketio's process connect (default 5,000; --quick 1,000)",
    )
    p.add_argument(
        "--greensio-clients",
        type=int,
        metavar="N",
        help="idle: clients greensio's (and the baseline's and floor's) process connects "
        "(default 10,000; --quick 2,000)",
    )
    p.add_argument(
        "--mixed-clients", type=int, metavar="N", help="mixed load: clients per process (default 10,000; --quick 1,000)"
    )
    p.add_argument(
        "--mixed-duration", type=float, metavar="S", help="mixed load: measured seconds (default 30; --quick 10)"
    )
    p.add_argument(
        "--psio-mixed-ladder",
        metavar="N,N,...",
        help="mixed load: python-socketio's counts, tried in order until one fails "
        "(default 1000,2000,5000; --quick 500,1000)",
    )
    p.add_argument(
        "--psio-max-clients",
        type=int,
        default=0,
        metavar="N",
        help="idle: cap N for python-socketio only (reported as N=... in its cell)",
    )
    p.add_argument(
        "--psio-polling-max-m",
        type=int,
        default=PSIO_POLLING_MAX_M,
        metavar="M",
        help="python-socketio over polling: at most M messages per warm-up or "
        "measured section (default %(default)s; 0: no cap)",
    )
    p.add_argument(
        "--target-cpu", type=float, help="client CPU seconds per measured section (default 1.0; --quick 0.3)"
    )
    p.add_argument("--m", type=int, default=0, help="force the message count M of every throughput section")
    p.add_argument(
        "--connect-deadline", type=float, default=60.0, help="seconds to wait for the N clients to connect (default 60)"
    )
    p.add_argument("--timeout", type=float, help="kill a throughput client after this many seconds")
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="retry a client/scenario in later reps after it failed (default: skip it once it failed)",
    )
    p.add_argument("--python", default=sys.executable, help="interpreter for the Python clients (default: this one)")
    p.add_argument(
        "--greensio-path",
        default=ROOT,
        metavar="DIR",
        help="directory holding the greensio package to measure (default: this work tree, %(default)s)",
    )
    p.add_argument(
        "--baseline-path",
        metavar="DIR",
        help="also measure the greensio package in DIR (e.g. an older commit) as a column of its own",
    )
    p.add_argument(
        "--baseline-name",
        metavar="TEXT",
        help="the baseline column's title (default: \"greensio <commit>\" from DIR's git)",
    )
    p.add_argument("--node", default=shutil.which("node") or "node")
    p.add_argument("--npm", default=shutil.which("npm") or "npm")
    p.add_argument("--no-save", action="store_true", help="do not write results/")
    opts = p.parse_args()
    prof = PROFILES["quick" if opts.quick else "full"]
    for k, v in prof.items():
        if getattr(opts, k) is None:
            setattr(opts, k, v)
    if opts.timeout is None:
        opts.timeout = 40 + 40 * opts.target_cpu
    try:
        opts.psio_ladder = [int(x) for x in str(opts.psio_mixed_ladder).split(",") if x.strip()]
    except ValueError:
        p.error("--psio-mixed-ladder: comma-separated integers")
    names = [x.strip() for item in opts.only for x in item.split(",") if x.strip()]
    names = [y for x in names for y in ALIASES.get(x, [x])]
    bad = [x for x in names if x not in list(SCENARIOS) + CLIENTS]
    if bad:
        p.error("--only: unknown name(s) {}".format(", ".join(bad)))
    if "baseline" in names and not opts.baseline_path:
        p.error("--only baseline needs --baseline-path")
    opts.scenarios = [s for s in SCENARIOS if s in names] or list(SCENARIOS)
    default_clients = DEFAULT_CLIENTS + (["baseline"] if opts.baseline_path else [])
    opts.client_list = [c for c in CLIENTS if c in names] or [c for c in CLIENTS if c in default_clients]
    if opts.baseline_path:
        opts.baseline_path = os.path.abspath(opts.baseline_path)
        if not os.path.isdir(os.path.join(opts.baseline_path, "greensio")):
            p.error(f"--baseline-path: no greensio package in {opts.baseline_path}")
        if not opts.baseline_name:
            commit = git_commit(opts.baseline_path)[0]
            opts.baseline_name = f"greensio {commit[:7]}" if commit else "greensio baseline"
        CLIENT_TITLES_RUN["baseline"] = opts.baseline_name
    return opts


def make_plan(opts):
    """(rep, scenario, client) in run order: reps interleaved, the client order rotating each rep."""
    plan = []
    k = len(opts.client_list)

    def order(rep):
        return opts.client_list[rep % k :] + opts.client_list[: rep % k]

    for rep in range(opts.reps):
        for scenario in [s for s in THROUGHPUT if s in opts.scenarios]:
            plan += [(rep, scenario, c) for c in order(rep)]
    for scenario in ("idle", "idle-deflate"):
        if scenario in opts.scenarios:
            for rep in range(opts.idle_reps):
                plan += [(rep, scenario, c) for c in order(rep)]
    if "mixed" in opts.scenarios:
        plan += [(0, "mixed", c) for c in order(0)]
    return plan


def main():
    opts = parse_args()
    nofile = raise_nofile()
    biggest = max([opts.clients, opts.greensio_clients, opts.mixed_clients] + opts.psio_ladder)
    if nofile < biggest + 200:
        log(f"warning: RLIMIT_NOFILE is {nofile}, below N={biggest} clients; lowering every N")
        cap = max(10, nofile - 200)
        opts.clients = min(opts.clients, cap)
        opts.greensio_clients = min(opts.greensio_clients, cap)
        opts.mixed_clients = min(opts.mixed_clients, cap)
        opts.psio_ladder = [min(n, cap) for n in opts.psio_ladder]
    ensure_node_modules(opts.npm)
    servers = Servers(opts.node)
    started = datetime.datetime.now()
    runs = []
    failed = {}  # (client, scenario) -> error, to skip later reps
    try:
        machine = machine_info(opts, servers)
        log(
            "server: socket.io {} on {} (node {}); clients: {}; scenarios: {}".format(
                servers.plain.info.get("socketio"),
                servers.plain.url,
                machine.get("node"),
                ", ".join(opts.client_list),
                ", ".join(opts.scenarios),
            )
        )
        log(
            f"profile: {'quick' if opts.quick else 'full'}, reps={opts.reps}, "
            f"idle reps={opts.idle_reps}, target CPU/section={opts.target_cpu:.2f} s, "
            f"idle N={opts.clients} (greensio, baseline, floor: {opts.greensio_clients}), "
            f"mixed N={opts.mixed_clients} for {opts.mixed_duration:g} s "
            f"(python-socketio: {','.join(map(str, opts.psio_ladder))})"
        )
        plan = make_plan(opts)
        for i, (rep, scenario, client) in enumerate(plan, 1):
            prefix = f"[{i:3d}/{len(plan)}] rep {rep + 1} {scenario:<12} {client:<9}"
            if (client, scenario) in failed and not opts.keep_going:
                res = dict(failed[(client, scenario)], skipped=True, rep=rep)
                runs.append(res)
                log(prefix + " skipped (failed before)")
                continue
            server = servers.get(SCENARIOS[scenario][2])
            if not server.alive():
                raise RuntimeError("server.js exited: " + server.proc.stderr.read()[-2000:])
            for res in run_planned(client, scenario, opts, server):
                res["rep"] = rep
                runs.append(res)
                log(prefix + " " + describe(res))
                if not res.get("ok") and scenario != "mixed":
                    failed[(client, scenario)] = {
                        k2: res.get(k2) for k2 in ("client", "scenario", "ok", "na", "error", "not_run")
                    }
                time.sleep(1.0 if scenario in MANY else 0.2)  # let the server settle
        machine["loadavg_end"] = list(os.getloadavg())
        machine["server_cpu_s"] = {kind: s.cpu_seconds() for kind, s in servers.by_kind.items()}
    finally:
        servers.stop()

    finished = datetime.datetime.now()
    summary = summarize(runs, opts.client_list)
    notes = []
    header, rows = build_table(summary, opts.client_list, opts, notes, client_n(opts, opts.client_list))
    notes += extra_notes(runs, summary, opts)
    table = markdown_table(header, rows)
    goals = goals_line(summary, opts)
    ratios = {}
    for scenario, field, _, _ in FIGURES:
        for a, b in (("greensio", "node"), ("greensio", "psio"), ("greensio", "baseline"), ("greensio", "floor")):
            if a in opts.client_list and b in opts.client_list:
                ratios[f"{scenario}.{field}.{a}/{b}"] = ratio(summary, scenario, field, a, b)
        if "compat" in opts.client_list:
            ratios[f"{scenario}.{field}.compat/greensio"] = ratio(summary, scenario, field, "compat", "greensio")
    config = {
        "profile": "quick" if opts.quick else "full",
        "reps": opts.reps,
        "idle_reps": opts.idle_reps,
        "target_cpu_s": opts.target_cpu,
        "clients_n": opts.clients,
        "greensio_clients_n": opts.greensio_clients,
        "mixed_clients_n": opts.mixed_clients,
        "mixed_duration_s": opts.mixed_duration,
        "psio_mixed_ladder": opts.psio_ladder,
        "psio_max_clients": opts.psio_max_clients or None,
        "psio_polling_max_m": opts.psio_polling_max_m or None,
        "forced_m": opts.m or None,
        "baseline": {"path": opts.baseline_path, "name": opts.baseline_name} if opts.baseline_path else None,
        "scenarios": opts.scenarios,
        "clients": opts.client_list,
        "command": " ".join(sys.argv),
        "payloads": {
            "emit": "event 'm', one 50-character ASCII string",
            "recv": "event 'e', one 100-character ASCII string",
            "recv64k": "event 'b', one 65,536-byte Buffer (binary attachment)",
            "call": "event 'echo', one integer, acked with it",
            "emit-polling": "as emit, over the polling transport only",
            "recv-polling": "as recv, over the polling transport only",
            "emit-deflate": "event 'm', one 1,024-character JSON-like string, compressed WebSocket",
            "recv-deflate": "event 'z', one 65,536-character JSON-like string, compressed WebSocket",
            "idle-deflate": "as idle, permessage-deflate negotiated",
            "mixed": "each client: one 'm' (50 characters) a second out, one 'tick' broadcast (seq, 100 characters) in",
        },
        "transports": "websocket only (no upgrade), except the *-polling scenarios: polling only (no upgrade)",
    }
    print()
    print(
        f"greensio benchmarks — {started:%Y-%m-%d %H:%M}, {machine.get('cpu_model')} "
        f"({machine.get('cpu_count')} cores), python {machine.get('python')}, "
        f"node {machine.get('node')}, socket.io {machine.get('socket.io (server)')}"
    )
    print(reps_sentence(opts) + "; lower is better (but for broadcasts received); ratio < 1 means greensio is cheaper")
    print()
    print(table)
    if goals:
        print(goals)
    for note in notes:
        print(note)
    print()

    if not opts.no_save:
        save(
            started, finished, machine, config, servers, summary, ratios, header, rows, notes, runs, opts, table, goals
        )
    errors = [r for r in runs if not r.get("ok") and not r.get("na") and r["scenario"] != "mixed"]
    return 0 if not errors else 1


MACHINE_KEYS = (
    "cpu_model",
    "cpu_count",
    "mem_total_gb",
    "kernel",
    "python",
    "node",
    "socket.io (server)",
    "socket.io-client",
    "python-socketio",
    "python-engineio",
    "websocket-client",
    "gevent",
    "greenlet",
    "greensio",
    "git_commit",
    "git_dirty",
    "baseline greensio",
    "baseline_path",
    "baseline_commit",
    "loadavg_start",
    "loadavg_end",
    "server_cpu_s",
)


def save(started, finished, machine, config, servers, summary, ratios, header, rows, notes, runs, opts, table, goals):
    os.makedirs(RESULTS, exist_ok=True)
    stamp = started.strftime("%Y%m%d-%H%M%S") + ("-quick" if opts.quick else "")
    doc = {
        "started": started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "duration_s": (finished - started).total_seconds(),
        "machine": machine,
        "config": config,
        "servers": {kind: s.info for kind, s in servers.by_kind.items()},
        "summary": summary,
        "ratios": ratios,
        "goals": goals,
        "table": {"header": header, "rows": rows},
        "notes": notes,
        "runs": runs,
    }
    jpath = os.path.join(RESULTS, stamp + ".json")
    with open(jpath, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
    mpath = os.path.join(RESULTS, stamp + ".md")
    with open(mpath, "w") as f:
        f.write("# greensio benchmarks — {}\n\n".format(started.strftime("%Y-%m-%d %H:%M:%S")))
        f.write(
            reps_sentence(opts) + "; lower is better (but for broadcasts received); a ratio below 1 means "
            "greensio is cheaper. Method: benchmarks/README.md.\n\n"
        )
        f.write(table + "\n\n")
        if goals:
            f.write(goals + "\n\n")
        for note in notes:
            f.write(f"- {note}\n")
        if notes:
            f.write("\n")
        f.write("## Machine\n\n")
        for key in MACHINE_KEYS:
            if key in machine:
                f.write(f"- {key}: {machine.get(key)}\n")
        f.write("\n## Configuration\n\n")
        for key, val in config.items():
            f.write(f"- {key}: {val}\n")
        f.write(f"- duration: {(finished - started).total_seconds():.0f} s\n")
        f.write("\n## Spread and message counts\n\n" + detail_table(summary, opts.client_list) + "\n")
    print(f"results: {os.path.relpath(jpath)}\n         {os.path.relpath(mpath)}")


if __name__ == "__main__":
    sys.exit(main())
