"""The virtualenv of the python-socketio 4 test server, made on first use.

    python tests/servers/py4/venv.py      # make it now; prints its python

It lives in ``.venv/`` beside this file (ignored by git) and is made again when
requirements.txt changes (its hash is kept in ``.venv/requirements.sha256``).
Concurrent callers wait for one another (a lock file).
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
REQUIREMENTS = HERE / "requirements.txt"
INSTALL_TIMEOUT = 600  # seconds


def python() -> Path:
    """The interpreter of the virtualenv (it may not exist yet: see ensure())."""
    return VENV / "bin" / "python"


def _wanted() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def ensure() -> Path:
    """Make the virtualenv unless it is there with the current requirements; return its python."""
    stamp = VENV / "requirements.sha256"
    wanted = _wanted()
    if stamp.exists() and stamp.read_text() == wanted and python().exists():
        return python()
    with (HERE / ".venv.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists() and stamp.read_text() == wanted and python().exists():
            return python()
        shutil.rmtree(VENV, ignore_errors=True)
        steps = [
            [sys.executable, "-m", "venv", str(VENV)],
            [str(python()), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        ]
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
            if done.returncode != 0:
                shutil.rmtree(VENV, ignore_errors=True)
                raise RuntimeError(f"cannot make {VENV}: {' '.join(step)}\n{done.stdout}{done.stderr}")
        stamp.write_text(wanted)
    return python()


if __name__ == "__main__":
    print(ensure())
