"""Tests of WebSocket framing (greensio._core.wsframe: encode_frame, encode_message, FrameReader).

Oracle: websocket-client. Frames we write must equal what its ``ABNF`` encoder
writes and decode in its frame reader (``websocket._abnf.frame_buffer``);
frames it builds decode in ours. It cannot inflate (RSV1 is "not implemented"
there): compressed frames are parsed with its reader's steps and inflated with zlib.
"""

from __future__ import annotations

import random
import struct
import tracemalloc
import zlib

import pytest
import websocket
from hypothesis import given, settings
from hypothesis import strategies as st
from websocket._abnf import frame_buffer

from greensio._core.deflate import Deflate, DeflateParams
from greensio._core.wsframe import (
    DIRECT_READ_MIN,
    FIRST_FRAME_BUFFER,
    FRAGMENT_MIN_COST,
    FRAMES_PER_FEED,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    FrameError,
    FrameReader,
    MaskKeys,
    compressed_limit,
    encode_frame,
    encode_frames,
    encode_message,
    mask_keys,
)
from greensio._exceptions import ProtocolError

SIZES = [0, 1, 125, 126, 65535, 65536, 70000]
KEYS = [b"\x00\x00\x00\x00", b"\x12\x34\x56\x78", b"\xff\xfe\xfd\xfc", b"abcd"]
BIG = 1 << 20


def examples(n: int) -> int:
    """*n* examples, or the soak profile's budget when tests/soak/fuzz_run.py runs this file."""
    return settings().max_examples if settings.get_current_profile_name() == "soak" else n


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


