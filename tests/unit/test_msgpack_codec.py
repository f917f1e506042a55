"""Tests of the msgpack codec (greensio._core.msgpack_codec), the socket.io-msgpack-parser format."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

msgpack = pytest.importorskip("msgpack")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from greensio._core import msgpack_codec  # noqa: E402
from greensio._core.msgpack_codec import MAX_ENCODE_DEPTH, MsgpackDecoder, MsgpackEncoder, _ext_formats  # noqa: E402
from greensio._core.sio import (  # noqa: E402
    ACK,
    BINARY_ACK,
    BINARY_EVENT,
    CONNECT,
    CONNECT_ERROR,
    DISCONNECT,
    EVENT,
    RESERVED_EVENTS,
    Packet,
)
from greensio._exceptions import ProtocolError  # noqa: E402

SERVERS_DIR = Path(__file__).resolve().parents[1] / "servers"
UTC = timezone.utc


def examples(n: int) -> int:
    """*n* examples, or the soak profile's budget when tests/soak/fuzz_run.py runs this file."""
    return settings().max_examples if settings.get_current_profile_name() == "soak" else n


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def pack(obj: Any) -> bytes:
    return bytes(msgpack.packb(obj, use_bin_type=True))


IMPORT_CHECK = """
import sys
import greensio, greensio._core.msgpack_codec as codec
assert "msgpack" not in sys.modules, "msgpack imported"
sys.modules["msgpack"] = None  # as if it were not installed
for make in (codec.MsgpackEncoder, codec.MsgpackDecoder):
    try:
        make()
    except ImportError as exc:
        assert "needs the 'msgpack' package" in str(exc), exc
    else:
        raise AssertionError("no ImportError")
"""


def test_msgpack_is_imported_only_when_a_codec_is_made() -> None:
    subprocess.run([sys.executable, "-c", IMPORT_CHECK], check=True, timeout=60)


# ---------------------------------------------------------------- encoder

DATE_2024 = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
DATE_1960 = datetime(1960, 6, 1, tzinfo=UTC)

# Expected bytes: the output of socket.io-msgpack-parser 3.0.2 (notepack.io 2.2.0) for the same packet,
# produced in tests/servers with
#   node -e 'const {Encoder} = require("socket.io-msgpack-parser");
#            console.log(new Encoder().encode({type, data, id, nsp})[0].toString("hex"))'
# with the keys in that order, bytes as Buffer.from(...), datetimes as new Date(Date.UTC(...)),
# and "data"/"id" left out when None.
ENCODINGS: list[tuple[int, str, Any, int | None, str]] = [
    # (type, nsp, data, id, hex)
    (CONNECT, "/", None, None, "82a47479706500a36e7370a12f"),
    (CONNECT, "/admin", None, None, "82a47479706500a36e7370a62f61646d696e"),
    (CONNECT, "/admin", {"token": "123"}, None, "83a47479706500a46461746181a5746f6b656ea3313233a36e7370a62f61646d696e"),
    (DISCONNECT, "/", None, None, "82a47479706501a36e7370a12f"),
    (DISCONNECT, "/admin", None, None, "82a47479706501a36e7370a62f61646d696e"),
    (EVENT, "/", ["foo"], None, "83a47479706502a46461746191a3666f6fa36e7370a12f"),
    (EVENT, "/admin", ["bar"], 12, "84a47479706502a46461746191a3626172a269640ca36e7370a62f61646d696e"),
    (
        EVENT,
        "/",
        ["a", None, True, False, 1.5, -1, -33, 200, 70000, 2**32, -(2**31) - 1, -0.25, [], {"k": [1, {"z": None}]}],
        None,
        "83a47479706502a4646174619ea161c0c3c2cb3ff8000000000000ffd0dfccc8ce00011170cf0000000100000000"
        "d3ffffffff7fffffffcbbfd00000000000009081a16b920181a17ac0a36e7370a12f",
    ),
    (EVENT, "/", ["é", "€", "\U0001f600"], None, "83a47479706502a46461746193a2c3a9a3e282aca4f09f9880a36e7370a12f"),
    (EVENT, "/", [1, "a", {}], None, "83a47479706502a4646174619301a16180a36e7370a12f"),
    (EVENT, "/", ("a", 1, {}), None, "83a47479706502a46461746193a1610180a36e7370a12f"),  # tuple: array
    (
        EVENT,
        "/",
        ["s", "x" * 32, "y" * 300],
        None,
        "83a47479706502a46461746193a173d920" + "78" * 32 + "da012c" + "79" * 300 + "a36e7370a12f",
    ),
    (EVENT, "/", ["baz", b"\x01\x02\x03\x04"], None, "83a47479706502a46461746192a362617ac40401020304a36e7370a12f"),
    (
        EVENT,
        "/",
        ["a", b"xyz", bytearray(b"abc"), memoryview(b"")],
        1,
        "84a47479706502a46461746194a161c40378797ac403616263c400a2696401a36e7370a12f",
    ),
    (
        EVENT,
        "/",
        ["a", memoryview(b"xaybz")[::2], memoryview(b"abc")],
        1,  # strided memoryview: copied
        "84a47479706502a46461746193a161c40378797ac403616263a2696401a36e7370a12f",
    ),
    (
        EVENT,
        "/",
        ["big", b"\x07" * 300],
        None,
        "83a47479706502a46461746192a3626967c5012c" + "07" * 300 + "a36e7370a12f",
    ),
    (
        EVENT,
        "/cool",
        ["a", {"b": ["c", b"abc"]}],
        23,
        "84a47479706502a46461746192a16181a16292a163c403616263a2696417a36e7370a52f636f6f6c",
    ),
    (
        EVENT,
        "/",
        ["arr", list(range(16))],
        None,
        "83a47479706502a46461746192a3617272dc0010000102030405060708090a0b0c0d0e0fa36e7370a12f",
    ),
    (
        EVENT,
        "/",
        ["map", {f"k{i:x}": i for i in range(16)}],
        None,
        "83a47479706502a46461746192a36d6170de0010a26b3000a26b3101a26b3202a26b3303a26b3404a26b3505a26b3606a26b3707"
        "a26b3808a26b3909a26b610aa26b620ba26b630ca26b640da26b650ea26b660fa36e7370a12f",
    ),
    # non-str keys are stringified as json.dumps does (node: {1: 2, null: 3, false: 4, "1.5": 5})
    (
        EVENT,
        "/",
        ["keys", {1: 2, None: 3, False: 4, 1.5: 5}],
        None,
        "83a47479706502a46461746192a46b65797384a13102a46e756c6c03a566616c736504a3312e3505a36e7370a12f",
    ),
    (
        EVENT,
        "/",
        ["u64", 2**53, -(2**53)],
        None,
        "83a47479706502a46461746193a3753634cf0020000000000000d3ffe0000000000000a36e7370a12f",
    ),
    (
        EVENT,
        "/",
        ["date", DATE_2024, DATE_1960],
        None,
        "83a47479706502a46461746193a464617465d7000000018cc820db2ed700ffffffb99267d400a36e7370a12f",
    ),
    (
        EVENT,
        "/",
        ["date", DATE_2024.astimezone(timezone(timedelta(hours=5))), DATE_1960.replace(microsecond=999)],
        None,
        "83a47479706502a46461746193a464617465d7000000018cc820db2ed700ffffffb99267d400a36e7370a12f",
    ),
    (ACK, "/", [], 0, "84a47479706503a46461746190a2696400a36e7370a12f"),
    (ACK, "/admin", ["a", 1, {}], 123, "84a47479706503a46461746193a1610180a269647ba36e7370a62f61646d696e"),
    (ACK, "/", ["bar", b"\x01\x02\x03\x04"], 15, "84a47479706503a46461746192a3626172c40401020304a269640fa36e7370a12f"),
    (
        CONNECT_ERROR,
        "/",
        {"message": "Not authorized"},
        None,
        "83a47479706504a46461746181a76d657373616765ae4e6f7420617574686f72697a6564a36e7370a12f",
    ),
    (CONNECT_ERROR, "/", "Unauthorized", None, "83a47479706504a464617461ac556e617574686f72697a6564a36e7370a12f"),
    # no binary packet types with this parser: normalised to EVENT/ACK
    (
        BINARY_EVENT,
        "/",
        ["baz", b"\x01\x02\x03\x04"],
        None,
        "83a47479706502a46461746192a362617ac40401020304a36e7370a12f",
    ),
    (
        BINARY_ACK,
        "/",
        ["bar", b"\x01\x02\x03\x04"],
        15,
        "84a47479706503a46461746192a3626172c40401020304a269640fa36e7370a12f",
    ),
]


