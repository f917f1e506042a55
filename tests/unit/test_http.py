"""Tests of the strict HTTP/1.1 response parser and request head builder (greensio._core.http).

Table tests with bytes: what is accepted (and exactly what comes out), what is
rejected (and why), and the limits at their exact boundaries. Every accepted
case is also fed split at every byte boundary and in random pieces, and must
give the same response. The differential tests against h11 are in test_http_h11.py.
"""

from __future__ import annotations

import dataclasses
import random
import tracemalloc
from typing import Union

import pytest

from greensio._core.http import (
    MAX_CHUNK_LINE,
    HTTPError,
    Response,
    ResponseParser,
    TooLarge,
    build_head,
)
from greensio._exceptions import ProtocolError

LIMIT = 1 << 20
OK = b"HTTP/1.1 200 OK\r\n"
CHUNKED_HEAD = OK + b"Transfer-Encoding: chunked\r\n\r\n"


def parse(data: bytes, max_body: int = LIMIT, **options: int) -> tuple[Response, bytes]:
    """Feed ``data`` at once, then EOF if needed: the response and the bytes after it."""
    parser = ResponseParser(max_body, **options)  # type: ignore[arg-type]
    response = parser.feed(data)
    if response is None:
        return parser.feed_eof(), b""
    return response, parser.rest


def parse_pieces(pieces: list[bytes], max_body: int = LIMIT, **options: int) -> tuple[Response, bytes]:
    parser = ResponseParser(max_body, **options)  # type: ignore[arg-type]
    for i, piece in enumerate(pieces):
        response = parser.feed(piece)
        if response is not None:
            return response, parser.rest + b"".join(pieces[i + 1 :])
    return parser.feed_eof(), b""


def reject(data: Union[bytes, list[bytes]], max_body: int = LIMIT, **options: int) -> HTTPError:
    """The error that rejects ``data`` (fed at once, or in the given pieces), EOF included."""
    parser = ResponseParser(max_body, **options)  # type: ignore[arg-type]
    with pytest.raises(HTTPError) as info:
        for piece in [data] if isinstance(data, bytes) else data:
            assert parser.feed(piece) is None
        parser.feed_eof()
    return info.value


def response(
    status: int = 200,
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    *,
    reason: str = "OK",
    version: str = "HTTP/1.1",
    keep_alive: bool = True,
    trailers: tuple[tuple[str, str], ...] = (),
) -> Response:
    return Response(status, reason, version, headers, body, keep_alive, trailers)


# ------------------------------------------------------------------------------ accepted

