"""python-socketio's ``Client(...)`` options as greensio Manager options."""

from __future__ import annotations

import logging
import math
import ssl
import warnings
from dataclasses import dataclass, field
from typing import Any, Union
from urllib.parse import quote

__all__ = ["ClientOptions", "translate", "enable_logging"]

# Manager options that compat sets itself, from Client() or connect() arguments.
_OWN = frozenset(
    (
        "path",
        "transports",
        "extra_headers",
        "query",
        "auth",
        "auto_connect",
        "force_new",
        "multiplex",
        "reconnection",
        "reconnection_attempts",
        "reconnection_delay",
        "reconnection_delay_max",
        "randomization_factor",
        "json",
        "parser",
        "timeout",
    )
)
_PROXY_KEYS = ("http_proxy_host", "http_proxy_port", "http_proxy_auth", "proxy_type")


@dataclass
class ClientOptions:
    """What a Client passes to each Manager it creates."""

    manager: dict[str, Any]
    request_timeout: float
    headers: dict[str, str] = field(default_factory=dict)  # from websocket_extra_options["header"]


def translate(
    reconnection: bool,
    reconnection_attempts: int,
    reconnection_delay: float,
    reconnection_delay_max: float,
    randomization_factor: float,
    serializer: Any,
    json: Any,
    eio_options: dict[str, Any],
) -> ClientOptions:
    """Map the Client's arguments; greensio's own Manager options pass through."""
    if serializer not in ("default", "msgpack"):
        raise ValueError(f"serializer must be 'default' or 'msgpack' in greensio.compat, got {serializer!r}")
    eio = dict(eio_options)
    request_timeout = float(eio.pop("request_timeout", 5))
    manager: dict[str, Any] = {
        "reconnection": reconnection,
        "reconnection_attempts": reconnection_attempts or math.inf,
        "reconnection_delay": reconnection_delay,
        "reconnection_delay_max": reconnection_delay_max,
        "randomization_factor": randomization_factor,
        "parser": serializer,
        "timeout": request_timeout,
        "ssl_verify": eio.pop("ssl_verify", True),
    }
    if json is not None:
        manager["json"] = json
    if eio.pop("http_session", None) is not None:
        warnings.warn(
            "greensio.compat ignores http_session: greensio makes its own connections "
            "(use ssl_verify, ssl_context=, proxy= instead)",
            stacklevel=3,
        )
    eio.pop("timestamp_requests", None)  # cache busting: nothing to turn off
    engineio_logger = eio.pop("engineio_logger", False)
    enable_logging(engineio_logger)
    headers = _websocket_options(eio.pop("websocket_extra_options", None) or {}, manager)
    taken = sorted(_OWN & eio.keys())
    if taken:
        raise TypeError(f"greensio.compat sets {', '.join(taken)} itself (see Client() and connect() arguments)")
    manager.update(eio)  # greensio's own options (proxy, ssl_context, handler_concurrency...): checked by Manager
    return ClientOptions(manager, request_timeout, headers)


def _websocket_options(options: dict[str, Any], manager: dict[str, Any]) -> dict[str, str]:
    """websocket-client options greensio has an equivalent for; the others are ignored with a warning."""
    options = dict(options)
    headers = _headers(options.pop("header", None) or {})
    sslopt = options.pop("sslopt", None)
    if sslopt:
        _ssl_options(dict(sslopt), manager)
    proxy = {key: options.pop(key) for key in _PROXY_KEYS if key in options}
    if proxy.get("http_proxy_host"):
        manager["proxy"] = _proxy_url(proxy)
    if options:
        warnings.warn(f"greensio.compat ignores websocket_extra_options {sorted(options)}", stacklevel=4)
    return headers


def _headers(header: Union[dict[str, str], list[str]]) -> dict[str, str]:
    if isinstance(header, dict):
        return dict(header)
    pairs = (line.split(":", 1) for line in header)
    return {name.strip(): value.strip() for name, value in pairs}


def _ssl_options(sslopt: dict[str, Any], manager: dict[str, Any]) -> None:
    if sslopt.pop("cert_reqs", None) == ssl.CERT_NONE:
        manager["ssl_verify"] = False
    cafile, certfile, keyfile = sslopt.pop("ca_certs", None), sslopt.pop("certfile", None), sslopt.pop("keyfile", None)
    if cafile or certfile:
        context = ssl.create_default_context(cafile=cafile)
        if certfile:
            context.load_cert_chain(certfile, keyfile)
        manager["ssl_context"] = context
    if sslopt:
        warnings.warn(f"greensio.compat ignores sslopt {sorted(sslopt)}", stacklevel=5)


def _proxy_url(proxy: dict[str, Any]) -> str:
    scheme = proxy.get("proxy_type") or "http"
    credentials = ""
    if proxy.get("http_proxy_auth"):
        user, password = proxy["http_proxy_auth"]
        credentials = f"{quote(str(user), safe='')}:{quote(str(password), safe='')}@"
    port = proxy.get("http_proxy_port") or (1080 if scheme.startswith("socks") else 80)
    return f"{scheme}://{credentials}{proxy['http_proxy_host']}:{port}"


_configured = False


def enable_logging(logger: Any) -> None:
    """``logger=True``: INFO records of the ``greensio`` logger to stderr, unless the app configured it.

    A Logger object or False changes nothing: greensio logs to the ``greensio`` logger.
    """
    global _configured
    if logger is not True or _configured:
        return
    _configured = True
    target = logging.getLogger("greensio")
    if target.level == logging.NOTSET and not target.handlers:
        target.setLevel(logging.INFO)
        target.addHandler(logging.StreamHandler())
