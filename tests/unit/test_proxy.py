"""The proxy option: parse_proxy for every scheme, proxy_from_env, credentials never shown, trust_env."""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterator
from typing import Optional

import pytest

import greensio
from greensio._core.url import Proxy, parse_proxy, parse_url, proxy_from_env
from greensio._dial import choose_proxy
from greensio._io.net import ProxyError, _read_connect_reply, _socks5_handshake
from greensio._options import ManagerOptions

# -- parse_proxy --------------------------------------------------------------------------------


def test_http_proxy_with_and_without_credentials() -> None:
    assert parse_proxy("http://proxy.local:3128") == Proxy("proxy.local", 3128, None)
    assert parse_proxy("http://proxy.local") == Proxy("proxy.local", 80, None)
    expected = "Basic " + base64.b64encode(b"me:p@ss word").decode()
    proxy = parse_proxy("http://me:p%40ss%20word@10.0.0.1:8080")
    assert proxy == Proxy("10.0.0.1", 8080, expected)
    assert (proxy.scheme, proxy.username, proxy.password, proxy.socks) == ("http", None, None, False)


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "username", "password", "remote_dns"),
    [
        ("socks5://127.0.0.1:1080", "socks5", "127.0.0.1", 1080, None, None, False),
        ("socks5://proxy", "socks5", "proxy", 1080, None, None, False),
        ("socks5h://proxy:9050", "socks5h", "proxy", 9050, None, None, True),
        ("SOCKS5H://Proxy.Example:1", "socks5h", "proxy.example", 1, None, None, True),
        ("socks5://me:p%40ss%3Aw@[::1]:1081", "socks5", "::1", 1081, "me", "p@ss:w", False),
        ("socks5h://z%C3%B6e:@proxy/", "socks5h", "proxy", 1080, "zöe", "", True),
        ("socks5://only-user@proxy", "socks5", "proxy", 1080, "only-user", "", False),
    ],
)
def test_socks_proxies(
    url: str, scheme: str, host: str, port: int, username: Optional[str], password: Optional[str], remote_dns: bool
) -> None:
    proxy = parse_proxy(url)
    assert (proxy.scheme, proxy.host, proxy.port) == (scheme, host, port)
    assert (proxy.username, proxy.password, proxy.authorization) == (username, password, None)
    assert proxy.socks is True
    assert proxy.remote_dns is remote_dns


@pytest.mark.parametrize(
    "url",
    [
        "https://proxy:3128",
        "socks4://proxy:1080",
        "socks://proxy:1080",
        "proxy:3128",
        "http://:3128",
        "socks5://",
        "http://proxy:99999",
        "http://proxy:port",
        "http://proxy:3128/path",
        "http://proxy:3128?x=1",
        "http://proxy:3128#frag",
        "",
    ],
)
def test_parse_proxy_rejects_what_it_cannot_use(url: str) -> None:
    with pytest.raises(ValueError):
        parse_proxy(url)


@pytest.mark.parametrize(
    "url",
    [
        "socks5://" + "u" * 256 + ":pw@proxy",
        "socks5://user:" + "p" * 256 + "@proxy",
        "socks5://:pw@proxy",  # RFC 1929: a username has 1 to 255 bytes
    ],
)
def test_socks_credentials_up_to_255_bytes(url: str) -> None:
    with pytest.raises(ValueError, match="1 to 255 bytes"):
        parse_proxy(url)


SECRET = "hunter2"


@pytest.mark.parametrize(
    "url",
    [
        f"https://alice:{SECRET}@proxy:3128",
        f"socks4://alice:{SECRET}@proxy",
        f"http://alice:{SECRET}@proxy:99999",
        f"http://alice:{SECRET}@proxy:3128/path",
        f"http://alice:{SECRET}@proxy:3128?q",
        f"http://alice:{SECRET[:3]}/{SECRET[3:]}@proxy:3128",  # an unencoded / splits the URL inside the password
        f"http://alice:{SECRET[:3]}#{SECRET[3:]}@proxy:3128",
        f"http://alice:{SECRET[:3]}?{SECRET[3:]}@proxy:3128",
        f"socks5://alice:{SECRET}" + "x" * 300 + "@proxy",
    ],
)
def test_error_messages_never_show_credentials(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_proxy(url)
    text = str(caught.value)
    assert "***" in text
    for piece in (SECRET, SECRET[:3], SECRET[3:], "alice"):
        assert piece not in text, text
    # nor does a chained exception (urllib's own message quotes the port, which may hold a password)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"http://alice:{SECRET}@proxy:3128", "Proxy('http://***@proxy:3128')"),
        (f"socks5://alice:{SECRET}@10.0.0.1:1080", "Proxy('socks5://***@10.0.0.1:1080')"),
        ("socks5h://alice@[::1]:9050", "Proxy('socks5h://***@[::1]:9050')"),
        ("socks5h://proxy", "Proxy('socks5h://proxy:1080')"),
    ],
)
def test_repr_never_shows_credentials(url: str, shown: str) -> None:
    proxy = parse_proxy(url)
    assert repr(proxy) == shown
    assert str(proxy) == shown
    assert SECRET not in repr([proxy]) and "alice" not in repr(proxy)


