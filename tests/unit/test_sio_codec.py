"""Tests of the Socket.IO v5 codec (greensio._core.sio)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greensio._core.sio import (
    ACK,
    BINARY_ACK,
    BINARY_EVENT,
    CONNECT,
    CONNECT_ERROR,
    DISCONNECT,
    EVENT,
    MAX_DEPTH,
    RESERVED_EVENTS,
    Decoder,
    Encoder,
    Packet,
)
from greensio._exceptions import ProtocolError

PH0 = '{"_placeholder":true,"num":0}'
PH1 = '{"_placeholder":true,"num":1}'


def examples(n: int) -> int:
    """*n* examples, or the soak profile's budget when tests/soak/fuzz_run.py runs this file."""
    return settings().max_examples if settings.get_current_profile_name() == "soak" else n


def test_constants() -> None:
    assert (CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR, BINARY_EVENT, BINARY_ACK) == tuple(range(7))
    assert (
        frozenset({"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"})
        == RESERVED_EVENTS
    )


# ---------------------------------------------------------------- Packet


def test_packet_defaults_repr_eq() -> None:
    p = Packet(EVENT)
    assert (p.type, p.nsp, p.data, p.id) == (EVENT, "/", None, None)
    q = Packet(EVENT, "/chat", ["a", b"\x00"], 3)
    assert repr(q) == "Packet(type=2, nsp='/chat', data=['a', b'\\x00'], id=3)"
    assert q == Packet(EVENT, "/chat", ["a", b"\x00"], 3)
    assert q != Packet(EVENT, "/chat", ["a", b"\x00"], 4)
    assert q != Packet(ACK, "/chat", ["a", b"\x00"], 3)
    assert q != Packet(EVENT, "/", ["a", b"\x00"], 3)
    assert q != Packet(EVENT, "/chat", ["a", b"\x01"], 3)
    assert q != ("not", "a", "packet")
    assert not hasattr(q, "__dict__")
    with pytest.raises(TypeError):
        hash(q)


# ---------------------------------------------------------------- encoder

ENCODINGS: list[tuple[int, str, Any, int | None, str, list[bytes]]] = [
    # (type, nsp, data, id, text, attachments)
    (CONNECT, "/", None, None, "0", []),
    (CONNECT, "/admin", None, None, "0/admin,", []),
    (CONNECT, "/admin", {"token": "123"}, None, '0/admin,{"token":"123"}', []),
    (CONNECT, "/", {"sid": "oSO0OpakMV_3jnilAAAA"}, None, '0{"sid":"oSO0OpakMV_3jnilAAAA"}', []),
    (DISCONNECT, "/", None, None, "1", []),
    (DISCONNECT, "/admin", None, None, "1/admin,", []),
    (EVENT, "/", ["foo"], None, '2["foo"]', []),
    (EVENT, "/admin", ["bar"], None, '2/admin,["bar"]', []),
    (EVENT, "/", ["foo"], 12, '212["foo"]', []),
    (EVENT, "/test", ["a", 1, {}], 1, '2/test,1["a",1,{}]', []),
    (EVENT, "/", [1, "a", {}], None, '2[1,"a",{}]', []),
    (
        EVENT,
        "/",
        ["a", None, True, 1.5, [], {"k": [1, {"z": None}]}],
        None,
        '2["a",null,true,1.5,[],{"k":[1,{"z":null}]}]',
        [],
    ),
    (EVENT, "/", ["é", "€", "\U0001f600"], None, '2["é","€","\U0001f600"]', []),  # UTF-8, not \u escapes
    (EVENT, "/", ("tuple", 1), None, '2["tuple",1]', []),
    (ACK, "/", [], 0, "30[]", []),
    (ACK, "/", ["a", 1, {}], 123, '3123["a",1,{}]', []),
    (ACK, "/admin", ["bar"], 13, '3/admin,13["bar"]', []),
    (CONNECT_ERROR, "/", {"message": "Not authorized"}, None, '4{"message":"Not authorized"}', []),
    (CONNECT_ERROR, "/", "Unauthorized", None, '4"Unauthorized"', []),
    (CONNECT_ERROR, "/admin", {"message": "x", "data": {"a": 1}}, None, '4/admin,{"message":"x","data":{"a":1}}', []),
    (EVENT, "/", ["baz", b"\x01\x02\x03\x04"], None, f'51-["baz",{PH0}]', [b"\x01\x02\x03\x04"]),
    (
        EVENT,
        "/admin",
        ["baz", b"\x01\x02", b"\x03\x04"],
        None,
        f'52-/admin,["baz",{PH0},{PH1}]',
        [b"\x01\x02", b"\x03\x04"],
    ),
    (ACK, "/", ["bar", b"\x01\x02\x03\x04"], 15, f'61-15["bar",{PH0}]', [b"\x01\x02\x03\x04"]),
    (ACK, "/back", ["a", bytearray(b"xxx"), {}], 127, f'61-/back,127["a",{PH0},{{}}]', [b"xxx"]),
    (EVENT, "/cool", ["a", {"b": ["c", b"abc"]}], 23, f'51-/cool,23["a",{{"b":["c",{PH0}]}}]', [b"abc"]),
    (EVENT, "/", ["a", memoryview(b"\x00\x01\x02\x03\x04")], 0, f'51-0["a",{PH0}]', [b"\x00\x01\x02\x03\x04"]),
    (
        EVENT,
        "/deep",
        ["a", {"a": "hi", "b": {"why": bytearray(3)}, "c": {"a": "bye", "b": {"a": memoryview(bytes(6))}}}],
        999,
        f'52-/deep,999["a",{{"a":"hi","b":{{"why":{PH0}}},"c":{{"a":"bye","b":{{"a":{PH1}}}}}}}]',
        [bytes(3), bytes(6)],
    ),
    (
        EVENT,
        "/",
        ["a", {"a": "b", "c": 4, "e": {"g": None}, "h": b"\x09" * 9}],
        600,
        f'51-600["a",{{"a":"b","c":4,"e":{{"g":null}},"h":{PH0}}}]',
        [b"\x09" * 9],
    ),
    (
        EVENT,
        "/",
        ["x", [[[[b"1"]]]], b"2", {"k": [b"3", {"z": b"4"}]}],
        None,
        '54-["x",[[[['
        + PH0
        + "]]]],"
        + PH1
        + ',{"k":[{"_placeholder":true,"num":2},{"z":{"_placeholder":true,"num":3}}]}]',
        [b"1", b"2", b"3", b"4"],
    ),
    (EVENT, "/", ["same", b"q", b"q"], None, f'52-["same",{PH0},{PH1}]', [b"q", b"q"]),
    (EVENT, "/", ["empty", b""], None, f'51-["empty",{PH0}]', [b""]),
    (BINARY_EVENT, "/", ["no-binary"], None, '2["no-binary"]', []),  # normalised to EVENT
    (BINARY_ACK, "/", ["no-binary"], 4, '34["no-binary"]', []),
    (BINARY_EVENT, "/", ["bin", b"z"], 1, f'51-1["bin",{PH0}]', [b"z"]),
]


