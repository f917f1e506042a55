"""Start and control the test servers of this folder as child processes."""

from __future__ import annotations

import atexit
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

SERVERS_DIR = Path(__file__).resolve().parent
READY_TIMEOUT = 10  # seconds for a server to print "READY <port>"
STOP_TIMEOUT = 5  # seconds between SIGTERM and SIGKILL

_running: set[ServerProcess] = set()


def node_modules_stale(folder: Path) -> bool:
    """True when ``npm ci`` must run in *folder*: no node_modules, or a lockfile newer than them."""
    installed = folder / "node_modules" / ".package-lock.json"
    return not installed.exists() or (folder / "package-lock.json").stat().st_mtime > installed.stat().st_mtime


def npm_ci(folder: Path, timeout: float = 300) -> None:
    """Install *folder*'s pinned Node dependencies; RuntimeError with npm's output when it fails."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed for the Node test servers (Node 20 + npm)")
    try:
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=folder,
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"npm ci failed in {folder}:\n{exc.stdout.decode()}{exc.stderr.decode()}") from exc
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"npm ci did not finish in {timeout} s in {folder}") from exc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _node_command(
    port: int,
    *,
    ping_interval: Optional[float] = None,
    ping_timeout: Optional[float] = None,
    recovery: bool = False,
    parser: Optional[str] = None,
    deflate: bool = False,
    tls_dir: Optional[Path] = None,
    client_cert: bool = False,
) -> list[str]:
    command = [shutil.which("node") or "node", str(SERVERS_DIR / "node_server.js"), "--port", str(port)]
    if tls_dir is not None:
        command += ["--tls-dir", str(tls_dir)] + (["--client-cert"] if client_cert else [])
    if ping_interval is not None:
        command += ["--ping-interval", str(round(ping_interval * 1000))]
    if ping_timeout is not None:
        command += ["--ping-timeout", str(round(ping_timeout * 1000))]
    if recovery:
        command.append("--recovery")
    if parser is not None:
        command += ["--parser", parser]
    if deflate:
        command.append("--deflate")
    return command


def _python_command(
    port: int, *, ping_interval: Optional[float] = None, ping_timeout: Optional[float] = None
) -> list[str]:
    command = [sys.executable, str(SERVERS_DIR / "py_server.py"), "--port", str(port)]
    if ping_interval is not None:
        command += ["--ping-interval", str(ping_interval)]
    if ping_timeout is not None:
        command += ["--ping-timeout", str(ping_timeout)]
    return command


def _bad_command(port: int) -> list[str]:
    return [sys.executable, str(SERVERS_DIR / "bad_server.py"), "--port", str(port)]


def _ping_flags(ping_interval: Optional[float], ping_timeout: Optional[float], scale: int) -> list[str]:
    flags = []
    if ping_interval is not None:
        flags += ["--ping-interval", str(round(ping_interval * scale) if scale != 1 else ping_interval)]
    if ping_timeout is not None:
        flags += ["--ping-timeout", str(round(ping_timeout * scale) if scale != 1 else ping_timeout)]
    return flags


def _node2_command(
    port: int,
    *,
    ping_interval: Optional[float] = None,
    ping_timeout: Optional[float] = None,
    root_middleware: bool = False,
    deflate: bool = False,
) -> list[str]:
    """socket.io 2.x (v2/node2_server.js; `npm ci` in v2/ first)."""
    command = [shutil.which("node") or "node", str(SERVERS_DIR / "v2" / "node2_server.js"), "--port", str(port)]
    command += _ping_flags(ping_interval, ping_timeout, 1000)
    if root_middleware:
        command.append("--root-middleware")
    if deflate:
        command.append("--deflate")
    return command


def _py4_command(
    port: int,
    *,
    ping_interval: Optional[float] = None,
    ping_timeout: Optional[float] = None,
    root_refuses: bool = False,
) -> list[str]:
    """python-socketio 4 in its own virtualenv (py4/venv.py makes it on first use)."""
    from .py4 import venv

    command = [str(venv.ensure()), str(SERVERS_DIR / "py4" / "py4_server.py"), "--port", str(port)]
    command += _ping_flags(ping_interval, ping_timeout, 1)
    if root_refuses:
        command.append("--root-refuses")
    return command


COMMANDS = {
    "node": _node_command,
    "python": _python_command,
    "bad": _bad_command,
    "node2": _node2_command,
    "py4": _py4_command,
}


class ServerProcess:
    """A test server on 127.0.0.1, started on construction.

    ``options`` map to the server's command line flags (times in seconds):
    node takes ping_interval, ping_timeout, recovery, parser, deflate
    (compression on both transports, threshold 0) and tls_dir (HTTPS with the
    cert.pem/key.pem found there) with client_cert (require a client certificate
    signed by its ca.pem); python takes
    ping_interval (whole seconds) and ping_timeout; bad takes none; node2
    (socket.io 2.x) takes ping_interval, ping_timeout, root_middleware and deflate; py4
    (python-socketio 4) takes ping_interval (whole seconds), ping_timeout and
    root_refuses. The server's output goes to ``log_path``.
    """

    def __init__(self, kind: str, log_path: Path, **options: object) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"{'https' if options.get('tls_dir') else 'http'}://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._command = COMMANDS[kind](self.port, **options)
        self._process: Optional[subprocess.Popen[bytes]] = None
        self.start()

    def __repr__(self) -> str:
        return f"<ServerProcess {self.kind} {self.url}>"

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the server and wait until it listens."""
        assert self._process is None, "already running"
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command, cwd=SERVERS_DIR, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        _running.add(self)
        ready = f"READY {self.port}\n".encode()
        deadline = time.monotonic() + READY_TIMEOUT
        while ready not in self._output(offset):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                output = self._output(offset).decode(errors="replace")
                raise RuntimeError(f"{self.kind} server did not start: {self._command}\n{output}")
            time.sleep(0.02)

    def stop(self) -> None:
        """SIGTERM the server, SIGKILL it if it is still running after 5 s."""
        if self._process is None:
            return
        self._process.terminate()
        self._process.send_signal(signal.SIGCONT)  # a paused server could not handle SIGTERM
        try:
            self._process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None
        _running.discard(self)

    def restart(self) -> None:
        """Stop the server and start it again on the same port."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open but nothing is answered."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo pause() (SIGCONT)."""
        self._signal(signal.SIGCONT)

    def _signal(self, signum: int) -> None:
        assert self._process is not None, "not running"
        self._process.send_signal(signum)

    def _output(self, offset: int) -> bytes:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            return log.read()


@atexit.register
def _stop_all() -> None:
    """Last resort for servers whose owner did not stop them."""
    for server in list(_running):
        server.stop()
