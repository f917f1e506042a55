"""Lines of standard input, read without blocking the gevent hub."""

from __future__ import annotations

import os
import stat
from typing import Iterator, Optional

from gevent.socket import wait_read

__all__ = ["LineReader"]

CHUNK = 65536


class LineReader:
    """Reads lines (bytes, with their newline) from a file descriptor, cooperatively.

    A pipe, a socket or a terminal is waited on with gevent (``wait_read``) and then
    read once, which returns what is there without blocking. The descriptor's flags are
    left alone: setting O_NONBLOCK on a terminal would leak to the shell that shares it.
    A regular file or a device such as /dev/null cannot be polled but never blocks, so
    it is read directly.
    """

    def __init__(self, fd: int = 0) -> None:
        self._fd = fd
        self._buffer = bytearray()
        self._eof = False
        try:
            mode = os.fstat(fd).st_mode
        except OSError:  # stdin closed (`greensio shell URL <&-`): nothing to read
            self._eof = True
            mode = 0
        self._pollable = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or (stat.S_ISCHR(mode) and os.isatty(fd))

    def readline(self) -> Optional[bytes]:
        """The next line, the last one possibly without a newline; None at end of input."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                return line
            if self._eof:
                rest = bytes(self._buffer)
                self._buffer.clear()
                return rest or None
            self._fill()

    def __iter__(self) -> Iterator[bytes]:
        while (line := self.readline()) is not None:
            yield line

    def _fill(self) -> None:
        if self._pollable:
            wait_read(self._fd)
        try:
            data = os.read(self._fd, CHUNK)
        except BlockingIOError:  # a descriptor someone else made non-blocking, drained by another reader
            return
        except OSError:  # e.g. EIO from a terminal that went away: treat as the end of input
            data = b""
        if data:
            self._buffer += data
        else:
            self._eof = True