ACCEPTED: list[tuple[str, bytes, Response, bytes]] = [
    (
        "content-length, bytes after it",
        OK + b"Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1",
        response(headers=(("content-type", "text/plain"), ("content-length", "5")), body=b"hello"),
        b"HTTP/1.1",
    ),
    ("content-length 0", OK + b"Content-Length: 0\r\n\r\n", response(headers=(("content-length", "0"),)), b""),
    (
        "equal content-length lines",
        OK + b"Content-Length: 3\r\ncontent-length: 3\r\n\r\nabc",
        response(headers=(("content-length", "3"), ("content-length", "3")), body=b"abc"),
        b"",
    ),
    (
        "equal content-length list",
        OK + b"Content-Length: 3 , 3,3\r\n\r\nabc",
        response(headers=(("content-length", "3 , 3,3"),), body=b"abc"),
        b"",
    ),
    (
        "content-length with leading zeros",
        OK + b"Content-Length: 0003\r\n\r\nabc",
        response(headers=(("content-length", "0003"),), body=b"abc"),
        b"",
    ),
    (
        "chunked with extensions and trailers",
        OK + b"Transfer-Encoding: Chunked\r\n\r\n"
        b'5;name=value;flag ; q = "a \\"b\\" c"\r\nhello\r\n'
        b"A\r\n0123456789\r\n"
        b"0;last\r\nX-Checksum: abc \r\nExpires:\t0\r\n\r\nnext",
        response(
            headers=(("transfer-encoding", "Chunked"),),
            body=b"hello0123456789",
            trailers=(("x-checksum", "abc"), ("expires", "0")),
        ),
        b"next",
    ),
    (
        "chunked, 16 hex digits",
        OK + b"Transfer-Encoding: chunked\r\n\r\n0000000000000003\r\nabc\r\n0\r\n\r\n",
        response(headers=(("transfer-encoding", "chunked"),), body=b"abc"),
        b"",
    ),
    (
        "chunked, empty body",
        OK + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        response(headers=(("transfer-encoding", "chunked"),)),
        b"",
    ),
    (
        "until EOF (HTTP/1.1)",
        OK + b"Content-Type: text/plain\r\n\r\nall of\r\n\r\nthis",
        response(headers=(("content-type", "text/plain"),), body=b"all of\r\n\r\nthis", keep_alive=False),
        b"",
    ),
    (
        "until EOF (HTTP/1.0), empty",
        b"HTTP/1.0 200 OK\r\n\r\n",
        response(version="HTTP/1.0", keep_alive=False),
        b"",
    ),
    (
        "204 has no body",
        b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\nHTTP/1.1 200 OK",
        response(204, (("content-length", "10"),), reason="No Content"),
        b"HTTP/1.1 200 OK",
    ),
    (
        "304 has no body",
        b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n",
        response(304, (("transfer-encoding", "chunked"),), reason="Not Modified"),
        b"5\r\n",
    ),
    (
        "100 and 103 before the 200",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
        + OK
        + b"Content-Length: 2\r\n\r\nok",
        response(headers=(("content-length", "2"),), body=b"ok"),
        b"",
    ),
    (
        "4 interim responses",
        b"HTTP/1.1 102 Processing\r\n\r\n" * 4 + OK + b"Content-Length: 0\r\n\r\n",
        response(headers=(("content-length", "0"),)),
        b"",
    ),
    (
        "Connection: close",
        OK + b"Connection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n",
        response(headers=(("connection", "keep-alive, Close"), ("content-length", "0")), keep_alive=False),
        b"",
    ),
    (
        "HTTP/1.0 with keep-alive",
        b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
        response(headers=(("connection", "keep-alive"), ("content-length", "0")), version="HTTP/1.0", keep_alive=False),
        b"",
    ),
    (
        "no reason, no SP",
        b"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n",
        response(404, (("content-length", "0"),), reason=""),
        b"",
    ),
    (
        "empty reason after SP",
        b"HTTP/1.1 500 \r\nContent-Length: 0\r\n\r\n",
        response(500, (("content-length", "0"),), reason=""),
        b"",
    ),
    (
        "reason with HTAB, spaces and obs-text",
        b"HTTP/1.1 200  Tr\xe8s\tbien \r\nContent-Length: 0\r\n\r\n",
        response(headers=(("content-length", "0"),), reason=" Tr\xe8s\tbien "),
        b"",
    ),
    (
        "field values: OWS trimmed, inner whitespace and obs-text kept, empty value",
        OK + b"X-A:  a \t b\t\r\nX-B:\r\nX-C:\xff\x80\r\nContent-Length: 0\r\n\r\n",
        response(headers=(("x-a", "a \t b"), ("x-b", ""), ("x-c", "\xff\x80"), ("content-length", "0"))),
        b"",
    ),
    (
        "a 599",
        b"HTTP/1.1 599 Whatever\r\nContent-Length: 0\r\n\r\n",
        response(599, (("content-length", "0"),), reason="Whatever"),
        b"",
    ),
]


