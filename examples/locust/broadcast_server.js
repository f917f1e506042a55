"use strict";
// The server of the broadcast load test (broadcast_locustfile.py, run_broadcast.py):
// socket.io 4.8.4, pinned in this folder's package-lock.json (npm ci first).
//
//   node broadcast_server.js [--host 127.0.0.1] [--port 0] [--interval 1000]
//
// It prints one JSON line {"port": N, "pid": P, ...} on stdout once it listens, then with
// --stats one line a second: {"t": epoch s, "clients", "cpu_ms" (this process, that second),
// "loop_max_ms" / "loop_p99_ms" (event-loop delay: how late the server got to its work),
// "emit_ms" (how long the last broadcast's io.emit took)}.
//   "echo" (...args, ack)   acks with its arguments: the users' acked event.
//   every --interval ms     "tick" (seq, sentMs) to every connected socket: seq counts the
//                           broadcasts from 1, sentMs is the server's clock (epoch
//                           milliseconds, fractional) just before the emit (see --chunk).
const http = require("http");
const { monitorEventLoopDelay, performance } = require("perf_hooks");
const { Server } = require("socket.io");

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const HOST = arg("--host", "127.0.0.1");
const PORT = parseInt(arg("--port", "0"), 10);
const INTERVAL = parseInt(arg("--interval", "1000"), 10);
const STATS = process.argv.includes("--stats");

const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
const io = new Server(httpServer, { serveClient: false, perMessageDeflate: false, httpCompression: false });

io.on("connection", (socket) => {
  socket.on("echo", (...args) => {
    const ack = args.pop();
    if (typeof ack === "function") ack(...args);
  });
});

let seq = 0;
let emitMs = 0;
// One io.emit to every socket holds the server's event loop for the whole broadcast (about
// 40 µs a socket here: 0.4 s at 10,000), and the users' acks wait that long. The broadcast
// goes out in chunks of CHUNK sockets instead, each with its own send time, yielding in
// between so that acks are answered while it goes out. --chunk 0: one io.emit.
const CHUNK = parseInt(arg("--chunk", "250"), 10);
function broadcast() {
  seq += 1;
  const start = performance.now();
  if (CHUNK <= 0) {
    io.emit("tick", seq, performance.timeOrigin + start);
    emitMs = performance.now() - start;
    return;
  }
  const ids = [...io.of("/").sockets.keys()];
  const thisSeq = seq;
  let next = 0;
  (function chunk() {
    const part = ids.slice(next, next + CHUNK);
    next += CHUNK;
    if (part.length) io.to(part).emit("tick", thisSeq, performance.timeOrigin + performance.now());
    if (next < ids.length) setImmediate(chunk);
    else emitMs = performance.now() - start;
  })();
}
setInterval(broadcast, INTERVAL);

if (STATS) {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let cpu = process.cpuUsage();
  setInterval(() => {
    const used = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    const line = {
      t: Date.now() / 1000,
      clients: io.engine.clientsCount,
      cpu_ms: (used.user + used.system) / 1000,
      loop_max_ms: delay.max / 1e6,
      loop_p99_ms: delay.percentile(99) / 1e6,
      emit_ms: emitMs,
    };
    delay.reset();
    process.stdout.write(JSON.stringify(line) + "\n");
  }, 1000);
}

httpServer.listen({ host: HOST, port: PORT, backlog: 65535 }, () => {
  const info = { port: httpServer.address().port, pid: process.pid, node: process.version };
  info.socketio = require("socket.io/package.json").version;
  process.stdout.write(JSON.stringify(info) + "\n");
});

function shutdown() {
  io.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
