"""Tests of WebSocket framing (greensio._io.websocket.encode_frame / FrameReader).

Frames are checked against websocket-client's own ``ABNF`` encoder.
"""

from __future__ import annotations

import struct
import tracemalloc

import pytest
import websocket
from hypothesis import given, settings
from hypothesis import strategies as st

from greensio._exceptions import ProtocolError
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


def examples(n: int) -> int:
    """*n* examples, or the soak profile's budget when tests/soak/fuzz_run.py runs this file."""
    return settings.default.max_examples if settings.get_current_profile_name() == "soak" else n


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
    assert frame[header_len : header_len + 4] == key


def test_encode_frame_utf8_text() -> None:
    data = "héllo ☃ 🎉".encode()
    key = b"\x9a\x0b\x3c\xd4"
    assert encode_frame(OP_TEXT, data, key) == client_frame(OP_TEXT, data, key)


@pytest.mark.parametrize("opcode", [OP_PING, OP_PONG, OP_CLOSE])
def test_encode_control_frames(opcode: int) -> None:
    key = b"\x10\x20\x30\x40"
    for data in (b"", b"\x03\xe8", b"probe"):
        assert encode_frame(opcode, data, key) == client_frame(opcode, data, key)


@settings(max_examples=examples(200), deadline=None)
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
    (server_frame(OP_TEXT, b'0{"sid":"x"}'), '0{"sid":"x"}'),
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
    assert feed_all(reader, [STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED


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


@settings(max_examples=examples(200), deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_split_anywhere_property(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in zip(points, points[1:])]
    assert feed_all(FrameReader(BIG), chunks) == EXPECTED


@settings(max_examples=examples(200), deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_split_anywhere_from_a_reused_read_buffer(cuts: list[int]) -> None:
    # As the transport reads in hub callbacks: each chunk is a view of one shared buffer, which
    # the next read overwrites; nothing the reader returned or kept may still point into it.
    points = [0, *sorted(cuts), len(STREAM)]
    buffer = bytearray(len(STREAM))
    reader = FrameReader(BIG)
    out: list[object] = []
    for a, b in zip(points, points[1:]):
        buffer[: b - a] = STREAM[a:b]
        out += reader.feed(memoryview(buffer)[: b - a])
        buffer[:] = b"\xff" * len(buffer)
    assert out == EXPECTED


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
    assert reader.feed(server_frame(OP_TEXT, b'42["ev",', fin=0)) == []
    assert reader.feed(server_frame(OP_CONT, b'"a"', fin=0)) == []
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


def assert_too_large(reader: FrameReader, *chunks: bytes) -> None:
    """Over max_message_size is a ProtocolError (the connection closes with "parse error")."""
    with pytest.raises(ProtocolError, match="exceeds max_message_size"):
        for chunk in chunks:
            reader.feed(chunk)


@pytest.mark.parametrize(("limit", "size"), [(100, 101), (300, 301), (65535, 65536), (70000, 100000)])
def test_oversize_frame(limit: int, size: int) -> None:
    frame = server_frame(OP_BINARY, payload(size))
    header = frame[: 2 if size < 126 else 4 if size < 65536 else 10]
    # refused as soon as the header is in, before the payload is buffered
    assert_too_large(FrameReader(limit), header)
    assert_too_large(FrameReader(limit), frame)


def test_huge_announced_length_is_refused_at_the_header() -> None:
    header = bytes((0x82, 127)) + struct.pack("!Q", 1 << 62)
    assert_too_large(FrameReader(BIG), header)


def test_oversize_fragmented_message() -> None:
    stream = server_frame(OP_TEXT, b"a" * 60, fin=0) + server_frame(OP_CONT, b"b" * 41, fin=1)
    assert_too_large(FrameReader(100), stream)
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


# -- FrameReader: garbage and memory --------------------------------------------------------------


def _feed_garbage(reader: FrameReader, chunks: list[bytes]) -> list[object]:
    """Feed *chunks*: messages, or one TransportClosed("transport error") or ProtocolError (too
    large); never more kept than a frame."""
    out: list[object] = []
    for chunk in chunks:
        try:
            items = reader.feed(chunk)
        except TransportClosed as exc:
            assert exc.reason == "transport error"
            return out
        except ProtocolError as exc:
            assert "exceeds max_message_size" in str(exc)
            return out
        for item in items:
            if type(item) is tuple:
                opcode, data = item  # type: ignore[misc]
                assert opcode in (OP_CLOSE, OP_PING, OP_PONG) or opcode > OP_PONG
                assert type(data) is bytes and len(data) <= reader.max_message
            else:
                assert type(item) in (str, bytes)
                assert len(item) <= reader.max_message  # type: ignore[arg-type]
        out.extend(items)
        # white-box: what waits is at most one frame (header + payload) and one message's fragments
        assert sum(len(part) for part in reader._parts) == reader._have < 10 + reader.max_message
        assert len(reader._frags) <= reader.max_message
    return out


frame_headers = st.builds(
    lambda b0, size, masked: (
        bytes([b0])
        + (
            bytes([masked | size])
            if size < 126
            else bytes([masked | 126]) + struct.pack("!H", size)
            if size < 65536
            else bytes([masked | 127]) + struct.pack("!Q", size)
        )
    ),
    st.integers(0, 255),
    st.integers(0, 200) | st.integers(0, 2**64 - 1),
    st.sampled_from([0, 0x80]),
)
random_frames = st.builds(lambda head, body: head + body, frame_headers, st.binary(max_size=40))


def _chunks(data: st.DataObject, stream: bytes) -> list[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    points = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in zip(points, points[1:])]


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(random_frames | st.binary(max_size=12), max_size=8), st.sampled_from([1, 50, 300, BIG]), st.data())
def test_random_frames_only_raise_transport_or_protocol_errors(
    frames: list[bytes], limit: int, data: st.DataObject
) -> None:
    _feed_garbage(FrameReader(limit), _chunks(data, b"".join(frames)))


@settings(max_examples=examples(300), deadline=None)
@given(st.data())
def test_mutated_stream_only_raises_transport_or_protocol_errors(data: st.DataObject) -> None:
    stream = bytearray(STREAM)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "cut"]))
        at = data.draw(st.integers(0, len(stream)))
        if op == "flip" and at < len(stream):
            stream[at] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set" and at < len(stream):
            stream[at] = data.draw(st.sampled_from([0x00, 0x7E, 0x7F, 0x80, 0xFF, 0x01, 0x09, 0x0A]))
        elif op == "insert":
            stream[at:at] = data.draw(st.binary(min_size=1, max_size=10) | frame_headers)
        elif op == "delete":
            del stream[at : at + data.draw(st.integers(1, 10))]
        else:
            del stream[at:]
    _feed_garbage(FrameReader(data.draw(st.sampled_from([100, 300, BIG]))), _chunks(data, bytes(stream)))


