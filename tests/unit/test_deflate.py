"""Tests of permessage-deflate (greensio._core.deflate): negotiation (RFC 7692 §5, §7) and the codec.

Oracles: zlib for the codec; wsproto, the WebSocket engine of simple-websocket
(python-engineio's server side when gevent-websocket is absent), for what a
real server answers to our offer and for frames in both directions.
"""

from __future__ import annotations

import random
import tracemalloc
import zlib
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greensio._core.deflate import (
    DEFAULT_LEVEL,
    DEFAULT_THRESHOLD,
    Deflate,
    DeflateParams,
    accept,
    offer,
)
from greensio._core.wsframe import OP_BINARY, OP_TEXT, FrameError, FrameReader, encode_message, mask_keys
from greensio._exceptions import ProtocolError

if TYPE_CHECKING:
    from wsproto import WSConnection

NO_TAKEOVER = DeflateParams(server_no_context_takeover=True, client_no_context_takeover=True)
TRAILER = b"\x00\x00\xff\xff"


def examples(n: int) -> int:
    """*n* examples, or the soak profile's budget when tests/soak/fuzz_run.py runs this file."""
    return settings().max_examples if settings.get_current_profile_name() == "soak" else n


def inflate(data: bytes) -> bytes:
    """What a receiver makes of a compressed message (RFC 7692 §7.2.2), by zlib."""
    return zlib.decompressobj(-15).decompress(data + TRAILER)


