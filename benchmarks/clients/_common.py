"""Shared helpers for the Python benchmark clients (greensio and python-socketio).

Each client script runs ONE scenario in its own process and prints exactly one
JSON line on stdout (the last line is what run.py reads). Nothing here imports
gevent or a Socket.IO library, so it is safe to import before or after
``gevent.monkey.patch_all()``.

The scenario rules are identical in node_client.js; keep the two in step.
"""

import argparse
import array
import gc
import json
import os
import resource
import sys
import time
import traceback

EMIT_PAYLOAD = "x" * 50  # "50 B": a 50-character ASCII string argument
CHUNK = 1000  # fire-and-forget emits between two yields to the event loop


def compressible_text(length):
    """JSON-like records whose ids and scores vary, cut to ``length`` characters (as clients/payloads.js)."""
    parts = []
    n = 0
    i = 0
    while n < length:
        rec = f'{{"id":{i},"name":"user-{i:05d}","score":{i * 7919 % 1000}}},'
        parts.append(rec)
        n += len(rec)
        i += 1
    return "".join(parts)[:length]


EMIT1K_PAYLOAD = compressible_text(1024)  # "emit 1 KiB compressible": above ws's 1,024-byte threshold
# the emit scenarios: scenario -> the one string argument of each "m"
EMIT_PAYLOADS = {"emit": EMIT_PAYLOAD, "emit1k": EMIT1K_PAYLOAD}
# the receive scenarios: scenario -> (event, flood kind, payload length, binary)
RECV_KINDS = {
    "recv": ("e", "text100", 100, False),
    "recv64k": ("b", "bin64k", 65536, True),
    "recv64k-text": ("z", "text64k", 65536, False),
}
MIXED_PAYLOAD = EMIT_PAYLOAD  # what each mixed-load client emits once a second
MIXED_SLOTS = 100  # the driver emits from 1/MIXED_SLOTS of the clients every 1/MIXED_SLOTS s

# scenario -> (first warm-up section W, minimum M, maximum M)
# M (the measured count) is sized from a timed warm-up so the measured section
# takes about --target-cpu seconds of client CPU, clamped to [min, max].
LIMITS = {
    "emit": (2000, 2000, 2_000_000),
    "recv": (2000, 2000, 2_000_000),
    "call": (200, 200, 200_000),
    "recv64k": (16, 16, 50_000),
    "emit1k": (2000, 2000, 2_000_000),
    "recv64k-text": (16, 16, 50_000),
}
# messages the warm-up should reach before it may stop (unless it has used its
# CPU budget first, see calibrate()): Node's JIT needs about this many before
# its cost per message settles (call(): ~5,000 round trips).
MIN_WARMUP = {"emit": 20_000, "recv": 20_000, "call": 10_000, "recv64k": 2_000, "emit1k": 20_000, "recv64k-text": 2_000}
THROUGHPUT_SCENARIOS = list(LIMITS)


