"""What run.py prints: the figures, the goals, the medians, the table and its notes.

Standard library only. run.py collects one result dict per client process;
``summarize`` takes their medians and ``build_table`` turns them into the
markdown table (with the goal column, the floor's distance and the baseline's
ratio) plus the notes printed under it.
"""

import statistics

CLIENTS = ["psio", "node", "greensio", "baseline", "floor", "compat"]  # table column order
CLIENT_TITLES = {
    "psio": "python-socketio + gevent",
    "node": "Node socket.io-client",
    "greensio": "greensio",
    "baseline": "greensio baseline",  # --baseline-name replaces it
    "floor": "floor (no protocol)",
    "compat": "greensio.compat",
}

# run.py scenario -> (client scenario, transport, server): the server is "plain"
# (no compression) or "deflate" (permessage-deflate and HTTP compression, threshold 0)
SCENARIOS = {
    "emit": ("emit", "websocket", "plain"),
    "recv": ("recv", "websocket", "plain"),
    "call": ("call", "websocket", "plain"),
    "recv64k": ("recv64k", "websocket", "plain"),
    "emit-polling": ("emit", "polling", "plain"),
    "recv-polling": ("recv", "polling", "plain"),
    "emit-deflate": ("emit1k", "websocket", "deflate"),
    "recv-deflate": ("recv64k-text", "websocket", "deflate"),
    "idle": ("idle", "websocket", "plain"),
    "idle-deflate": ("idle", "websocket", "deflate"),
    "mixed": ("mixed", "websocket", "plain"),
}
MANY = ["idle", "idle-deflate", "mixed"]  # N clients in one process
THROUGHPUT = [s for s in SCENARIOS if s not in MANY]
ALIASES = {
    "polling": ["emit-polling", "recv-polling"],
    "deflate": ["emit-deflate", "recv-deflate", "idle-deflate"],
}

# Goals (SPEC §4 / issue #17): ("ratio", x): greensio / Node ≤ x in the same run;
# ("plus_kb", k): greensio's figure ≤ its "idle" memory + k KB.
# figures for N clients in all: no ratio between clients that ran different N
TOTALS = {"connect_wall_s", "cpu_pct"}
RATIO = "ratio"
PLUS_KB = "plus_kb"

# (scenario, result field, row title, goal or None)
FIGURES = [
    ("emit", "value", "fire-and-forget emit, 50 B, client CPU µs/msg", (RATIO, 0.25)),
    ("recv", "value", "receive server events, 100 B, client CPU µs/msg", (RATIO, 0.50)),
    ("call", "value", "sequential call() round trip, client CPU µs", (RATIO, 0.40)),
    ("recv64k", "value", "receive 64 KiB events, client CPU µs/msg", (RATIO, 0.40)),
    ("emit-polling", "value", "fire-and-forget emit over polling, 50 B, client CPU µs/msg", None),
    ("recv-polling", "value", "receive server events over polling, 100 B, client CPU µs/msg", None),
    (
        "emit-deflate",
        "value",
        "emit 1 KiB compressible events, compressed WebSocket, client CPU µs/msg",
        None,
    ),
    (
        "recv-deflate",
        "value",
        "receive 64 KiB compressible events, compressed WebSocket, client CPU µs/msg",
        None,
    ),
    ("idle", "mem_kb_per_client", "memory per idle connected client (KB){NS}", (RATIO, 0.30)),
    (
        "idle-deflate",
        "mem_kb_per_client",
        "memory per idle connected client, permessage-deflate negotiated (KB){NS}",
        (PLUS_KB, 2.0),
    ),
    ("idle", "connect_wall_s", "connect N clients at once: wall time (s){NS}", None),
    ("idle", "connect_wall_us", "connect: wall time per client (µs){NS}", (RATIO, 0.60)),
    ("idle", "connect_cpu_us", "connect: client CPU per client (µs){NS}", (RATIO, 0.60)),
    (
        "mixed",
        "cpu_pct",
        "mixed load, 1 emit/s + 1 broadcast/s per client for {D} s: client CPU, % of one core{NM}",
        None,
    ),
    ("mixed", "cpu_us_per_client_s", "mixed load: client CPU per client-second (µs){NM}", None),
    ("mixed", "recv_pct", "mixed load: broadcasts received (%){NM}", None),
]


def derive(res):
    """Add the per-client and percentage fields the table shows."""
    if not res.get("ok"):
        return res
    connected = res.get("connected") or 0
    if res.get("connect_wall_s") is not None and connected:
        res["connect_wall_us"] = res["connect_wall_s"] / connected * 1e6
        res["connect_cpu_us"] = res["connect_cpu_s"] / connected * 1e6
    if res.get("recv_share") is not None:
        res["recv_pct"] = res["recv_share"] * 100.0
    if res.get("cpu_pct") is not None and res.get("n"):
        res["cpu_us_per_client_s"] = res["cpu_pct"] / 100.0 / res["n"] * 1e6
    return res