def test_empty_fragments_keep_no_memory() -> None:
    reader = FrameReader(100)
    assert reader.feed(server_frame(OP_TEXT, b"a", fin=0)) == []
    empty = server_frame(OP_CONT, b"", fin=0)  # 2 bytes each
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(20):
            assert reader.feed(empty * 200) == []
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert reader.feed(server_frame(OP_CONT, b"b", fin=1)) == ["ab"]
    # 4,000 empty fragments (8 KB on the wire) of a message limited to 100 bytes
    assert kept < 2048, f"{kept} bytes kept for 4,000 empty fragments"


def test_a_frame_larger_than_a_read_is_assembled_from_many_reads() -> None:
    big = bytes(range(256)) * 2500  # 640,000 bytes: longer than RECV_SIZE, so collected in parts
    stream = server_frame(OP_BINARY, big) + server_frame(OP_TEXT, b"after")
    reader = FrameReader(BIG)
    out: list[object] = []
    for at in range(0, len(stream), 10_000):
        out += reader.feed(stream[at : at + 10_000])
    assert out == [big, "after"]


def test_tiny_fragments_keep_about_what_they_carry() -> None:
    reader = FrameReader(BIG)
    assert reader.feed(server_frame(OP_TEXT, b"a", fin=0)) == []
    tiny = server_frame(OP_CONT, b"bc", fin=0)  # 4 bytes on the wire, 2 of payload
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(10):
            assert reader.feed(tiny * 1000) == []
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert reader.feed(server_frame(OP_CONT, b"d", fin=1)) == ["a" + "bc" * 10_000 + "d"]
    assert kept < 3 * 20_000 + 4096, f"{kept} bytes kept for 20,000 bytes of payload in 10,000 fragments"


@pytest.mark.parametrize(
    "frame",
    [bytes((0x8B, 0)), bytes((0x8F, 1)) + b"x", server_frame(OP_PING, b"x" * 126), server_frame(OP_PING, b"x", fin=0)],
    ids=["reserved-control-0xB", "reserved-control-0xF", "control-over-125-bytes", "fragmented-control"],
)
def test_invalid_control_frames_fail_the_connection(frame: bytes) -> None:
    assert_transport_error(FrameReader(BIG), frame)