def cpu_seconds():
    """User + system CPU of this whole process (all threads)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def rss_bytes():
    """Current resident set size (not the peak)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def raise_nofile():
    """Raise the soft RLIMIT_NOFILE to the hard limit (benchmark processes only).

    greensio._limits has the same for the library; this module must not import greensio (gevent).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    except (ValueError, OSError):
        return soft


def limits(scenario, cap=0):
    """(W, min M, max M) of a scenario, all at most ``cap`` messages when cap > 0."""
    w, lo, hi = LIMITS[scenario]
    if cap > 0:
        w, lo, hi = min(w, cap), min(lo, cap), min(hi, cap)
    return w, lo, hi


def plan_m(scenario, est_cpu_per_msg, target_cpu, forced=None, cap=0):
    if forced:
        return int(forced)
    _, lo, hi = limits(scenario, cap)
    if est_cpu_per_msg <= 0:
        return hi
    return int(max(lo, min(hi, target_cpu / est_cpu_per_msg)))


def parse_args(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--scenario", required=True, choices=THROUGHPUT_SCENARIOS + ["idle", "mixed"])
    p.add_argument("--target-cpu", type=float, default=1.0, help="CPU seconds the measured section should take")
    p.add_argument("--m", type=int, default=0, help="force the measured count")
    p.add_argument(
        "--transport",
        default="websocket",
        choices=["websocket", "polling"],
        help="the only Engine.IO transport the client may use (no upgrade)",
    )
    p.add_argument(
        "--max-m",
        type=int,
        default=0,
        help="cap every warm-up section and the measured count at this many messages (0: the scenario's own maximum)",
    )
    p.add_argument("--n", type=int, default=1000, help="idle: clients to connect")
    p.add_argument(
        "--connect-deadline", type=float, default=120.0, help="idle: give up waiting for connections after this"
    )
    p.add_argument(
        "--expect-deflate",
        action="store_true",
        help="the server compresses: check that permessage-deflate was negotiated (else n/a) "
        "and report the bytes on the wire per message",
    )
    p.add_argument("--duration", type=float, default=30.0, help="mixed: seconds of the measured window")
    return p.parse_args(argv)


def emit_result(client, scenario, **fields):
    out = {"client": client, "scenario": scenario}
    out.update(fields)
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


def emit_error(client, scenario, exc, na=False):
    na = na or isinstance(exc, NotApplicable)
    msg = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
    emit_result(client, scenario, ok=False, na=na, error=msg[:500], traceback=traceback.format_exc()[-2000:])


def measured(fn):
    """Run fn() and return (result, cpu_seconds, wall_seconds) of that call."""
    gc.collect()
    c0 = cpu_seconds()
    t0 = time.perf_counter()
    r = fn()
    t1 = time.perf_counter()
    c1 = cpu_seconds()
    return r, c1 - c0, t1 - t0


def finish(client, scenario, m, cpu, wall, est=None, extra=None):
    """Report a throughput scenario: value is CPU µs per message / round trip."""
    fields = dict(
        ok=True,
        m=m,
        cpu_s=cpu,
        wall_s=wall,
        value=cpu / m * 1e6,
        unit="us/msg",
        warmup_est_us=(est * 1e6 if est is not None else None),
    )
    if extra:
        fields.update(extra)
    emit_result(client, scenario, **fields)


def exit_now(code=0):
    """Leave without tearing down thousands of connections one by one."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class NotApplicable(Exception):
    """The client cannot run this scenario (its cell is n/a, not an error)."""


def run_client(client, args, body):
    """Run ``body()`` (which prints the result line); any failure becomes an error (or n/a) line. Exits."""
    try:
        body()
    except BaseException as e:  # noqa: BLE001 - reported, never raised
        emit_error(client, args.scenario, e)
        exit_now(2 if isinstance(e, NotApplicable) else 1)
    exit_now(0)


def run_idle(client, connect_warm, connect_many, sleep, still_connected=None):
    """The idle scenario: RSS before and after connecting N clients; prints the result line.

    ``connect_warm()``: one connected client, so every lazily loaded module is
    in; ``connect_many()``: connects the N and returns what it measured (n,
    connected, connect_wall_s, connect_cpu_s, partial); ``still_connected()``:
    how many are connected after the settling second (default: as connected).
    """
    nofile = raise_nofile()
    warm = connect_warm()
    sleep(0.2)
    gc.collect()
    rss0 = rss_bytes()
    fields = connect_many()
    sleep(1.0)  # let connection set-up settle before measuring memory
    gc.collect()
    rss1 = rss_bytes()
    if still_connected is not None:
        fields["connected"] = still_connected()
    n_ok = fields["connected"]
    fields.update(
        ok=n_ok > 0,
        mem_kb_per_client=(rss1 - rss0) / max(n_ok, 1) / 1024.0,
        rss0_mb=rss0 / 2**20,
        rss1_mb=rss1 / 2**20,
        nofile=nofile,
    )
    if n_ok == 0:
        fields["error"] = fields.get("partial", "none connected")
    emit_result(client, "idle", **fields)
    return warm  # alive until here: the warm client is part of the "before"


# ---------------------------------------------------------------------------
# The throughput scenarios, shared verbatim by both Python clients: the socket
# object only needs .on(event, handler), .emit(event, arg) and
# .call(event, arg, timeout=...), which greensio and python-socketio both have
# with the same meaning. Methods are bound once outside the loops.

WAIT_TIMEOUT = 180.0
WARMUP_SHARE = 0.3  # least warm-up CPU, as a share of --target-cpu
WARMUP_MAX_SHARE = 1.5  # most warm-up CPU, as a share of --target-cpu ...
WARMUP_MAX_FLOOR = 1.5  # ... but never less than this many seconds


