"""Tests of the Engine.IO v3 codec (greensio._core.eio3), the protocol values and detection (protocol)."""

from __future__ import annotations

import json
import math
import time
from typing import Callable, Union

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greensio._core import eio
from greensio._core.eio import TYPES
from greensio._core.eio3 import (
    BINARY_CONTENT_TYPE,
    decode_payload,
    decode_text_payload,
    encode_payload,
    encode_text_payload,
    encoded_length,
    utf16_length,
    ws_decode_binary,
    ws_encode_binary,
)
from greensio._core.engine import EngineState
from greensio._core.engine3 import EngineState3
from greensio._core.protocol import (
    V3,
    V4,
    by_revision,
    detect_open,
    detect_polling,
    detect_refusal,
    is_v3_connect_reply,
)
from greensio._core.sio3 import Link
from greensio._core.url import engine_url, parse_url
from greensio._exceptions import ProtocolError

Packet = Union[str, bytes]

# What the servers sent (tests/v3/test_v3_servers_raw.py shows them).
NODE_HANDSHAKE = (
    b'97:0{"sid":"k1g2SlbJEa_mK3iUAAAA","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}2:40'
)
PY4_HANDSHAKE = (
    b'\x00\x01\x00\x09\xff0{"sid":"71eb133db6134c7a89b2415292c9ea0d","upgrades":["websocket"],'
    b'"pingTimeout":60000,"pingInterval":25000}\x00\x02\xff40'
)
NODE_BINARY = b'\x00\x04\x02\xff451-["echo",{"_placeholder":true,"num":0}]\x01\x04\xff\x04\x01\x02\x03'
PY4_VERSION_REFUSAL = b'"The client is using an unsupported version of the Socket.IO or Engine.IO protocols"'
NODE4_VERSION_REFUSAL = b'{"code":5,"message":"Unsupported protocol version"}'


def examples(n: int) -> int:
    """*n* examples, or the soak profile's budget when tests/soak/fuzz_run.py runs this file."""
    return settings().max_examples if settings.get_current_profile_name() == "soak" else n


# --------------------------------------------------------------------------- decoding: known bodies


def test_node_handshake() -> None:
    packets = decode_payload(NODE_HANDSHAKE)
    assert len(packets) == 2 and packets[1] == "40"
    assert json.loads(packets[0][1:])["sid"] == "k1g2SlbJEa_mK3iUAAAA"


def test_py4_handshake() -> None:
    packets = decode_payload(PY4_HANDSHAKE)
    assert packets[1] == "40"
    assert eio.parse_handshake(packets[0][1:]).ping_timeout == 60.0  # type: ignore[arg-type]


def test_node_binary_framing() -> None:
    assert decode_payload(NODE_BINARY) == ['451-["echo",{"_placeholder":true,"num":0}]', b"\x01\x02\x03"]


def test_protocol_document_examples() -> None:
    assert decode_payload("6:4hello2:4€".encode()) == ["4hello", "4€"]
    assert decode_payload("2:4€10:b4AQIDBA==".encode()) == ["4€", b"\x01\x02\x03\x04"]
    body = bytes([0x00, 0x04, 0xFF, 0x34, 0xE2, 0x82, 0xAC, 0x01, 0x05, 0xFF, 0x04, 1, 2, 3, 4])
    assert decode_payload(body) == ["4€", b"\x01\x02\x03\x04"]


def test_text_lengths_count_utf16_units() -> None:
    assert decode_payload('12:42["x","\U0001f600"]'.encode()) == ['42["x","\U0001f600"]']
    assert decode_text_payload("3:4\U0001f6001:6") == ["4\U0001f600", "6"]
    with pytest.raises(ProtocolError, match="splits a character"):
        decode_text_payload("2:4\U0001f600")  # code points would read it, UTF-16 units cannot


def test_empty_payloads() -> None:
    assert decode_payload(b"") == []
    assert decode_payload(b"0:") == []  # Node's payload of no packet
    assert decode_payload(b"0:1:6") == ["6"]