@pytest.mark.parametrize(("ptype", "nsp", "data", "pid", "text", "attachments"), ENCODINGS)
def test_encode_table(ptype: int, nsp: str, data: Any, pid: int | None, text: str, attachments: list[bytes]) -> None:
    out_text, out_atts = Encoder().encode(ptype, nsp, data, pid)
    assert out_text == text
    assert out_atts == attachments
    assert all(type(a) is bytes for a in out_atts)


def _custom_dumps_without_default(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("dumps", [orjson.dumps, _custom_dumps_without_default], ids=["orjson", "no-default"])
@pytest.mark.parametrize(("ptype", "nsp", "data", "pid", "text", "attachments"), ENCODINGS)
def test_encode_table_custom_dumps(
    dumps: Any, ptype: int, nsp: str, data: Any, pid: int | None, text: str, attachments: list[bytes]
) -> None:
    out_text, out_atts = Encoder(dumps).encode(ptype, nsp, data, pid)
    assert out_text == text
    assert out_atts == attachments
    assert all(type(a) is bytes for a in out_atts)


def test_encode_does_not_mutate_input() -> None:
    payload = {"k": [b"1", bytearray(b"2")]}
    data = ["a", payload, b"3"]
    for encoder in (Encoder(), Encoder(orjson.dumps), Encoder(_custom_dumps_without_default)):
        encoder.encode(EVENT, "/", data)
        assert data == ["a", {"k": [b"1", bytearray(b"2")]}, b"3"]
        assert data[1] is payload


def test_encode_attachment_identity_and_conversion() -> None:
    raw = b"abc"
    _, atts = Encoder().encode(EVENT, "/", ["a", raw, bytearray(b"de"), memoryview(b"abcdef")[::2]])
    assert atts[0] is raw  # bytes are passed through without a copy
    assert atts[1:] == [b"de", b"ace"]


def test_encode_lone_surrogate_is_escaped() -> None:
    # JSON.stringify escapes lone surrogates; plain UTF-8 cannot carry them.
    assert Encoder().encode(EVENT, "/", ["a", "\ud800é", b"x"]) == (f'51-["a","\\ud800\\u00e9",{PH0}]', [b"x"])
    text, _ = Encoder().encode(EVENT, "/", ["a", "\udfff"])
    assert text == '2["a","\\udfff"]'
    text.encode("utf-8")


def test_encoder_reusable_after_errors() -> None:
    enc = Encoder()
    shared = ["shared"]
    with pytest.raises(TypeError, match="not JSON serializable"):
        enc.encode(EVENT, "/", ["a", shared, b"x", object()])
    # neither the attachment of the failed call nor a stale circular marker leaks
    assert enc.encode(EVENT, "/", ["a", shared, b"y"]) == (f'51-["a",["shared"],{PH0}]', [b"y"])


@pytest.mark.parametrize("dumps", [json.dumps, orjson.dumps, _custom_dumps_without_default])
@pytest.mark.parametrize(
    ("ptype", "nsp", "data", "exc"),
    [
        (EVENT, "/", ["a", object()], TypeError),
        (EVENT, "/", ["a", {1j: 1}], TypeError),
        (EVENT, "/", ["a", {("t",): 1}], TypeError),
        (CONNECT, "/", {"token": b"binary"}, TypeError),
        (CONNECT_ERROR, "/", {"x": [b"binary"]}, TypeError),
        (7, "/", ["a"], ValueError),
        (-1, "/", ["a"], ValueError),
        (EVENT, "admin", ["a"], ValueError),
        (EVENT, "/a,b", ["a"], ValueError),
    ],
)
def test_encode_bad_input(dumps: Any, ptype: int, nsp: str, data: Any, exc: type[Exception]) -> None:
    with pytest.raises(exc) as info:
        Encoder(dumps).encode(ptype, nsp, data)
    assert not isinstance(info.value, ProtocolError)


def test_encode_bad_numbers_and_cycles() -> None:
    enc = Encoder()
    with pytest.raises(ValueError, match="JSON compliant"):
        enc.encode(EVENT, "/", ["a", float("nan")])
    with pytest.raises(ValueError, match="JSON compliant"):
        enc.encode(EVENT, "/", ["a", float("inf")])
    loop: list[Any] = ["a"]
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        enc.encode(EVENT, "/", loop)
    loop_with_bytes: list[Any] = ["a", b"x"]
    loop_with_bytes.append(loop_with_bytes)
    with pytest.raises(ValueError, match="Circular"):
        enc.encode(EVENT, "/", loop_with_bytes)
    with pytest.raises(ValueError, match="too deeply"):
        Encoder(_custom_dumps_without_default).encode(EVENT, "/", loop_with_bytes)
    assert enc.encode(EVENT, "/", ["ok"]) == ('2["ok"]', [])


def test_encode_int_keys_are_stringified_like_python_json() -> None:
    assert Encoder().encode(EVENT, "/", ["a", {1: 2, None: 3}]) == ('2["a",{"1":2,"null":3}]', [])


def test_encoded_packets_are_accepted_by_python_socketio() -> None:
    from socketio import packet as psio  # noqa: PLC0415

    for ptype, nsp, data, pid, _, attachments in ENCODINGS:
        text, atts = Encoder().encode(ptype, nsp, data, pid)
        theirs = psio.Packet(encoded_packet=text)
        for att in atts:
            theirs.add_attachment(att)
        expected_type = ptype if ptype < BINARY_EVENT else ptype - 3
        if attachments:
            expected_type += 3
        assert theirs.packet_type == expected_type
        assert (theirs.namespace or "/") == nsp
        assert theirs.id == pid
        assert theirs.data == _plain(data)


def _plain(obj: Any) -> Any:
    """*obj* as a JSON round trip would return it (bytes-likes as bytes)."""
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj)
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


