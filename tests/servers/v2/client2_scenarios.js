// The official socket.io-client 2.x run through named scenarios against a v3 server.
//
//   node client2_scenarios.js URL [SCENARIO ...]      (all scenarios when none is named)
//
// Prints one JSON object: {scenario: result}. Results hold shapes and values, never raw
// ids, so that another client (greensio, tests/v3/test_reference_client.py) can be held
// to the same expectations. A scenario that does not finish in time (8 s; 3 s for
// reconnect_websocket) gives {"error": "timeout"}. The server is tests/servers/v2/node2_server.js or
// tests/servers/py4/py4_server.py (see tests/servers/README.md).
"use strict";

const io = require("socket.io-client");

const url = process.argv[2];
const STEP_TIMEOUT = 8000;
const FAST = { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 200, timeout: 5000 };

function idShape(id, engineId) {
  if (id === engineId) return "engine";
  const hash = id.indexOf("#");
  if (hash > 0 && id.slice(hash + 1) === engineId) return `${id.slice(0, hash)}#engine`;
  return "other";
}

function bytes(value) {
  return Buffer.isBuffer(value) ? { bytes: value.toString("hex") } : value;
}

function once(emitter, event) {
  return new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));
}

function connected(socket) {
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", (err) => reject(new Error(`error: ${JSON.stringify(err)}`)));
  });
}

function call(socket, event, ...args) {
  return new Promise((resolve) => socket.emit(event, ...args, (...reply) => resolve(reply.map(bytes))));
}

async function whoami(socket) {
  const [info] = await call(socket, "whoami");
  return info;
}

async function connectShape(socket) {
  const engineId = socket.io.engine.id;
  const info = await whoami(socket);
  return {
    connected: socket.connected,
    id_shape: idShape(socket.id, engineId),
    server_sid: info.sid === socket.id ? "id" : info.sid === engineId ? "engine" : "other",
    nsp: info.nsp,
  };
}

// Opens a socket on `path` with `options`, waits for its connect, returns body(socket), closes it.
async function withSocket(path, options, body) {
  const socket = io(`${url}${path}`, { ...FAST, ...options });
  try {
    await connected(socket);
    return await body(socket);
  } finally {
    socket.close();
  }
}

function binaryEcho(transport) {
  return withSocket("", { transports: [transport] }, async (socket) => {
    const got = once(socket, "echo");
    socket.emit("echo", Buffer.from([0, 1, 255]));
    return {
      ack: await call(socket, "echo", Buffer.from([0, 1, 255]), "x"),
      event: (await got).map(bytes),
      transport: socket.io.engine.transport.name,
    };
  });
}

function reconnectAfterServerClose(transport) {
  return withSocket("", { transports: [transport] }, async (socket) => {
    const firstId = socket.id;
    const gone = once(socket, "disconnect");
    const back = once(socket, "reconnect");
    socket.emit("close_engine");
    const [reason] = await gone;
    await back; // the Engine.IO connection is back; "/" may be joined a frame later
    if (!socket.connected) await connected(socket);
    return {
      disconnect_reason: reason,
      reconnected: socket.connected,
      new_id: socket.id !== firstId,
      ack_after: await call(socket, "echo", "again"),
    };
  });
}

const UNICODE = "\u{1F600} \u00e9 \u{10348}\u20ac";