def test_accepts_memoryview_and_bytearray() -> None:
    assert decode_payload(memoryview(NODE_BINARY)) == decode_payload(bytearray(NODE_BINARY))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"x:4a", "bad length prefix"),
        (b":4a", "bad length prefix"),
        (b"4hello", "bad length prefix"),  # a v4 body
        (b"5:4a", "truncated"),
        (b"1:", "truncated"),
        (b"2:9x", "unknown Engine.IO packet type"),
        (b"3:4ab1:", "truncated"),
        (b"12345678901:4", "bad length prefix"),
        (b"\xc3\x28", "invalid UTF-8"),
        (b"3:b4!", "invalid base64"),
        (b"4:b3AA", "only MESSAGE"),
        (b"1:b", "only MESSAGE"),
        ("\uff11:4".encode(), "bad length prefix"),  # a full-width digit is a digit to str.isdigit
        (b"\x02\x01\xff4", "invalid UTF-8"),  # neither framing
        (b"\x00\x01\xff6\x02\x01\xff4", "packet kind"),
        (b"\x00\xff4a", "missing or overlong length"),
        (b"\x00\x01", "missing or overlong length"),
        (b"\x00" + b"\x01" * 11 + b"\xff", "missing or overlong length"),
        (b"\x00\x0a\xff4", "length digits"),
        (b"\x00\x05\xff4a", "truncated"),
        (b"\x00\x00\xff", "empty packet"),
        (b"\x01\x02\xff\x03x", "only MESSAGE carries binary"),
        (b"\x00\x02\xff\xff\xfe", "invalid UTF-8"),
        (b"\x00\x02\xff9x", "unknown Engine.IO packet type"),
        (b"\x00\x02\xff4a\x00", "missing or overlong length"),
    ],
)
def test_malformed_payloads(body: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_payload(body)


def _best_of(fn: Callable[[], object], runs: int = 3) -> float:
    best = math.inf
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize(
    "make",
    [
        lambda n: b"1:6" * n,  # text framing, BMP only
        lambda n: b"1:6" * n + "3:4\U0001f600".encode(),  # text framing, the UTF-16 path
        lambda n: b"\x00\x01\xff6" * n,  # binary framing
    ],
    ids=["text", "text-utf16", "binary"],
)
def test_many_tiny_packets_cost_linear_time(make: Callable[[int], bytes]) -> None:
    small, large = make(20_000), make(80_000)
    assert len(decode_payload(large)) >= 80_000
    ratio = _best_of(lambda: decode_payload(large)) / _best_of(lambda: decode_payload(small))
    assert ratio < 8  # 4 times the input: about 4 times the work (quadratic would be 16)


# --------------------------------------------------------------------------- encoding


def test_encode_payload_binary_framing() -> None:
    assert encode_payload(["2", "4€", b"\x01\x02"]) == (
        b"\x00\x01\xff2" + b"\x00\x04\xff4\xe2\x82\xac" + b"\x01\x03\xff\x04\x01\x02"
    )
    assert encode_payload(["4" + "x" * 122]) == b"\x00\x01\x02\x03\xff4" + b"x" * 122
    assert encode_payload([]) == b""
    assert BINARY_CONTENT_TYPE == "application/octet-stream"


def test_encode_text_payload_as_node_writes_it() -> None:
    assert encode_text_payload(["4hello", "4€", b"\x01\x02\x03\x04"]) == "6:4hello2:4€10:b4AQIDBA=="
    assert encode_text_payload(['42["x","\U0001f600"]']) == '12:42["x","\U0001f600"]'


def test_encoded_length_is_the_framed_size() -> None:
    packets: list[str | bytes] = ["2", "4é\U0001f600", "4" + "x" * 99, b"", b"\x00" * 9, "4\ud800"]
    for packet in packets:
        assert encoded_length(packet) == len(encode_payload([packet]))


def test_utf16_length() -> None:
    assert utf16_length("abc") == 3
    assert utf16_length("é€") == 2
    assert utf16_length("\U0001f600x\U00010348") == 5


def test_websocket_binary_messages() -> None:
    assert ws_encode_binary(b"\x01\x02") == b"\x04\x01\x02"
    assert ws_encode_binary(memoryview(b"ab")) == b"\x04ab"
    assert ws_decode_binary(b"\x04\x01\x02") == b"\x01\x02"
    assert ws_decode_binary(b"\x04") == b""
    for bad in (b"", b"\x03ab", b"4ab"):
        with pytest.raises(ProtocolError, match="expected MESSAGE"):
            ws_decode_binary(bad)


# --------------------------------------------------------------------------- the protocol values


def test_protocol_values() -> None:
    assert (V4.eio, V4.socketio_revision, V3.eio, V3.socketio_revision) == ("4", 5, "3", 4)
    assert (V3.client_pings, V3.implicit_root, V3.auth_in_connect, V3.recovery) == (True, True, False, False)
    assert (V4.client_pings, V4.implicit_root, V4.auth_in_connect, V4.recovery) == (False, False, True, True)
    assert V3.payload_content_type == "application/octet-stream"
    assert V4.payload_content_type == "text/plain;charset=UTF-8"
    assert (V3.ws_binary_prefix, V4.ws_binary_prefix) == (b"\x04", b"")
    assert type(V4.new_engine()) is EngineState
    assert type(V3.new_engine()) is EngineState3
    with pytest.raises(AttributeError):
        V3.revision = 4  # type: ignore[misc]


def test_by_revision() -> None:
    assert by_revision(3) is V3
    assert by_revision(4) is V4 and by_revision(5) is V4
    for bad in (2, 6, "3"):
        with pytest.raises(ValueError, match="protocol must be 3"):
            by_revision(bad)  # type: ignore[arg-type]


def test_v4_codec_through_the_protocol_value() -> None:
    assert V4.decode_payload(b"4hello\x1ebAQI=") == ["4hello", b"\x01\x02"]
    assert V4.encode_payload(["4é", b"\x01"]) == "4é\x1ebAQ==".encode()
    assert V4.encoded_length("4é") == 3
    assert V4.max_body(3) == 5
    assert V4.ws_encode_binary(b"x") == b"x" and V4.ws_decode_binary(b"x") == b"x"
    with pytest.raises(ProtocolError, match="invalid UTF-8"):
        V4.decode_payload(b"\xff")
    decoder = object()
    assert V4.new_link(decoder, "sid") is decoder


def test_v3_codec_through_the_protocol_value() -> None:
    assert V3.decode_payload(NODE_BINARY)[1] == b"\x01\x02\x03"
    assert V3.encode_payload(["2"]) == b"\x00\x01\xff2"
    assert V3.encoded_length("2") == 4
    assert V3.max_body(3) >= len(encode_payload([b"xyz"]))
    assert V3.ws_encode_binary(b"x") == b"\x04x" and V3.ws_decode_binary(b"\x04x") == b"x"
    link = V3.new_link(object(), "sid")
    assert isinstance(link, Link) and link.engine_sid == "sid"


def test_engine_url_asks_for_the_revision() -> None:
    target = parse_url("http://example.com/chat")
    assert "EIO=3&transport=polling" in engine_url(target, "/socket.io", "polling", eio=V3.eio)
    assert "EIO=4&transport=websocket" in engine_url(target, "/socket.io", "websocket")


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("requested", "status", "body", "expected"),
    [
        (V4, 200, NODE_HANDSHAKE, V3),  # Node 2.x answers any EIO in v3
        (V4, 200, PY4_HANDSHAKE, V3),
        (V4, 400, PY4_VERSION_REFUSAL, V3),  # python-engineio 3 refuses EIO=4
        (V4, 200, b'0{"sid":"x","upgrades":[],"pingInterval":1,"pingTimeout":1,"maxPayload":1}', V4),
        (V3, 200, NODE_HANDSHAKE, V3),
        (V3, 400, NODE4_VERSION_REFUSAL, V4),  # socket.io 4.8 refuses EIO=3
        (V3, 400, PY4_VERSION_REFUSAL, V4),  # python-engineio 4 says the same sentence
        (V3, 401, b'"root refused"', None),  # python-socketio 4 refusing "/": not about versions
        (V4, 400, b'{"code":1,"message":"Session ID unknown"}', None),
        (V4, 500, b"Internal Server Error", None),
        (V4, 200, b"<html>hello</html>", None),
        (V4, 200, b"", None),
        (V4, 404, b"Unsupported protocol version", None),
    ],
)
def test_detect_polling(requested: object, status: int, body: bytes, expected: object) -> None:
    assert detect_polling(requested, status, body) is expected  # type: ignore[arg-type]