def run_throughput(client, args, sio, make_event, sleep0):
    """Warm up, size M, measure; print the result line. Raises on failure."""
    scenario = args.scenario
    wire0 = check_deflate(sio) if args.expect_deflate else None

    if scenario in EMIT_PAYLOADS:
        emit = sio.emit
        call = sio.call
        payload = EMIT_PAYLOADS[scenario]

        def section(m):
            full, rest = divmod(m, CHUNK)
            for _ in range(full):
                for _ in range(CHUNK):
                    emit("m", payload)
                sleep0()
            for _ in range(rest):
                emit("m", payload)
            got = call("sync", m, timeout=WAIT_TIMEOUT)
            if got != m:
                raise RuntimeError(f"server counted {got!r} 'm' events, expected {m}")

    elif scenario == "call":
        call = sio.call

        def section(m):
            got = None
            for i in range(m):
                got = call("echo", i, timeout=WAIT_TIMEOUT)
            if got != m - 1:
                raise RuntimeError(f"echo returned {got!r}, expected {m - 1}")

    else:  # recv / recv64k / recv64k-text
        event, kind, size, binary = RECV_KINDS[scenario]
        state = {"n": 0, "target": 0, "done": None, "last": None}

        def handler(data):
            state["n"] += 1
            if state["n"] == state["target"]:
                state["last"] = data
                state["done"].set()

        sio.on(event, handler)
        emit = sio.emit

        def section(m):
            state["n"] = 0
            state["target"] = m
            state["last"] = None
            done = state["done"] = make_event()
            emit("flood", {"n": m, "kind": kind})
            if not done.wait(timeout=WAIT_TIMEOUT):
                raise RuntimeError(f"timed out: received {state['n']} of {m} events")
            last = state["last"]
            if len(last) != size or binary == isinstance(last, str):
                unit = "bytes" if binary else "chars"
                raise RuntimeError(
                    f"last payload is {type(last).__name__} of length {len(last)}, expected {size} {unit}"
                )

    cap = args.max_m
    est, warm_msgs = calibrate(section, scenario, args.target_cpu, cap)
    m = plan_m(scenario, est, args.target_cpu, args.m, cap)
    if wire0 is not None:
        wire0 = sio.call("wire", timeout=WAIT_TIMEOUT)
    _, cpu, wall = measured(lambda: section(m))
    extra = {"warmup_msgs": warm_msgs, "transport": args.transport, "max_m": cap or None}
    if wire0 is not None:
        extra.update(wire_per_message(wire0, sio.call("wire", timeout=WAIT_TIMEOUT), m))
    finish(client, scenario, m, cpu, wall, est=est, extra=extra)


class NotNegotiated(NotApplicable):
    """The client did not negotiate permessage-deflate with a server that offers it (an n/a cell)."""


def check_deflate(sio):
    """The server's view of this socket's WebSocket ("wire" event); NotNegotiated without permessage-deflate."""
    wire = sio.call("wire", timeout=WAIT_TIMEOUT)
    if "permessage-deflate" not in (wire or {}).get("ext", ""):
        raise NotNegotiated(f"permessage-deflate not negotiated (server: extensions {wire.get('ext')!r})")
    return wire


def wire_per_message(before, after, m):
    """Bytes the server read and wrote on this TCP connection per message of the section."""
    out = {"wire_ext": after.get("ext")}
    if before.get("read") is not None and after.get("read") is not None:
        out["wire_read_per_msg"] = (after["read"] - before["read"]) / m
        out["wire_written_per_msg"] = (after["written"] - before["written"]) / m
    return out


def calibrate(section, scenario, target_cpu, cap=0):
    """Warm up and estimate CPU per message.

    Runs warm-up sections of W, 2W, 4W ... messages until
      - at least three ran, they used WARMUP_SHARE * target_cpu CPU seconds,
        the last two per-message estimates agree within 25%, and they sent
        MIN_WARMUP[scenario] messages in all; or
      - they used max(WARMUP_MAX_SHARE * target_cpu, WARMUP_MAX_FLOOR) CPU
        seconds (a section is shortened so as not to overshoot that much).
    The last section is the estimate, so JIT or cache warm-up in the first ones
    does not count. With ``cap`` > 0 no section is longer than cap messages and
    the message minimum is at most 2 * cap (a slow client: see run.py).
    """
    w, _, hi = limits(scenario, cap)
    min_warmup = min(MIN_WARMUP[scenario], 2 * cap) if cap > 0 else MIN_WARMUP[scenario]
    first = w
    budget = max(WARMUP_MAX_SHARE * target_cpu, WARMUP_MAX_FLOOR)
    spent = 0.0
    total = 0
    est = prev = 0.0
    for rounds in range(1, 25):
        _, cpu, _ = measured(lambda w=w: section(w))
        spent += cpu
        total += w
        prev, est = est, cpu / w
        if spent >= budget:
            break
        if (
            rounds >= 3
            and spent >= WARMUP_SHARE * target_cpu
            and abs(est - prev) <= 0.25 * max(est, prev)
            and total >= min_warmup
        ):
            break
        left = int((budget - spent) / est) if est > 0 else hi
        w = max(first, min(w * 2, hi, left))
    return est, total


