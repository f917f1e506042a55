"""Tests of WebSocket framing (greensio._io.websocket.encode_frame / FrameReader).

Frames are checked against websocket-client's own ``ABNF`` encoder.
"""
from __future__ import annotations

import struct

import pytest
import websocket
from hypothesis import given, settings
from hypothesis import strategies as st

from greensio._io.transport import TransportClosed
from greensio._io.websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameReader,
    encode_frame,
)

SIZES = [0, 1, 125, 126, 65535, 65536, 70000]
KEYS = [b"\x00\x00\x00\x00", b"\x12\x34\x56\x78", b"\xff\xfe\xfd\xfc", b"abcd"]
BIG = 1 << 20


def payload(n: int) -> bytes:
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


def client_frame(opcode: int, data: bytes, key: bytes) -> bytes:
    """A masked client frame as websocket-client writes it."""
    frame = websocket.ABNF.create_frame(data, opcode)
    frame.get_mask_key = lambda n: key
    return frame.format()


def server_frame(opcode: int, data: bytes, fin: int = 1, rsv1: int = 0, rsv2: int = 0, rsv3: int = 0) -> bytes:
    """An unmasked server frame, built by websocket-client."""
    return websocket.ABNF(fin, rsv1, rsv2, rsv3, opcode, 0, data).format()


def feed_all(reader: FrameReader, chunks: list[bytes]) -> list[object]:
    out: list[object] = []
    for chunk in chunks:
        out.extend(reader.feed(chunk))
    return out


# -- encode_frame -------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
@pytest.mark.parametrize("key", KEYS)
def test_encode_frame_matches_websocket_client(size: int, opcode: int, key: bytes) -> None:
    data = b"x" * size if opcode == OP_TEXT else payload(size)
    assert encode_frame(opcode, data, key) == client_frame(opcode, data, key)


@pytest.mark.parametrize(("size", "header_len"), [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_encode_frame_header_layout(size: int, header_len: int) -> None:
    key = b"\x01\x02\x03\x04"
    frame = encode_frame(OP_BINARY, payload(size), key)
    assert len(frame) == header_len + 4 + size
    assert frame[0] == 0x82  # FIN + binary
    assert frame[1] & 0x80  # masked
    assert frame[header_len:header_len + 4] == key


def test_encode_frame_utf8_text() -> None:
    data = "héllo ☃ 🎉".encode()
    key = b"\x9a\x0b\x3c\xd4"
    assert encode_frame(OP_TEXT, data, key) == client_frame(OP_TEXT, data, key)


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE])
def test_encode_control_frames(opcode: int) -> None:
    key = b"\x10\x20\x30\x40"
    for data in (b"", b"\x03\xe8", b"probe"):
        assert encode_frame(opcode, data, key) == client_frame(opcode, data, key)


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(max_size=300),
    key=st.binary(min_size=4, max_size=4),
    opcode=st.sampled_from([OP_TEXT, OP_BINARY]),
)
def test_encode_frame_matches_websocket_client_property(data: bytes, key: bytes, opcode: int) -> None:
    assert encode_frame(opcode, data, key) == client_frame(opcode, data, key)


# -- FrameReader: whole frames ---------------------------------------------------------------


def test_empty_feed() -> None:
    assert FrameReader(BIG).feed(b"") == []


@pytest.mark.parametrize("size", SIZES)
def test_binary_frame_sizes(size: int) -> None:
    data = payload(size)
    assert FrameReader(BIG).feed(server_frame(OP_BINARY, data)) == [data]


@pytest.mark.parametrize("size", SIZES)
def test_text_frame_sizes(size: int) -> None:
    text = ("aé☃"[: 1 + size % 3] * size)[:size]
    out = FrameReader(BIG).feed(server_frame(OP_TEXT, text.encode()))
    assert out == [text]
    assert type(out[0]) is str


def test_16_and_64_bit_lengths_by_hand() -> None:
    data16 = payload(300)
    frame16 = bytes((0x82, 126)) + struct.pack("!H", 300) + data16
    data64 = payload(70000)
    frame64 = bytes((0x82, 127)) + struct.pack("!Q", 70000) + data64
    assert FrameReader(BIG).feed(frame16 + frame64) == [data16, data64]


def test_several_frames_in_one_feed() -> None:
    stream = (
        server_frame(OP_TEXT, b"40")
        + server_frame(OP_BINARY, b"\x00\x01")
        + server_frame(OP_PING, b"hi")
        + server_frame(OP_TEXT, b'42["ev",1]')
        + server_frame(OP_TEXT, b"")
        + server_frame(OP_BINARY, b"")
    )
    assert FrameReader(BIG).feed(stream) == ["40", b"\x00\x01", (OP_PING, b"hi"), '42["ev",1]', "", b""]