# ---------------------------------------------------------------- decoder

DECODINGS: list[tuple[str, Packet]] = [
    ("0", Packet(CONNECT, "/", None, None)),
    ('0{"sid":"wZX3oN0bSVIhsaknAAAI"}', Packet(CONNECT, "/", {"sid": "wZX3oN0bSVIhsaknAAAI"})),
    ('0/admin,{"sid":"x","pid":"y"}', Packet(CONNECT, "/admin", {"sid": "x", "pid": "y"})),
    ("0/admin,", Packet(CONNECT, "/admin")),
    ("0/admin", Packet(CONNECT, "/admin")),
    ("0/,", Packet(CONNECT, "/")),
    ("1", Packet(DISCONNECT)),
    ("1/admin,", Packet(DISCONNECT, "/admin")),
    ("1/admin", Packet(DISCONNECT, "/admin")),
    ('2["foo"]', Packet(EVENT, "/", ["foo"])),
    ('2["hey","Jude"]', Packet(EVENT, "/", ["hey", "Jude"])),
    ('2/admin,["bar"]', Packet(EVENT, "/admin", ["bar"])),
    ('212["foo"]', Packet(EVENT, "/", ["foo"], 12)),
    ('2/test,1["a",1,{}]', Packet(EVENT, "/test", ["a", 1, {}], 1)),
    ('2/a/b.c-d,007["x"]', Packet(EVENT, "/a/b.c-d", ["x"], 7)),
    ('2[1,"a",{}]', Packet(EVENT, "/", [1, "a", {}])),  # upstream: "with an integer as event name"
    ("2[1.5]", Packet(EVENT, "/", [1.5])),
    ('2["connected"]', Packet(EVENT, "/", ["connected"])),
    ('2["é","\\u20ac",{"n":null}]', Packet(EVENT, "/", ["é", "€", {"n": None}])),
    ('2["trailing space is JSON whitespace"] ', Packet(EVENT, "/", ["trailing space is JSON whitespace"])),
    ('2["x",{"_placeholder":true,"num":0}]', Packet(EVENT, "/", ["x", {"_placeholder": True, "num": 0}])),
    ("30[]", Packet(ACK, "/", [], 0)),
    ('3123["a",1,{}]', Packet(ACK, "/", ["a", 1, {}], 123)),
    ('3/admin,13["bar"]', Packet(ACK, "/admin", ["bar"], 13)),
    ('3/chat,1234567890123456["x"]', Packet(ACK, "/chat", ["x"], 1234567890123456)),
    ('4{"message":"Not authorized"}', Packet(CONNECT_ERROR, "/", {"message": "Not authorized"})),
    ('4"Unauthorized"', Packet(CONNECT_ERROR, "/", "Unauthorized")),
    ('4/admin,{"message":"x","data":{"a":1}}', Packet(CONNECT_ERROR, "/admin", {"message": "x", "data": {"a": 1}})),
    ('50-["a"]', Packet(EVENT, "/", ["a"])),  # labelled binary, nothing attached
    ("60-5[]", Packet(ACK, "/", [], 5)),
]