@pytest.mark.parametrize(("data", "expected", "rest"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted(data: bytes, expected: Response, rest: bytes) -> None:
    assert parse(data) == (expected, rest)


@pytest.mark.parametrize(("data", "expected", "rest"), [c[1:] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_accepted_split_anywhere(data: bytes, expected: Response, rest: bytes) -> None:
    for cut in range(1, len(data)):
        assert parse_pieces([data[:cut], data[cut:]]) == (expected, rest), cut
    assert parse_pieces([data[i : i + 1] for i in range(len(data))]) == (expected, rest)
    rnd = random.Random(len(data))
    for _ in range(50):
        cuts = sorted(rnd.sample(range(1, len(data)), min(len(data) - 1, rnd.randrange(1, 8))))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]
        assert parse_pieces(pieces) == (expected, rest), cuts


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_feed_takes_bytearray_and_memoryview_and_keeps_no_reference(kind: type) -> None:
    data = bytearray(OK + b"Content-Length: 6\r\n\r\nabc")
    parser = ResponseParser(LIMIT)
    assert parser.feed(kind(data)) is None
    data[:] = b"\0" * len(data)  # the caller reuses its buffer
    found = parser.feed(kind(bytearray(b"defXYZ")))
    assert found is not None and found.body == b"abcdef" and parser.rest == b"XYZ"


def test_feed_ignores_empty_data() -> None:
    parser = ResponseParser(LIMIT)
    assert parser.feed(b"") is None
    assert parser.feed(OK + b"Content-Length: 0\r\n\r\n") == response(headers=(("content-length", "0"),))


def test_get_and_get_all() -> None:
    found, _ = parse(
        OK + b"Vary: a\r\nSet-Cookie: s=1; Path=/\r\nvary: b\r\nset-cookie: t=2, u=3\r\nContent-Length: 0\r\n\r\n"
    )
    assert found.get("VARY") == "a, b"
    assert found.get_all("Vary") == ["a", "b"]
    assert found.get("Set-Cookie") == "s=1; Path=/"
    assert found.get_all("set-cookie") == ["s=1; Path=/", "t=2, u=3"]
    assert found.get("content-length") == "0"
    assert found.get("missing") is None and found.get_all("missing") == []


def test_response_is_frozen_with_slots() -> None:
    found, _ = parse(OK + b"Content-Length: 0\r\n\r\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.status = 500  # type: ignore[misc]
    assert not hasattr(found, "__dict__")


def test_head_only_stops_after_the_final_head() -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\n" + OK + b"Content-Length: 5\r\n\r\nhello, more"
    expected = (response(headers=(("content-length", "5"),)), b"hello, more")
    assert parse(data, 0, head_only=True) == expected
    for cut in range(1, len(data)):
        assert parse_pieces([data[:cut], data[cut:]], 0, head_only=True) == expected


def test_head_only_takes_a_101_as_final() -> None:
    parser = ResponseParser(0, head_only=True)
    found = parser.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi")
    assert found == response(101, (("upgrade", "websocket"),), reason="Switching Protocols")
    assert parser.rest == b"\x81\x02hi"


def test_head_only_ignores_the_body_size() -> None:
    parser = ResponseParser(0, head_only=True)
    found = parser.feed(b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 999999\r\n\r\nab")
    assert found is not None and found.status == 302 and parser.rest == b"ab"


# ------------------------------------------------------------------------------ rejected

REJECTED: list[tuple[str, bytes, str]] = [
    # Content-Length
    ("Content-Length -1", OK + b"Content-Length: -1\r\n\r\n", "malformed Content-Length b'-1'"),
    ("Content-Length +4", OK + b"Content-Length: +4\r\n\r\nabcd", "malformed Content-Length b'+4'"),
    ("Content-Length 1_0", OK + b"Content-Length: 1_0\r\n\r\n", "malformed Content-Length b'1_0'"),
    ("Content-Length ' 4 4'", OK + b"Content-Length:  4 4\r\n\r\nabcd", "malformed Content-Length b'4 4'"),
    ("Content-Length hex", OK + b"Content-Length: 0x10\r\n\r\n", "malformed Content-Length"),
    ("Content-Length empty", OK + b"Content-Length:\r\n\r\n", "malformed Content-Length b''"),
    ("Content-Length empty list item", OK + b"Content-Length: 4,\r\n\r\nabcd", "malformed Content-Length"),
    ("Content-Length list differs", OK + b"Content-Length: 4, 5\r\n\r\nabcd", "conflicting Content-Length"),
    (
        "Content-Length lines differ",
        OK + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcd",
        "conflicting Content-Length values b'4' and b'5'",
    ),
    ("Content-Length 04 and 4", OK + b"Content-Length: 04, 4\r\n\r\nabcd", "conflicting Content-Length"),
    ("Content-Length of 21 digits", OK + b"Content-Length: " + b"0" * 20 + b"1\r\n\r\n", "more than 20 digits"),
    # status line
    ("status 2000", b"HTTP/1.1 2000 OK\r\n\r\n", "malformed status line b'HTTP/1.1 2000 OK'"),
    ("status 099", b"HTTP/1.1 099 Low\r\n\r\n", "status code 99 out of range"),
    ("status 600", b"HTTP/1.1 600 High\r\n\r\n", "status code 600 out of range"),
    ("status of 2 digits", b"HTTP/1.1 20 OK\r\n\r\n", "malformed status line"),
    ("two SP before the status", b"HTTP/1.1  200 OK\r\n\r\n", "malformed status line"),
    ("HTTP/2.0", b"HTTP/2.0 200 OK\r\n\r\n", "not an HTTP/1.x response"),
    ("HTTP/1.2", b"HTTP/1.2 200 OK\r\n\r\n", "malformed status line"),
    ("lower-case http", b"http/1.1 200 OK\r\n\r\n", "not an HTTP/1.x response"),
    ("empty line first", b"\r\nHTTP/1.1 200 OK\r\n\r\n", "not an HTTP/1.x response"),
    ("control octet in the reason", b"HTTP/1.1 200 O\x01K\r\n\r\n", "malformed status line"),
    ("101 without head_only", b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101 Switching Protocols"),
    # field lines
    ("space before the colon", OK + b"Content-Length : 0\r\n\r\n", "whitespace between header name and colon"),
    ("tab before the colon", OK + b"X-A\t: 0\r\n\r\n", "whitespace between header name and colon"),
    ("obs-fold", OK + b"X-A: a\r\n b\r\nContent-Length: 0\r\n\r\n", "obsolete line folding (obs-fold)"),
    ("whitespace before the first field", OK + b" X-A: a\r\nContent-Length: 0\r\n\r\n", "obs-fold"),
    ("no colon", OK + b"X-A\r\nContent-Length: 0\r\n\r\n", "header line without a colon"),
    ("name not a token", OK + b"X(A): a\r\nContent-Length: 0\r\n\r\n", "invalid header name"),
    ("empty name", OK + b": a\r\nContent-Length: 0\r\n\r\n", "invalid header name"),
    ("control octet in a value", OK + b"X-A: a\x01\r\nContent-Length: 0\r\n\r\n", "control character"),
    ("DEL in a value", OK + b"X-A: a\x7f\r\nContent-Length: 0\r\n\r\n", "control character"),
    ("NUL in a value", OK + b"X-A: a\x00b\r\nContent-Length: 0\r\n\r\n", "control character"),
    ("bare CR in a value", OK + b"X-A: a\rb\r\nContent-Length: 0\r\n\r\n", "control character"),
    ("bare LF in a complete head", OK + b"X-A: a\nContent-Length: 0\r\n\r\n", "bare LF"),
    ("bare LF ends the head", OK + b"Content-Length: 0\n\n", "bare LF"),
    ("bare LF after the status line", b"HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", "bare LF"),
    # Transfer-Encoding
    ("Transfer-Encoding notchunked", OK + b"Transfer-Encoding: notchunked\r\n\r\n", "unsupported Transfer-Encoding"),
    ("Transfer-Encoding gzip, chunked", OK + b"Transfer-Encoding: gzip, chunked\r\n\r\n", "only chunked"),
    ("Transfer-Encoding chunked, gzip", OK + b"Transfer-Encoding: chunked, gzip\r\n\r\n", "only chunked"),
    ("Transfer-Encoding identity", OK + b"Transfer-Encoding: identity\r\n\r\n", "only chunked"),
    (
        "two Transfer-Encoding lines",
        OK + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "b'chunked, chunked' (only chunked)",
    ),
    (
        "Transfer-Encoding and Content-Length",
        OK + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "both Transfer-Encoding and Content-Length",
    ),
    # chunks
    ("chunk size -40000000", OK + b"Transfer-Encoding: chunked\r\n\r\n-40000000\r\n", "malformed chunk-size line"),
    (
        "chunk size of 17 hex digits",
        OK + b"Transfer-Encoding: chunked\r\n\r\n00000000000000001\r\nx\r\n0\r\n\r\n",
        "chunk size of more than 16 hex digits",
    ),
    (
        "chunk data without its CRLF",
        OK + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
        "chunk data not followed by CRLF: b'd\\r'",
    ),
    (
        "chunk data followed by LF",
        OK + b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n",
        "chunk data not followed by CRLF",
    ),
    ("chunk size 0x", OK + b"Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", "malformed chunk-size"),
    ("empty chunk-size line", OK + b"Transfer-Encoding: chunked\r\n\r\n\r\n", "malformed chunk-size line"),
    ("whitespace after the size", OK + b"Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n", "malformed chunk-size"),
    ("extension without a name", OK + b"Transfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n", "malformed chunk-size"),
    ("extension value unquoted", OK + b"Transfer-Encoding: chunked\r\n\r\n3;a=b c\r\n", "malformed chunk-size"),
    ("extension quote open", OK + b'Transfer-Encoding: chunked\r\n\r\n3;a="b\r\nabc\r\n', "malformed chunk-size"),
    ("extension control octet", OK + b"Transfer-Encoding: chunked\r\n\r\n3;a\x01\r\n", "malformed chunk-size"),
    ("bare LF after the size", OK + b"Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n", "bare LF in a chunk-size line"),
    (
        "bare LF in the trailers",
        OK + b"Transfer-Encoding: chunked\r\n\r\n0\r\nX-A: b\n\r\n",
        "bare LF",
    ),
    ("bare LF ends the trailers", OK + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\n", "bare LF in the trailer"),
    (
        "malformed trailer",
        OK + b"Transfer-Encoding: chunked\r\n\r\n0\r\nX-A : b\r\n\r\n",
        "whitespace between header name and colon: b'X-A : b' in the trailer section",
    ),
    # early failures: the bytes say enough before the head is complete
    ("not HTTP at all", b"\x16\x03\x01\x02\x00", "not an HTTP/1.x response: it starts with b'\\x16\\x03"),
    ("bare LF, head incomplete", b"HTTP/1.1 200 OK\nX-A: b", "bare LF in the response head"),
]


@pytest.mark.parametrize(("data", "message"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED])
def test_rejected(data: bytes, message: str) -> None:
    error = reject(data)
    assert message in str(error)
    assert isinstance(error, ProtocolError) and not isinstance(error, TooLarge)


@pytest.mark.parametrize(("data", "message"), [c[1:] for c in REJECTED], ids=[c[0] for c in REJECTED])
def test_rejected_split_anywhere(data: bytes, message: str) -> None:
    """Fed in two pieces or byte by byte, the same bytes are rejected (perhaps only at EOF)."""
    for cut in range(1, len(data)):
        reject([data[:cut], data[cut:]])
    reject([data[i : i + 1] for i in range(len(data))])


@pytest.mark.parametrize(
    "data",
    [
        b"\x16",
        b"HTTP/1.1 200 OK\n",
        b"HTTP/1.1 200 OK\r\nX: y\n",
        CHUNKED_HEAD + b"Z",
        CHUNKED_HEAD + b"3\r\nabcX",
        CHUNKED_HEAD + b"3\n",
        CHUNKED_HEAD + b"0\r\n\n",
        CHUNKED_HEAD + b"0\r\nX: y\n",
    ],
)
def test_rejected_at_the_byte_that_shows_it(data: bytes) -> None:
    """No waiting for more bytes (or for a timeout) once the bytes so far cannot start a valid response."""
    parser = ResponseParser(LIMIT)
    for i in range(len(data) - 1):
        assert parser.feed(data[i : i + 1]) is None
    with pytest.raises(HTTPError):
        parser.feed(data[-1:])


# ------------------------------------------------------------------------------ limits


def test_declared_content_length_over_max_body_fails_before_the_body() -> None:
    parser = ResponseParser(10)
    with pytest.raises(TooLarge, match="HTTP response body of 11 bytes"):
        parser.feed(OK + b"Content-Length: 11\r\n\r\n")
    assert parse(OK + b"Content-Length: 10\r\n\r\n0123456789", 10)[0].body == b"0123456789"


def test_eof_body_bytes_that_came_with_the_head_are_counted() -> None:
    with pytest.raises(TooLarge, match="more than 10 bytes"):
        ResponseParser(10).feed(OK + b"\r\n" + b"x" * 11)
    assert parse(OK + b"\r\n" + b"x" * 10, 10)[0].body == b"x" * 10


def test_eof_body_counted_across_reads() -> None:
    parser = ResponseParser(10)
    assert parser.feed(OK + b"\r\n" + b"x" * 6) is None
    assert parser.feed(b"x" * 4) is None
    with pytest.raises(TooLarge):
        parser.feed(b"x")


CHUNKED = CHUNKED_HEAD
# wire bytes of the body: "a\r\n" 3 + data 10 + CRLF 2 + "0\r\n" 3 + "X: y\r\n" 6 + CRLF 2 = 26
CHUNKED_BODY = b"a\r\n0123456789\r\n0\r\nX: y\r\n\r\n"


def test_chunked_wire_bytes_are_counted_from_the_first_read() -> None:
    assert len(CHUNKED_BODY) == 26
    assert parse(CHUNKED + CHUNKED_BODY, 26)[0].body == b"0123456789"
    with pytest.raises(TooLarge):
        ResponseParser(25).feed(CHUNKED + CHUNKED_BODY)
    for cut in range(1, len(CHUNKED_BODY)):
        reject([CHUNKED + CHUNKED_BODY[:cut], CHUNKED_BODY[cut:]], 25)
        assert parse_pieces([CHUNKED + CHUNKED_BODY[:cut], CHUNKED_BODY[cut:]], 26)[0].body == b"0123456789"


def test_chunk_size_over_the_budget_fails_before_its_data() -> None:
    parser = ResponseParser(100)
    with pytest.raises(TooLarge):
        parser.feed(CHUNKED + b"62\r\n")  # 4 + 0x62 + 2 = 104
    assert parse(CHUNKED + b"5d\r\n" + b"x" * 0x5D + b"\r\n0\r\n\r\n", 4 + 0x5D + 2 + 5)[0].body == b"x" * 0x5D


def test_chunk_size_line_is_bounded() -> None:
    ext = b";a=" + b"b" * (MAX_CHUNK_LINE - 4)
    assert parse(CHUNKED + b"1" + ext + b"\r\nx\r\n0\r\n\r\n")[0].body == b"x"
    parser = ResponseParser(LIMIT)
    assert parser.feed(CHUNKED + b"1" + ext + b"b") is None
    with pytest.raises(TooLarge, match="chunk-size line of more than 4096 bytes"):
        parser.feed(b"b")


def test_five_interim_responses_are_too_many() -> None:
    interim = b"HTTP/1.1 103 Early Hints\r\n\r\n"
    final = OK + b"Content-Length: 0\r\n\r\n"
    assert parse(interim * 4 + final)[0].status == 200
    with pytest.raises(TooLarge, match="more than 4 interim"):
        ResponseParser(LIMIT).feed(interim * 5)
    with pytest.raises(TooLarge):
        ResponseParser(LIMIT, max_interim=1).feed(interim * 2)


def test_trailers_over_8_kib() -> None:
    def trailers(size: int) -> bytes:
        line = b"X: " + b"t" * (size - 7) + b"\r\n"  # the section is this line and the final CRLF
        return CHUNKED + b"0\r\n" + line + b"\r\n"

    assert parse(trailers(8192))[0].trailers == (("x", "t" * 8185),)
    with pytest.raises(TooLarge, match="trailer section of more than 8192 bytes"):
        ResponseParser(LIMIT).feed(trailers(8193))
    parser = ResponseParser(LIMIT)  # an endless trailer fails once 8 KiB are buffered
    assert parser.feed(CHUNKED + b"0\r\nX: " + b"t" * 8188) is None
    with pytest.raises(TooLarge):
        parser.feed(b"t")


def head_of(size: int) -> bytes:
    """A complete response head of exactly ``size`` bytes."""
    start = OK + b"X: "
    end = b"\r\nContent-Length: 0\r\n\r\n"
    return start + b"h" * (size - len(start) - len(end)) + end


def test_head_over_64_kib() -> None:
    assert parse(head_of(65536))[0].status == 200
    with pytest.raises(TooLarge, match="response head of more than 65536 bytes"):
        ResponseParser(LIMIT).feed(head_of(65537))


def test_all_heads_together_count() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\n"
    assert parse(interim * 2 + head_of(65536 - 2 * len(interim)))[0].status == 200
    with pytest.raises(TooLarge):
        ResponseParser(LIMIT).feed(interim * 2 + head_of(65537 - 2 * len(interim)))


def test_endless_header_line_fails_once_max_head_bytes_are_buffered() -> None:
    parser = ResponseParser(LIMIT)
    assert parser.feed(OK + b"X: ") is None
    buffered = len(OK) + 3
    while buffered + 1024 < 65536:
        assert parser.feed(b"h" * 1024) is None
        buffered += 1024
    assert parser.feed(b"h" * (65535 - buffered)) is None  # 65535 bytes: one more could still end it
    with pytest.raises(TooLarge):
        parser.feed(b"h")
    with pytest.raises(HTTPError, match="rejected before"):
        parser.feed(b"\r\n\r\n")


def test_header_lines_limit() -> None:
    lines = b"X: y\r\n"
    assert parse(OK + lines * 99 + b"Content-Length: 0\r\n\r\n")[0].status == 200
    with pytest.raises(TooLarge, match="more than 100 header lines"):
        ResponseParser(LIMIT).feed(OK + lines * 100 + b"Content-Length: 0\r\n\r\n")
    with pytest.raises(TooLarge):
        ResponseParser(LIMIT, max_header_lines=2).feed(OK + lines * 3 + b"\r\n")


# ------------------------------------------------------------------------------ EOF, states, body_buffer


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"", "before its status line"),
        (b"HTTP/1.1 200 OK\r\n", "in its head"),
        (b"HTTP/1.1 100 Continue\r\n\r\n", "in its head"),
        (OK + b"Content-Length: 5\r\n\r\nabc", "after 3 of 5 body bytes"),
        (CHUNKED + b"5\r\nab", "in its chunked body"),
        (CHUNKED + b"0\r\n", "in its chunked body"),
    ],
)
def test_connection_closed_inside_the_response(data: bytes, where: str) -> None:
    error = reject(data)
    assert str(error) == f"connection closed inside the response ({where})"


def test_feed_eof_after_completion_returns_the_response() -> None:
    parser = ResponseParser(LIMIT)
    found = parser.feed(OK + b"Content-Length: 0\r\n\r\n")
    assert found is not None and parser.feed_eof() is found


def test_feed_after_completion_is_a_programming_error() -> None:
    parser = ResponseParser(LIMIT)
    assert parser.feed(OK + b"Content-Length: 0\r\n\r\n") is not None
    with pytest.raises(RuntimeError, match="use a new ResponseParser"):
        parser.feed(b"x")


def test_after_a_rejection_the_parser_stays_failed() -> None:
    parser = ResponseParser(LIMIT)
    with pytest.raises(HTTPError):
        parser.feed(b"HTTP/1.1 2000 OK\r\n\r\n")
    with pytest.raises(HTTPError, match="rejected before: malformed status line"):
        parser.feed(b"more")
    with pytest.raises(HTTPError, match="rejected before"):
        parser.feed_eof()


def test_body_buffer_receives_a_content_length_body_in_place() -> None:
    parser = ResponseParser(LIMIT)
    assert parser.body_buffer() is None  # still in the head
    assert parser.feed(OK + b"Content-Length: 10\r\n\r\nabc") is None
    view = parser.body_buffer()
    assert view is not None and len(view) == 7
    view[:4] = b"defg"
    assert parser.body_filled(4) is None
    view = parser.body_buffer()
    assert view is not None and len(view) == 3
    assert parser.feed(b"h") is None  # feed() and body_buffer() mix
    view = parser.body_buffer()
    assert view is not None and len(view) == 2
    view[:] = b"ij"
    found = parser.body_filled(2)
    assert found is not None and found.body == b"abcdefghij" and parser.rest == b""
    assert parser.body_buffer() is None


def test_body_filled_checks_its_argument() -> None:
    parser = ResponseParser(LIMIT)
    parser.feed(OK + b"Content-Length: 2\r\n\r\n")
    with pytest.raises(RuntimeError):
        parser.body_filled(1)  # no body_buffer() yet
    assert parser.body_buffer() is not None
    with pytest.raises(RuntimeError):
        parser.body_filled(3)


def test_body_buffer_is_none_for_other_framings() -> None:
    for head in (CHUNKED, OK + b"\r\n"):
        parser = ResponseParser(LIMIT)
        parser.feed(head)
        assert parser.body_buffer() is None


def test_large_body_in_small_pieces() -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 3000]), body[i : i + 3000]) for i in range(0, len(body), 3000)
    )
    for data in (OK + b"Content-Length: %d\r\n\r\n" % len(body) + body, CHUNKED + chunked + b"0\r\n\r\n"):
        pieces = [data[i : i + 1000] for i in range(0, len(data), 1000)]
        assert parse_pieces(pieces, 2 * len(body))[0].body == body