def compressed(data: bytes) -> bytes:
    """*data* compressed as a permessage-deflate sender does (sync flush, trailer removed), by zlib."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


NO_TAKEOVER = DeflateParams(server_no_context_takeover=True, client_no_context_takeover=True)


def deflate(threshold: int = 0) -> Deflate:
    return Deflate(NO_TAKEOVER, threshold=threshold)


def read_client_frame(frame: bytes) -> tuple[int, int, int, bytes]:
    """(fin, rsv1, opcode, unmasked payload) of one client frame, read by websocket-client's frame reader.

    Its ``recv_frame`` refuses RSV1 ("rsv is not implemented"), so the header, length, mask and
    payload are read with its own steps, and the payload unmasked with its ``ABNF.mask``.
    """
    data = [frame]

    def recv(n: int) -> bytes:
        chunk, data[0] = data[0][:n], data[0][n:]
        return chunk

    reader = frame_buffer(recv, skip_utf8_validation=False)
    reader.recv_header()
    reader.recv_length()
    reader.recv_mask()
    assert reader.header is not None and reader.length is not None and reader.mask_value is not None
    fin, rsv1, rsv2, rsv3, opcode, has_mask, _ = reader.header
    assert has_mask and not rsv2 and not rsv3
    body = websocket.ABNF.mask(reader.mask_value, reader.recv_strict(reader.length))
    assert data[0] == b"", "the frame is longer than its header says"
    if not rsv1:  # its full reader (which validates the frame) agrees
        data[0] = frame
        whole = frame_buffer(recv, skip_utf8_validation=False).recv_frame()
        assert (whole.opcode, whole.data) == (opcode, body)
    return fin, rsv1, opcode, body


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


@settings(max_examples=examples(200))
@given(
    packets=st.lists(st.one_of(st.text(max_size=300), st.binary(max_size=70000)), max_size=8),
    seed=st.binary(min_size=32, max_size=32),
)
def test_encode_frames_is_each_packet_framed_as_websocket_client_does(packets: list[object], seed: bytes) -> None:
    # a batch masked in one pass, each frame with its own key, is the frames one by one
    keys = (seed * (len(packets) // 8 + 1))[: 4 * len(packets)]
    expected = b"".join(
        client_frame(OP_TEXT, p.encode(), keys[4 * i : 4 * i + 4])
        if isinstance(p, str)
        else client_frame(OP_BINARY, p, keys[4 * i : 4 * i + 4])  # type: ignore[arg-type]
        for i, p in enumerate(packets)
    )
    assert encode_frames(packets, keys) == expected  # type: ignore[arg-type]


def test_mask_keys_take_gives_fresh_keys_from_the_pool() -> None:
    first, second = mask_keys.take(3), mask_keys.take(2000)
    assert (len(first), len(second)) == (12, 8000)
    assert first not in second


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_encode_frame_with_rsv1_matches_websocket_client(size: int, opcode: int) -> None:
    key = b"\x12\x34\x56\x78"
    data = payload(size)
    expected = websocket.ABNF(1, 1, 0, 0, opcode, 1, data)
    expected.get_mask_key = lambda n: key
    frame = encode_frame(opcode, data, key, rsv1=True)
    assert frame == expected.format()
    assert frame[0] == 0xC0 | opcode


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY, OP_PING, OP_PONG])
def test_frames_we_write_decode_in_websocket_client(size: int, opcode: int) -> None:
    if opcode >= OP_CLOSE:
        size = min(size, 125)
    data = payload(size) if opcode != OP_TEXT else ("é☃x" * size).encode()[:size].decode("utf-8", "ignore").encode()
    assert read_client_frame(encode_frame(opcode, data, mask_keys.next())) == (1, 0, opcode, data)


@pytest.mark.parametrize("data", [b"", b"\x03\xe8", b"\x03\xe8" + b"bye" * 41])
def test_close_frames_we_write_decode_in_websocket_client(data: bytes) -> None:
    assert read_client_frame(encode_frame(OP_CLOSE, data, mask_keys.next())) == (1, 0, OP_CLOSE, data)


def test_mask_keys_are_4_random_bytes_each() -> None:
    keys = MaskKeys()
    drawn = [keys.next() for _ in range(3000)]  # more than one pool of 4096 bytes
    assert all(len(key) == 4 for key in drawn)
    assert len(set(drawn)) > 2990
    keys.reset()
    assert len(keys.next()) == 4


# -- encode_message: compression on the sending side ---------------------------------------------


@pytest.mark.parametrize("size", [1024, 5000, 70000])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_a_compressed_message_decodes_in_websocket_client_and_zlib(size: int, opcode: int) -> None:
    data = (b'42["event",{"k":"' + b"abc" * size)[:size]
    frame = encode_message(opcode, data, mask_keys.next(), deflate(threshold=1024))
    fin, rsv1, got_opcode, body = read_client_frame(frame)
    assert (fin, rsv1, got_opcode) == (1, 1, opcode)
    assert len(body) < size // 4
    assert zlib.decompressobj(-15).decompress(body + b"\x00\x00\xff\xff") == data


def test_below_the_threshold_a_message_goes_uncompressed() -> None:
    key = b"abcd"
    codec = deflate(threshold=1024)
    assert encode_message(OP_TEXT, b"x" * 1023, key, codec) == encode_frame(OP_TEXT, b"x" * 1023, key)
    assert encode_message(OP_TEXT, b"x" * 1024, key, codec)[0] == 0xC1


def test_compress_false_sends_one_message_uncompressed() -> None:
    key = b"abcd"
    data = b"y" * 5000
    assert encode_message(OP_BINARY, data, key, deflate(), compress=False) == encode_frame(OP_BINARY, data, key)
    assert encode_message(OP_BINARY, data, key, None) == encode_frame(OP_BINARY, data, key)
    assert encode_message(OP_BINARY, data, key, deflate())[0] == 0xC2


@settings(max_examples=examples(100), deadline=None)
@given(data=st.binary(max_size=3000) | st.text(max_size=2000).map(str.encode), opcode=st.sampled_from([1, 2]))
def test_what_we_compress_our_reader_inflates(data: bytes, opcode: int) -> None:
    if opcode == OP_TEXT:
        data = data.decode("utf-8", "replace").encode()
    frame = encode_message(opcode, data, b"\x00\x00\x00\x00", deflate())
    server_view = bytes((frame[0], frame[1] & 0x7F)) + frame[2:]  # unmask (zero key): a server frame
    if len(data) >= 126 or frame[1] & 0x7F >= 126:
        header = 2 + (2 if frame[1] & 0x7F == 126 else 8 if frame[1] & 0x7F == 127 else 0)
        server_view = server_view[:header] + server_view[header + 4 :]
    else:
        server_view = server_view[:2] + server_view[6:]
    expected = data.decode() if opcode == OP_TEXT else data
    assert FrameReader(BIG, deflate()).feed(server_view) == [expected]


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
    reader = FrameReader(BIG)
    assert reader.feed(stream) == ["40", b"\x00\x01", '42["ev",1]', "", b""]
    assert reader.take_ping() == b"hi"


def test_close_frame_comes_out_as_a_tuple() -> None:
    for data in (b"", b"\x03\xe8", b"\x03\xe8bye"):
        out = FrameReader(BIG).feed(server_frame(OP_CLOSE, data))
        assert out == [(OP_CLOSE, data)]
        assert type(out[0][1]) is bytes  # type: ignore[index]


@pytest.mark.parametrize("data", [b"", b"\x03\xe8", b"p" * 125])
def test_ping_is_kept_for_the_transport_to_answer(data: bytes) -> None:
    reader = FrameReader(BIG)
    assert reader.ping is None
    assert reader.feed(server_frame(OP_PING, data)) == []
    assert reader.ping == data and type(reader.ping) is bytes
    assert reader.take_ping() == data
    assert reader.ping is None and reader.take_ping() is None


@pytest.mark.parametrize("data", [b"", b"\x03\xe8", b"q" * 125])
def test_pong_is_dropped(data: bytes) -> None:
    reader = FrameReader(BIG)
    assert reader.feed(server_frame(OP_PONG, data) + server_frame(OP_TEXT, b"4x")) == ["4x"]
    assert reader.ping is None


# -- FrameReader: control frames, at most one pending PONG -----------------------------------------


def test_a_ping_flood_leaves_one_ping_to_answer_the_latest() -> None:
    reader = FrameReader(BIG)
    flood = b"".join(server_frame(OP_PING, str(i).encode()) for i in range(10_000))
    tracemalloc.start()
    try:
        out = reader.feed(flood)
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert out == []
    assert reader.take_ping() == b"9999"  # RFC 6455 §5.5.3: answering the latest PING is enough
    assert reader.take_ping() is None
    assert kept < 4096, f"{kept} bytes kept for 10,000 PINGs"


def test_pings_across_reads_keep_only_the_latest_unanswered() -> None:
    reader = FrameReader(BIG)
    reader.feed(server_frame(OP_PING, b"1"))
    reader.feed(server_frame(OP_PING, b"2") + server_frame(OP_PING, b"3")[:1])
    assert reader.ping == b"2"
    reader.feed(server_frame(OP_PING, b"3")[1:])
    assert reader.take_ping() == b"3"
    reader.feed(server_frame(OP_PING, b""))
    assert reader.take_ping() == b""  # an empty PING is answered too


def test_a_pong_flood_makes_no_output() -> None:
    reader = FrameReader(BIG)
    out = reader.feed(server_frame(OP_PONG, b"") * 50_000 + server_frame(OP_TEXT, b"ok"))
    while reader.backlog:
        out += reader.feed(b"")
    assert out == ["ok"]


def test_one_feed_parses_at_most_frames_per_feed_and_keeps_the_rest_as_its_backlog() -> None:
    reader = FrameReader(BIG)
    texts = [str(i).encode() for i in range(FRAMES_PER_FEED + 10)]
    stream = b"".join(server_frame(OP_TEXT, t) for t in texts)
    first = reader.feed(stream + server_frame(OP_TEXT, b"next")[:3])
    assert len(first) == FRAMES_PER_FEED
    assert reader.backlog.startswith(server_frame(OP_TEXT, texts[FRAMES_PER_FEED]))
    assert reader.frame_buffer() is None  # nothing is read into a frame buffer while a backlog waits
    rest = reader.feed(server_frame(OP_TEXT, b"next")[3:])  # later bytes come after the backlog
    assert reader.backlog == b""
    assert first + rest == [t.decode() for t in texts] + ["next"]


def test_a_large_frame_is_read_into_its_own_buffer_which_grows_with_what_arrives() -> None:
    reader = FrameReader(BIG)
    payload = bytes(range(256)) * 2048  # 512 KiB
    frame = server_frame(OP_BINARY, payload)
    assert reader.feed(frame[:1000]) == []
    got: list[object] = []
    pos = 1000
    sizes = []
    while (room := reader.frame_buffer()) is not None:
        sizes.append(len(room))
        n = min(len(room), 100_000)
        room[:n] = frame[pos : pos + n]
        pos += n
        got += reader.frame_filled(n)
    assert 0 < len(frame) - pos < DIRECT_READ_MIN  # the last bytes are fed
    got += reader.feed(frame[pos:])
    assert got == [payload]
    # Not the announced 512 KiB before its bytes came; doubled once it was full.
    first = FIRST_FRAME_BUFFER - 1000
    assert sizes[:4] == [first, first - 100_000, first - 200_000, FIRST_FRAME_BUFFER]
    assert reader.frame_buffer() is None
    with pytest.raises(RuntimeError):
        reader.frame_filled(1)


def test_a_small_rest_of_a_frame_is_fed_not_read_into_a_buffer() -> None:
    reader = FrameReader(BIG)
    frame = server_frame(OP_TEXT, b"x" * 20_000)
    reader.feed(frame[:10_000])
    assert reader.frame_buffer() is None  # under DIRECT_READ_MIN missing
    assert reader.feed(frame[10_000:]) == ["x" * 20_000]


def test_the_close_frame_ends_the_stream() -> None:
    reader = FrameReader(BIG)
    stream = (
        server_frame(OP_TEXT, b"before")
        + server_frame(OP_CLOSE, b"\x03\xe8")
        + server_frame(OP_TEXT, b"after")
        + b"\xff\xff garbage that is never parsed"
    )
    assert reader.feed(stream) == ["before", (OP_CLOSE, b"\x03\xe8")]
    assert reader.closed
    assert reader.feed(server_frame(OP_TEXT, b"later")) == []
    assert reader.feed(b"\x83\x00") == []  # no error after the close either


def test_the_close_frame_completing_an_unfinished_frame_ends_the_stream() -> None:
    close = server_frame(OP_CLOSE, b"\x03\xe8bye")
    reader = FrameReader(BIG)
    assert reader.feed(close[:3]) == []
    assert reader.feed(close[3:] + server_frame(OP_TEXT, b"after") + b"\x83\x00") == [(OP_CLOSE, b"\x03\xe8bye")]
    assert reader.closed and reader._have == 0


# -- FrameReader: split input --------------------------------------------------------------------


STREAM_PARTS: list[tuple[bytes, object]] = [
    (server_frame(OP_TEXT, b'0{"sid":"x"}'), '0{"sid":"x"}'),
    (server_frame(OP_BINARY, payload(200)), payload(200)),  # 16-bit length
    (server_frame(OP_PING, b""), None),
    (server_frame(OP_TEXT, "☃é".encode()), "☃é"),
    (server_frame(OP_TEXT, b"he", fin=0), None),
    (server_frame(OP_CONT, b"ll", fin=0), None),
    (server_frame(OP_PING, b"p"), None),
    (server_frame(OP_CONT, b"o", fin=1), "hello"),
    (server_frame(OP_PONG, b"q"), None),
    (server_frame(OP_BINARY, b""), b""),
]
STREAM = b"".join(frame for frame, _ in STREAM_PARTS)
EXPECTED = [item for _, item in STREAM_PARTS if item is not None]
LAST_PING = b"p"


def test_split_at_every_byte_boundary() -> None:
    for cut in range(len(STREAM) + 1):
        reader = FrameReader(BIG)
        assert feed_all(reader, [STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut
        assert reader.ping == LAST_PING


def test_one_byte_at_a_time() -> None:
    reader = FrameReader(BIG)
    assert feed_all(reader, [STREAM[i : i + 1] for i in range(len(STREAM))]) == EXPECTED
    assert reader.ping == LAST_PING


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
    reader = FrameReader(BIG)
    assert feed_all(reader, chunks) == EXPECTED
    assert reader.ping == LAST_PING


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
    assert reader.ping == LAST_PING


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
    reader = FrameReader(BIG)
    assert reader.feed(stream) == [b"abcd", "next"]
    assert reader.take_ping() == b"x"


def test_close_inside_a_fragmented_message() -> None:
    stream = server_frame(OP_TEXT, b"a", fin=0) + server_frame(OP_CLOSE, b"") + server_frame(OP_CONT, b"b", fin=1)
    assert FrameReader(BIG).feed(stream) == [(OP_CLOSE, b"")]


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


# -- FrameReader: permessage-deflate --------------------------------------------------------------

# RFC 7692 §7.2.3: "Hello" compressed in the ways a sender may, as whole server frames
RFC_HELLO = {
    "one-block": "c107f248cdc9c90700",
    "fragmented": "4103f248cd" + "8004c9c90700",
    "stored-block": "c10b000500faff48656c6c6f00",
    "bfinal": "c108f348cdc9c9070000",
    "two-blocks": "c10df24805000000ffffcac9c90700",
}


@pytest.mark.parametrize("name", RFC_HELLO)
def test_rfc_7692_examples(name: str) -> None:
    stream = bytes.fromhex(RFC_HELLO[name])
    assert FrameReader(BIG, deflate()).feed(stream) == ["Hello"]
    for cut in range(len(stream) + 1):
        assert feed_all(FrameReader(BIG, deflate()), [stream[:cut], stream[cut:]]) == ["Hello"], cut


def test_rfc_7692_example_of_a_shared_window() -> None:
    # §7.2.3.2: the second "Hello" refers back to the first: a server that keeps its context
    takeover = Deflate(DeflateParams(client_no_context_takeover=True), threshold=0)
    reader = FrameReader(BIG, takeover)
    assert reader.feed(bytes.fromhex("c107f248cdc9c90700" + "c105f200110000")) == ["Hello", "Hello"]
    # without takeover the same bytes cannot decode: the second message has no window to refer to
    with pytest.raises(FrameError, match="invalid compressed data"):
        FrameReader(BIG, deflate()).feed(bytes.fromhex("c107f248cdc9c90700" + "c105f200110000"))


@pytest.mark.parametrize("size", [0, 1, 125, 126, 1000, 65536, 200_000])
@pytest.mark.parametrize("opcode", [OP_TEXT, OP_BINARY])
def test_compressed_messages_of_every_size(size: int, opcode: int) -> None:
    data = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    expected = data.decode() if opcode == OP_TEXT else data
    frame = server_frame(opcode, compressed(data), rsv1=1)
    assert FrameReader(BIG, deflate()).feed(frame) == [expected]


def test_compressed_fragmented_message_with_controls_between() -> None:
    body = compressed(b'42["news",' + b'"x",' * 500 + b'"end"]')
    stream = (
        server_frame(OP_TEXT, body[:10], fin=0, rsv1=1)
        + server_frame(OP_PING, b"keep")
        + server_frame(OP_CONT, body[10:20], fin=0)
        + server_frame(OP_CONT, b"", fin=0)
        + server_frame(OP_CONT, body[20:], fin=1)
        + server_frame(OP_TEXT, b"plain")
    )
    reader = FrameReader(BIG, deflate())
    for cut in (0, 7, 30, len(stream) - 3):
        reader = FrameReader(BIG, deflate())
        assert feed_all(reader, [stream[:cut], stream[cut:]]) == ['42["news",' + '"x",' * 500 + '"end"]', "plain"]
        assert reader.ping == b"keep"


def test_compressed_and_plain_messages_mix() -> None:
    stream = (
        server_frame(OP_TEXT, compressed(b"zipped"), rsv1=1)
        + server_frame(OP_TEXT, b"plain")
        + server_frame(OP_BINARY, compressed(b"\x00\x01"), rsv1=1)
        + server_frame(OP_BINARY, b"\x02")
    )
    assert FrameReader(BIG, deflate()).feed(stream) == ["zipped", "plain", b"\x00\x01", b"\x02"]


def test_frames_websocket_client_compresses_are_inflated() -> None:
    # websocket-client builds the frame (RSV1 set, payload from zlib): our reader inflates it
    text = "☃ compressed by a peer " * 40
    frame = websocket.ABNF(1, 1, 0, 0, OP_TEXT, 0, compressed(text.encode())).format()
    assert FrameReader(BIG, deflate()).feed(frame) == [text]


def test_rsv1_without_negotiation_is_refused() -> None:
    assert_frame_error(FrameReader(BIG), server_frame(OP_TEXT, compressed(b"hi"), rsv1=1))


@pytest.mark.parametrize(
    "stream",
    [
        server_frame(OP_TEXT, b"a", fin=0, rsv1=1) + server_frame(OP_CONT, b"b", fin=1, rsv1=1),
        server_frame(OP_TEXT, b"a", fin=0) + server_frame(OP_CONT, compressed(b"b"), fin=1, rsv1=1),
        server_frame(OP_PING, b"", rsv1=1),
        server_frame(OP_CLOSE, b"", rsv1=1),
        server_frame(OP_TEXT, compressed(b"hi"), rsv1=1, rsv2=1),
        server_frame(OP_TEXT, b"hi", rsv2=1),
        server_frame(OP_BINARY, b"hi", rsv3=1),
    ],
    ids=[
        "rsv1-on-continuation",
        "rsv1-on-last-continuation",
        "rsv1-on-ping",
        "rsv1-on-close",
        "rsv1+rsv2",
        "rsv2",
        "rsv3",
    ],
)
def test_reserved_bits_other_than_rsv1_on_a_first_frame_are_refused(stream: bytes) -> None:
    assert_frame_error(FrameReader(BIG, deflate()), stream)


@pytest.mark.parametrize("garbage", [b"\xff\xff\xff", b"\x07", bytes(range(40))])
def test_invalid_compressed_data(garbage: bytes) -> None:
    with pytest.raises(FrameError, match="invalid compressed data"):
        FrameReader(BIG, deflate()).feed(server_frame(OP_BINARY, garbage, rsv1=1))


def test_invalid_utf8_in_a_compressed_text_message() -> None:
    assert_frame_error(FrameReader(BIG, deflate()), server_frame(OP_TEXT, compressed(b"ok\xff"), rsv1=1))


# -- FrameReader: decompression bombs and sizes ----------------------------------------------------


def bomb(size: int) -> bytes:
    """*size* zero bytes compressed: about 1,000 times smaller."""
    return compressed(bytes(size))


@pytest.mark.parametrize("fragmented", [False, True])
def test_a_decompression_bomb_stops_at_the_limit(fragmented: bool) -> None:
    limit = 64 * 1024
    body = bomb(50 * 2**20)  # 50 MiB of zeros in about 50 KB
    assert len(body) < limit
    if fragmented:
        stream = server_frame(OP_BINARY, body[:1000], fin=0, rsv1=1) + server_frame(OP_CONT, body[1000:], fin=1)
    else:
        stream = server_frame(OP_BINARY, body, rsv1=1)
    reader = FrameReader(limit, deflate())
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match="exceeds max_message_size") as info:
            reader.feed(stream)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not isinstance(info.value, FrameError)  # too large ("parse error"), not a broken stream
    assert peak < 4 * limit + 128 * 1024, f"peak {peak} bytes while refusing a 50 MiB bomb"


def test_a_compressed_message_of_exactly_max_message_is_accepted() -> None:
    data = bytes(range(256)) * 40  # 10,240 bytes
    assert FrameReader(len(data), deflate()).feed(server_frame(OP_BINARY, compressed(data), rsv1=1)) == [data]
    with pytest.raises(ProtocolError, match="exceeds max_message_size"):
        FrameReader(len(data) - 1, deflate()).feed(server_frame(OP_BINARY, compressed(data), rsv1=1))


@pytest.mark.parametrize("level", [0, 6])
@pytest.mark.parametrize("size", [1, 100, 5000, 100_000])
def test_incompressible_data_of_max_message_fits_its_compressed_bound(level: int, size: int) -> None:
    data = random.Random(size).randbytes(size)
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert len(body) > len(data)  # deflate made it larger
    assert len(body) <= compressed_limit(size)
    assert FrameReader(size, deflate()).feed(server_frame(OP_BINARY, body, rsv1=1)) == [data]


def test_a_compressed_frame_over_its_bound_is_refused_at_the_header() -> None:
    limit = 1000
    n = compressed_limit(limit) + 1
    header = bytes((0xC2, 126)) + struct.pack("!H", n)
    with pytest.raises(ProtocolError, match="exceeds max_message_size"):
        FrameReader(limit, deflate()).feed(header)
    # within the bound the header is accepted and the frame waits for its payload
    ok = bytes((0xC2, 126)) + struct.pack("!H", n - 1)
    assert FrameReader(limit, deflate()).feed(ok) == []
    # an uncompressed frame keeps the exact limit
    with pytest.raises(ProtocolError, match="exceeds max_message_size"):
        FrameReader(limit, deflate()).feed(bytes((0x82, 126)) + struct.pack("!H", limit + 1))


def test_empty_deflate_blocks_cannot_go_on_for_ever() -> None:
    # a stored block of nothing is 5 bytes that inflate to nothing: count the compressed bytes too
    empty_blocks = b"\x00\x00\x00\xff\xff" * 1000
    reader = FrameReader(1000, deflate())
    assert reader.feed(server_frame(OP_BINARY, empty_blocks[:200], rsv1=1)) == [b""]
    stream = server_frame(OP_BINARY, empty_blocks[:500], fin=0, rsv1=1)
    stream += server_frame(OP_CONT, empty_blocks[:500], fin=0)
    stream += server_frame(OP_CONT, empty_blocks[:500], fin=1)
    with pytest.raises(ProtocolError, match="fragmented message exceeds max_message_size"):
        reader.feed(stream)


# -- FrameReader: fragment floods -------------------------------------------------------------------


def test_empty_fragments_count_against_max_message() -> None:
    limit = 100
    reader = FrameReader(limit)
    assert reader.feed(server_frame(OP_TEXT, b"a", fin=0)) == []
    allowed = limit // FRAGMENT_MIN_COST - 1  # the first fragment counted FRAGMENT_MIN_COST too
    assert reader.feed(server_frame(OP_CONT, b"", fin=0) * allowed) == []
    with pytest.raises(ProtocolError, match="fragmented message exceeds max_message_size"):
        reader.feed(server_frame(OP_CONT, b"", fin=0))


def test_a_flood_of_empty_fragments_ends_within_max_message_over_the_min_cost() -> None:
    limit = 1 << 20
    reader = FrameReader(limit)
    fragments = 0
    chunk = server_frame(OP_CONT, b"", fin=0) * 4096
    reader.feed(server_frame(OP_BINARY, b"", fin=0))
    with pytest.raises(ProtocolError, match="fragmented message exceeds max_message_size"):
        while fragments <= limit:
            reader.feed(chunk)
            fragments += 4096
    assert fragments <= limit // FRAGMENT_MIN_COST


def test_fragments_of_their_payload_size_keep_the_exact_limit() -> None:
    stream = server_frame(OP_TEXT, b"a" * 60, fin=0) + server_frame(OP_CONT, b"b" * 40, fin=1)
    assert FrameReader(100).feed(stream) == ["a" * 60 + "b" * 40]


def test_an_oversize_fragment_is_refused_at_its_header() -> None:
    reader = FrameReader(100)
    assert reader.feed(server_frame(OP_BINARY, b"x" * 60, fin=0)) == []
    with pytest.raises(ProtocolError, match="fragmented message exceeds max_message_size"):
        reader.feed(server_frame(OP_CONT, b"y" * 41, fin=1)[:2])  # its payload never arrives


def test_empty_fragments_keep_no_memory() -> None:
    reader = FrameReader(BIG)
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
    # 4,000 empty fragments (8 KB on the wire)
    assert kept < 2048, f"{kept} bytes kept for 4,000 empty fragments"


# -- FrameReader: errors --------------------------------------------------------------------------


def assert_frame_error(reader: FrameReader, *chunks: bytes) -> FrameError:
    """A broken frame is a FrameError (a ProtocolError; the transport closes with "transport error")."""
    with pytest.raises(FrameError) as info:
        for chunk in chunks:
            reader.feed(chunk)
    assert isinstance(info.value, ProtocolError)
    return info.value


@pytest.mark.parametrize("bad", [b"\xff", b"\xc3\x28", b"a\xed\xa0\x80", b"\xe2\x98"])
def test_invalid_utf8(bad: bytes) -> None:
    assert_frame_error(FrameReader(BIG), server_frame(OP_TEXT, bad))


def test_invalid_utf8_in_a_fragmented_message() -> None:
    assert_frame_error(FrameReader(BIG), server_frame(OP_TEXT, b"ok", fin=0) + server_frame(OP_CONT, b"\xff", fin=1))


@pytest.mark.parametrize("size", [0, 5, 300, 70000])
def test_masked_server_frame(size: int) -> None:
    frame = client_frame(OP_TEXT, b"a" * size, b"\x01\x02\x03\x04")
    assert_frame_error(FrameReader(BIG), frame)


@pytest.mark.parametrize(("rsv1", "rsv2", "rsv3"), [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)])
def test_reserved_bits(rsv1: int, rsv2: int, rsv3: int) -> None:
    frame = server_frame(OP_TEXT, b"hi", rsv1=rsv1, rsv2=rsv2, rsv3=rsv3)
    assert_frame_error(FrameReader(BIG), frame)


def test_reserved_bits_on_a_control_frame() -> None:
    assert_frame_error(FrameReader(BIG), server_frame(OP_PING, b"", rsv1=1))


def test_frame_of_exactly_max_message_is_accepted() -> None:
    assert FrameReader(300).feed(server_frame(OP_BINARY, payload(300))) == [payload(300)]


def assert_too_large(reader: FrameReader, *chunks: bytes) -> None:
    """Over max_message_size is a ProtocolError, not a FrameError (the connection closes with "parse error")."""
    with pytest.raises(ProtocolError, match="exceeds max_message_size") as info:
        for chunk in chunks:
            reader.feed(chunk)
    assert not isinstance(info.value, FrameError)


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
    assert_too_large(FrameReader(BIG, deflate()), bytes((0xC2, 127)) + struct.pack("!Q", 1 << 62))


def test_oversize_fragmented_message() -> None:
    stream = server_frame(OP_TEXT, b"a" * 60, fin=0) + server_frame(OP_CONT, b"b" * 41, fin=1)
    assert_too_large(FrameReader(100), stream)
    ok = server_frame(OP_TEXT, b"a" * 60, fin=0) + server_frame(OP_CONT, b"b" * 40, fin=1)
    assert FrameReader(100).feed(ok) == ["a" * 60 + "b" * 40]


def test_continuation_without_a_message() -> None:
    assert_frame_error(FrameReader(BIG), server_frame(OP_CONT, b"x", fin=1))


def test_continuation_after_a_finished_message() -> None:
    stream = server_frame(OP_TEXT, b"a", fin=0) + server_frame(OP_CONT, b"b", fin=1)
    reader = FrameReader(BIG)
    assert reader.feed(stream) == ["ab"]
    assert_frame_error(reader, server_frame(OP_CONT, b"c", fin=1))


def test_new_fragmented_message_inside_a_fragmented_one() -> None:
    stream = server_frame(OP_TEXT, b"a", fin=0) + server_frame(OP_BINARY, b"b", fin=0)
    assert_frame_error(FrameReader(BIG), stream)


def test_whole_message_inside_a_fragmented_one() -> None:
    stream = server_frame(OP_TEXT, b"a", fin=0) + server_frame(OP_TEXT, b"b", fin=1)
    assert_frame_error(FrameReader(BIG), stream)


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7])
def test_unknown_data_opcode(opcode: int) -> None:
    frame = bytes((0x80 | opcode, 1)) + b"x"
    assert_frame_error(FrameReader(BIG), frame)


@pytest.mark.parametrize(
    "frame",
    [bytes((0x8B, 0)), bytes((0x8F, 1)) + b"x", server_frame(OP_PING, b"x" * 126), server_frame(OP_PING, b"x", fin=0)],
    ids=["reserved-control-0xB", "reserved-control-0xF", "control-over-125-bytes", "fragmented-control"],
)
def test_invalid_control_frames_fail_the_connection(frame: bytes) -> None:
    assert_frame_error(FrameReader(BIG), frame)


# -- FrameReader: garbage and memory --------------------------------------------------------------


def _feed_garbage(reader: FrameReader, chunks: list[bytes]) -> list[object]:
    """Feed *chunks*: messages, or one ProtocolError (FrameError for a broken stream, else too
    large); never more kept than a frame and one message's fragments."""
    out: list[object] = []
    bound = compressed_limit(reader.max_message) if reader._deflate is not None else reader.max_message
    for chunk in chunks:
        try:
            items = reader.feed(chunk)
        except FrameError:
            return out
        except ProtocolError as exc:
            assert "exceeds max_message_size" in str(exc)
            return out
        for item in items:
            if type(item) is tuple:
                opcode, data = item
                assert opcode == OP_CLOSE and reader.closed
                assert type(data) is bytes and len(data) <= 125
            else:
                assert type(item) in (str, bytes)
                assert len(item) <= reader.max_message  # type: ignore[arg-type]
        assert reader.ping is None or len(reader.ping) <= 125
        out.extend(items)
        # white-box: what waits is at most one frame (header + payload), one message's fragments
        # and a backlog of what was read
        assert reader._have <= len(reader._frame) < 14 + bound
        assert len(reader.backlog) <= len(chunk)
        assert len(reader._frags) <= bound
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
# frames whose payload is DEFLATE data (valid, a bomb, or cut), with RSV1 or not, whole or not
deflate_bodies = st.sampled_from([compressed(b"hello " * 20), bomb(100_000), compressed(bytes(range(256))), b"\x00"])
deflate_frames = st.builds(
    lambda b0, body, cut: server_frame(b0 & 0x0F, body[:cut], fin=b0 >> 7 & 1, rsv1=b0 >> 6 & 1),
    st.sampled_from([0xC1, 0xC2, 0x41, 0x42, 0x80, 0x00, 0x81, 0xC0]),
    deflate_bodies,
    st.integers(0, 2000),
)


