"""Decoder details, as socket.io-parser's HEAD decodes: NaN and ±Infinity are a "parse error" (JSON.parse
refuses them); a message over max_message_size is a "parse error" over both transports; an ACK without
an id, or with an id beyond 2^53, is ignored (the connection stays up, a later call() works)."""

from __future__ import annotations

from typing import Any, Union

import pytest

import greensio

from .helpers import WAIT, Recorder, watched_socket
from .peer import OP_TEXT, Peer, Session, prefix

pytestmark = pytest.mark.timeout(30)

LIMIT = 1024  # max_message_size of these tests


class Scripted(Peer):
    """When the client first emits ``go``, sends ``script`` (Engine.IO packets, or raw frames as
    ``(opcode, payload, fin)`` on WebSocket), then ``42["probe"]``."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__()
        self.script = script

    def on_event(self, session: Session, nsp: str, ack_id: Any, args: list[Any]) -> None:
        if args[0] != "go":
            super().on_event(session, nsp, ack_id, args)
            return
        script, self.script = self.script, []
        for item in script:
            if isinstance(item, tuple):
                assert session.conn is not None
                session.conn.ws_send(*item)
            else:
                session.send(item)
        if script:
            session.send(f'42{prefix(nsp)}["probe"]')


PARSE_ERRORS: dict[str, list[Union[str, bytes]]] = {
    "NaN": ['42["x",NaN]'],
    "-Infinity": ['42["x",-Infinity]'],
    "Infinity-in-ack": ['430[{"a":Infinity}]'],
    "NaN-in-connect-error": ['44{"message":NaN}'],
    "text-over-limit": ['42["x","' + "a" * LIMIT + '"]'],
    "text-just-over-limit": ['42["' + "a" * (LIMIT - 5) + '"]'],  # 1025 bytes: within the base64 allowance of polling
    "binary-over-limit": ['451-["x",{"_placeholder":true,"num":0}]', b"\x00" * LIMIT],
}


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("case", list(PARSE_ERRORS))
def test_refused_payloads_close_with_parse_error_then_the_client_reconnects(start_peer, case, transport):
    peer = start_peer(Scripted, script=PARSE_ERRORS[case])
    sio, reasons, connects = watched_socket(peer, transport, max_message_size=LIMIT)
    errors = Recorder()
    sio.manager.on("error", errors)
    try:
        sio.connect(timeout=WAIT)
        sio.emit("go")
        assert reasons.wait(1) == [("parse error",)]
        assert isinstance(errors.wait(1)[0][0], greensio.ProtocolError)
        connects.wait(2)
        assert sio.call("echo", "after", timeout=WAIT) == "after"
    finally:
        sio.disconnect()


def test_a_fragmented_text_message_over_the_limit_is_a_parse_error(start_peer):
    half = b"a" * (LIMIT // 2 + 1)
    script = [(OP_TEXT, b'42["x","' + half, False), (0, half + b'"]', True)]
    peer = start_peer(Scripted, script=script)
    sio, reasons, connects = watched_socket(peer, "websocket", max_message_size=LIMIT)
    try:
        sio.connect(timeout=WAIT)
        sio.emit("go")
        assert reasons.wait(1) == [("parse error",)]
        connects.wait(2)
        assert sio.call("echo", "after", timeout=WAIT) == "after"
    finally:
        sio.disconnect()


IGNORED = {
    "ack-without-id": ['43["x"]'],
    "ack-id-2^53+1": ['439007199254740993["x"]'],
    "ack-id-30-digits": ['43123456789012345678901234567890["x"]'],
    "binary-ack-without-id": ['461-[{"_placeholder":true,"num":0}]', b"\x01"],
}


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("case", list(IGNORED))
def test_acks_nobody_can_wait_for_are_ignored(start_peer, case, transport):
    peer = start_peer(Scripted, script=IGNORED[case])
    sio, reasons, _ = watched_socket(peer, transport, max_message_size=LIMIT)
    probes = Recorder()
    sio.on("probe", probes)
    try:
        sio.connect(timeout=WAIT)
        sio.emit("go")
        probes.wait(1)  # sent after the ACKs: they were read
        assert sio.call("echo", "still up", timeout=WAIT) == "still up"
        assert reasons.calls == [] and sio.connected and len(peer.sessions) == 1
    finally:
        sio.disconnect()


def test_the_limit_itself_is_accepted(start_peer):
    """The control of the size cases: a message of exactly max_message_size bytes is delivered."""
    text = '42["x","' + "a" * (LIMIT - 10) + '"]'
    assert len(text) == LIMIT
    peer = start_peer(Scripted, script=[text])
    sio, reasons, _ = watched_socket(peer, "websocket", max_message_size=LIMIT)
    got = Recorder()
    sio.on("x", got)
    try:
        sio.connect(timeout=WAIT)
        sio.emit("go")
        assert got.wait(1) == [("a" * (LIMIT - 10),)]
        assert reasons.calls == []
    finally:
        sio.disconnect()
