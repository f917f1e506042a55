"""Every compat test runs twice with the same assertions: against python-socketio's own client
(the oracle) and against greensio.compat, through the ``impl`` fixture (the module).

The process is not monkey-patched: python-socketio's client then runs its handlers
and background tasks in OS threads, greensio's in greenlets; the helpers in
``helpers.py`` wait in a way that works for both.

A test marked ``fixed_defect("why")`` encodes a python-socketio defect that
greensio.compat fixes: it must fail against the oracle (strict xfail there;
``strict=False`` for a defect that is a race python-socketio sometimes wins).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any, Callable

import gevent
import pytest
import socketio

from greensio import compat

from .helpers import FAST

IMPLEMENTATIONS = {"python-socketio": socketio, "greensio": compat}
SHUTDOWN_TIMEOUT = 10  # seconds


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fixed_defect(reason, strict=True): a python-socketio defect that greensio.compat fixes "
        "(the test is an xfail against python-socketio; strict unless the defect is a race it may win)",
    )


@pytest.fixture(params=list(IMPLEMENTATIONS))
def impl(request: pytest.FixtureRequest) -> ModuleType:
    """python-socketio's ``socketio`` module, then ``greensio.compat``."""
    module = IMPLEMENTATIONS[request.param]
    marker = request.node.get_closest_marker("fixed_defect")
    if marker is not None and module is socketio:
        strict = marker.kwargs.get("strict", True)  # False: python-socketio only loses a race, mostly
        request.applymarker(pytest.mark.xfail(strict=strict, reason="python-socketio defect: " + marker.args[0]))
    return module


def _factory(cls: Callable[..., Any], close: Callable[[Any], None]) -> Iterator[Callable[..., Any]]:
    """Yields make(**options) -> cls with the fast reconnection options; closes what it made afterwards."""
    made: list[Any] = []

    def make(**options: Any) -> Any:
        made.append(cls(**{**FAST, **options}))
        return made[-1]

    yield make
    for client in made:
        close(client)


def _shut_down(client: Any) -> None:
    # Bounded: when the whole suite runs, tests/integration's conftest has monkey-patched the
    # process, and python-socketio's client (the oracle) can then wait for ever in its
    # WebSocket close; in an unpatched process the Timeout is harmless.
    with gevent.Timeout(SHUTDOWN_TIMEOUT, False):
        client.shutdown()
        client.disconnect()


@pytest.fixture
def make_client(impl: ModuleType) -> Iterator[Callable[..., Any]]:
    """make_client(**options) -> impl.Client; all shut down after the test."""
    yield from _factory(impl.Client, _shut_down)


@pytest.fixture
def make_simple_client(impl: ModuleType) -> Iterator[Callable[..., Any]]:
    """make_simple_client(**options) -> impl.SimpleClient; all disconnected after the test."""
    yield from _factory(impl.SimpleClient, lambda client: client.disconnect())