@pytest.mark.parametrize("loads", [json.loads, orjson.loads], ids=["json", "orjson"])
@pytest.mark.parametrize(("text", "packet"), DECODINGS)
def test_decode_table(loads: Any, text: str, packet: Packet) -> None:
    dec = Decoder(loads)
    assert dec.feed_text(text) == packet
    assert dec.feed_text('2["next"]') == Packet(EVENT, "/", ["next"])  # no state left behind


BINARY_DECODINGS: list[tuple[str, list[bytes], Packet]] = [
    (f'51-["baz",{PH0}]', [b"\x01\x02\x03\x04"], Packet(EVENT, "/", ["baz", b"\x01\x02\x03\x04"])),
    (
        f'52-/admin,["baz",{PH0},{PH1}]',
        [b"\x01\x02", b"\x03\x04"],
        Packet(EVENT, "/admin", ["baz", b"\x01\x02", b"\x03\x04"]),
    ),
    (
        f'52-/admin,["baz",{PH1},{PH0}]',
        [b"\x01\x02", b"\x03\x04"],
        Packet(EVENT, "/admin", ["baz", b"\x03\x04", b"\x01\x02"]),
    ),
    (f'61-15["bar",{PH0}]', [b"\x01"], Packet(ACK, "/", ["bar", b"\x01"], 15)),
    (f"61-/admin,1[{PH0}]", [b"bin"], Packet(ACK, "/admin", [b"bin"], 1)),
    (f'51-/cool,23["a",{{"b":["c",{PH0}]}}]', [b"abc"], Packet(EVENT, "/cool", ["a", {"b": ["c", b"abc"]}], 23)),
    (
        f'52-["x",[[[{PH1}]]],{{"k":{{"z":{PH0}}}}}]',
        [b"0", b"1"],
        Packet(EVENT, "/", ["x", [[[b"1"]]], {"k": {"z": b"0"}}]),
    ),
    (f'52-["twice",{PH0},{PH0}]', [b"a", b"unused"], Packet(EVENT, "/", ["twice", b"a", b"a"])),
    ('51-["extra keys",{"_placeholder":true,"num":0,"x":1}]', [b"a"], Packet(EVENT, "/", ["extra keys", b"a"])),
    (
        '51-["not a placeholder",{"_placeholder":1,"num":0}]',
        [b"a"],
        Packet(EVENT, "/", ["not a placeholder", {"_placeholder": 1, "num": 0}]),
    ),
    (f'51-["empty",{PH0}]', [b""], Packet(EVENT, "/", ["empty", b""])),
]


@pytest.mark.parametrize("loads", [json.loads, orjson.loads], ids=["json", "orjson"])
@pytest.mark.parametrize(("text", "attachments", "packet"), BINARY_DECODINGS)
def test_decode_binary_table(loads: Any, text: str, attachments: list[bytes], packet: Packet) -> None:
    dec = Decoder(loads)
    assert dec.feed_text(text) is None
    for att in attachments[:-1]:
        assert dec.feed_binary(att) is None
    result = dec.feed_binary(attachments[-1])
    assert result == packet
    assert dec.feed_text('2["next"]') == Packet(EVENT, "/", ["next"])


def test_decode_binary_accepts_bytes_like_attachments() -> None:
    dec = Decoder()
    assert dec.feed_text(f'52-["a",{PH0},{PH1}]') is None
    assert dec.feed_binary(bytearray(b"xy")) is None  # type: ignore[arg-type]
    result = dec.feed_binary(memoryview(b"z"))  # type: ignore[arg-type]
    assert result == Packet(EVENT, "/", ["a", b"xy", b"z"])
    assert result is not None
    assert [type(v) for v in result.data[1:]] == [bytes, bytes]


def test_reset_drops_partial_packet() -> None:
    # upstream parser.js: "should resume decoding after calling destroy()"
    dec = Decoder()
    assert dec.feed_text('51-["hello"]') is None
    dec.reset()
    assert dec.feed_text('2["hello"]') == Packet(EVENT, "/", ["hello"])
    with pytest.raises(ProtocolError, match="not reconstructing"):
        dec.feed_binary(b"late")
    dec.reset()  # idempotent


def test_decoder_usable_after_failed_reconstruction() -> None:
    dec = Decoder()
    assert dec.feed_text('51-["a",{"_placeholder":true,"num":9}]') is None
    with pytest.raises(ProtocolError, match="placeholder"):
        dec.feed_binary(b"x")
    assert dec.feed_text('2["b"]') == Packet(EVENT, "/", ["b"])


def test_max_attachments_option() -> None:
    text = f'53-["hello",{PH0},{PH1},{{"_placeholder":true,"num":2}}]'
    with pytest.raises(ProtocolError, match="too many attachments"):
        Decoder(max_attachments=2).feed_text(text)
    dec = Decoder(max_attachments=3)
    assert dec.feed_text(text) is None
    assert dec.feed_binary(b"0") is None
    assert dec.feed_binary(b"1") is None
    assert dec.feed_binary(b"2") == Packet(EVENT, "/", ["hello", b"0", b"1", b"2"])
    assert Decoder().max_attachments == 10


