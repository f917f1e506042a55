// Socket.IO 2.x (Engine.IO v3, Socket.IO protocol v4) server for greensio's v3 tests.
//
//   node node2_server.js --port P [--ping-interval MS] [--ping-timeout MS] [--root-middleware] [--deflate]
//
// Prints "READY <port>" once listening. It offers what ../node_server.js offers
// where socket.io 2.x can (see ../README.md). Differences forced by 2.x:
// - there is no `auth`: credentials come as query parameters, those of the
//   Engine.IO handshake merged with those of the CONNECT packet (`40/nsp?k=v,`);
// - `/private` refuses with an ERROR packet whose data is the plain string
//   "not authorized" (2.x sends `err.data || err.message`), unless the query has
//   token=secret;
// - with --root-middleware, "/" has a middleware (so the server sends its `40`
//   after the handshake instead of inside it) that refuses with "root refused"
//   when the query has refuse=1;
// - with --deflate, permessage-deflate and polling compression apply to every message
//   (threshold 0; engine.io 3 compresses polling over 1 KiB by default, WebSocket never).
"use strict";

const http = require("node:http");
const { parseArgs } = require("node:util");
const Server = require("socket.io");

const { values: args } = parseArgs({
  options: {
    port: { type: "string" },
    "ping-interval": { type: "string", default: "25000" },
    "ping-timeout": { type: "string", default: "20000" },
    "root-middleware": { type: "boolean", default: false },
    deflate: { type: "boolean", default: false },
  },
});
const port = Number(args.port);
if (!Number.isInteger(port) || port <= 0) throw new Error("--port is required");

const tallies = new Map(); // key -> Map(seq -> count)

function tallyReport(key) {
  const counts = tallies.get(key) ?? new Map();
  const runs = [];
  for (const seq of [...counts.keys()].sort((a, b) => a - b)) {
    const last = runs.at(-1);
    if (last && last[1] === seq - 1 && last[2] === counts.get(seq)) last[1] = seq;
    else runs.push([seq, seq, counts.get(seq)]);
  }
  return runs;
}

const httpServer = http.createServer();
// Created unattached: 2.x decides at attach() whether "/" has middlewares, and takes the
// Engine.IO options there (those given to the constructor without a server are dropped).
const io = new Server({ serveClient: false });
const engineOptions = {
  pingInterval: Number(args["ping-interval"]),
  pingTimeout: Number(args["ping-timeout"]),
};
if (args.deflate) {
  engineOptions.perMessageDeflate = { threshold: 0 };
  engineOptions.httpCompression = { threshold: 0 };
}

function on(socket, event, handler) {
  socket.on(event, (...eventArgs) => {
    const ack = typeof eventArgs.at(-1) === "function" ? eventArgs.pop() : null;
    try {
      handler(eventArgs, ack);
    } catch (err) {
      console.error(`${event} handler failed:`, err);
    }
  });
}

function flatQuery(query) {
  return Object.fromEntries(
    Object.entries(query).map(([key, value]) => [key, Array.isArray(value) ? value.at(-1) : value]),
  );
}

function onConnection(socket) {
  if (socket.handshake.query.welcome) socket.emit("welcome", "hi");

  on(socket, "echo", (eventArgs, ack) => (ack ? ack(...eventArgs) : socket.emit("echo", ...eventArgs)));
  on(socket, "whoami", (_, ack) =>
    ack?.({
      sid: socket.id,
      nsp: socket.nsp.name,
      engine_sid: socket.conn.id,
      query: flatQuery(socket.handshake.query),
      headers: socket.handshake.headers,
    }),
  );
  on(socket, "server_emit", ([event, ...rest], ack) => {
    socket.emit(event, ...rest);
    ack?.("ok");
  });
  on(socket, "server_call", ([event, ...rest], ack) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      ack?.({ error: "timeout" });
    }, 5000);
    socket.emit(event, ...rest, (...reply) => {
      if (done) return;
      clearTimeout(timer);
      ack?.(reply);
    });
  });
  on(socket, "burst", ([n, size, binary = false]) => {
    const payload = binary ? Buffer.alloc(size) : "x".repeat(size);
    for (let i = 0; i < n; i++) socket.emit("burst", i, payload);
    socket.emit("burst_done", n);
  });
  on(socket, "broadcast", ([event, ...rest], ack) => {
    socket.nsp.emit(event, ...rest);
    ack?.("ok");
  });
  on(socket, "disconnect_me", () => socket.disconnect());
  on(socket, "close_engine", () => socket.conn.close());
  on(socket, "observe", (_, ack) => {
    socket.join("observers");
    ack?.("ok");
  });
  on(socket, "tally", ([key, seq], ack) => {
    if (!tallies.has(key)) tallies.set(key, new Map());
    const counts = tallies.get(key);
    counts.set(seq, (counts.get(seq) ?? 0) + 1);
    ack?.("ok");
  });
  on(socket, "tally_report", ([key], ack) => ack?.(tallyReport(key)));

  // Observed reasons: "client namespace disconnect", "server namespace disconnect"
  // (disconnect_me), "server side disconnect"/"forced close" (close_engine),
  // "transport close", "ping timeout".
  socket.on("disconnect", (reason) => io.to("observers").emit("peer_disconnect", socket.id, reason));
}

if (args["root-middleware"]) {
  io.use((socket, next) => {
    if (socket.handshake.query.refuse === "1") return next(new Error("root refused"));
    next();
  });
}
io.of("/private").use((socket, next) => {
  if (socket.handshake.query.token === "secret") return next();
  next(new Error("not authorized"));
});
for (const name of ["/", "/chat", "/private"]) io.of(name).on("connection", onConnection);
io.attach(httpServer, engineOptions);

process.on("SIGTERM", () => {
  io.close(); // closes every client and the HTTP server
  process.exit(0);
});

httpServer.listen(port, "127.0.0.1", () => process.stdout.write(`READY ${port}\n`));