def test_proxies_compare_with_their_credentials() -> None:
    assert parse_proxy("socks5://a:b@p") == parse_proxy("socks5://a:b@p")
    assert parse_proxy("socks5://a:b@p") != parse_proxy("socks5://a:c@p")
    assert parse_proxy("socks5://p") != parse_proxy("socks5h://p")
    assert len({parse_proxy("socks5://a:b@p"), parse_proxy("socks5://a:b@p")}) == 1


# -- proxy_from_env --------------------------------------------------------------------------------

HTTP = parse_url("http://example.org")
HTTPS = parse_url("https://example.org")


@pytest.mark.parametrize(
    ("environ", "target", "expected"),
    [
        ({}, HTTP, None),
        ({"HTTP_PROXY": "http://h:1"}, HTTP, "http://h:1"),
        ({"HTTP_PROXY": "http://h:1"}, HTTPS, None),
        ({"HTTPS_PROXY": "http://s:2"}, HTTPS, "http://s:2"),
        ({"HTTPS_PROXY": "http://s:2"}, HTTP, None),
        ({"https_proxy": "http://s:2", "HTTP_PROXY": "http://h:1"}, HTTPS, "http://s:2"),
        ({"ALL_PROXY": "socks5h://a:3"}, HTTP, "socks5h://a:3"),
        ({"ALL_PROXY": "socks5h://a:3"}, HTTPS, "socks5h://a:3"),
        ({"all_proxy": "socks5://a:3", "HTTPS_PROXY": "http://s:2"}, HTTPS, "http://s:2"),
        ({"http_proxy": "http://lower:1", "HTTP_PROXY": "http://upper:1"}, HTTP, "http://lower:1"),
        ({"all_proxy": "socks5://lower:1", "ALL_PROXY": "socks5://upper:1"}, HTTP, "socks5://lower:1"),
        ({"http_proxy": "", "HTTP_PROXY": "http://upper:1"}, HTTP, "http://upper:1"),
        ({"HTTP_PROXY": ""}, HTTP, None),
        ({"HTTP_PROXY": "http://h:1", "REQUEST_METHOD": "GET"}, HTTP, None),  # httpoxy: a CGI request header
        ({"http_proxy": "http://h:1", "REQUEST_METHOD": "GET"}, HTTP, "http://h:1"),
    ],
)
def test_which_variable(environ: dict[str, str], target: greensio._core.url.Target, expected: Optional[str]) -> None:
    assert proxy_from_env(environ, target) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:3000",
        "http://LOCALHOST",
        "http://app.localhost",
        "http://127.0.0.1",
        "http://127.1.2.3:80",
        "http://[::1]:3000",
        "http://[::ffff:127.0.0.1]",
        "https://localhost.",
    ],
)
def test_loopback_is_always_direct(url: str) -> None:
    environ = {"HTTP_PROXY": "http://h:1", "HTTPS_PROXY": "http://h:1", "ALL_PROXY": "socks5://a:1"}
    assert proxy_from_env(environ, parse_url(url)) is None


@pytest.mark.parametrize(
    ("no_proxy", "url", "direct"),
    [
        ("example.org", "http://example.org", True),
        ("example.org", "http://api.example.org", True),
        ("example.org", "http://badexample.org", False),
        (".example.org", "http://example.org", True),
        (".example.org", "http://a.b.example.org", True),
        ("*.example.org", "http://a.example.org", True),
        ("EXAMPLE.ORG", "http://example.org", True),
        ("example.org.", "http://example.org", True),
        ("other.com, example.org", "http://example.org", True),
        ("other.com,,  ", "http://example.org", False),
        ("other.com example.org", "http://example.org", True),
        ("*", "http://anything.net", True),
        ("other.com,*", "http://anything.net", True),
        ("example.org:80", "http://example.org", True),
        ("example.org:8080", "http://example.org", False),
        ("example.org:8080", "http://example.org:8080", True),
        ("10.0.0.5", "http://10.0.0.5", True),
        ("10.0.0.5:3000", "http://10.0.0.5:3000", True),
        ("10.0.0.0/8", "http://10.20.30.40", True),
        ("10.0.0.0/8", "http://11.0.0.1", False),
        ("10.0.0.0/8", "http://ten.example", False),
        ("2001:db8::/32", "http://[2001:db8::5]", True),
        ("2001:db8::5", "http://[2001:db8::5]", True),
        ("[2001:db8::5]:443", "https://[2001:db8::5]", True),
        ("[2001:db8::5]:80", "https://[2001:db8::5]", False),
        ("", "http://example.org", False),
        (".", "http://example.org", False),
    ],
)
def test_no_proxy(no_proxy: str, url: str, direct: bool) -> None:
    for name in ("NO_PROXY", "no_proxy"):
        environ = {"HTTP_PROXY": "http://h:1", "HTTPS_PROXY": "http://h:1", name: no_proxy}
        assert (proxy_from_env(environ, parse_url(url)) is None) is direct


