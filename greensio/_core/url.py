"""Server URLs: parsing what the user gives, building what the transports request."""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass, field
from typing import Mapping, Optional
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from .redact import redact_url

__all__ = ["Target", "Proxy", "parse_url", "parse_proxy", "proxy_from_env", "engine_url", "check_no_crlf"]

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
        raise ValueError(f"expected an http(s):// or ws(s):// URL, got {_shown(url)!r}")
    try:
        port = parts.port or _DEFAULT_PORTS[scheme]
    except ValueError:
        raise ValueError(f"invalid port in {_shown(url)!r}") from None
    namespace = parts.path or "/"
    query = tuple(parse_qsl(parts.query, keep_blank_values=True))
    check_no_crlf(dict(query), "query")
    return Target(scheme, parts.hostname, port, namespace, query)


_PROXY_SCHEMES = {"http": 80, "socks5": 1080, "socks5h": 1080}


@dataclass(frozen=True)
class Proxy:
    """A proxy: ``http`` (CONNECT tunnel), ``socks5`` (local DNS) or ``socks5h`` (the proxy resolves names).

    ``authorization`` is the Proxy-Authorization value of an http proxy;
    ``username``/``password`` are the credentials of a SOCKS5 proxy. ``repr()``
    never shows them.
    """

    host: str
    port: int
    authorization: Optional[str] = field(default=None, repr=False)
    scheme: str = "http"
    username: Optional[str] = field(default=None, repr=False)
    password: Optional[str] = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"Proxy({self.redacted_url!r})"

    @property
    def redacted_url(self) -> str:
        """The proxy URL with any credentials masked (``***``), for messages and logs."""
        credentials = self.authorization is not None or self.username is not None
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{'***@' if credentials else ''}{host}:{self.port}"

    @property
    def socks(self) -> bool:
        return self.scheme != "http"

    @property
    def remote_dns(self) -> bool:
        """The proxy resolves host names (``socks5h://``)."""
        return self.scheme == "socks5h"


def parse_proxy(url: str) -> Proxy:
    """Parse ``http://``, ``socks5://`` or ``socks5h://`` ``[user:pass@]host[:port]`` (credentials percent-decoded).

    Error messages show the URL with its credentials masked.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    shown = _shown(url)
    if scheme not in _PROXY_SCHEMES or not parts.hostname:
        raise ValueError(f"proxy must be an http://, socks5:// or socks5h:// URL with a host, got {shown!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"a proxy URL has no path, query or fragment, got {shown!r}")
    try:
        port = parts.port or _PROXY_SCHEMES[scheme]
    except ValueError:
        raise ValueError(f"invalid port in proxy {shown!r}") from None
    if parts.username is None:
        return Proxy(parts.hostname, port, scheme=scheme)
    username, password = unquote(parts.username), unquote(parts.password or "")
    if scheme == "http":
        credentials = f"{username}:{password}".encode()
        return Proxy(parts.hostname, port, "Basic " + base64.b64encode(credentials).decode("ascii"))
    if not 1 <= len(username.encode()) <= 255 or len(password.encode()) > 255:
        raise ValueError(f"SOCKS5 credentials are 1 to 255 bytes of username and 0 to 255 of password: {shown!r}")
    return Proxy(parts.hostname, port, scheme=scheme, username=username, password=password)


def _shown(url: str) -> str:
    """``url`` for an error message: userinfo masked, and nothing before a stray ``@`` (a bad password)."""
    redacted = redact_url(url)
    if "@" in redacted.split("***@", 1)[-1]:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.rsplit('@', 1)[-1]}" if rest else "***@" + url.rsplit("@", 1)[-1]
    return redacted


def proxy_from_env(environ: Mapping[str, str], target: Target) -> Optional[str]:
    """The proxy URL the environment gives for ``target``, or None to connect directly.

    ``https_proxy`` for https targets, ``http_proxy`` for http ones, then
    ``all_proxy``; lower-case names first, as curl reads them (the upper-case
    ``HTTP_PROXY`` is ignored when ``REQUEST_METHOD`` is set: in a CGI script a
    client controls it, "httpoxy"). ``no_proxy`` lists hosts that connect
    directly: names (which also match their subdomains), ``.domain`` suffixes,
    IP addresses or CIDR networks, each with an optional ``:port``; ``*`` matches
    every host. Loopback hosts always connect directly.
    """
    host = target.host.rstrip(".").lower()
    if _is_loopback(host) or _bypassed(host, target.port, _env(environ, "no_proxy") or ""):
        return None
    names = ("https_proxy",) if target.secure else ("http_proxy",)
    for name in (*names, "all_proxy"):
        value = _env(environ, name)
        if value:
            return value
    return None


def _env(environ: Mapping[str, str], name: str) -> Optional[str]:
    value = environ.get(name)
    if value:
        return value
    if name == "http_proxy" and "REQUEST_METHOD" in environ:
        return None
    return environ.get(name.upper()) or None


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``no_proxy`` (comma- or space-separated) lists ``host``:``port``."""
    for entry in no_proxy.replace(" ", ",").split(","):
        entry = entry.strip().lower()
        if entry == "*":
            return True
        if not entry:
            continue
        name, entry_port = _split_port(entry)
        if entry_port is not None and entry_port != port:
            continue
        if _host_matches(host, name.lstrip("*").lstrip(".").rstrip(".")):
            return True
    return False


def _split_port(entry: str) -> tuple[str, Optional[int]]:
    """``host[:port]`` of a no_proxy entry (IPv6 in brackets when a port follows)."""
    if entry.startswith("["):
        address, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return address, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        return name, int(port) if port.isdigit() else None
    return entry, None


def _host_matches(host: str, pattern: str) -> bool:
    if not pattern:
        return False
    if "/" in pattern:
        try:
            return ipaddress.ip_address(host) in ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            return False
    return host == pattern or host.endswith("." + pattern)


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