# ---------------------------------------------------------------------------
# Mixed load: N clients in one process, each emitting one "m" a second (the
# driver below spreads them evenly over the second) and receiving the server's
# one-a-second "tick" broadcast. Shared by the Python clients; node_client.js
# does the same.


class TickCounts:
    """The ticks each client handled whose seq falls in the measured window (lo, hi].

    ``hi`` is only known once the window closed, and a handler may run late or
    out of order (python-socketio runs each in its own greenlet), so each
    client keeps the seqs it got after ``lo`` (an untracked array, nothing for
    the garbage collector) and ``in_window()`` counts those up to ``hi``.
    """

    def __init__(self, n):
        self.seqs = [array.array("q") for _ in range(n)]
        self.lo = float("inf")  # nothing counts before the window opens
        self.hi = float("inf")

    def handler(self, i):
        append = self.seqs[i].append

        def on_tick(seq, _text=None):
            if seq > self.lo:
                append(seq)

        return on_tick

    def in_window(self):
        hi = self.hi
        return [sum(1 for seq in seqs if seq <= hi) for seqs in self.seqs]


def drive_emits(emitters, duration, sleep):
    """Every 1/MIXED_SLOTS s, emit one "m" from the next 1/MIXED_SLOTS of the clients; for ``duration`` s.

    Returns (emits sent, the most a slot started late in seconds).
    """
    n = len(emitters)
    bounds = [k * n // MIXED_SLOTS for k in range(MIXED_SLOTS + 1)]
    step = 1.0 / MIXED_SLOTS
    slots = int(round(duration * MIXED_SLOTS))
    payload = MIXED_PAYLOAD
    clock = time.perf_counter
    start = clock()
    late = 0.0
    sent = 0
    for s in range(slots):
        due = start + s * step
        now = clock()
        if now < due:
            sleep(due - now)
        else:
            late = max(late, now - due)
        k = s % MIXED_SLOTS
        for emit in emitters[bounds[k] : bounds[k + 1]]:
            emit("m", payload)
        sent += bounds[k + 1] - bounds[k]
    left = start + slots * step - clock()
    if left > 0:
        sleep(left)
    return sent, late


SETTLE_S = 2.0  # after the connects, before the window; and after it, for the last emits to arrive


def run_mixed(client, args, warm, emitters, counts, connect_fields, sleep):
    """The measured window of the mixed load; prints the result line.

    ``warm`` is a connected socket outside the room (it asks the server for its
    counters), ``emitters`` the ``emit`` of each connected client, ``counts``
    their TickCounts, ``connect_fields`` what connecting them measured.
    """
    n = len(emitters)
    sleep(SETTLE_S)
    gc.collect()
    s0 = warm.call("mixedstats", timeout=WAIT_TIMEOUT)
    counts.lo = s0["seq"]
    c0 = cpu_seconds()
    t0 = time.perf_counter()
    sent, late = drive_emits(emitters, args.duration, sleep)
    t1 = time.perf_counter()
    c1 = cpu_seconds()
    s1 = warm.call("mixedstats", timeout=WAIT_TIMEOUT)
    counts.hi = s1["seq"]
    sleep(SETTLE_S)
    s2 = warm.call("mixedstats", timeout=WAIT_TIMEOUT)
    got = counts.in_window()
    emit_result(client, "mixed", **mixed_fields(n, c1 - c0, t1 - t0, sent, late, s0, s1, s2, got, connect_fields))


def mixed_fields(n, cpu, wall, sent, late, s0, s1, s2, got, connect_fields):
    ticks = s1["seq"] - s0["seq"]
    got = sorted(got)
    expected = n * ticks
    fields = dict(connect_fields)
    fields.update(
        ok=True,
        n=n,
        cpu_s=cpu,
        wall_s=wall,
        cpu_pct=cpu / wall * 100.0 if wall > 0 else None,
        ticks=ticks,
        received=sum(got),
        recv_share=(sum(got) / expected) if expected else None,
        recv_min=got[0] if got else 0,
        recv_median=got[len(got) // 2] if got else 0,
        emits_sent=sent,
        emits_delivered=s2["m"] - s0["m"],
        late_max_s=late,
        members=s1.get("members"),
    )
    return fields
