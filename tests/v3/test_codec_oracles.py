"""greensio's v3 payload codec against the servers' own: engine.io-parser 2.2.1 (socket.io 2.5.1's)
and python-engineio 3.14.2's Payload, run as oracles in their own processes.

Each side encodes what the other decodes, on the same generated packets (text
with characters outside the BMP, binary data, empty packets). The last test shows
why greensio POSTs binary framing: in text framing Node counts UTF-16 units and
python-engineio 3 code points.
"""

from __future__ import annotations

import base64
import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any, Union

import pytest

from greensio._core import eio3
from tests.servers.process import SERVERS_DIR

pytestmark = pytest.mark.timeout(120)

Packet = Union[str, bytes]
CASES = 60
ALPHABET = 'abc xyz{}[]":,0123456789é€\u0800\ufffd\U0001f600\U00010348\U0010fffd'


def generate(seed: int, binary: bool) -> list[list[Packet]]:
    """Lists of packets: text that is never JSON (python-engineio would re-encode it), optionally binary."""
    rng = random.Random(seed)
    cases = []
    for _ in range(CASES):
        packets: list[Packet] = []
        for _ in range(rng.randint(1, 6)):
            if binary and rng.random() < 0.4:
                packets.append(bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))))
            else:
                kind = rng.choice("2345646")
                text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 30)))
                packets.append(kind + ("x" + text if text or kind == "4" else ""))
        cases.append(packets)
    return cases


def to_oracle(packets: list[Packet]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for packet in packets:
        if isinstance(packet, str):
            out.append([int(packet[0]), packet[1:]])
        else:
            out.append([4, {"b64": base64.b64encode(packet).decode("ascii")}])
    return out


def from_oracle(items: list[list[Any]]) -> list[Packet]:
    return [base64.b64decode(d["b64"]) if isinstance(d, dict) else f"{t}{d}" for t, d in items]


def run_oracle(command: list[str], cwd: Path, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    done = subprocess.run(command, cwd=cwd, input=json.dumps(cases), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    return results


@pytest.fixture(scope="module")
def node_oracle(node2_modules: None) -> Any:
    node = shutil.which("node") or "node"

    def run(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return run_oracle([node, "parser_oracle.js"], SERVERS_DIR / "v2", cases)

    return run


@pytest.fixture(scope="module")
def py_oracle(py4_venv: Path) -> Any:
    def run(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return run_oracle([str(py4_venv), "payload_oracle.py"], SERVERS_DIR / "py4", cases)

    return run


def b64(body: bytes) -> str:
    return base64.b64encode(body).decode("ascii")


@pytest.mark.parametrize("binary", [False, True])
def test_what_greensio_posts_is_read_alike_by_both(node_oracle: Any, py_oracle: Any, binary: bool) -> None:
    cases = generate(1, binary)
    bodies = [eio3.encode_payload(packets) for packets in cases]
    node = node_oracle([{"op": "decode", "body": b64(body), "binary": True} for body in bodies])
    py = py_oracle([{"op": "decode", "body": b64(body)} for body in bodies])
    for packets, node_result, py_result in zip(cases, node, py):
        assert from_oracle(node_result["packets"]) == packets
        assert from_oracle(py_result["packets"]) == packets


@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("supports_binary", [True, False])
def test_greensio_reads_what_node_writes(node_oracle: Any, binary: bool, supports_binary: bool) -> None:
    """supportsBinary: Node's default (no b64): text framing, binary framing once binary is in it;
    without (b64=1): text framing with base64."""
    cases = generate(2, binary)
    results = node_oracle([{"op": "encode", "packets": to_oracle(p), "supportsBinary": supports_binary} for p in cases])
    for packets, result in zip(cases, results):
        body = base64.b64decode(result["body"])
        assert result["text"] is not (supports_binary and any(isinstance(p, bytes) for p in packets))
        assert eio3.decode_payload(body) == packets


@pytest.mark.parametrize("binary", [False, True])
def test_greensio_reads_what_python_engineio_writes(py_oracle: Any, binary: bool) -> None:
    cases = generate(3, binary)
    results = py_oracle([{"op": "encode", "packets": to_oracle(p)} for p in cases])
    for packets, result in zip(cases, results):
        body = base64.b64decode(result["body"])
        assert body[:1] in (b"\x00", b"\x01")  # binary framing, always
        assert eio3.decode_payload(body) == packets


def test_text_framing_is_read_differently_by_the_two_servers(node_oracle: Any, py_oracle: Any) -> None:
    """Why greensio does not POST text framing: the lengths' units differ between the servers."""
    plain, astral = ["4xhello", "2"], ["4x\U0001f600", "2"]
    bodies = [eio3.encode_text_payload(p).encode() for p in (plain, astral)]
    assert bodies[1] == "4:4x\U0001f6001:2".encode()  # JavaScript's length: the emoji counts 2
    node = node_oracle([{"op": "decode", "body": b64(body), "binary": False} for body in bodies])
    py = py_oracle([{"op": "decode", "body": b64(body)} for body in bodies])
    assert [from_oracle(r["packets"]) for r in node] == [plain, astral]
    assert from_oracle(py[0]["packets"]) == plain
    assert from_oracle(py[1].get("packets", [])) != astral  # python-engineio 3 counts code points