INVALID_TEXT: list[tuple[str, str]] = [
    # upstream parser.js "throw an error upon parsing error" (invalid payload)
    ('442["some","data"', "JSON|payload"),
    ('0/admin,"invalid"', "CONNECT"),
    ("0[]", "CONNECT"),
    ("1/admin,{}", "DISCONNECT"),
    ('2/admin,"invalid', "JSON|array"),
    ("2/admin,{}", "array"),
    ('2[{"toString":"foo"}]', "event name"),
    ('2[true,"foo"]', "event name"),
    ('2[null,"bar"]', "event name"),
    ('2["connect"]', "reserved"),
    ('2["disconnect","123"]', "reserved"),
    # upstream parser.js "throw an error upon parsing error" (Illegal attachments) and "decodes a bad binary packet"
    ("5", "attachments"),
    ("51", "attachments"),
    ("5a-", "attachments"),
    ("51.23-", "attachments"),
    # upstream parser.js "throw an error upon parsing error" (unknown packet type)
    ("999", "unknown"),
    # upstream isPacketValid cases ("should ensure that a packet is valid") as wire packets
    ('0/admin,"invalid"', "CONNECT"),
    ('2/admin,"invalid"', "array"),
    ('2{"toString":"foo"}', "array"),
    # ours: packet type
    ("", "empty"),
    ("7", "unknown"),
    ("a", "unknown"),
    (" 2[]", "unknown"),
    ("\x00", "unknown"),
    ('٢["a"]', "unknown"),  # non-ASCII digit
    # ours: attachment count
    ('5-["a"]', "attachments"),
    ('5+1-["a"]', "attachments"),
    ('5-1-["a"]', "attachments"),
    ('5 1-["a"]', "attachments"),
    ('5١-["a"]', "attachments"),  # ARABIC-INDIC DIGIT ONE
    ('5²-["a"]', "attachments"),  # SUPERSCRIPT TWO
    ('511-["a"]', "too many"),
    ('599999999999-["a"]', "attachments"),
    ("5" + "9" * 5000 + '-["a"]', "attachments"),
    ("6", "attachments"),
    # ours: ack id
    ('2 ["a"]', "ack id"),
    ('2-1["a"]', "ack id"),
    ('2١["a"]', "ack id"),
    ("2" + "1" * 65 + '["a"]', "ack id"),
    ("2" + "1" * 5000, "ack id"),
    ("212", "ack id"),
    ('2["x",NaN]', "JSON"),  # socket.io-parser: JSON.parse refuses NaN and ±Infinity
    ('2["x",Infinity]', "JSON"),
    ('2/admin,["x",-Infinity]', "JSON"),
    ("3/admin,7[NaN]", "JSON"),
    ('6-["a"]', "attachments"),
    ('0/admin,12{"sid":"x"}', "JSON"),
    ("1/admin,5", "DISCONNECT"),
    ('412"x"', "JSON"),
    # ours: payload
    ("2", "requires"),
    ("2/admin,", "requires"),
    ("2/admin", "requires"),
    # ours: namespace
    ('2/admin["x"]', "namespace"),  # no comma: the whole rest would be the namespace
    ('0/admin{"sid":"x"}', "namespace"),
    ('1/admin"x"', "namespace"),
    ("3/admin,1", "requires|ack id"),
    ("4", "requires"),
    ("4/admin,", "requires"),
    ("2[]", "non-empty"),
    ('2{"a":1}', "array"),
    ('2"x"', "array"),
    ("2null", "array"),
    ('2["newListener"]', "reserved"),
    ('2["removeListener"]', "reserved"),
    ('2["disconnecting"]', "reserved"),
    ('2["connect_error",{}]', "reserved"),
    ('2[["nested"]]', "event name"),
    ('51-["connect",{"_placeholder":true,"num":0}]', "reserved"),
    ('31{"a":1}', "array"),
    ("0null", "CONNECT"),
    ('0"x"', "CONNECT"),
    ("01", "CONNECT"),
    ("1null", "DISCONNECT"),
    ("1{}", "DISCONNECT"),
    ("4null", "CONNECT_ERROR"),
    ("4[]", "CONNECT_ERROR"),
    ("44", "CONNECT_ERROR"),
    # ours: JSON syntax
    ('2["a",1', "JSON"),
    ('2["a"]x', "JSON"),
    ('2["a"]]', "JSON"),
    ('2["a"],["b"]', "JSON"),
    ("2['a']", "JSON"),
    ('2\ufeff["a"]', "ack id"),
    ('0{"a":1,}', "JSON"),
    ('0{"a"}', "JSON"),
    ('2["a",' + "1" * 5000 + "]", "JSON"),  # int too long for Python's int parsing limit
    ("2" + "[" * 100_000 + "]" * 100_000, "JSON"),  # RecursionError inside json
    ('0{"x":' * 50_000 + "1" + "}" * 50_000, "JSON"),
    ('2["a","\\ud800\\x"]', "JSON"),
    ('2["a\x00"]', "JSON"),  # raw control character inside a string
    # ours: binary packet with 0 attachments but a placeholder (nothing to fill it with)
    (f'50-["a",{PH0}]', "placeholder"),
]


