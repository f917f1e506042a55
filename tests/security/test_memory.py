"""Memory on demand: whatever a server sends or claims, the client allocates a bounded amount,
ends the connection with a clear reason, and the normal reconnect follows.

Allocation is measured with tracemalloc (peak of the Python allocations while the
hostile data is handled, client and peer together: the peer's own data is built
before tracing starts). The figures are printed (pytest -s) for the closing note.
"""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional

import gevent
import pytest

import greensio

from .helpers import FAST, WAIT, Recorder, until, watched_socket
from .peer import OP_TEXT, Conn, Peer, Request, Session, http_response, prefix, server_frame

pytestmark = pytest.mark.timeout(60)

MiB = 2**20
LIMIT = MiB  # max_message_size of the tests that need a small one


@contextmanager
def traced(what: str) -> Iterator[dict[str, int]]:
    """Trace allocations; ``result["peak"]`` is the peak traced size once the block is done."""
    result: dict[str, int] = {}
    tracemalloc.start()
    try:
        yield result
    finally:
        result["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"{what}: peak {result['peak'] / MiB:.2f} MiB")


class Hostile(Peer):
    """A normal server until the client emits ``go``; then, once, the next poll is answered with
    ``poll_response`` (raw bytes) or ``ws_bytes`` is written to the WebSocket."""

    def __init__(self, poll_response: bytes = b"", ws_bytes: bytes = b"", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.poll_response, self.ws_bytes = poll_response, ws_bytes
        self.armed = self.fired = False

    def on_event(self, session: Session, nsp: str, ack_id: Optional[str], args: list[Any]) -> None:
        if args[0] != "go" or self.fired:
            super().on_event(session, nsp, ack_id, args)
        elif session.conn is not None:
            self.fired = True
            session.conn.send(self.ws_bytes)
        else:
            self.armed = True
            session.send('42["went"]')  # answers the poll now pending: the next one gets the hostile answer

    def respond(self, conn: Conn, request: Request) -> bool:
        if not self.armed or request.method != "GET" or "sid" not in request.query:
            return False
        self.armed, self.fired = False, True
        conn.send(self.poll_response)
        return True


def _hostile_then_reconnect(peer: Hostile, transport: str, reason: str, bound: int, what: str, **options: Any) -> int:
    """Connect, fire the hostile answer under tracemalloc, expect ``reason``, then the reconnect."""
    sio, reasons, connects = watched_socket(peer, transport, **options)
    try:
        sio.connect(timeout=WAIT)
        with traced(what) as memory:
            sio.emit("go")
            reasons.wait(1)
        assert reasons.calls == [(reason,)]
        connects.wait(2)
        assert sio.call("echo", "after", timeout=WAIT) == "after"
    finally:
        sio.disconnect()
    assert peer.fired
    assert memory["peak"] < bound, f"{what}: {memory['peak']} bytes allocated"
    return memory["peak"]


# -- HTTP framing ------------------------------------------------------------------------------------


def test_a_negative_chunk_size_is_a_transport_error_allocating_little(start_peer):
    # "-40000000" once passed int(..., 16): the next chunk then escaped max_message_size
    response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-40000000\r\n" + b"x" * 65536
    peer = start_peer(Hostile, poll_response=response + b"\r\n12A05F200\r\n" + b"y" * MiB)
    _hostile_then_reconnect(peer, "polling", "transport error", MiB, "negative chunk size")


def test_a_huge_content_length_is_refused_before_its_bytes(start_peer):
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n" + b"6" * 65536
    peer = start_peer(Hostile, poll_response=response)
    _hostile_then_reconnect(peer, "polling", "parse error", MiB, "Content-Length of 10^20 bytes")


def test_a_content_length_over_max_message_size_is_refused_before_its_bytes(start_peer):
    response = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n6" % (2 * LIMIT)
    peer = start_peer(Hostile, poll_response=response)
    _hostile_then_reconnect(
        peer, "polling", "parse error", LIMIT // 4, "Content-Length of 2 MiB", max_message_size=LIMIT
    )


def test_a_declared_body_is_not_allocated_before_its_bytes_arrive(start_peer):
    declared = 130_000_000  # within the default max_message_size (100 MiB, as base64: 133 MiB)
    peer = start_peer(Hostile, poll_response=b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n6" % declared)
    sio, _, _ = watched_socket(peer, "polling")
    try:
        sio.connect(timeout=WAIT)
        with traced("a stalled 130 MB Content-Length body") as memory:
            sio.emit("go")
            until(lambda: peer.fired, "the hostile answer")
            with gevent.Timeout(1.0, False):  # the bound is checked over one second of the stalled body
                while tracemalloc.get_traced_memory()[1] < 16 * MiB:
                    gevent.sleep(0.01)
    finally:
        sio.disconnect()
    assert memory["peak"] < 16 * MiB


class HugeHead(Peer):
    """Answers the handshake with a head that never ends (one endless line, or endless lines)."""

    def __init__(self, unit: bytes, status: bytes = b"101 Switching Protocols") -> None:
        super().__init__()
        self.unit, self.status = unit, status

    def respond(self, conn: Conn, request: Request) -> bool:
        conn.send(b"HTTP/1.1 " + self.status + b"\r\n")
        chunk = self.unit * (256 * 1024 // len(self.unit))
        for _ in range(40):  # 10 MiB at most
            if not conn.send(chunk):
                break
        conn.close()
        return True


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("unit", [b"a", b"X-Header: value\r\n"], ids=["endless-line", "endless-lines"])
def test_a_huge_handshake_head_is_refused_at_64_KiB(start_peer, transport, unit):
    status = b"101 Switching Protocols" if transport == "websocket" else b"200 OK"
    peer = start_peer(HugeHead, unit=unit, status=status)
    with traced(f"endless {transport} handshake head") as memory:
        with pytest.raises(greensio.ConnectionError, match="head|header"):
            greensio.connect(peer.url, timeout=WAIT, **{**FAST, "transports": [transport]})
    assert memory["peak"] < MiB


def test_a_refusal_whose_body_never_ends_is_refused_after_its_head(start_peer):
    peer = start_peer(HugeHead, unit=b"b", status=b"403 Forbidden\r\nContent-Type: text/plain\r\n")
    with traced("403 with an endless body") as memory:
        with pytest.raises(greensio.ConnectionError, match="403"):
            greensio.connect(peer.url, timeout=WAIT, **{**FAST, "transports": ["websocket"]})
    assert memory["peak"] < MiB


# -- what a connected server can grow --------------------------------------------------------------


class NotReading(Peer):
    """Answers the namespace CONNECT, then never reads again; ``flood`` is streamed at the client."""

    def __init__(self, flood: bytes) -> None:
        super().__init__()
        self.flood = flood
        self.flooding: Optional[gevent.Greenlet] = None

    def _websocket(self, conn: Conn, request: Request) -> None:
        if self.accepts > 1:  # the reconnect: a normal server
            super()._websocket(conn, request)
            return
        conn.accept_websocket(request)
        session = self._new_session("websocket", conn)
        session.send(self.open_packet(session))
        frame = conn.ws_read()  # the namespace CONNECT
        assert frame is not None and frame[1].startswith(b"40")
        self.on_connect(session, "/", None)
        conn.flood(self.flood)  # and never read again


def test_websocket_pings_to_a_client_whose_server_never_reads_keep_one_pong(start_peer):
    """RFC 6455 §5.5.3: the latest PING is answered; the PONGs of the others are never queued."""
    peer = start_peer(NotReading, flood=server_frame(0x9, b"p" * 125) * 2048)
    sio, reasons, _ = watched_socket(peer, "websocket")
    try:
        sio.connect(timeout=WAIT)
        with traced("WebSocket PING flood, server not reading") as memory:
            until(lambda: peer.flooded > 16 * MiB, "16 MiB of PINGs")
        assert reasons.calls == [] and sio.connected
        assert sio.manager.stats.bytes_sent < MiB  # the PONGs that left: the kernel's buffers, no more
    finally:
        sio.disconnect()
    assert memory["peak"] < 2 * MiB


def test_engine_io_pings_behind_a_blocked_writer_queue_one_pong_then_the_unsent_cap_closes(start_peer):
    """One PONG waits, whatever the PINGs; unsent bytes past the cap (4 MiB) end the connection
    with "transport error", and the normal reconnect follows."""
    peer = start_peer(NotReading, flood=server_frame(OP_TEXT, b"2") * 65536)
    sio, reasons, connects = watched_socket(peer, "websocket")
    outbox = sio.manager.outbox
    most = 0

    def pongs_queued() -> int:
        nonlocal most
        most = max(most, sum(1 for packet in outbox._queue if packet == "3"))
        return most

    def stuck() -> bool:
        """The writer stays blocked for 100 ms: the kernel's buffers are full."""
        with gevent.Timeout(0.1, False):
            while not outbox.writable_now():
                gevent.sleep(0.005)
            return False
        return True

    big = "x" * (256 * 1024)
    try:
        sio.connect(timeout=WAIT)
        until(lambda: peer.flooded > MiB, "a flood of Engine.IO PINGs")
        with gevent.Timeout(WAIT, AssertionError("the writer never blocked")):
            while True:  # one event at a time, so the unsent bytes stay below the cap
                sio.emit("fill", big)
                if stuck():
                    break
        sent = peer.flooded
        # a million PINGs behind the blocked writer
        until(lambda: pongs_queued() > 1 or peer.flooded > sent + 3 * MiB, "PINGs behind the writer", 30)
        assert most == 1 and reasons.calls == []
        with gevent.Timeout(WAIT, AssertionError("the unsent bytes were never capped")):
            while not reasons.calls:  # past the cap of unsent bytes
                sio.emit("fill", big)
                gevent.sleep(0)
        assert reasons.calls == [("transport error",)]
        connects.wait(2)
        assert sio.call("echo", "after", timeout=WAIT) == "after"
    finally:
        sio.disconnect()


# -- the namespace CONNECT -------------------------------------------------------------------------


class HoldingBack(Peer):
    """Before the first namespace CONNECT reply, sends ``events``; ``answer=False``: no reply at all."""

    def __init__(self, events: list[str], answer: bool = True) -> None:
        super().__init__()
        self.events, self.answer = events, answer

    def on_connect(self, session: Session, nsp: str, data: Any) -> None:
        if len(self.connects) > 1:
            super().on_connect(session, nsp, data)
            return
        for event in self.events:
            session.send(f"42{prefix(nsp)}{event}")
        if self.answer:
            super().on_connect(session, nsp, data)


@pytest.mark.parametrize(
    ("events", "options"),
    [(['["x",1]'] * 1001, {}), (['["x","' + "a" * 1000 + '"]'] * 11, {"max_message_size": 10_000})],
    ids=["1001-events", "over-max_message_size-bytes"],
)
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_events_held_before_the_namespace_connect_are_capped(start_peer, events, options, transport):
    peer = start_peer(HoldingBack, events=events)
    sio, _, connects = watched_socket(peer, transport, **options)
    errors, got = Recorder(), Recorder()
    sio.manager.on("error", errors)
    sio.on("x", got)
    try:
        sio.connect(timeout=WAIT)  # the first connection closes with "parse error"; the second one answers
        (error,) = errors.wait(1)[0]
        assert isinstance(error, greensio.ProtocolError) and "before answering its CONNECT" in str(error)
        connects.wait(1)
        assert len(peer.sessions) == 2 and got.calls == []
        assert sio.call("echo", "after", timeout=WAIT) == "after"
    finally:
        sio.disconnect()


def test_held_events_within_the_cap_are_delivered(start_peer):
    """The control: 1,000 events before the CONNECT reply are all delivered after it."""
    peer = start_peer(HoldingBack, events=[f'["x",{i}]' for i in range(1000)])
    sio, _, _ = watched_socket(peer, "websocket")
    got = Recorder()
    sio.on("x", got)
    try:
        sio.connect(timeout=WAIT)
        assert [args[0] for args in got.wait(1000)] == list(range(1000))
    finally:
        sio.disconnect()


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_a_namespace_connect_never_answered_fails_within_the_timeout(start_peer, transport):
    timeout = 1.0
    peer = start_peer(HoldingBack, events=[], answer=False)
    sio, _, connects = watched_socket(peer, transport, timeout=timeout)
    errors = Recorder()
    sio.on("connect_error", errors)
    try:
        started = gevent.get_hub().loop.now()
        sio.connect(wait=False)
        (error,) = errors.wait(1, timeout=timeout + 0.5)[0]
        assert gevent.get_hub().loop.now() - started >= timeout * 0.9
        assert isinstance(error, greensio.ConnectionError) and "no CONNECT reply" in str(error)
        connects.wait(1)  # the normal reconnect: the second CONNECT is answered
        assert sio.call("echo", "after", timeout=WAIT) == "after" and len(peer.connects) == 2
    finally:
        sio.disconnect()


# -- cookies -------------------------------------------------------------------------------------------


class CookieFlood(Peer):
    def handshake_headers(self, request: Request) -> tuple[str, ...]:
        if len(self.requests) > 1:
            return ()
        return tuple(f"Set-Cookie: c{i:02d}=v{i}; Path=/" for i in range(60)) + ("Set-Cookie: big=" + "x" * 4096,)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_the_cookie_jar_keeps_50_cookies_of_at_most_4_KiB(start_peer, transport):
    peer = start_peer(CookieFlood)
    sio, _, connects = watched_socket(peer, transport)
    try:
        sio.connect(timeout=WAIT)
        for conn in list(peer.conns):  # a reconnect: its handshake shows what the jar kept
            conn.close()
        connects.wait(2)
    finally:
        sio.disconnect()
    (line,) = peer.requests[-1].lines_named("cookie") if transport == "websocket" else _last_handshake(peer)
    names = [pair.split(b"=")[0] for pair in line[len(b"Cookie: ") :].split(b"; ")]
    assert names == [b"c%02d" % i for i in range(10, 60)]  # the 50 most recent; "big" (4 KiB + 4) dropped


def _last_handshake(peer: Peer) -> list[bytes]:
    return [r for r in peer.requests if "sid" not in r.query][-1].lines_named("cookie")


# -- decoding cost and decompression ---------------------------------------------------------------


def test_a_payload_of_many_tiny_packets_costs_about_twice_its_size(start_peer):
    size = MiB
    payload = "\x1e".join(["6"] * (size // 2)) + '\x1e42["probe"]'
    peer = start_peer(Hostile, poll_response=http_response(200, payload, ("Content-Type: text/plain",)))
    sio, reasons, _ = watched_socket(peer, "polling")
    probes = Recorder()
    sio.on("probe", probes)
    try:
        sio.connect(timeout=WAIT)
        with traced(f"polling payload of {size // 2} NOOPs ({size / MiB:.0f} MiB)") as memory:
            sio.emit("go")
            probes.wait(1)
        assert reasons.calls == []
    finally:
        sio.disconnect()
    print(f"  {memory['peak'] / len(payload):.1f}x the payload")
    assert memory["peak"] < 2.5 * len(payload)


def _deflated_zeros(mebibytes: int) -> bytes:
    """Raw DEFLATE of that many MiB of zeros, each MiB sync-flushed: after the first, every MiB
    compresses to the same 1 KiB, so a gigabyte is built at once."""
    block = bytes(MiB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    first = compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH)
    again = compressor.compress(block) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return first + again * (mebibytes - 1)


def _gzip_zeros(mebibytes: int) -> bytes:
    crc, block = 0, bytes(MiB)
    for _ in range(mebibytes):
        crc = zlib.crc32(block, crc)
    final = b"\x03\x00"  # an empty final block
    trailer = struct.pack("<II", crc, (mebibytes * MiB) & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + _deflated_zeros(mebibytes) + final + trailer


def test_the_bombs_are_valid():
    """The control: the bombs below inflate to what they say."""
    assert zlib.decompress(_gzip_zeros(3), 16 + zlib.MAX_WBITS) == bytes(3 * MiB)
    assert zlib.decompressobj(-zlib.MAX_WBITS).decompress(_deflated_zeros(3) + b"\x03\x00") == bytes(3 * MiB)


def test_a_gzip_bomb_over_polling_is_a_parse_error_allocating_little(start_peer):
    body = _gzip_zeros(1024)  # 1 GiB of zeros in 1 MB of gzip
    head = f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(body)}\r\n\r\n"
    peer = start_peer(Hostile, poll_response=head.encode() + body)
    # the compressed body fits in the body limit (4/3 of max_message_size); what it inflates to stops there
    _hostile_then_reconnect(peer, "polling", "parse error", 5 * LIMIT, "gzip bomb, 1 GiB", max_message_size=LIMIT)


class Deflating(Hostile):
    def handshake_headers(self, request: Request) -> tuple[str, ...]:
        return ("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover",)


def test_a_permessage_deflate_bomb_is_a_parse_error_allocating_little(start_peer):
    payload = _deflated_zeros(1024)[:-4]  # 1 GiB of zeros; RFC 7692 drops the flush's 00 00 ff ff
    frame = server_frame(OP_TEXT, payload, rsv1=True)
    peer = start_peer(Deflating, ws_bytes=frame)
    what = "permessage-deflate bomb, 1 GiB"
    _hostile_then_reconnect(peer, "websocket", "parse error", 5 * LIMIT, what, max_message_size=LIMIT)
