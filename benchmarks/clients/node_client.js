"use strict";
// Benchmark client: the official Node socket.io-client 4.8.x (the reference).
// Same scenarios, sizing rule and output as clients/_common.py; keep in step.
// Run with `node --expose-gc` so the idle scenario can collect before reading RSS.
const { io } = require("socket.io-client");

const CLIENT = "node";
const EMIT_PAYLOAD = "x".repeat(50); // "50 B": a 50-character string argument
const CHUNK = 1000; // fire-and-forget emits between two yields to the event loop

const { compressibleText } = require("./payloads.js");
const EMIT_PAYLOADS = { emit: EMIT_PAYLOAD, emit1k: compressibleText(1024) };
// scenario: [event, flood kind, payload length, binary]
const RECV_KINDS = {
  recv: ["e", "text100", 100, false],
  recv64k: ["b", "bin64k", 65536, true],
  "recv64k-text": ["z", "text64k", 65536, false],
};
const MIXED_PAYLOAD = EMIT_PAYLOAD;
const MIXED_SLOTS = 100;
const SETTLE_MS = 2000;
const LIMITS = {
  // scenario: [warm-up W, min M, max M]
  emit: [2000, 2000, 2000000],
  recv: [2000, 2000, 2000000],
  call: [200, 200, 200000],
  recv64k: [16, 16, 50000],
  emit1k: [2000, 2000, 2000000],
  "recv64k-text": [16, 16, 50000],
};
// messages the warm-up should reach before it may stop (unless it has used its
// CPU budget, max(WARMUP_MAX_SHARE * target, WARMUP_MAX_FLOOR), first): V8's JIT
// needs about this many before the cost per message settles (call(): ~5,000).
const MIN_WARMUP = { emit: 20000, recv: 20000, call: 10000, recv64k: 2000, emit1k: 20000, "recv64k-text": 2000 };
const WAIT_TIMEOUT_MS = 180000;
const WARMUP_SHARE = 0.3; // least warm-up CPU, as a share of --target-cpu
const WARMUP_MAX_SHARE = 1.5; // most warm-up CPU, as a share of --target-cpu ...
const WARMUP_MAX_FLOOR = 1.5; // ... but never less than this many seconds

function parseArgs(argv) {
  const a = {
    targetCpu: 1.0, m: 0, n: 1000, connectDeadline: 120, transport: "websocket", maxM: 0,
    expectDeflate: false, duration: 30,
  };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === "--expect-deflate") {
      a.expectDeflate = true;
      i--;
    } else if (k === "--url") a.url = v;
    else if (k === "--duration") a.duration = parseFloat(v);
    else if (k === "--scenario") a.scenario = v;
    else if (k === "--target-cpu") a.targetCpu = parseFloat(v);
    else if (k === "--m") a.m = parseInt(v, 10);
    else if (k === "--n") a.n = parseInt(v, 10);
    else if (k === "--connect-deadline") a.connectDeadline = parseFloat(v);
    else if (k === "--transport") a.transport = v;
    else if (k === "--max-m") a.maxM = parseInt(v, 10);
    else throw new Error("unknown option " + k);
  }
  if (!a.url || !a.scenario) throw new Error("--url and --scenario are required");
  if (a.transport !== "websocket" && a.transport !== "polling") {
    throw new Error("--transport must be websocket or polling");
  }
  return a;
}

function cpuSeconds() {
  const u = process.cpuUsage(); // user + system, whole process, microseconds
  return (u.user + u.system) / 1e6;
}

function nowSeconds() {
  return Number(process.hrtime.bigint()) / 1e9;
}

function gc() {
  if (typeof global.gc === "function") global.gc();
}

function out(obj) {
  process.stdout.write(JSON.stringify(Object.assign({ client: CLIENT }, obj)) + "\n");
}

const tick = () => new Promise((r) => setImmediate(r));

class NotNegotiated extends Error {}

// the server's view of this socket's WebSocket; NotNegotiated without permessage-deflate
async function checkDeflate(socket) {
  const wire = await socket.timeout(WAIT_TIMEOUT_MS).emitWithAck("wire");
  if (!String((wire && wire.ext) || "").includes("permessage-deflate")) {
    throw new NotNegotiated(`permessage-deflate not negotiated (server: extensions '${wire && wire.ext}')`);
  }
  return wire;
}

