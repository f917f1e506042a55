"""The client side of the WebSocket opening handshake (RFC 6455 §4), sans-I/O.

``build_request`` writes the upgrade request; ``ClientHandshake`` parses the
server's answer incrementally with the strict HTTP parser (head at most 64 KiB
and 100 header lines by default) and checks it. Redirects are never followed:
a 3xx is a rejection that names its Location, and nothing else is done with it.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Mapping, Optional, Union
from urllib.parse import urlsplit, urlunsplit

from .._exceptions import ProtocolError
from .http import HeaderItems, HTTPError, Response, ResponseParser, build_head

__all__ = [
    "HandshakeError",
    "HandshakeRejected",
    "Accepted",
    "ClientHandshake",
    "new_key",
    "accept_value",
    "build_request",
]

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3


class HandshakeError(ProtocolError):
    """The server's answer to the WebSocket opening handshake is not an acceptable upgrade."""


class HandshakeRejected(HandshakeError):
    """The server answered the WebSocket handshake with a status other than 101.

    ``location`` is the Location of a 3xx (never followed), ``set_cookies``
    every Set-Cookie value of the answer.
    """

    def __init__(self, status: int, reason: str, location: Optional[str], set_cookies: list[str]) -> None:
        message = f"HTTP {status} {reason}".rstrip()
        if 300 <= status < 400:
            target = _without_userinfo(location) if location else "nowhere"
            message += f" (redirect to {target} not followed)"
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.location = location
        self.set_cookies = set_cookies


def _without_userinfo(url: str, limit: int = 200) -> str:
    """``url`` for a message: credentials before an ``@`` in its authority replaced, long ones cut."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None and "@" in parts.netloc:
        url = urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))
    return url if len(url) <= limit else url[:limit] + "..."


@dataclass(frozen=True)
class Accepted:
    """A successful upgrade: the 101's headers, each Set-Cookie value, the agreed extensions,
    and ``rest``, the bytes that came after the head (the first frames)."""

    headers: tuple[tuple[str, str], ...]
    set_cookies: list[str] = field(default_factory=list)
    extensions: Optional[str] = None
    rest: bytes = b""


def new_key(random16: bytes) -> str:
    """A Sec-WebSocket-Key from 16 random bytes (e.g. ``os.urandom(16)``)."""
    if len(random16) != 16:
        raise ValueError(f"a WebSocket key needs 16 random bytes, got {len(random16)}")
    return base64.b64encode(random16).decode("ascii")


def accept_value(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer to ``key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1((key + _GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def build_request(
    resource: str,
    host: str,
    key: str,
    headers: HeaderItems,
    extensions: Optional[str] = None,
) -> bytes:
    """The upgrade request: ``GET resource HTTP/1.1``, Host, the WebSocket fields, then ``headers``.

    A header named Host (in any case) in ``headers`` replaces the default one:
    the request has exactly one Host line, first. No Origin is sent. A header
    name that is not a token, or a value with CR, LF or NUL, raises ValueError
    naming the header (never its value).
    """
    items = list(headers.items() if isinstance(headers, Mapping) else headers)
    hosts = [value for name, value in items if name.lower() == "host"]
    if len(hosts) > 1:
        raise ValueError("more than one Host header")
    fields: list[tuple[str, str]] = [
        ("Host", hosts[0] if hosts else host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    if extensions:
        fields.append(("Sec-WebSocket-Extensions", extensions))
    fields += [(name, value) for name, value in items if name.lower() != "host"]
    return build_head("GET", resource, fields)


def _names(extensions: Optional[str]) -> set[str]:
    """The extension names of a Sec-WebSocket-Extensions value (parameters ignored)."""
    if not extensions:
        return set()
    return {item.split(";", 1)[0].strip(" \t").lower() for item in extensions.split(",")} - {""}


class ClientHandshake:
    """Parses and checks the server's answer to ``build_request(..., key, ..., extensions)``.

    ``feed()`` the bytes as they arrive: None until the head is complete, then
    an Accepted; a refusal raises HandshakeRejected, anything else wrong
    HandshakeError. ``extensions`` is what the request offered: the answer may
    only agree to those.
    """

    def __init__(
        self,
        key: str,
        *,
        extensions: Optional[str] = None,
        max_head: int = 64 * 1024,
        max_header_lines: int = 100,
    ) -> None:
        self._accept = accept_value(key)
        self._offered = _names(extensions)
        self._parser = ResponseParser(0, max_head=max_head, max_header_lines=max_header_lines, head_only=True)

    def feed(self, data: Union[bytes, bytearray, memoryview]) -> Optional[Accepted]:
        """Parse ``data``; the Accepted once the answer's head is complete, else None."""
        try:
            response = self._parser.feed(data)
        except HTTPError as exc:
            raise HandshakeError(f"malformed WebSocket handshake response: {exc}") from exc
        if response is None:
            return None
        return self._check(response, self._parser.rest)

    def feed_eof(self) -> Accepted:
        """The connection was closed before the answer's head was complete: HandshakeError."""
        try:
            response = self._parser.feed_eof()
        except HTTPError as exc:
            raise HandshakeError(f"WebSocket handshake failed: {exc}") from exc
        return self._check(response, self._parser.rest)

    def _check(self, response: Response, rest: bytes) -> Accepted:
        cookies = response.get_all("set-cookie")
        if response.status != 101:
            location = response.get("location") if 300 <= response.status < 400 else None
            raise HandshakeRejected(response.status, response.reason, location, cookies)
        upgrade = response.get("upgrade")
        if upgrade is None or upgrade.lower() != "websocket":
            raise HandshakeError(f"the 101 response has Upgrade {upgrade!r}, not 'websocket'")
        connection = response.get("connection") or ""
        if "upgrade" not in (token.strip(" \t").lower() for token in connection.split(",")):
            raise HandshakeError(f"the 101 response has Connection {connection!r}, without 'upgrade'")
        accept = response.get("sec-websocket-accept")
        if accept is None:
            raise HandshakeError("the 101 response has no Sec-WebSocket-Accept")
        if accept != self._accept:
            raise HandshakeError(f"wrong Sec-WebSocket-Accept {accept!r} (expected {self._accept!r})")
        extensions = response.get("sec-websocket-extensions")
        if extensions is not None and (not _names(extensions) or _names(extensions) - self._offered):
            raise HandshakeError(
                f"the 101 response has Sec-WebSocket-Extensions {extensions!r}, which were not offered"
            )
        return Accepted(response.headers, cookies, extensions, rest)
