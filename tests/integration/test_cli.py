"""The greensio command line (`python -m greensio`) against the real servers."""

from __future__ import annotations

import json
import signal

import pytest

from tests.servers.process import free_port

from .helpers import WAIT, Recorder, connect
from .processes import LineReader, run_cli, spawn_cli, stop


def test_listen_prints_events_as_json_lines_and_stops_after_count(server):
    result = run_cli("listen", server.url, "--auth", '{"welcome": true}', "--count", "1", "--timeout", "10")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ['{"event": "welcome", "args": ["hi"]}']
    assert result.stderr.startswith("connected ")


def test_listen_in_a_namespace(server):
    result = run_cli(
        "listen", server.url, "--namespace", "/chat", "--auth", '{"welcome": 1}', "--count", "1", "--timeout", "10"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"event": "welcome", "args": ["hi"]}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_listen_exits_0_on_a_signal(node_server, signum):
    process = spawn_cli("listen", node_server.url)
    try:
        stderr = LineReader(process.stderr)
        stderr.wait_for("connected ")
        process.send_signal(signum)
        assert process.wait(10) == 0, stderr.join()
        assert process.stdout.read() == ""
    finally:
        stop(process)


def test_listen_exits_1_when_the_server_goes_away(start_server):
    srv = start_server("node")
    process = spawn_cli("listen", srv.url)
    try:
        stderr = LineReader(process.stderr)
        stderr.wait_for("connected ")
        srv.stop()
        assert process.wait(10) == 1
        assert "disconnected: transport close" in stderr.join()[-1]
    finally:
        stop(process)


def test_listen_times_out_with_exit_3_when_too_few_events_arrive(node_server):
    result = run_cli("listen", node_server.url, "--count", "1", "--timeout", "0.5")
    assert result.returncode == 3
    assert "timeout: 0 of 1 events within 0.5 s" in result.stderr


def test_emit_with_ack_prints_the_ack_arguments(server):
    result = run_cli("emit", server.url, "echo", "1", '"two"', '{"k": [null, true]}', "[]", "null", "--ack")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [1, "two", {"k": [None, True]}, [], None]


def test_emit_with_ack_and_no_arguments_prints_an_empty_list(server):
    result = run_cli("emit", server.url, "echo", "--ack")
    assert (result.returncode, result.stdout) == (0, "[]\n"), result.stderr


@pytest.mark.parametrize("kind, reason", [("node", "server namespace disconnect"), ("python", "server disconnect")])
def test_emit_without_ack_is_handled_by_the_server_before_the_cli_disconnects(start_server, kind, reason):
    srv = start_server(kind)
    with connect(srv.url) as observer:
        disconnects = Recorder()
        observer.on("peer_disconnect", disconnects)
        assert observer.call("observe", timeout=WAIT) == "ok"
        # disconnect_me makes the server end the CLI's socket: the server handled the event before the
        # CLI's own DISCONNECT (which servers act on at once, dropping events not yet handled: see --linger).
        result = run_cli("emit", srv.url, "disconnect_me")
        assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
        [(_, seen)] = disconnects.wait(1)
        assert seen == reason


def test_emit_to_a_namespace_with_auth(server):
    result = run_cli("emit", f"{server.url}/private", "echo", '"in"', "--auth", '{"token": "secret"}', "--ack")
    assert (result.returncode, json.loads(result.stdout)) == (0, ["in"]), result.stderr


@pytest.mark.parametrize("command", [["listen"], ["emit", "--ack"]], ids=["listen", "emit"])
def test_a_refused_namespace_exits_1_with_the_reason_and_data(server, command):
    name, *flags = command
    args = [name, server.url, "--namespace", "/private", *flags]
    if name == "emit":
        args.insert(2, "echo")
    result = run_cli(*args)
    assert result.returncode == 1
    assert "not authorized" in result.stderr and '{"code": 403}' in result.stderr


@pytest.mark.parametrize("command", [["listen"], ["emit", "echo", "--ack"]], ids=["listen", "emit"])
def test_an_unreachable_server_exits_1(command):
    name, *rest = command
    result = run_cli(name, f"http://127.0.0.1:{free_port()}", *rest, "--timeout", "10")
    assert result.returncode == 1
    assert "connection failed" in result.stderr and "refused" in result.stderr.lower()


def test_an_ack_that_comes_too_late_exits_3(node_server):
    # server_call asks this client for an ack of "unhandled" and waits 5 s for it: the CLI's ack arrives late.
    result = run_cli("emit", node_server.url, "server_call", '"unhandled"', "--ack", "--timeout", "1")
    assert result.returncode == 3
    assert "timeout: no ack for 'server_call' within 1 s" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["emit", "http://127.0.0.1:1", "echo", "not-json"], "invalid JSON 'not-json'"),
        (["emit", "http://127.0.0.1:1", "echo", "--auth", "[1]"], "expected a JSON object"),
        (["listen", "http://127.0.0.1:1", "--transports", "carrier-pigeon"], "--transports"),
        (["listen", "http://127.0.0.1:1", "--count", "0"], "positive integer"),
        (["listen", "http://127.0.0.1:1", "--timeout", "-1"], "positive number of seconds"),
        (["listen", "ftp://127.0.0.1:1"], "expected an http(s):// or ws(s):// URL"),
        (["shout", "http://127.0.0.1:1"], "invalid choice"),
        ([], "required"),
    ],
    ids=["bad-json", "auth-not-object", "transports", "count", "timeout", "url", "command", "nothing"],
)
def test_usage_errors_exit_2_with_a_clear_message(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_version():
    import greensio

    result = run_cli("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"greensio {greensio.__version__}")
