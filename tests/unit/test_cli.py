"""The command line without a server: arguments, usage errors, options, TLS contexts, output, stdin lines.

Against real servers: tests/integration/test_cli.py.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
import resource
import ssl
import time
from pathlib import Path
from typing import Any, Iterator

import gevent
import pytest
import trustme
from gevent.monkey import get_original

from greensio import cli
from greensio.cli._args import UsageError, parse_args
from greensio.cli._connection import socket_options, target
from greensio.cli._output import Printer, jsonable, render_pretty, timestamp, to_json, use_pretty
from greensio.cli._shell import Line, LineError, parse_line
from greensio.cli._stdin import LineReader

URL = "http://127.0.0.1:1"
# Monkey-patched (when the integration tests ran first in this process) os.close waits for the hub's
# next loop iteration; these tests need the descriptor closed at once.
close_now = get_original("os", "close")

# -- output ------------------------------------------------------------------------------


def test_binary_anywhere_in_the_arguments_prints_as_base64_objects() -> None:
    line = to_json({"event": "e", "args": [b"\x00\xff", {"k": [bytearray(b"ab"), memoryview(b"")]}, "text", 1]})
    assert json.loads(line) == {
        "event": "e",
        "args": [{"base64": "AP8="}, {"k": [{"base64": "YWI="}, {"base64": ""}]}, "text", 1],
    }
    assert "\n" not in line


def test_non_ascii_text_is_printed_as_is() -> None:
    assert to_json(["é", "☃"]) == '["é", "☃"]'


def test_values_json_cannot_hold_are_converted_not_fatal() -> None:
    moment = datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)
    value = {"t": (1, 2), 3: "int key", b"k": "bytes key", "when": moment, "other": frozenset()}
    assert jsonable(value) == {
        "t": [1, 2],
        "3": "int key",
        '{"base64": "aw=="}': "bytes key",
        "when": "2024-05-06T07:08:09+00:00",
        "other": "frozenset()",
    }


def test_pretty_output_keeps_what_fits_on_one_line() -> None:
    assert (
        render_pretty({"event": "e", "args": [1, "x", None]}, color=False) == '{"event": "e", "args": [1, "x", null]}'
    )


def test_pretty_output_indents_what_does_not_fit() -> None:
    long = "x" * 70
    value = {"event": "e", "args": [long, {"k": [1, 2]}, []]}
    text = render_pretty(value, color=False)
    assert text == "\n".join(
        [
            "{",
            '  "event": "e",',
            '  "args": [',
            f'    "{long}",',
            '    {"k": [1, 2]},',
            "    []",
            "  ]",
            "}",
        ]
    )
    assert json.loads(text) == value


def test_pretty_output_colours_keys_strings_and_other_scalars() -> None:
    text = render_pretty({"a": ["s", 1, True, None]}, color=True)
    key, string, scalar, reset = "\x1b[1;34m", "\x1b[32m", "\x1b[33m", "\x1b[0m"
    assert text == (
        f'{{{key}"a"{reset}: [{string}"s"{reset}, {scalar}1{reset}, {scalar}true{reset}, {scalar}null{reset}]}}'
    )


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize(
    "output_format, tty, environ, expected",
    [
        ("auto", True, {}, (True, True)),
        ("auto", False, {}, (False, False)),
        ("auto", True, {"NO_COLOR": "1"}, (True, False)),
        ("pretty", False, {}, (True, False)),
        ("json", True, {}, (False, False)),
    ],
)
def test_pretty_and_colour_on_a_terminal_unless_told_otherwise(
    output_format: str, tty: bool, environ: dict[str, str], expected: tuple[bool, bool]
) -> None:
    assert use_pretty(output_format, _Stream(tty), environ) == expected


@pytest.fixture
def local_zone_utc_plus_2(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "XYZ-2")  # POSIX: a zone 2 hours east of UTC, no daylight saving
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_timestamps_are_local_iso_8601_with_milliseconds_and_offset(local_zone_utc_plus_2: None) -> None:
    utc = datetime.datetime(2024, 5, 6, 5, 8, 9, 123456, tzinfo=datetime.timezone.utc)
    assert timestamp(utc) == "2024-05-06T07:08:09.123+02:00"
    now = datetime.datetime.fromisoformat(timestamp())
    assert now.utcoffset() == datetime.timedelta(hours=2)
    assert abs(now - datetime.datetime.now(datetime.timezone.utc)) < datetime.timedelta(seconds=5)


def test_the_printer_writes_json_lines_and_status_lines_with_timestamps_on_request() -> None:
    out, err = io.StringIO(), io.StringIO()
    printer = Printer(timestamps=True, stdout=out, stderr=err, clock=lambda: "T")
    printer.record({"event": "e", "args": [1]})
    printer.status("connected abc")
    assert out.getvalue() == 'T {"event": "e", "args": [1]}\n'
    assert err.getvalue() == "T connected abc\n"
    plain = io.StringIO()
    Printer(stdout=plain).record([1])
    assert plain.getvalue() == "[1]\n"


def test_the_printer_dims_the_timestamp_of_coloured_output() -> None:
    out = io.StringIO()
    Printer(pretty=True, color=True, timestamps=True, stdout=out, clock=lambda: "T").record(None)
    assert out.getvalue() == "\x1b[2mT\x1b[0m \x1b[33mnull\x1b[0m\n"


def test_a_closed_stdout_stops_the_printer_once() -> None:
    read_end, write_end = os.pipe()
    close_now(read_end)
    stream = os.fdopen(write_end, "w")
    closed: list[bool] = []
    printer = Printer(stdout=stream)
    printer.on_closed = lambda: closed.append(True)
    try:
        printer.record("lost")
        printer.record("dropped")
        assert printer.closed and closed == [True]
        assert os.readlink(f"/proc/self/fd/{write_end}") == os.devnull  # later flushes go nowhere, quietly
    finally:
        stream.close()


# -- arguments --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["emit", URL, "connect", "1"], "'connect' is a reserved event name"),
        (["emit", URL, "e", "{bad"], "invalid JSON '{bad'"),
        (["emit", URL, "e", "hello"], "quote strings"),
        (["emit", URL, "e", "--bogus"], "unrecognized arguments: --bogus"),
        (["listen", URL, "-H", "no colon"], "expected 'Name: value'"),
        (["listen", URL, "-H", "bad name: v"], "expected 'Name: value'"),
        (["listen", URL, "--query", "novalue"], "expected key=value"),
        (["listen", URL, "--query", "=v"], "expected key=value"),
        (["listen", URL, "--auth", "[1]"], "expected a JSON object"),
        (["listen", URL, "--ack", "nope"], "invalid JSON 'nope'"),
        (["listen", URL, "--transports", "websocket,websocket"], "--transports"),
        (["listen", URL, "--transports", "carrier-pigeon"], "--transports"),
        (["listen", URL, "--parser", "xml"], "invalid choice: 'xml'"),
        (["listen", URL, "--format", "yaml"], "invalid choice: 'yaml'"),
        (["listen", URL, "--count", "0"], "positive integer"),
        (["listen", URL, "--timeout", "-1"], "positive number of seconds"),
        (["emit", URL, "e", "--timeout", "0"], "positive number of seconds"),
        (["emit", URL, "e", "--linger", "-1"], "0 or more"),
        (["shell", URL, "--timeout", "inf"], "positive number of seconds"),
        (["listen", URL, "--insecure"], "--insecure needs an https:// or wss:// URL"),
        (["listen", "https://h", "--key", "k.pem"], "--key needs --cert"),
        (["listen", "https://h", "--ca", "/no/such/ca.pem"], "--ca /no/such/ca.pem: [Errno 2]"),
        (["listen", "ftp://127.0.0.1:1"], "http(s):// or ws(s):// URL"),
        (["emit", URL, "e", "--proxy", "ftp://proxy:1"], "proxy"),
        (["shout", URL], "invalid choice: 'shout'"),
        ([], "required"),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_no_traceback(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("greensio"), err
    assert "error: " in err and message in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["shell", "--help"]])
def test_help_and_version_exit_0(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 0
    assert capsys.readouterr().out


def test_every_command_takes_the_common_options() -> None:
    common = ["-H", "A: 1", "--query", "k=v", "--auth", "{}", "--path", "/p", "-n", "/chat", "-t", "-vv"]
    for argv in (["listen", URL], ["emit", URL, "e"], ["shell", URL]):
        args = parse_args([*argv, *common, "--format", "json", "--parser", "msgpack", "--proxy", "http://p:1"])
        assert (args.headers, args.query, args.auth, args.path, args.namespace) == (
            [("A", "1")],
            [("k", "v")],
            {},
            "/p",
            "/chat",
        )
        assert (args.timestamps, args.verbose, args.format, args.parser, args.proxy) == (
            True,
            2,
            "json",
            "msgpack",
            "http://p:1",
        )


def test_ack_means_ask_for_one_in_emit_and_answer_with_json_in_listen_and_shell() -> None:
    assert parse_args(["emit", URL, "e", "1", "--ack"]).ack is True
    assert parse_args(["listen", URL, "--ack", '{"ok": [1]}']).answer == {"ok": [1]}
    assert parse_args(["shell", URL, "--ack", "null"]).answer is None  # JSON null: the ack has one null argument
    assert parse_args(["shell", URL]).answer is None


def _options(*argv: str) -> dict[str, Any]:
    args = parse_args(["emit", *argv])
    return socket_options(args, connect_timeout=5)


def test_socket_options_never_reconnect_and_leave_the_transports_to_the_library() -> None:
    options = _options(URL, "e")
    assert options == {
        "auth": None,
        "path": "/socket.io",
        "parser": "default",
        "reconnection": False,
        "force_new": True,
        "auto_connect": False,
        "timeout": 6,
    }
    assert _options(URL, "e", "--transports", "websocket")["transports"] == ["websocket"]
    assert _options(URL, "e", "--transports", "polling, websocket")["transports"] == ["polling", "websocket"]
    assert _options(URL, "e", "--proxy", "socks5h://u:p@h:1080")["proxy"] == "socks5h://u:p@h:1080"


def test_headers_are_name_colon_value_and_repeated_names_are_combined() -> None:
    options = _options(
        URL,
        "e",
        *("-H", "X-A: 1", "-H", "x-a:2", "-H", "Authorization: Bearer a:b", "-H", "X-Empty:"),
        *("--header", "Cookie: a=1", "-H", "cookie: b=2"),
    )
    assert options["extra_headers"] == {
        "X-A": "1, 2",
        "Authorization": "Bearer a:b",
        "X-Empty": "",
        "Cookie": "a=1; b=2",
    }


def test_query_parameters_are_key_equals_value_and_the_last_one_wins() -> None:
    options = _options(URL, "e", "--query", "room=1", "--query", "q=a=b", "--query", "room=2", "--query", "empty=")
    assert options["query"] == {"room": "2", "q": "a=b", "empty": ""}


def test_auth_is_a_json_object() -> None:
    assert _options(URL, "e", "--auth", '{"token": "t", "n": [1]}')["auth"] == {"token": "t", "n": [1]}


def test_the_namespace_option_replaces_the_url_path() -> None:
    assert target("http://h:1/a?x=1", "/chat") == "http://h:1/chat?x=1"
    assert target("http://h:1", "chat") == "http://h:1/chat"
    assert target("http://h:1/a", None) == "http://h:1/a"


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def pki(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pki")
    client = ca.issue_cert("client@example.org")
    files = {name: folder / f"{name}.pem" for name in ("ca", "cert", "key", "both")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    client.cert_chain_pems[0].write_to_path(str(files["cert"]))
    client.private_key_pem.write_to_path(str(files["key"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(files["both"]))
    return files


def _context(*options: str) -> ssl.SSLContext:
    context = parse_args(["listen", "https://127.0.0.1:1", *options]).ssl_context
    assert isinstance(context, ssl.SSLContext)
    return context


def _handshake(client_context: ssl.SSLContext, ca: trustme.CA) -> Any:
    """A TLS handshake in memory with a server for "localhost" that requires a client certificate;
    returns the client certificate the server saw."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    ca.configure_trust(server_context)
    server_context.verify_mode = ssl.CERT_REQUIRED
    wires = [ssl.MemoryBIO() for _ in range(4)]  # client in/out, server in/out
    client = client_context.wrap_bio(wires[0], wires[1], server_hostname="localhost")
    server = server_context.wrap_bio(wires[2], wires[3], server_side=True)
    done = {id(client): False, id(server): False}
    for _ in range(10):
        for side in (client, server):
            try:
                side.do_handshake()
                done[id(side)] = True
            except ssl.SSLWantReadError:
                pass
        wires[2].write(wires[1].read())
        wires[0].write(wires[3].read())
        if all(done.values()):
            return server.getpeercert()
    raise AssertionError("no handshake")


