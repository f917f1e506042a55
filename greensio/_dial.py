"""Opening an Engine.IO connection: the first transport, the handshake, the server's OPEN.

``Dialer`` holds what does not change between attempts (the target, the TLS
context, the proxy, the cookie jar); ``dial()`` does one attempt and turns every
failure into a ``ConnectionError`` whose one-line message names the cause.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
from typing import Any, Mapping, Optional, cast

import gevent

from . import _registry
from ._clock import Clock
from ._core.cookies import CookieJar
from ._core.engine import EngineState
from ._core.url import Proxy, Target, engine_url, host_header, parse_proxy, proxy_from_env
from ._core.wshandshake import HandshakeError, HandshakeRejected
from ._exceptions import ConnectionError, ProtocolError
from ._io.net import ProxyError, make_ssl_context
from ._io.transport import (
    ConnectParams,
    HTTPStatusError,
    Packet,
    Pausable,
    Transport,
    TransportClosed,
    TransportFactory,
)
from ._options import ManagerOptions, resolve

__all__ = ["Dialer", "Dialed", "choose_proxy"]

log = logging.getLogger("greensio")


def choose_proxy(target: Target, options: ManagerOptions, environ: Mapping[str, str]) -> Optional[Proxy]:
    """The ``proxy`` option (for every host, loopback included), else with ``trust_env`` the
    environment's HTTP(S)_PROXY / ALL_PROXY unless NO_PROXY or loopback says direct."""
    if options.proxy is not None:
        return options.proxy_url
    url = proxy_from_env(environ, target) if options.trust_env else None
    return parse_proxy(url) if url else None


class Dialed:
    """An opened transport whose OPEN packet was read."""

    __slots__ = ("transport", "engine", "first")

    def __init__(self, transport: Transport, engine: EngineState, first: list[Packet]) -> None:
        self.transport = transport
        self.engine = engine
        self.first = first
        """What came after the OPEN in the same read."""


class Dialer:
    """Opens transports to one server with one Manager's options."""

    __slots__ = ("target", "options", "key", "cookies", "_factory", "_clock", "_ssl_context", "_proxy", "_params")

    def __init__(self, target: Target, options: ManagerOptions, factory: TransportFactory, clock: Clock) -> None:
        self.target = target
        self.options = options
        self.key = (target.scheme, target.host, target.port, options.path)
        self.cookies = CookieJar()  # kept per Manager, sent on every request (sticky sessions)
        self._factory = factory
        self._clock = clock
        self._ssl_context = make_ssl_context(options.ssl_verify, options.ssl_context) if target.secure else None
        self._proxy = choose_proxy(target, options, os.environ)
        self._params: tuple[dict[str, Any], dict[str, Any]] = ({}, {})  # query and headers of this connection

    def first_transport(self) -> str:
        transports = self.options.transports
        if transports[0] == "websocket":
            return "websocket"
        if "websocket" in transports and self.options.remember_upgrade and _registry.upgraded_before(self.key):
            return "websocket"
        return "polling"

    def dial(self) -> Dialed:
        """One attempt: open the first transport and read the server's OPEN."""
        opts = self.options
        if opts.timeout is not None and opts.timeout <= 0:
            raise ConnectionError("timeout")  # as in JS: a zero deadline passes before any I/O completes
        deadline = gevent.Timeout(opts.timeout)
        first_transport = self.first_transport()
        try:
            with deadline:
                self._params = (resolve(opts.query, "query"), resolve(opts.extra_headers, "header"))
                transport: Transport
                if first_transport == "polling":
                    transport, packets = self._factory.open_polling(self._connect_params("polling", None))
                else:
                    transport = self.open_websocket(None)
                    packets = []
                try:
                    if transport.name == "websocket":
                        packets = transport.read()
                    engine = EngineState(opts.json.loads)
                    first = packets[0] if packets else ""
                    if not isinstance(first, str):
                        raise ProtocolError("expected an OPEN packet, got binary data")
                    handshake = engine.open(first, self._clock.now())
                    if first_transport == "polling":
                        cast(Pausable, transport).begin(handshake.sid, handshake.max_payload)
                except BaseException:
                    transport.close()
                    raise
        except gevent.Timeout as exc:
            if exc is not deadline:
                raise
            raise ConnectionError(f"no answer from {self._where(first_transport)} within {opts.timeout} s") from (
                TimeoutError()
            )
        except (TransportClosed, ProtocolError) as exc:
            raise ConnectionError(self.describe(exc, first_transport)) from exc
        except (ValueError, TypeError) as exc:  # a query/headers callable gave bad values
            raise ConnectionError(f"cannot connect: {exc}") from exc
        return Dialed(transport, engine, packets[1:])

    def _where(self, transport: str) -> str:
        target = self.target
        scheme = ("wss" if target.secure else "ws") if transport == "websocket" else target.scheme
        path = self.options.path.rstrip("/") + "/"
        return f"{scheme}://{host_header(scheme, target.host, target.port)}{path}"

    def describe(self, exc: BaseException, transport: str) -> str:
        """A one-line message naming why an attempt failed."""
        where = self._where(transport)
        target = self.target
        status = getattr(exc, "status", None)
        if isinstance(status, int):
            reason = getattr(exc, "phrase", None) or getattr(exc, "reason", "")
            if status == 404:
                return f"HTTP 404 from {where} — is path={self.options.path!r} right?"
            if isinstance(exc, HandshakeRejected) and 300 <= status < 400:
                return f"{exc} from {where}"
            return f"HTTP {status} {reason} from {where}".replace("  ", " ")
        if isinstance(exc, HandshakeError):
            return f"not a WebSocket server at {where}: {exc}"
        cause = exc.__cause__
        if isinstance(cause, ProxyError):
            return str(cause)
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused by {target.host}:{target.port} (is the server running?)"
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve {target.host!r}: {cause.strerror or cause}"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS: the certificate of {target.host} is not trusted ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS with {target.host}:{target.port} failed: {cause.reason or cause}"
        if isinstance(cause, OSError) and not isinstance(exc, HTTPStatusError):
            return f"cannot connect to {target.host}:{target.port}: {cause.strerror or cause}"
        if isinstance(exc, ProtocolError) and ("OPEN" in str(exc) or "handshake" in str(exc)):
            return f"not a Socket.IO server at {where}: {exc}"
        return str(exc)

    def open_websocket(self, sid: Optional[str]) -> Transport:
        """A WebSocket to the server (``sid``: joining that session, for the upgrade)."""
        return self._factory.open_websocket(self._connect_params("websocket", sid))

    def _connect_params(self, transport: str, sid: Optional[str]) -> ConnectParams:
        query, headers = self._params
        return ConnectParams(
            url=engine_url(self.target, self.options.path, transport, query, sid=sid),
            host=self.target.host,
            port=self.target.port,
            headers=headers,
            timeout=None,
            ssl_context=self._ssl_context,
            max_message=self.options.max_message_size,
            cookies=self.cookies,
            proxy=self._proxy,
            compression=self.options.compression,
        )