function wirePerMessage(before, after, m) {
  const out = { wire_ext: after.ext };
  if (before.read != null && after.read != null) {
    out.wire_read_per_msg = (after.read - before.read) / m;
    out.wire_written_per_msg = (after.written - before.written) / m;
  }
  return out;
}

function connect(url, transport = "websocket") {
  return new Promise((resolve, reject) => {
    // one transport only: with ["polling"] there is no upgrade to websocket
    const s = io(url, { transports: [transport], forceNew: true, reconnection: false, timeout: 20000 });
    s.once("connect", () => resolve(s));
    s.once("connect_error", (e) => reject(e));
  });
}

// [W, min M, max M] of a scenario, all at most `cap` messages when cap > 0
function limits(scenario, cap) {
  let [w, lo, hi] = LIMITS[scenario];
  if (cap > 0) [w, lo, hi] = [Math.min(w, cap), Math.min(lo, cap), Math.min(hi, cap)];
  return [w, lo, hi];
}

function planM(scenario, est, targetCpu, forced, cap) {
  if (forced) return forced;
  const [, lo, hi] = limits(scenario, cap);
  if (!(est > 0)) return hi;
  return Math.floor(Math.max(lo, Math.min(hi, targetCpu / est)));
}

async function measured(fn) {
  // No global.gc() here: a forced full GC makes V8 slower for the next tens of
  // thousands of messages (measured: +30-50% on emit), unlike Python's gc.collect().
  const c0 = cpuSeconds();
  const t0 = nowSeconds();
  await fn();
  const t1 = nowSeconds();
  const c1 = cpuSeconds();
  return [c1 - c0, t1 - t0];
}

async function throughput(args) {
  const scenario = args.scenario;
  const socket = await connect(args.url, args.transport);
  let wire0 = args.expectDeflate ? await checkDeflate(socket) : null;
  let section;

  if (scenario in EMIT_PAYLOADS) {
    const payload = EMIT_PAYLOADS[scenario];
    section = async (m) => {
      const full = Math.floor(m / CHUNK);
      const rest = m % CHUNK;
      for (let c = 0; c < full; c++) {
        for (let i = 0; i < CHUNK; i++) socket.emit("m", payload);
        await tick();
      }
      for (let i = 0; i < rest; i++) socket.emit("m", payload);
      const got = await socket.timeout(WAIT_TIMEOUT_MS).emitWithAck("sync", m);
      if (got !== m) throw new Error(`server counted ${got} 'm' events, expected ${m}`);
    };
  } else if (scenario === "call") {
    section = async (m) => {
      let got;
      for (let i = 0; i < m; i++) got = await socket.emitWithAck("echo", i);
      if (got !== m - 1) throw new Error(`echo returned ${got}, expected ${m - 1}`);
    };
  } else if (scenario in RECV_KINDS) {
    const [event, kind, size, binary] = RECV_KINDS[scenario];
    const state = { n: 0, target: 0, done: null, last: null };
    socket.on(event, (data) => {
      state.n++;
      if (state.n === state.target) {
        state.last = data;
        state.done();
      }
    });
    section = (m) =>
      new Promise((resolve, reject) => {
        state.n = 0;
        state.target = m;
        state.last = null;
        const timer = setTimeout(
          () => reject(new Error(`timed out: received ${state.n} of ${m} events`)),
          WAIT_TIMEOUT_MS
        );
        state.done = () => {
          clearTimeout(timer);
          const last = state.last;
          const isBin = Buffer.isBuffer(last) || last instanceof ArrayBuffer;
          const len = last == null ? -1 : last.length !== undefined ? last.length : last.byteLength;
          if (len !== size || binary !== isBin) {
            reject(new Error(`last payload has length ${len} (binary ${isBin}), expected ${size}`));
          } else resolve();
        };
        socket.emit("flood", { n: m, kind });
      });
  } else {
    throw new Error("unknown scenario " + scenario);
  }

  // Warm-up and sizing, exactly as calibrate() in _common.py: sections of W, 2W,
  // 4W ... until (at least three ran, they used WARMUP_SHARE * target CPU, the
  // last two estimates agree within 25% and MIN_WARMUP messages went by) or
  // the warm-up CPU budget was spent; the last section is the estimate.
  const cap = args.maxM;
  const [first, , hi] = limits(scenario, cap);
  const minWarmup = cap > 0 ? Math.min(MIN_WARMUP[scenario], 2 * cap) : MIN_WARMUP[scenario];
  const budget = Math.max(WARMUP_MAX_SHARE * args.targetCpu, WARMUP_MAX_FLOOR);
  let w = first;
  let spent = 0;
  let total = 0;
  let est = 0;
  let prev = 0;
  for (let rounds = 1; rounds < 25; rounds++) {
    const [cpuW] = await measured(() => section(w));
    spent += cpuW;
    total += w;
    prev = est;
    est = cpuW / w;
    if (spent >= budget) break;
    if (rounds >= 3 && spent >= WARMUP_SHARE * args.targetCpu &&
        Math.abs(est - prev) <= 0.25 * Math.max(est, prev) &&
        total >= minWarmup) break;
    const left = est > 0 ? Math.floor((budget - spent) / est) : hi;
    w = Math.max(first, Math.min(w * 2, hi, left));
  }
  const m = planM(scenario, est, args.targetCpu, args.m, cap);
  if (wire0) wire0 = await socket.timeout(WAIT_TIMEOUT_MS).emitWithAck("wire");
  const [cpu, wall] = await measured(() => section(m));
  const extra = wire0 ? wirePerMessage(wire0, await socket.timeout(WAIT_TIMEOUT_MS).emitWithAck("wire"), m) : {};
  out(Object.assign({
    scenario, ok: true, m, cpu_s: cpu, wall_s: wall,
    value: (cpu / m) * 1e6, unit: "us/msg", warmup_est_us: est * 1e6, warmup_msgs: total,
    transport: args.transport, max_m: cap || null,
  }, extra));
}

