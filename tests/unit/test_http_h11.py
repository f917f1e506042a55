"""Differential tests of greensio._core.http against h11, the reference HTTP/1.1 parser.

For every byte string below, fed to both parsers in the same pieces, either both
reject it or both accept it with the same status, reason, headers, body,
trailers and bytes after the response. h11 is driven as a client that sent a
GET (``max_incomplete_event_size`` = our ``max_head``).

Where the two may rightly disagree, the difference is listed in DIFFERENCES
with its reason and a predicate that recognises it; a disagreement no entry
recognises fails the test. Each entry's example is checked to be such a
disagreement, so the list holds nothing that does not happen.

Header comparison: h11 normalises what it parses (it keeps one Content-Length
line, with the single value of a list like ``4, 4``, and lower-cases the
Transfer-Encoding value); our headers keep every line as received, so the
same normalisation is applied to ours before comparing.
"""

from __future__ import annotations

import dataclasses
import random
import re
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

import h11
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from greensio._core.http import HTTPError, Response, ResponseParser, TooLarge

MAX_HEAD = 64 * 1024
MAX_BODY = 1 << 20


def examples(n: int) -> int:
    """*n* examples, or the soak profile's budget when tests/soak/fuzz_run.py runs this file."""
    return settings().max_examples if settings.get_current_profile_name() == "soak" else n


# Real responses, captured once (2026-12-02) with a plain blocking socket from the servers of
# tests/servers started with tests.servers.process.ServerProcess: Node socket.io 4.8.4
# (node_server.js) and python-socketio 5 on gevent's pywsgi with gevent-websocket (py_server.py).
# Requests: the polling handshake GET (/socket.io/?EIO=4&transport=polling), a POST of "40" with
# the sid, the long-poll GET that brought the CONNECT answer, a GET with an unknown sid (400:
# chunked from Node), and the WebSocket upgrade GET (the 101 with the OPEN frame that came with it).
REAL = {
    "node_handshake": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: 118\r\n"
        b"cache-control: no-store\r\nDate: Wed, 02 Dec 2026 05:41:09 GMT\r\nConnection: keep-alive\r\n"
        b'Keep-Alive: timeout=5\r\n\r\n0{"sid":"Ey27wvdHlHN-1QN3AAAA","upgrades":["websocket"],'
        b'"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'
    ),
    "node_post": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\ncache-control: no-store\r\n"
        b"Date: Wed, 02 Dec 2026 05:41:09 GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nok"
    ),
    "node_poll": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: 32\r\n"
        b"cache-control: no-store\r\nDate: Wed, 02 Dec 2026 05:41:09 GMT\r\nConnection: keep-alive\r\n"
        b'Keep-Alive: timeout=5\r\n\r\n40{"sid":"WYPF1v2QaXaf3aurAAAA"}'
    ),
    "node_unknown_sid": (
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nDate: Wed, 02 Dec 2026 05:41:09 GMT\r\n"
        b"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'29\r\n{"code":1,"message":"Session ID unknown"}\r\n0\r\n\r\n'
    ),
    "node_upgrade": (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: a1DJNK4ekfOu/Y5vLaIe3orOY9k=\r\n\r\n"
        b'\x81k0{"sid":"a-IH9HgF3h16a-B-AAAB","upgrades":[],"pingInterval":25000,"pingTimeout":20000,'
        b'"maxPayload":1000000}'
    ),
    "python_handshake": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nAccess-Control-Allow-Credentials: true\r\n"
        b'Date: Wed, 02 Dec 2026 05:41:11 GMT\r\nContent-Length: 118\r\n\r\n0{"sid":"TmMERyseaI2oEYkTAAAA",'
        b'"upgrades":["websocket"],"pingTimeout":20000,"pingInterval":25000,"maxPayload":1000000}'
    ),
    "python_post": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nAccess-Control-Allow-Credentials: true\r\n"
        b"Date: Wed, 02 Dec 2026 05:41:11 GMT\r\nContent-Length: 2\r\n\r\nOK"
    ),
    "python_poll": (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\nAccess-Control-Allow-Credentials: true\r\n"
        b'Date: Wed, 02 Dec 2026 05:41:11 GMT\r\nContent-Length: 32\r\n\r\n40{"sid":"8W-YjuJWBpqvwWYqAAAB"}'
    ),
    "python_unknown_sid": (
        b"HTTP/1.1 400 BAD REQUEST\r\nContent-Type: text/plain\r\nAccess-Control-Allow-Credentials: true\r\n"
        b'Date: Wed, 02 Dec 2026 05:41:11 GMT\r\nContent-Length: 27\r\n\r\n"Invalid session nosuchsid"'
    ),
    "python_upgrade": (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: TpMtOi/bkuCK9pjQGf3WDUWqpik=\r\n\r\n"
        b'\x81k0{"sid":"XSmGi1CzrhpNd7SJAAAC","upgrades":[],"pingTimeout":20000,"pingInterval":25000,'
        b'"maxPayload":1000000}'
    ),
}
#: A 101 to a plain GET is rejected by both parsers; the 101s are parsed head-only in
#: test_real_responses_head_only.
REAL_HTTP = [data for name, data in REAL.items() if not name.endswith("_upgrade")]


