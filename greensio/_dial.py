"""Opening an Engine.IO connection: the first transport, the handshake, the server's OPEN.

``Dialer`` holds what does not change between attempts (the target, the TLS
context, the proxy, the cookie jar, the protocol the server speaks); ``dial()``
does one attempt and turns every failure into a ``ConnectionError`` whose one-line
message names the cause.

The protocol (Engine.IO v4, or v3 for Socket.IO 2.x servers) is detected unless
the ``protocol`` option forces it: ask in the one remembered for the server (else
v4) and switch when the answer is one only the other protocol gives
(``greensio._core.protocol`` has the table). Over polling a v3 server either
answers in v3 at once (socket.io 2.x: adopted as it is) or refuses the version
(python-socketio 4: asked again in v3). Over WebSocket an OPEN in v3 is adopted in
place; a server that closes before any OPEN is asked once more in the other
protocol. One attempt makes at most two requests; what worked is remembered per
server for the process (``_registry``).
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
from typing import Any, Callable, Mapping, Optional, cast

import gevent

from . import _registry
from ._clock import Clock
from ._core import sio3
from ._core.cookies import CookieJar
from ._core.engine import EngineState
from ._core.engine3 import EngineState3
from ._core.protocol import V3, V4, Protocol, by_revision, detect_open, detect_polling
from ._core.redact import redact_url
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

__all__ = ["Dialer", "Dialed", "RootRefused", "choose_proxy"]

log = logging.getLogger("greensio")
UNDECIDED_WAIT = 0.2  # seconds to wait for socket.io 2.x's "40" after an OPEN that does not tell


def choose_proxy(target: Target, options: ManagerOptions, environ: Mapping[str, str]) -> Optional[Proxy]:
    """The ``proxy`` option (for every host, loopback included), else with ``trust_env`` the
    environment's HTTP(S)_PROXY / ALL_PROXY unless NO_PROXY or loopback says direct."""
    if options.proxy is not None:
        return options.proxy_url
    url = proxy_from_env(environ, target) if options.trust_env else None
    return parse_proxy(url) if url else None


class Dialed:
    """An opened transport whose OPEN packet was read."""

    __slots__ = ("transport", "engine", "first", "protocol", "phases")

    def __init__(
        self,
        transport: Transport,
        engine: EngineState | EngineState3,
        first: list[Packet],
        protocol: Protocol = V4,
    ) -> None:
        self.transport = transport
        self.engine = engine
        self.first = first
        """What came after the OPEN in the same read."""
        self.protocol = protocol
        """The protocol the server answered in."""
        self.phases: tuple[tuple[str, float], ...] = ()
        """Seconds of the "tcp" (TCP, TLS, proxy) and "handshake" (HTTP or WebSocket handshake, the OPEN) phases."""


class RootRefused(ConnectionError):
    """python-socketio 4 refused "/" by refusing the Engine.IO handshake (HTTP 401 with its reason):
    a refusal of the namespaces, reported as a CONNECT_ERROR for "/", not a connection failure."""

    def __init__(self, refusal: Any) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


AuthValues = Callable[[], Mapping[str, Any]]
"""The auth of the sockets that want the connection, merged (sent as query parameters in v3)."""


