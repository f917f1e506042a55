"""Fixtures of the runtime's unit tests: a FakeServer and a FakeClock for each test, nothing left running after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fakes import FakeClock, FakeServer, Rig


@pytest.fixture
def rig() -> Iterator[Rig]:
    rig = Rig()
    yield rig
    rig.teardown()


@pytest.fixture
def server(rig: Rig) -> FakeServer:
    return rig.server


@pytest.fixture
def clock(rig: Rig) -> FakeClock:
    return rig.clock