# ------------------------------------------------------------------------------ the two parsers

Fields = tuple[tuple[bytes, bytes], ...]


@dataclass(frozen=True)
class Outcome:
    """What a parser made of the bytes: an accepted response, or the error that rejected them."""

    error: Optional[str] = None
    too_large: bool = False  # our TooLarge
    status: int = 0
    reason: bytes = b""
    headers: Fields = ()
    body: bytes = b""
    trailers: Fields = ()
    rest: bytes = b""
    versions: tuple[bytes, ...] = ()  # h11: the HTTP version of every head, interim ones included
    interim: tuple[int, ...] = ()  # h11: the status of every interim head

    @property
    def accepted(self) -> bool:
        return self.error is None

    def same_response(self, other: Outcome) -> bool:
        return (self.status, self.reason, self.headers, self.body, self.trailers, self.rest) == (
            other.status,
            other.reason,
            other.headers,
            other.body,
            other.trailers,
            other.rest,
        )


def h11_normalised(fields: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> Fields:
    """Our fields as bytes, normalised the way h11 normalises what it parses (see the module doc)."""
    out: list[tuple[bytes, bytes]] = []
    seen_length = False
    for name, value in fields:
        raw = value.encode("latin-1")
        if name == "content-length":
            if seen_length:
                continue
            seen_length = True
            raw = raw.split(b",")[0].strip()
        elif name == "transfer-encoding":
            raw = raw.lower()
        out.append((name.encode("ascii"), raw))
    return tuple(out)


def pieces_of(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({c for c in cuts if 0 < c < len(data)})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]


def ours(data: bytes, cuts: Sequence[int] = ()) -> Outcome:
    parser = ResponseParser(MAX_BODY, max_head=MAX_HEAD)
    pieces = pieces_of(data, cuts)
    try:
        for i, piece in enumerate(pieces):
            response = parser.feed(piece)
            if response is not None:
                rest = parser.rest + b"".join(pieces[i + 1 :])
                break
        else:
            response = parser.feed_eof()
            rest = b""
    except HTTPError as exc:
        return Outcome(error=str(exc), too_large=isinstance(exc, TooLarge))
    return Outcome(
        status=response.status,
        reason=response.reason.encode("latin-1"),
        headers=h11_normalised(response.headers),
        body=bytes(response.body),
        trailers=h11_normalised(response.trailers),
        rest=rest,
    )


def theirs(data: bytes, cuts: Sequence[int] = ()) -> Outcome:
    conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "example.org")]))
    conn.send(h11.EndOfMessage())
    pieces = pieces_of(data, cuts)
    versions: list[bytes] = []
    interim: list[int] = []
    body: list[bytes] = []
    response: Optional[h11.Response] = None
    fed = 0
    try:
        if pieces:
            conn.receive_data(pieces[0])
            fed = 1
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                if fed < len(pieces):
                    conn.receive_data(pieces[fed])
                elif fed == len(pieces):
                    conn.receive_data(b"")  # EOF
                else:
                    return Outcome(error="h11 wants data after EOF")
                fed += 1
            elif isinstance(ev, h11.InformationalResponse):
                versions.append(ev.http_version)
                interim.append(ev.status_code)
            elif isinstance(ev, h11.Response):
                versions.append(ev.http_version)
                response = ev
            elif isinstance(ev, h11.Data):
                body.append(bytes(ev.data))
            elif isinstance(ev, h11.EndOfMessage):
                assert response is not None
                return Outcome(
                    status=response.status_code,
                    reason=bytes(response.reason),
                    headers=tuple((bytes(n), bytes(v)) for n, v in response.headers),
                    body=b"".join(body),
                    trailers=tuple((bytes(n), bytes(v)) for n, v in ev.headers),
                    rest=conn.trailing_data[0] + b"".join(pieces[fed:]),
                    versions=tuple(versions),
                    interim=tuple(interim),
                )
            else:  # ConnectionClosed or PAUSED before the end of the response
                return Outcome(error=f"h11: {ev!r} before the end of the response", versions=tuple(versions))
    except h11.ProtocolError as exc:
        return Outcome(error=f"h11: {exc}", versions=tuple(versions), interim=tuple(interim))