def _chunks(data: st.DataObject, stream: bytes) -> list[bytes]:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    points = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in zip(points, points[1:])]


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(random_frames | st.binary(max_size=12), max_size=8), st.sampled_from([1, 50, 300, BIG]), st.data())
def test_random_frames_only_raise_protocol_errors(frames: list[bytes], limit: int, data: st.DataObject) -> None:
    _feed_garbage(FrameReader(limit), _chunks(data, b"".join(frames)))


@settings(max_examples=examples(300), deadline=None)
@given(
    st.lists(deflate_frames | random_frames | st.binary(max_size=12), max_size=8),
    st.sampled_from([1, 50, 300, 5000, BIG]),
    st.data(),
)
def test_random_compressed_frames_only_raise_protocol_errors(
    frames: list[bytes], limit: int, data: st.DataObject
) -> None:
    _feed_garbage(FrameReader(limit, deflate()), _chunks(data, b"".join(frames)))


@settings(max_examples=examples(300), deadline=None)
@given(st.data())
def test_mutated_stream_only_raises_protocol_errors(data: st.DataObject) -> None:
    stream = bytearray(STREAM + bytes.fromhex("".join(RFC_HELLO.values())))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "set", "insert", "delete", "cut"]))
        at = data.draw(st.integers(0, len(stream)))
        if op == "flip" and at < len(stream):
            stream[at] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set" and at < len(stream):
            stream[at] = data.draw(st.sampled_from([0x00, 0x7E, 0x7F, 0x80, 0xFF, 0x01, 0x09, 0x0A, 0xC1]))
        elif op == "insert":
            stream[at:at] = data.draw(st.binary(min_size=1, max_size=10) | frame_headers)
        elif op == "delete":
            del stream[at : at + data.draw(st.integers(1, 10))]
        else:
            del stream[at:]
    codec = data.draw(st.sampled_from([None, deflate()]))
    _feed_garbage(FrameReader(data.draw(st.sampled_from([100, 300, BIG])), codec), _chunks(data, bytes(stream)))


def test_a_frame_larger_than_a_read_is_assembled_from_many_reads() -> None:
    big = bytes(range(256)) * 2500  # 640,000 bytes: longer than a read, so collected in parts
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


def test_an_idle_reader_with_deflate_holds_no_zlib_object() -> None:
    reader = FrameReader(BIG, deflate())
    reader.feed(server_frame(OP_TEXT, compressed(b"x" * 5000), rsv1=1))
    assert reader._deflate is not None and reader._deflate._inflater is None
