"""python-engineio 3's payload codec as an oracle for greensio's tests (run with the py4 virtualenv).

    .venv/bin/python payload_oracle.py < cases.json > results.json

Same cases and results as ../v2/parser_oracle.js: {op: "decode", body: base64} gives {packets}
or {error}; {op: "encode", packets, b64} gives {body: base64}. A packet is [type, text] or
[type, {"b64": base64}]. Text that python-engineio would take for JSON comes back re-encoded, so
callers give text that is not JSON.
"""

import base64
import json
import sys

from engineio import packet as eio_packet
from engineio import payload as eio_payload


def from_packet(pkt):
    if pkt.binary:
        return [pkt.packet_type, {"b64": base64.b64encode(pkt.data or b"").decode("ascii")}]
    return [pkt.packet_type, "" if pkt.data is None else str(pkt.data)]


def to_packet(item):
    kind, data = item
    if isinstance(data, dict):
        return eio_packet.Packet(kind, base64.b64decode(data["b64"]), binary=True)
    return eio_packet.Packet(kind, data)


def run(case):
    if case["op"] == "decode":
        try:
            decoded = eio_payload.Payload(encoded_payload=base64.b64decode(case["body"]))
        except Exception as exc:  # noqa: BLE001 - the oracle reports any failure
            return {"error": repr(exc)}
        return {"packets": [from_packet(p) for p in decoded.packets]}
    body = eio_payload.Payload(packets=[to_packet(p) for p in case["packets"]]).encode(b64=case.get("b64", False))
    return {"body": base64.b64encode(body).decode("ascii")}


if __name__ == "__main__":
    json.dump([run(case) for case in json.load(sys.stdin)], sys.stdout)