# ------------------------------------------------------------------------------ the differences


@dataclass(frozen=True)
class Difference:
    """A listed disagreement: why it is right, how to recognise it, and one example of it."""

    name: str
    reason: str
    applies: Callable[[bytes, Outcome, Outcome], bool]
    example: bytes


def _we_reject(fragment: str) -> Callable[[bytes, Outcome, Outcome], bool]:
    return lambda data, us, h: h.accepted and not us.accepted and fragment in (us.error or "")


BARE_LF = re.compile(rb"(?<!\r)\n")
OBS_FOLD = re.compile(rb"\n[ \t]")
CTL = re.compile(rb"[\x01-\x08\x0e-\x1f\x7f]")
# a status line, after the start or a CRLF CRLF (or h11's bare-LF forms), holding a control octet
CTL_REASON = re.compile(rb"(?:^|\n\r?\n)HTTP/[0-9]\.[0-9] [0-9]{3} [^\r\n]*[\x01-\x08\x0e-\x1f\x7f]")
LONG_HEX = re.compile(rb"(?:^|\n)[0-9A-Fa-f]{17,20}(?:;[^\r\n]*)?[ \t]*\r\n")
H11_CHUNK_EXT = re.compile(rb"(?:^|\n)[0-9A-Fa-f]{1,20}(?:;[^\n]*|[ \t]+)\r\n")
BWS_CHUNK_EXT = re.compile(rb"(?:^|\n)[0-9A-Fa-f]{1,16}[ \t]+;")


def _h11_rejects_ours_accepts(fragments: tuple[str, ...]) -> Callable[[bytes, Outcome, Outcome], bool]:
    return lambda data, us, h: us.accepted and not h.accepted and any(f in (h.error or "") for f in fragments)


