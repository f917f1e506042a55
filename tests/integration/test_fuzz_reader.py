"""The whole reader against random and mutated frames from a scripted server.

The only outcomes allowed: the packets decode, or the connection closes with
"parse error" and reconnects; never a dead reader, another exception or a hang.
"""
from __future__ import annotations

import base64
import json
import uuid

import gevent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import greensio

from .helpers import FAST, WAIT, Recorder

VALID = ['42["x",1]', '451-["x",{"_placeholder":true,"num":0}]', "2", "6", '43/chat,1["a"]', '42/nowhere,["y"]']


def _mutate(data: st.DataObject, frame: str) -> str:
    kind = data.draw(st.sampled_from(["keep", "cut", "flip", "insert"]))
    if kind == "keep" or not frame:
        return frame
    i = data.draw(st.integers(0, len(frame) - 1))
    if kind == "cut":
        return frame[:i]
    if kind == "flip":
        return frame[:i] + data.draw(st.characters(codec="utf-8")) + frame[i + 1:]
    return frame[:i] + data.draw(st.text(max_size=5)) + frame[i:]


frames_strategy = st.lists(
    st.one_of(
        st.sampled_from(VALID),
        st.text(max_size=40),
        st.binary(max_size=20).map(lambda b: {"b64": base64.b64encode(b).decode()}),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=frames_strategy, data=st.data())
def test_random_frames_never_break_the_reader(bad_server, frames, data):
    frames = [_mutate(data, f) if isinstance(f, str) else f for f in frames]
    query = {"bad": json.dumps(frames), "token": uuid.uuid4().hex}
    sio = greensio.Socket(bad_server.url, query=query, **{**FAST, "transports": ["websocket"], "force_new": True})
    reasons = Recorder()
    sio.on("disconnect", reasons)
    died = []
    try:
        sio.connect(timeout=WAIT)
        # after the script: still connected, or closed with "parse error" and connected again
        with gevent.Timeout(WAIT):
            while True:
                loop = sio.manager._loop
                if loop is not None and loop.dead and loop.exception is not None:
                    died.append(loop.exception)
                    break
                try:
                    if sio.call("echo", "alive", timeout=1) == "alive":
                        break
                except greensio.Error:
                    pass  # between the parse error and the reconnect
        assert died == []
        assert all(reason == ("parse error",) for reason in reasons.calls), reasons.calls
    finally:
        sio.disconnect()
