"""A SOCKS5 client handshake without I/O: RFC 1928 CONNECT with RFC 1929 username/password.

The caller sends :meth:`Socks5Client.greeting`, then reads exactly
:attr:`Socks5Client.needed` bytes (in as many ``recv`` calls as the server
needs), hands them to :meth:`Socks5Client.feed` and sends what it returns,
until :attr:`Socks5Client.done`. Every reply has a length known from the bytes
before it, so nothing past the handshake is ever read.
"""

from __future__ import annotations

import ipaddress
import struct
from typing import Optional

from .._exceptions import ProtocolError

__all__ = ["Socks5Client", "SocksError", "REPLY_MESSAGES"]

#: RFC 1928 §6 reply codes, in words.
REPLY_MESSAGES = {
    1: "general SOCKS server failure",
    2: "connection not allowed by ruleset",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}

_VERSION = 5
_NO_AUTH, _USER_PASS, _NO_ACCEPTABLE = 0x00, 0x02, 0xFF
_CONNECT = 1
_IPV4, _DOMAIN, _IPV6 = 1, 3, 4
_ADDRESS_SIZES = {_IPV4: 4, _IPV6: 16}
# Stages: what the client waits for.
_START, _METHOD, _AUTH, _REPLY, _DONE, _FAILED = range(6)
_WAITING_FOR = {
    _START: "nothing (greeting() not called yet)",
    _METHOD: "method selection",
    _AUTH: "answer to our username/password (wrong credentials?)",
    _REPLY: "CONNECT reply",
    _DONE: "nothing (done)",
    _FAILED: "nothing (failed)",
}


class SocksError(ProtocolError):
    """The SOCKS5 proxy refused, or answered something that is not SOCKS5.

    ``code`` is the RFC 1928 reply code for a refused CONNECT, else None.
    """

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.code = code


