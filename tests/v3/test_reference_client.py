"""The official socket.io-client 2.5.0 and greensio held to the same expectations against both v3 servers.

Scenarios are named in tests/servers/v2/client2_scenarios.js (the reference
client's implementation) and tests/v3/greensio_scenarios.py (greensio's, with
``protocol=3``, and again with the protocol detected). Each implementation runs
them against socket.io 2.5.1 and python-socketio 4.6.1 and its results must meet
``EXPECTED``. Where the
reference client is wrong, the expectation says so and greensio must do better.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any, Callable

import pytest

from tests.servers.process import SERVERS_DIR, ServerProcess

from . import greensio_scenarios

pytestmark = pytest.mark.timeout(120)

REFERENCE = "socket.io-client 2.5.0"
GREENSIO = "greensio"
DETECTED = "greensio, protocol detected"

Expectation = Callable[[dict[str, Any], str, str], None]  # (result, server kind, implementation)
SEQUENCE_0_19 = list(range(20))


def exactly(expected: dict[str, Any]) -> Expectation:
    def check(result: dict[str, Any], kind: str, implementation: str) -> None:
        assert result == expected

    return check


def connect_namespace(result: dict[str, Any], kind: str, implementation: str) -> None:
    # the client derives "/chat#<engine sid>"; Node's socket.id is that, python-socketio 4's the engine sid
    server_sid = "id" if kind == "node2" else "engine"
    assert result == {"connected": True, "id_shape": "/chat#engine", "server_sid": server_sid, "nsp": "/chat"} | {
        "same_engine": True
    }


def reconnect(result: dict[str, Any], kind: str, implementation: str) -> None:
    # python-engineio 3 hands the CLOSE to a waiting GET (transport close), or refuses the next GET
    # once the session is gone (HTTP 400 or 500: transport error)
    reasons = {"transport close"} if kind == "node2" else {"transport close", "transport error"}
    assert result.pop("disconnect_reason", None) in reasons
    assert result == {"reconnected": True, "new_id": True, "ack_after": ["again"]}


def reconnect_websocket(result: dict[str, Any], kind: str, implementation: str) -> None:
    if kind == "py4" and implementation == REFERENCE:
        # engine.io-client 3 ignores the CLOSE packet python-engineio 3 sends over a WebSocket it
        # leaves open: the reference client only notices at the ping timeout
        assert result == {"error": "timeout"}
        return
    assert result == {"disconnect_reason": "transport close", "reconnected": True, "new_id": True} | {
        "ack_after": ["again"]
    }


UNICODE = "\U0001f600 \u00e9 \U00010348\u20ac"
EXPECTED: dict[str, Expectation] = {
    "connect_root": exactly({"connected": True, "id_shape": "engine", "server_sid": "id", "nsp": "/"}),
    "connect_namespace": connect_namespace,
    "echo_ack": exactly({"ack": ["a", 1, {"k": [True, None]}]}),
    "echo_event": exactly({"event": ["b", 2]}),
    "unicode_polling": exactly({"ack": [UNICODE, UNICODE * 20], "transport": "polling"}),
    "binary_polling": exactly(
        {"ack": [{"bytes": "0001ff"}, "x"], "event": [{"bytes": "0001ff"}], "transport": "polling"}
    ),
    "binary_websocket": exactly(
        {"ack": [{"bytes": "0001ff"}, "x"], "event": [{"bytes": "0001ff"}], "transport": "websocket"}
    ),
    "server_call": exactly({"ack": [["answer", 3]]}),
    "refused_namespace": exactly({"error": "not authorized", "connected": False}),
    "auth_query": exactly({"connected": True, "token": "secret"}),
    "server_disconnect": exactly({"reason": "io server disconnect", "active_after": False}),
    "reconnect": reconnect,
    "reconnect_websocket": reconnect_websocket,
    "burst": exactly({"done": 20, "indexes": SEQUENCE_0_19, "sizes": [10]}),
    "websocket_only": exactly({"transport": "websocket", "ack": ["ws"]}),
    "upgrade": exactly({"transport": "websocket", "ack": ["up"]}),
    "broadcast": exactly({"ack": ["ok"], "received": ["hello", 3]}),
}
HEARTBEAT = exactly({"pongs": 2, "latencies_ok": True})


def run_reference(url: str, names: list[str]) -> dict[str, Any]:
    """Run the scenarios with socket.io-client 2.5.0 in Node."""
    node = shutil.which("node") or "node"
    done = subprocess.run(
        [node, "client2_scenarios.js", url, *names],
        cwd=SERVERS_DIR / "v2",
        capture_output=True,
        text=True,
        timeout=100,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    results: dict[str, Any] = json.loads(done.stdout)
    return results


def run_detected(url: str, names: list[str]) -> dict[str, Any]:
    return greensio_scenarios.run(url, names, protocol=None)


RUNNERS: dict[str, Callable[[str, list[str]], dict[str, Any]]] = {
    REFERENCE: run_reference,
    GREENSIO: greensio_scenarios.run,
    DETECTED: run_detected,
}


@pytest.fixture(scope="module", params=list(RUNNERS))
def implementation(request: pytest.FixtureRequest, node2_modules: None) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def _results_cache() -> dict[tuple[str, str], dict[str, Any]]:
    return {}


@pytest.fixture
def results(
    implementation: str, v3_server: ServerProcess, _results_cache: dict[tuple[str, str], dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    """Every scenario's result for this implementation and server (run once, in one go)."""
    key = (implementation, v3_server.kind)
    if key not in _results_cache:
        _results_cache[key] = RUNNERS[implementation](v3_server.url, list(EXPECTED))
    yield _results_cache[key]


def test_the_two_implementations_have_the_same_scenarios() -> None:
    source = (SERVERS_DIR / "v2" / "client2_scenarios.js").read_text()
    node_names = set(re.findall(r"^  (?:async )?(\w+)(?:\(\) \{|: \(\) =>)", source, re.MULTILINE))
    assert node_names == set(greensio_scenarios.SCENARIOS) == set(EXPECTED) | {"heartbeat"}


@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_scenario(scenario: str, implementation: str, v3_server: ServerProcess, results: dict[str, Any]) -> None:
    EXPECTED[scenario](dict(results[scenario]), v3_server.kind, implementation)


@pytest.mark.parametrize("kind", ["node2", "py4"])
def test_heartbeat(kind: str, implementation: str, start_v3_server: Any) -> None:
    """The client's PING / server's PONG, twice, against a server with a short pingInterval."""
    options = {"ping_interval": 0.3, "ping_timeout": 0.5} if kind == "node2" else {"ping_interval": 1}
    server = start_v3_server(kind, **options)
    result = RUNNERS[implementation](server.url, ["heartbeat"])["heartbeat"]
    HEARTBEAT(result, kind, implementation)