@pytest.mark.parametrize(("ptype", "nsp", "data", "pid", "hexed"), ENCODINGS)
def test_encode_table(ptype: int, nsp: str, data: Any, pid: int | None, hexed: str) -> None:
    frame, attachments = MsgpackEncoder().encode(ptype, nsp, data, pid)
    assert type(frame) is bytes
    assert attachments == []
    assert frame.hex() == hexed


def test_encoder_ignores_dumps_and_keys_are_ordered_like_the_node_server() -> None:
    frame, _ = MsgpackEncoder(json.dumps).encode(EVENT, "/", ["x"], 3)
    assert list(msgpack.unpackb(frame)) == ["type", "data", "id", "nsp"]  # as socket.io 4.8 emits an EVENT
    assert MsgpackEncoder(dumps=None).encode(EVENT, "/", ["x"], 3)[0] == frame


def test_encode_does_not_mutate_input() -> None:
    inner = {1: memoryview(b"abcd")[::2], "s": [b"x", bytearray(b"y")]}
    data = ["a", inner, (1, {2: 3})]
    frame, _ = MsgpackEncoder().encode(EVENT, "/", data)
    assert msgpack.unpackb(frame)["data"] == ["a", {"1": b"ac", "s": [b"x", b"y"]}, [1, {"2": 3}]]
    assert data[1] is inner and list(inner) == [1, "s"] and isinstance(inner[1], memoryview)
    assert data[2] == (1, {2: 3})


def test_encode_keeps_values_msgpack_can_carry_but_json_cannot() -> None:
    # msgpack floats carry NaN and infinities (notepack.io decodes them); json.dumps would refuse them
    frame, _ = MsgpackEncoder().encode(EVENT, "/", ["f", float("inf"), float("-inf")])
    assert frame.hex().endswith("cb7ff0000000000000cbfff0000000000000a36e7370a12f")
    decoded = MsgpackDecoder().feed_binary(MsgpackEncoder().encode(EVENT, "/", ["nan", float("nan")])[0])
    assert decoded is not None and decoded.data[1] != decoded.data[1]
    # binary is fine in any packet type (the Node server receives a Buffer in the auth)
    frame, _ = MsgpackEncoder().encode(CONNECT, "/", {"token": b"\x00"})
    assert msgpack.unpackb(frame) == {"type": 0, "data": {"token": b"\x00"}, "nsp": "/"}


def _circular() -> list[Any]:
    loop: list[Any] = ["a"]
    loop.append(loop)
    return loop


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return ["deep", value]