@pytest.mark.parametrize("loads", [json.loads, orjson.loads], ids=["json", "orjson"])
@pytest.mark.parametrize(
    ("text", "nsp"),
    [("3[]", "/"), ('3/admin,["a"]', "/admin"), ("3" + "9" * 17 + "[1]", "/"), ("3" + "9" * 64 + "[]", "/")],
)
def test_an_ack_without_a_usable_id_decodes_with_no_id(loads: Any, text: str, nsp: str) -> None:
    # the reference client looks the id up, finds nothing and ignores the ACK: so does the session
    packet = Decoder(loads).feed_text(text)
    assert packet is not None and (packet.type, packet.nsp) == (ACK, nsp)
    assert packet.id is None or packet.id >= 10**16


def test_a_binary_ack_without_id_decodes_with_no_id() -> None:
    dec = Decoder()
    assert dec.feed_text('61-[{"_placeholder":true,"num":0}]') is None
    packet = dec.feed_binary(b"x")
    assert packet is not None and (packet.type, packet.id, packet.data) == (ACK, None, [b"x"])


@pytest.mark.parametrize("loads", [json.loads, orjson.loads], ids=["json", "orjson"])
@pytest.mark.parametrize(("text", "match"), INVALID_TEXT)
def test_decode_invalid_text(loads: Any, text: str, match: str) -> None:
    dec = Decoder(loads)
    with pytest.raises(ProtocolError, match=match):
        dec.feed_text(text)


INVALID_BINARY: list[tuple[str, list[bytes], str]] = [
    # upstream buffer.js "invalid 'num' attribute (string)"
    ('51-["hello",{"_placeholder":true,"num":"splice"}]', [b"world"], "placeholder"),
    # upstream buffer.js "invalid 'num' attribute (out-of-bound)"
    ('51-["hello",{"_placeholder":true,"num":1}]', [b"world"], "placeholder"),
    # ours
    ('51-["hello",{"_placeholder":true,"num":-1}]', [b"world"], "placeholder"),
    ('51-["hello",{"_placeholder":true,"num":true}]', [b"world"], "placeholder"),
    ('51-["hello",{"_placeholder":true,"num":false}]', [b"world"], "placeholder"),
    ('51-["hello",{"_placeholder":true,"num":0.0}]', [b"world"], "placeholder"),
    ('51-["hello",{"_placeholder":true,"num":null}]', [b"world"], "placeholder"),
    ('51-["hello",{"_placeholder":true}]', [b"world"], "placeholder"),
    ('52-["hello",{"k":{"_placeholder":true,"num":2}}]', [b"a", b"b"], "placeholder"),
    ("51-[" + '"a",' + "[" * (MAX_DEPTH + 5) + PH0 + "]" * (MAX_DEPTH + 5) + "]", [b"x"], "too deeply"),
    ("61-1[" + '{"a":' * (MAX_DEPTH + 5) + PH0 + "}" * (MAX_DEPTH + 5) + "]", [b"x"], "too deeply"),
]


@pytest.mark.parametrize(("text", "attachments", "match"), INVALID_BINARY)
def test_decode_invalid_binary(text: str, attachments: list[bytes], match: str) -> None:
    dec = Decoder()
    assert dec.feed_text(text) is None
    for att in attachments[:-1]:
        assert dec.feed_binary(att) is None
    with pytest.raises(ProtocolError, match=match):
        dec.feed_binary(attachments[-1])


def test_placeholder_depth_limit_is_generous() -> None:
    nested = "[" * (MAX_DEPTH - 1) + PH0 + "]" * (MAX_DEPTH - 1)
    dec = Decoder()
    assert dec.feed_text(f'51-["a",{nested}]') is None
    result = dec.feed_binary(b"x")
    assert result is not None
    inner = result.data[1]
    while isinstance(inner, list):
        inner = inner[0]
    assert inner == b"x"


def test_binary_without_header() -> None:
    # upstream buffer.js "throws an error when adding an attachment without header"
    with pytest.raises(ProtocolError, match="got binary data when not reconstructing a packet"):
        Decoder().feed_binary(b"world")


def test_text_while_reconstructing() -> None:
    # upstream buffer.js "throws an error when decoding a binary event without attachments"
    dec = Decoder()
    assert dec.feed_text(f'51-["hello",{PH0}]') is None
    with pytest.raises(ProtocolError, match="got text data while reconstructing"):
        dec.feed_text('2["hello"]')


def test_wrong_input_types_raise_protocol_error() -> None:
    dec = Decoder()
    with pytest.raises(ProtocolError):
        dec.feed_text(b'2["a"]')  # type: ignore[arg-type]
    with pytest.raises(ProtocolError):
        dec.feed_text(None)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError):
        dec.feed_text(999)  # type: ignore[arg-type]  # upstream: "Unknown type: 999"
    assert dec.feed_text(f'51-["a",{PH0}]') is None
    with pytest.raises(ProtocolError, match="attachment"):
        dec.feed_binary(12)  # type: ignore[arg-type]


def test_loads_exceptions_become_protocol_error() -> None:
    def boom(_: str) -> Any:
        raise KeyError("boom")

    with pytest.raises(ProtocolError, match="boom"):
        Decoder(boom).feed_text('2["a"]')