// Connect n clients at once (each its own connection); the sockets and what connecting cost.
// opts.auth: the CONNECT payload of each; opts.onTick(i): the "tick" handler of client i.
async function connectMany(args, n, opts = {}) {
  const sockets = [];
  const errors = [];
  let connected = 0;
  const c0 = cpuSeconds();
  const t0 = nowSeconds();
  await new Promise((resolve) => {
    const deadline = setTimeout(resolve, args.connectDeadline * 1000);
    let settled = 0;
    const settle = () => {
      if (++settled === n) {
        clearTimeout(deadline);
        resolve();
      }
    };
    for (let i = 0; i < n; i++) {
      const o = { transports: ["websocket"], forceNew: true, timeout: args.connectDeadline * 1000 };
      if (opts.auth) o.auth = opts.auth;
      const s = io(args.url, o);
      sockets.push(s);
      if (opts.onTick) s.on("tick", opts.onTick(i));
      s.once("connect", () => {
        connected++;
        settle();
      });
      s.once("connect_error", (e) => {
        if (errors.length < 3) errors.push(String(e && e.message));
        s.disconnect();
        settle();
      });
    }
  });
  const t1 = nowSeconds();
  const c1 = cpuSeconds();
  const fields = { n, connected, connect_wall_s: t1 - t0, connect_cpu_s: c1 - c0 };
  if (connected < n) {
    fields.partial = `only ${connected} of ${n} connected within ${args.connectDeadline} s`;
    if (errors.length) fields.first_errors = errors;
  }
  return [sockets, fields];
}

