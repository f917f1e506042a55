"""TCP and TLS connections opened with gevent, cooperative with or without monkey patching."""

from __future__ import annotations

import ipaddress
import re
import ssl
from typing import Optional

from gevent import socket as gsocket
from gevent import ssl as gssl

from .._core.socks import Socks5Client, SocksError
from .._core.url import Proxy

__all__ = ["open_connection", "make_ssl_context", "ProxyError"]

_RECV_SIZE = 4096
_HEAD_LIMIT = 64 * 1024  # bytes of a CONNECT reply head
_HEAD_LINES = 100
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: [^\r\n]*)?")
# SOCKS5 replies after which an address of another family may still work: network unreachable,
# host unreachable, connection refused (a server listening on 127.0.0.1 only, "localhost" giving ::1
# first), address type not supported.
_TRY_NEXT_FAMILY = frozenset({3, 4, 5, 8})


class ProxyError(OSError):
    """The proxy could not be reached, refused the tunnel or answered something else.

    The message names the proxy (host:port) and the cause in words, never its credentials.
    ``socks_code`` is the SOCKS5 reply code when the SOCKS5 proxy refused the CONNECT.
    """

    socks_code: Optional[int] = None


def make_ssl_context(verify: bool = True, context: Optional[ssl.SSLContext] = None) -> ssl.SSLContext:
    """The TLS context to use: the caller's, or a default one (verifying unless told not to)."""
    if context is not None:
        return context
    ctx: ssl.SSLContext = gssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _connect_literal(host: str, port: int, timeout: Optional[float]) -> Optional[gsocket.socket]:
    """Connect to an IP address without a resolver round trip (gevent resolves in a thread pool)."""
    try:
        family = gsocket.AF_INET6 if ipaddress.ip_address(host).version == 6 else gsocket.AF_INET
    except ValueError:
        return None
    sock = gsocket.socket(family, gsocket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _tcp(host: str, port: int, timeout: Optional[float]) -> gsocket.socket:
    return _connect_literal(host, port, timeout) or gsocket.create_connection((host, port), timeout=timeout)


def _tcp_to_proxy(proxy: Proxy, timeout: Optional[float]) -> gsocket.socket:
    try:
        return _tcp(proxy.host, proxy.port, timeout)
    except OSError as exc:
        raise ProxyError(f"cannot reach the {_name(proxy)}: {exc}") from exc


def _name(proxy: Proxy) -> str:
    host = f"[{proxy.host}]" if ":" in proxy.host else proxy.host
    return f"{'SOCKS5' if proxy.socks else 'HTTP'} proxy {host}:{proxy.port}"


def _tunnel(sock: gsocket.socket, proxy: Proxy, host: str, port: int) -> None:
    """Ask the HTTP proxy for a tunnel to host:port (CONNECT)."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if proxy.authorization:
        request += f"Proxy-Authorization: {proxy.authorization}\r\n"
    try:
        sock.sendall((request + "\r\n").encode("latin-1"))
        _read_connect_reply(sock, proxy)
    except ProxyError:
        raise
    except OSError as exc:
        raise ProxyError(f"{_name(proxy)}: {exc}") from exc


def _read_connect_reply(sock: gsocket.socket, proxy: Proxy) -> None:
    """Read the proxy's answer to CONNECT: a 2xx status line and headers, and nothing after them.

    Bounded: at most 64 KiB in at most 100 header lines, read 4 KiB at a time.
    The proxy must not send anything past the head, since the target has not
    been spoken to yet.
    """
    head = bytearray()
    end = -1
    while end < 0:
        chunk = sock.recv(_RECV_SIZE)
        if not chunk:
            raise ProxyError(f"{_name(proxy)}: closed the connection before answering CONNECT")
        head += chunk
        end = head.find(b"\r\n\r\n", max(0, len(head) - len(chunk) - 3))
        if (end < 0 and len(head) >= _HEAD_LIMIT) or end + 4 > _HEAD_LIMIT:
            raise ProxyError(f"{_name(proxy)}: its CONNECT reply head is longer than {_HEAD_LIMIT // 1024} KiB")
        if head.count(b"\r\n", 0, end if end >= 0 else len(head)) > _HEAD_LINES:
            raise ProxyError(f"{_name(proxy)}: its CONNECT reply has more than {_HEAD_LINES} header lines")
    status_line = bytes(head[: head.index(b"\r\n")])
    status = _STATUS_LINE.fullmatch(status_line)
    if status is None:
        raise ProxyError(f"{_name(proxy)}: malformed CONNECT reply {_printable(status_line)!r}")
    if not status[1].startswith(b"2"):
        raise ProxyError(f"{_name(proxy)} refused the tunnel: {_printable(status_line)}")
    if len(head) > end + 4:
        raise ProxyError(f"{_name(proxy)}: sent {len(head) - end - 4} bytes after its CONNECT reply, before we spoke")


def _printable(data: bytes, limit: int = 200) -> str:
    """Bytes from the network as text fit for a message: control characters escaped, length bounded."""
    text = data[:limit].decode("latin-1")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return text + ("..." if len(data) > limit else "")


def _socks5(proxy: Proxy, host: str, port: int, timeout: Optional[float]) -> gsocket.socket:
    """A connection to host:port through the SOCKS5 proxy.

    With local DNS (``socks5://``) a name is resolved here with gevent's
    resolver; the first address of each family is tried in the resolver's
    order, the next one (over a new proxy connection) only when the proxy says
    the previous one could not be reached or refused.
    """
    addresses = [host] if proxy.remote_dns or _is_ip(host) else _resolve(host, port)
    for i, address in enumerate(addresses):
        sock = _tcp_to_proxy(proxy, timeout)
        try:
            _socks5_handshake(sock, proxy, address, port)
            return sock
        except ProxyError as exc:
            sock.close()
            if exc.socks_code not in _TRY_NEXT_FAMILY or i == len(addresses) - 1:
                raise
        except BaseException:
            sock.close()
            raise
    raise AssertionError("unreachable: the resolver returned no address")


def _socks5_handshake(sock: gsocket.socket, proxy: Proxy, address: str, port: int) -> None:
    """Drive the SOCKS5 handshake, reading exactly what each reply needs."""
    try:
        client = Socks5Client(
            address, port, username=proxy.username, password=proxy.password, remote_dns=proxy.remote_dns
        )
        sock.sendall(client.greeting())
        while not client.done:
            data = sock.recv(client.needed)
            if not data:
                raise ProxyError(f"{_name(proxy)}: closed the connection while we waited for its {client.waiting_for}")
            reply = client.feed(data)
            if reply:
                sock.sendall(reply)
    except SocksError as exc:
        error = ProxyError(f"{_name(proxy)}: {exc}")
        error.socks_code = exc.code
        raise error from None
    except ProxyError:
        raise
    except (OSError, ValueError) as exc:
        raise ProxyError(f"{_name(proxy)}: {exc}") from exc


def _resolve(host: str, port: int) -> list[str]:
    """The first address of each family that ``host`` resolves to, in the resolver's order."""
    first: dict[int, str] = {}
    for family, _, _, _, sockaddr in gsocket.getaddrinfo(host, port, 0, gsocket.SOCK_STREAM):
        if family in (gsocket.AF_INET, gsocket.AF_INET6):
            first.setdefault(family, str(sockaddr[0]))
    if not first:
        raise OSError(f"{host} resolves to no IPv4 or IPv6 address")
    return list(first.values())


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def open_connection(
    host: str,
    port: int,
    timeout: Optional[float],
    ssl_context: Optional[ssl.SSLContext] = None,
    proxy: Optional[Proxy] = None,
) -> gsocket.socket:
    """Connect with gevent's resolver and sockets, through ``proxy`` if given; TLS when a context is given.

    A proxy that cannot be reached, refuses or misbehaves raises :class:`ProxyError`.
    """
    if proxy is None:
        sock = _tcp(host, port, timeout)
    elif proxy.socks:
        sock = _socks5(proxy, host, port, timeout)
    else:
        sock = _tcp_to_proxy(proxy, timeout)
    try:
        if proxy is not None and not proxy.socks:
            _tunnel(sock, proxy, host, port)
        sock.setsockopt(gsocket.IPPROTO_TCP, gsocket.TCP_NODELAY, 1)
        if ssl_context is not None:
            # gevent's SSLSocket accepts any SSLContext, so a stdlib context made by
            # the caller still gives a cooperative TLS socket.
            sock = gssl.SSLSocket(sock=sock, server_hostname=host, _context=ssl_context)
    except BaseException:
        sock.close()
        raise
    return sock