@pytest.mark.parametrize("opcode", [OP_CLOSE, OP_PING, OP_PONG])
@pytest.mark.parametrize("data", [b"", b"\x03\xe8", b"\x03\xe8bye"])
def test_control_frames_are_tuples(opcode: int, data: bytes) -> None:
    out = FrameReader(BIG).feed(server_frame(opcode, data))
    assert out == [(opcode, data)]
    assert type(out[0][1]) is bytes  # type: ignore[index]


# -- FrameReader: split input --------------------------------------------------------------------


STREAM_PARTS: list[tuple[bytes, object]] = [
    (server_frame(OP_TEXT, b"0{\"sid\":\"x\"}"), '0{"sid":"x"}'),
    (server_frame(OP_BINARY, payload(200)), payload(200)),  # 16-bit length
    (server_frame(OP_PING, b""), (OP_PING, b"")),
    (server_frame(OP_TEXT, "☃é".encode()), "☃é"),
    (server_frame(OP_TEXT, b"he", fin=0), None),
    (server_frame(OP_CONT, b"ll", fin=0), None),
    (server_frame(OP_PING, b"p"), (OP_PING, b"p")),
    (server_frame(OP_CONT, b"o", fin=1), "hello"),
    (server_frame(OP_BINARY, b""), b""),
]
STREAM = b"".join(frame for frame, _ in STREAM_PARTS)
EXPECTED = [item for _, item in STREAM_PARTS if item is not None]