def test_without_tls_options_the_library_makes_its_verifying_context() -> None:
    assert parse_args(["listen", "https://127.0.0.1:1"]).ssl_context is None


def test_ca_replaces_the_system_trust_store(pki: dict[str, Path]) -> None:
    context = _context("--ca", str(pki["ca"]))
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_REQUIRED, True)
    assert context.get_ca_certs(binary_form=True) == [ssl.PEM_cert_to_DER_cert(pki["ca"].read_text())]


def test_insecure_turns_verification_off() -> None:
    context = _context("--insecure")
    assert (context.verify_mode, context.check_hostname) == (ssl.CERT_NONE, False)


@pytest.mark.parametrize("files", [("cert", "key"), ("both", None)], ids=["cert-and-key", "combined"])
def test_a_client_certificate_goes_into_the_context(
    ca: trustme.CA, pki: dict[str, Path], files: tuple[str, Any]
) -> None:
    cert, key = files
    options = ["--ca", str(pki["ca"]), "--cert", str(pki[cert])] + (["--key", str(pki[key])] if key else [])
    seen = _handshake(_context(*options), ca)
    assert seen["subjectAltName"] == (("email", "client@example.org"),)


def test_without_a_client_certificate_such_a_server_refuses(ca: trustme.CA, pki: dict[str, Path]) -> None:
    with pytest.raises(ssl.SSLError):
        _handshake(_context("--ca", str(pki["ca"])), ca)


