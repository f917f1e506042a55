"""Tests of the Engine.IO v4 codec (greensio._core.eio)."""

from __future__ import annotations

import dataclasses
import json
import tracemalloc

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greensio._core.eio import (
    CLOSE,
    DEFAULT_MAX_PAYLOAD,
    MESSAGE,
    NOOP,
    OPEN,
    PING,
    PONG,
    TYPES,
    UPGRADE,
    Handshake,
    decode_payload,
    encode_payload,
    encoded_length,
    parse_handshake,
    payload_slices,
)
from greensio._exceptions import ProtocolError


def examples(n: int) -> int:
    """*n* examples, or the soak profile's budget when tests/soak/fuzz_run.py runs this file."""
    return settings().max_examples if settings.get_current_profile_name() == "soak" else n


def test_type_constants() -> None:
    assert (OPEN, CLOSE, PING, PONG, MESSAGE, UPGRADE, NOOP) == ("0", "1", "2", "3", "4", "5", "6")
    assert frozenset("0123456") == TYPES


# ---------------------------------------------------------------- handshake

FULL = (
    '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],'
    '"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
)


def test_handshake_full() -> None:
    hs = parse_handshake(FULL)
    assert hs == Handshake(
        sid="lv_VI97HAXpY6yYWAAAC",
        upgrades=("websocket",),
        ping_interval=25.0,
        ping_timeout=20.0,
        max_payload=1_000_000,
    )
    assert isinstance(hs.ping_interval, float)
    assert isinstance(hs.upgrades, tuple)


def test_handshake_ms_to_seconds() -> None:
    hs = parse_handshake('{"sid":"x","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":5}')
    assert hs.ping_interval == pytest.approx(0.3)
    assert hs.ping_timeout == pytest.approx(0.2)
    assert hs.max_payload == 5
    assert hs.upgrades == ()
    hs = parse_handshake('{"sid":"x","pingInterval":25000.5,"pingTimeout":0}')
    assert hs.ping_interval == pytest.approx(25.0005)
    assert hs.ping_timeout == 0.0


def test_handshake_defaults() -> None:
    hs = parse_handshake('{"sid":"abc","pingInterval":1000,"pingTimeout":500}')
    assert hs.upgrades == ()
    assert hs.max_payload == DEFAULT_MAX_PAYLOAD == 1_000_000
    hs = parse_handshake('{"sid":"abc","pingInterval":1000,"pingTimeout":500,"maxPayload":null}')
    assert hs.max_payload == 1_000_000


def test_handshake_extra_keys_and_integral_float_max_payload() -> None:
    hs = parse_handshake(
        '{"sid":"a","upgrades":["websocket","webtransport"],"pingInterval":1,'
        '"pingTimeout":2,"maxPayload":1e6,"extra":{"x":1}}'
    )
    assert hs.upgrades == ("websocket", "webtransport")
    assert hs.max_payload == 1_000_000
    assert type(hs.max_payload) is int


def test_handshake_custom_loads() -> None:
    assert parse_handshake(FULL, loads=orjson.loads) == parse_handshake(FULL)


