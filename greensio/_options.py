"""The options of Manager and Socket: one declaration each, typed, documented and checked at construction.

Each option is a field of ``ManagerOptions`` or ``SocketOptions`` with its default,
its one-line doc (``help()`` shows it) and its check. ``ManagerOptionsDict`` and
friends give the same options to type checkers and IDEs as keyword parameters
(``**options: Unpack[...]``); ``signature_with_options`` gives them to ``help()``
and ``inspect``.
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
import ssl
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, Callable, Optional, TypedDict, Union

from ._core.url import Proxy, check_no_crlf, parse_proxy

__all__ = [
    "ManagerOptions",
    "SocketOptions",
    "ManagerOptionsDict",
    "SocketOptionsDict",
    "OptionsDict",
    "ConnectOptionsDict",
    "split_options",
    "resolve",
    "signature_with_options",
    "options_doc",
]

MappingOrFactory = Union[Mapping[str, Any], Callable[[], Mapping[str, Any]], None]
TRANSPORTS = ("polling", "websocket")
# Names users bring from other clients, and the option they mean.
ALIASES = {
    "headers": "extra_headers",
    "socketio_path": "path",
    "wait_timeout": "timeout",
    "request_timeout": "timeout",
    "reconnection_delay_max_ms": "reconnection_delay_max",
    "serializer": "parser",
    "verify": "ssl_verify",
}


def _opt(default: Any, doc: str, *, compare: bool = True) -> Any:
    return field(default=default, metadata={"doc": doc}, compare=compare)


class OptionError(TypeError, ValueError):
    """An option has a wrong type or value (a TypeError and a ValueError, as either may be expected)."""


def _fail(name: str, expected: str, value: Any) -> OptionError:
    shown = type(value).__name__ if not isinstance(value, (bool, int, float, str, type(None))) else repr(value)
    return OptionError(f"option {name!r} must be {expected}, got {shown}")


def _bool(name: str, value: Any) -> None:
    if type(value) is not bool:
        raise _fail(name, "True or False", value)


def _number(name: str, value: Any, *, optional: bool = False, upper: float = math.inf) -> None:
    if value is None and optional:
        return
    if type(value) not in (int, float) or not 0 <= value <= upper or value != value:
        bounds = "a number >= 0" if upper == math.inf else f"a number between 0 and {upper}"
        raise _fail(name, bounds + (" or None" if optional else ""), value)


def _integer(name: str, value: Any, *, minimum: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if type(value) is not int or value < minimum:
        raise _fail(name, f"an integer >= {minimum}" + (" or None" if optional else ""), value)


def _mapping_or_factory(name: str, value: Any, what: str) -> None:
    if value is None or callable(value):
        return
    if not isinstance(value, Mapping):
        raise _fail(name, "a dict or a callable returning one", value)
    if any(not isinstance(key, str) for key in value):
        raise OptionError(f"option {name!r} must have str keys")
    check_no_crlf(value, what)


@dataclass
class ManagerOptions:
    """Connection options, shared by every namespace socket of a Manager."""

    path: str = _opt("/socket.io", "the server's Engine.IO path")
    query: MappingOrFactory = _opt(None, "query parameters: a dict, or a callable returning one on every (re)connect")
    extra_headers: MappingOrFactory = _opt(None, "HTTP headers: a dict, or a callable returning one on every connect")
    transports: tuple[str, ...] = _opt(
        TRANSPORTS, "the transports, in order: the first opens, WebSocket after it is an upgrade"
    )
    upgrade: bool = _opt(True, "upgrade polling to WebSocket")
    remember_upgrade: bool = _opt(False, "start on WebSocket where this process upgraded before")
    timeout: Optional[float] = _opt(20.0, "seconds for one connection attempt (None: no limit)")
    reconnection: bool = _opt(True, "reconnect after the connection is lost")
    reconnection_attempts: float = _opt(math.inf, "reconnection attempts before giving up")
    reconnection_delay: float = _opt(1.0, "seconds before the first reconnection attempt (the backoff doubles it)")
    reconnection_delay_max: float = _opt(5.0, "the longest backoff delay, seconds")
    randomization_factor: float = _opt(0.5, "backoff jitter, 0 to 1")
    force_new: bool = _opt(False, "never share a Manager with other sockets", compare=False)
    multiplex: bool = _opt(True, "share a Manager with other sockets of the same server and options", compare=False)
    ssl_verify: bool = _opt(True, "verify the server's TLS certificate")
    ssl_context: Optional[ssl.SSLContext] = _opt(None, "the TLS context to use (client certificates, CAs)")
    proxy: Optional[str] = _opt(None, "'http://[user:pass@]host:port', 'socks5://...' or 'socks5h://...'")
    compression: bool = _opt(True, "offer permessage-deflate on WebSocket; accept gzip/deflate on polling")
    protocol: Optional[int] = _opt(None, "Engine.IO protocol: None (4, else 3 for Socket.IO 2.x servers), 3 or 4")
    json: Any = _opt(None, "a module with dumps/loads (e.g. orjson); None: the stdlib's json")
    parser: str = _opt("default", "'default' (JSON) or 'msgpack' (socket.io-msgpack-parser)")
    max_buffer: Optional[int] = _opt(None, "packets the offline buffer may hold (None: no bound)")
    handler_concurrency: Optional[int] = _opt(None, "handler greenlets per Manager at once (None: no bound)")
    max_message_size: int = _opt(100 * 2**20, "bytes of one incoming message; larger closes with 'parse error'")
    max_attachments: int = _opt(10, "binary attachments of one incoming packet")
    observer: Any = _opt(None, "an object told about connects, acks, sends and receives (see Observing)")
    trust_env: bool = _opt(False, "read HTTP(S)_PROXY, ALL_PROXY and NO_PROXY from the environment")

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise _fail("path", "a non-empty str", self.path)
        check_no_crlf({"path": self.path}, "path")
        _mapping_or_factory("query", self.query, "query")
        _mapping_or_factory("extra_headers", self.extra_headers, "header")
        transports = self.transports
        if isinstance(transports, str) or not isinstance(transports, (list, tuple)):
            raise _fail("transports", "a list such as ['polling', 'websocket']", transports)
        self.transports = tuple(transports)
        if (
            not self.transports
            or not set(self.transports) <= set(TRANSPORTS)
            or len(set(self.transports)) < len(self.transports)
        ):
            raise OptionError(f"option 'transports' must list some of {TRANSPORTS} once each, got {transports!r}")
        for name in ("upgrade", "remember_upgrade", "reconnection", "force_new", "multiplex", "ssl_verify"):
            _bool(name, getattr(self, name))
        _bool("compression", self.compression)
        _bool("trust_env", self.trust_env)
        _number("timeout", self.timeout, optional=True)
        if self.reconnection_attempts != math.inf:
            _integer("reconnection_attempts", self.reconnection_attempts, minimum=0)
        _number("reconnection_delay", self.reconnection_delay)
        _number("reconnection_delay_max", self.reconnection_delay_max)
        _number("randomization_factor", self.randomization_factor, upper=1.0)
        if self.ssl_context is not None and not isinstance(self.ssl_context, ssl.SSLContext):
            raise _fail("ssl_context", "an ssl.SSLContext or None", self.ssl_context)
        if self.proxy is not None:
            if not isinstance(self.proxy, str):
                raise _fail("proxy", "a URL string or None", self.proxy)
            self.proxy_url  # noqa: B018  # parsed once here, so a bad URL fails at construction
        if self.protocol not in (None, 3, 4):
            raise _fail("protocol", "None, 3 or 4", self.protocol)
        if self.json is None:
            self.json = json
        elif not callable(getattr(self.json, "dumps", None)) or not callable(getattr(self.json, "loads", None)):
            raise _fail("json", "a module with dumps() and loads()", self.json)
        if self.parser not in ("default", "msgpack"):
            raise _fail("parser", "'default' or 'msgpack'", self.parser)
        _integer("max_buffer", self.max_buffer, minimum=0, optional=True)
        _integer("handler_concurrency", self.handler_concurrency, minimum=1, optional=True)
        _integer("max_message_size", self.max_message_size, minimum=1)
        _integer("max_attachments", self.max_attachments, minimum=0)

    @property
    def proxy_url(self) -> Optional[Proxy]:
        """The ``proxy`` option, parsed."""
        if self.proxy is None:
            return None
        try:
            return parse_proxy(self.proxy)
        except ValueError as exc:
            raise OptionError(f"option 'proxy': {exc}") from None

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != f.default}
        for secret in ("query", "extra_headers", "proxy"):
            if secret in shown:
                shown[secret] = "***" if not callable(shown[secret]) else shown[secret]
        return f"ManagerOptions({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


@dataclass
class SocketOptions:
    """Options of one namespace socket."""

    auth: MappingOrFactory = _opt(None, "the CONNECT payload: a dict, or a callable returning one on every connect")
    ack_timeout: Optional[float] = _opt(None, "seconds an acknowledgement may take (callbacks become error-first)")
    retries: int = _opt(0, "retries of an unacknowledged emit (one packet in flight, in order)")
    auto_connect: bool = _opt(True, "start connecting at construction")

    def __post_init__(self) -> None:
        if self.auth is not None and not callable(self.auth) and not isinstance(self.auth, Mapping):
            raise _fail("auth", "a dict or a callable returning one", self.auth)
        _number("ack_timeout", self.ack_timeout, optional=True)
        _integer("retries", self.retries, minimum=0)
        _bool("auto_connect", self.auto_connect)

    def __repr__(self) -> str:
        auth = "***" if isinstance(self.auth, Mapping) else self.auth
        return (
            f"SocketOptions(auth={auth!r}, ack_timeout={self.ack_timeout!r}, retries={self.retries!r}, "
            f"auto_connect={self.auto_connect!r})"
        )


class _ConnectOptionsDict(TypedDict, total=False):
    path: str
    query: MappingOrFactory
    extra_headers: MappingOrFactory
    transports: Union[tuple[str, ...], list[str]]
    upgrade: bool
    remember_upgrade: bool
    reconnection: bool
    reconnection_attempts: float
    reconnection_delay: float
    reconnection_delay_max: float
    randomization_factor: float
    force_new: bool
    multiplex: bool
    ssl_verify: bool
    ssl_context: Optional[ssl.SSLContext]
    proxy: Optional[str]
    compression: bool
    protocol: Optional[int]
    json: Any
    parser: str
    max_buffer: Optional[int]
    handler_concurrency: Optional[int]
    max_message_size: int
    max_attachments: int
    observer: Any
    trust_env: bool


class ManagerOptionsDict(_ConnectOptionsDict, total=False):
    """The Manager options as keyword parameters (for type checkers)."""

    timeout: Optional[float]


class SocketOptionsDict(TypedDict, total=False):
    """The Socket options as keyword parameters (for type checkers)."""

    auth: MappingOrFactory
    ack_timeout: Optional[float]
    retries: int
    auto_connect: bool


class OptionsDict(ManagerOptionsDict, SocketOptionsDict, total=False):
    """Every option, as ``Socket(url, **options)`` takes them."""


class ConnectOptionsDict(_ConnectOptionsDict, SocketOptionsDict, total=False):
    """Every option but ``timeout`` (a parameter of ``greensio.connect`` itself)."""


_MANAGER_FIELDS = {f.name: f for f in fields(ManagerOptions)}
_SOCKET_FIELDS = {f.name: f for f in fields(SocketOptions)}


def _unknown(name: str, known: Any) -> OptionError:
    guess = ALIASES.get(name) or next(iter(difflib.get_close_matches(name, list(known), n=1)), None)
    hint = f" (did you mean {guess!r}?)" if guess is not None else ""
    return OptionError(f"unknown option {name!r}{hint}")


def split_options(options: Mapping[str, Any], *, socket: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword arguments into Manager options and Socket options; unknown names are refused."""
    known = {**_MANAGER_FIELDS, **_SOCKET_FIELDS} if socket else _MANAGER_FIELDS
    for name in options:
        if name not in known:
            raise _unknown(name, known)
    manager = {k: v for k, v in options.items() if k in _MANAGER_FIELDS}
    sock = {k: v for k, v in options.items() if k in _SOCKET_FIELDS}
    return manager, sock


