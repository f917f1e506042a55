"""HTTP/1.1 for a client, sans-I/O: a strict incremental response parser and a request head builder.

The parser follows RFC 9112 strictly, because a lenient one lets a hostile
server desynchronise a kept-alive connection or make the client allocate
without bound:

- status line ``HTTP/1.0|1.1 SP 3DIGIT [SP reason]``, status 100-599; the SP
  before an empty reason may be missing (h11 accepts that too: some servers
  send ``HTTP/1.1 200`` and the reason carries no meaning);
- field lines ``token ":" OWS value OWS`` ending in CRLF: no bare LF, no
  obs-fold, no whitespace before the colon, no control octets but HTAB;
- Content-Length is ``1*DIGIT`` (at most 20 digits); equal duplicates, as
  repeated lines or a list, are allowed, differing ones are not;
  Transfer-Encoding is exactly ``chunked``; never both;
- chunk-size is 1-16 hex digits, chunk extensions follow the RFC grammar, and
  CRLF must follow each chunk's data;
- 1xx, 204 and 304 have no body; without Content-Length and Transfer-Encoding
  the body runs until EOF.

Limits: all heads of one response together (interim ones included) at most
``max_head`` bytes and each at most ``max_header_lines`` field lines; at most
``max_interim`` 1xx responses; the trailer section at most ``max_trailers``
bytes; and every wire byte of the body (chunk-size lines, CRLFs and trailers
included) counted against ``max_body`` as soon as it is buffered. A declared
size over a limit fails before its bytes arrive.

Delimiters are found with ``bytes.find`` and regular expressions on the whole
buffer, never byte by byte, and body pieces are joined once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, NoReturn, Optional, Sequence, Union

from .._exceptions import ProtocolError

__all__ = [
    "HTTPError",
    "TooLarge",
    "Response",
    "ResponseParser",
    "HeaderItems",
    "build_head",
    "MAX_CHUNK_LINE",
]

#: The longest chunk-size line (size, extensions), CRLF excluded.
MAX_CHUNK_LINE = 4096
_MAX_LENGTH_DIGITS = 20  # as h11: a Content-Length of up to 10**20 - 1
_FIRST_BODY_BUFFER = 64 * 1024  # a Content-Length body's buffer starts at most this large

HeaderItems = Union[Mapping[str, str], Sequence[tuple[str, str]]]


class HTTPError(ProtocolError):
    """The server's HTTP response is malformed."""


class TooLarge(HTTPError):
    """The server's HTTP response passes one of the parser's limits."""


_TCHAR = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN = rf"[{_TCHAR}]+"
# Heads are decoded as latin-1 once, so these str patterns see one character per byte.
_STATUS_LINE = re.compile(r"HTTP/1\.([01]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
_FIELD_LINE = re.compile(rf"({_TOKEN}):([\t\x20-\x7e\x80-\xff]*)")
_FIELD_BLOCK = re.compile(rf"(?:{_TOKEN}:[\t\x20-\x7e\x80-\xff]*\r\n)*")  # linear: a value cannot hold CR
_TOKEN_RE = re.compile(_TOKEN)
_DIGITS = re.compile(r"[0-9]+")
# chunk-size [ chunk-ext ], RFC 9112 §7.1.1: *( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )
_QUOTED = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_BTOKEN = _TOKEN.encode()
_CHUNK_LINE = re.compile(
    rb"([0-9A-Fa-f]{1,16})(?:[ \t]*;[ \t]*%s(?:[ \t]*=[ \t]*(?:%s|%s))?)*" % (_BTOKEN, _BTOKEN, _QUOTED)
)
_HEX = frozenset(b"0123456789ABCDEFabcdef")
_BARE_LF = re.compile(rb"(?<!\r)\n")
_PREFIX = b"HTTP/1."
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})

# parser states
_HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _UNTIL_EOF, _DONE, _FAILED = range(9)


def _show(data: Union[bytes, bytearray, str], limit: int = 60) -> str:
    """A short printable form of server bytes for an error message."""
    if isinstance(data, str):
        data = data.encode("latin-1")
    text = repr(bytes(data[:limit]))
    return text + ("..." if len(data) > limit else "")


