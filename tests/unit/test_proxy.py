"""The proxy option and trust_env."""

from __future__ import annotations

import base64

import pytest

from greensio._core.url import Proxy, parse_proxy, parse_url
from greensio._manager import _proxy_for


def test_parse_proxy_with_and_without_credentials() -> None:
    assert parse_proxy("http://proxy.local:3128") == Proxy("proxy.local", 3128, None)
    assert parse_proxy("http://proxy.local") == Proxy("proxy.local", 80, None)
    expected = "Basic " + base64.b64encode(b"me:p@ss word").decode()
    assert parse_proxy("http://me:p%40ss%20word@10.0.0.1:8080") == Proxy("10.0.0.1", 8080, expected)


@pytest.mark.parametrize("url", ["https://proxy:3128", "socks5://proxy:1080", "proxy:3128", "http://:3128"])
def test_parse_proxy_rejects_what_it_cannot_use(url: str) -> None:
    with pytest.raises(ValueError):
        parse_proxy(url)


def test_the_proxy_option_applies_to_every_host_loopback_included() -> None:
    assert _proxy_for(parse_url("http://127.0.0.1:3000"), "http://p:1", trust_env=False) == Proxy("p", 1)


def test_environment_proxies_only_with_trust_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://envproxy:8080")
    monkeypatch.setenv("HTTPS_PROXY", "http://secureproxy:8443")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    remote, secure = parse_url("http://example.org"), parse_url("https://example.org")
    assert _proxy_for(remote, None, trust_env=False) is None
    assert _proxy_for(remote, None, trust_env=True) == Proxy("envproxy", 8080)
    assert _proxy_for(secure, None, trust_env=True) == Proxy("secureproxy", 8443)
    assert _proxy_for(parse_url("http://internal.example"), None, trust_env=True) is None
    for loopback in ("http://localhost:3000", "http://127.0.0.1", "http://127.1.2.3", "http://[::1]:80"):
        assert _proxy_for(parse_url(loopback), None, trust_env=True) is None