# ---------------------------------------------------------------- mixed load: does a client hold N?


def mixed_verdict(res):
    """(holds, why not): N clients connected, ≥ 99% of broadcasts and emits through, not saturated."""
    if not res.get("ok"):
        return False, res.get("error") or res.get("partial") or "failed"
    why = []
    if res.get("connected", 0) < res.get("n", 0):
        why.append(res.get("partial") or "not all connected")
    share = res.get("recv_share")
    if share is not None and share < 0.99:
        why.append(
            f"received {share:.1%} of the broadcasts (lowest client {res.get('recv_min')} of {res.get('ticks')})"
        )
    sent = res.get("emits_sent") or 0
    if sent and res.get("emits_delivered", 0) < 0.99 * sent:
        why.append(f"{res['emits_delivered']:,} of {sent:,} emits reached the server")
    if (res.get("cpu_pct") or 0) >= 95:
        why.append(f"saturated ({res['cpu_pct']:.0f}% of a core)")
    if (res.get("late_max_s") or 0) > 1.0:
        why.append(f"its emit schedule fell {res['late_max_s']:.1f} s behind")
    return not why, "; ".join(why)


# ---------------------------------------------------------------- medians


def summarize(runs, clients):
    """Medians per (scenario, field, client) plus bookkeeping for the cells."""
    out = {}
    for scenario, field, _, _ in FIGURES:
        for client in clients:
            rs = [r for r in runs if r["client"] == client and r["scenario"] == scenario]
            if scenario == "mixed":
                rs = [r for r in rs if r.get("reported", True)]
            ok = [r for r in rs if r.get("ok") and r.get(field) is not None]
            cell = {"runs": len(rs), "ok_runs": len(ok)}
            if ok:
                vals = [r[field] for r in ok]
                cell.update(median=statistics.median(vals), min=min(vals), max=max(vals), values=vals)
                if scenario in MANY:
                    cell["n"] = sorted({r["n"] for r in ok})
                    cell["connected"] = [r["connected"] for r in ok]
                    parts = [r["partial"] for r in ok if r.get("partial")]
                    if parts:
                        cell["partial"] = parts[0]
                    if scenario == "mixed":
                        cell["verdicts"] = [mixed_verdict(r) for r in ok]
                else:
                    cell["m"] = [r["m"] for r in ok]
                    caps = [r["max_m"] for r in ok if r.get("max_m") and client == "psio"]
                    if caps:
                        cell["max_m"] = caps[0]
                        cell["capped_runs"] = sum(1 for r in ok if r.get("max_m") and r["m"] >= r["max_m"])
                    wires = [r["wire_written_per_msg"] + r["wire_read_per_msg"] for r in ok if "wire_read_per_msg" in r]
                    if wires:
                        cell["wire_bytes_per_msg"] = statistics.median(wires)
            elif rs:
                cell["na"] = all(r.get("na") for r in rs)
                cell["error"] = next((r.get("error") for r in rs if r.get("error")), "failed")
                if scenario == "mixed":
                    cell["verdicts"] = [mixed_verdict(r) for r in rs]
                    cell["n"] = sorted({r["n"] for r in rs if r.get("n")})
            out[f"{scenario}.{field}.{client}"] = cell
    return out


def median_of(summary, scenario, field, client):
    cell = summary.get(f"{scenario}.{field}.{client}")
    return cell["median"] if cell and "median" in cell else None


def ratio(summary, scenario, field, a, b):
    va = median_of(summary, scenario, field, a)
    vb = median_of(summary, scenario, field, b)
    if va is None or not vb:
        return None
    return va / vb


def goal_text(goal):
    kind, x = goal
    if kind == RATIO:
        return f"≤ {x:.2f}× Node"
    return f"≤ +{x:g} KB vs without"


def goal_status(summary, scenario, field, goal):
    """(met: bool or None, text) for greensio's figure against its goal."""
    kind, x = goal
    if kind == RATIO:
        r = ratio(summary, scenario, field, "greensio", "node")
        if r is None:
            return None, "—"
        return r <= x, ("met" if r <= x else "not met")
    with_ = median_of(summary, scenario, field, "greensio")
    without = median_of(summary, "idle", field, "greensio")
    if with_ is None or without is None:
        return None, "— (needs idle and idle-deflate)"
    delta = with_ - without
    ok = delta <= x
    return ok, f"{'met' if ok else 'not met'} ({delta:+.1f} KB)"


# ---------------------------------------------------------------- the table


def fmt_num(v, field):
    if v is None:
        return "—"
    if field == "connect_wall_s":
        return f"{v:.2f}"
    if field in ("cpu_pct", "recv_pct"):
        return f"{v:.1f}%"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) < 0.1:
        return f"{v:.3f}"
    return f"{v:.1f}"