def test_detect_refusal() -> None:
    assert detect_refusal(V4, 400, PY4_VERSION_REFUSAL) is V3
    assert detect_refusal(V3, 400, b"Unsupported protocol version") is V4
    assert detect_refusal(V4, 400, b"Bad Request") is None


OPEN_V3 = '0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":20000}'
OPEN_V4 = '0{"sid":"a","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'


@pytest.mark.parametrize(
    ("requested", "packets", "expected"),
    [
        (V4, [OPEN_V3, "40"], V3),  # Node 2.x joins "/" unasked
        (V4, [OPEN_V3, "40/chat,"], V3),
        (V4, [OPEN_V3], None),  # socket.io 3.x (v4) sent no maxPayload either: not yet known
        (V4, [OPEN_V3, '40{"sid":"x"}'], None),
        (V4, [OPEN_V3, '42["x"]'], None),
        (V4, [OPEN_V3, '44"root refused"'], V3),  # Node 2.x refusing "/" (a middleware)
        (V4, [OPEN_V3, '44/chat,"no"'], V3),
        (V4, [OPEN_V3, "44"], V3),
        (V4, [OPEN_V3, '44{"message":"no"}'], None),  # a v5 CONNECT_ERROR
        (V4, [OPEN_V3, '44/chat,{"message":"no"}'], None),
        (V4, [OPEN_V4], V4),
        (V4, [OPEN_V4, "40"], V4),
        (V3, [OPEN_V3], V3),
        (V3, [OPEN_V4], V3),  # socket.io 4 with allowEIO3 speaks v3 to an EIO=3 client, with maxPayload
        (V3, ["0{not json"], None),
        (V4, [], None),
        (V4, [b"\x00"], None),
        (V4, ["0{not json"], None),
        (V4, ['0["a"]', "40"], V3),
        (V4, ["40"], None),
    ],
)
def test_detect_open(requested: object, packets: list[Packet], expected: object) -> None:
    assert detect_open(requested, packets) is expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", True),
        ("0/chat", True),  # python-socketio 4
        ("0/chat,", True),  # Node 2.x
        ('0{"sid":"x"}', False),
        ('0/chat,{"sid":"x"}', False),
        ("0/chat,x", False),
        ("0x", False),
        ('2["x"]', False),
        ("", False),
        ("4", False),
    ],
)
def test_is_v3_connect_reply(text: str, expected: bool) -> None:
    assert is_v3_connect_reply(text) is expected