DIFFERENCES = [
    Difference(
        "bare LF",
        "RFC 9112 §2.2 lets a recipient accept a bare LF as a line end; h11 does, in heads and trailers. "
        "We require CRLF (the brief): a bare LF is where parsers in a chain disagree (response splitting).",
        lambda data, us, h: _we_reject("bare LF")(data, us, h) and BARE_LF.search(data) is not None,
        b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    ),
    Difference(
        "obs-fold",
        "RFC 9112 §5.2 deprecates line folding; h11 unfolds it, we reject it (the brief: no obs-fold).",
        lambda data, us, h: _we_reject("obs-fold")(data, us, h) and OBS_FOLD.search(data) is not None,
        b"HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 0\r\n\r\n",
    ),
    Difference(
        "control octets in a field value",
        "RFC 9110 §5.5 allows no CTL but HTAB in a field value; h11 accepts every CTL but NUL, CR, LF, "
        "VT and FF (h11 issue 57). We reject them: a control octet has no business in a header.",
        lambda data, us, h: _we_reject("control character")(data, us, h) and CTL.search(data) is not None,
        b"HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n",
    ),
    Difference(
        "control octets in the reason phrase",
        "As for field values: RFC 9112 §4 reason-phrase is HTAB / SP / VCHAR / obs-text; h11 takes CTLs.",
        lambda data, us, h: _we_reject("malformed status line")(data, us, h) and CTL_REASON.search(data) is not None,
        b"HTTP/1.1 200 O\x7fK\r\nContent-Length: 0\r\n\r\n",
    ),
    Difference(
        "HTTP version other than 1.0 and 1.1",
        "h11 accepts any HTTP/d.d status line; a client that sent HTTP/1.1 can only get 1.0 or 1.1 back.",
        lambda data, us, h: (
            h.accepted
            and not us.accepted
            and any(v not in (b"1.0", b"1.1") for v in h.versions)
            and ("malformed status line" in (us.error or "") or "not an HTTP/1.x response" in (us.error or ""))
        ),
        b"HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n",
    ),
    Difference(
        "status 600-999",
        "RFC 9110 §15 defines status codes 100-599 only; h11 accepts up to 999.",
        lambda data, us, h: _we_reject("out of range (100-599)")(data, us, h) and h.status >= 600,
        b"HTTP/1.1 600 Nope\r\nContent-Length: 0\r\n\r\n",
    ),
    Difference(
        "both Transfer-Encoding and Content-Length",
        "RFC 9112 §6.3 says such a message ought to be handled as an error (request smuggling, response "
        "splitting); h11 lets Transfer-Encoding win.",
        _we_reject("both Transfer-Encoding and Content-Length"),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n0\r\n\r\n",
    ),
    Difference(
        "chunk size of 17 to 20 hex digits",
        "We take 1-16 hex digits (sizes below 2**64, the brief); h11 takes up to 20.",
        lambda data, us, h: _we_reject("more than 16 hex digits")(data, us, h) and LONG_HEX.search(data) is not None,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\nx\r\n0\r\n\r\n",
    ),
    Difference(
        "chunk extensions h11 does not parse",
        "h11 accepts any bytes after ';' and whitespace after the size; we hold extensions to the "
        "grammar of RFC 9112 §7.1.1 (token [= token / quoted-string]).",
        lambda data, us, h: (
            _we_reject("malformed chunk-size line")(data, us, h) and H11_CHUNK_EXT.search(data) is not None
        ),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;\x01\r\nx\r\n0\r\n\r\n",
    ),
    Difference(
        "whitespace before a chunk extension",
        "RFC 9112 §7.1.1 allows BWS around ';' (a recipient must parse it); h11 rejects it.",
        lambda data, us, h: (
            _h11_rejects_ours_accepts(("illegal chunk header",))(data, us, h) and BWS_CHUNK_EXT.search(data) is not None
        ),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 ;a=b\r\nx\r\n0\r\n\r\n",
    ),
    Difference(
        "more than 4 interim responses",
        "Our bound on 1xx responses (issue #12: a 1xx flood froze the hub); h11 has none.",
        lambda data, us, h: _we_reject("interim (1xx) responses")(data, us, h) and len(h.interim) > 4,
        b"HTTP/1.1 100 Continue\r\n\r\n" * 5 + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    ),
    Difference(
        "our size limits",
        "Our limits (all heads together, header lines per head, trailer section, body wire bytes, "
        "chunk-size line) are not h11's: h11 bounds only each incomplete event.",
        lambda data, us, h: h.accepted and us.too_large and "interim" not in (us.error or ""),
        b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"Content-Length: 0\r\n\r\n",
    ),
    Difference(
        "framing fields in trailers",
        "h11 validates Content-Length and Transfer-Encoding in a trailer section like in a head; trailers "
        "never frame a message (RFC 9110 §6.5.1), so we keep them as they are and use none of them.",
        lambda data, us, h: (
            _h11_rejects_ours_accepts(("Content-Length", "Transfer-Encoding"))(data, us, h)
            and any(name in (b"content-length", b"transfer-encoding") for name, _ in us.trailers)
        ),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nContent-Length: x\r\n\r\n",
    ),
]


def differences_recognising(data: bytes, us: Outcome, h: Outcome) -> list[str]:
    return [d.name for d in DIFFERENCES if d.applies(data, us, h)]


def check(data: bytes, cuts: Sequence[int] = ()) -> str:
    """Both parsers agree on ``data`` fed in the pieces ``cuts`` make, or a listed difference explains why not.

    Returns what happened, for Hypothesis' statistics.
    """
    us = ours(data, cuts)
    h = theirs(data, cuts)
    if us.accepted and h.accepted and us.same_response(h):
        return "both accept"
    if not us.accepted and not h.accepted:
        return "both reject"
    names = differences_recognising(data, us, h)
    assert names, f"unlisted disagreement on {data!r} (cuts {cuts}):\n ours: {us}\n h11:  {h}"
    return "difference: " + ", ".join(names)