def test_decode_packets_from_python_socketio() -> None:
    from socketio import packet as psio  # noqa: PLC0415

    cases: list[tuple[int, str | None, Any, int | None]] = [
        (CONNECT, None, {"sid": "abc"}, None),
        (CONNECT, "/admin", {"sid": "abc"}, None),
        (DISCONNECT, "/admin", None, None),
        (EVENT, None, ["hey", "Jude", {"a": [1, 2.5, None]}], None),
        (EVENT, "/chat", ["hey", b"\x00\xff", {"deep": [bytearray(b"x")]}], 77),
        (ACK, "/chat", ["ok", b"bin"], 3),
        (ACK, None, [], 0),
        (CONNECT_ERROR, None, {"message": "Not authorized"}, None),
    ]
    for ptype, nsp, data, pid in cases:
        encoded = psio.Packet(ptype, data=data, namespace=nsp, id=pid).encode()
        frames = encoded if isinstance(encoded, list) else [encoded]
        dec = Decoder()
        result = dec.feed_text(frames[0])
        for frame in frames[1:]:
            assert result is None
            result = dec.feed_binary(frame)
        assert result == Packet(ptype, nsp or "/", _plain(data), pid)


# ---------------------------------------------------------------- properties

json_leaf: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.binary(max_size=4).map(bytearray)
    | st.binary(max_size=4).map(lambda b: memoryview(b))
)
json_values = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=5).filter(lambda k: k != "_placeholder"), children, max_size=3)
    ),
    max_leaves=12,
)
namespaces = st.just("/") | st.text(
    alphabet=st.characters(blacklist_characters=",", blacklist_categories=["Cs"]), max_size=6
).map(lambda s: "/" + s)
event_names = st.text(max_size=10).filter(lambda s: s not in RESERVED_EVENTS) | st.integers(0, 1000)
ack_ids = st.none() | st.integers(min_value=0, max_value=10**15)


def _decode_frames(dec: Decoder, text: str, attachments: list[bytes]) -> Packet | None:
    result = dec.feed_text(text)
    for att in attachments:
        assert result is None
        result = dec.feed_binary(att)
    return result


@settings(max_examples=examples(150), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([EVENT, ACK]),
    namespaces,
    event_names,
    st.lists(json_values, max_size=4),
    ack_ids,
    st.sampled_from(["json", "orjson", "no-default"]),
)
def test_round_trip(ptype: int, nsp: str, name: Any, args: list[Any], pid: int | None, codec: str) -> None:
    if ptype == ACK and pid is None:
        pid = 1
    data = [name, *args] if ptype == EVENT else args
    dumps: Any = {"json": json.dumps, "orjson": orjson.dumps, "no-default": _custom_dumps_without_default}[codec]
    loads: Any = orjson.loads if codec == "orjson" else json.loads
    text, attachments = Encoder(dumps).encode(ptype, nsp, data, pid)
    assert text[0] == str(ptype + 3 if attachments else ptype)
    assert _decode_frames(Decoder(loads, max_attachments=1000), text, attachments) == Packet(
        ptype, nsp, _plain(data), pid
    )


@settings(max_examples=examples(50), deadline=None, database=None)
@given(st.sampled_from([CONNECT, CONNECT_ERROR]), namespaces, st.dictionaries(st.text(max_size=5), st.text(max_size=5)))
def test_round_trip_connect(ptype: int, nsp: str, data: dict[str, str]) -> None:
    text, attachments = Encoder().encode(ptype, nsp, data)
    assert attachments == []
    assert Decoder().feed_text(text) == Packet(ptype, nsp, data)


def _check_never_raises_other(dec: Decoder, frames: list[str | bytes]) -> None:
    for frame in frames:
        try:
            result = dec.feed_text(frame) if isinstance(frame, str) else dec.feed_binary(frame)
        except ProtocolError:
            continue
        assert result is None or isinstance(result, Packet)
        if result is not None:
            assert result.type in (CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR)
            assert result.nsp.startswith("/")


prefixes = st.sampled_from(
    ["", "0", "1", "2", "3", "4", "5", "6", "51-", "52-", "50-", "61-1", "2/admin,", "3/a,12", "5-", "21", "0/", "4/x,"]
)
fragments = st.sampled_from(
    [
        '["a"]',
        "[",
        "]",
        "{",
        "}",
        '"',
        ",",
        "-",
        "/",
        "1",
        "12",
        "null",
        "true",
        PH0,
        PH1,
        '{"_placeholder":true,"num":"x"}',
        '"connect"',
        "[]",
        "{}",
        "\\",
        "\x1e",
        "é",
    ]
)
packet_like = st.builds(
    lambda p, parts, tail: p + "".join(parts) + tail, prefixes, st.lists(fragments, max_size=6), st.text(max_size=4)
)


@settings(max_examples=examples(400), deadline=None, database=None)
@given(st.text(max_size=30) | packet_like)
def test_feed_text_only_raises_protocol_error(text: str) -> None:
    _check_never_raises_other(Decoder(max_attachments=3), [text])


@settings(max_examples=examples(200), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(packet_like | st.text(max_size=10) | st.binary(max_size=6), max_size=8))
def test_frame_sequences_only_raise_protocol_error(frames: list[str | bytes]) -> None:
    _check_never_raises_other(Decoder(max_attachments=3), frames)
    _check_never_raises_other(Decoder(orjson.loads, max_attachments=3), frames)