def test_split_at_every_byte_boundary() -> None:
    for cut in range(len(STREAM) + 1):
        reader = FrameReader(BIG)
        assert feed_all(reader, [STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


def test_one_byte_at_a_time() -> None:
    reader = FrameReader(BIG)
    assert feed_all(reader, [STREAM[i:i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_partial_frame_returns_nothing_until_complete() -> None:
    frame = server_frame(OP_BINARY, payload(70000))
    reader = FrameReader(BIG)
    assert reader.feed(frame[:1]) == []
    assert reader.feed(frame[1:5]) == []  # inside the 64-bit length
    assert reader.feed(frame[5:10]) == []
    assert reader.feed(frame[10:-1]) == []
    assert reader.feed(frame[-1:]) == [payload(70000)]
    assert reader.feed(b"") == []


def test_64_bit_length_split_at_every_header_byte() -> None:
    frame = server_frame(OP_BINARY, payload(65536)) + server_frame(OP_TEXT, b"4x")
    for cut in range(0, 16):
        reader = FrameReader(BIG)
        assert feed_all(reader, [frame[:cut], frame[cut:]]) == [payload(65536), "4x"], cut


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_split_anywhere_property(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in zip(points, points[1:])]
    assert feed_all(FrameReader(BIG), chunks) == EXPECTED


def test_utf8_character_split_across_fragments() -> None:
    snow = "☃".encode()  # 3 bytes
    stream = (
        server_frame(OP_TEXT, b"a" + snow[:1], fin=0)
        + server_frame(OP_CONT, snow[1:2], fin=0)
        + server_frame(OP_CONT, snow[2:] + b"b", fin=1)
    )
    assert FrameReader(BIG).feed(stream) == ["a☃b"]


# -- FrameReader: fragmented messages -------------------------------------------------------------


def test_fragmented_text() -> None:
    reader = FrameReader(BIG)
    assert reader.feed(server_frame(OP_TEXT, b"42[\"ev\",", fin=0)) == []
    assert reader.feed(server_frame(OP_CONT, b"\"a\"", fin=0)) == []
    assert reader.feed(server_frame(OP_CONT, b"]", fin=1)) == ['42["ev","a"]']


def test_fragmented_binary() -> None:
    stream = (
        server_frame(OP_BINARY, b"\x00\x01", fin=0)
        + server_frame(OP_CONT, b"", fin=0)
        + server_frame(OP_CONT, b"\x02", fin=1)
    )
    out = FrameReader(BIG).feed(stream)
    assert out == [b"\x00\x01\x02"]
    assert type(out[0]) is bytes


def test_control_frame_inside_a_fragmented_message() -> None:
    stream = (
        server_frame(OP_BINARY, b"ab", fin=0)
        + server_frame(OP_PING, b"x")
        + server_frame(OP_PONG, b"")
        + server_frame(OP_CONT, b"cd", fin=1)
        + server_frame(OP_TEXT, b"next")
    )
    assert FrameReader(BIG).feed(stream) == [(OP_PING, b"x"), (OP_PONG, b""), b"abcd", "next"]


def test_two_fragmented_messages_in_a_row() -> None:
    stream = (
        server_frame(OP_TEXT, b"a", fin=0)
        + server_frame(OP_CONT, b"b", fin=1)
        + server_frame(OP_BINARY, b"c", fin=0)
        + server_frame(OP_CONT, b"d", fin=1)
    )
    assert FrameReader(BIG).feed(stream) == ["ab", b"cd"]


def test_empty_fragmented_text() -> None:
    stream = server_frame(OP_TEXT, b"", fin=0) + server_frame(OP_CONT, b"", fin=1)
    assert FrameReader(BIG).feed(stream) == [""]


# -- FrameReader: errors --------------------------------------------------------------------------


def assert_transport_error(reader: FrameReader, *chunks: bytes) -> TransportClosed:
    with pytest.raises(TransportClosed) as info:
        for chunk in chunks:
            reader.feed(chunk)
    assert info.value.reason == "transport error"
    return info.value


@pytest.mark.parametrize("bad", [b"\xff", b"\xc3\x28", b"a\xed\xa0\x80", b"\xe2\x98"])
def test_invalid_utf8(bad: bytes) -> None:
    assert_transport_error(FrameReader(BIG), server_frame(OP_TEXT, bad))


def test_invalid_utf8_in_a_fragmented_message() -> None:
    assert_transport_error(
        FrameReader(BIG), server_frame(OP_TEXT, b"ok", fin=0) + server_frame(OP_CONT, b"\xff", fin=1)
    )


@pytest.mark.parametrize("size", [0, 5, 300, 70000])
def test_masked_server_frame(size: int) -> None:
    frame = client_frame(OP_TEXT, b"a" * size, b"\x01\x02\x03\x04")
    assert_transport_error(FrameReader(BIG), frame)


@pytest.mark.parametrize(("rsv1", "rsv2", "rsv3"), [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)])
def test_reserved_bits(rsv1: int, rsv2: int, rsv3: int) -> None:
    frame = server_frame(OP_TEXT, b"hi", rsv1=rsv1, rsv2=rsv2, rsv3=rsv3)
    assert_transport_error(FrameReader(BIG), frame)


def test_reserved_bits_on_a_control_frame() -> None:
    assert_transport_error(FrameReader(BIG), server_frame(OP_PING, b"", rsv1=1))


def test_frame_of_exactly_max_message_is_accepted() -> None:
    assert FrameReader(300).feed(server_frame(OP_BINARY, payload(300))) == [payload(300)]


@pytest.mark.parametrize(("limit", "size"), [(100, 101), (300, 301), (65535, 65536), (70000, 100000)])
def test_oversize_frame(limit: int, size: int) -> None:
    frame = server_frame(OP_BINARY, payload(size))
    header = frame[: 2 if size < 126 else 4 if size < 65536 else 10]
    # refused as soon as the header is in, before the payload is buffered
    assert_transport_error(FrameReader(limit), header)
    assert_transport_error(FrameReader(limit), frame)


def test_huge_announced_length_is_refused_at_the_header() -> None:
    header = bytes((0x82, 127)) + struct.pack("!Q", 1 << 62)
    assert_transport_error(FrameReader(BIG), header)


def test_oversize_fragmented_message() -> None:
    stream = server_frame(OP_TEXT, b"a" * 60, fin=0) + server_frame(OP_CONT, b"b" * 41, fin=1)
    assert_transport_error(FrameReader(100), stream)
    ok = server_frame(OP_TEXT, b"a" * 60, fin=0) + server_frame(OP_CONT, b"b" * 40, fin=1)
    assert FrameReader(100).feed(ok) == ["a" * 60 + "b" * 40]


def test_continuation_without_a_message() -> None:
    assert_transport_error(FrameReader(BIG), server_frame(OP_CONT, b"x", fin=1))


def test_continuation_after_a_finished_message() -> None:
    stream = server_frame(OP_TEXT, b"a", fin=0) + server_frame(OP_CONT, b"b", fin=1)
    reader = FrameReader(BIG)
    assert reader.feed(stream) == ["ab"]
    assert_transport_error(reader, server_frame(OP_CONT, b"c", fin=1))


def test_new_fragmented_message_inside_a_fragmented_one() -> None:
    stream = server_frame(OP_TEXT, b"a", fin=0) + server_frame(OP_BINARY, b"b", fin=0)
    assert_transport_error(FrameReader(BIG), stream)


def test_whole_message_inside_a_fragmented_one() -> None:
    stream = server_frame(OP_TEXT, b"a", fin=0) + server_frame(OP_TEXT, b"b", fin=1)
    assert_transport_error(FrameReader(BIG), stream)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7])
def test_unknown_data_opcode(opcode: int) -> None:
    frame = bytes((0x80 | opcode, 1)) + b"x"
    assert_transport_error(FrameReader(BIG), frame)
