"""Server URLs: parsing what the user gives, building what the transports request."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Mapping, Optional
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

__all__ = ["Target", "Proxy", "parse_url", "parse_proxy", "engine_url", "check_no_crlf"]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEMES = {"http": "http", "ws": "http", "https": "https", "wss": "https"}


@dataclass(frozen=True)
class Target:
    """Where to connect: scheme (``http``/``https``), host, port, namespace, URL query."""

    scheme: str
    host: str
    port: int
    namespace: str
    query: tuple[tuple[str, str], ...] = ()

    @property
    def secure(self) -> bool:
        return self.scheme == "https"


def parse_url(url: str) -> Target:
    """Parse ``http(s)://`` or ``ws(s)://`` URL; its path is the namespace."""
    parts = urlsplit(url)
    scheme = _SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.hostname:
        raise ValueError(f"expected an http(s):// or ws(s):// URL, got {url!r}")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise ValueError(f"invalid port in {url!r}") from exc
    namespace = parts.path or "/"
    query = tuple(parse_qsl(parts.query, keep_blank_values=True))
    check_no_crlf(dict(query), "query")
    return Target(scheme, parts.hostname, port, namespace, query)


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy reached with CONNECT; ``authorization`` is the Proxy-Authorization value."""

    host: str
    port: int
    authorization: Optional[str] = None


def parse_proxy(url: str) -> Proxy:
    """Parse ``http://[user:pass@]host:port``."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise ValueError(f"proxy must be an http://host:port URL, got {url!r}")
    authorization = None
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(credentials).decode("ascii")
    try:
        port = parts.port or 80
    except ValueError as exc:
        raise ValueError(f"invalid port in proxy {url!r}") from exc
    return Proxy(parts.hostname, port, authorization)


def check_no_crlf(values: Optional[Mapping[str, object]], what: str) -> None:
    """Reject names or values with CR or LF (header or request splitting)."""
    for key, value in (values or {}).items():
        if any(c in str(key) or c in str(value) for c in "\r\n"):
            raise ValueError(f"{what} {key!r} contains CR or LF")


def engine_url(
    target: Target,
    path: str,
    transport: str,
    query: Optional[Mapping[str, object]] = None,
    sid: Optional[str] = None,
    eio: str = "4",
) -> str:
    """Build the Engine.IO request URL for ``transport``; the URL's own query wins.

    ``eio`` is the Engine.IO revision asked for (``Protocol.eio``).
    """
    params: dict[str, object] = dict(query or {})
    params.update(target.query)
    params["EIO"] = eio
    params["transport"] = transport
    if sid is not None:
        params["sid"] = sid
    if transport == "websocket":
        scheme = "wss" if target.secure else "ws"
    else:
        scheme = target.scheme
    host = f"[{target.host}]" if ":" in target.host else target.host
    path = quote(path.rstrip("/"), safe="/") + "/"
    return f"{scheme}://{host}:{target.port}{path}?{urlencode(params)}"