def deflated(data: bytes, bits: int = 15) -> bytes:
    """*data* compressed by zlib as a sender does (sync flush, trailer removed)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, -bits)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def json_event(size: int, seed: int = 0) -> bytes:
    """A Socket.IO event of about *size* bytes, with the repetition real JSON has."""
    rng = random.Random(seed)
    items: list[str] = []
    length = 0
    while length < size:
        items.append(f'{{"id":{rng.randrange(10**6)},"user":"u{rng.randrange(999)}","score":{rng.random():.4f}}}')
        length += len(items[-1]) + 1
    return ('42["update",[' + ",".join(items) + "]]").encode()[:size]


# -- the offer -------------------------------------------------------------------------------------


def test_offer_asks_for_no_context_on_either_side_then_allows_the_server_its_context() -> None:
    assert offer() == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits, "
        "permessage-deflate; client_no_context_takeover; client_max_window_bits"
    )


def test_offer_is_valid_header_syntax() -> None:
    # it parses as an extension list (our own answer parser reads the same grammar)
    first, second = offer().split(", ")
    assert accept(first.replace("; client_max_window_bits", "")) == NO_TAKEOVER
    assert accept(second.replace("; client_max_window_bits", "")) == DeflateParams(client_no_context_takeover=True)


# -- the answer: RFC 7692 negotiation table ---------------------------------------------------------

ACCEPTED = [
    # (server's answer, params): the answers of RFC 7692 §5.2 and §7.1 that fit our offer
    ("permessage-deflate", DeflateParams()),
    ("permessage-deflate; server_no_context_takeover; client_no_context_takeover", NO_TAKEOVER),
    # Node's ws (socket.io 4.8, perMessageDeflate on) to our offer
    ("permessage-deflate; server_no_context_takeover; client_no_context_takeover", NO_TAKEOVER),
    # wsproto (simple-websocket) to our offer
    (
        "permessage-deflate; client_no_context_takeover; server_no_context_takeover; client_max_window_bits=15",
        DeflateParams(True, True, 15, 15),
    ),
    ("permessage-deflate; server_max_window_bits=10", DeflateParams(server_max_window_bits=10)),
    ("permessage-deflate; client_max_window_bits=9", DeflateParams(client_max_window_bits=9)),
    ("permessage-deflate; client_max_window_bits=8", DeflateParams(client_max_window_bits=8)),
    ('permessage-deflate; client_max_window_bits="10"', DeflateParams(client_max_window_bits=10)),
    ("permessage-deflate;server_max_window_bits=8;client_max_window_bits=15", DeflateParams(False, False, 8, 15)),
    ("  permessage-deflate ;\tserver_no_context_takeover  ", DeflateParams(server_no_context_takeover=True)),
    ("Permessage-Deflate; Server_No_Context_Takeover", DeflateParams(server_no_context_takeover=True)),
]


@pytest.mark.parametrize(("answer", "params"), ACCEPTED)
def test_accepted_answers(answer: str, params: DeflateParams) -> None:
    assert accept(answer) == params


def test_connections_with_the_same_answer_share_one_params_object() -> None:
    first = accept("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    again = accept("permessage-deflate;client_no_context_takeover;server_no_context_takeover")
    assert first is again


@pytest.mark.parametrize("answer", [None, "", "  ", "\t"])
def test_no_answer_means_no_compression(answer: str | None) -> None:
    assert accept(answer) is None


REFUSED = [
    ("x-webkit-deflate-frame", "did not offer"),
    ("permessage-deflate, permessage-deflate", "did not offer or twice"),
    ("permessage-deflate, x-foo", "did not offer"),
    ("permessage-deflate; foo", "unknown permessage-deflate parameter foo"),
    ("permessage-deflate; foo=1", "unknown"),
    ("permessage-deflate; server_no_context_takeover; server_no_context_takeover", "given twice"),
    ("permessage-deflate; client_max_window_bits=10; client_max_window_bits=10", "given twice"),
    ("permessage-deflate; server_no_context_takeover=1", "takes no value"),
    ('permessage-deflate; client_no_context_takeover="x"', "takes no value"),
    ("permessage-deflate; client_max_window_bits", "must be 8 to 15"),  # a value is required in an answer
    ("permessage-deflate; server_max_window_bits", "must be 8 to 15"),
    ("permessage-deflate; server_max_window_bits=7", "must be 8 to 15"),
    ("permessage-deflate; server_max_window_bits=16", "must be 8 to 15"),
    ("permessage-deflate; client_max_window_bits=010", "must be 8 to 15"),  # no leading zero
    ("permessage-deflate; client_max_window_bits=-9", "must be 8 to 15"),
    ("permessage-deflate; client_max_window_bits=9.0", "must be 8 to 15"),
    ('permessage-deflate; client_max_window_bits="1 0"', "malformed"),  # unquoted, not a token
    ('permessage-deflate; client_max_window_bits="10', "malformed"),
    ("permessage-deflate;", "malformed"),
    ("permessage-deflate,", "malformed"),
    (", permessage-deflate", "malformed"),
    ("permessage-deflate; =10", "malformed"),
    ("permessage deflate", "malformed"),
    ("permessage-deflate; server_no_context_takeover server_no_context_takeover", "malformed"),
    ("permessage-deflate\r\nX-Evil: 1", "malformed"),
]


@pytest.mark.parametrize(("answer", "message"), REFUSED)
def test_refused_answers(answer: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        accept(answer)


ANSWER_PIECES = [
    *' \t;,="\\\r\n',
    "permessage-deflate",
    "server_no_context_takeover",
    "client_max_window_bits",
    "10",
    "x",
]


@settings(max_examples=examples(300), deadline=None)
@given(st.lists(st.sampled_from(ANSWER_PIECES), max_size=12).map("".join))
def test_any_answer_is_accepted_or_refused_with_protocol_error(answer: str) -> None:
    try:
        params = accept(answer)
    except ProtocolError:
        return
    assert params is None or 8 <= params.server_max_window_bits <= 15 and 8 <= params.client_max_window_bits <= 15


# -- the codec: compress ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 100, 1023, 1024, 4096, 65536, 1 << 20])
def test_compress_round_trips_through_zlib(size: int) -> None:
    data = json_event(size)
    out = Deflate(NO_TAKEOVER).compress(data)
    assert not out.endswith(TRAILER)
    assert inflate(out) == data
    if size >= 1024:
        assert len(out) < len(data) // 2


def test_compress_of_nothing_is_one_byte() -> None:
    # RFC 7692 §7.2.3.6: an empty message may be sent as a single 0x00
    assert Deflate(NO_TAKEOVER).compress(b"") == b"\x00"


def test_each_message_is_compressed_on_its_own() -> None:
    codec = Deflate(NO_TAKEOVER)
    data = json_event(3000)
    first, second = codec.compress(data), codec.compress(data)
    assert first == second  # no context carried over: the second does not refer to the first
    assert inflate(second) == data


@pytest.mark.parametrize("bits", [9, 10, 12, 15])
def test_compress_keeps_within_the_window_the_server_allows(bits: int) -> None:
    codec = Deflate(DeflateParams(client_max_window_bits=bits))
    data = json_event(200_000)
    out = codec.compress(data)
    # a receiver with exactly that window decodes it: no distance reaches further back
    assert zlib.decompressobj(-bits).decompress(out + TRAILER) == data
    assert codec.threshold == DEFAULT_THRESHOLD


def test_a_window_of_8_bits_means_nothing_is_compressed() -> None:
    # zlib refuses windowBits 8 for raw deflate: every message goes uncompressed instead
    codec = Deflate(DeflateParams(client_max_window_bits=8))
    data = json_event(100_000)
    assert encode_message(OP_TEXT, data, b"abcd", codec)[0] == 0x81


def test_level_and_threshold() -> None:
    codec = Deflate(NO_TAKEOVER, threshold=10, level=9)
    assert (codec.threshold, codec.level) == (10, 9)
    assert (
        (Deflate(NO_TAKEOVER).threshold, Deflate(NO_TAKEOVER).level) == (DEFAULT_THRESHOLD, DEFAULT_LEVEL) == (1024, 1)
    )
    data = json_event(65536)
    assert inflate(codec.compress(data)) == data
    assert len(codec.compress(data)) < len(Deflate(NO_TAKEOVER).compress(data))  # level 9 compresses more


@settings(max_examples=examples(200), deadline=None)
@given(data=st.binary(max_size=5000), bits=st.integers(9, 15), level=st.integers(0, 9))
def test_compress_decompress_round_trip_property(data: bytes, bits: int, level: int) -> None:
    codec = Deflate(DeflateParams(True, True, 15, bits), level=level)
    out = codec.compress(data)
    assert zlib.decompressobj(-bits).decompress(out + TRAILER) == data
    assert codec.decompress([out], len(data)) == data


# -- the codec: decompress -------------------------------------------------------------------------


@pytest.mark.parametrize("pieces", [1, 2, 7])
def test_decompress_joins_the_frames_of_a_message(pieces: int) -> None:
    data = json_event(10_000)
    body = deflated(data)
    cuts = [len(body) * i // pieces for i in range(pieces + 1)]
    chunks = [body[a:b] for a, b in zip(cuts, cuts[1:])]
    assert Deflate(NO_TAKEOVER).decompress(chunks, len(data)) == data
    assert Deflate(NO_TAKEOVER).decompress([memoryview(c) for c in chunks], len(data)) == data


@pytest.mark.parametrize("bits", [9, 12, 15])
def test_decompress_of_a_server_with_a_smaller_window(bits: int) -> None:
    data = json_event(50_000)
    params = DeflateParams(server_no_context_takeover=True, server_max_window_bits=bits)
    assert Deflate(params).decompress([deflated(data, bits)], len(data)) == data


def test_decompress_holds_no_zlib_object_between_messages() -> None:
    codec = Deflate(NO_TAKEOVER)
    for i in range(3):
        data = json_event(3000, seed=i)
        assert codec.decompress([deflated(data)], 10_000) == data
        assert codec._inflater is None


def test_a_server_keeping_its_context_costs_one_inflater_while_connected() -> None:
    codec = Deflate(DeflateParams(client_no_context_takeover=True))
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = json_event(3000)
    messages = []
    for _ in range(3):  # the same message three times: the later ones refer back to the first
        messages.append((compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4])
    assert len(messages[2]) < len(messages[0]) // 5
    assert codec._inflater is None  # nothing before the first compressed message
    for body in messages:
        assert codec.decompress([body], 10_000) == data
        assert codec._inflater is not None
    # a per-message inflater cannot read them
    with pytest.raises(FrameError):
        Deflate(NO_TAKEOVER).decompress([messages[1]], 10_000)


def test_a_final_block_ends_the_servers_context() -> None:
    codec = Deflate(DeflateParams())
    final = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = final.compress(b"Hello") + final.flush(zlib.Z_FINISH)
    assert codec.decompress([body], 100) == b"Hello"
    assert codec._inflater is None
    assert codec.decompress([deflated(b"again")], 100) == b"again"


@pytest.mark.parametrize("garbage", [b"\xff" * 10, b"\x07\x00", b"\x06"])
def test_invalid_data_is_a_frame_error(garbage: bytes) -> None:
    with pytest.raises(FrameError, match="invalid compressed data"):
        Deflate(NO_TAKEOVER).decompress([garbage], 1000)


def test_exactly_max_size_passes_one_more_byte_fails() -> None:
    data = json_event(5000)
    body = deflated(data)
    assert Deflate(NO_TAKEOVER).decompress([body], 5000) == data
    with pytest.raises(ProtocolError, match="exceeds max_message_size") as info:
        Deflate(NO_TAKEOVER).decompress([body], 4999)
    assert not isinstance(info.value, FrameError)


@pytest.mark.parametrize("bomb_size", [10 * 2**20, 200 * 2**20])
@pytest.mark.parametrize("max_size", [1000, 256 * 1024])
def test_a_bomb_fails_fast_and_allocates_little(bomb_size: int, max_size: int) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = b"".join(compressor.compress(bytes(2**20)) for _ in range(bomb_size >> 20))
    body += compressor.flush(zlib.Z_SYNC_FLUSH)[:-4]
    assert len(body) < bomb_size // 500  # about 1,000:1
    codec = Deflate(NO_TAKEOVER)
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match="exceeds max_message_size"):
            codec.decompress([body], max_size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the inflater (about 7 KiB and a 32 KiB window), at most twice max_size of output and a 64 KiB
    # slice of the input (what zlib keeps of the input it did not read), whatever the bomb's size
    assert peak < 2 * max_size + 128 * 1024, f"peak {peak} bytes for a {bomb_size >> 20} MiB bomb"


def test_empty_blocks_inflate_to_nothing() -> None:
    # what bounds them is the frame reader's limit on compressed bytes (compressed_limit)
    assert Deflate(NO_TAKEOVER).decompress([b"\x00\x00\x00\xff\xff" * 100], 10) == b""


# -- oracle: wsproto, the engine of simple-websocket -------------------------------------------------


def _wsproto_server() -> tuple[WSConnection, str]:
    """A wsproto server connection that accepted our offer, as simple-websocket does; and its answer."""
    wsproto = pytest.importorskip("wsproto")
    from wsproto.events import AcceptConnection, Request
    from wsproto.extensions import PerMessageDeflate

    server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    server.receive_data(
        (
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Extensions: {offer()}\r\n\r\n"
        ).encode()
    )
    assert [type(event) for event in server.events()] == [Request]
    response = server.send(AcceptConnection(extensions=[PerMessageDeflate()]))
    answers = [
        line.split(b":", 1)[1].strip().decode()
        for line in response.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-extensions:")
    ]
    assert len(answers) == 1
    return server, answers[0]


def test_simple_websocket_accepts_our_offer_without_context_takeover() -> None:
    _, answer = _wsproto_server()
    assert answer == (
        "permessage-deflate; client_no_context_takeover; server_no_context_takeover; client_max_window_bits=15"
    )
    assert accept(answer) == DeflateParams(True, True, 15, 15)


@pytest.mark.parametrize("size", [0, 10, 1024, 70_000])
def test_simple_websocket_inflates_what_we_send(size: int) -> None:
    from wsproto.events import BytesMessage, TextMessage

    server, answer = _wsproto_server()
    params = accept(answer)
    assert params is not None
    codec = Deflate(params, threshold=0)
    text = json_event(size)
    blob = bytes(range(256)) * (size // 256)
    server.receive_data(
        encode_message(OP_TEXT, text, mask_keys.next(), codec)
        + encode_message(OP_BINARY, blob, mask_keys.next(), codec)
        + encode_message(OP_TEXT, text, mask_keys.next(), codec, compress=False)
    )
    events = list(server.events())
    assert [type(e) for e in events] == [TextMessage, BytesMessage, TextMessage]
    assert [e.data for e in events] == [text.decode(), blob, text.decode()]  # type: ignore[attr-defined]


def test_what_simple_websocket_compresses_we_inflate() -> None:
    from wsproto.events import BytesMessage, TextMessage

    server, answer = _wsproto_server()
    params = accept(answer)
    assert params is not None
    reader = FrameReader(1 << 20, Deflate(params))
    text = json_event(5000).decode()
    stream = b"".join(
        [
            server.send(TextMessage(data=text)),
            server.send(TextMessage(data=text)),
            server.send(BytesMessage(data=b"\x00" * 3000)),
            server.send(TextMessage(data="")),
        ]
    )
    assert stream[0] == 0xC1  # compressed (RSV1)
    # the same text twice: both decode with per-message inflaters, so wsproto kept no context
    assert reader.feed(stream) == [text, text, b"\x00" * 3000, ""]