@pytest.mark.parametrize(
    ("ptype", "nsp", "data", "pid", "exc", "match"),
    [
        (EVENT, "/", ["a", object()], None, TypeError, "not msgpack serializable"),
        (EVENT, "/", ["a", {1, 2}], None, TypeError, "set"),
        (EVENT, "/", ["a", {1j: 1}], None, TypeError, "keys must be"),
        (EVENT, "/", ["a", {("t",): 1}], None, TypeError, "keys must be"),
        (EVENT, "/", ["a", {b"k": 1}], None, TypeError, "keys must be"),
        (EVENT, "/", ["a", datetime(2024, 1, 1)], None, ValueError, "naive datetime"),
        (EVENT, "/", ["a", 2**64], None, ValueError, "64-bit"),
        (EVENT, "/", ["a", -(2**63) - 1], None, ValueError, "64-bit"),
        (EVENT, "/", ["a", "\ud800"], None, ValueError, "surrogates"),
        (EVENT, "/", _circular(), None, ValueError, "too deeply"),
        (EVENT, "/", _nested(MAX_ENCODE_DEPTH + 1), None, ValueError, "too deeply"),
        (7, "/", ["a"], None, ValueError, "unknown Socket.IO packet type"),
        (-1, "/", ["a"], None, ValueError, "unknown Socket.IO packet type"),
        ("2", "/", ["a"], None, ValueError, "unknown Socket.IO packet type"),
        (None, "/", ["a"], None, ValueError, "unknown Socket.IO packet type"),
        (EVENT, "admin", ["a"], None, ValueError, "namespace"),
        (EVENT, "/a,b", ["a"], None, ValueError, "namespace"),
        (EVENT, "", ["a"], None, ValueError, "namespace"),
        (EVENT, None, ["a"], None, ValueError, "namespace"),
        (EVENT, b"/", ["a"], None, ValueError, "namespace"),
        (EVENT, "/", ["a"], "1", TypeError, "ack id"),
        (EVENT, "/", ["a"], 1.0, TypeError, "ack id"),
        (EVENT, "/", ["a"], True, TypeError, "ack id"),
        (EVENT, "/", ["a"], -1, ValueError, "ack id"),
        (ACK, "/", ["a"], 10**16, ValueError, "ack id"),
    ],
)
def test_encode_bad_input(ptype: Any, nsp: Any, data: Any, pid: Any, exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match) as info:
        MsgpackEncoder().encode(ptype, nsp, data, pid)
    assert not isinstance(info.value, ProtocolError)


def test_encode_depth_limit_is_generous() -> None:
    frame, _ = MsgpackEncoder().encode(EVENT, "/", _nested(MAX_ENCODE_DEPTH - 1))
    assert MsgpackDecoder().feed_binary(frame) == Packet(EVENT, "/", _nested(MAX_ENCODE_DEPTH - 1))


def test_encoder_reusable_after_errors() -> None:
    enc = MsgpackEncoder()
    for bad in (["a", b"x", object()], ["a", 2**70], ["a", "\udc00"]):
        with pytest.raises((TypeError, ValueError)):
            enc.encode(EVENT, "/", bad)
        assert enc.encode(EVENT, "/", ["ok", b"y"]) == (h("83a47479706502a46461746192a26f6bc40179a36e7370a12f"), [])


# ---------------------------------------------------------------- decoder

# Frames sent by the Node test server (socket.io 4.8.4 + socket.io-msgpack-parser 3.0.2), captured
# with a raw websocket client (websocket-client) talking to `node node_server.js --parser msgpack`.
CAPTURED: list[tuple[str, Packet]] = [
    # CONNECT reply: {sid, pid: undefined}, undefined being notepack's fixext 1 type 0 (d4 00 00)
    (
        "83a47479706500a46461746182a3736964b46a6c5467414b426c58667465476f343941414141a3706964d40000a36e7370a12f",
        Packet(CONNECT, "/", {"sid": "jlTgAKBlXfteGo49AAAA", "pid": None}),
    ),
    (
        "83a47479706500a46461746182a3736964b473645f4f5a434262513342554d516e7341414142a3706964d40000a36e7370a52f63686174",
        Packet(CONNECT, "/chat", {"sid": "sd_OZCBbQ3BUMQnsAAAB", "pid": None}),
    ),
    # ACK of echo("a", {"b": b"\x01\x02"}, 1.5, -3, 2**40): the server puts "id" first
    (
        "84a2696407a47479706503a46461746195a16181a162c4020102cb3ff8000000000000fdcf0000010000000000a36e7370a12f",
        Packet(ACK, "/", ["a", {"b": b"\x01\x02"}, 1.5, -3, 2**40], 7),
    ),
    ("83a47479706502a46461746192a46563686fa178a36e7370a52f63686174", Packet(EVENT, "/chat", ["echo", "x"])),
    ("83a47479706502a46461746193a5627572737400c403000000a36e7370a12f", Packet(EVENT, "/", ["burst", 0, bytes(3)])),
    ("83a47479706502a46461746192aa62757273745f646f6e6502a36e7370a12f", Packet(EVENT, "/", ["burst_done", 2])),
    # server_call: an EVENT asking for an ack (id 0), then the ACK of the call
    ("84a47479706502a46461746192a17101a2696400a36e7370a12f", Packet(EVENT, "/", ["q", 1], 0)),
    ("84a2696408a47479706503a4646174619192a17202a36e7370a12f", Packet(ACK, "/", [["r", 2]], 8)),
    (
        "83a47479706504a46461746182a76d657373616765ae6e6f7420617574686f72697a6564a46461746181a4636f6465cd0193a36e7370"
        "a82f70726976617465",
        Packet(CONNECT_ERROR, "/private", {"message": "not authorized", "data": {"code": 403}}),
    ),
    ("82a47479706501a36e7370a12f", Packet(DISCONNECT, "/")),  # disconnect_me: no "data" key at all
]