def test_a_certificate_without_its_key_is_a_usage_error(
    pki: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["listen", "https://127.0.0.1:1", "--cert", str(pki["cert"])]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"greensio listen: error: --cert {pki['cert']}: ") and err.count("\n") == 1


def test_a_wrong_key_is_a_usage_error(pki: dict[str, Path]) -> None:
    with pytest.raises(UsageError, match="--cert .* --key"):
        parse_args(["listen", "https://h", "--cert", str(pki["cert"]), "--key", str(pki["ca"])])


# -- logging ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "verbosity, level", [(0, logging.ERROR), (1, logging.INFO), (2, logging.DEBUG), (5, logging.DEBUG)]
)
def test_verbose_sets_the_level_of_the_greensio_logger_and_is_undone(verbosity: int, level: int) -> None:
    logger = logging.getLogger("greensio")
    before = (logger.level, logger.propagate, list(logger.handlers))
    undo = cli._log_to_stderr(verbosity, timestamps=False)
    try:
        assert logger.level == level and len(logger.handlers) == len(before[2]) + 1
    finally:
        undo()
    assert (logger.level, logger.propagate, list(logger.handlers)) == before


@pytest.mark.parametrize(
    "verbosity, shown",
    [(0, ["ERROR"]), (1, ["INFO", "WARNING", "ERROR"]), (2, ["DEBUG", "INFO", "WARNING", "ERROR"])],
)
def test_verbose_shows_the_greensio_loggers_records_on_stderr(
    verbosity: int, shown: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    undo = cli._log_to_stderr(verbosity, timestamps=False)
    try:
        for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR):
            logging.getLogger("greensio").log(level, "at %s", logging.getLevelName(level))
        logging.getLogger("other").warning("not ours")
    finally:
        undo()
    assert capsys.readouterr().err.splitlines() == [f"greensio: {name} greensio: at {name}" for name in shown]