# --------------------------------------------------------------------------- properties

text_no_surrogates = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)
packet_strategy = st.one_of(
    st.builds(lambda t, d: t + d, st.sampled_from(sorted(TYPES)), text_no_surrogates),
    st.binary(max_size=40),
)


@settings(max_examples=examples(200), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(packet_strategy, max_size=8))
def test_binary_framing_round_trip(packets: list[Packet]) -> None:
    body = encode_payload(packets)
    assert decode_payload(body) == packets
    assert len(body) == sum(encoded_length(p) for p in packets)


@settings(max_examples=examples(200), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(packet_strategy, min_size=1, max_size=8))
def test_text_framing_round_trip(packets: list[Packet]) -> None:
    body = encode_text_payload(packets)
    assert decode_payload(body.encode("utf-8")) == packets


def _check_decoded(body: bytes, decoded: list[Packet]) -> None:
    """What a decoder may return: valid packets, and never more data than the body held."""
    size = 0
    for packet in decoded:
        if isinstance(packet, str):
            assert packet[:1] in TYPES and packet
            size += len(packet.encode("utf-8"))
        else:
            size += len(packet)
    assert size <= len(body)


@settings(max_examples=examples(300), deadline=None, database=None)
@given(st.binary(max_size=60))
def test_decode_arbitrary_bytes_only_raises_protocol_error(body: bytes) -> None:
    try:
        decoded = decode_payload(body)
    except ProtocolError:
        return
    _check_decoded(body, decoded)


def _mutate(data: st.DataObject, body: bytes) -> bytes:
    """*body* with a few bytes flipped, inserted, deleted, cut or repeated (drawn from *data*)."""
    alphabet = st.sampled_from(list(b"0123456789:b4\x00\x01\x02\x09\xff=+/AQ{}\xe2\x82\xac\xf0\x9f"))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "cut", "repeat"]))
        at = data.draw(st.integers(0, len(body)))
        if op == "flip" and at < len(body):
            body = body[:at] + bytes([data.draw(alphabet)]) + body[at + 1 :]
        elif op == "insert":
            body = body[:at] + bytes(data.draw(st.lists(alphabet, min_size=1, max_size=4))) + body[at:]
        elif op == "delete":
            body = body[:at] + body[at + data.draw(st.integers(1, 8)) :]
        elif op == "cut":
            body = body[:at]
        else:
            end = at + data.draw(st.integers(1, 8))
            body = body[:end] + body[at:end] * data.draw(st.integers(1, 50)) + body[end:]
    return body


@settings(max_examples=examples(300), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(packet_strategy, min_size=1, max_size=6), st.booleans(), st.data())
def test_mutated_payloads_only_raise_protocol_error(packets: list[Packet], text: bool, data: st.DataObject) -> None:
    body = encode_text_payload(packets).encode("utf-8") if text else encode_payload(packets)
    body = _mutate(data, body)
    try:
        decoded = decode_payload(body)
    except ProtocolError:
        return
    _check_decoded(body, decoded)


@settings(max_examples=examples(200), deadline=None, database=None)
@given(st.text(max_size=40), st.integers(0, 3))
def test_decode_text_payload_only_raises_protocol_error(tail: str, prefix_kind: int) -> None:
    body = ["", "3:", "0:", "1:4"][prefix_kind] + tail
    try:
        decoded = decode_text_payload(body)
    except ProtocolError:
        return
    assert all(isinstance(p, bytes) or p[:1] in TYPES for p in decoded)


@settings(max_examples=examples(100), deadline=None, database=None)
@given(st.integers(0, 3 * 2**12), st.sampled_from([b"", b"=", b"A", b"!", b"\x00"]))
def test_long_binary_packets(size: int, tail: bytes) -> None:
    for body in (encode_payload(["4x", bytes(size)]) + tail, (encode_text_payload(["4x", bytes(size)]) + "=").encode()):
        try:
            decoded = decode_payload(body)
        except ProtocolError:
            continue
        assert decoded[:2] == ["4x", bytes(size)]