# notepack.io's extension type 0, produced in tests/servers with
#   node -e 'const {Encoder} = require("socket.io-msgpack-parser");
#            console.log(new Encoder().encode(packet)[0].toString("hex"))'
# fixext 1 = undefined, fixext 8 = Date, ext 8/16/32 = ArrayBuffer / typed array (any length, even 1 or 8).
NOTEPACK: list[tuple[str, Packet]] = [
    # {type: 0, data: undefined, nsp: "/"}
    ("83a47479706500a464617461d40000a36e7370a12f", Packet(CONNECT, "/")),
    # {type: 1, data: undefined, nsp: "/chat"}
    ("83a47479706501a464617461d40000a36e7370a52f63686174", Packet(DISCONNECT, "/chat")),
    # {type: 2, data: ["u", undefined, [undefined], {k: undefined}], id: undefined, nsp: "/"}
    (
        "84a47479706502a46461746194a175d4000091d4000081a16bd40000a26964d40000a36e7370a12f",
        Packet(EVENT, "/", ["u", None, [None], {"k": None}]),
    ),
    # ["ab", Uint8Array([1,2,3]).buffer, Uint8Array([0]), Uint8Array([7]).buffer, Float64Array([1.5]),
    #  Uint16Array([1]), Uint8Array(16).fill(9), new ArrayBuffer(0)]
    (
        "83a47479706502a46461746198a26162c70300010203c7010000c7010007c70800000000000000f83fc702000100"
        "c7100009090909090909090909090909090909c70000a36e7370a12f",
        Packet(
            EVENT, "/", ["ab", b"\x01\x02\x03", b"\x00", b"\x07", h("000000000000f83f"), b"\x01\x00", b"\x09" * 16, b""]
        ),
    ),
    # ["date", new Date(0), new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), new Date(-1)]
    (
        "83a47479706502a46461746194a464617465d7000000000000000000d7000000018cc820db2ed700ffffffffffffffffa36e7370a12f",
        Packet(
            EVENT,
            "/",
            [
                "date",
                datetime(1970, 1, 1, tzinfo=UTC),
                DATE_2024,
                datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
            ],
        ),
    ),
    # ["mixed", undefined, new Date(1), Uint8Array([0]), Buffer.from([0]), undefined]
    (
        "83a47479706502a46461746196a56d69786564d40000d7000000000000000001c7010000c40100d40000a36e7370a12f",
        Packet(EVENT, "/", ["mixed", None, datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC), b"\x00", b"\x00", None]),
    ),
    # ["big", new Uint8Array(300).buffer]: ext 16
    (
        "83a47479706502a46461746192a3626967c8012c00" + "00" * 300 + "a36e7370a12f",
        Packet(EVENT, "/", ["big", bytes(300)]),
    ),
]

OTHERS: list[tuple[bytes, Packet]] = [
    (pack({"type": 2, "data": ["x"]}), Packet(EVENT, "/", ["x"])),  # no nsp: "/"
    (pack({"type": 2, "data": ["x"], "nsp": None}), Packet(EVENT, "/", ["x"])),
    (pack({"nsp": "/a", "id": 1, "data": [], "type": 3}), Packet(ACK, "/a", [], 1)),  # key order is free
    (pack({"type": 2, "data": ["x"], "nsp": "/", "options": {"compress": True}}), Packet(EVENT, "/", ["x"])),
    # python-socketio's MsgPackPacket sends "data": nil when there is none
    (pack({"type": 0, "data": None, "nsp": "/"}), Packet(CONNECT, "/")),
    (pack({"type": 1, "data": None, "nsp": "/x"}), Packet(DISCONNECT, "/x")),
    (pack({"type": 2, "data": [7, 1], "nsp": "/"}), Packet(EVENT, "/", [7, 1])),  # numeric event names
    (pack({"type": 2, "data": [2.5], "nsp": "/"}), Packet(EVENT, "/", [2.5])),
    (pack({"type": 2, "data": ["connected"], "nsp": "/"}), Packet(EVENT, "/", ["connected"])),
    (pack({"type": 2, "data": ["x"], "id": 10**16 - 1, "nsp": "/"}), Packet(EVENT, "/", ["x"], 10**16 - 1)),
    (pack({"type": 4, "data": "no", "nsp": "/"}), Packet(CONNECT_ERROR, "/", "no")),
    (pack({"type": 0, "data": {}, "nsp": "/"}), Packet(CONNECT, "/", {})),
    # float 32, and uint 64 beyond JavaScript's safe integers
    (h("83a474797065 02 a464617461 92 a166 ca3fc00000 a36e7370a12f"), Packet(EVENT, "/", ["f", 1.5])),
    (pack({"type": 2, "data": ["u", 2**64 - 1, -(2**63)], "nsp": "/"}), Packet(EVENT, "/", ["u", 2**64 - 1, -(2**63)])),
    # other extension types decode as notepack.io does: [type, bytes]; fixext 2/4/16 type 0 too
    (pack({"type": 2, "data": ["e", msgpack.ExtType(5, b"ab")], "nsp": "/"}), Packet(EVENT, "/", ["e", [5, b"ab"]])),
    (h("83a474797065 02 a464617461 92 a165 c700f9 a36e7370a12f"), Packet(EVENT, "/", ["e", [-7, b""]])),
    (
        h("83a474797065 02 a464617461 93 a165 d5000102 d600 01020304 a36e7370a12f"),
        Packet(EVENT, "/", ["e", [0, b"\x01\x02"], [0, b"\x01\x02\x03\x04"]]),
    ),
    (
        h("83a474797065 02 a464617461 92 a165 d800" + "00" * 16 + "a36e7370a12f"),
        Packet(EVENT, "/", ["e", [0, bytes(16)]]),
    ),
    (
        h("83a474797065 02 a464617461 93 a165 d40501 c7010501 a36e7370a12f"),
        Packet(EVENT, "/", ["e", [5, b"\x01"], [5, b"\x01"]]),
    ),
    # msgpack timestamps (type -1) become datetimes too, and do not upset the fixext/ext bookkeeping
    (
        h("83a474797065 02 a464617461 94 a174 d6ff00000001 d40000 c7010000 a36e7370a12f"),
        Packet(EVENT, "/", ["t", datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), None, b"\x00"]),
    ),
]


@pytest.mark.parametrize(("hexed", "packet"), CAPTURED + NOTEPACK)
def test_decode_table(hexed: str, packet: Packet) -> None:
    dec = MsgpackDecoder()
    assert dec.feed_binary(h(hexed)) == packet
    assert dec.feed_binary(h("83a47479706502a46461746191a46e657874a36e7370a12f")) == Packet(EVENT, "/", ["next"])


@pytest.mark.parametrize(("frame", "packet"), OTHERS)
def test_decode_other_senders(frame: bytes, packet: Packet) -> None:
    assert MsgpackDecoder().feed_binary(frame) == packet


def test_decoded_types() -> None:
    frame, _ = MsgpackEncoder().encode(EVENT, "/", ["t", bytearray(b"ab"), memoryview(b"c"), ("tu",), {"d": 1}])
    packet = MsgpackDecoder().feed_binary(frame)
    assert packet is not None
    assert [type(v) for v in packet.data] == [str, bytes, bytes, list, dict]
    assert type(packet.type) is int and packet.id is None


