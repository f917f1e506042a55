// engine.io-parser 2.x (the Engine.IO v3 parser of socket.io 2.x) as an oracle for greensio's tests.
//
//   node parser_oracle.js < cases.json > results.json
//
// A case is {op: "decode", body: base64, binary: bool} (binary: the body is a Buffer, as a POST
// with Content-Type application/octet-stream; else a UTF-8 string) or {op: "encode", packets,
// supportsBinary}. A packet is [type, text] or [type, {b64: base64}] (binary data); type is the
// number. A decode gives {packets} or {error}; an encode gives {body: base64, text: bool}.
"use strict";

const parser = require("engine.io-parser");

const NAMES = ["open", "close", "ping", "pong", "message", "upgrade", "noop"];

function toPacket([type, data]) {
  return { type: NAMES[type], data: typeof data === "string" ? data : Buffer.from(data.b64, "base64") };
}

function fromPacket(packet) {
  const type = NAMES.indexOf(packet.type);
  if (Buffer.isBuffer(packet.data)) return [type, { b64: packet.data.toString("base64") }];
  return [type, packet.data === undefined ? "" : String(packet.data)];
}

function run(c) {
  if (c.op === "decode") {
    const body = Buffer.from(c.body, "base64");
    const packets = [];
    let error = null;
    parser.decodePayload(c.binary ? body : body.toString("utf8"), (packet) => {
      if (packet.type === "error") error = packet.data;
      else packets.push(fromPacket(packet));
    });
    return error === null ? { packets } : { error };
  }
  let out = null;
  parser.encodePayload(c.packets.map(toPacket), c.supportsBinary, (body) => {
    out = typeof body === "string" ? { body: Buffer.from(body, "utf8").toString("base64"), text: true } : { body: body.toString("base64"), text: false };
  });
  return out;
}

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => process.stdout.write(JSON.stringify(JSON.parse(input).map(run))));
