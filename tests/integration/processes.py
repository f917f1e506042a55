"""Running greensio programs (the CLI, the examples) as child processes, with bounded waits."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import IO, Any, Optional

import gevent
import gevent.event

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 30  # bound of one child process run, in seconds


def run_cli(*argv: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``python -m greensio *argv`` to completion, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "greensio", *argv],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn_cli(*argv: str) -> subprocess.Popen[str]:
    """``python -m greensio *argv`` started, with text pipes for stdout and stderr."""
    return spawn([sys.executable, "-m", "greensio", *argv])


def spawn(argv: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    """Start a child process with text pipes for stdout and stderr."""
    return subprocess.Popen(
        argv,
        cwd=kwargs.pop("cwd", ROOT),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


class LineReader:
    """Collects a text stream's lines in a greenlet, so tests can wait for one with a bound."""

    def __init__(self, stream: Optional[IO[str]]) -> None:
        assert stream is not None, "the process was started without a pipe for this stream"
        self.lines: list[str] = []
        self._changed = gevent.event.Event()
        self._greenlet = gevent.spawn(self._read, stream)

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))
            self._changed.set()
        self._changed.set()

    @property
    def closed(self) -> bool:
        return bool(self._greenlet.dead)

    def wait_for(self, needle: str, count: int = 1, timeout: float = RUN_TIMEOUT) -> str:
        """The ``count``-th line containing ``needle``; fails the test after ``timeout`` or at end of stream."""
        timer = gevent.Timeout(timeout)
        try:
            with timer:
                while True:
                    found = self.find_all(needle)
                    if len(found) >= count:
                        return found[count - 1]
                    assert not self.closed, f"stream ended without line {count} with {needle!r}: {self.lines}"
                    self._changed.clear()
                    self._changed.wait()
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            raise AssertionError(f"no line {count} with {needle!r} in {timeout} s: {self.lines}") from None

    def find(self, needle: str) -> Optional[str]:
        """The first line containing ``needle``, or None."""
        return next(iter(self.find_all(needle)), None)

    def find_all(self, needle: str) -> list[str]:
        return [line for line in self.lines if needle in line]

    def index(self, needle: str) -> int:
        """Position of the first line containing ``needle`` (fails the test if none)."""
        for i, line in enumerate(self.lines):
            if needle in line:
                return i
        raise AssertionError(f"no line with {needle!r}: {self.lines}")

    def join(self, timeout: float = RUN_TIMEOUT) -> list[str]:
        """All lines, once the stream ended."""
        self._greenlet.join(timeout)
        assert self.closed, f"stream still open after {timeout} s"
        return self.lines


def stop(process: subprocess.Popen[Any], timeout: float = RUN_TIMEOUT) -> None:
    """Kill ``process`` if it still runs (test cleanup)."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout)
