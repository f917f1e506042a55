"""The command line's pure parts: JSON output and argument errors (the rest: tests/integration/test_cli.py)."""

from __future__ import annotations

import json

import pytest

from greensio import cli


def test_binary_anywhere_in_the_arguments_prints_as_base64_objects():
    line = cli.to_json({"event": "e", "args": [b"\x00\xff", {"k": [bytearray(b"ab"), memoryview(b"")]}, "text", 1]})
    assert json.loads(line) == {
        "event": "e",
        "args": [{"base64": "AP8="}, {"k": [{"base64": "YWI="}, {"base64": ""}]}, "text", 1],
    }
    assert "\n" not in line


def test_non_ascii_text_is_printed_as_is():
    assert cli.to_json(["é", "☃"]) == '["é", "☃"]'


@pytest.mark.parametrize(
    "argv, code",
    [
        (["--version"], 0),
        (["--help"], 0),
        (["emit", "http://127.0.0.1:1", "e", "{bad"], 2),
        (["emit", "http://127.0.0.1:1", "e", "--timeout", "0"], 2),
        (["emit", "http://127.0.0.1:1", "e", "--linger", "-1"], 2),
        (["listen"], 2),
    ],
)
def test_main_returns_the_exit_code_of_argument_handling(argv, code, capsys):
    assert cli.main(argv) == code


def test_the_namespace_option_replaces_the_url_path():
    assert cli._target("http://h:1/a?x=1", "/chat") == "http://h:1/chat?x=1"
    assert cli._target("http://h:1", "chat") == "http://h:1/chat"
    assert cli._target("http://h:1/a", None) == "http://h:1/a"