def test_lower_case_no_proxy_first() -> None:
    environ = {"ALL_PROXY": "socks5://a:1", "no_proxy": "other.com", "NO_PROXY": "example.org"}
    assert proxy_from_env(environ, HTTP) == "socks5://a:1"


# -- the Manager's proxy -------------------------------------------------------------------------------


def test_the_proxy_option_applies_to_every_host_loopback_included() -> None:
    loopback = parse_url("http://127.0.0.1:3000")
    expected = Proxy("p", 1, scheme="socks5h", username="u", password="p")
    assert choose_proxy(loopback, ManagerOptions(proxy="socks5h://u:p@p:1"), {}) == expected
    assert choose_proxy(loopback, ManagerOptions(proxy="http://p:1"), {}) == Proxy("p", 1)


def test_environment_proxies_only_with_trust_env() -> None:
    environ = {
        "HTTP_PROXY": "http://envproxy:8080",
        "HTTPS_PROXY": "socks5://secureproxy:1080",
        "NO_PROXY": "internal.example",
    }

    def proxy(url: str, trust_env: bool) -> Optional[Proxy]:
        return choose_proxy(parse_url(url), ManagerOptions(trust_env=trust_env), environ)

    assert proxy("http://example.org", trust_env=False) is None
    assert proxy("http://example.org", trust_env=True) == Proxy("envproxy", 8080)
    assert proxy("https://example.org", trust_env=True) == Proxy("secureproxy", 1080, scheme="socks5")
    assert proxy("http://internal.example", trust_env=True) is None
    assert proxy("http://localhost:3000", trust_env=True) is None


def test_all_proxy_is_read_with_trust_env() -> None:
    environ = {"ALL_PROXY": "socks5h://allproxy:1080"}
    found = choose_proxy(parse_url("https://example.org"), ManagerOptions(trust_env=True), environ)
    assert found == Proxy("allproxy", 1080, scheme="socks5h")


# -- reading proxy replies (greensio._io.net), over a socket pair -------------------------------------------


