"""Credentials hidden in text (greensio._core.redact)."""

from __future__ import annotations

import pytest

from greensio._core.redact import MASK, SENSITIVE_HEADERS, redact_headers, redact_mapping, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pass@proxy:3128", "http://***:***@proxy:3128"),
        ("socks5h://user@proxy:1080", "socks5h://***@proxy:1080"),
        ("socks5://:pass@proxy", "socks5://***:***@proxy"),
        ("https://u:p%40ss@example.com/socket.io/?EIO=4#f", "https://***:***@example.com/socket.io/?EIO=4#f"),
        ("wss://a:b@[::1]:443/chat", "wss://***:***@[::1]:443/chat"),
        ("http://us@r:p@ss@host/", "http://***:***@host/"),  # unencoded @: the userinfo ends at the last
        ("//user:pw@host/x", "//***:***@host/x"),
        ("user:pw@host:1", "***:***@host:1"),
        ("HTTP://User:Pw@Host", "HTTP://***:***@Host"),
    ],
)
def test_userinfo_is_masked(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com:3000/socket.io/?EIO=4&transport=polling",
        "http://example.com/path@not-userinfo",
        "http://example.com/?email=a@b.c",
        "http://example.com#frag@x",
        "wss://[2001:db8::1]:8443/",
        "",
        "not a url",
    ],
)
def test_urls_without_userinfo_are_unchanged(url: str) -> None:
    assert redact_url(url) == url


def test_sensitive_headers() -> None:
    assert frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"}) == SENSITIVE_HEADERS


def test_headers_are_masked_by_name_in_any_case() -> None:
    headers = {
        "Authorization": "Bearer abc",
        "proxy-AUTHORIZATION": "Basic xyz",
        "COOKIE": "sid=1",
        "Set-Cookie": "sid=2",
        "X-Token-Hint": "visible",
        "Host": "example.com",
    }
    assert redact_headers(headers) == {
        "Authorization": MASK,
        "proxy-AUTHORIZATION": MASK,
        "COOKIE": MASK,
        "Set-Cookie": MASK,
        "X-Token-Hint": "visible",
        "Host": "example.com",
    }
    assert headers["Authorization"] == "Bearer abc"  # a copy: the original is untouched


def test_every_value_of_a_mapping_is_masked() -> None:
    auth = {"token": "secret", "n": 3, "nested": {"k": "v"}}
    assert redact_mapping(auth) == {"token": "***", "n": "***", "nested": "***"}
    assert auth["token"] == "secret"
    assert redact_mapping({}) == {}