@dataclass(frozen=True)
class Response:
    """A complete HTTP response.

    ``headers`` keeps the field lines in order with repeats, names lower-cased
    and values without surrounding whitespace (latin-1 decoded, so every byte
    survives); ``trailers`` likewise for a chunked body's trailer section.
    ``keep_alive`` is False when the connection cannot carry another request:
    HTTP/1.0, ``Connection: close`` or a body that ran until EOF.
    """

    __slots__ = ("status", "reason", "version", "headers", "body", "keep_alive", "trailers")

    status: int
    reason: str
    version: str
    headers: tuple[tuple[str, str], ...]
    body: Union[bytes, bytearray]
    """The body (a bytearray when it came in pieces: no copy was made to freeze it)."""
    keep_alive: bool
    trailers: tuple[tuple[str, str], ...]

    def get(self, name: str) -> Optional[str]:
        """The value of header ``name``: repeats joined with ", ", except Set-Cookie (its first value)."""
        values = self.get_all(name)
        if not values:
            return None
        if len(values) == 1 or name.lower() == "set-cookie":
            return values[0]
        return ", ".join(values)

    def get_all(self, name: str) -> list[str]:
        """Every value of header ``name``, in order."""
        key = name.lower()
        return [value for field, value in self.headers if field == key]


def _field_problem(line: str) -> str:
    """Why a field line does not match ``token ":" OWS value OWS``."""
    name, colon, _ = line.partition(":")
    if "\n" in line:
        return f"bare LF (lines must end with CRLF) in {_show(line)}"
    if line[:1] in (" ", "\t"):
        return f"obsolete line folding (obs-fold) in {_show(line)}"
    if not colon:
        return f"header line without a colon: {_show(line)}"
    if name.rstrip(" \t") != name and _TOKEN_RE.fullmatch(name.rstrip(" \t")):
        return f"whitespace between header name and colon: {_show(line)}"
    if not _TOKEN_RE.fullmatch(name):
        return f"invalid header name in {_show(line)}"
    return f"control character in header value: {_show(line)}"


def _fields(text: str, what: str) -> list[tuple[str, str]]:
    """The field lines of ``text``, a head's or trailer section's lines, each ending with CRLF."""
    if _FIELD_BLOCK.fullmatch(text) is None:
        for line in text.split("\r\n"):
            if _FIELD_LINE.fullmatch(line) is None:
                raise HTTPError(f"{_field_problem(line)} in the {what}")
    # validated: each line is token ":" value, so partition() splits it right
    return [
        (name.lower(), value.strip(" \t"))
        for name, _, value in (line.partition(":") for line in text.split("\r\n")[:-1])
    ]


def _content_length(values: list[str]) -> int:
    """The one length of the Content-Length lines (each may be a list of equal values)."""
    found = ""
    for value in values:
        for item in value.split(","):
            item = item.strip(" \t")
            if not _DIGITS.fullmatch(item):
                raise HTTPError(f"malformed Content-Length {_show(value)}")
            if len(item) > _MAX_LENGTH_DIGITS:
                raise HTTPError(f"Content-Length of more than {_MAX_LENGTH_DIGITS} digits")
            if found and item != found:
                raise HTTPError(f"conflicting Content-Length values {_show(found)} and {_show(item)}")
            found = item
    return int(found)