async function idle(args) {
  const warm = await connect(args.url); // loads every lazily used code path
  if (args.expectDeflate) await checkDeflate(warm);
  await new Promise((r) => setTimeout(r, 200));
  gc();
  const mu0 = process.memoryUsage();
  const rss0 = mu0.rss;
  const heap0 = mu0.heapUsed;
  const [, fields] = await connectMany(args, args.n);
  const connected = fields.connected;
  await new Promise((r) => setTimeout(r, 1000)); // let set-up settle
  gc();
  const mu = process.memoryUsage();
  const rss1 = mu.rss;
  const res = Object.assign({ scenario: "idle", ok: connected > 0 }, fields, {
    mem_kb_per_client: (rss1 - rss0) / Math.max(connected, 1) / 1024,
    rss0_mb: rss0 / 2 ** 20, rss1_mb: rss1 / 2 ** 20,
    heap_kb_per_client: (mu.heapUsed - heap0) / Math.max(connected, 1) / 1024,
  });
  if (connected === 0) res.error = res.partial || "none connected";
  void warm;
  out(res);
}

const sleepMs = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

// Mixed load, as run_mixed() in _common.py: every 1/MIXED_SLOTS s the next 1/MIXED_SLOTS of
// the clients emit one "m"; each counts the "tick" broadcasts whose seq is in the window (lo, hi].
async function mixed(args) {
  const warm = await connect(args.url);
  const n = args.n;
  // as TickCounts in _common.py: the seqs each client got after lo, counted up to hi at the end
  const seqs = Array.from({ length: n }, () => []);
  const win = { lo: Infinity };
  const onTick = (i) => (seq) => {
    if (seq > win.lo) seqs[i].push(seq);
  };
  const [sockets, fields] = await connectMany(args, n, { auth: { mixed: 1 }, onTick });
  if (fields.connected < n) {
    out(Object.assign({ scenario: "mixed", ok: false, error: fields.partial }, fields));
    return;
  }
  const stats = () => warm.timeout(WAIT_TIMEOUT_MS).emitWithAck("mixedstats");
  await sleepMs(SETTLE_MS);
  gc();
  const s0 = await stats();
  win.lo = s0.seq;
  const c0 = cpuSeconds();
  const t0 = nowSeconds();
  const bounds = [];
  for (let k = 0; k <= MIXED_SLOTS; k++) bounds.push(Math.floor((k * n) / MIXED_SLOTS));
  const step = 1 / MIXED_SLOTS;
  const slots = Math.round(args.duration * MIXED_SLOTS);
  let late = 0;
  let sent = 0;
  for (let s = 0; s < slots; s++) {
    const due = t0 + s * step;
    const now = nowSeconds();
    if (now < due) await sleepMs((due - now) * 1000);
    else late = Math.max(late, now - due);
    const k = s % MIXED_SLOTS;
    for (let i = bounds[k]; i < bounds[k + 1]; i++) sockets[i].emit("m", MIXED_PAYLOAD);
    sent += bounds[k + 1] - bounds[k];
  }
  await sleepMs((t0 + slots * step - nowSeconds()) * 1000);
  const t1 = nowSeconds();
  const c1 = cpuSeconds();
  const s1 = await stats();
  await sleepMs(SETTLE_MS);
  const s2 = await stats();
  const ticks = s1.seq - s0.seq;
  const inWindow = seqs.map((list) => list.filter((seq) => seq <= s1.seq).length);
  const sorted = inWindow.slice().sort((a, b) => a - b);
  const received = inWindow.reduce((a, b) => a + b, 0);
  out(Object.assign({ scenario: "mixed" }, fields, {
    ok: true, n, cpu_s: c1 - c0, wall_s: t1 - t0, cpu_pct: ((c1 - c0) / (t1 - t0)) * 100,
    ticks, received, recv_share: ticks ? received / (n * ticks) : null,
    recv_min: sorted[0], recv_median: sorted[Math.floor(n / 2)],
    emits_sent: sent, emits_delivered: s2.m - s0.m, late_max_s: late, members: s1.members,
  }));
}

async function main() {
  let args = { scenario: "?" };
  try {
    args = parseArgs(process.argv);
    if (args.scenario === "idle") await idle(args);
    else if (args.scenario === "mixed") await mixed(args);
    else await throughput(args);
    process.exit(0);
  } catch (e) {
    const na = e instanceof NotNegotiated;
    const error = na ? e.message : String((e && e.stack) || e).slice(0, 500);
    out({ scenario: args.scenario, ok: false, na, error });
    process.exit(1);
  }
}

main();