@pytest.mark.parametrize("difference", DIFFERENCES, ids=lambda d: d.name)
def test_each_listed_difference_happens(difference: Difference) -> None:
    us, h = ours(difference.example), theirs(difference.example)
    assert us.accepted != h.accepted, (us, h)
    assert differences_recognising(difference.example, us, h) == [difference.name]


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_responses_agree(name: str) -> None:
    data = REAL[name]
    us, h = ours(data), theirs(data)
    if name.endswith("_upgrade"):  # a 101 to a request that asked for no upgrade
        assert not us.accepted and not h.accepted, (us, h)
        return
    assert us.accepted and h.accepted and us.same_response(h), (us, h)
    assert us.status in (200, 400) and us.body


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_responses_head_only(name: str) -> None:
    """A head-only parse gives the head and leaves the body (or the first frames) in rest."""
    data = REAL[name]
    parser = ResponseParser(0, head_only=True)
    response = parser.feed(data)
    assert response is not None and response.body == b""
    head_end = data.index(b"\r\n\r\n") + 4
    assert parser.rest == data[head_end:]
    assert h11_normalised(response.headers) == ours(data.replace(b" 101 ", b" 200 ", 1)).headers
    if not name.endswith("_upgrade"):
        h = theirs(data)
        assert h11_normalised(response.headers) == h.headers and response.status == h.status


# ------------------------------------------------------------------------------ strategies

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
NAMES = ["Content-Type", "Set-Cookie", "Connection", "Date", "Cache-Control", "X-Request-Id", "Keep-Alive", "Vary"]
tokens = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=12)
# values: visible ASCII, spaces and tabs inside, sometimes obs-text
value_bytes = st.lists(
    st.one_of(
        st.integers(0x21, 0x7E),
        st.sampled_from([0x20, 0x09]),
        st.integers(0x80, 0xFF),
    ),
    max_size=24,
).map(bytes)


@st.composite
def field_lines(draw: st.DrawFn) -> list[bytes]:
    lines = []
    for _ in range(draw(st.integers(0, 5))):
        name = draw(st.one_of(st.sampled_from(NAMES), tokens))
        lines.append(name.encode() + b":" + draw(st.sampled_from([b"", b" ", b"\t", b"  "])) + draw(value_bytes))
    return lines


@st.composite
def chunked_body(draw: st.DrawFn, body: bytes) -> bytes:
    out = []
    pos = 0
    while pos < len(body):
        n = draw(st.integers(1, len(body) - pos))
        size = draw(st.sampled_from(["%x", "%X", "%04x"])) % n
        ext = draw(
            st.sampled_from([b"", b"", b";a", b";a=b", b';q="x y"', b' ; a = "\\"" ', b";a;b=c", b"; a=b"])
        ).rstrip()
        out.append(size.encode() + ext + b"\r\n" + body[pos : pos + n] + b"\r\n")
        pos += n
    out.append(draw(st.sampled_from([b"0", b"000", b"0;x=y"])) + b"\r\n")
    trailers = draw(st.lists(st.sampled_from([b"X-Checksum: abc", b"Expires: 0", b"X-T:\tv "]), max_size=2))
    out.append(b"".join(t + b"\r\n" for t in trailers) + b"\r\n")
    return b"".join(out)


