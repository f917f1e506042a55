"use strict";
// Payloads shared by server.js and node_client.js (and, in Python, clients/_common.py).

// Compressible text: JSON-like records whose ids and scores vary, cut to `length` characters.
function compressibleText(length) {
  const parts = [];
  let n = 0;
  for (let i = 0; n < length; i++) {
    const rec = `{"id":${i},"name":"user-${String(i).padStart(5, "0")}","score":${(i * 7919) % 1000}},`;
    parts.push(rec);
    n += rec.length;
  }
  return parts.join("").slice(0, length);
}

module.exports = { compressibleText };
