"""The whole reader against random and mutated frames from a scripted server.

The only outcomes allowed: the packets decode, or the connection closes with
"parse error" and reconnects; never a dead reader, another exception or a hang.
"""

from __future__ import annotations

import base64
import gc
import json
import logging
import uuid
from typing import Any, Union

import gevent
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import greensio
from greensio._core.sio import DISCONNECT, Decoder
from tests.servers.process import ServerProcess

from .helpers import FAST, WAIT, Recorder

VALID = ['42["x",1]', '451-["x",{"_placeholder":true,"num":0}]', "2", "6", '43/chat,1["a"]', '42/nowhere,["y"]']
PH = '{{"_placeholder":true,"num":{}}}'

Frame = Union[str, dict[str, str]]


def examples(n: int) -> int:
    """*n* examples, or the soak profile's budget when tests/soak/fuzz_run.py runs this file."""
    return settings().max_examples if settings.get_current_profile_name() == "soak" else n


def _b64(data: bytes) -> dict[str, str]:
    """A binary frame for the scripted server."""
    return {"b64": base64.b64encode(data).decode()}


def _mutate(data: st.DataObject, frame: str) -> str:
    """*frame* kept, cut, or with a character replaced or some text inserted."""
    kind = data.draw(st.sampled_from(["keep", "cut", "flip", "insert"]))
    if kind == "keep" or not frame:
        return frame
    i = data.draw(st.integers(0, len(frame) - 1))
    if kind == "cut":
        return frame[:i]
    if kind == "flip":
        return frame[:i] + data.draw(st.characters(codec="utf-8")) + frame[i + 1 :]
    return frame[:i] + data.draw(st.text(max_size=5)) + frame[i:]


def _play(server_url: str, frames: list[Frame], **options: Any) -> list[tuple[Any, ...]]:
    """Have the server send *frames*, then check that the reader lives on; return the disconnect reasons."""
    query = {"bad": json.dumps(frames), "token": uuid.uuid4().hex}
    sio = greensio.Socket(
        server_url, query=query, **{**FAST, "transports": ["websocket"], "force_new": True}, **options
    )
    reasons = Recorder()
    sio.on("disconnect", reasons)
    died: list[logging.LogRecord] = []
    internal_errors = _Collect(died)
    logging.getLogger("greensio").addHandler(internal_errors)
    try:
        sio.connect(timeout=WAIT)
        # after the script: still connected, or closed with "parse error" and connected again
        # (or ended for good by a DISCONNECT or CONNECT_ERROR in the script)
        with gevent.Timeout(WAIT):
            while sio.active and not died:
                try:
                    if sio.call("echo", "alive", timeout=1) == "alive":
                        break
                except greensio.Error:
                    pass  # between the parse error and the reconnect
        assert [record.getMessage() for record in died] == []
        return list(reasons.calls)  # a copy: disconnect() below adds its own reason
    finally:
        logging.getLogger("greensio").removeHandler(internal_errors)
        sio.disconnect()


class _Collect(logging.Handler):
    """Keeps the records of an internal failure of greensio's connection loop or reader."""

    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        if "connection loop" in record.getMessage():
            self.records.append(record)


def _allowed_reasons(frames: list[Frame]) -> set[tuple[str]]:
    """The disconnect reasons *frames* may cause: "parse error", and those of valid packets that end a session."""
    allowed = {("parse error",)}
    for frame in frames:
        if isinstance(frame, str) and frame.startswith("1"):  # Engine.IO CLOSE
            allowed.add(("transport close",))
        if isinstance(frame, str) and frame.startswith("4"):
            try:
                packet = Decoder().feed_text(frame[1:])
            except greensio.ProtocolError:
                continue
            if packet is not None and packet.type == DISCONNECT and packet.nsp == "/":
                allowed.add(("io server disconnect",))
    return allowed