@st.composite
def responses(draw: st.DrawFn) -> bytes:
    """A response that is mostly valid: interim heads, a final head with some framing, a body, more bytes."""
    out = []
    for _ in range(draw(st.sampled_from([0] * 8 + [1, 1, 2, 3, 5]))):
        status = draw(st.sampled_from([100, 102, 103, 199]))
        out.append(b"HTTP/1.1 %d Info\r\n" % status + b"".join(x + b"\r\n" for x in draw(field_lines())) + b"\r\n")
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]))
    status = draw(st.sampled_from([200] * 16 + [204, 304, 400, 404, 500, 101, 199, 599, 600, 999, 2000]))
    reason = draw(st.sampled_from([b" OK", b" ", b"", b" Not Found", b" a\tb \x80"]))
    head = [version + b" %03d" % status + reason]
    head += draw(field_lines())
    body = draw(st.binary(max_size=40))
    framing = draw(
        st.sampled_from(["length"] * 3 + ["chunked"] * 3 + ["eof", "length-list", "both", "te-weird", "cl-weird"])
    )
    if framing == "length":
        head.append(b"Content-Length: %d" % len(body))
        wire = body
    elif framing == "length-list":
        head += draw(
            st.sampled_from(
                [
                    [b"Content-Length: %d, %d" % (len(body), len(body))],
                    [b"Content-Length: %d" % len(body)] * 2,
                    [b"Content-Length: %d" % len(body), b"Content-Length: %d" % (len(body) + 1)],
                    [b"Content-Length: %d,%d" % (len(body), len(body) + 1)],
                ]
            )
        )
        wire = body
    elif framing == "chunked":
        head.append(b"Transfer-Encoding: " + draw(st.sampled_from([b"chunked", b"Chunked", b"CHUNKED"])))
        wire = draw(chunked_body(body))
    elif framing == "both":
        head += [b"Content-Length: %d" % len(body), b"Transfer-Encoding: chunked"]
        wire = draw(chunked_body(body))
    elif framing == "te-weird":
        head.append(
            b"Transfer-Encoding: "
            + draw(st.sampled_from([b"notchunked", b"gzip, chunked", b"chunked, chunked", b"identity", b""]))
        )
        wire = draw(chunked_body(body))
    elif framing == "cl-weird":
        head.append(
            b"Content-Length: "
            + draw(st.sampled_from([b"-1", b"+4", b"1_0", b" 4 4", b"0x10", b"", b"4,", b"00000000000000000000004"]))
        )
        wire = body
    else:
        wire = body
    if draw(st.booleans()):
        head.append(b"Connection: " + draw(st.sampled_from([b"close", b"keep-alive", b"Upgrade, Close"])))
    out.append(b"\r\n".join(head) + b"\r\n\r\n" + wire)
    out.append(draw(st.sampled_from([b"", b"", b"HTTP/1.1 200 OK\r\n", draw(st.binary(max_size=8))])))
    return b"".join(out)


MUTATIONS = [
    (rb"\r\n", [b"\n", b"\r", b"\r\r\n", b"\r\n ", b"\r\n\t", b"\n\n"]),
    (rb":", [b" :", b"\t:", b": ", b"", b"::"]),
    (rb"[0-9A-Fa-f]+\r\n", [b"-1\r\n", b"1 \r\n", b"00000000000000000001\r\n", b"g\r\n", b"\r\n"]),
    (rb" ", [b"  ", b"\t", b"\x00", b"\x01", b"\x7f", b"\x0b", b""]),
    (rb"HTTP/1\.1", [b"HTTP/1.2", b"HTTP/2.0", b"http/1.1", b"HTTP/1.1 ", b"HTTP/1"]),
    (rb"[0-9]", [b"a", b"00", b"", b"9"]),
]


def mutate(data: bytes, rnd: random.Random) -> bytes:
    """Change ``data`` a little: at a grammar element (line end, colon, chunk size...) or anywhere."""
    how = rnd.randrange(6)
    if how < 2:
        pattern, replacements = MUTATIONS[rnd.randrange(len(MUTATIONS))]
        found = list(re.finditer(pattern, data))
        if found:
            m = rnd.choice(found)
            return data[: m.start()] + rnd.choice(replacements) + data[m.end() :]
    if not data:
        return bytes([rnd.randrange(256)])
    i = rnd.randrange(len(data))
    if how == 2:  # flip a byte
        return data[:i] + bytes([data[i] ^ (1 << rnd.randrange(8))]) + data[i + 1 :]
    if how == 3:  # insert bytes
        return data[:i] + bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 4))) + data[i:]
    if how == 4:  # delete a range
        return data[:i] + data[i + rnd.randrange(1, 5) :]
    return data[:i]  # truncate


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    data = draw(base)
    rnd = draw(st.randoms(use_true_random=False))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):
        data = mutate(data, rnd)
    return data


def cuts_for(data_strategy: st.SearchStrategy[bytes]) -> st.SearchStrategy[tuple[bytes, list[int]]]:
    return data_strategy.flatmap(
        lambda data: st.tuples(st.just(data), st.lists(st.integers(0, max(len(data), 1)), max_size=4))
    )


# ------------------------------------------------------------------------------ the properties


@settings(max_examples=examples(300), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts_for(mutated(responses())))
def test_generated_responses_agree_with_h11(case: tuple[bytes, list[int]]) -> None:
    event(check(*case))


