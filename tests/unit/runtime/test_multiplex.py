"""Several namespaces over one Manager, and which Manager a new Socket shares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import greensio
from greensio import _registry
from greensio._core.url import parse_url
from greensio._manager import manager_for

from .fakes import Recorder, Rig


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Shared Managers of other tests stay out of these."""
    monkeypatch.setattr(_registry, "_shared", {})
    yield


def test_namespaces_of_one_manager_share_one_session_and_get_their_own_packets(rig: Rig) -> None:
    manager = rig.manager()
    main, chat = manager.socket("/"), manager.socket("/chat")
    rig.settle()
    assert main.connected and chat.connected
    assert len(rig.server.sessions) == 1
    assert (rig.server.connects("/"), rig.server.connects("/chat")) == ([None], [None])
    assert main.id != chat.id
    got_main, got_chat = Recorder(), Recorder()
    main.on("x", got_main)
    chat.on("x", got_chat)
    rig.server.emit("x", "for chat", nsp="/chat")
    rig.server.emit("x", "for main")
    rig.settle()
    assert (got_main.calls, got_chat.calls) == ([("for main",)], [("for chat",)])
    assert chat.call("echo", 1) == 1


def test_manager_socket_returns_the_existing_socket_and_reopens_it(rig: Rig) -> None:
    manager = rig.manager()
    sio = manager.socket("/")
    rig.settle()
    sio.disconnect()
    assert manager.socket("/", auto_connect=False) is sio and not sio.active
    assert manager.socket("/") is sio
    rig.settle()
    assert sio.connected


def test_sockets_of_one_server_with_equal_options_share_a_manager() -> None:
    a = greensio.Socket("http://shared.test/a", auto_connect=False, reconnection_delay=2)
    b = greensio.Socket("http://shared.test:80/b", auto_connect=False, reconnection_delay=2)
    assert a.manager is b.manager
    assert sorted(a.manager.sockets) == ["/a", "/b"]


@pytest.mark.parametrize(
    "other",
    [
        {"reconnection_delay": 3},
        {"extra_headers": {"Authorization": "other"}},
        {"force_new": True},
        {"multiplex": False},
    ],
)
def test_different_options_force_new_or_no_multiplex_get_another_manager(other: dict[str, Any]) -> None:
    a = greensio.Socket("http://shared.test/a", auto_connect=False, reconnection_delay=2)
    b = greensio.Socket("http://shared.test/b", auto_connect=False, **{"reconnection_delay": 2, **other})
    assert a.manager is not b.manager


def test_another_path_or_port_gets_another_manager() -> None:
    a = greensio.Socket("http://shared.test/a", auto_connect=False)
    assert greensio.Socket("http://shared.test:81/b", auto_connect=False).manager is not a.manager
    assert greensio.Socket("http://shared.test/b", path="/other", auto_connect=False).manager is not a.manager


def test_a_namespace_taken_by_an_active_socket_gets_a_new_manager(rig: Rig) -> None:
    manager = rig.manager()
    target = parse_url(Rig.URL)
    _registry.share(("http", "server.test", 3000, "/socket.io"), manager)
    active = manager.socket("/taken")
    idle = manager.socket("/idle", auto_connect=False)
    rig.settle()
    assert active.active and not idle.active
    assert manager_for(Rig.URL, target, "/taken", {}) is not manager
    assert manager_for(Rig.URL, target, "/idle", {}) is manager
    assert manager_for(Rig.URL, target, "/free", {}) is manager
    assert manager_for(Rig.URL, target, "/free", {"force_new": True}) is not manager


def test_a_forked_manager_is_never_shared(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = rig.manager()
    _registry.share(("http", "server.test", 3000, "/socket.io"), manager)
    monkeypatch.setattr(_registry, "_hooks", {id(manager): _registry._hooks[id(manager)]})
    _registry._hooks[id(manager)][0]()()  # type: ignore[misc]
    _registry.share(("http", "server.test", 3000, "/socket.io"), manager)
    assert manager_for(Rig.URL, parse_url(Rig.URL), "/", {}) is not manager
