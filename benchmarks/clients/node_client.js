"use strict";
// Benchmark client: the official Node socket.io-client 4.8.x (the reference).
// Same scenarios, sizing rule and output as clients/_common.py; keep in step.
// Run with `node --expose-gc` so the idle scenario can collect before reading RSS.
const { io } = require("socket.io-client");

const CLIENT = "node";
const EMIT_PAYLOAD = "x".repeat(50); // "50 B": a 50-character string argument
const CHUNK = 1000; // fire-and-forget emits between two yields to the event loop
const LIMITS = {
  // scenario: [warm-up W, min M, max M]
  emit: [2000, 2000, 2000000],
  recv: [2000, 2000, 2000000],
  call: [200, 200, 200000],
  recv64k: [16, 16, 50000],
};
// messages the warm-up should reach before it may stop (unless it has used its
// CPU budget, max(WARMUP_MAX_SHARE * target, WARMUP_MAX_FLOOR), first): V8's JIT
// needs about this many before the cost per message settles (call(): ~5,000).
const MIN_WARMUP = { emit: 20000, recv: 20000, call: 10000, recv64k: 2000 };
const WAIT_TIMEOUT_MS = 180000;
const WARMUP_SHARE = 0.3; // least warm-up CPU, as a share of --target-cpu
const WARMUP_MAX_SHARE = 1.5; // most warm-up CPU, as a share of --target-cpu ...
const WARMUP_MAX_FLOOR = 1.5; // ... but never less than this many seconds

function parseArgs(argv) {
  const a = { targetCpu: 1.0, m: 0, n: 1000, connectDeadline: 120, transport: "websocket", maxM: 0 };
  for (let i = 2; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === "--url") a.url = v;
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
  let section;

  if (scenario === "emit") {
    section = async (m) => {
      const full = Math.floor(m / CHUNK);
      const rest = m % CHUNK;
      for (let c = 0; c < full; c++) {
        for (let i = 0; i < CHUNK; i++) socket.emit("m", EMIT_PAYLOAD);
        await tick();
      }
      for (let i = 0; i < rest; i++) socket.emit("m", EMIT_PAYLOAD);
      const got = await socket.timeout(WAIT_TIMEOUT_MS).emitWithAck("sync", m);
      if (got !== m) throw new Error(`server counted ${got} 'm' events, expected ${m}`);
    };
  } else if (scenario === "call") {
    section = async (m) => {
      let got;
      for (let i = 0; i < m; i++) got = await socket.emitWithAck("echo", i);
      if (got !== m - 1) throw new Error(`echo returned ${got}, expected ${m - 1}`);
    };
  } else if (scenario === "recv" || scenario === "recv64k") {
    const [event, kind, size] = scenario === "recv" ? ["e", "text100", 100] : ["b", "bin64k", 65536];
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
          if (len !== size || (kind === "bin64k") !== isBin) {
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
  const [cpu, wall] = await measured(() => section(m));
  out({
    scenario, ok: true, m, cpu_s: cpu, wall_s: wall,
    value: (cpu / m) * 1e6, unit: "us/msg", warmup_est_us: est * 1e6, warmup_msgs: total,
    transport: args.transport, max_m: cap || null,
  });
}

async function idle(args) {
  const warm = await connect(args.url); // loads every lazily used code path
  await new Promise((r) => setTimeout(r, 200));
  gc();
  const mu0 = process.memoryUsage();
  const rss0 = mu0.rss;
  const heap0 = mu0.heapUsed;
  const n = args.n;
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
      const s = io(args.url, { transports: ["websocket"], forceNew: true, timeout: args.connectDeadline * 1000 });
      sockets.push(s);
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
  await new Promise((r) => setTimeout(r, 1000)); // let set-up settle
  gc();
  const mu = process.memoryUsage();
  const rss1 = mu.rss;
  const res = {
    scenario: "idle", ok: connected > 0, n, connected,
    connect_wall_s: t1 - t0, connect_cpu_s: c1 - c0,
    mem_kb_per_client: (rss1 - rss0) / Math.max(connected, 1) / 1024,
    rss0_mb: rss0 / 2 ** 20, rss1_mb: rss1 / 2 ** 20,
    heap_kb_per_client: (mu.heapUsed - heap0) / Math.max(connected, 1) / 1024,
  };
  if (connected < n) {
    res.partial = `only ${connected} of ${n} connected within ${args.connectDeadline} s`;
    if (errors.length) res.first_errors = errors;
    if (connected === 0) res.error = res.partial;
  }
  void warm;
  out(res);
}

async function main() {
  let args = { scenario: "?" };
  try {
    args = parseArgs(process.argv);
    if (args.scenario === "idle") await idle(args);
    else await throughput(args);
    process.exit(0);
  } catch (e) {
    out({ scenario: args.scenario, ok: false, na: false, error: String((e && e.stack) || e).slice(0, 500) });
    process.exit(1);
  }
}

main();
