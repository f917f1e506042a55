"""What the command prints: JSON lines, or indented and coloured JSON on a terminal, optionally timestamped."""

from __future__ import annotations

import base64
import datetime
import json
import os
import sys
from typing import Any, Callable, Mapping, Optional, TextIO

__all__ = ["Printer", "jsonable", "render_pretty", "timestamp", "to_json", "use_pretty"]

WIDTH = 80  # a container whose compact form fits in this many columns stays on one line
INDENT = "  "
# ANSI colours (SGR codes) of pretty output
KEY, STRING, SCALAR, DIM, RESET = "\x1b[1;34m", "\x1b[32m", "\x1b[33m", "\x1b[2m", "\x1b[0m"


def jsonable(value: Any) -> Any:
    """``value`` with what JSON cannot hold replaced: bytes by ``{"base64": ...}``, tuples by lists,
    non-string keys by strings, datetimes by ISO 8601 text, anything else by its ``repr()``."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, Mapping):
        return {key if isinstance(key, str) else to_json(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return repr(value)


def to_json(value: Any) -> str:
    """``value`` as one line of JSON (see ``jsonable`` for what is not JSON)."""
    return json.dumps(jsonable(value), ensure_ascii=False, separators=(", ", ": "))


def render_pretty(value: Any, color: bool, indent: str = "") -> str:
    """``value`` as indented JSON; a list or object that fits on the line stays on it."""
    value = jsonable(value)
    compact = to_json(value)
    if not isinstance(value, (list, dict)) or not value or len(indent) + len(compact) <= WIDTH:
        return _paint(value, color) if isinstance(value, (list, dict)) else _scalar(value, color)
    inner = indent + INDENT
    if isinstance(value, list):
        items = [inner + render_pretty(item, color, inner) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    entries = [f"{inner}{_key(key, color)}: {render_pretty(item, color, inner)}" for key, item in value.items()]
    return "{\n" + ",\n".join(entries) + "\n" + indent + "}"


def _paint(value: Any, color: bool) -> str:
    """A JSON value on one line, coloured."""
    if isinstance(value, list):
        return "[" + ", ".join(_paint(item, color) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(key, color)}: {_paint(item, color)}" for key, item in value.items()) + "}"
    return _scalar(value, color)


def _key(key: str, color: bool) -> str:
    text = json.dumps(key, ensure_ascii=False)
    return f"{KEY}{text}{RESET}" if color else text


def _scalar(value: Any, color: bool) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if not color:
        return text
    return f"{STRING if isinstance(value, str) else SCALAR}{text}{RESET}"


def use_pretty(output_format: str, stream: TextIO, environ: Mapping[str, str] = os.environ) -> tuple[bool, bool]:
    """(pretty, colour) for ``--format``: ``auto`` is pretty on a terminal; colour also needs a
    terminal and no ``NO_COLOR`` (https://no-color.org)."""
    tty = _isatty(stream)
    pretty = output_format == "pretty" or (output_format == "auto" and tty)
    return pretty, pretty and tty and not environ.get("NO_COLOR")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


def timestamp(now: Optional[datetime.datetime] = None) -> str:
    """Local time in ISO 8601 with milliseconds and the UTC offset."""
    moment = now if now is not None else datetime.datetime.now()
    return moment.astimezone().isoformat(timespec="milliseconds")


class Printer:
    """Writes records to stdout and status lines to stderr.

    ``closed`` becomes true when stdout's reader went away (``greensio listen URL | head -1``);
    later records are dropped, and ``on_closed`` is called once.
    """

    def __init__(
        self,
        pretty: bool = False,
        color: bool = False,
        timestamps: bool = False,
        stdout: Optional[TextIO] = None,
        stderr: Optional[TextIO] = None,
        clock: Callable[[], str] = timestamp,
    ) -> None:
        self.pretty = pretty
        self.color = color
        self.timestamps = timestamps
        self._stdout = stdout
        self._stderr = stderr
        self._clock = clock
        self.closed = False
        self.on_closed: Callable[[], None] = lambda: None

    def record(self, value: Any) -> None:
        """One result on stdout: a JSON line, or pretty JSON."""
        if self.closed:
            return
        text = render_pretty(value, self.color) if self.pretty else to_json(value)
        stream = self._stdout or sys.stdout
        try:
            stream.write(self._stamp(text, self.color) + "\n")
            stream.flush()
        except BrokenPipeError:
            self.closed = True
            # Python would report the broken pipe again when it flushes stdout at exit.
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, stream.fileno())
            os.close(null)
            self.on_closed()

    def status(self, text: str) -> None:
        """A line for the user on stderr (``connected <id>``, errors)."""
        stream = self._stderr or sys.stderr
        try:
            stream.write(self._stamp(text, False) + "\n")
            stream.flush()
        except (BrokenPipeError, ValueError):  # stderr gone: nothing else to tell
            pass

    def _stamp(self, text: str, color: bool) -> str:
        if not self.timestamps:
            return text
        stamp = self._clock()
        return f"{DIM}{stamp}{RESET} {text}" if color else f"{stamp} {text}"
