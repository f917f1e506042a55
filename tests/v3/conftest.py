"""Fixtures for the v3 tests: socket.io 2.x and python-socketio 4 servers (Engine.IO v3)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from tests.servers.process import SERVERS_DIR, ServerProcess, node_modules_stale, npm_ci

V2_DIR = SERVERS_DIR / "v2"


@pytest.fixture(scope="session")
def node2_modules() -> None:
    """Install socket.io 2.x and socket.io-client 2.x with `npm ci` in tests/servers/v2 when missing or stale."""
    if node_modules_stale(V2_DIR):
        try:
            npm_ci(V2_DIR)
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def py4_venv() -> Path:
    """The python-socketio 4 virtualenv (tests/servers/py4/.venv), made on first use."""
    from tests.servers.py4 import venv

    try:
        return venv.ensure()
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"cannot make the python-socketio 4 virtualenv: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def _v3_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("v3-server-logs")


@pytest.fixture(scope="session")
def node2_server(node2_modules: None, _v3_logs: Path) -> Iterator[ServerProcess]:
    """socket.io 2.5.1 (tests/servers/v2/node2_server.js)."""
    with ServerProcess("node2", _v3_logs / "node2.log") as server:
        yield server


@pytest.fixture(scope="session")
def py4_server(py4_venv: Path, _v3_logs: Path) -> Iterator[ServerProcess]:
    """python-socketio 4.6.1 / python-engineio 3.14.2 on gevent (tests/servers/py4/py4_server.py)."""
    with ServerProcess("py4", _v3_logs / "py4.log") as server:
        yield server


@pytest.fixture(scope="session", params=["node2", "py4"])
def v3_server(request: pytest.FixtureRequest) -> ServerProcess:
    """Both v3 servers in turn."""
    server: ServerProcess = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture
def start_v3_server(node2_modules: None, py4_venv: Path, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Factory: start_v3_server(kind, **options), kind "node2" or "py4", stopped at the end of the test."""
    started: list[ServerProcess] = []

    def start(kind: str, **options: object) -> ServerProcess:
        server = ServerProcess(kind, tmp_path / f"{kind}-{len(started)}.log", **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