# ---------------------------------------------------------------- mutations and memory


def _retained(dec: Decoder) -> tuple[int, int]:
    """White-box: (attachments held, attachments announced) of a partly received binary packet."""
    return len(dec._buffers), dec._expected


def _feed_checked(dec: Decoder, frames: list[str | bytes]) -> None:
    """Feed *frames*: only packets, None or ProtocolError, and never more kept than the packet announced."""
    for frame in frames:
        try:
            result = dec.feed_text(frame) if isinstance(frame, str) else dec.feed_binary(frame)
        except ProtocolError:
            result = None
        else:
            assert result is None or type(result) is Packet
            if result is not None:
                assert result.type in (CONNECT, DISCONNECT, EVENT, ACK, CONNECT_ERROR)
                assert type(result.nsp) is str and result.nsp.startswith("/")
                assert result.id is None or (type(result.id) is int and result.type in (EVENT, ACK))
        held, expected = _retained(dec)
        assert expected <= dec.max_attachments
        assert held < expected or held == expected == 0
    dec.reset()
    assert _retained(dec) == (0, 0)


text_chars = st.sampled_from(list('0123456789-/,[]{}":\\_placeholdrumtfs ')) | st.characters(codec="utf-8")


def _mutate(data: st.DataObject, text: str) -> str:
    """*text* with a few characters replaced, inserted (placeholders too) or deleted, or cut."""
    for _ in range(data.draw(st.integers(1, 3))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
        at = data.draw(st.integers(0, len(text)))
        if op == "flip" and at < len(text):
            text = text[:at] + data.draw(text_chars) + text[at + 1 :]
        elif op == "insert":
            piece = data.draw(st.text(text_chars, min_size=1, max_size=4) | st.sampled_from([PH0, PH1]))
            text = text[:at] + piece + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 6)) :]
        elif op == "cut":
            text = text[:at]
    return text


@settings(max_examples=examples(300), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([EVENT, ACK]), namespaces, event_names, st.lists(json_values, max_size=4), ack_ids, st.data())
def test_mutated_packets_only_raise_protocol_error(
    ptype: int, nsp: str, name: Any, args: list[Any], pid: int | None, data: st.DataObject
) -> None:
    text, attachments = Encoder().encode(ptype, nsp, [name, *args], pid)
    frames: list[str | bytes] = [text, *attachments]
    if data.draw(st.booleans()):
        frames[0] = _mutate(data, text)
    edit = data.draw(st.sampled_from(["keep", "drop", "extra", "text", "swap"]))
    if edit == "drop" and attachments:  # a truncated binary packet, then the next packet
        del frames[data.draw(st.integers(1, len(frames) - 1)) :]
        frames.append('2["next"]')
    elif edit == "extra":
        frames.insert(data.draw(st.integers(1, len(frames))), data.draw(st.binary(max_size=8)))
    elif edit == "text":
        frames.insert(data.draw(st.integers(1, len(frames))), data.draw(st.text(max_size=8)))
    elif edit == "swap" and len(frames) > 2:
        frames[1], frames[2] = frames[2], frames[1]
    _feed_checked(Decoder(max_attachments=data.draw(st.integers(0, 12))), frames)


@settings(max_examples=examples(200), deadline=None, database=None)
@given(
    st.integers(0, 10**30) | st.integers(0, 20),
    st.integers(0, 12),
    st.lists(st.binary(max_size=4) | st.text(max_size=6), max_size=25),
)
def test_announced_attachments_bound_what_is_kept(count: int, limit: int, frames: list[str | bytes]) -> None:
    """A header announcing more than max_attachments is refused before anything is kept."""
    dec = Decoder(max_attachments=limit)
    header = f'5{count}-["a"' + "".join(f',{{"_placeholder":true,"num":{i}}}' for i in range(min(count, 20))) + "]"
    try:
        pending = dec.feed_text(header)
    except ProtocolError:
        assert count > limit or len(str(count)) > 10
        pending = None
    else:
        assert count <= limit
        assert (pending is None) == (count > 0)
    _feed_checked(dec, frames)


@settings(max_examples=examples(100), deadline=None, database=None)
@given(
    st.integers(0, 3 * MAX_DEPTH) | st.integers(0, 100_000),
    st.sampled_from(["[", '{"k":']),
    st.booleans(),
    st.sampled_from(["json", "orjson"]),
)
def test_deep_nesting_only_raises_protocol_error(depth: int, opener: str, binary: bool, codec: str) -> None:
    closer = "]" if opener == "[" else "}"
    inner = opener * depth + (PH0 if binary else "1") + closer * depth
    dec = Decoder(orjson.loads if codec == "orjson" else json.loads)
    try:
        result = dec.feed_text(f'51-["a",{inner}]' if binary else f'2["a",{inner}]')
        if binary:
            assert result is None
            result = dec.feed_binary(b"x")
    except ProtocolError:
        # placeholders are looked for down to MAX_DEPTH; the JSON parsers stop near 1,000 levels
        assert (binary and depth >= MAX_DEPTH) or depth > 500
        return
    assert not (binary and depth >= MAX_DEPTH)
    assert result is not None and result.data[0] == "a"
    value = result.data[1]
    for _ in range(depth):
        value = value[0] if opener == "[" else value["k"]
    assert value == (b"x" if binary else 1)
