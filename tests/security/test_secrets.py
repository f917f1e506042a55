"""Secrets in text: credentials never appear in exception messages, ``repr()`` or log records.

Each case fails (or succeeds) a connection that carries every kind of credential
greensio knows: URL userinfo, ``auth``, the Authorization, Cookie and
Proxy-Authorization headers and, through a proxy, the proxy's credentials.
Every log record at every level (greensio logs at DEBUG) is formatted with its
exception, and every exception of the chain is rendered, then searched for
each secret.
"""

from __future__ import annotations

import base64
import logging
import socket
import traceback
from collections.abc import Iterator
from typing import Any, Callable, Optional

import pytest

import greensio

from .helpers import FAST, WAIT, Recorder
from .peer import Conn, Peer, Request, SocksRefusing, TunnelProxy, http_response

pytestmark = pytest.mark.timeout(30)

URL_USER, URL_PASSWORD = "urluser-0", "urlsecret-1"
AUTH = {"token": "authsecret-2"}
HEADERS = {
    "Authorization": "Bearer hdrsecret-3",
    "Cookie": "sid=cookiesecret-4",
    "Proxy-Authorization": "Basic proxyhdrsecret-5",
}
PROXY_USER, PROXY_PASSWORD = "proxyuser-7", "proxysecret-6"
LOCATION_SECRET = "locsecret-8"
SECRETS = [
    URL_USER,
    URL_PASSWORD,
    AUTH["token"],
    "hdrsecret-3",
    "cookiesecret-4",
    "proxyhdrsecret-5",
    PROXY_USER,
    PROXY_PASSWORD,
    base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode(),
    LOCATION_SECRET,
]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_userinfo(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{URL_USER}:{URL_PASSWORD}@{rest}"


class Refusing(Peer):
    """Answers every request with ``status`` (and a Location with credentials for a 3xx)."""

    def __init__(self, status: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status = status

    def respond(self, conn: Conn, request: Request) -> bool:
        location = (f"Location: http://someone:{LOCATION_SECRET}@127.0.0.1:9/",) if self.status < 400 else ()
        conn.send(http_response(self.status, "go away", location, "Refused"))
        return True


Setup = Callable[[Callable[..., Any], Any], tuple[str, dict[str, Any]]]


def _refused(start: Callable[..., Any], tls: Any) -> tuple[str, dict[str, Any]]:
    return f"http://127.0.0.1:{_closed_port()}", {}


def _proxy_refused(start: Callable[..., Any], tls: Any) -> tuple[str, dict[str, Any]]:
    proxy = start(TunnelProxy, refuse="HTTP/1.1 407 Proxy Authentication Required")
    return start().url, {"proxy": proxy.url(f"{PROXY_USER}:{PROXY_PASSWORD}")}


def _proxy_unreachable(start: Callable[..., Any], tls: Any) -> tuple[str, dict[str, Any]]:
    return start().url, {"proxy": f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{_closed_port()}"}


def _socks_refused(start: Callable[..., Any], tls: Any) -> tuple[str, dict[str, Any]]:
    socks = start(SocksRefusing)
    return start().url, {"proxy": f"socks5://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{socks.port}"}


def _status(status: int) -> Setup:
    def setup(start: Callable[..., Any], tls: Any) -> tuple[str, dict[str, Any]]:
        return start(Refusing, status=status).url, {}

    return setup


def _tls_untrusted(start: Callable[..., Any], tls: Any) -> tuple[str, dict[str, Any]]:
    return start(ssl_context=tls.server_context()).url, {}


FAILURES: dict[str, Setup] = {
    "refused": _refused,
    "proxy-407": _proxy_refused,
    "proxy-unreachable": _proxy_unreachable,
    "socks5-refused": _socks_refused,
    "http-401": _status(401),
    "http-302": _status(302),
    "tls-untrusted": _tls_untrusted,
}


@pytest.fixture
def records() -> Iterator[list[str]]:
    """Every record of every logger at DEBUG and above, formatted with its exception."""
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    formatted: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            formatted.append(formatter.format(record))

    root, greensio_log = logging.getLogger(), logging.getLogger("greensio")
    handler, levels = Keep(logging.DEBUG), (root.level, greensio_log.level)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    greensio_log.setLevel(logging.DEBUG)
    try:
        yield formatted
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        greensio_log.setLevel(levels[1])


def _chain(exc: Optional[BaseException]) -> list[str]:
    """Each exception of the chain as a traceback shows it (message only), and its repr."""
    texts: list[str] = []
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        texts += ["".join(traceback.format_exception_only(type(exc), exc)), repr(exc)]
        exc = exc.__cause__ or exc.__context__
    return texts


def _reprs(sio: greensio.Socket) -> list[str]:
    manager = sio.manager
    return [repr(sio), repr(manager), repr(manager.options), repr(sio._ns.options), str(manager.options)]


def _leaks(texts: list[str]) -> list[tuple[str, str]]:
    return [(secret, text) for text in texts for secret in SECRETS if secret in text]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("failure", list(FAILURES))
def test_no_credential_in_errors_reprs_or_logs_of_a_failed_connect(start_peer, tls, records, failure, transport):
    url, options = FAILURES[failure](start_peer, tls)
    options = {**FAST, "transports": [transport], "auth": AUTH, "extra_headers": HEADERS, **options}
    # the blocking helper: the error it raises
    with pytest.raises(greensio.ConnectionError) as raised:
        greensio.connect(_with_userinfo(url) + "/private", timeout=WAIT, **options)
    # a background socket: the error its connect_error handler gets, what it logs, its reprs
    sio = greensio.Socket(_with_userinfo(url) + "/private", reconnection=False, **options)
    errors = Recorder()
    sio.on("connect_error", errors)
    try:
        (err,) = errors.wait(1)[0]
        texts = _chain(raised.value) + _chain(err) + _reprs(sio)
    finally:
        sio.disconnect()
    assert records, "nothing was logged: the capture is broken"
    assert _leaks(texts + records) == []
    assert str(raised.value)  # a one-line cause, named without the secrets
    assert "\n" not in str(raised.value)


def test_no_credential_in_reprs_or_logs_of_a_working_connection(start_peer, records):
    peer, proxy = start_peer(), start_peer(TunnelProxy)
    options = {**FAST, "auth": AUTH, "extra_headers": HEADERS, "proxy": proxy.url(f"{PROXY_USER}:{PROXY_PASSWORD}")}
    sio = greensio.connect(_with_userinfo(peer.url) + "/private", timeout=WAIT, **options)
    try:
        assert sio.call("echo", "payload", timeout=WAIT) == "payload"
        texts = _reprs(sio)
        sio.manager.transport  # noqa: B018
    finally:
        sio.disconnect()
    assert peer.connects == [("/private", AUTH)]  # the credentials did go where they belong
    assert any(b"Proxy-Authorization: Basic " in head for head in proxy.heads)
    assert any("EVENT" in record for record in records), "no DEBUG packet line: the capture is broken"
    assert _leaks(texts + records) == []
