"""TCP and TLS connections opened with gevent, cooperative with or without monkey patching."""

from __future__ import annotations

import ipaddress
import ssl
from typing import Optional

from gevent import socket as gsocket
from gevent import ssl as gssl

from .._core.url import Proxy

__all__ = ["open_connection", "make_ssl_context"]


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


def _tunnel(sock: gsocket.socket, proxy: Proxy, host: str, port: int) -> None:
    """Ask the proxy for a tunnel to host:port (HTTP CONNECT)."""
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    request = f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
    if proxy.authorization:
        request += f"Proxy-Authorization: {proxy.authorization}\r\n"
    sock.sendall((request + "\r\n").encode("latin-1"))
    head = b""
    while b"\r\n\r\n" not in head:  # a CONNECT response has no body; read it byte-exact
        chunk = sock.recv(1)
        if not chunk or len(head) > 16384:
            raise OSError(f"the proxy {proxy.host}:{proxy.port} closed the CONNECT request")
        head += chunk
    status = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status.split(" ", 2)
    if len(parts) < 2 or parts[1] != "200":
        raise OSError(f"the proxy refused the tunnel to {target}: {status}")


def open_connection(
    host: str,
    port: int,
    timeout: Optional[float],
    ssl_context: Optional[ssl.SSLContext] = None,
    proxy: Optional[Proxy] = None,
) -> gsocket.socket:
    """Connect with gevent's resolver and sockets, through ``proxy`` if given; TLS when a context is given."""
    sock = _tcp(proxy.host, proxy.port, timeout) if proxy is not None else _tcp(host, port, timeout)
    try:
        if proxy is not None:
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