def test_decode_accepts_bytes_likes_and_has_the_default_decoders_interface() -> None:
    frame = h("83a47479706502a46461746191a3666f6fa36e7370a12f")
    dec = MsgpackDecoder(json.loads, max_attachments=3)
    assert dec.max_attachments == 3 and MsgpackDecoder().max_attachments == 10
    assert dec.feed_binary(bytearray(frame)) == Packet(EVENT, "/", ["foo"])  # type: ignore[arg-type]
    assert dec.feed_binary(memoryview(frame)) == Packet(EVENT, "/", ["foo"])  # type: ignore[arg-type]
    dec.reset()
    dec.reset()
    assert dec.feed_binary(frame) == Packet(EVENT, "/", ["foo"])


@pytest.mark.parametrize("text", ['2["foo"]', "0", "", "\x83"])
def test_text_frames_are_rejected(text: str) -> None:
    with pytest.raises(ProtocolError, match="text frame"):
        MsgpackDecoder().feed_text(text)


@pytest.mark.parametrize("value", [None, '2["a"]', 12, ["a"]])
def test_wrong_input_types_raise_protocol_error(value: Any) -> None:
    with pytest.raises(ProtocolError, match="must be bytes"):
        MsgpackDecoder().feed_binary(value)


def _deep(depth: int) -> bytes:
    return h("83a474797065 02 a464617461 92 a161") + b"\x91" * depth + b"\xc0" + h("a36e7370a12f")


INVALID: list[tuple[bytes, str]] = [
    # not msgpack, or not one whole value
    (b"", "invalid msgpack data"),
    (b"\xc1", "invalid msgpack data"),
    (pack({"type": 2, "data": ["x"], "nsp": "/"}) + b"\x00", "invalid msgpack data"),  # trailing bytes
    (pack({"type": 2, "data": ["x"], "nsp": "/"})[:-1], "invalid msgpack data"),  # truncated
    (h("83a474797065 02 a464617461 91 c1 a36e7370a12f"), "invalid msgpack data"),
    (b'2["foo"]', "invalid msgpack data|expected a msgpack map"),  # a text packet sent as binary
    # huge sizes announced by a short frame
    (h("dbffffffff") + b"x" * 10, "invalid msgpack data"),
    (h("c6ffffffff") + b"x" * 10, "invalid msgpack data"),
    (h("ddffffffff") + b"\xc0" * 10, "invalid msgpack data"),
    (h("dfffffffff") + b"\xc0" * 10, "invalid msgpack data"),
    (h("c9ffffffff00") + b"x" * 10, "invalid msgpack data"),
    (h("83a474797065 02 a464617461 92 a161 dd7fffffff a36e7370a12f"), "invalid msgpack data"),
    # deep nesting
    (_deep(5000), "nested too deeply"),
    # invalid strings and map keys
    (h("83a474797065 02 a464617461 91 a2c328 a36e7370a12f"), "invalid msgpack data.*utf-8"),
    (h("83a474797065 02 a464617461 92 a161 8101c0 a36e7370a12f"), "invalid msgpack data.*map key"),
    (h("83a474797065 02 a464617461 92 a161 81c40161c0 a36e7370a12f"), "map keys must be strings"),
    (h("81c404747970650200"), "map keys must be strings"),
    (h("83 01 02 a464617461 91a178 a36e7370a12f"), "invalid msgpack data.*map key"),
    # extension values that cannot be decoded
    (h("83a474797065 02 a464617461 92 a164 d7007fffffffffffffff a36e7370a12f"), "Date out of"),
    (h("83a474797065 02 a464617461 92 a164 d5ff0000 a36e7370a12f"), "invalid msgpack data"),  # bad timestamp
    # not a map at the top level
    (pack([2, "/", ["x"]]), "expected a msgpack map, got list"),
    (pack("2"), "expected a msgpack map, got str"),
    (pack(2), "expected a msgpack map, got int"),
    (pack(None), "expected a msgpack map, got NoneType"),
    (pack(b"\x83"), "expected a msgpack map, got bytes"),
    (h("d40000"), "expected a msgpack map, got NoneType"),
    # packet type
    (pack({"data": ["x"], "nsp": "/"}), "unknown Socket.IO packet type None"),
    (pack({"type": "2", "data": ["x"], "nsp": "/"}), "unknown Socket.IO packet type '2'"),
    (pack({"type": 2.0, "data": ["x"], "nsp": "/"}), "unknown Socket.IO packet type"),
    (pack({"type": True, "data": ["x"], "nsp": "/"}), "unknown Socket.IO packet type"),
    (pack({"type": -1, "data": ["x"], "nsp": "/"}), "unknown Socket.IO packet type"),
    (pack({"type": 5, "data": ["x"], "nsp": "/"}), "unknown Socket.IO packet type 5"),  # no binary types
    (pack({"type": 6, "data": ["x"], "id": 1, "nsp": "/"}), "unknown Socket.IO packet type 6"),
    (pack({"type": 7, "data": ["x"], "nsp": "/"}), "unknown Socket.IO packet type"),
    (pack({"type": 2**64 - 1, "data": ["x"], "nsp": "/"}), "unknown Socket.IO packet type"),
    (pack({"type": "x" * 1000, "nsp": "/"}), r"type 'xxxxx.*\.\.\.$"),  # the message stays short
    # namespace
    (pack({"type": 2, "data": ["x"], "nsp": ""}), "invalid namespace"),
    (pack({"type": 2, "data": ["x"], "nsp": "admin"}), "invalid namespace"),
    (pack({"type": 2, "data": ["x"], "nsp": "/a,b"}), "invalid namespace"),
    (pack({"type": 2, "data": ["x"], "nsp": b"/"}), "invalid namespace"),
    (pack({"type": 2, "data": ["x"], "nsp": 1}), "invalid namespace"),
    (pack({"type": 2, "data": ["x"], "nsp": ["/"]}), "invalid namespace"),
    # ack id
    (pack({"type": 2, "data": ["x"], "id": "1", "nsp": "/"}), "invalid ack id"),
    (pack({"type": 2, "data": ["x"], "id": -1, "nsp": "/"}), "invalid ack id"),
    (pack({"type": 2, "data": ["x"], "id": 1.0, "nsp": "/"}), "invalid ack id"),
    (pack({"type": 2, "data": ["x"], "id": True, "nsp": "/"}), "invalid ack id"),
    (pack({"type": 2, "data": ["x"], "id": 10**16, "nsp": "/"}), "invalid ack id"),
    (pack({"type": 0, "data": {"sid": "x"}, "id": 1, "nsp": "/"}), "invalid ack id: packet type 0 takes none"),
    (pack({"type": 1, "id": 1, "nsp": "/"}), "invalid ack id: packet type 1 takes none"),
    (pack({"type": 4, "data": "no", "id": 1, "nsp": "/"}), "invalid ack id: packet type 4 takes none"),
    # payload
    (pack({"type": 2, "nsp": "/"}), "packet type 2 requires one"),
    (pack({"type": 2, "data": None, "nsp": "/"}), "packet type 2 requires one"),
    (h("83a474797065 02 a464617461 d40000 a36e7370a12f"), "packet type 2 requires one"),
    (pack({"type": 2, "data": [], "nsp": "/"}), "non-empty array"),
    (pack({"type": 2, "data": {"a": 1}, "nsp": "/"}), "non-empty array"),
    (pack({"type": 2, "data": "x", "nsp": "/"}), "non-empty array"),
    (pack({"type": 2, "data": b"x", "nsp": "/"}), "non-empty array"),
    (pack({"type": 2, "data": [True, "foo"], "nsp": "/"}), "event name"),
    (pack({"type": 2, "data": [None, "bar"], "nsp": "/"}), "event name"),
    (pack({"type": 2, "data": [["nested"]], "nsp": "/"}), "event name"),
    (pack({"type": 2, "data": [{"toString": "foo"}], "nsp": "/"}), "event name"),
    (pack({"type": 2, "data": [b"bin"], "nsp": "/"}), "event name"),
    (pack({"type": 2, "data": [msgpack.ExtType(0, bytes(8))], "nsp": "/"}), "event name"),  # a Date
    *[(pack({"type": 2, "data": [name, 1], "nsp": "/"}), "reserved event name") for name in sorted(RESERVED_EVENTS)],
    (pack({"type": 3, "id": 1, "nsp": "/"}), "packet type 3 requires one"),
    (pack({"type": 3, "data": {"a": 1}, "id": 1, "nsp": "/"}), "ACK needs an array"),
    (pack({"type": 3, "data": "x", "id": 1, "nsp": "/"}), "ACK needs an array"),
    (pack({"type": 0, "data": [], "nsp": "/"}), "CONNECT needs an object"),
    (pack({"type": 0, "data": "invalid", "nsp": "/admin"}), "CONNECT needs an object"),
    (pack({"type": 0, "data": 1, "nsp": "/"}), "CONNECT needs an object"),
    (pack({"type": 1, "data": {}, "nsp": "/"}), "DISCONNECT takes none"),
    (pack({"type": 1, "data": [], "nsp": "/"}), "DISCONNECT takes none"),
    (pack({"type": 1, "data": 5, "nsp": "/"}), "DISCONNECT takes none"),
    (pack({"type": 4, "nsp": "/"}), "packet type 4 requires one"),
    (pack({"type": 4, "data": None, "nsp": "/"}), "packet type 4 requires one"),
    (pack({"type": 4, "data": [], "nsp": "/"}), "CONNECT_ERROR needs a string or object"),
    (pack({"type": 4, "data": 4, "nsp": "/"}), "CONNECT_ERROR needs a string or object"),
    (pack({"type": 4, "data": b"x", "nsp": "/"}), "CONNECT_ERROR needs a string or object"),
]