frames_strategy = st.lists(
    st.one_of(
        st.sampled_from(VALID),
        st.text(max_size=40),
        st.binary(max_size=20).map(_b64),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=frames_strategy, data=st.data())
def test_random_frames_never_break_the_reader(
    bad_server: ServerProcess, frames: list[Frame], data: st.DataObject
) -> None:
    frames = [_mutate(data, f) if isinstance(f, str) else f for f in frames]
    reasons = _play(bad_server.url, frames)
    assert len(reasons) <= 1 and set(reasons) <= _allowed_reasons(frames), reasons


@st.composite
def binary_packets(draw: st.DrawFn) -> list[Frame]:
    """A BINARY_EVENT and its attachments, damaged: wrong counts, missing or extra frames, deep nesting."""
    count = draw(st.integers(0, 12) | st.sampled_from([10**6, 2**31, 10**10]))
    nums = draw(st.lists(st.integers(0, 12) | st.integers(-1, 2**40), max_size=4))
    placeholders = [PH.format(num) for num in nums]
    depth = draw(st.integers(0, 3) | st.integers(90, 110) | st.integers(0, 600))
    nested = "[" * depth + (placeholders[0] if placeholders else "0") + "]" * depth
    head = draw(st.sampled_from(["45", "46", "45", "4"])) + str(count) + "-"
    head += draw(st.sampled_from(["", "/chat,", "/nowhere,"])) + draw(st.sampled_from(["", "1", "99999999999999999"]))
    header = head + "[" + ",".join(['"x"', nested, *placeholders[1:]]) + "]"
    attachments: list[Frame] = [_b64(draw(st.binary(max_size=16))) for _ in range(draw(st.integers(0, 13)))]
    frames: list[Frame] = [header, *attachments]
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(frames)))
        frames.insert(at, draw(st.sampled_from(VALID) | st.binary(max_size=8).map(_b64)))
    return frames


@settings(max_examples=examples(15), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=binary_packets())
def test_damaged_binary_packets_never_break_the_reader(bad_server: ServerProcess, frames: list[Frame]) -> None:
    reasons = _play(bad_server.url, frames, max_attachments=8)
    assert len(reasons) <= 1 and set(reasons) <= _allowed_reasons(frames), reasons


def _pending_decoders() -> set[int]:
    """Ids of the Socket.IO decoders alive in this process that hold part of a binary packet."""
    return {id(o) for o in gc.get_objects() if type(o) is Decoder and (o._pending is not None or o._buffers)}


def test_an_unfinished_binary_packet_is_dropped_on_disconnect(bad_server: ServerProcess) -> None:
    frames: list[Frame] = [f'452-["x",{PH.format(0)},{PH.format(1)}]', _b64(bytes(range(256)) * 4)]
    query = {"bad": json.dumps(frames), "token": uuid.uuid4().hex}
    sio = greensio.Socket(bad_server.url, query=query, **{**FAST, "transports": ["websocket"], "force_new": True})
    others = _pending_decoders()  # left by earlier tests, if any
    try:
        sio.connect(timeout=WAIT)
        with gevent.Timeout(WAIT, AssertionError("the reader never held the unfinished packet")):
            while not _pending_decoders() - others:
                gevent.sleep(0.01)  # polls for what the reader did; not a race: the bound is WAIT
    finally:
        sio.disconnect()
    gc.collect()
    assert _pending_decoders() - others == set()


def test_a_binary_packet_larger_than_max_message_size_is_a_parse_error(bad_server: ServerProcess) -> None:
    frames: list[Frame] = [f'452-["big",{PH.format(0)},{PH.format(1)}]', _b64(bytes(600)), _b64(bytes(600))]
    got = Recorder()
    query = {"bad": json.dumps(frames), "token": uuid.uuid4().hex}
    sio = greensio.Socket(
        bad_server.url,
        query=query,
        auto_connect=False,
        max_message_size=1000,
        **{**FAST, "transports": ["websocket"], "force_new": True},
    )
    sio.on("big", got)
    reasons = Recorder()
    sio.on("disconnect", reasons)
    try:
        sio.connect(timeout=WAIT)
        with gevent.Timeout(WAIT):
            while True:  # until the echo comes back, on this connection or the next
                try:
                    if sio.call("echo", "alive", timeout=1) == "alive":
                        break
                except greensio.Error:
                    pass
        assert got.calls == []
        assert reasons.calls == [("parse error",)]
    finally:
        sio.disconnect()


def test_a_message_larger_than_max_message_size_is_a_parse_error(bad_server: ServerProcess) -> None:
    frames: list[Frame] = ['42["big","' + "y" * 1200 + '"]']
    assert _play(bad_server.url, frames, max_message_size=1000) == [("parse error",)]


@pytest.mark.timeout(60)
def test_a_connect_error_on_a_connected_socket_ends_its_pending_calls(bad_server: ServerProcess) -> None:
    query = {"bad": json.dumps(['44{"message":"kicked"}']), "token": uuid.uuid4().hex}
    sio = greensio.Socket(bad_server.url, query=query, **{**FAST, "transports": ["websocket"], "force_new": True})
    try:
        # buffered now, written when the CONNECT reply is read, before the CONNECT_ERROR behind it
        with gevent.Timeout(5, AssertionError("call(timeout=1) neither returned nor raised in 5 s")):
            with pytest.raises((greensio.DisconnectedError, greensio.TimeoutError)):
                sio.call("echo", 1, timeout=1)
        assert not sio.active
    finally:
        sio.disconnect()