def test_handshake_is_frozen() -> None:
    hs = parse_handshake(FULL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        hs.sid = "other"  # type: ignore[misc]


def _hs(**changes: object) -> str:
    obj: dict[str, object] = {
        "sid": "abc",
        "upgrades": ["websocket"],
        "pingInterval": 25000,
        "pingTimeout": 20000,
        "maxPayload": 1000000,
    }
    for key, value in changes.items():
        if value is KeyError:
            del obj[key]
        else:
            obj[key] = value
    return json.dumps(obj)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ('{"sid":"a"', "not valid JSON"),
        ("[]", "JSON object"),
        ('"sid"', "JSON object"),
        ("null", "JSON object"),
        ("42", "JSON object"),
        (_hs(sid=KeyError), "'sid'"),
        (_hs(sid=""), "'sid'"),
        (_hs(sid=12), "'sid'"),
        (_hs(sid=None), "'sid'"),
        (_hs(sid=["a"]), "'sid'"),
        (_hs(pingInterval=KeyError), "'pingInterval'"),
        (_hs(pingInterval="25000"), "'pingInterval'"),
        (_hs(pingInterval=True), "'pingInterval'"),
        (_hs(pingInterval=-1), "'pingInterval'"),
        (_hs(pingInterval=None), "'pingInterval'"),
        (_hs(pingInterval=float("nan")), "'pingInterval'"),
        (_hs(pingInterval=float("inf")), "'pingInterval'"),
        (_hs(pingInterval=10**400), "'pingInterval'"),  # too large for a float
        (_hs(pingTimeout=KeyError), "'pingTimeout'"),
        (_hs(pingTimeout="1"), "'pingTimeout'"),
        (_hs(pingTimeout=False), "'pingTimeout'"),
        (_hs(pingTimeout=-0.5), "'pingTimeout'"),
        (_hs(pingTimeout=[1]), "'pingTimeout'"),
        (_hs(upgrades="websocket"), "'upgrades'"),
        (_hs(upgrades=None), "'upgrades'"),
        (_hs(upgrades=["websocket", 1]), "'upgrades'"),
        (_hs(upgrades={"websocket": True}), "'upgrades'"),
        (_hs(maxPayload=-1), "'maxPayload'"),
        (_hs(maxPayload="1000"), "'maxPayload'"),
        (_hs(maxPayload=True), "'maxPayload'"),
        (_hs(maxPayload=1.5), "'maxPayload'"),
        (_hs(maxPayload=float("inf")), "'maxPayload'"),
    ],
)
def test_handshake_invalid(data: str, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        parse_handshake(data)


def test_handshake_loads_errors_become_protocol_error() -> None:
    def boom(_: str) -> object:
        raise RuntimeError("boom")

    with pytest.raises(ProtocolError, match="boom"):
        parse_handshake(FULL, loads=boom)
    with pytest.raises(ProtocolError):
        parse_handshake("[" * 100_000)  # RecursionError inside json.loads


def test_protocol_error_is_value_error() -> None:
    with pytest.raises(ValueError, match="JSON"):
        parse_handshake("nope")


# ---------------------------------------------------------------- polling payload


@pytest.mark.parametrize(
    ("body", "packets"),
    [
        ("4hello\x1e2\x1e4world", ["4hello", "2", "4world"]),
        ("4hello\x1ebAQIDBA==", ["4hello", b"\x01\x02\x03\x04"]),
        ("0\x1e1\x1e2probe\x1e3probe\x1e4test", ["0", "1", "2probe", "3probe", "4test"]),
        ("6", ["6"]),
        ("b", [b""]),
        ("bAA==\x1ebAAE=\x1ebAAEC", [b"\x00", b"\x00\x01", b"\x00\x01\x02"]),
        ('42["hello"]\x1e42["world"]', ['42["hello"]', '42["world"]']),
        ("4é€\U0001f600", ["4é€\U0001f600"]),
        (
            '451-["a",{"_placeholder":true,"num":0}]\x1ebAQID',
            ['451-["a",{"_placeholder":true,"num":0}]', b"\x01\x02\x03"],
        ),
    ],
)
def test_payload_decode_and_encode(body: str, packets: list[str | bytes]) -> None:
    decoded = decode_payload(body)
    assert decoded == packets
    assert [type(p) for p in decoded] == [type(p) for p in packets]
    assert encode_payload(packets) == body


def test_encode_payload_bytes_like() -> None:
    body = encode_payload(["4a", bytearray(b"\x01\x02"), memoryview(b"\xff\xfe\xfd")])  # type: ignore[list-item]
    assert body == "4a\x1ebAQI=\x1eb//79"
    assert decode_payload(body) == ["4a", b"\x01\x02", b"\xff\xfe\xfd"]


def test_encode_payload_empty_sequence() -> None:
    assert encode_payload([]) == ""
    assert encode_payload(("4x",)) == "4x"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("", "empty"),
        ("4a\x1e", "empty"),
        ("\x1e4a", "empty"),
        ("4a\x1e\x1e4b", "empty"),
        ("a123", "'a'"),
        ("{", "'{'"),
        ("{}", "'{'"),
        ('["a123", "a456"]', "'\\['"),
        ("4hello\x1e7x", "'7'"),
        ("bAQI", "base64"),  # bad padding
        ("bAQIDBA", "base64"),
        ("bAQ!DBA==", "base64"),
        ("bAQID BA==", "base64"),
        ("bAQIDBA==AA==", "base64"),  # data after padding
        ("bé", "base64"),
    ],
)
def test_payload_invalid(body: str, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        decode_payload(body)


@pytest.mark.parametrize(
    ("packet", "length"),
    [
        ("4hello", 6),
        ("2", 1),
        ("4é", 3),
        ("4€", 4),
        ("4\U0001f600", 5),
        (b"", 1),
        (b"\x01", 5),
        (b"\x01\x02\x03\x04", 9),
        (bytearray(6), 9),
        (memoryview(b"abcdefg")[::3], 5),
    ],
)
def test_encoded_length(packet: str | bytes, length: int) -> None:
    assert encoded_length(packet) == length


def test_encoded_length_lone_surrogate_does_not_raise() -> None:
    assert encoded_length("4\ud800") == 4


packet_strategy = st.one_of(
    st.builds(lambda t, d: t + d, st.sampled_from(sorted(TYPES)), st.text().map(lambda s: s.replace("\x1e", ""))),
    st.binary(max_size=40),
)


@settings(max_examples=examples(200), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(packet_strategy, min_size=1, max_size=6))
def test_payload_round_trip(packets: list[str | bytes]) -> None:
    body = encode_payload(packets)
    assert decode_payload(body) == packets
    assert len(body.encode("utf-8")) == sum(encoded_length(p) for p in packets) + len(packets) - 1


@settings(max_examples=examples(300), deadline=None, database=None)
@given(st.text(max_size=40) | st.builds(lambda a, b: a + "\x1e" + b, st.text(max_size=20), st.text(max_size=20)))
def test_decode_payload_only_raises_protocol_error(body: str) -> None:
    try:
        packets = decode_payload(body)
    except ProtocolError:
        return
    assert all(isinstance(p, bytes) or p[:1] in TYPES for p in packets)


handshake_values = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.lists(st.text(max_size=3), max_size=2)
)
handshake_keys = st.sampled_from(["sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"])


