"""Opening an Engine.IO connection: the first transport, the handshake, the server's OPEN.

``Dialer`` holds what does not change between attempts (the target, the TLS
context, the proxy, the cookie jar); ``dial()`` does one attempt and turns every
failure into a ``ConnectionError`` whose one-line message names the cause.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Mapping, Optional

import gevent

from . import _registry
from ._clock import Clock
from ._core.engine import EngineState
from ._core.url import Proxy, Target, engine_url, parse_proxy, proxy_from_env
from ._exceptions import ConnectionError, ProtocolError
from ._io.net import make_ssl_context
from ._io.transport import ConnectParams, Packet, Transport, TransportClosed, TransportFactory
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
        self.cookies: dict[str, str] = {}  # kept per Manager, sent on every request (sticky sessions)
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
        try:
            with deadline:
                self._params = (resolve(opts.query, "query"), resolve(opts.extra_headers, "header"))
                transport: Transport
                if self.first_transport() == "polling":
                    transport, packets = self._factory.open_polling(self._connect_params("polling", None))
                else:
                    transport = self.open_websocket(None)
                    packets = []
                try:
                    if transport.name == "websocket":
                        packets = transport.read()
                    engine = EngineState(opts.json.loads)
                    first = packets[0]
                    if not isinstance(first, str):
                        raise ProtocolError("expected an OPEN packet, got binary data")
                    engine.open(first, self._clock.now())
                except BaseException:
                    transport.close()
                    raise
        except gevent.Timeout as exc:
            if exc is not deadline:
                raise
            raise ConnectionError("timeout") from None
        except (TransportClosed, ProtocolError) as exc:
            raise ConnectionError(str(exc)) from exc
        except (ValueError, TypeError) as exc:  # a query/headers callable gave bad values
            raise ConnectionError(f"cannot connect: {exc}") from exc
        return Dialed(transport, engine, packets[1:])

    def open_websocket(self, sid: Optional[str]) -> Transport:
        """A WebSocket to the server (``sid``: joining that session, for the upgrade)."""
        return self._factory.open_websocket(self._connect_params("websocket", sid))

    def _connect_params(self, transport: str, sid: Optional[str]) -> ConnectParams:
        query, headers = self._params
        if transport == "websocket" and self.cookies:
            from ._core.cookies import cookie_header

            headers = {**headers, "Cookie": cookie_header(self.cookies)}
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
        )