class Socks5Client:
    """One SOCKS5 CONNECT handshake to ``host``:``port``.

    ``remote_dns=False`` (``socks5://``): ``host`` must be an IP address, resolved
    by the caller. ``remote_dns=True`` (``socks5h://``): a name is sent as is
    (address type 3, at most 255 bytes) and the proxy resolves it; an IP
    address is sent as one. With a username, both "no authentication" and
    username/password (RFC 1929, each at most 255 bytes) are offered.
    """

    __slots__ = ("_request", "_auth", "_stage", "_buffer", "_want")

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: Optional[str] = None,
        password: Optional[str] = None,
        remote_dns: bool,
    ) -> None:
        if not 0 <= port <= 0xFFFF:
            raise ValueError(f"port {port} is out of range")
        self._request = bytes((_VERSION, _CONNECT, 0)) + _address(host, remote_dns) + struct.pack("!H", port)
        self._auth: Optional[bytes] = None  # the RFC 1929 request, which holds the password
        if username is not None or password is not None:
            user, secret = (username or "").encode("utf-8"), (password or "").encode("utf-8")
            if not 1 <= len(user) <= 255:
                raise ValueError("the SOCKS5 username must be 1 to 255 bytes long")
            if len(secret) > 255:
                raise ValueError("the SOCKS5 password must be at most 255 bytes long")
            self._auth = bytes((1, len(user))) + user + bytes((len(secret),)) + secret
        self._stage = _START
        self._buffer = bytearray()
        self._want = 0  # size of the reply being read, as far as known

    def __repr__(self) -> str:
        return f"<Socks5Client waiting for {self.waiting_for}>"

    @property
    def needed(self) -> int:
        """How many more bytes to read before the next step (0 when done, failed or not started)."""
        return self._want - len(self._buffer)

    @property
    def done(self) -> bool:
        """The tunnel is open: what follows on the connection is the target's."""
        return self._stage == _DONE

    @property
    def waiting_for(self) -> str:
        """What the client waits for, in words (for error messages)."""
        return _WAITING_FOR[self._stage]

    def greeting(self) -> bytes:
        """The first bytes to send: the authentication methods offered."""
        if self._stage != _START:
            raise ValueError("greeting() was already called")
        self._enter(_METHOD, 2)
        if self._auth is None:
            return bytes((_VERSION, 1, _NO_AUTH))
        return bytes((_VERSION, 2, _NO_AUTH, _USER_PASS))

    def feed(self, data: bytes) -> bytes:
        """Take bytes read from the proxy (at most :attr:`needed`); return what to send next (maybe b"").

        Raises :class:`SocksError` on a refusal or a malformed reply; the client is then failed.
        """
        if len(data) > self.needed:
            raise ValueError(f"fed {len(data)} bytes, {self.needed} expected at most")
        self._buffer += data
        try:
            return self._step()
        except SocksError:
            self._enter(_FAILED, 0)
            raise

    def _enter(self, stage: int, want: int) -> None:
        self._stage = stage
        self._buffer.clear()
        self._want = want

    def _step(self) -> bytes:
        buffer = self._buffer
        if self._stage == _METHOD:
            if buffer[:1] and buffer[0] != _VERSION:
                raise SocksError(f"malformed method selection: version byte {buffer[0]:#04x}, expected 0x05")
            if len(buffer) < 2:
                return b""
            return self._method(buffer[1])
        if self._stage == _AUTH:
            # RFC 1929 says version 1; some servers answer with the SOCKS version (5).
            if buffer[:1] and buffer[0] not in (1, _VERSION):
                raise SocksError(f"malformed username/password reply: version byte {buffer[0]:#04x}, expected 0x01")
            if len(buffer) < 2:
                return b""
            if buffer[1] != 0:
                raise SocksError("refused the username/password")
            self._enter(_REPLY, 4)
            return self._request
        return self._reply() if self._stage == _REPLY else b""

    def _method(self, method: int) -> bytes:
        if method == _NO_AUTH:
            self._enter(_REPLY, 4)
            return self._request
        if method == _USER_PASS and self._auth is not None:
            self._enter(_AUTH, 2)
            return self._auth
        if method == _NO_ACCEPTABLE:
            offered = "no authentication" if self._auth is None else "no authentication, username/password"
            raise SocksError(f"accepts none of our authentication methods ({offered})")
        raise SocksError(f"chose authentication method {method:#04x}, which we did not offer")

    def _reply(self) -> bytes:
        buffer = self._buffer
        if buffer[:1] and buffer[0] != _VERSION:
            raise SocksError(f"malformed CONNECT reply: version byte {buffer[0]:#04x}, expected 0x05")
        if len(buffer) >= 2 and buffer[1] != 0:
            code = buffer[1]
            raise SocksError(f"{REPLY_MESSAGES.get(code, f'unknown reply code {code}')} (SOCKS5 reply {code})", code)
        if len(buffer) == 4:
            address_type = buffer[3]
            if address_type == _DOMAIN:
                self._want = 5  # the name's length byte comes first
            elif address_type in _ADDRESS_SIZES:
                self._want = 4 + _ADDRESS_SIZES[address_type] + 2
            else:
                raise SocksError(f"malformed CONNECT reply: address type {address_type:#04x}")
        elif len(buffer) == 5 and buffer[3] == _DOMAIN:
            self._want = 5 + buffer[4] + 2
        if len(buffer) == self._want and self._want > 5:
            self._enter(_DONE, 0)
        return b""


def _address(host: str, remote_dns: bool) -> bytes:
    """ATYP and DST.ADDR of a request."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return bytes((_IPV4 if ip.version == 4 else _IPV6,)) + ip.packed
    if not remote_dns:
        raise ValueError(f"socks5:// resolves names locally: expected an IP address, got {host!r}")
    try:
        name = host.encode("idna")
    except UnicodeError:
        raise ValueError(f"{host!r} is not a valid host name") from None
    if not 1 <= len(name) <= 255:
        raise ValueError("a host name sent to a SOCKS5 proxy must be 1 to 255 bytes long")
    return bytes((_DOMAIN, len(name))) + name
