"""TCP and TLS connections opened with gevent, cooperative with or without monkey patching."""
from __future__ import annotations

import ipaddress
import ssl
from typing import Optional

from gevent import socket as gsocket
from gevent import ssl as gssl

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


def open_connection(
    host: str,
    port: int,
    timeout: Optional[float],
    ssl_context: Optional[ssl.SSLContext] = None,
) -> gsocket.socket:
    """Connect with gevent's resolver and sockets; wrap in TLS when a context is given."""
    sock = _connect_literal(host, port, timeout) or gsocket.create_connection((host, port), timeout=timeout)
    try:
        sock.setsockopt(gsocket.IPPROTO_TCP, gsocket.TCP_NODELAY, 1)
        if ssl_context is not None:
            # gevent's SSLSocket accepts any SSLContext, so a stdlib context made by
            # the caller still gives a cooperative TLS socket.
            sock = gssl.SSLSocket(sock=sock, server_hostname=host, _context=ssl_context)
    except BaseException:
        sock.close()
        raise
    return sock
