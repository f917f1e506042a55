"""Silent sharing of security settings: a Socket that asks for other Manager options gets a Manager of its own.

Each test opens two namespaces of one server without ``force_new``: with equal
options they share a Manager (one connection); with a different ``extra_headers``
(Authorization), ``query``, ``proxy`` or ``ssl_verify`` they do not, and each
connection carries what its own Socket asked for.
"""

from __future__ import annotations

from typing import Any

import pytest

import greensio

from .helpers import WAIT
from .peer import Peer, TunnelProxy

pytestmark = pytest.mark.timeout(30)

OPTIONS: dict[str, Any] = {"reconnection_delay": 0.05, "reconnection_delay_max": 0.1, "transports": ["websocket"]}


def _pair(peer: Peer, first: dict, second: dict) -> tuple[greensio.Socket, greensio.Socket]:
    one = greensio.connect(peer.url + "/one", timeout=WAIT, **OPTIONS, **first)
    try:
        two = greensio.connect(peer.url + "/two", timeout=WAIT, **OPTIONS, **second)
    except BaseException:
        one.disconnect()
        raise
    return one, two


def _close(*sockets: greensio.Socket) -> None:
    for sio in sockets:
        sio.disconnect()


def test_equal_options_share_one_manager(start_peer):
    peer = start_peer()
    options = {"extra_headers": {"Authorization": "Bearer same"}, "query": {"t": "1"}}
    one, two = _pair(peer, options, {"extra_headers": {"Authorization": "Bearer same"}, "query": {"t": "1"}})
    try:
        assert two.manager is one.manager
        assert [two.call("echo", 2, timeout=WAIT), one.call("echo", 1, timeout=WAIT)] == [2, 1]
    finally:
        _close(one, two)
    assert peer.accepts == 1 and [nsp for nsp, _ in peer.connects] == ["/one", "/two"]


@pytest.mark.parametrize(
    ("option", "first", "second", "header"),
    [
        ("extra_headers", {"Authorization": "Bearer one"}, {"Authorization": "Bearer two"}, "authorization"),
        ("extra_headers", {"Authorization": "Bearer one"}, {}, "authorization"),
        ("query", {"token": "one"}, {"token": "two"}, None),
    ],
    ids=["authorization", "authorization-then-none", "query"],
)
def test_different_credentials_get_their_own_manager(start_peer, option, first, second, header):
    peer = start_peer()
    one, two = _pair(peer, {option: first}, {option: second})
    try:
        assert two.manager is not one.manager
        assert one.call("echo", 1, timeout=WAIT) == 1 and two.call("echo", 2, timeout=WAIT) == 2
    finally:
        _close(one, two)
    assert peer.accepts == 2
    (to_one,), (to_two,) = peer.requests_of("websocket")[:1], peer.requests_of("websocket")[1:]
    if header is None:
        assert (to_one.query.get("token"), to_two.query.get("token")) == (first["token"], second["token"])
    else:
        assert to_one.lines_named(header) == [f"Authorization: {first['Authorization']}".encode()]
        expected = [f"Authorization: {second['Authorization']}".encode()] if second else []
        assert to_two.lines_named(header) == expected


def test_a_proxy_is_neither_shared_nor_skipped(start_peer):
    peer, proxy = start_peer(), start_peer(TunnelProxy)
    direct, proxied = _pair(peer, {}, {"proxy": proxy.url()})
    more = [
        greensio.connect(peer.url + "/three", timeout=WAIT, proxy=proxy.url(), **OPTIONS),
        greensio.connect(peer.url + "/four", timeout=WAIT, **OPTIONS),
    ]
    try:
        assert proxied.manager is not direct.manager
        assert [sio.manager for sio in more] == [proxied.manager, direct.manager]  # equal options: shared
        for sio in (direct, proxied, *more):
            assert sio.call("echo", "x", timeout=WAIT) == "x"
    finally:
        _close(direct, proxied, *more)
    assert peer.accepts == 2
    target = f"127.0.0.1:{peer.port}".encode()
    assert [head.split(b"\r\n", 1)[0] for head in proxy.heads] == [b"CONNECT " + target + b" HTTP/1.1"]
    assert sorted(nsp for nsp, _ in peer.connects) == ["/four", "/one", "/three", "/two"]


def test_ssl_verify_is_not_shared(start_peer, tls):
    peer = start_peer(ssl_context=tls.server_context())
    unverified = greensio.connect(peer.url + "/one", timeout=WAIT, ssl_verify=False, **OPTIONS)
    try:
        with pytest.raises(greensio.ConnectionError, match="certificate"):
            greensio.connect(peer.url + "/two", timeout=WAIT, **OPTIONS)  # ssl_verify=True by default
        assert unverified.call("echo", 1, timeout=WAIT) == 1
    finally:
        unverified.disconnect()
    assert [nsp for nsp, _ in peer.connects] == ["/one"]
    assert len(peer.requests) == 1


def test_a_different_ssl_context_is_not_shared(start_peer, tls):
    peer = start_peer(ssl_context=tls.server_context())
    context = tls.client_context()
    one, two = _pair(peer, {"ssl_context": context}, {"ssl_context": tls.client_context()})
    three = greensio.connect(peer.url + "/three", timeout=WAIT, ssl_context=context, **OPTIONS)
    try:
        assert two.manager is not one.manager and three.manager is one.manager
    finally:
        _close(one, two, three)
    assert peer.accepts == 2
