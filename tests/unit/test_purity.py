"""The pure core (greensio/_core) does no I/O: it imports no gevent, sockets, clocks or threads.

Checked twice: statically (every import statement in every ``_core/*.py``) and
at run time (import the modules in a fresh interpreter and look at
``sys.modules``). ``greensio/__init__.py`` imports the gevent layer, so the
subprocess registers a bare ``greensio`` package object pointing at the source
directory and imports ``greensio._core.*`` under it without running that file.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import greensio

FORBIDDEN = frozenset({"gevent", "socket", "ssl", "select", "threading", "time", "selectors", "asyncio"})
PACKAGE_DIR = Path(greensio.__file__).resolve().parent
CORE_DIR = PACKAGE_DIR / "_core"
CORE_FILES = sorted(CORE_DIR.glob("*.py"))
CORE_MODULES = ["greensio._core"] + [f"greensio._core.{p.stem}" for p in CORE_FILES if p.stem != "__init__"]
#: What the core may import from the rest of greensio.
ALLOWED_GREENSIO = frozenset({"greensio._core", "greensio._exceptions"})


def test_the_core_has_modules() -> None:
    names = {p.stem for p in CORE_FILES}
    assert {"__init__", "backoff", "eio", "engine", "session", "sio", "url"} <= names


def imports_of(path: Path) -> set[str]:
    """Absolute dotted names of every module *path* imports, anywhere in the file."""
    package = f"greensio._core.{path.stem}".rsplit(".", 1)[0] if path.stem != "__init__" else "greensio._core"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            # `from . import x` / `from gevent import monkey` may name submodules
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            names.add("__import__()")
        elif isinstance(node, ast.Attribute) and node.attr == "import_module":
            names.add("importlib.import_module()")
    return names


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.name)
def test_no_forbidden_import_statement(path: Path) -> None:
    imported = imports_of(path)
    assert {name.split(".")[0] for name in imported} & FORBIDDEN == set()
    assert "__import__()" not in imported
    assert "importlib.import_module()" not in imported


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.name)
def test_core_depends_only_on_the_core_and_the_errors(path: Path) -> None:
    ours = {name for name in imports_of(path) if name.split(".")[0] == "greensio"}
    outside = {name for name in ours if not any(name == a or name.startswith(a + ".") for a in ALLOWED_GREENSIO)}
    assert outside == set()


def test_the_import_scanner_sees_imports() -> None:
    # guard against a scanner that silently finds nothing
    assert {"random"} <= imports_of(CORE_DIR / "backoff.py")
    assert {"greensio._exceptions", "greensio._core.eio"} <= imports_of(CORE_DIR / "engine.py")


SCRIPT = r"""
import importlib, json, sys, types
forbidden = set(json.loads(sys.argv[1]))
package_dir, modules = sys.argv[2], json.loads(sys.argv[3])
# Modules the interpreter loaded at start-up: forget them, so a re-import shows.
preloaded = sorted(name for name in sys.modules if name.split(".")[0] in forbidden)
for name in preloaded:
    del sys.modules[name]
before = set(sys.modules)
package = types.ModuleType("greensio")
package.__path__ = [package_dir]
sys.modules["greensio"] = package
for name in modules:
    importlib.import_module(name)
new = sorted(set(sys.modules) - before)
print(json.dumps({
    "preloaded": preloaded,
    "new": new,
    "forbidden": sorted(name for name in sys.modules if name.split(".")[0] in forbidden),
    "package": sys.modules["greensio"] is package,
}))
"""


def run_isolated(modules: list[str]) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(sorted(FORBIDDEN)), str(PACKAGE_DIR), json.dumps(modules)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_importing_the_core_loads_no_forbidden_module() -> None:
    report = run_isolated(CORE_MODULES)
    assert report["package"] is True  # greensio/__init__.py (the gevent layer) did not run
    new = report["new"]
    assert isinstance(new, list)
    assert set(CORE_MODULES) <= set(new)
    assert "greensio._manager" not in new
    assert [name for name in new if name.split(".")[0] in FORBIDDEN] == []
    assert report["forbidden"] == []


@pytest.mark.parametrize("module", CORE_MODULES)
def test_each_core_module_alone(module: str) -> None:
    report = run_isolated([module])
    assert report["forbidden"] == []


def test_the_isolated_check_detects_a_forbidden_import() -> None:
    # the same harness on a module that does use sockets must report it
    report = run_isolated(["greensio._io.transport", "greensio._io.net"])
    forbidden = report["forbidden"]
    assert isinstance(forbidden, list)
    assert "socket" in forbidden or "gevent" in forbidden


def test_the_isolated_check_detects_a_preloaded_module_imported_again() -> None:
    # CPython 3.11 has `time` loaded at start-up; logging imports it again (and threading)
    report = run_isolated(["logging"])
    forbidden = report["forbidden"]
    assert isinstance(forbidden, list)
    assert {"time", "threading"} <= set(forbidden)