class CountingSocket:
    """One end of a socket pair that counts its recv calls (what the proxy's replies cost)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.recvs: list[int] = []
        self.sent = b""

    def recv(self, size: int) -> bytes:
        data = self.sock.recv(size)
        self.recvs.append(len(data))
        return data

    def sendall(self, data: bytes) -> None:
        self.sent += data
        self.sock.sendall(data)


@pytest.fixture
def pair() -> Iterator[tuple[CountingSocket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    theirs.settimeout(5)
    yield CountingSocket(ours), theirs
    ours.close()
    theirs.close()


HTTP_PROXY = parse_proxy("http://u:hunter2@127.0.0.1:3128")
SOCKS_PROXY = parse_proxy("socks5h://u:hunter2@127.0.0.1:1080")


def read_reply(pair: tuple[CountingSocket, socket.socket], reply: bytes, *, close: bool = False) -> CountingSocket:
    ours, theirs = pair
    theirs.sendall(reply)
    if close:
        theirs.shutdown(socket.SHUT_WR)
    _read_connect_reply(ours, HTTP_PROXY)
    return ours


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 Connection established\r\n\r\n",
        b"HTTP/1.0 200\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\nVia: 1.1 squid\r\nX-A: b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X-Header: v\r\n" * 100 + b"\r\n",
    ],
)
def test_a_connect_reply_is_accepted(pair: tuple[CountingSocket, socket.socket], reply: bytes) -> None:
    ours = read_reply(pair, reply)
    assert ours.recvs == [len(reply)]  # one recv of up to 4 KiB, not one per byte


def test_a_long_connect_reply_is_read_4_kib_at_a_time(pair: tuple[CountingSocket, socket.socket]) -> None:
    reply = b"HTTP/1.1 200 OK\r\nX-Long: " + b"v" * 20000 + b"\r\n\r\n"
    ours = read_reply(pair, reply)
    assert sum(ours.recvs) == len(reply)
    assert len(ours.recvs) == -(-len(reply) // 4096)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
            "refused the tunnel: HTTP/1.1 407 Proxy Authentication",
        ),
        (b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 3\r\n\r\nbad", "refused the tunnel: HTTP/1.1 502 Bad Gateway"),
        (b"HTTP/1.1 101 Switching\r\n\r\n", "refused the tunnel: HTTP/1.1 101"),
        (b"HTTP/1.1 200 OK\r\n\r\nearly", "sent 5 bytes after its CONNECT reply, before we spoke"),
        (b"HTTP/2 200\r\n\r\n", "malformed CONNECT reply 'HTTP/2 200'"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "malformed CONNECT reply"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "malformed CONNECT reply 'SSH-2.0-OpenSSH'"),
        (b"HTTP/1.1 200\x00\x1b[31m\r\n\r\n", r"malformed CONNECT reply 'HTTP/1.1 200\\\\x00\\\\x1b\[31m'"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: v\r\n" * 101 + b"\r\n", "more than 100 header lines"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"v" * 70000 + b"\r\n\r\n", "longer than 64 KiB"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: v\r\n" * 200, "more than 100 header lines"),
    ],
)
def test_bad_connect_replies(pair: tuple[CountingSocket, socket.socket], reply: bytes, message: str) -> None:
    with pytest.raises(ProxyError, match=message) as caught:
        read_reply(pair, reply)
    assert str(caught.value).startswith("HTTP proxy 127.0.0.1:3128")
    assert "hunter2" not in str(caught.value) and "dTpodW50ZXIy" not in str(caught.value)


def test_a_head_over_64_kib_stops_reading_at_the_bound(pair: tuple[CountingSocket, socket.socket]) -> None:
    ours, theirs = pair
    flood = gevent_free_writer(theirs, b"HTTP/1.1 200 OK\r\nX: " + b"v" * 200_000)
    with pytest.raises(ProxyError, match="longer than 64 KiB"):
        _read_connect_reply(ours, HTTP_PROXY)
    flood.join(5)
    assert sum(ours.recvs) <= 64 * 1024 + 4096


def gevent_free_writer(sock: socket.socket, data: bytes) -> threading.Thread:
    """Write ``data`` from a thread (the reader stops early; the writer must not block the test)."""

    def write() -> None:
        try:
            sock.sendall(data)
        except OSError:
            pass

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_a_proxy_that_closes_before_answering(pair: tuple[CountingSocket, socket.socket]) -> None:
    with pytest.raises(ProxyError, match="closed the connection before answering CONNECT"):
        read_reply(pair, b"HTTP/1.1 200 OK\r\n", close=True)


@pytest.mark.parametrize(
    ("reply", "reads"),
    [
        (b"\x05\x02" + b"\x01\x00" + b"\x05\x00\x00\x01" + bytes(6), [2, 2, 4, 6]),
        (b"\x05\x02" + b"\x01\x00" + b"\x05\x00\x00\x03\x09localhost\x00\x50", [2, 2, 4, 1, 11]),
        (b"\x05\x00" + b"\x05\x00\x00\x04" + bytes(18), [2, 4, 18]),
    ],
)
def test_socks5_reads_exactly_each_reply(pair: tuple[CountingSocket, socket.socket], reply: bytes, reads: list[int]):
    ours, theirs = pair
    theirs.sendall(reply + b"FIRST BYTES OF THE TARGET")
    _socks5_handshake(ours, SOCKS_PROXY, "example.com", 80)
    assert ours.recvs == reads
    assert ours.sock.recv(100) == b"FIRST BYTES OF THE TARGET"  # nothing past the reply was read
    assert ours.sent.endswith(b"\x05\x01\x00\x03\x0bexample.com\x00\x50")


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"\x05\x02\x01\x01", "SOCKS5 proxy 127.0.0.1:1080: refused the username/password"),
        (b"\x05\xff", "accepts none of our authentication methods"),
        (b"\x05\x00\x05\x04", r"host unreachable \(SOCKS5 reply 4\)"),
        (b"\x05\x02", "closed the connection while we waited for its answer to our username/password"),
        (b"\x05\x00\x05\x00\x00\x01\x00", "closed the connection while we waited for its CONNECT reply"),
        (b"", "closed the connection while we waited for its method selection"),
    ],
)
def test_socks5_failures_in_words(pair: tuple[CountingSocket, socket.socket], reply: bytes, message: str) -> None:
    ours, theirs = pair
    theirs.sendall(reply)
    theirs.shutdown(socket.SHUT_WR)
    with pytest.raises(ProxyError, match=message) as caught:
        _socks5_handshake(ours, SOCKS_PROXY, "example.com", 80)
    assert str(caught.value).startswith("SOCKS5 proxy 127.0.0.1:1080: ")
    assert caught.value.socks_code == (4 if "reply 4" in message else None)
    assert "hunter2" not in str(caught.value)