def fmt_delta(v, field):
    if v is None:
        return "—"
    if field in ("cpu_pct", "recv_pct"):
        return ("+" if v >= 0 else "−") + f"{abs(v):.1f} pts"
    return ("+" if v >= 0 else "−") + fmt_num(abs(v), field)


SHORT = {"psio": "python-socketio", "node": "Node", "floor": "floor", "compat": "compat", "greensio": "greensio"}


def n_text(pairs):
    """The title's suffix naming each client's N, grouped: " — N = 10,000 greensio, floor; 5,000 Node"."""
    by_n = {}
    for client, n in pairs:
        by_n.setdefault(n, []).append(SHORT.get(client) or CLIENT_TITLES_RUN[client])
    if not by_n:
        return ""
    return " — N = " + "; ".join(f"{n:,} {', '.join(names)}" for n, names in sorted(by_n.items(), reverse=True))


def title_of(title, opts, client_n):
    return (
        title.replace("{NS}", n_text(client_n("idle")))
        .replace("{NM}", n_text(client_n("mixed")))
        .replace("{D}", f"{opts.mixed_duration:g}")
    )


CLIENT_TITLES_RUN = dict(CLIENT_TITLES)  # run.py sets the baseline's name here


def build_table(summary, clients, opts, notes, client_n):
    """The markdown header and rows; notes under the table are appended to ``notes``.

    ``client_n(scenario)``: [(client, N planned)] of the clients that run it.
    """
    titles = CLIENT_TITLES_RUN
    header = ["figure"] + [titles[c] for c in clients]
    has = set(clients)
    g = "greensio" in has
    if g and "node" in has:
        header += ["greensio / Node", "goal", "met?"]
    if g and "psio" in has:
        header.append("greensio / python-socketio")
    if g and "baseline" in has:
        header.append(f"greensio / {titles['baseline']}")
    if g and "floor" in has:
        header += ["greensio − floor", "greensio / floor"]
    if "compat" in has and g:
        header.append("compat / greensio")
    rows = []
    for scenario, field, title, goal in FIGURES:
        if scenario not in opts.scenarios:
            continue
        row = [title_of(title, opts, client_n)]
        planned = dict(client_n(scenario)) if scenario in MANY else {}
        for client in clients:
            row.append(cell_text(summary, scenario, field, client, planned.get(client), notes))
        if g and "node" in has:
            r = None if field in TOTALS else ratio(summary, scenario, field, "greensio", "node")
            row.append(f"{r:.2f}×" if r is not None else "—")
            if goal:
                row += [goal_text(goal), goal_status(summary, scenario, field, goal)[1]]
            else:
                row += ["", ""]
        if g and "psio" in has:
            r = None if field in TOTALS else ratio(summary, scenario, field, "greensio", "psio")
            row.append(f"{r:.2f}×" if r is not None else "—")
        if g and "baseline" in has:
            r = ratio(summary, scenario, field, "greensio", "baseline")
            row.append(f"{r:.2f}×" if r is not None else "—")
        if g and "floor" in has:
            gv = median_of(summary, scenario, field, "greensio")
            fv = median_of(summary, scenario, field, "floor")
            if gv is None or fv is None or field == "connect_wall_s":
                row += ["—", "—"]
            else:
                row.append(fmt_delta(gv - fv, field))
                row.append(f"{gv / fv:.1f}×" if fv else "—")
        if "compat" in has and g:
            r = ratio(summary, scenario, field, "compat", "greensio")
            row.append(f"{r:.2f}×" if r is not None else "—")
        rows.append(row)
    return header, rows


def cell_text(summary, scenario, field, client, planned_n, notes):
    cell = summary.get(f"{scenario}.{field}.{client}", {})
    title = CLIENT_TITLES_RUN[client]
    if "median" in cell:
        txt = fmt_num(cell["median"], field)
        if scenario in MANY and cell.get("n") != [planned_n]:
            txt += " (N={})".format(",".join(f"{x:,}" for x in cell["n"]))
        if cell.get("partial"):
            txt += " †"
            note = f"† {title}, {scenario}: {cell['partial']}"
            if note not in notes:
                notes.append(note)
        for held, why in cell.get("verdicts", []):
            if not held and field == "cpu_pct":
                txt += " ‡"
                note = f"‡ {title}, mixed at N={','.join(f'{x:,}' for x in cell['n'])}: does not hold it: {why}"
                if note not in notes:
                    notes.append(note)
        if cell.get("capped_runs"):
            txt += f" (M ≤ {cell['max_m']:,})"
        if cell["ok_runs"] < cell["runs"]:
            txt += f" ({cell['ok_runs']}/{cell['runs']} runs ok)"
        return txt
    if cell.get("na"):
        return "n/a"
    if cell.get("runs"):
        note = "error — {}, {}: {}".format(title, scenario, (cell.get("error") or "")[:300])
        if note not in notes:
            notes.append(note)
        return "error"
    return "—"


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def detail_table(summary, clients):
    lines = [
        "| figure | client | median | min | max | ok runs | M (messages) or N per run |",
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