const scenarios = {
  connect_root: () => withSocket("", {}, connectShape),

  async connect_namespace() {
    const manager = new io.Manager(url, FAST);
    const root = manager.socket("/");
    const chat = manager.socket("/chat");
    try {
      await connected(chat);
      const chatShape = await connectShape(chat);
      if (!root.connected) await connected(root);
      return { ...chatShape, same_engine: root.id === manager.engine.id };
    } finally {
      root.close();
      chat.close();
    }
  },

  echo_ack: () =>
    withSocket("", {}, async (socket) => ({ ack: await call(socket, "echo", "a", 1, { k: [true, null] }) })),

  echo_event: () =>
    withSocket("", {}, async (socket) => {
      const got = once(socket, "echo");
      socket.emit("echo", "b", 2);
      return { event: (await got).map(bytes) };
    }),

  unicode_polling: () =>
    withSocket("", { transports: ["polling"] }, async (socket) => ({
      ack: await call(socket, "echo", UNICODE, UNICODE.repeat(20)),
      transport: socket.io.engine.transport.name,
    })),

  binary_polling: () => binaryEcho("polling"),

  binary_websocket: () => binaryEcho("websocket"),

  server_call: () =>
    withSocket("", {}, async (socket) => {
      socket.on("ask", (a, b, ack) => ack("answer", a + b));
      return { ack: await call(socket, "server_call", "ask", 1, 2) };
    }),

  async refused_namespace() {
    const socket = io(`${url}/private`, FAST);
    try {
      const [error] = await once(socket, "error");
      return { error, connected: socket.connected };
    } finally {
      socket.close();
    }
  },

  auth_query: () =>
    withSocket("/private", { query: { token: "secret" } }, async (socket) => ({
      connected: socket.connected,
      token: (await whoami(socket)).query.token,
    })),

  server_disconnect: () =>
    withSocket("/chat", {}, async (socket) => {
      const gone = once(socket, "disconnect");
      socket.emit("disconnect_me");
      const [reason] = await gone;
      return { reason, active_after: socket.io.reconnecting === true };
    }),

  reconnect: () => reconnectAfterServerClose("polling"),

  // Against python-socketio 4 this times out: python-engineio 3 sends a CLOSE packet and leaves
  // the WebSocket open, and engine.io-client 3 ignores CLOSE packets (it waits for the ping timeout).
  reconnect_websocket: () => reconnectAfterServerClose("websocket"),

  burst: () =>
    withSocket("", {}, async (socket) => {
      const seen = [];
      socket.on("burst", (i, payload) => seen.push([i, payload.length]));
      const done = once(socket, "burst_done");
      socket.emit("burst", 20, 10);
      const [count] = await done;
      return { done: count, indexes: seen.map(([i]) => i), sizes: [...new Set(seen.map(([, n]) => n))] };
    }),

  websocket_only: () =>
    withSocket("", { transports: ["websocket"] }, async (socket) => ({
      transport: socket.io.engine.transport.name,
      ack: await call(socket, "echo", "ws"),
    })),

  upgrade: () =>
    withSocket("", {}, async (socket) => {
      const engine = socket.io.engine;
      if (engine.transport.name !== "websocket") await once(engine, "upgrade");
      return { transport: engine.transport.name, ack: await call(socket, "echo", "up") };
    }),

  broadcast: () =>
    withSocket("/chat", {}, (sender) =>
      withSocket("/chat", {}, async (receiver) => {
        const got = once(receiver, "news");
        const ack = await call(sender, "broadcast", "news", "hello", 3);
        return { ack, received: await got };
      }),
    ),

  // Meaningful against a server with a short pingInterval: the client sends PING, the server PONG.
  heartbeat: () =>
    withSocket("", { transports: ["websocket"] }, async (socket) => {
      const latencies = [];
      for (let i = 0; i < 2; i++) latencies.push((await once(socket.io, "pong"))[0]);
      return { pongs: latencies.length, latencies_ok: latencies.every((ms) => ms >= 0 && ms < 1000) };
    }),
};

const TIMEOUTS = { reconnect_websocket: 3000 };

function withTimeout(name, promise) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ error: "timeout" }), TIMEOUTS[name] ?? STEP_TIMEOUT);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  const names = process.argv.slice(3);
  const results = {};
  for (const name of names.length ? names : Object.keys(scenarios).filter((n) => n !== "heartbeat")) {
    if (!scenarios[name]) throw new Error(`unknown scenario: ${name}`);
    try {
      results[name] = await withTimeout(name, scenarios[name]());
    } catch (err) {
      results[name] = { error: String(err && err.message ? err.message : err) };
    }
  }
  process.stdout.write(`${JSON.stringify(results)}\n`);
  process.exit(0);
}

main();
