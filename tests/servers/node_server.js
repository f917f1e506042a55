// Reference Socket.IO server for greensio's integration tests.
//
//   node node_server.js --port P [--recovery] [--ping-interval MS]
//                       [--ping-timeout MS] [--parser msgpack] [--tally-file PATH]
//                       [--deflate] [--tls-dir DIR [--client-cert]]
//
// --deflate compresses everything it can: permessage-deflate on WebSocket and
// gzip/deflate on polling, both with a threshold of 0 bytes.
// --tls-dir serves HTTPS with DIR/cert.pem and DIR/key.pem; with --client-cert it
// also requires a client certificate signed by DIR/ca.pem (mutual TLS).
//
// Prints "READY <port>" once listening. The behaviours are described in
// tests/servers/README.md and mirrored by py_server.py.
"use strict";

const fs = require("node:fs");
const http = require("node:http");
const https = require("node:https");
const path = require("node:path");
const { parseArgs } = require("node:util");
const { Server } = require("socket.io");

const { values: args } = parseArgs({
  options: {
    port: { type: "string" },
    recovery: { type: "boolean", default: false },
    "ping-interval": { type: "string", default: "25000" },
    "ping-timeout": { type: "string", default: "20000" },
    parser: { type: "string" },
    "tally-file": { type: "string" },
    deflate: { type: "boolean", default: false },
    "tls-dir": { type: "string" },
    "client-cert": { type: "boolean", default: false },
  },
});
const port = Number(args.port);
if (!Number.isInteger(port) || port <= 0) throw new Error("--port is required");

const options = {
  pingInterval: Number(args["ping-interval"]),
  pingTimeout: Number(args["ping-timeout"]),
};
if (args.recovery) {
  options.connectionStateRecovery = { maxDisconnectionDuration: 60000, skipMiddlewares: true };
}
if (args.deflate) {
  options.perMessageDeflate = { threshold: 0 };
  options.httpCompression = { threshold: 0 };
}
if (args.parser === "msgpack") {
  options.parser = require("socket.io-msgpack-parser");
} else if (args.parser !== undefined) {
  throw new Error(`unknown parser: ${args.parser}`);
}

// tally(key, seq): how many times each seq was processed, per key. In memory, or
// with --tally-file appended to that file (one JSON line [key, seq] each, written
// before the ack) so that the counts survive a restart of the server.
const tallyFile = args["tally-file"];
const tallyFd = tallyFile === undefined ? null : fs.openSync(tallyFile, "a");
const tallies = new Map(); // key -> Map(seq -> count), without --tally-file

function tally(key, seq) {
  if (tallyFd !== null) {
    fs.writeSync(tallyFd, `${JSON.stringify([key, seq])}\n`);
    return;
  }
  if (!tallies.has(key)) tallies.set(key, new Map());
  const counts = tallies.get(key);
  counts.set(seq, (counts.get(seq) ?? 0) + 1);
}

// The counts of one key as runs [first, last, count]: every seq from first to
// last was processed count times; seqs in no run never were.
function tallyReport(key) {
  let counts = tallies.get(key) ?? new Map();
  if (tallyFd !== null) {
    counts = new Map();
    for (const line of fs.readFileSync(tallyFile, "utf8").split("\n")) {
      if (!line) continue;
      const [lineKey, seq] = JSON.parse(line);
      if (lineKey === key) counts.set(seq, (counts.get(seq) ?? 0) + 1);
    }
  }
  const runs = [];
  for (const seq of [...counts.keys()].sort((a, b) => a - b)) {
    const last = runs.at(-1);
    if (last && last[1] === seq - 1 && last[2] === counts.get(seq)) last[1] = seq;
    else runs.push([seq, seq, counts.get(seq)]);
  }
  return runs;
}

