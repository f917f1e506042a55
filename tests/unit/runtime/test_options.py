"""Options are checked at construction: each error names its option; unknown names suggest the closest."""

from __future__ import annotations

import inspect
import math
from typing import Any

import pytest

import greensio
from greensio._options import ManagerOptions, SocketOptions

from .fakes import Rig

BAD_MANAGER_OPTIONS: list[tuple[str, Any]] = [
    ("path", ""),
    ("path", 5),
    ("query", 5),
    ("query", {1: "x"}),
    ("extra_headers", ["X-A: b"]),
    ("extra_headers", {b"X": "y"}),
    ("transports", "websocket"),
    ("transports", ["tcp"]),
    ("transports", []),
    ("transports", ["polling", "polling"]),
    ("upgrade", "yes"),
    ("remember_upgrade", 1),
    ("reconnection", None),
    ("force_new", "no"),
    ("multiplex", 0),
    ("ssl_verify", "false"),
    ("compression", 1),
    ("trust_env", "1"),
    ("timeout", -1),
    ("timeout", "5"),
    ("timeout", math.nan),
    ("reconnection_attempts", -1),
    ("reconnection_attempts", 1.5),
    ("reconnection_delay", -0.1),
    ("reconnection_delay_max", "5"),
    ("randomization_factor", 2),
    ("ssl_context", "ctx"),
    ("proxy", 8080),
    ("proxy", "ftp://proxy:21"),
    ("protocol", 5),
    ("json", object()),
    ("parser", "yaml"),
    ("max_buffer", -1),
    ("handler_concurrency", 0),
    ("max_message_size", 0),
    ("max_attachments", -1),
]
BAD_SOCKET_OPTIONS: list[tuple[str, Any]] = [
    ("auth", 5),
    ("ack_timeout", -1),
    ("retries", -1),
    ("retries", 1.5),
    ("auto_connect", "yes"),
]


@pytest.mark.parametrize(("name", "value"), BAD_MANAGER_OPTIONS)
def test_a_bad_manager_option_is_refused_naming_it(name: str, value: Any) -> None:
    with pytest.raises(TypeError, match=f"option '{name}'") as raised:
        greensio.Manager("http://options.test", **{name: value})
    assert isinstance(raised.value, ValueError)  # either may be expected


@pytest.mark.parametrize(("name", "value"), BAD_SOCKET_OPTIONS)
def test_a_bad_socket_option_is_refused_naming_it(rig: Rig, name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"option '{name}'"):
        rig.manager().socket("/", **{name: value})
    with pytest.raises(TypeError, match=f"option '{name}'"):
        greensio.Socket("http://options.test", force_new=True, **{name: value})


def test_every_option_has_a_bad_value_here() -> None:
    checked = {name for name, _ in BAD_MANAGER_OPTIONS + BAD_SOCKET_OPTIONS}
    unchecked = {"observer"}  # anything goes: it is duck-typed
    every = set(ManagerOptions.__dataclass_fields__) | set(SocketOptions.__dataclass_fields__)
    assert every - unchecked == checked


@pytest.mark.parametrize(
    ("given", "hint"),
    [
        ("headers", "extra_headers"),
        ("socketio_path", "path"),
        ("wait_timeout", "timeout"),
        ("reconection", "reconnection"),
        ("ack_timout", "ack_timeout"),
        ("verify", "ssl_verify"),
    ],
)
def test_an_unknown_option_suggests_the_closest(given: str, hint: str) -> None:
    with pytest.raises(TypeError, match=rf"unknown option '{given}' \(did you mean '{hint}'\?\)"):
        options: dict[str, Any] = {given: 1}
        greensio.Socket("http://options.test", auto_connect=False, **options)


def test_an_unknown_option_without_a_close_name_has_no_hint() -> None:
    with pytest.raises(TypeError, match=r"^unknown option 'zzzzzz'$"):
        greensio.Manager("http://options.test", zzzzzz=1)  # type: ignore[call-arg]


def test_socket_options_are_not_manager_options() -> None:
    with pytest.raises(TypeError, match="unknown option 'auth'"):
        greensio.Manager("http://options.test", auth={"a": 1})  # type: ignore[call-arg]


@pytest.mark.parametrize("name", ["query", "extra_headers"])
def test_cr_or_lf_in_a_header_or_query_dict_is_refused_at_construction(name: str) -> None:
    options: dict[str, Any] = {name: {"a": "b\r\nInjected: 1"}}
    with pytest.raises(ValueError, match="contains CR or LF"):
        greensio.Manager("http://options.test", **options)
    with pytest.raises(ValueError, match="contains CR or LF"):
        greensio.Manager("http://options.test", path="/socket.io\n")


def test_cr_or_lf_from_a_header_callable_fails_the_connect(rig: Rig) -> None:
    sio = rig.socket(extra_headers=lambda: {"X": "a\nb"}, reconnection=False, socket={"auto_connect": False})
    with pytest.raises(greensio.ConnectionError, match="contains CR or LF"):
        sio.connect(timeout=5)
    assert rig.server.opens == []


def test_options_keep_secrets_out_of_their_repr() -> None:
    shown = repr(ManagerOptions(query={"token": "s3cret"}, extra_headers={"Authorization": "s3cret"}, timeout=3))
    assert "s3cret" not in shown and "timeout=3" in shown and "***" in shown
    assert "s3cret" not in repr(SocketOptions(auth={"token": "s3cret"}))


def test_every_option_is_a_keyword_parameter_of_socket_manager_and_connect() -> None:
    manager_names = set(ManagerOptions.__dataclass_fields__)
    socket_names = set(SocketOptions.__dataclass_fields__)
    assert set(inspect.signature(greensio.Socket).parameters) >= manager_names | socket_names
    assert set(inspect.signature(greensio.Manager).parameters) >= manager_names
    assert set(inspect.signature(greensio.connect).parameters) >= (manager_names | socket_names)
    assert "ack_timeout: seconds an acknowledgement may take" in (greensio.Socket.__doc__ or "")


def test_valid_values_at_the_edges_are_accepted() -> None:
    options = ManagerOptions(
        timeout=None,
        reconnection_attempts=0,
        randomization_factor=1,
        transports=["websocket"],  # type: ignore[arg-type]
        max_buffer=0,
        protocol=3,
    )
    assert options.transports == ("websocket",)
    assert ManagerOptions(reconnection_attempts=math.inf).reconnection_attempts == math.inf