@pytest.mark.parametrize(("frame", "match"), INVALID)
def test_decode_invalid(frame: bytes, match: str) -> None:
    dec = MsgpackDecoder()
    with pytest.raises(ProtocolError, match=match):
        dec.feed_binary(frame)
    assert dec.feed_binary(pack({"type": 2, "data": ["next"], "nsp": "/"})) == Packet(EVENT, "/", ["next"])


@pytest.mark.parametrize(
    "frame",
    [
        pack({"type": 3, "data": ["x"], "nsp": "/"}),
        pack({"type": 3, "data": ["x"], "id": [1], "nsp": "/"}),
        pack({"type": 3, "data": ["x"], "id": 2**60, "nsp": "/"}),
    ],
)
def test_an_ack_without_a_usable_id_decodes_with_no_id(frame: bytes) -> None:
    # the reference client looks the id up, finds nothing and ignores the ACK: so does the session
    assert MsgpackDecoder().feed_binary(frame) == Packet(ACK, "/", ["x"], None)


def test_nesting_limit_is_generous() -> None:
    packet = MsgpackDecoder().feed_binary(_deep(1000))
    assert packet is not None
    inner = packet.data[1]
    for _ in range(1000):
        inner = inner[0]
    assert inner is None


def test_ext_formats_walks_every_header() -> None:
    assert _ext_formats(h("d40000")) == [True]
    assert _ext_formats(h("c7010000")) == [False]
    assert _ext_formats(h("d6ff00000001 d40500 c70000")) == [True, False]  # timestamps skipped
    # payloads that look like ext headers are skipped
    assert _ext_formats(h("a3d40000 c403d40000 d9 03 d40000 cb d400000000000000 d40000")) == [True]
    assert _ext_formats(h("92 d7000000000000000000 c7080000000000000000")) == [True, False]
    for frame, _ in OTHERS:
        _ext_formats(frame)
    for truncated in ("d4", "c7", "c701", "c70100", "c5", "c5ff", "dbffffffff", "c1d40000"):
        assert _ext_formats(h(truncated)) in ([], [False], [True])