TRICKLED = 30_000  # body bytes


@pytest.mark.parametrize(
    ("head", "wire", "piece"),
    [
        (OK + b"\r\n", b"x" * TRICKLED, 1),  # until EOF, byte by byte
        (OK + b"Content-Length: %d\r\n\r\n" % TRICKLED, b"x" * TRICKLED, 1),
        (CHUNKED_HEAD, b"1\r\nx\r\n" * TRICKLED + b"0\r\n\r\n", 7),  # 1-byte chunks, 7 bytes a read
    ],
    ids=["until EOF", "content-length", "chunked"],
)
def test_a_trickled_body_costs_about_its_size(head: bytes, wire: bytes, piece: int) -> None:
    """Memory stays near the body's size however the server cuts it (issue #12, memory on demand)."""
    pieces = [head] + [wire[i : i + piece] for i in range(0, len(wire), piece)]
    parser = ResponseParser(LIMIT)
    tracemalloc.start()
    try:
        found = None
        for data in pieces:
            found = parser.feed(data)
        found = found or parser.feed_eof()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found.body == b"x" * TRICKLED
    assert peak < 2.5 * TRICKLED + 16384, peak


# ------------------------------------------------------------------------------ build_head


def test_build_head() -> None:
    head = build_head("POST", "/socket.io/?EIO=4&sid=a", [("Host", "h:1"), ("Content-Length", "2")])
    assert head == b"POST /socket.io/?EIO=4&sid=a HTTP/1.1\r\nHost: h:1\r\nContent-Length: 2\r\n\r\n"
    assert build_head("GET", "/", {"A": "b", "C": "d"}) == b"GET / HTTP/1.1\r\nA: b\r\nC: d\r\n\r\n"
    assert build_head("GET", "/", {"X": "é"}) == b"GET / HTTP/1.1\r\nX: \xc3\xa9\r\n\r\n"


@pytest.mark.parametrize("bad", ["\r", "\n", "\0", "a\r\nInjected: yes"])
def test_build_head_rejects_cr_lf_nul_without_showing_the_value(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        build_head("GET", "/", {"Authorization": "Bearer secret" + bad})
    assert "'Authorization'" in str(info.value) and "secret" not in str(info.value)


@pytest.mark.parametrize("name", ["", "A B", "A:", "A\r\nB", "É", "A\0"])
def test_build_head_rejects_names_that_are_not_tokens(name: str) -> None:
    with pytest.raises(ValueError, match="invalid header name"):
        build_head("GET", "/", [(name, "v")])


@pytest.mark.parametrize(("method", "target"), [("G T", "/"), ("", "/"), ("GET", ""), ("GET", "/ a"), ("GET", "/\r\n")])
def test_build_head_rejects_bad_request_lines(method: str, target: str) -> None:
    with pytest.raises(ValueError):
        build_head(method, target, {})
