"""Fixtures for the v3 tests: socket.io 2.x and python-socketio 4 servers (Engine.IO v3)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from tests.servers.process import SERVERS_DIR, ServerProcess

V2_DIR = SERVERS_DIR / "v2"
NPM_CI_TIMEOUT = 300  # seconds
VENV_TIMEOUT = 900  # seconds: making the python-socketio 4 virtualenv the first time


def _stale(folder: Path) -> bool:
    installed = folder / "node_modules" / ".package-lock.json"
    lock = folder / "package-lock.json"
    return not installed.exists() or lock.stat().st_mtime > installed.stat().st_mtime


@pytest.fixture(scope="session")
def node2_modules() -> None:
    """Install socket.io 2.x and socket.io-client 2.x with `npm ci` in tests/servers/v2 when missing or stale."""
    if not _stale(V2_DIR):
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed for the socket.io 2.x test server (Node 20 + npm)", pytrace=False)
    try:
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=V2_DIR,
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=NPM_CI_TIMEOUT,
        )
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"npm ci failed in {V2_DIR}:\n{exc.stdout.decode()}{exc.stderr.decode()}", pytrace=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"npm ci did not finish in {NPM_CI_TIMEOUT} s in {V2_DIR}", pytrace=False)


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


def _run(kind: str, log: Path, **options: object) -> Iterator[ServerProcess]:
    server = ServerProcess(kind, log, **options)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def node2_server(node2_modules: None, _v3_logs: Path) -> Iterator[ServerProcess]:
    """socket.io 2.5.1 (tests/servers/v2/node2_server.js)."""
    yield from _run("node2", _v3_logs / "node2.log")


@pytest.fixture(scope="session")
def py4_server(py4_venv: Path, _v3_logs: Path) -> Iterator[ServerProcess]:
    """python-socketio 4.6.1 / python-engineio 3.14.2 on gevent (tests/servers/py4/py4_server.py)."""
    yield from _run("py4", _v3_logs / "py4.log")


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
