"""Fixtures that run the test servers of tests/servers/ as child processes."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
from hypothesis import HealthCheck, settings

from tests.servers.process import SERVERS_DIR, ServerProcess

NPM_CI_TIMEOUT = 300  # seconds

# Hypothesis profile "soak", loaded when GREENSIO_HYPOTHESIS_PROFILE=soak (tests/soak/fuzz_run.py sets it):
# GREENSIO_SOAK_EXAMPLES examples per property (the property tests ask for it with their examples(n)
# helper, since an explicit max_examples would win over a profile), no deadline, no example database
# (a long run must not leave failures behind for other runs to replay).
settings.register_profile(
    "soak",
    max_examples=int(os.environ.get("GREENSIO_SOAK_EXAMPLES", "10000")),
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=list(HealthCheck),
)
if os.environ.get("GREENSIO_HYPOTHESIS_PROFILE"):
    settings.load_profile(os.environ["GREENSIO_HYPOTHESIS_PROFILE"])


def _node_modules_stale() -> bool:
    installed = SERVERS_DIR / "node_modules" / ".package-lock.json"
    lock = SERVERS_DIR / "package-lock.json"
    return not installed.exists() or lock.stat().st_mtime > installed.stat().st_mtime


@pytest.fixture(scope="session")
def node_modules() -> None:
    """Install the Node servers' dependencies with `npm ci` when missing or stale."""
    if not _node_modules_stale():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is needed for the Node test servers (Node 20 + npm)", pytrace=False)
    try:
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=SERVERS_DIR,
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=NPM_CI_TIMEOUT,
        )
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"npm ci failed in {SERVERS_DIR}:\n{exc.stdout.decode()}{exc.stderr.decode()}", pytrace=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"npm ci did not finish in {NPM_CI_TIMEOUT} s in {SERVERS_DIR}", pytrace=False)


@pytest.fixture(scope="session")
def _server_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-logs")


def _run(kind: str, log: Path, **options: object) -> Iterator[ServerProcess]:
    server = ServerProcess(kind, log, **options)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def node_server(node_modules: None, _server_logs: Path) -> Iterator[ServerProcess]:
    yield from _run("node", _server_logs / "node.log")


@pytest.fixture(scope="session")
def node_recovery_server(node_modules: None, _server_logs: Path) -> Iterator[ServerProcess]:
    yield from _run("node", _server_logs / "node-recovery.log", recovery=True)


@pytest.fixture(scope="session")
def py_server(_server_logs: Path) -> Iterator[ServerProcess]:
    yield from _run("python", _server_logs / "python.log")


@pytest.fixture(scope="session")
def bad_server(_server_logs: Path) -> Iterator[ServerProcess]:
    yield from _run("bad", _server_logs / "bad.log")


@pytest.fixture(scope="session", params=["node", "python"])
def server(request: pytest.FixtureRequest) -> ServerProcess:
    """The Node and the python-socketio server in turn."""
    server: ServerProcess = request.getfixturevalue({"node": "node_server", "python": "py_server"}[request.param])
    return server


@pytest.fixture
def start_server(node_modules: None, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Factory: start_server(kind, **options) -> ServerProcess, stopped at the end of the test.

    kind is "node", "python" or "bad"; options are those of ServerProcess,
    e.g. ping_interval=0.3, ping_timeout=0.3 (seconds), recovery=True.
    """
    started: list[ServerProcess] = []

    def start(kind: str, **options: object) -> ServerProcess:
        server = ServerProcess(kind, tmp_path / f"{kind}-{len(started)}.log", **options)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(autouse=True)
def _no_internal_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail any test during which a connection loop of greensio died of an unexpected exception."""
    yield
    failures = [
        record.getMessage()
        for record in caplog.get_records("call")
        if record.name == "greensio" and "connection loop" in record.getMessage()
    ]
    assert not failures, f"greensio's connection loop failed: {failures}"