def resolve(value: MappingOrFactory, what: str) -> dict[str, Any]:
    """The dict a mapping-or-callable option stands for now; checked for CR/LF."""
    result = value() if callable(value) else value
    if result is None:
        return {}
    if not isinstance(result, Mapping):
        raise TypeError(f"{what} must be a dict or a callable returning one, got {type(result).__name__}")
    check_no_crlf(result, what)
    return dict(result)


def _parameters(option_fields: list[Field[Any]], skip: frozenset[str] = frozenset()) -> list[inspect.Parameter]:
    return [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type)
        for f in option_fields
        if f.name not in skip and f.default is not MISSING
    ]


def signature_with_options(
    fn: Callable[..., Any], *, socket: bool = True, skip: frozenset[str] = frozenset()
) -> inspect.Signature:
    """``fn``'s signature with ``**options`` spelled out as the keyword parameters it accepts."""
    signature = inspect.signature(fn)
    params = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    option_fields = list(_MANAGER_FIELDS.values()) + (list(_SOCKET_FIELDS.values()) if socket else [])
    taken = {p.name for p in params}
    return signature.replace(parameters=params + _parameters(option_fields, skip | taken))


def options_doc(*, socket: bool = True) -> str:
    """One line per option, for docstrings."""
    option_fields = list(_MANAGER_FIELDS.values()) + (list(_SOCKET_FIELDS.values()) if socket else [])
    return "\n".join(f"    {f.name}: {f.metadata['doc']}" for f in option_fields)