def test_log_lines_carry_the_timestamp_on_request() -> None:
    record = logging.LogRecord("greensio", logging.INFO, __file__, 1, "connected %s", ("x",), None)
    assert cli._LogFormatter(timestamps=False).format(record) == "greensio: INFO greensio: connected x"
    stamped = cli._LogFormatter(timestamps=True).format(record)
    when, rest = stamped.split(" ", 1)
    assert rest == "greensio: INFO greensio: connected x" and datetime.datetime.fromisoformat(when)


# -- shell lines -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, line",
    [
        ("echo", Line("echo", [])),
        ('echo 1 "two" {"k": [null, true]} [] -2.5e3\n', Line("echo", [1, "two", {"k": [None, True]}, [], -2500.0])),
        ('  chat:message   "hi there"  ', Line("chat:message", ["hi there"])),
        ('"event with spaces" 1', Line("event with spaces", [1])),
        ("--ack echo 1", Line("echo", [1], ack=True)),
        ("--ack\techo", Line("echo", [], ack=True)),
        ("--acknowledge 1", Line("--acknowledge", [1])),
        ('echo "a#b"', Line("echo", ["a#b"])),
        ("", None),
        ("   \n", None),
        ("# a comment", None),
    ],
)
def test_a_line_is_an_event_and_json_arguments(text: str, line: Line | None) -> None:
    assert parse_line(text) == line


