"""Tests of server URL parsing and Engine.IO request URLs (greensio._core.url)."""

from __future__ import annotations

from typing import Optional
from urllib.parse import parse_qsl, urlsplit

import pytest

from greensio._core.url import Target, check_no_crlf, engine_url, parse_url


def split(url: str) -> tuple[str, dict[str, str]]:
    """``scheme://host:port/path`` and the decoded query of *url* (keys must be unique)."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    assert len({k for k, _ in pairs}) == len(pairs), f"duplicate query keys in {url!r}"
    return f"{parts.scheme}://{parts.netloc}{parts.path}", dict(pairs)


# -- parse_url ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port"),
    [
        ("http://localhost", "http", "localhost", 80),
        ("https://example.com", "https", "example.com", 443),
        ("ws://example.com", "http", "example.com", 80),
        ("wss://example.com", "https", "example.com", 443),
        ("http://example.com:3000", "http", "example.com", 3000),
        ("https://example.com:8443", "https", "example.com", 8443),
        ("ws://127.0.0.1:5000", "http", "127.0.0.1", 5000),
        ("wss://127.0.0.1:80", "https", "127.0.0.1", 80),
        ("HTTP://Example.COM:81", "http", "example.com", 81),
    ],
)
def test_scheme_host_and_default_port(url: str, scheme: str, host: str, port: int) -> None:
    target = parse_url(url)
    assert (target.scheme, target.host, target.port) == (scheme, host, port)
    assert target.secure is (scheme == "https")
    assert target.namespace == "/"
    assert target.query == ()


@pytest.mark.parametrize(
    ("url", "namespace"),
    [
        ("http://h", "/"),
        ("http://h/", "/"),
        ("http://h?x=1", "/"),
        ("http://h/chat", "/chat"),
        ("http://h:3000/chat?x=1", "/chat"),
        ("http://h/admin/room", "/admin/room"),
        ("http://h/chat/", "/chat/"),  # as the JS client: the path is taken as is
        ("http://h/chat#frag", "/chat"),
    ],
)
def test_namespace_is_the_path(url: str, namespace: str) -> None:
    assert parse_url(url).namespace == namespace


def test_query_is_kept_in_order_with_blank_values() -> None:
    target = parse_url("http://h/chat?token=abc&b=&x=a%20b&y=1%262")
    assert target.query == (("token", "abc"), ("b", ""), ("x", "a b"), ("y", "1&2"))


def test_whole_target() -> None:
    assert parse_url("wss://api.example.com:9000/nsp?k=v") == Target(
        "https", "api.example.com", 9000, "/nsp", (("k", "v"),)
    )


@pytest.mark.parametrize(
    ("url", "host", "port", "namespace"),
    [
        ("http://[::1]:3000/chat", "::1", 3000, "/chat"),
        ("http://[::1]", "::1", 80, "/"),
        ("wss://[2001:db8::7]/", "2001:db8::7", 443, "/"),
    ],
)
def test_ipv6_host(url: str, host: str, port: int, namespace: str) -> None:
    target = parse_url(url)
    assert (target.host, target.port, target.namespace) == (host, port, namespace)


@pytest.mark.parametrize(
    "url",
    [
        "",
        "localhost",
        "localhost:3000",
        "ftp://example.com",
        "file:///etc/passwd",
        "http://",
        "http:///chat",
        "https://:443/",
        "http://h:99999",
        "http://h:abc",
        "http://h:-1",
        "//example.com/chat",
    ],
)
def test_invalid_urls(url: str) -> None:
    with pytest.raises(ValueError):
        parse_url(url)


@pytest.mark.parametrize("url", ["http://h/?a=%0d", "http://h/?a=x%0Ay", "http://h/?a%0a=1", "http://h/?a%0D%0A=1"])
def test_crlf_in_url_query_is_rejected(url: str) -> None:
    with pytest.raises(ValueError, match="CR or LF"):
        parse_url(url)


# -- engine_url -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/socket.io", "/socket.io/", "/socket.io//"])
def test_path_gets_one_trailing_slash(path: str) -> None:
    url = engine_url(parse_url("http://h:3000/chat"), path, "polling")
    assert split(url) == ("http://h:3000/socket.io/", {"EIO": "4", "transport": "polling"})


@pytest.mark.parametrize(("path", "expected"), [("/", "/"), ("", "/"), ("/a/b", "/a/b/"), ("/my path", "/my%20path/")])
def test_other_paths(path: str, expected: str) -> None:
    base, _ = split(engine_url(parse_url("http://h"), path, "polling"))
    assert base == f"http://h:80{expected}"


def test_namespace_is_not_part_of_the_request_path() -> None:
    base, query = split(engine_url(parse_url("http://h/chat?x=1"), "/socket.io", "polling"))
    assert base == "http://h:80/socket.io/"
    assert query == {"x": "1", "EIO": "4", "transport": "polling"}


@pytest.mark.parametrize(
    ("url", "transport", "base"),
    [
        ("http://h:3000", "polling", "http://h:3000/socket.io/"),
        ("http://h:3000", "websocket", "ws://h:3000/socket.io/"),
        ("https://h", "polling", "https://h:443/socket.io/"),
        ("https://h", "websocket", "wss://h:443/socket.io/"),
        ("ws://h", "polling", "http://h:80/socket.io/"),
        ("ws://h", "websocket", "ws://h:80/socket.io/"),
        ("wss://h:9443", "polling", "https://h:9443/socket.io/"),
        ("wss://h:9443", "websocket", "wss://h:9443/socket.io/"),
        ("http://[::1]:3000", "websocket", "ws://[::1]:3000/socket.io/"),
        ("https://[2001:db8::7]", "polling", "https://[2001:db8::7]:443/socket.io/"),
    ],
)
def test_scheme_per_transport(url: str, transport: str, base: str) -> None:
    assert split(engine_url(parse_url(url), "/socket.io", transport)) == (
        base,
        {"EIO": "4", "transport": transport},
    )


@pytest.mark.parametrize("sid", [None, "abc-DEF_123"])
def test_sid(sid: Optional[str]) -> None:
    _, query = split(engine_url(parse_url("http://h"), "/socket.io", "polling", sid=sid))
    expected = {"EIO": "4", "transport": "polling"}
    if sid is not None:
        expected["sid"] = sid
    assert query == expected


def test_option_query_is_sent() -> None:
    url = engine_url(parse_url("http://h"), "/socket.io", "polling", {"token": "t", "n": 3, "s": "a b&c=d"})
    assert split(url)[1] == {"token": "t", "n": "3", "s": "a b&c=d", "EIO": "4", "transport": "polling"}


def test_url_query_wins_over_option_query() -> None:
    target = parse_url("http://h/chat?token=from-url&u=1")
    url = engine_url(target, "/socket.io", "websocket", {"token": "from-option", "o": "2"}, sid="S")
    assert split(url) == (
        "ws://h:80/socket.io/",
        {"token": "from-url", "u": "1", "o": "2", "EIO": "4", "transport": "websocket", "sid": "S"},
    )


def test_protocol_parameters_win_over_both_queries() -> None:
    target = parse_url("http://h/?EIO=3&transport=x&sid=old")
    url = engine_url(target, "/socket.io", "polling", {"EIO": "2", "transport": "y"}, sid="new")
    assert split(url)[1] == {"EIO": "4", "transport": "polling", "sid": "new"}


def test_option_query_is_not_modified() -> None:
    query = {"a": "1"}
    engine_url(parse_url("http://h/?b=2"), "/socket.io", "polling", query, sid="S")
    assert query == {"a": "1"}


# -- check_no_crlf ---------------------------------------------------------------------


@pytest.mark.parametrize("values", [None, {}, {"a": "b", "c": 1, "d": ""}, {"X-Token": "a b\tc"}])
def test_check_no_crlf_accepts(values: Optional[dict[str, object]]) -> None:
    check_no_crlf(values, "header")


@pytest.mark.parametrize(
    "values",
    [{"a": "b\r\nX-Evil: 1"}, {"a": "\n"}, {"a": "\r"}, {"a\r\nb": "c"}, {"ok": "1", "a\n": "c"}],
)
def test_check_no_crlf_rejects(values: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="header .* contains CR or LF"):
        check_no_crlf(values, "header")


# -- credentials in server URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://alice:hunter2@example.com",
        "http://alice:hunter2@example.com:99999/chat",
        "http://alice:hunter2@example.com:port",
        "http://alice:hun/ter2@example.com",  # an unencoded / inside the password: the port reads "hun"
        "http://alice:hunter2@",
    ],
)
def test_errors_never_show_the_userinfo(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_url(url)
    text = str(caught.value)
    assert "***" in text
    assert "alice" not in text and "hunter2" not in text and "hun" not in text and "ter2" not in text
    assert caught.value.__context__ is None or caught.value.__suppress_context__


def test_userinfo_does_not_change_the_target() -> None:
    assert parse_url("https://alice:hunter2@example.com:8443/nsp") == Target("https", "example.com", 8443, "/nsp")
