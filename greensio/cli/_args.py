"""The command line's grammar: commands, options, and the checks that turn bad input into usage errors."""

from __future__ import annotations

import argparse
import json
import math
import re
import ssl
import sys
from typing import Any, NoReturn, Optional, Sequence

import greensio
from greensio._core.sio import RESERVED_EVENTS

__all__ = ["UsageError", "build_parser", "headers", "parse_args", "ssl_context"]

CONNECT_TIMEOUT = 20.0  # seconds, when --timeout does not say otherwise
# Socket.IO servers run event handlers asynchronously (Node on the next tick, python-socketio in a
# task) and drop an event whose socket has gone by then: an EVENT followed at once by the DISCONNECT
# is lost. Without an ack nothing tells the client the event was handled, so it stays a little.
LINGER = 0.2  # seconds
TRANSPORTS = ("polling", "websocket")
FORMATS = ("auto", "json", "pretty")
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP header name (RFC 9110 token)


class UsageError(Exception):
    """Bad command line input: exit code 2, its one line on stderr (``PROG: error: MESSAGE``)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump) raised as UsageError."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


# -- argument types ------------------------------------------------------------------


def json_value(text: str) -> Any:
    """A JSON argument."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"invalid JSON {text!r} ({exc}); quote strings, e.g. '\"hello\"'") from None


def _json_object(text: str) -> dict[str, Any]:
    value = json_value(text)
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _event(text: str) -> str:
    if text in RESERVED_EVENTS:
        raise argparse.ArgumentTypeError(f"{text!r} is a reserved event name ({', '.join(sorted(RESERVED_EVENTS))})")
    return text


