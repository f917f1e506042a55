"use strict";
// The one Socket.IO server every benchmark client talks to (socket.io 4.8.x,
// pinned in package-lock.json). Started once per run by run.py; it prints one
// JSON line {"port": N, ...} on stdout when it listens, then serves until killed.
//
// Events (all per socket):
//   "m" (payload)            fire-and-forget emit target: counted, payload ignored.
//   "sync" (expected, ack)   acked once this socket has received `expected` "m"
//                            events since the last sync; the ack carries the count
//                            and the counter restarts at 0.
//   "echo" (x, ack)          ack(x): the call() round trip.
//   "flood" ({n, kind})      the server emits n events to this socket:
//                            kind "text100" -> "e" with a 100-character string,
//                            kind "bin64k"  -> "b" with a 65,536-byte Buffer
//                            (a binary attachment),
//                            kind "text64k" -> "z" with a 65,536-character
//                            compressible string (JSON-like records, see
//                            clients/payloads.js). Sent with backpressure (it
//                            waits while more than ~1 MiB is queued for the
//                            socket) so the server never buffers the whole flood.
//   "wire" (ack)             ack({ext, read, written}): the permessage-deflate
//                            extension this socket's WebSocket negotiated ("" if
//                            none) and the bytes read/written on its TCP socket.
//
// Mixed load: a socket whose CONNECT carries auth {mixed: 1} joins the room
// "mixed". Once a second, while that room has members, the server broadcasts
// "tick" (seq, 100-character string) to it: every member receives one message a
// second. Its "m" events are also counted in a global counter.
//   "mixedstats" (ack)       ack({seq, m, members}): the last tick's seq, the "m"
//                            events counted from mixed sockets so far, the room size.
//
// --deflate: permessage-deflate and HTTP compression with threshold 0 (every
// message compressed, ws's default zlib level); without it (the default) no
// compression at all.
const http = require("http");
const { Server } = require("socket.io");
const { compressibleText } = require("./clients/payloads.js");

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const HOST = arg("--host", "127.0.0.1");
const PORT = parseInt(arg("--port", "0"), 10);
const DEFLATE = process.argv.includes("--deflate");

const PAYLOADS = {
  text100: { event: "e", data: "y".repeat(100) },
  bin64k: { event: "b", data: Buffer.alloc(65536, 0xab) },
  text64k: { event: "z", data: compressibleText(65536) },
};
const TICK_TEXT = "y".repeat(100);
const HIGH_WATER = 1 << 20; // bytes queued for one socket before the flood pauses

const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer, {
  // Heartbeats must not disturb the measurements: one ping every 5 minutes.
  pingInterval: 300000,
  pingTimeout: 60000,
  perMessageDeflate: DEFLATE ? { threshold: 0 } : false,
  httpCompression: DEFLATE ? { threshold: 0 } : false,
  maxHttpBufferSize: 1e7,
  serveClient: false,
  cors: { origin: "*" },
});

function queuedBytes(socket) {
  const conn = socket.conn;
  let n = 0;
  const wb = conn.writeBuffer;
  if (wb) {
    for (let i = 0; i < wb.length; i++) {
      const d = wb[i].data;
      n += d == null ? 8 : typeof d === "string" ? d.length : d.byteLength || 8;
    }
  }
  const ws = conn.transport && conn.transport.socket;
  if (ws && typeof ws.bufferedAmount === "number") n += ws.bufferedAmount;
  return n;
}

function flood(socket, n, kind) {
  const p = PAYLOADS[kind];
  if (!p) return;
  let sent = 0;
  const batch = kind === "text100" ? 256 : 4;
  function pump() {
    if (socket.disconnected) return;
    while (sent < n) {
      if (queuedBytes(socket) > HIGH_WATER) {
        setTimeout(pump, 1);
        return;
      }
      const end = Math.min(n, sent + batch);
      for (; sent < end; sent++) socket.emit(p.event, p.data);
      if (sent < n) {
        // let the transport write what was just queued
        setImmediate(pump);
        return;
      }
    }
  }
  pump();
}

let mixedM = 0; // "m" events from mixed-load sockets
let tickSeq = 0;
setInterval(() => {
  const room = io.of("/").adapter.rooms.get("mixed");
  if (room && room.size) io.to("mixed").emit("tick", ++tickSeq, TICK_TEXT);
}, 1000);

function wire(socket) {
  const ws = socket.conn.transport && socket.conn.transport.socket;
  const raw = ws && ws._socket;
  return {
    ext: ws && typeof ws.extensions === "string" ? ws.extensions : "",
    read: raw ? raw.bytesRead : null,
    written: raw ? raw.bytesWritten : null,
  };
}

io.on("connection", (socket) => {
  const mixed = !!(socket.handshake.auth && socket.handshake.auth.mixed);
  if (mixed) socket.join("mixed");
  let count = 0;
  let pending = null; // [expected, ack]
  function check() {
    if (pending && count >= pending[0]) {
      const ack = pending[1];
      const c = count;
      pending = null;
      count = 0;
      ack(c);
    }
  }
  socket.on("m", () => {
    count++;
    if (mixed) mixedM++;
    if (pending) check();
  });
  socket.on("sync", (expected, ack) => {
    if (typeof ack !== "function") return;
    pending = [expected, ack];
    check();
  });
  socket.on("echo", (x, ack) => {
    if (typeof ack === "function") ack(x);
  });
  socket.on("wire", (ack) => {
    if (typeof ack === "function") ack(wire(socket));
  });
  socket.on("mixedstats", (ack) => {
    const room = io.of("/").adapter.rooms.get("mixed");
    if (typeof ack === "function") ack({ seq: tickSeq, m: mixedM, members: room ? room.size : 0 });
  });
  socket.on("flood", (req) => {
    if (req && typeof req === "object") flood(socket, req.n | 0, req.kind);
  });
});

httpServer.listen({ host: HOST, port: PORT, backlog: 65535 }, () => {
  const addr = httpServer.address();
  process.stdout.write(
    JSON.stringify({
      port: addr.port,
      node: process.version,
      socketio: require("socket.io/package.json").version,
      pid: process.pid,
      deflate: DEFLATE,
    }) + "\n"
  );
});

function shutdown() {
  io.close();
  httpServer.close();
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