def test_decode_packets_from_python_socketio() -> None:
    from socketio import msgpack_packet  # noqa: PLC0415

    cases: list[tuple[int, str | None, Any, int | None]] = [
        (CONNECT, "/", {"sid": "abc"}, None),
        (CONNECT, "/admin", None, None),
        (DISCONNECT, "/admin", None, None),
        (EVENT, "/", ["hey", "Jude", {"a": [1, 2.5, None]}], None),
        (EVENT, "/chat", ["hey", b"\x00\xff", {"deep": [b"x"]}], 77),
        (ACK, "/chat", ["ok", b"bin"], 3),
        (ACK, "/", [], 0),
        (CONNECT_ERROR, "/", {"message": "Not authorized"}, None),
    ]
    for ptype, nsp, data, pid in cases:
        frame = msgpack_packet.MsgPackPacket(ptype, data=data, namespace=nsp, id=pid).encode()
        assert MsgpackDecoder().feed_binary(frame) == Packet(ptype, nsp or "/", data, pid)
        ours, _ = MsgpackEncoder().encode(ptype, nsp or "/", data, pid)
        theirs = msgpack_packet.MsgPackPacket(encoded_packet=ours)
        assert (theirs.packet_type, theirs.namespace, theirs.data, theirs.id) == (ptype, nsp or "/", data, pid)


# ---------------------------------------------------------------- the Node parser decodes what we encode

NODE_DECODE = r"""
const { Decoder } = require("socket.io-msgpack-parser");
const lines = require("fs").readFileSync(0, "utf8").trim().split("\n");
for (const line of lines) {
  const decoder = new Decoder();
  let out = null;
  decoder.on("decoded", (packet) => { out = JSON.stringify(packet); });
  try { decoder.add(Buffer.from(line, "hex")); } catch (err) { out = "ERROR " + err.message; }
  console.log(out);
}
"""


def _as_node_json(value: Any) -> Any:
    """*value* as JSON.stringify writes what notepack.io decoded from our encoding of it."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"type": "Buffer", "data": list(bytes(value))}
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, (list, tuple)):
        return [_as_node_json(v) for v in value]
    if isinstance(value, dict):
        return {msgpack_codec._json_key(k): _as_node_json(v) for k, v in value.items()}
    return value


@pytest.mark.skipif(
    shutil.which("node") is None or not (SERVERS_DIR / "node_modules" / "socket.io-msgpack-parser").is_dir(),
    reason="needs node and the test servers' node_modules",
)
def test_the_node_parser_accepts_our_packets() -> None:
    cases: list[tuple[int, str, Any, int | None]] = [(t, n, d, i) for t, n, d, i, _ in ENCODINGS]
    cases += [
        (EVENT, "/", ["floats", 2.0, -0.0, 1e300, 5e-324], 9),  # integral floats stay float 64
        (EVENT, "/x", ["big", 2**53 - 1, -(2**53 - 1), 2**32 + 1], None),
        (EVENT, "/", ["deep", [[[[{"a": [b"\x00"]}]]]]], None),
        (ACK, "/", [None, True, {"k": (1, bytearray(b"\x01"))}], 10**15),
        (CONNECT, "/", {"token": "t", "n": [1, 2]}, None),
        (EVENT, "/", ["when", datetime(2000, 2, 29, 12, 0, 0, 1000, tzinfo=timezone(timedelta(hours=-3)))], None),
    ]
    frames = [MsgpackEncoder().encode(*case)[0].hex() for case in cases]
    result = subprocess.run(
        ["node", "-e", NODE_DECODE],
        cwd=SERVERS_DIR,
        input="\n".join(frames),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert len(lines) == len(cases)
    for (ptype, nsp, data, pid), line in zip(cases, lines):
        expected: dict[str, Any] = {"type": {BINARY_EVENT: EVENT, BINARY_ACK: ACK}.get(ptype, ptype)}
        if data is not None:
            expected["data"] = _as_node_json(data)
        if pid is not None:
            expected["id"] = pid
        expected["nsp"] = nsp
        assert not line.startswith("ERROR"), (ptype, nsp, data, pid, line)
        assert json.loads(line) == expected


# ---------------------------------------------------------------- properties

dates = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000, tzinfo=UTC)
)
leaves: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.binary(max_size=4).map(bytearray)
    | st.binary(max_size=4).map(lambda b: memoryview(b))
    | dates
)
keys = st.text(max_size=5) | st.integers(-5, 5) | st.none() | st.booleans()
values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=3)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(keys, children, max_size=3)
    ),
    max_leaves=12,
)
namespaces = st.just("/") | st.text(
    alphabet=st.characters(blacklist_characters=",", blacklist_categories=["Cs"]), max_size=6
).map(lambda s: "/" + s)
event_names = st.text(max_size=10).filter(lambda s: s not in RESERVED_EVENTS) | st.integers(0, 1000)
ack_ids = st.none() | st.integers(min_value=0, max_value=10**16 - 1)


def _plain(value: Any) -> Any:
    """*value* as a msgpack round trip returns it."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {msgpack_codec._json_key(k): _plain(v) for k, v in value.items()}
    return value


@settings(max_examples=examples(150), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([EVENT, ACK, BINARY_EVENT, BINARY_ACK]),
    namespaces,
    event_names,
    st.lists(values, max_size=4),
    ack_ids,
)
def test_round_trip(ptype: int, nsp: str, name: Any, args: list[Any], pid: int | None) -> None:
    kind = EVENT if ptype in (EVENT, BINARY_EVENT) else ACK
    if kind == ACK and pid is None:
        pid = 1
    data = [name, *args] if kind == EVENT else args
    frame, attachments = MsgpackEncoder().encode(ptype, nsp, data, pid)
    assert attachments == []
    assert MsgpackDecoder().feed_binary(frame) == Packet(kind, nsp, _plain(data), pid)


@settings(max_examples=examples(50), deadline=None, database=None)
@given(
    st.sampled_from([CONNECT, CONNECT_ERROR]),
    namespaces,
    st.dictionaries(st.text(max_size=5), st.text(max_size=5) | st.binary(max_size=3)),
)
def test_round_trip_connect(ptype: int, nsp: str, data: dict[str, Any]) -> None:
    frame, _ = MsgpackEncoder().encode(ptype, nsp, data)
    assert MsgpackDecoder().feed_binary(frame) == Packet(ptype, nsp, data)


def _check_never_raises_other(frame: bytes) -> None:
    try:
        result = MsgpackDecoder().feed_binary(frame)
    except ProtocolError:
        return
    assert isinstance(result, Packet)
    assert result.type in (CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR)
    assert type(result.nsp) is str and result.nsp.startswith("/")
    assert result.id is None or (type(result.id) is int and result.type in (EVENT, ACK))
    if result.type in (EVENT, ACK):
        assert type(result.data) is list
    _check_plain(result.data)