class ResponseParser:
    """Incremental parser of one HTTP/1.1 response on a (possibly kept-alive) connection.

    ``feed()`` the bytes as they arrive: it returns the final response once it
    is complete, with the bytes after it in ``rest``; ``feed_eof()`` at EOF
    completes a body that runs until EOF. Interim (1xx) responses are skipped.
    With ``head_only`` the parser stops after the final head (a 101 is final
    then) and leaves everything after it in ``rest``. Malformed input raises
    HTTPError, a passed limit TooLarge; the parser is unusable afterwards.

    For a Content-Length body, ``body_buffer()`` offers the part still
    missing, for the caller to ``recv_into`` it and report with
    ``body_filled(n)`` (no copy through ``feed``).
    """

    def __init__(
        self,
        max_body: int,
        *,
        max_head: int = 64 * 1024,
        max_header_lines: int = 100,
        max_interim: int = 4,
        max_trailers: int = 8 * 1024,
        head_only: bool = False,
    ) -> None:
        self.max_body = max_body
        self.max_head = max_head
        self.max_header_lines = max_header_lines
        self.max_interim = max_interim
        self.max_trailers = max_trailers
        self.head_only = head_only
        self.rest = b""
        self._state = _HEAD
        self._buf = bytearray()  # bytes not yet consumed (empty while feed() works on its argument)
        self._scan = 0  # where the next search for a delimiter starts in _buf
        self._head_bytes = 0  # bytes of the heads parsed so far
        self._interim = 0
        self._used = 0  # wire bytes of the body so far, counted against max_body
        self._left = 0  # bytes missing of the current chunk or Content-Length body
        self._expected = 0  # the Content-Length of the body
        # The body so far, in one growing buffer: a list of pieces would cost an object per piece,
        # 40 times the size of a body that a server trickles byte by byte or in 1-byte chunks.
        self._acc = bytearray()
        self._body: Optional[bytearray] = None  # a Content-Length body filled by body_filled()
        self._got = 0
        self._error: Optional[HTTPError] = None
        self._response: Optional[Response] = None
        self._head: tuple[int, str, str, tuple[tuple[str, str], ...], bool] = (0, "", "", (), False)

    # ------------------------------------------------------------------ public

    def feed(self, data: Union[bytes, bytearray, memoryview]) -> Optional[Response]:
        """Parse ``data``; the response once complete (later bytes then go to ``rest``), else None."""
        if self._state >= _DONE:
            self._finished()
        if not data:
            return None
        buf: Union[bytes, bytearray]
        if self._buf:
            self._buf += data
            buf = self._buf
        else:  # work on the caller's bytes; a bytearray or memoryview may be reused by the caller
            buf = data if type(data) is bytes else bytes(data)
        try:
            pos = self._advance(buf)
        except HTTPError as exc:
            self._fail(exc)
            raise
        if self._state == _DONE:
            self.rest = bytes(buf[pos:])
            self._buf = bytearray()
            return self._response
        if pos:
            self._scan = max(self._scan - pos, 0)
        if buf is self._buf:
            if pos:
                del self._buf[:pos]
        elif pos < len(buf):
            self._buf = bytearray(buf[pos:]) if pos else bytearray(buf)
        return None

    def feed_eof(self) -> Response:
        """The connection was closed: the response if complete or EOF-delimited, else HTTPError."""
        if self._state == _DONE:
            assert self._response is not None
            return self._response
        if self._state == _UNTIL_EOF:
            return self._finish(bytes(self._acc), keep_alive=False)
        if self._state == _FAILED:
            self._finished()
        if self._state == _HEAD:
            where = "in its head" if self._head_bytes or self._buf else "before its status line"
        elif self._state == _LENGTH:
            where = f"after {self._expected - self._left} of {self._expected} body bytes"
        else:
            where = "in its chunked body"
        exc = HTTPError(f"connection closed inside the response ({where})")
        self._fail(exc)
        raise exc

    def body_buffer(self) -> Optional[memoryview]:
        """Room for the next bytes of a Content-Length body, to ``recv_into``; None when ``feed()`` is needed.

        The buffer grows with what arrives (doubling, up to the declared size), so a head
        that declares a large body makes the client allocate little until the bytes come.
        """
        if self._state != _LENGTH:
            return None
        return memoryview(self._room(self._got + 1))[self._got : self._got + self._left]

    def _room(self, need: int) -> bytearray:
        """The body buffer, grown to hold at least ``need`` bytes (at most the declared size)."""
        body = self._body
        if body is None:
            body = self._body = bytearray(min(self._expected, max(need, _FIRST_BODY_BUFFER)))
            self._got = 0
        if len(body) < need:  # a new buffer: a view the caller still holds pins the old one
            size = max(need, 2 * len(body))
            grown = bytearray(self._expected if 2 * size > self._expected else size)
            grown[: self._got] = memoryview(body)[: self._got]
            body = self._body = grown
        return body

    def body_filled(self, n: int) -> Optional[Response]:
        """``n`` bytes were written into ``body_buffer()``; the response once complete."""
        if self._state != _LENGTH or self._body is None or not 0 <= n <= self._left:
            raise RuntimeError("body_filled() without a matching body_buffer()")
        self._got += n
        self._left -= n
        if self._left:
            return None
        return self._finish(self._body)  # full: handed over, not copied (the parser lets go of it)

    # ----------------------------------------------------------------- helpers

    def _finished(self) -> NoReturn:
        if self._error is not None:
            raise HTTPError(f"the response was rejected before: {self._error}")
        raise RuntimeError("the response is complete: use a new ResponseParser for the next one")

    def _fail(self, exc: HTTPError) -> None:
        self._state = _FAILED
        self._error = exc
        self._buf = bytearray()
        self._acc = bytearray()
        self._body = None

    def _finish(
        self, body: Union[bytes, bytearray], keep_alive: bool = True, trailers: tuple[tuple[str, str], ...] = ()
    ) -> Response:
        status, reason, version, headers, head_keep_alive = self._head
        self._response = Response(status, reason, version, headers, body, keep_alive and head_keep_alive, trailers)
        self._state = _DONE
        self._acc = bytearray()
        self._body = None
        return self._response

    def _count(self, n: int) -> None:
        """Count ``n`` more wire bytes of the body against max_body."""
        self._used += n
        if self._used > self.max_body:
            raise TooLarge(f"HTTP response body of more than {self.max_body} bytes")

    # ----------------------------------------------------------------- parsing

    def _advance(self, buf: Union[bytes, bytearray]) -> int:
        """Consume what ``buf`` allows; the index of the first byte not consumed."""
        pos = 0
        end = len(buf)
        while pos < end:
            state = self._state
            if state == _HEAD:
                after = self._parse_head(buf, pos)
                if after == pos:  # incomplete
                    return pos
                pos = after
            elif state == _LENGTH:
                take = min(end - pos, self._left)
                if take == self._left and self._body is None:
                    self._finish(bytes(buf[pos : pos + take]))  # the whole body at once: one copy
                    return pos + take
                body = self._room(self._got + take)  # the body comes in pieces: one buffer, grown as they come
                body[self._got : self._got + take] = buf[pos : pos + take]
                self._got += take
                self._left -= take
                pos += take
                if not self._left:
                    self._finish(body)
                    return pos
            elif state == _CHUNK_SIZE:
                after = self._parse_chunk_size(buf, pos)
                if after == pos:  # incomplete
                    return pos
                pos = after
            elif state == _CHUNK_DATA:
                take = min(end - pos, self._left)
                self._acc += buf[pos : pos + take]
                self._left -= take
                pos += take
                if not self._left:
                    self._state = _CHUNK_END
                    self._left = 2
            elif state == _CHUNK_END:
                want = b"\r\n"[2 - self._left :]
                got = buf[pos : pos + len(want)]
                if got != want[: len(got)]:
                    raise HTTPError(f"chunk data not followed by CRLF: {_show(got)}")
                self._left -= len(got)
                pos += len(got)
                if not self._left:
                    self._state = _CHUNK_SIZE
            elif state == _TRAILERS:
                after = self._parse_trailers(buf, pos)
                if after == pos:  # incomplete
                    return pos
                pos = after
            elif state == _UNTIL_EOF:
                self._count(end - pos)
                self._acc += buf[pos:] if pos else buf
                return end
            else:  # _DONE
                return pos
        return pos

    def _find_section_end(self, buf: Union[bytes, bytearray], pos: int, limit: int, what: str) -> int:
        """The index after the CRLF CRLF ending the section at ``pos``, or -1 while it is incomplete.

        The section (its CRLF CRLF included) may take ``limit`` bytes: an
        incomplete one fails as soon as it holds ``limit`` bytes, a bare LF at once.
        """
        end = buf.find(b"\r\n\r\n", max(pos, self._scan))
        if end >= 0:
            if end + 4 - pos > limit:
                raise TooLarge(f"HTTP {what} of more than {limit} bytes")
            self._scan = 0
            return end + 4
        size = len(buf) - pos
        if size + 1 > limit:  # even the next byte cannot complete it within the limit
            raise TooLarge(f"HTTP {what} of more than {limit} bytes")
        if _BARE_LF.search(buf, max(pos, self._scan)) is not None:
            raise HTTPError(f"bare LF in the {what} (lines must end with CRLF)")
        self._scan = max(pos, len(buf) - 3)
        return -1

    def _parse_head(self, buf: Union[bytes, bytearray], pos: int) -> int:
        start = buf[pos : pos + len(_PREFIX)]
        if start != _PREFIX[: len(start)]:
            raise HTTPError(f"not an HTTP/1.x response: it starts with {_show(buf[pos : pos + 20])}")
        end = self._find_section_end(buf, pos, self.max_head - self._head_bytes, "response head")
        if end < 0:
            return pos
        self._head_bytes += end - pos
        text = buf[pos : end - 2].decode("latin-1")  # every line with its CRLF
        if text.count("\r\n") > self.max_header_lines + 1:
            raise TooLarge(f"HTTP response head of more than {self.max_header_lines} header lines")
        status_end = text.find("\r\n")
        status_line = text[:status_end]
        match = _STATUS_LINE.fullmatch(status_line)
        if match is None:
            if "\n" in status_line:
                raise HTTPError(f"bare LF (lines must end with CRLF) in {_show(status_line)}")
            raise HTTPError(f"malformed status line {_show(status_line)}")
        status = int(match[2])
        if not 100 <= status <= 599:
            raise HTTPError(f"status code {status} out of range (100-599)")
        headers = _fields(text[status_end + 2 :], "response head")
        lengths: list[str] = []
        codings: list[str] = []
        close = False
        for name, value in headers:
            if name in _FRAMING:
                if name == "content-length":
                    lengths.append(value)
                elif name == "transfer-encoding":
                    codings.append(value)
                elif not close:
                    close = "close" in [token.strip(" \t").lower() for token in value.split(",")]
        length = _content_length(lengths) if lengths else -1
        if codings:
            if len(codings) > 1 or codings[0].lower() != "chunked":
                raise HTTPError(f"unsupported Transfer-Encoding {_show(', '.join(codings))} (only chunked)")
            if lengths:
                raise HTTPError("both Transfer-Encoding and Content-Length in one response")
        version = "HTTP/1." + match[1]
        reason = match[3] or ""
        self._head = (status, reason, version, tuple(headers), match[1] == "1" and not close)
        if status < 200 and not (status == 101 and self.head_only):
            if status == 101:
                raise HTTPError("101 Switching Protocols to a request that asked for no upgrade")
            self._interim += 1
            if self._interim > self.max_interim:
                raise TooLarge(f"more than {self.max_interim} interim (1xx) responses")
            return end  # the next head follows
        if self.head_only or status in (204, 304):
            self._finish(b"")
        elif codings:
            self._state = _CHUNK_SIZE
        elif length >= 0:
            if length > self.max_body:
                raise TooLarge(f"HTTP response body of {length} bytes (more than {self.max_body})")
            self._used = length
            self._expected = self._left = length
            if length:
                self._state = _LENGTH
            else:
                self._finish(b"")
        else:
            self._state = _UNTIL_EOF
        return end

    def _parse_chunk_size(self, buf: Union[bytes, bytearray], pos: int) -> int:
        if buf[pos] not in _HEX:
            raise HTTPError(f"malformed chunk-size line: {_show(buf[pos : pos + 20])}")
        newline = buf.find(b"\n", pos, pos + MAX_CHUNK_LINE + 2)
        if newline < 0:
            pending = len(buf) - pos
            if pending > MAX_CHUNK_LINE + 1:
                raise TooLarge(f"chunk-size line of more than {MAX_CHUNK_LINE} bytes")
            if self._used + pending > self.max_body:
                raise TooLarge(f"HTTP response body of more than {self.max_body} bytes")
            return pos
        if buf[newline - 1] != 0x0D:
            raise HTTPError("bare LF in a chunk-size line (lines must end with CRLF)")
        line = buf[pos : newline - 1]
        match = _CHUNK_LINE.fullmatch(line)
        if match is None:
            digits = len(line) - len(line.lstrip(b"0123456789ABCDEFabcdef"))
            if digits > 16:
                raise HTTPError(f"chunk size of more than 16 hex digits: {_show(line)}")
            raise HTTPError(f"malformed chunk-size line {_show(line)}")
        size = int(match[1], 16)
        self._count(newline + 1 - pos)
        if size:
            self._count(size + 2)  # the chunk's data and CRLF, before they arrive
            self._left = size
            self._state = _CHUNK_DATA
        else:
            self._state = _TRAILERS
        return newline + 1

    def _parse_trailers(self, buf: Union[bytes, bytearray], pos: int) -> int:
        first = buf[pos : pos + 2]
        if first == b"\r\n":  # no trailer fields
            self._count(2)
            self._finish(bytes(self._acc))
            return pos + 2
        if len(first) < 2:
            if first == b"\n":
                raise HTTPError("bare LF in the trailer section (lines must end with CRLF)")
            self._count_pending(len(first))
            return pos
        end = self._find_section_end(buf, pos, self.max_trailers, "trailer section")
        if end < 0:
            self._count_pending(len(buf) - pos)
            return pos
        self._count(end - pos)
        trailers = tuple(_fields(buf[pos : end - 2].decode("latin-1"), "trailer section"))
        self._finish(bytes(self._acc), trailers=trailers)
        return end

    def _count_pending(self, pending: int) -> None:
        if self._used + pending > self.max_body:
            raise TooLarge(f"HTTP response body of more than {self.max_body} bytes")


def _check_header(name: str, value: str) -> None:
    if not _TOKEN_RE.fullmatch(name):
        raise ValueError(f"invalid header name {name!r}: it must be an HTTP token")
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"the value of header {name!r} holds CR, LF or NUL")


def build_head(method: str, target: str, headers: HeaderItems) -> bytes:
    """A request head: ``method target HTTP/1.1``, the header lines in order, the empty line.

    A header name that is not a token, or a value holding CR, LF or NUL, raises
    ValueError naming the header (never its value: it may be a secret).
    """
    if not _TOKEN_RE.fullmatch(method):
        raise ValueError(f"invalid HTTP method {method!r}")
    if not target or any(c in target for c in " \t\r\n\0"):
        raise ValueError("the request target must be non-empty, without whitespace or NUL")
    items = headers.items() if isinstance(headers, Mapping) else headers
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    for name, value in items:
        _check_header(name, value)
        lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")