// Like a web app's router: paths other than the Engine.IO path get a 404 (socket.io forwards them here).
function notFound(req, res) {
  res.writeHead(404, { "Content-Type": "text/plain" });
  res.end("Not Found");
}
const tlsDir = args["tls-dir"];
const httpServer =
  tlsDir === undefined
    ? http.createServer(notFound)
    : https.createServer(
        {
          cert: fs.readFileSync(path.join(tlsDir, "cert.pem")),
          key: fs.readFileSync(path.join(tlsDir, "key.pem")),
          ca: args["client-cert"] ? fs.readFileSync(path.join(tlsDir, "ca.pem")) : undefined,
          requestCert: args["client-cert"],
          rejectUnauthorized: args["client-cert"],
        },
        notFound,
      );
const io = new Server(httpServer, options);

// Registers an event handler that gets (args, ack); ack is null when the client
// did not ask for one. A throwing handler is logged instead of killing the server.
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
  if (socket.handshake.auth.welcome) socket.emit("welcome", "hi");

  on(socket, "echo", (eventArgs, ack) => (ack ? ack(...eventArgs) : socket.emit("echo", ...eventArgs)));
  on(socket, "whoami", (_, ack) =>
    ack?.({
      sid: socket.id,
      nsp: socket.nsp.name,
      auth: socket.handshake.auth,
      query: flatQuery(socket.handshake.query),
      headers: socket.handshake.headers,
    }),
  );
  on(socket, "server_emit", ([event, ...rest], ack) => {
    socket.emit(event, ...rest);
    ack?.("ok");
  });
  on(socket, "server_call", ([event, ...rest], ack) => {
    socket.timeout(5000).emit(event, ...rest, (err, ...reply) => ack?.(err ? { error: "timeout" } : reply));
  });
  on(socket, "call_peer", ([sid, event, ...rest], ack) => {
    const peer = socket.nsp.sockets.get(sid);
    if (!peer) return ack?.({ error: "no such socket" });
    peer.timeout(5000).emit(event, ...rest, (err, ...reply) => ack?.(err ? { error: "timeout" } : reply));
  });
  on(socket, "burst", ([n, size, binary = false]) => {
    const payload = binary ? Buffer.alloc(size) : "x".repeat(size);
    for (let i = 0; i < n; i++) socket.emit("burst", i, payload);
    socket.emit("burst_done", n);
  });
  on(socket, "disconnect_me", () => socket.disconnect());
  on(socket, "close_engine", () => socket.conn.close());
  on(socket, "observe", (_, ack) => {
    socket.join("observers");
    ack?.("ok");
  });
  on(socket, "tally", ([key, seq], ack) => {
    tally(key, seq);
    ack?.("ok");
  });
  on(socket, "tally_report", ([key], ack) => ack?.(tallyReport(key)));
  on(socket, "close_and_emit", ([n]) => {
    const id = socket.id;
    // A broadcast, so that with --recovery the client has an offset to resume from.
    socket.nsp.to(id).emit("closing");
    socket.conn.close();
    setTimeout(() => {
      for (let i = 0; i < n; i++) socket.nsp.to(id).emit("missed", i);
    }, 50);
  });

  // Observed reasons: "client namespace disconnect", "server namespace disconnect"
  // (disconnect_me), "forced close" (close_engine), "transport close",
  // "ping timeout".
  socket.on("disconnect", (reason) => io.to("observers").emit("peer_disconnect", socket.id, reason));
}

io.of("/private").use((socket, next) => {
  if (socket.handshake.auth.token === "secret") return next();
  const err = new Error("not authorized");
  err.data = { code: 403 };
  next(err);
});
for (const name of ["/", "/chat", "/private"]) io.of(name).on("connection", onConnection);

process.on("SIGTERM", () => {
  io.close(() => process.exit(0));
  // an abandoned polling session would hold close() back for 30 s
  setTimeout(() => process.exit(0), 1000).unref();
});

httpServer.listen(port, "127.0.0.1", () => process.stdout.write(`READY ${port}\n`));