def _transports(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or not set(names) <= set(TRANSPORTS) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {','.join(TRANSPORTS)}, got {text!r}")
    return names


def _header(text: str) -> tuple[str, str]:
    name, colon, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not colon or not _TOKEN.fullmatch(name):
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    if "\r" in value or "\n" in value:
        raise argparse.ArgumentTypeError(f"header {name!r} contains CR or LF")
    return name, value


def _query(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    return key, value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _seconds(text: str) -> float:
    value = _number(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _non_negative_seconds(text: str) -> float:
    value = _number(text)
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"expected a number of seconds (0 or more), got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


# -- the parser ------------------------------------------------------------------------


def _common_options() -> _Parser:
    common = _Parser(add_help=False)
    common.add_argument("url", metavar="URL", help="server URL, e.g. http://localhost:3000 (its path is the namespace)")
    connection = common.add_argument_group("connection")
    connection.add_argument("--namespace", "-n", metavar="NS", help="namespace, e.g. /chat (replaces the URL's path)")
    connection.add_argument("--auth", type=_json_object, metavar="JSON", help="CONNECT auth payload, a JSON object")
    connection.add_argument(
        "-H",
        "--header",
        dest="headers",
        type=_header,
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="extra HTTP header of the handshake requests (repeatable)",
    )
    connection.add_argument(
        "--query",
        type=_query,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="query parameter of the handshake requests (repeatable; the URL's own query wins)",
    )
    connection.add_argument(
        "--transports",
        type=_transports,
        metavar="LIST",
        help="comma-separated transports in order (default: polling,websocket: polling, then the upgrade)",
    )
    connection.add_argument("--path", default="/socket.io", help="the server's Socket.IO path (default: /socket.io)")
    connection.add_argument(
        "--proxy", metavar="URL", help="proxy: http://[user:pass@]host:port (CONNECT), socks5:// or socks5h://"
    )
    connection.add_argument("--parser", choices=("default", "msgpack"), default="default", help="packet encoding")
    tls = common.add_argument_group("TLS (https:// and wss:// URLs)")
    tls.add_argument("--insecure", "-k", action="store_true", help="do not verify the server's certificate")
    tls.add_argument("--ca", metavar="FILE", help="trust the CAs in this PEM file instead of the system's")
    tls.add_argument("--cert", metavar="FILE", help="client certificate (PEM; may hold the key too)")
    tls.add_argument("--key", metavar="FILE", help="private key of --cert (PEM)")
    output = common.add_argument_group("output")
    output.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="json: one JSON line per result; pretty: indented (coloured on a terminal); auto (default): "
        "pretty on a terminal, else json",
    )
    output.add_argument("--timestamps", "-t", action="store_true", help="prefix each line with the local time")
    output.add_argument(
        "--verbose", "-v", action="count", default=0, help="log the client's INFO messages to stderr (-vv: DEBUG)"
    )
    return common


def _answer_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ack",
        dest="answer",
        type=json_value,
        metavar="JSON",
        help="when the server asks for an ack (its call()), answer with this value (one argument)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``greensio`` argument parser."""
    common = _common_options()
    parser = _Parser(
        prog="greensio",
        description="A Socket.IO client (protocol v5) on the command line.",
        epilog="exit codes: 0 ok, 1 connection failed or lost, 2 usage error, 3 timeout",
    )
    parser.add_argument("--version", action="version", version=f"greensio {greensio.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    listen = commands.add_parser(
        "listen",
        parents=[common],
        help="print incoming events",
        description="Print each incoming event until --count events arrived or SIGINT/SIGTERM.",
    )
    listen.add_argument("--count", type=_positive_int, metavar="N", help="exit 0 after N events")
    _answer_option(listen)
    listen.add_argument(
        "--timeout",
        type=_seconds,
        metavar="S",
        help=f"deadline in seconds for connecting and, with --count, for the N events "
        f"(default: {CONNECT_TIMEOUT:g} s to connect, then no limit)",
    )

    emit = commands.add_parser(
        "emit",
        parents=[common],
        help="send one event",
        description="Send one event; each JSON_ARG is one argument, parsed as JSON.",
    )
    emit.add_argument("event", metavar="EVENT", type=_event)
    emit.add_argument("args", metavar="JSON_ARG", nargs="*", type=json_value)
    emit.add_argument("--ack", action="store_true", help="ask for an ack and print its arguments as a JSON list")
    _linger_option(emit, "after sending")
    emit.add_argument(
        "--timeout",
        type=_seconds,
        default=CONNECT_TIMEOUT,
        metavar="S",
        help=f"deadline in seconds for the whole command, ack included (default: {CONNECT_TIMEOUT:g})",
    )

    shell = commands.add_parser(
        "shell",
        parents=[common],
        help="send the events read from stdin, print what comes back",
        description="Read lines 'EVENT [JSON_ARG ...]' from stdin and emit each; '--ack EVENT [JSON_ARG ...]' "
        'also asks for an ack, printed as {"ack": EVENT, "line": N, "args": [...]}. Incoming events are '
        "printed as they arrive. Blank lines and lines starting with # are skipped; an event name with spaces "
        "is written as a JSON string. Exits at the end of stdin, once the acks asked for came.",
    )
    _answer_option(shell)
    _linger_option(shell, "at the end of stdin (once the acks came)")
    shell.add_argument(
        "--timeout",
        type=_seconds,
        default=CONNECT_TIMEOUT,
        metavar="S",
        help=f"deadline in seconds for connecting, and for each ack (default: {CONNECT_TIMEOUT:g})",
    )
    return parser


def _linger_option(parser: argparse.ArgumentParser, when: str) -> None:
    parser.add_argument(
        "--linger",
        type=_non_negative_seconds,
        default=LINGER,
        metavar="S",
        help=f"stay connected S seconds {when} (default: {LINGER:g}): servers drop an event that arrives "
        "together with the disconnect, and late events still get printed",
    )


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The parsed command line; raises UsageError (or SystemExit for --help and --version)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if extra:
        prog = f"{parser.prog} {args.command}"
        raise UsageError(f"{prog}: error: unrecognized arguments: {' '.join(extra)} (see {prog} --help)")
    try:
        if args.key is not None and args.cert is None:
            raise ValueError("--key needs --cert")
        tls_options = [name for name in ("insecure", "ca", "cert") if getattr(args, name)]
        if tls_options and not args.url.lower().startswith(("https:", "wss:")):
            raise ValueError(f"--{tls_options[0]} needs an https:// or wss:// URL")
        args.ssl_context = ssl_context(args)
    except ValueError as exc:
        raise UsageError(f"greensio {args.command}: error: {exc}") from None
    return args


def ssl_context(args: argparse.Namespace) -> Optional[ssl.SSLContext]:
    """The TLS context the options ask for, or None for the library's default (verifying) one.

    Raises ValueError naming the option whose file could not be loaded.
    """
    if not (args.insecure or args.ca or args.cert):
        return None
    try:
        context = ssl.create_default_context(cafile=args.ca)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"--ca {args.ca}: {exc}") from None
    if args.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if args.cert:
        try:
            context.load_cert_chain(args.cert, args.key)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"--cert {args.cert}{f' --key {args.key}' if args.key else ''}: {exc}") from None
    return context


def headers(pairs: Sequence[tuple[str, str]]) -> Optional[dict[str, str]]:
    """``-H`` options as a dict; a repeated name (any case) is combined, as HTTP allows (Cookie with ';')."""
    if not pairs:
        return None
    combined: dict[str, str] = {}
    names: dict[str, str] = {}  # lower-case name -> the spelling first given
    for name, value in pairs:
        first = names.setdefault(name.lower(), name)
        if first in combined:
            separator = "; " if name.lower() == "cookie" else ", "
            combined[first] = combined[first] + separator + value
        else:
            combined[first] = value
    return combined