class Dialer:
    """Opens transports to one server with one Manager's options."""

    __slots__ = (
        "target", "options", "key", "cookies", "forced", "protocol", "guessed", "_factory", "_clock", "_ssl_context",
        "_proxy", "_params", "_auth_values", "_auth_query", "_started",
    )  # fmt: skip

    def __init__(self, target: Target, options: ManagerOptions, factory: TransportFactory, clock: Clock) -> None:
        self.target = target
        self.options = options
        self.key = (target.scheme, target.host, target.port, options.path)
        self.cookies = CookieJar()  # kept per Manager, sent on every request (sticky sessions)
        self.forced = options.protocol is not None
        """The ``protocol`` option fixes the protocol: no detection."""
        self.protocol: Protocol = by_revision(options.protocol) if options.protocol is not None else V4
        """The protocol the next attempt asks in."""
        self.guessed = False
        """The last connection's protocol was taken without proof (an OPEN without maxPayload, over
        WebSocket): a CONNECT reply without payload may still show the server to be v3."""
        if self.protocol is V3 and options.parser == "msgpack":
            raise ValueError("parser='msgpack' cannot be used with protocol=3 (Socket.IO 2.x servers)")
        self._factory = factory
        self._clock = clock
        self._ssl_context = make_ssl_context(options.ssl_verify, options.ssl_context) if target.secure else None
        self._proxy = choose_proxy(target, options, os.environ)
        self._params: tuple[dict[str, Any], dict[str, Any]] = ({}, {})  # query and headers of this connection
        self._auth_values: Optional[AuthValues] = None
        self._auth_query: Optional[dict[str, str]] = None  # the auth as query parameters (v3), once asked for

    def first_transport(self) -> str:
        transports = self.options.transports
        if transports[0] == "websocket":
            return "websocket"
        if "websocket" in transports and self.options.remember_upgrade and _registry.upgraded_before(self.key):
            return "websocket"
        return "polling"

    def dial(self, auth_values: Optional[AuthValues] = None) -> Dialed:
        """One attempt: open the first transport and read the server's OPEN.

        ``auth_values``: the sockets' auth, asked for only if the protocol is v3 (query parameters).
        """
        opts = self.options
        if opts.timeout is not None and opts.timeout <= 0:
            raise ConnectionError("timeout")  # as in JS: a zero deadline passes before any I/O completes
        deadline = gevent.Timeout(opts.timeout)
        self._started = self._clock.now()
        first_transport = self.first_transport()
        if not self.forced:
            remembered = _registry.protocol_for(self.key)
            self.protocol = remembered if remembered is not None and opts.parser != "msgpack" else self.protocol
        self._auth_values, self._auth_query = auth_values, None
        try:
            with deadline:
                self._params = (resolve(opts.query, "query"), resolve(opts.extra_headers, "header"))
                if first_transport == "polling":
                    return self._dial_polling(self.protocol, not self.forced)
                return self._dial_websocket(self.protocol, not self.forced)
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
        finally:
            self._auth_values = None

    def _dial_polling(self, asked: Protocol, may_switch: bool) -> Dialed:
        """The polling handshake in ``asked``; ``may_switch``: ask again in the protocol a refusal names."""
        try:
            transport, packets = self._factory.open_polling(self._connect_params("polling", None, asked))
        except HTTPStatusError as exc:
            spoken = detect_polling(asked, exc.status, exc.body)
            if spoken is not None and spoken is not asked:
                if may_switch:
                    return self._dial_polling(spoken, False)
                if self.forced:
                    raise self._mismatch(asked, "polling") from exc
            reason = sio3.handshake_refusal(exc.status, exc.body) if asked.implicit_root else None
            if reason is not None:  # python-socketio 4 refusing "/"
                raise RootRefused(reason) from exc
            raise
        try:
            spoken = transport.protocol
            if spoken is not asked:  # socket.io 2.x answers any EIO in v3
                if self.forced:
                    raise self._mismatch(asked, "polling")
                if spoken is V3 and may_switch and self._query_for(V3):
                    # its "/" joined without the auth, which v3 carries in the handshake's query: ask again
                    self._leave(transport, packets, V3)
                    return self._dial_polling(V3, False)
            return self._opened(transport, packets, spoken)
        except BaseException:
            transport.close()
            raise

    def _leave(self, transport: Pausable, packets: list[Packet], protocol: Protocol) -> None:
        """Close a polling session the server opened, telling it (best effort, bounded)."""
        try:
            first = packets[0] if packets else ""
            if isinstance(first, str):
                handshake = protocol.new_engine(self.options.json.loads).open(first, self._clock.now())
                transport.begin(handshake.sid, handshake.max_payload)
                transport.close_gracefully()
        except ProtocolError:
            pass
        transport.close()

    def _dial_websocket(self, asked: Protocol, may_switch: bool) -> Dialed:
        """A WebSocket opened in ``asked``; ``may_switch``: open it again in the other protocol when the
        server closes it before any OPEN (what a server of the other protocol does)."""
        transport = self._factory.open_websocket(self._connect_params("websocket", None, asked))
        try:
            try:
                packets = transport.read()
            except (TransportClosed, ProtocolError) as exc:
                if not may_switch:
                    if self.forced:
                        raise self._closed_before_open(exc) from exc
                    raise
                transport.close()
                try:
                    return self._dial_websocket(V4 if asked is V3 else V3, False)
                except (TransportClosed, ProtocolError):
                    raise exc from None  # the other protocol did no better: the first answer stands
            spoken = detect_open(asked, packets)
            if spoken is None and may_switch and len(packets) == 1 and _registry.protocol_for(self.key) is None:
                # an OPEN without maxPayload: socket.io 2.x sends its "40" right behind it, maybe in a
                # frame of its own; a v4 server older than maxPayload sends nothing before our CONNECT
                packets += self._read_soon(transport)
                spoken = detect_open(asked, packets)
            if spoken is not None and spoken is not asked:  # socket.io 2.x: an OPEN in v3, and its "40"
                if self.forced:
                    raise self._mismatch(asked, "websocket")
                transport.speak(spoken)
            return self._opened(transport, packets, spoken or asked, guessed=spoken is None)
        except BaseException:
            transport.close()
            raise

    @staticmethod
    def _read_soon(transport: Transport) -> list[Packet]:
        """What the transport reads within UNDECIDED_WAIT (nothing if it reads nothing)."""
        with gevent.Timeout(UNDECIDED_WAIT, False):
            return transport.read()
        return []

    def _opened(self, transport: Transport, packets: list[Packet], protocol: Protocol, guessed: bool = False) -> Dialed:
        """Read the OPEN in ``protocol``: the server's from now on, remembered (``guessed``: without proof)."""
        if protocol is V3 and self.options.parser == "msgpack":
            _registry.remember_protocol(self.key, V3)
            raise ConnectionError(
                f"{self._where(transport.name)} speaks Socket.IO 2.x, whose msgpack parser greensio does not support"
            )
        engine = protocol.new_engine(self.options.json.loads)
        first = packets[0] if packets else ""
        if not isinstance(first, str):
            raise ProtocolError("expected an OPEN packet, got binary data")
        handshake = engine.open(first, self._clock.now())
        if transport.name == "polling":
            cast(Pausable, transport).begin(handshake.sid, handshake.max_payload)
        self.protocol = protocol
        self.guessed = guessed
        _registry.remember_protocol(self.key, protocol)
        dialed = Dialed(transport, engine, packets[1:], protocol)
        tcp = float(getattr(transport, "connect_seconds", 0.0))
        dialed.phases = (("tcp", tcp), ("handshake", max(0.0, self._clock.now() - self._started - tcp)))
        return dialed

    def learned_v3(self) -> None:
        """A CONNECT reply proved the server v3 after an undecided WebSocket OPEN: the next attempt asks in v3."""
        self.protocol = V3
        _registry.remember_protocol(self.key, V3)

    def mismatch_message(self, asked: Protocol, transport: str) -> str:
        """Why a forced protocol cannot be used with this server."""
        where = self._where(transport)
        if asked is V4:
            return f"{where} speaks Engine.IO v3 (Socket.IO 2.x): leave protocol unset or use protocol=3"
        return f"{where} does not speak Engine.IO v3 (it is a Socket.IO 3+ server): leave protocol unset or use 4"

    def _mismatch(self, asked: Protocol, transport: str) -> ConnectionError:
        return ConnectionError(self.mismatch_message(asked, transport))

    def _closed_before_open(self, exc: BaseException) -> ConnectionError:
        protocol = self.protocol.revision
        return ConnectionError(
            f"{exc} before the Engine.IO OPEN (with protocol={protocol}: a server of the other Engine.IO "
            "revision does this, as does one that refuses the connection; leave protocol unset to detect it)"
        )

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
            if isinstance(exc, HandshakeRejected) and 200 <= status < 300:
                return f"not a WebSocket server at {where}: HTTP {status} {reason} instead of 101".replace("  ", " ")
            location = getattr(exc, "location", None)
            if 300 <= status < 400:
                shown = redact_url(location)[:200] if location else "nowhere"
                return f"HTTP {status} {reason} from {where} (redirect to {shown} not followed)".replace("  ", " ")
            return f"HTTP {status} {reason} from {where}".replace("  ", " ")
        if isinstance(exc, HandshakeError):
            hint = f" — is path={self.options.path!r} right?" if "before its status line" in str(exc) else ""
            return f"not a WebSocket server at {where}: {exc}{hint}"  # Node drops an unknown path's upgrade
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
        if isinstance(exc, ProtocolError):  # what answered is not an Engine.IO handshake
            return f"not a Socket.IO server at {where}: {exc}"
        return str(exc)

    def open_websocket(self, sid: Optional[str]) -> Transport:
        """A WebSocket to the server (``sid``: joining that session, for the upgrade)."""
        return self._factory.open_websocket(self._connect_params("websocket", sid, self.protocol))

    def _query_for(self, protocol: Protocol) -> dict[str, str]:
        """The sockets' auth as query parameters when ``protocol`` has no auth in CONNECT (else nothing)."""
        if protocol.auth_in_connect:
            return {}
        if self._auth_query is None:
            self._auth_query = {}
            values = self._auth_values
            if values is not None:
                self._auth_query = sio3.query_params(values())
        return self._auth_query

    def _connect_params(self, transport: str, sid: Optional[str], protocol: Protocol) -> ConnectParams:
        query, headers = self._params
        auth = self._query_for(protocol)
        if auth:
            query = {**auth, **query}
        return ConnectParams(
            url=engine_url(self.target, self.options.path, transport, query, sid=sid, eio=protocol.eio),
            host=self.target.host,
            port=self.target.port,
            headers=headers,
            timeout=None,
            ssl_context=self._ssl_context,
            max_message=self.options.max_message_size,
            cookies=self.cookies,
            proxy=self._proxy,
            compression=self.options.compression,
            protocol=protocol,
        )
