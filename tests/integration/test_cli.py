"""The greensio command line (`python -m greensio`) against the real servers."""

from __future__ import annotations

import base64
import datetime
import fcntl
import importlib.util
import json
import os
import pty
import signal
import ssl
import subprocess
import sys

import gevent.event
import gevent.socket
import pytest
import socketio
import trustme
from gevent import pywsgi
from geventwebsocket.handler import WebSocketHandler

from tests.servers.process import free_port

from .helpers import WAIT, Recorder, connect
from .processes import ROOT, RUN_TIMEOUT, LineReader, run_cli, spawn_cli, stop
from .test_socks import Pproxy
from .test_transports import ConnectProxy


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
        assert process.stdout is not None
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
        (["emit", "http://127.0.0.1:1", "connect", "1"], "'connect' is a reserved event name"),
        (["listen", "http://127.0.0.1:1", "-H", "X-Token abc"], "expected 'Name: value'"),
        (["listen", "http://127.0.0.1:1", "--unknown"], "unrecognized arguments: --unknown"),
    ],
    ids=[
        "bad-json",
        "auth-not-object",
        "transports",
        "count",
        "timeout",
        "url",
        "command",
        "nothing",
        "reserved-event",
        "header",
        "unknown-option",
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stdout == ""


def test_version():
    import greensio

    result = run_cli("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"greensio {greensio.__version__}")


# -- shell -----------------------------------------------------------------------------------


def run_shell(url: str, stdin: str, *options: str) -> subprocess.CompletedProcess[str]:
    """``python -m greensio shell url *options`` with ``stdin`` as its input, to completion."""
    return subprocess.run(
        [sys.executable, "-m", "greensio", "shell", url, *options],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )


def spawn_shell(url: str, *options: str) -> subprocess.Popen[str]:
    """``python -m greensio shell url *options`` started, its stdin a pipe the test writes to."""
    return subprocess.Popen(
        [sys.executable, "-m", "greensio", "shell", url, *options],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_shell_emits_each_line_and_prints_acks_and_events_then_exits_0_at_eof(server):
    lines = [
        "# a comment, then a blank line",
        "",
        'server_emit "news" {"id": 1}',  # no ack asked: the event still comes back
        '--ack echo 1 "two" {"k": [null, true]}',
        '--ack server_emit "news" {"id": 2}',
        '--ack "echo" "last"',
    ]
    result = run_shell(server.url, "\n".join(lines))  # the last line without a newline
    assert result.returncode == 0, result.stderr
    assert records(result.stdout) == [
        {"event": "news", "args": [{"id": 1}]},
        {"ack": "echo", "line": 4, "args": [1, "two", {"k": [None, True]}]},
        {"event": "news", "args": [{"id": 2}]},  # the server emits before it acks
        {"ack": "server_emit", "line": 5, "args": ["ok"]},
        {"ack": "echo", "line": 6, "args": ["last"]},
    ]
    assert result.stderr.startswith("connected ") and result.stderr.count("\n") == 1


def test_shell_reads_stdin_without_blocking_the_connection(node_server):
    # The welcome event arrives while the shell waits on an empty stdin; then a line, its ack, EOF.
    process = spawn_shell(node_server.url, "--auth", '{"welcome": true}')
    try:
        assert process.stdin is not None
        stdout, stderr = LineReader(process.stdout), LineReader(process.stderr)
        assert json.loads(stdout.wait_for('"welcome"')) == {"event": "welcome", "args": ["hi"]}
        stderr.wait_for("connected ")
        process.stdin.write("--ack echo 42\n")
        process.stdin.flush()
        assert json.loads(stdout.wait_for('"ack"')) == {"ack": "echo", "line": 1, "args": [42]}
        assert process.poll() is None  # still reading
        process.stdin.close()
        assert process.wait(WAIT) == 0, stderr.join()
    finally:
        stop(process)


def test_shell_answers_the_servers_calls_with_ack_json(server):
    # server_call asks the shell for an ack of "question" and acks the line with what the shell answered.
    result = run_shell(server.url, '--ack server_call "question" 7\n', "--ack", '{"answer": 42}')
    assert result.returncode == 0, result.stderr
    assert records(result.stdout) == [
        {"event": "question", "args": [7]},
        {"ack": "server_call", "line": 1, "args": [[{"answer": 42}]]},
    ]


class Terminal:
    """A pseudo-terminal for a child process; collects what the child writes to it."""

    def __init__(self) -> None:
        self.controller, self.terminal = pty.openpty()
        self.output = b""
        self._changed = gevent.event.Event()
        self._reader = gevent.spawn(self._read)

    def _read(self) -> None:
        while True:
            try:
                gevent.socket.wait_read(self.controller)
                chunk = os.read(self.controller, 4096)
            except OSError:  # EIO: the child's side is closed
                chunk = b""
            if not chunk:
                return
            self.output += chunk
            self._changed.set()

    def wait_for(self, needle: bytes) -> None:
        with gevent.Timeout(WAIT, AssertionError(f"no {needle!r} in {self.output!r}")):
            while needle not in self.output:
                self._changed.clear()
                self._changed.wait()

    def close(self) -> None:
        self._reader.kill()
        for fd in (self.controller, self.terminal):
            try:
                os.close(fd)
            except OSError:
                pass


def test_shell_on_a_terminal_shows_a_hint_colours_and_ends_with_ctrl_d(node_server):
    tty = Terminal()
    process = subprocess.Popen(
        [sys.executable, "-m", "greensio", "shell", node_server.url],
        cwd=ROOT,
        stdin=tty.terminal,
        stdout=tty.terminal,
        stderr=tty.terminal,
        env={key: value for key, value in os.environ.items() if key != "NO_COLOR"},
    )
    try:
        tty.wait_for(b"Ctrl-D quits")
        os.write(tty.controller, b"--ack echo 1\n")
        tty.wait_for(b'{\x1b[1;34m"ack"\x1b[0m: \x1b[32m"echo"\x1b[0m, ')
        os.write(tty.controller, b"\x04")  # Ctrl-D: the end of input
        assert process.wait(WAIT) == 0, tty.output
        # the terminal is left blocking, as the shell that shares it expects
        assert not fcntl.fcntl(tty.terminal, fcntl.F_GETFL) & os.O_NONBLOCK
    finally:
        stop(process)
        tty.close()


def test_shell_reports_a_bad_line_sends_the_others_and_exits_2(node_server):
    result = run_shell(node_server.url, "--ack echo 1\necho hello\nconnect\n--ack echo 3\n")
    assert result.returncode == 2
    assert records(result.stdout) == [{"ack": "echo", "line": 1, "args": [1]}, {"ack": "echo", "line": 4, "args": [3]}]
    errors = result.stderr.splitlines()[1:]
    assert errors == [
        'greensio: error: line 2: invalid JSON argument at column 6: Expecting value (strings need quotes: "hello")',
        "greensio: error: line 3: 'connect' is a reserved event name",
    ]


def test_shell_exits_3_when_an_ack_does_not_come_in_time(node_server):
    # Nobody answers "unhandled": the server acks server_call after 5 s, past the shell's 1 s.
    result = run_shell(node_server.url, '--ack server_call "unhandled"\n--ack echo 2\n', "--timeout", "1")
    assert result.returncode == 3, result.stderr
    assert records(result.stdout) == [{"event": "unhandled", "args": []}, {"ack": "echo", "line": 2, "args": [2]}]
    assert "greensio: error: line 1: timeout: no ack for 'server_call' within 1 s" in result.stderr


def test_shell_exits_1_when_the_server_ends_the_connection(node_server):
    process = spawn_shell(node_server.url)
    try:
        assert process.stdin is not None
        stderr = LineReader(process.stderr)
        stderr.wait_for("connected ")
        process.stdin.write("disconnect_me\n")
        process.stdin.flush()
        assert process.wait(WAIT) == 1
        assert stderr.join()[-1] == "greensio: error: disconnected: io server disconnect"
    finally:
        stop(process)


def test_shell_exits_0_on_sigint(node_server):
    process = spawn_shell(node_server.url)
    try:
        stderr = LineReader(process.stderr)
        stderr.wait_for("connected ")
        process.send_signal(signal.SIGINT)
        assert process.wait(WAIT) == 0, stderr.join()
    finally:
        stop(process)


# -- listen --ack ----------------------------------------------------------------------------


def test_listen_answers_the_servers_call_with_ack_json(server):
    process = spawn_cli("listen", server.url, "--ack", '["any", {"json": null}]', "--count", "1")
    try:
        stdout, stderr = LineReader(process.stdout), LineReader(process.stderr)
        sid = stderr.wait_for("connected ").split()[1]
        with connect(server.url) as peer:
            # call_peer asks the listening socket for an ack and acks with what it answered
            assert peer.call("call_peer", sid, "question", 1, b"\x00", timeout=WAIT) == [["any", {"json": None}]]
        assert process.wait(WAIT) == 0, stderr.join()
        assert stdout.join() == ['{"event": "question", "args": [1, {"base64": "AA=="}]}']
    finally:
        stop(process)


# -- connection options --------------------------------------------------------------------


def test_headers_and_query_reach_the_server(server):
    result = run_cli(
        "emit",
        server.url,
        "whoami",
        "--ack",
        *("-H", "X-Token: abc", "-H", "X-Multi: 1", "--header", "x-multi: 2"),
        *("--query", "room=lobby", "--query", "empty="),
    )
    assert result.returncode == 0, result.stderr
    [who] = json.loads(result.stdout)
    assert (who["headers"]["x-token"], who["headers"]["x-multi"]) == ("abc", "1, 2")
    assert (who["query"]["room"], who["query"].get("empty", "")) == ("lobby", "")


@pytest.mark.parametrize("transports, first", [([], "polling"), (["--transports", "websocket"], "websocket")])
def test_the_default_transports_are_the_librarys_polling_then_websocket(node_server, transports, first):
    result = run_cli("emit", node_server.url, "whoami", "--ack", *transports)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["query"]["transport"] == first


def test_through_an_http_proxy(node_server):
    proxy = ConnectProxy("Basic " + base64.b64encode(b"user:pw").decode())
    try:
        proxy_url = proxy.url.replace("http://", "http://user:pw@")
        result = run_cli("emit", node_server.url, "echo", '"via proxy"', "--ack", "--proxy", proxy_url)
        assert (result.returncode, result.stdout) == (0, '["via proxy"]\n'), result.stderr
        assert proxy.requests and proxy.requests[0][0] == f"127.0.0.1:{node_server.port}"
    finally:
        proxy.stop()


@pytest.mark.parametrize("scheme", ["socks5", "socks5h"])
def test_through_a_socks5_proxy(node_server, tmp_path, scheme):
    socks = Pproxy(tmp_path / "pproxy.log")
    try:
        result = run_cli("emit", node_server.url, "echo", '"via socks"', "--ack", "--proxy", socks.url(scheme))
        assert (result.returncode, result.stdout) == (0, '["via socks"]\n'), result.stderr
        assert f"127.0.0.1:{node_server.port}" in socks.targets(0)
    finally:
        socks.stop()


@pytest.mark.skipif(importlib.util.find_spec("msgpack") is None, reason="msgpack is not installed")
def test_the_msgpack_parser(start_server):
    srv = start_server("node", parser="msgpack")
    result = run_cli("emit", srv.url, "echo", '{"n": 1.5}', '"é"', "--ack", "--parser", "msgpack")
    assert (result.returncode, json.loads(result.stdout)) == (0, [{"n": 1.5}, "é"]), result.stderr


def test_a_wrong_path_exits_1_with_the_http_status(node_server):
    result = run_cli("emit", node_server.url, "echo", "--path", "/wrong", "--timeout", "10")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("greensio: error: connection failed: ") and "404" in line, line


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A python-socketio server in this process over TLS, one asking for a client certificate, and the PEM files."""
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    files = {name: str(folder / f"{name}.pem") for name in ("ca", "server", "client_cert", "client_key")}
    ca.cert_pem.write_to_path(files["ca"])
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(files["server"])
    client = ca.issue_cert("cli@example.org")
    client.cert_chain_pems[0].write_to_path(files["client_cert"])
    client.private_key_pem.write_to_path(files["client_key"])
    sio_server = socketio.Server(async_mode="gevent")
    sio_server.on("whoami", lambda sid: {"sid": sid})
    app = socketio.WSGIApp(sio_server)
    tls_options = {"certfile": files["server"], "keyfile": files["server"]}
    mutual = {**tls_options, "ca_certs": files["ca"], "cert_reqs": ssl.CERT_REQUIRED}
    servers = [
        pywsgi.WSGIServer(("127.0.0.1", 0), app, handler_class=WebSocketHandler, log=None, **options)
        for options in (tls_options, mutual)
    ]
    for http in servers:
        http.start()
    yield (
        {
            "url": f"https://127.0.0.1:{servers[0].server_port}",
            "mtls_url": f"https://127.0.0.1:{servers[1].server_port}",
        },
        files,
    )
    for http in servers:
        http.stop()


# TLS over polling: WebSocket over TLS fails without monkey patching (the CLI's case), see below.
POLLING = ("--transports", "polling")


def test_tls_with_a_custom_ca(tls):
    urls, files = tls
    result = run_cli("emit", urls["url"], "whoami", "--ack", "--ca", files["ca"], *POLLING)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["sid"]


@pytest.mark.parametrize("transports", [POLLING, ("--transports", "websocket")], ids=["polling", "websocket"])
def test_tls_is_verified_unless_insecure(tls, transports):
    urls, _ = tls
    result = run_cli("emit", urls["url"], "whoami", "--ack", *transports)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    expected = "TLS: the certificate of 127.0.0.1 is not trusted (unable to get local issuer certificate)"
    assert line == f"greensio: error: connection failed: {expected}", line
    result = run_cli("emit", urls["url"], "whoami", "--ack", "--insecure", *POLLING)
    assert result.returncode == 0, result.stderr


def test_tls_with_a_client_certificate(tls):
    urls, files = tls
    with_cert = ["--ca", files["ca"], "--cert", files["client_cert"], "--key", files["client_key"]]
    result = run_cli("emit", urls["mtls_url"], "whoami", "--ack", *with_cert, *POLLING)
    assert result.returncode == 0, result.stderr
    result = run_cli("emit", urls["mtls_url"], "whoami", "--ack", "--ca", files["ca"], "--timeout", "10", *POLLING)
    assert result.returncode == 1, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("greensio: error: connection failed: "), line


def test_tls_over_websocket_in_the_cli_which_does_not_monkey_patch(tls):
    urls, files = tls
    result = run_cli("emit", urls["url"], "whoami", "--ack", "--ca", files["ca"], "--transports", "websocket")
    assert result.returncode == 0, result.stderr


# -- output and logs -------------------------------------------------------------------------


def test_verbose_prints_the_librarys_info_lines_on_stderr(node_server):
    result = run_cli("emit", node_server.url, "echo", "--ack", "-v")
    assert result.returncode == 0, result.stderr
    info = [line for line in result.stderr.splitlines() if line.startswith("greensio: INFO greensio: ")]
    assert any("connected" in line for line in info), result.stderr
    assert not any(" DEBUG " in line for line in result.stderr.splitlines())


def test_very_verbose_prints_debug_lines(node_server):
    result = run_cli("emit", node_server.url, "echo", "--ack", "-vv")
    assert result.returncode == 0, result.stderr
    assert any(line.startswith("greensio: DEBUG greensio: ") for line in result.stderr.splitlines()), result.stderr


def test_timestamps_prefix_output_and_status_lines(node_server):
    result = run_cli("listen", node_server.url, "--auth", '{"welcome": true}', "--count", "1", "--timestamps")
    assert result.returncode == 0, result.stderr
    [(when, record)] = [line.split(" ", 1) for line in result.stdout.splitlines()]
    assert json.loads(record) == {"event": "welcome", "args": ["hi"]}
    stamp = datetime.datetime.fromisoformat(when)
    assert abs(stamp - datetime.datetime.now(datetime.timezone.utc)) < datetime.timedelta(seconds=RUN_TIMEOUT)
    assert datetime.datetime.fromisoformat(result.stderr.split(" ", 1)[0]) <= stamp


def test_pretty_coloured_output_on_a_terminal(node_server):
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "greensio", "emit", node_server.url, "echo", '{"k": "v"}', "--ack"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=subprocess.PIPE,
        env={key: value for key, value in os.environ.items() if key != "NO_COLOR"},
    )
    os.close(terminal)
    output = b""
    try:
        assert process.stderr is not None
        assert process.wait(RUN_TIMEOUT) == 0, process.stderr.read()
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the terminal's other side is closed and drained
                break
            if not chunk:
                break
            output += chunk
    finally:
        stop(process)
        os.close(controller)
    assert output.decode() == '[{\x1b[1;34m"k"\x1b[0m: \x1b[32m"v"\x1b[0m}]\r\n'