@settings(max_examples=examples(200), deadline=None, database=None)
@given(st.text(max_size=60) | st.dictionaries(handshake_keys, handshake_values).map(json.dumps))
def test_parse_handshake_only_raises_protocol_error(data: str) -> None:
    try:
        hs = parse_handshake(data)
    except ProtocolError:
        return
    assert isinstance(hs, Handshake)
    assert hs.ping_interval >= 0
    assert hs.ping_timeout >= 0


# ---------------------------------------------------------------- mutations


def _mutate_text(data: st.DataObject, text: str, alphabet: st.SearchStrategy[str]) -> str:
    """*text* with a few characters flipped, inserted, deleted or cut (drawn from *data*)."""
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "cut", "repeat"]))
        at = data.draw(st.integers(0, len(text)))
        if op == "flip" and at < len(text):
            text = text[:at] + data.draw(alphabet) + text[at + 1 :]
        elif op == "insert":
            text = text[:at] + data.draw(st.text(alphabet, min_size=1, max_size=4)) + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + data.draw(st.integers(1, 8)) :]
        elif op == "cut":
            text = text[:at]
        else:  # repeat a slice, e.g. a separator or a base64 quantum
            end = at + data.draw(st.integers(1, 8))
            text = text[:end] + text[at:end] * data.draw(st.integers(1, 50)) + text[end:]
    return text


payload_chars = st.sampled_from(list('0123456789b\x1e=+/AQgw{}[]"é\x00')) | st.characters(codec="utf-8")


@settings(max_examples=examples(300), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(packet_strategy, min_size=1, max_size=6), st.data())
def test_mutated_payloads_only_raise_protocol_error(packets: list[str | bytes], data: st.DataObject) -> None:
    body = _mutate_text(data, encode_payload(packets), payload_chars)
    try:
        decoded = decode_payload(body)
    except ProtocolError:
        return
    items = body.split("\x1e")
    assert len(decoded) == len(items)
    for item, packet in zip(items, decoded):
        if isinstance(packet, str):
            assert packet == item and packet[:1] in TYPES
        else:
            assert item[:1] == "b"
            assert len(packet) <= 3 * (len(item) - 1) // 4  # base64 never decodes to more
    # slice by slice, the same packets but a NOOP or a PING right after a PING
    sliced = [p for part in payload_slices(body, size=7) for p in part]
    expected, last = [], None
    for packet in decoded:
        if packet == "6" or (packet == "2" and last == "2"):
            continue
        expected.append(packet)
        last = packet
    assert sliced == expected


def test_payload_slices_drop_noops_and_repeated_pings() -> None:
    body = "\x1e".join(["6"] * 20_000 + ["2"] * 20_000 + ["4x", "2", "6", "2"])
    parts = list(payload_slices(body))
    assert len(parts) > 1 and [p for part in parts for p in part] == ["2", "4x", "2"]
    with pytest.raises(ProtocolError, match="empty packet"):
        list(payload_slices("4x\x1e"))


def test_a_payload_of_tiny_packets_costs_about_twice_its_size() -> None:
    body = "\x1e".join(["6"] * 500_000)  # 1 MB of NOOPs
    tracemalloc.start()
    try:
        assert [p for part in payload_slices(body) for p in part] == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < len(body)  # on top of the body: the slice being split


@settings(max_examples=examples(50), deadline=None, database=None)
@given(st.integers(0, 3 * 2**16), st.sampled_from(["", "=", "==", "===", "A", "AA=", "!"]))
def test_long_base64_items(size: int, tail: str) -> None:
    body = "4x\x1e" + encode_payload([bytes(size)]) + tail
    try:
        decoded = decode_payload(body)
    except ProtocolError:
        assert tail
        return
    assert decoded[0] == "4x"
    assert len(decoded[1]) >= size


@settings(max_examples=examples(200), deadline=None, database=None)
@given(st.data())
def test_mutated_handshakes_only_raise_protocol_error(data: st.DataObject) -> None:
    text = _mutate_text(data, FULL, st.sampled_from(list('0123456789-.eE"{}[],:ntrufals')) | st.characters())
    try:
        hs = parse_handshake(text)
    except ProtocolError:
        return
    assert type(hs.sid) is str and hs.sid
    assert all(type(u) is str for u in hs.upgrades)
    assert 0 <= hs.ping_interval < float("inf") and 0 <= hs.ping_timeout < float("inf")
    assert type(hs.max_payload) is int and hs.max_payload >= 0