@pytest.mark.parametrize(
    "text, message",
    [
        ("echo hello", "invalid JSON argument at column 6: Expecting value (strings need quotes"),
        ("echo 1,2", "separate the JSON arguments with spaces (column 7)"),
        ('echo "a"b', "separate the JSON arguments with spaces (column 9)"),
        ('echo {"k": ', "invalid JSON argument at column"),
        ("--ack", "--ack needs an event name"),
        ("--ack   ", "--ack needs an event name"),
        ('"unterminated 1', "invalid event name at column 1"),
        ('"e"1', "separate the event name from the arguments with a space (column 4)"),
        ("connect", "'connect' is a reserved event name"),
        ("--ack disconnect", "'disconnect' is a reserved event name"),
    ],
)
def test_a_bad_line_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(LineError) as caught:
        parse_line(text)
    assert message in str(caught.value)


# -- stdin ---------------------------------------------------------------------------------


class Pipe:
    """An OS pipe whose ends are closed once, by the test or at teardown."""

    def __init__(self) -> None:
        self.read, self.write = os.pipe()
        self._open = {self.read, self.write}

    def close(self, fd: int) -> None:
        if fd in self._open:
            self._open.discard(fd)
            close_now(fd)

    def close_all(self) -> None:
        for fd in list(self._open):
            self.close(fd)


@pytest.fixture
def pipe() -> Iterator[Pipe]:
    pipe = Pipe()
    yield pipe
    pipe.close_all()


def test_waiting_for_stdin_does_not_block_the_hub(pipe: Pipe) -> None:
    reader = LineReader(pipe.read)
    ticks: list[int] = []

    def tick() -> None:
        while True:
            ticks.append(1)
            gevent.sleep(0.001)

    ticker = gevent.spawn(tick)
    waiting = gevent.spawn(reader.readline)
    try:
        with gevent.Timeout(5):
            while len(ticks) < 20:  # the other greenlet runs while the reader waits
                gevent.sleep(0.001)
        assert not waiting.ready()
        os.write(pipe.write, b"echo 1\npartial")
        assert waiting.get(timeout=5) == b"echo 1\n"
        pipe.close(pipe.write)
        assert gevent.spawn(reader.readline).get(timeout=5) == b"partial"  # the last line needs no newline
        assert gevent.spawn(reader.readline).get(timeout=5) is None
    finally:
        gevent.killall([ticker, waiting])


def test_lines_split_across_reads_and_several_lines_in_one_read(pipe: Pipe) -> None:
    reader = LineReader(pipe.read)
    os.write(pipe.write, b"a 1\nb ")
    assert reader.readline() == b"a 1\n"
    os.write(pipe.write, b"2\nc\n\nd\n")
    pipe.close(pipe.write)
    assert list(reader) == [b"b 2\n", b"c\n", b"\n", b"d\n"]


def test_a_regular_file_and_dev_null_are_read_directly(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_bytes(b"x\n" * 50_000 + b"last")
    fd = os.open(path, os.O_RDONLY)
    try:
        lines = list(LineReader(fd))
    finally:
        close_now(fd)
    assert len(lines) == 50_001 and lines[-1] == b"last"
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        assert LineReader(null).readline() is None
    finally:
        close_now(null)


def test_a_closed_stdin_is_the_end_of_input() -> None:
    _, hard_limit = resource.getrlimit(resource.RLIMIT_NOFILE)
    never_open = hard_limit if hard_limit != resource.RLIM_INFINITY else 2**30  # no descriptor can have it
    assert LineReader(never_open).readline() is None
