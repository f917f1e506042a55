#!/usr/bin/env python3
"""greensio benchmark suite: one command, three clients, one Node server.

    python benchmarks/run.py            # full run   (~5-10 min)
    python benchmarks/run.py --quick    # quick look (~1-2 min)

Runs greensio, python-socketio's Client under gevent and the official Node
socket.io-client side by side against the same Node socket.io 4.8 server
(benchmarks/server.js), each scenario in a fresh subprocess whose own CPU time
(getrusage / process.cpuUsage) is measured over the measured section only.
Prints the median table with the ratios greensio/Node and greensio/python-socketio
and writes benchmarks/results/<timestamp>.json and .md. See benchmarks/README.md.

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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")

CLIENTS = ["psio", "node", "greensio", "compat"]  # table column order
DEFAULT_CLIENTS = ["psio", "node", "greensio"]  # compat only when --only names it
CLIENT_TITLES = {
    "psio": "python-socketio + gevent",
    "node": "Node socket.io-client",
    "greensio": "greensio",
    "compat": "greensio.compat",
}
# run.py scenario -> the client scenario it runs over the polling transport only;
# every other scenario runs over websocket only
POLLING = {"emit-polling": "emit", "recv-polling": "recv"}
THROUGHPUT = ["emit", "recv", "call", "recv64k"] + list(POLLING)
SCENARIOS = THROUGHPUT + ["idle"]
ALIASES = {"polling": list(POLLING)}  # --only polling: both polling rows

# (scenario, result field, row title, SPEC §4 greensio target or None)
FIGURES = [
    ("emit", "value", "fire-and-forget emit, 50 B, client CPU µs/msg", "≤ 6"),
    ("recv", "value", "receive server events, 100 B, client CPU µs/msg", "≤ 5"),
    ("call", "value", "sequential call() round trip, client CPU µs", "≤ 60"),
    ("recv64k", "value", "receive 64 KiB events, client CPU µs/msg", "≤ 60"),
    ("emit-polling", "value", "fire-and-forget emit over polling, 50 B, client CPU µs/msg", None),
    ("recv-polling", "value", "receive server events over polling, 100 B, client CPU µs/msg", None),
    ("idle", "mem_kb_per_client", "memory per idle connected client at {N} clients (KB)", "≤ 16"),
    ("idle", "connect_wall_s", "time to connect {N} clients in one process (s)", "10,000 in ≤ 4"),
    ("idle", "connect_cpu_s", "CPU to connect {N} clients in one process (s)", None),
]

PROFILES = {
    # reps of each throughput scenario, idle reps, CPU s per measured section, N
    "full": dict(reps=5, idle_reps=3, target_cpu=1.0, clients=5000),
    "quick": dict(reps=3, idle_reps=1, target_cpu=0.3, clients=1000),
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
    """benchmarks/server.js, started once; stopped by its own pid."""

    def __init__(self, node):
        self.proc = subprocess.Popen(
            [node, os.path.join(HERE, "server.js"), "--host", "127.0.0.1", "--port", "0"],
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


def machine_info(python, node, server, greensio_path):
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
        r = subprocess.run([python, "-c", PY_VERSIONS, greensio_path], capture_output=True, text=True, timeout=60)
        info.update(json.loads(r.stdout.strip().splitlines()[-1]))
    except Exception as e:  # noqa: BLE001
        info["python_versions_error"] = str(e)
    try:
        info["node"] = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception as e:  # noqa: BLE001
        info["node"] = f"error: {e}"
    info["socket.io (server)"] = server.info.get("socketio")
    try:
        with open(os.path.join(HERE, "node_modules", "socket.io-client", "package.json")) as f:
            info["socket.io-client"] = json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        info["socket.io-client"] = None
    try:
        info["git_commit"] = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
            or None
        )
        info["git_dirty"] = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--", "greensio"], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        )
    except Exception:  # noqa: BLE001
        info["git_commit"] = None
    return info


# ---------------------------------------------------------------- running


def client_command(client, scenario, opts, url, n):
    transport = "polling" if scenario in POLLING else "websocket"
    common = [
        "--url",
        url,
        "--scenario",
        POLLING.get(scenario, scenario),
        "--target-cpu",
        str(opts.target_cpu),
        "--n",
        str(n),
        "--connect-deadline",
        str(opts.connect_deadline),
        "--transport",
        transport,
    ]
    if opts.m:
        common += ["--m", str(opts.m)]
    elif client == "psio" and transport == "polling" and opts.psio_polling_max_m:
        common += ["--max-m", str(opts.psio_polling_max_m)]
    env = dict(os.environ)
    if client == "node":
        return [opts.node, "--expose-gc", os.path.join(HERE, "clients", "node_client.js")] + common, env
    script = {"psio": "psio_client.py", "greensio": "greensio_client.py", "compat": "compat_client.py"}[client]
    if client in ("greensio", "compat"):  # the library from this work tree, not an installed copy
        env["PYTHONPATH"] = opts.greensio_path + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return [opts.python, os.path.join(HERE, "clients", script)] + common, env


def run_one(client, scenario, opts, server, n):
    cmd, env = client_command(client, scenario, opts, server.url, n)
    timeout = (opts.connect_deadline + 90) if scenario == "idle" else opts.timeout
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
            "error": f"no result line (exit code {r.returncode})",
        }
    else:  # the client reports "emit" + transport "polling" for run.py's "emit-polling"
        res["client_scenario"] = res.get("scenario")
        res["scenario"] = scenario
    if not res.get("ok"):
        res["stderr_tail"] = r.stderr[-1500:]
    res["returncode"] = r.returncode
    res["elapsed_s"] = time.perf_counter() - t0
    return res


def describe(res):
    if res.get("na"):
        return "n/a ({})".format(res.get("error", "")[:100])
    if not res.get("ok"):
        return "ERROR: {}".format(res.get("error", "")[:200])
    if res["scenario"] == "idle":
        s = (
            f"{res['connected']}/{res['n']} connected in {res['connect_wall_s']:.2f} s "
            f"({res['connect_cpu_s']:.2f} s CPU), {res['mem_kb_per_client']:.1f} KB/client"
        )
        return s + (" [{}]".format(res["partial"]) if res.get("partial") else "")
    return f"{res['value']:.1f} µs/msg (M={res['m']}, {res['cpu_s']:.2f} s CPU, {res['wall_s']:.2f} s wall)"


# ---------------------------------------------------------------- summary


def fmt_num(v, field):
    if v is None:
        return "—"
    if field in ("connect_wall_s", "connect_cpu_s"):
        return f"{v:.2f}"
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.1f}"


def summarize(runs, clients):
    """Medians per (scenario, field, client) plus bookkeeping for the cells."""
    out = {}
    for scenario, field, _, _ in FIGURES:
        for client in clients:
            rs = [r for r in runs if r["client"] == client and r["scenario"] == scenario]
            ok = [r for r in rs if r.get("ok") and r.get(field) is not None]
            cell = {"runs": len(rs), "ok_runs": len(ok)}
            if ok:
                vals = [r[field] for r in ok]
                cell.update(median=statistics.median(vals), min=min(vals), max=max(vals), values=vals)
                if scenario == "idle":
                    cell["n"] = sorted({r["n"] for r in ok})
                    cell["connected"] = [r["connected"] for r in ok]
                    parts = [r["partial"] for r in ok if r.get("partial")]
                    if parts:
                        cell["partial"] = parts[0]
                else:
                    cell["m"] = [r["m"] for r in ok]
                    caps = [r["max_m"] for r in ok if r.get("max_m")]
                    if caps:
                        cell["max_m"] = caps[0]
                        cell["capped_runs"] = sum(1 for r in ok if r.get("max_m") and r["m"] >= r["max_m"])
            elif rs:
                cell["na"] = all(r.get("na") for r in rs)
                cell["error"] = next((r.get("error") for r in rs if r.get("error")), "failed")
            out[f"{scenario}.{field}.{client}"] = cell
    return out


def ratio(summary, scenario, field, a, b):
    ca = summary.get(f"{scenario}.{field}.{a}")
    cb = summary.get(f"{scenario}.{field}.{b}")
    if not ca or not cb or "median" not in ca or "median" not in cb or not cb["median"]:
        return None
    return ca["median"] / cb["median"]


def build_table(summary, clients, opts, notes):
    header = ["figure"] + [CLIENT_TITLES[c] for c in clients]
    show_ratios = "greensio" in clients
    if show_ratios:
        if "node" in clients:
            header.append("greensio / Node")
        if "psio" in clients:
            header.append("greensio / python-socketio")
        if "compat" in clients:
            header.append("compat / greensio")
        header.append("SPEC target (greensio)")
    rows = []
    for scenario, field, title, target in FIGURES:
        if scenario not in opts.scenarios:
            continue
        row = [title.replace("{N}", f"{opts.clients:,}")]
        for client in clients:
            cell = summary.get(f"{scenario}.{field}.{client}", {})
            if "median" in cell:
                txt = fmt_num(cell["median"], field)
                if scenario == "idle" and cell.get("n") != [opts.clients]:
                    txt += " (N={})".format(",".join(f"{x:,}" for x in cell["n"]))
                if cell.get("partial"):
                    txt += " †"
                    notes.append("† {}: {}".format(CLIENT_TITLES[client], cell["partial"]))
                if cell.get("capped_runs"):
                    txt += f" (M ≤ {cell['max_m']:,})"
                if cell["ok_runs"] < cell["runs"]:
                    txt += f" ({cell['ok_runs']}/{cell['runs']} runs ok)"
            elif cell.get("na"):
                txt = "n/a"
            elif cell.get("runs"):
                txt = "error"
                note = "error — {}, {}: {}".format(CLIENT_TITLES[client], scenario, (cell.get("error") or "")[:300])
                if note not in notes:
                    notes.append(note)
            else:
                txt = "—"
            row.append(txt)
        if show_ratios:
            for other in ("node", "psio"):
                if other in clients:
                    r = ratio(summary, scenario, field, "greensio", other)
                    row.append(f"{r:.2f}×" if r is not None else "n/a")
            if "compat" in clients:
                r = ratio(summary, scenario, field, "compat", "greensio")
                row.append(f"{r:.2f}×" if r is not None else "n/a")
            row.append(target or "")
        rows.append(row)
    psio_polling = [summary.get(f"{sc}.value.psio", {}) for sc in POLLING if sc in opts.scenarios]
    if "psio" in clients and any(c.get("runs") for c in psio_polling):
        cap = opts.psio_polling_max_m
        if opts.m:
            text = f"no message cap (--m {opts.m:,} forces every count)"
        elif not cap:
            text = "no message cap (--psio-polling-max-m 0)"
        else:
            ok = sum(c.get("ok_runs", 0) for c in psio_polling)
            hit = sum(c.get("capped_runs", 0) for c in psio_polling)
            text = (
                f"at most {cap:,} messages per warm-up or measured section "
                f"(--psio-polling-max-m); the cap bound "
                + (
                    f"{hit} of {ok} measured sections (cells marked M ≤ {cap:,})"
                    if hit
                    else f"none of the {ok} measured sections"
                )
            )
        notes.append(PSIO_POLLING_NOTE.format(cap=text))
    return header, rows


def reps_sentence(opts):
    parts = []
    if any(sc in opts.scenarios for sc in THROUGHPUT):
        parts.append(f"medians of {opts.reps} reps, client-process CPU time")
    if "idle" in opts.scenarios:
        if opts.idle_reps > 1:
            parts.append(f"N-client figures: median of {opts.idle_reps} reps")
        else:
            parts.append("N-client figures: one rep")
    return "; ".join(parts)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def detail_table(summary, clients):
    lines = [
        "| figure | client | median | min | max | ok runs | M (messages) per run |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for scenario, field, _title, _ in FIGURES:
        for client in clients:
            cell = summary.get(f"{scenario}.{field}.{client}")
            if not cell or "median" not in cell:
                continue
            if "m" in cell:
                extra = ", ".join(str(m) for m in cell["m"])
            else:
                extra = "N={}, connected {}".format(
                    "/".join(str(x) for x in cell.get("n", [])), ", ".join(str(x) for x in cell.get("connected", []))
                )
            cells = (
                [f"{scenario}.{field}", client]
                + [fmt_num(cell[k], field) for k in ("median", "min", "max")]
                + [f"{cell['ok_runs']}/{cell['runs']}", extra]
            )
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def parse_args():
    p = argparse.ArgumentParser(
        description="greensio vs python-socketio+gevent vs Node socket.io-client, "
        "against one Node socket.io 4.8 server; client CPU per message."
    )
    p.add_argument("--quick", action="store_true", help="fewer reps, shorter sections, N=1,000 (about 1-2 minutes)")
    p.add_argument("--reps", type=int, help="repetitions of each throughput scenario (default 5; --quick 3)")
    p.add_argument("--idle-reps", type=int, help="repetitions of the N-client scenario (default 3; --quick 1)")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only these scenarios and/or clients (comma-separated, repeatable): {}; {}; polling = {}".format(
            ", ".join(SCENARIOS), ", ".join(CLIENTS), ", ".join(POLLING)
        ),
    )
    p.add_argument(
        "--clients", type=int, metavar="N", help="idle clients connected in one process (default 5,000; --quick 1,000)"
    )
    p.add_argument(
        "--psio-max-clients",
        type=int,
        default=0,
        metavar="N",
        help="cap N for python-socketio only (reported as N=... in its cell)",
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
    names = [x.strip() for item in opts.only for x in item.split(",") if x.strip()]
    names = [y for x in names for y in ALIASES.get(x, [x])]
    bad = [x for x in names if x not in SCENARIOS + CLIENTS]
    if bad:
        p.error("--only: unknown name(s) {}".format(", ".join(bad)))
    opts.scenarios = [s for s in SCENARIOS if s in names] or list(SCENARIOS)
    opts.client_list = [c for c in CLIENTS if c in names] or list(DEFAULT_CLIENTS)
    return opts


def main():
    opts = parse_args()
    nofile = raise_nofile()
    if nofile < opts.clients + 200:
        log(f"warning: RLIMIT_NOFILE is {nofile}, below N={opts.clients} clients; lowering N")
        opts.clients = max(10, nofile - 200)
    ensure_node_modules(opts.npm)
    server = Server(opts.node)
    started = datetime.datetime.now()
    runs = []
    failed = {}  # (client, scenario) -> error, to skip later reps
    try:
        machine = machine_info(opts.python, opts.node, server, opts.greensio_path)
        log(
            "server: socket.io {} on {} (node {}); clients: {}; scenarios: {}".format(
                server.info.get("socketio"),
                server.url,
                machine.get("node"),
                ", ".join(opts.client_list),
                ", ".join(opts.scenarios),
            )
        )
        log(
            f"profile: {'quick' if opts.quick else 'full'}, reps={opts.reps}, "
            f"idle reps={opts.idle_reps}, target CPU/section={opts.target_cpu:.2f} s, "
            f"N={opts.clients}"
        )
        plan = []
        k = len(opts.client_list)
        for rep in range(opts.reps):
            order = opts.client_list[rep % k :] + opts.client_list[: rep % k]
            for scenario in [s for s in THROUGHPUT if s in opts.scenarios]:
                plan += [(rep, scenario, c) for c in order]
        if "idle" in opts.scenarios:
            for rep in range(opts.idle_reps):
                order = opts.client_list[rep % k :] + opts.client_list[: rep % k]
                plan += [(rep, "idle", c) for c in order]
        for i, (rep, scenario, client) in enumerate(plan, 1):
            prefix = f"[{i:3d}/{len(plan)}] rep {rep + 1} {scenario:<12} {client:<9}"
            if (client, scenario) in failed and not opts.keep_going:
                res = dict(failed[(client, scenario)], skipped=True, rep=rep)
                runs.append(res)
                log(prefix + " skipped (failed before)")
                continue
            if not server.alive():
                raise RuntimeError("server.js exited: " + server.proc.stderr.read()[-2000:])
            n = opts.clients
            if scenario == "idle" and client == "psio" and opts.psio_max_clients:
                n = min(n, opts.psio_max_clients)
            res = run_one(client, scenario, opts, server, n)
            res["rep"] = rep
            runs.append(res)
            log(prefix + " " + describe(res))
            if not res.get("ok"):
                failed[(client, scenario)] = {k2: res.get(k2) for k2 in ("client", "scenario", "ok", "na", "error")}
            time.sleep(1.0 if scenario == "idle" else 0.2)  # let the server settle
        machine["loadavg_end"] = list(os.getloadavg())
        machine["server_cpu_s"] = server.cpu_seconds()
    finally:
        server.stop()

    finished = datetime.datetime.now()
    summary = summarize(runs, opts.client_list)
    notes = []
    header, rows = build_table(summary, opts.client_list, opts, notes)
    table = markdown_table(header, rows)
    ratios = {}
    if "greensio" in opts.client_list:
        for scenario, field, _, _ in FIGURES:
            for other in ("node", "psio"):
                r = ratio(summary, scenario, field, "greensio", other)
                ratios[f"{scenario}.{field}.greensio/{other}"] = r
            if "compat" in opts.client_list:
                ratios[f"{scenario}.{field}.compat/greensio"] = ratio(summary, scenario, field, "compat", "greensio")
    config = {
        "profile": "quick" if opts.quick else "full",
        "reps": opts.reps,
        "idle_reps": opts.idle_reps,
        "target_cpu_s": opts.target_cpu,
        "clients_n": opts.clients,
        "psio_max_clients": opts.psio_max_clients or None,
        "psio_polling_max_m": opts.psio_polling_max_m or None,
        "forced_m": opts.m or None,
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
        },
        "transports": "websocket only (no upgrade), except the *-polling scenarios: polling only (no upgrade)",
    }
    print()
    print(
        f"greensio benchmarks — {started:%Y-%m-%d %H:%M}, {machine.get('cpu_model')} "
        f"({machine.get('cpu_count')} cores), python {machine.get('python')}, "
        f"node {machine.get('node')}, socket.io {machine.get('socket.io (server)')}"
    )
    print(reps_sentence(opts) + "; lower is better; ratio < 1 means greensio is cheaper")
    print()
    print(table)
    for note in notes:
        print(note)
    print()

    if not opts.no_save:
        os.makedirs(RESULTS, exist_ok=True)
        stamp = started.strftime("%Y%m%d-%H%M%S") + ("-quick" if opts.quick else "")
        doc = {
            "started": started.isoformat(timespec="seconds"),
            "finished": finished.isoformat(timespec="seconds"),
            "duration_s": (finished - started).total_seconds(),
            "machine": machine,
            "config": config,
            "server": server.info,
            "summary": summary,
            "ratios": ratios,
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
                reps_sentence(opts) + "; lower is better; a ratio below 1 means "
                "greensio is cheaper. Method: benchmarks/README.md.\n\n"
            )
            f.write(table + "\n\n")
            for note in notes:
                f.write(f"- {note}\n")
            if notes:
                f.write("\n")
            f.write("## Machine\n\n")
            for key in (
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
                "loadavg_start",
                "loadavg_end",
                "server_cpu_s",
            ):
                f.write(f"- {key}: {machine.get(key)}\n")
            f.write("\n## Configuration\n\n")
            for key, val in config.items():
                f.write(f"- {key}: {val}\n")
            f.write(f"- duration: {(finished - started).total_seconds():.0f} s\n")
            f.write("\n## Spread and message counts\n\n" + detail_table(summary, opts.client_list) + "\n")
        print(f"results: {os.path.relpath(jpath)}\n         {os.path.relpath(mpath)}")
    errors = [r for r in runs if not r.get("ok") and not r.get("na")]
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