@settings(max_examples=examples(300), deadline=None, database=None)
@given(
    cuts_for(
        st.one_of(
            st.binary(max_size=200),
            st.binary(max_size=200).map(lambda b: b"HTTP/1.1 200 OK\r\n" + b),
            st.binary(max_size=120).map(lambda b: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b),
        )
    )
)
def test_random_bytes_agree_with_h11(case: tuple[bytes, list[int]]) -> None:
    event(check(*case))


@settings(max_examples=examples(400), deadline=None, database=None)
@given(cuts_for(mutated(st.sampled_from(REAL_HTTP))))
def test_mutated_real_responses_agree_with_h11(case: tuple[bytes, list[int]]) -> None:
    event(check(*case))


def test_mutations_of_real_responses_are_not_all_rejected() -> None:
    """The mutation property is only worth something if it reaches both outcomes: count them for a fixed seed."""
    rnd = random.Random(12)
    accepted = rejected = 0
    for i in range(300):
        data = REAL_HTTP[i % len(REAL_HTTP)]
        for _ in range(1 + i % 2):
            data = mutate(data, rnd)
        check(data)
        accepted += ours(data).accepted
        rejected += not ours(data).accepted
    assert accepted > 50 and rejected > 50, (accepted, rejected)


# ------------------------------------------------------------------------------ our parser alone


def parse_outcome(data: bytes, cuts: Sequence[int], **limits: int) -> Union[Response, str]:
    """Our parse of ``data`` in pieces: the response and what followed it, or the error's text."""
    parser = ResponseParser(**limits)  # type: ignore[arg-type]
    pieces = pieces_of(data, cuts)
    try:
        for i, piece in enumerate(pieces):
            found = parser.feed(piece)
            if found is not None:
                rest = parser.rest + b"".join(pieces[i + 1 :])
                assert data.endswith(rest)
                return dataclasses.replace(found, reason=found.reason + f" | rest {rest!r}")
        return parser.feed_eof()
    except HTTPError as exc:  # anything else fails the test
        return f"{type(exc).__name__}: {exc}"


SMALL_LIMITS = st.fixed_dictionaries(
    {
        # each limit tight or loose, so that responses within every limit are common too
        "max_body": st.integers(0, 120) | st.just(MAX_BODY),
        "max_head": st.integers(20, 800) | st.just(MAX_HEAD),
        "max_header_lines": st.integers(0, 8) | st.just(100),
        "max_interim": st.integers(0, 4),
        "max_trailers": st.integers(2, 60) | st.just(8192),
    }
)


def check_limits(data: bytes, cuts: Sequence[int], limits: dict[str, int]) -> str:
    """With any limits: only HTTPError escapes, the pieces do not change the outcome, and an accepted
    response keeps to the limits and equals the unlimited parse."""
    small = parse_outcome(data, cuts, **limits)
    whole = parse_outcome(data, (), **limits)
    if isinstance(small, str) or isinstance(whole, str):  # the error may differ: which problem showed first
        assert isinstance(small, str) and isinstance(whole, str), (small, whole)
        return "too large" if small.startswith("TooLarge") else "rejected"
    assert whole == small
    assert parse_outcome(data, (), max_body=MAX_BODY) == small
    assert len(small.body) <= limits["max_body"]
    assert len(small.headers) <= limits["max_header_lines"]
    return "accepted"


@settings(max_examples=examples(250), deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts_for(mutated(responses())), SMALL_LIMITS)
def test_limits_hold_and_pieces_do_not_matter(case: tuple[bytes, list[int]], limits: dict[str, int]) -> None:
    event(check_limits(*case, limits))


def fuzz_one(data: bytes) -> None:
    """The atheris target "http" of tests/soak/fuzz_run.py: the h11 differential and the limits check.

    data[0] picks the piece size, data[1:4] the limits; the rest is the response.
    """
    if len(data) < 4:
        return
    step = 1 + data[0] % 64
    body = data[4:]
    cuts = list(range(step, len(body), step))
    check(body, cuts)
    limits = {
        "max_body": data[1],
        "max_head": 20 + 4 * data[2],
        "max_header_lines": data[3] % 8,
        "max_interim": data[3] % 3,
        "max_trailers": 2 + data[1] % 64,
    }
    check_limits(body, cuts, limits)
