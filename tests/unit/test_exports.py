"""The public API is exactly what SPEC.md section 2 lists, and the error tree is as documented."""

from __future__ import annotations

import builtins
import re

import pytest

import greensio

PUBLIC = {
    "Socket",
    "connect",
    "Manager",
    "__version__",
    "Error",
    "ConnectionError",
    "DisconnectedError",
    "TimeoutError",
    "ProtocolError",
    "BufferFullError",
    "PayloadTooLargeError",
    "Stats",
}
ERRORS = [
    "Error",
    "ConnectionError",
    "DisconnectedError",
    "TimeoutError",
    "ProtocolError",
    "BufferFullError",
    "PayloadTooLargeError",
]


def test_all_is_exactly_the_public_set() -> None:
    assert set(greensio.__all__) == PUBLIC
    assert len(greensio.__all__) == len(PUBLIC)  # no duplicates


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_each_public_name_is_importable(name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from greensio import {name}", namespace)  # noqa: S102
    assert namespace[name] is getattr(greensio, name)


def test_star_import() -> None:
    namespace: dict[str, object] = {}
    exec("from greensio import *", namespace)  # noqa: S102
    assert set(namespace) - {"__builtins__"} == PUBLIC


def test_version() -> None:
    assert isinstance(greensio.__version__, str)
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:[.-]?(?:a|b|rc|dev|post)\d*)*", greensio.__version__)


def test_callables() -> None:
    assert isinstance(greensio.Socket, type)
    assert isinstance(greensio.Manager, type)
    assert callable(greensio.connect)


@pytest.mark.parametrize("name", ERRORS)
def test_every_error_derives_from_greensio_error(name: str) -> None:
    cls = getattr(greensio, name)
    assert isinstance(cls, type)
    assert issubclass(cls, greensio.Error)
    assert issubclass(cls, Exception)
    assert cls.__module__.startswith("greensio")
    assert cls.__doc__


def test_error_is_a_plain_exception() -> None:
    assert greensio.Error.__bases__ == (Exception,)


def test_connection_error() -> None:
    cls = greensio.ConnectionError
    assert cls is not builtins.ConnectionError
    assert issubclass(cls, greensio.Error)
    assert issubclass(cls, builtins.ConnectionError)
    assert issubclass(cls, OSError)
    err = cls("refused", {"message": "not authorized"})
    assert err.data == {"message": "not authorized"}
    assert str(err) == "refused"
    assert cls("no data").data is None
    assert cls().data is None
    with pytest.raises(builtins.ConnectionError):
        raise cls("x")


def test_disconnected_error() -> None:
    cls = greensio.DisconnectedError
    assert issubclass(cls, greensio.ConnectionError)
    assert issubclass(cls, builtins.ConnectionError)
    assert cls("gone").data is None
    with pytest.raises(greensio.ConnectionError):
        raise cls("gone")


def test_timeout_error() -> None:
    cls = greensio.TimeoutError
    assert cls is not builtins.TimeoutError
    assert issubclass(cls, greensio.Error)
    assert issubclass(cls, builtins.TimeoutError)
    assert not issubclass(cls, greensio.ConnectionError)
    with pytest.raises(builtins.TimeoutError):
        raise cls("late")


@pytest.mark.parametrize("name", ["ProtocolError", "PayloadTooLargeError"])
def test_value_errors(name: str) -> None:
    cls = getattr(greensio, name)
    assert issubclass(cls, ValueError)
    assert issubclass(cls, greensio.Error)
    assert not issubclass(cls, greensio.ConnectionError)


def test_buffer_full_error() -> None:
    cls = greensio.BufferFullError
    assert issubclass(cls, greensio.Error)
    assert not issubclass(cls, (ValueError, builtins.ConnectionError, builtins.TimeoutError))


def test_errors_are_distinct() -> None:
    assert len({id(getattr(greensio, name)) for name in ERRORS}) == len(ERRORS)