def _check_plain(value: Any) -> None:
    """Only the types the decoder promises, at any depth."""
    stack = [value]
    while stack:
        v = stack.pop()
        if type(v) is list:
            stack.extend(v)
        elif type(v) is dict:
            assert all(type(k) is str for k in v)
            stack.extend(v.values())
        else:
            assert v is None or type(v) in (bool, int, float, str, bytes, datetime), v


@settings(max_examples=examples(300), deadline=None, database=None)
@given(st.binary(max_size=40))
def test_arbitrary_bytes_only_raise_protocol_error(frame: bytes) -> None:
    _check_never_raises_other(frame)
    _ext_formats(frame)


wild: st.SearchStrategy[Any] = st.recursive(
    leaves
    | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=17))
    | st.sampled_from(list(RESERVED_EVENTS) + ["/", "/a,b", "", "type", "data"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=3) | st.binary(max_size=2), children, max_size=3)
    ),
    max_leaves=8,
)
packet_maps = st.dictionaries(
    st.sampled_from(["type", "nsp", "data", "id", "x"]),
    wild | st.integers(-1, 8) | namespaces | ack_ids,
    max_size=5,
)


@settings(max_examples=examples(300), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(packet_maps | wild)
def test_packet_like_maps_only_raise_protocol_error(obj: Any) -> None:
    try:
        frame = pack(obj)
    except (ValueError, TypeError, OverflowError):  # e.g. an ExtType -1 that is no valid timestamp
        return
    _check_never_raises_other(frame)


@settings(max_examples=examples(200), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([EVENT, ACK]), event_names, st.lists(values, max_size=3), st.data())
def test_damaged_frames_only_raise_protocol_error(ptype: int, name: Any, args: list[Any], draw: Any) -> None:
    frame = bytearray(MsgpackEncoder().encode(ptype, "/", [name, *args], 1)[0])
    for _ in range(draw.draw(st.integers(1, 3))):
        op = draw.draw(st.sampled_from(["set", "cut", "insert"]))
        at = draw.draw(st.integers(0, len(frame)))
        if op == "set" and at < len(frame):
            frame[at] = draw.draw(st.integers(0, 255))
        elif op == "cut":
            del frame[at:]
        else:
            frame[at:at] = draw.draw(st.binary(min_size=1, max_size=3))
    _check_never_raises_other(bytes(frame))


# ---------------------------------------------------------------- length prefixes, nesting, memory

# msgpack headers that announce a length: (first byte, width of the length field)
LENGTH_HEADERS = [
    (0xC4, 1),
    (0xC5, 2),
    (0xC6, 4),  # bin 8/16/32
    (0xD9, 1),
    (0xDA, 2),
    (0xDB, 4),  # str 8/16/32
    (0xDC, 2),
    (0xDD, 4),  # array 16/32
    (0xDE, 2),
    (0xDF, 4),  # map 16/32
    (0xC7, 1),
    (0xC8, 2),
    (0xC9, 4),  # ext 8/16/32 (a type byte follows the length)
]
EVENT_PREFIX = h("83 a474797065 02 a36e7370 a12f a464617461 92 a161")  # {"type":2,"nsp":"/","data":["a", ...


def _decode_peak(frame: bytes) -> int:
    """Decode *frame* (checking the outcome) and return the peak memory traced meanwhile, in bytes."""
    tracemalloc.start()
    try:
        _check_never_raises_other(frame)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@settings(max_examples=examples(200), deadline=None, database=None)
@given(
    st.sampled_from(LENGTH_HEADERS),
    st.integers(0, 2**32 - 1) | st.integers(0, 300),
    st.binary(max_size=40),
    st.booleans(),
)
def test_giant_length_prefixes_are_refused_without_allocating(
    header: tuple[int, int], length: int, body: bytes, inside: bool
) -> None:
    byte, width = header
    length %= 1 << (8 * width)
    value = bytes([byte]) + length.to_bytes(width, "big") + (b"\x00" if byte in (0xC7, 0xC8, 0xC9) else b"") + body
    frame = EVENT_PREFIX + value if inside else value
    # msgpack allocates for what the frame holds, never for what a header announces
    assert _decode_peak(frame) < 64 * 1024 + 64 * len(frame)


@settings(max_examples=examples(100), deadline=None, database=None)
@given(st.integers(0, 100_000), st.sampled_from([b"\x91", b"\x81\xa1k", b"\xdc\x00\x01", b"\xde\x00\x01\xa1k"]))
def test_deep_nesting_only_raises_protocol_error(depth: int, opener: bytes) -> None:
    frame = EVENT_PREFIX + opener * depth + b"\xc0"
    try:
        packet = MsgpackDecoder().feed_binary(frame)
    except ProtocolError as exc:
        assert "nested too deeply" in str(exc)
        assert depth > 500
        return
    assert packet is not None
    value = packet.data[1]
    for _ in range(depth):
        value = value[0] if opener[0] in (0x91, 0xDC) else value["k"]
    assert value is None


@settings(max_examples=examples(200), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([EVENT, ACK]), event_names, st.lists(values, max_size=3), st.data())
def test_lengths_rewritten_in_valid_frames(ptype: int, name: Any, args: list[Any], draw: Any) -> None:
    """Overwrite a length field of a real frame with another, maybe huge, length."""
    frame = bytearray(MsgpackEncoder().encode(ptype, "/", [name, *args], 1)[0])
    at = draw.draw(st.integers(0, len(frame) - 1))
    byte, width = draw.draw(st.sampled_from(LENGTH_HEADERS))
    length = draw.draw(st.integers(0, (1 << (8 * width)) - 1))
    frame[at : at + 1 + width] = bytes([byte]) + length.to_bytes(width, "big")
    assert _decode_peak(bytes(frame)) < 64 * 1024 + 64 * len(frame)


def test_event_prefix_is_what_msgpack_writes() -> None:
    assert EVENT_PREFIX + h("c0") == pack({"type": 2, "nsp": "/", "data": ["a", None]})
