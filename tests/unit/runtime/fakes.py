"""In-memory stand-ins for time and the network, so that a whole Manager runs in a unit test.

- ``FakeClock``: time moves only when the test calls ``advance(seconds)``, which fires
  the due ``call_at`` timers in the hub and wakes the greenlets sleeping in
  ``sleep()``, in deadline order. ``hub_blocked_since`` returns what the test scripts.
- ``FakePolling`` / ``FakeWebSocket`` / ``WatchableFakeWebSocket``: transports over
  in-memory queues. What the client writes goes to the server at once; what the
  server sends waits in an inbox until the client reads it (``read()`` in a reader
  greenlet, or hub callbacks after ``watch``). The test controls whether writes are
  taken (``write_gate``, ``accepting`` for ``try_write``).
- ``FakeServer``: a scripted Engine.IO v4 / Socket.IO v5 server, the Manager's
  TransportFactory. It opens sessions (OPEN with the configured sid, pingInterval,
  pingTimeout, maxPayload and upgrades), answers namespace CONNECTs (or refuses
  them, or stays silent), acks the events that ask for one, answers the upgrade
  probe (or not), and sends whatever the test asks. Everything the client sends is
  decoded with greensio's own codecs and recorded. With ``protocol = 3`` it is a
  Socket.IO 2.x server instead (Engine.IO v3 / Socket.IO v4), as socket.io 2.x
  (``flavour = "node2"``) or python-socketio 4 (``"py4"``) answer: see FakeServer.

Nothing here sleeps for real: greenlets run when the test yields (``settle()``) or
advances the clock.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import time
from collections import deque
from collections.abc import Iterator
from typing import Any, Callable, Optional, Sequence, Union
from urllib.parse import parse_qs, parse_qsl, urlsplit

import gevent
from gevent.event import Event
from gevent.lock import Semaphore

import greensio
from greensio._core import sio
from greensio._core.protocol import V3, V4, Protocol
from greensio._exceptions import ProtocolError
from greensio._io.transport import ConnectParams, HTTPStatusError, Packet, TransportClosed

__all__ = [
    "FakeClock",
    "FakeTimer",
    "FakeTransport",
    "FakePolling",
    "FakeWebSocket",
    "WatchableFakeWebSocket",
    "FakeSession",
    "FakeServer",
    "Recorder",
    "Rig",
    "settle",
]

SETTLE_ROUNDS = 8
LINGER_BOUND = 3.0  # seconds: more than Dispatcher's LINGER, the most an idle handler greenlet waits for work


def settle(rounds: int = SETTLE_ROUNDS) -> None:
    """Let every greenlet and hub callback that is ready run (no time passes on the fake clock)."""
    for _ in range(rounds):
        gevent.idle()


def _size(packets: Sequence[Packet]) -> int:
    return sum(len(p) for p in packets)


# -- time -------------------------------------------------------------------------------------


class FakeTimer:
    """A ``call_at`` timer of the FakeClock."""

    __slots__ = ("deadline", "callback", "closed")

    def __init__(self, deadline: float, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.closed = False

    def close(self) -> None:
        """As a gevent timer's close(): it never fires and lets go of its callback."""
        self.closed = True
        self.callback = _never_called


def _never_called() -> None:
    raise AssertionError("a closed timer fired")


class FakeClock:
    """A Clock whose time advances only by ``advance()``."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._seq = itertools.count()
        self._due: list[tuple[float, int, Union[FakeTimer, Event]]] = []  # timers and sleepers, a heap
        self.sleeps: list[float] = []
        """The durations asked of ``sleep()``, in order."""
        self.blocked = 0.0
        """What ``hub_blocked_since`` answers: how long the hub was blocked (by CPU-bound code)."""
        self.blocked_asked: list[float] = []
        """The ``since`` of each ``hub_blocked_since`` call."""
        self.watchers = 0
        """``watch_hub`` calls not yet matched by ``unwatch_hub``."""

    def now(self) -> float:
        return self._now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds <= 0:
            gevent.sleep(0)
            return
        woken = Event()
        heapq.heappush(self._due, (self._now + seconds, next(self._seq), woken))
        try:
            woken.wait()
        finally:
            woken.set()  # killed while sleeping: no longer a sleeper

    def call_at(self, deadline: float, callback: Callable[[], None]) -> FakeTimer:
        timer = FakeTimer(deadline, callback)
        heapq.heappush(self._due, (deadline, next(self._seq), timer))
        return timer

    def watch_hub(self) -> None:
        self.watchers += 1

    def unwatch_hub(self) -> None:
        self.watchers -= 1

    def hub_blocked_since(self, since: float) -> float:
        self.blocked_asked.append(since)
        return self.blocked

    @property
    def timers(self) -> list[float]:
        """The deadlines of the timers that are started, earliest first."""
        return sorted(d for d, _, item in self._due if isinstance(item, FakeTimer) and not item.closed)

    @property
    def sleepers(self) -> int:
        """Greenlets waiting in ``sleep()`` (not killed)."""
        return sum(1 for _, _, item in self._due if isinstance(item, Event) and not item.is_set())

    def advance(self, seconds: float) -> None:
        """Move time forward, firing timers and waking sleepers in deadline order, letting greenlets run after each."""
        if seconds < 0:
            raise ValueError("time does not go back")
        target = self._now + seconds
        settle()
        while self._due and self._due[0][0] <= target:
            deadline, _, item = heapq.heappop(self._due)
            if isinstance(item, FakeTimer) and item.closed:
                continue
            self._now = max(self._now, deadline)
            if isinstance(item, FakeTimer):
                gevent.get_hub().loop.run_callback(self._fire, item)  # timers run in the hub, as gevent's do
            else:
                item.set()
            settle()
        self._now = target
        settle()

    def jump(self, seconds: float) -> None:
        """Move time forward with nothing run: a hub blocked by CPU-bound code (timers fire at the next ``advance``)."""
        self._now += seconds

    @staticmethod
    def _fire(timer: FakeTimer) -> None:
        if not timer.closed:
            timer.callback()


# -- transports -----------------------------------------------------------------------------


class FakeTransport:
    """An in-memory transport: the server's packets wait in an inbox, the client's go to the server at once."""

    name = "fake"

    def __init__(self, session: FakeSession) -> None:
        self.session = session
        session.server.transports.append(self)
        self.bytes_in = 0
        self.bytes_out = 0
        self.closed = False
        """Closed by the client (``close``, ``close_gracefully`` or ``abandon``)."""
        self.graceful = False
        """The client said goodbye before closing."""
        self.abandoned = False
        self.ended: Optional[str] = None
        """Ended by the server: the reason ``read()`` raises once the inbox is read."""
        self.writes: list[list[Packet]] = []
        """The packets of each write that reached the server."""
        self.protocol: Protocol = V4
        """The protocol the client reads and writes in (``speak`` changes it)."""
        self.write_gate = Event()
        """Cleared: ``write()`` blocks (a peer that does not read) until it is set again."""
        self.write_gate.set()
        self.broken = False
        """Writes fail (a connection reset under the writer)."""
        self._inbox: deque[list[Packet]] = deque()
        self._arrived = Event()
        self._lock = Semaphore()  # one write at a time, as a socket's sendall

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.session.sid}>"

    # -- the server's side

    def deliver(self, packets: Sequence[Packet]) -> None:
        """The server sends ``packets``; they arrive together (one read)."""
        if self.closed or self.ended is not None:
            return
        self._inbox.append(list(packets))
        self._arrived.set()

    def end(self, reason: str = "transport close") -> None:
        """The server's side goes away: reads fail with ``reason`` once what arrived is read."""
        if self.ended is None and not self.closed:
            self.ended = reason
            self._arrived.set()

    @property
    def unread(self) -> int:
        """Reads' worth of packets waiting in the inbox."""
        return len(self._inbox)

    # -- the client's side (Transport)

    def read(self) -> list[Packet]:
        while True:
            if self._inbox:
                packets = self._inbox.popleft()
                self.bytes_in += _size(packets)
                return packets
            if self.closed:
                raise TransportClosed("transport close", "closed by the client")
            if self.ended is not None:
                raise TransportClosed(self.ended, "ended by the server")
            self._arrived.clear()
            self._arrived.wait()

    def write(self, packets: Sequence[Packet]) -> None:
        with self._lock:
            self.write_gate.wait()
            self._send(list(packets))

    def _send(self, packets: list[Packet]) -> None:
        if self.closed or self.ended is not None or self.broken:
            raise TransportClosed("transport error", "write on a closed transport")
        if not packets:
            return
        self.bytes_out += _size(packets)
        self.writes.append(packets)
        self.session.received(self, packets)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._arrived.set()
        self.session.server.log.append(("close", self.name))

    def close_gracefully(self) -> None:
        raise NotImplementedError

    def speak(self, protocol: Protocol) -> None:
        self.protocol = protocol

    def abandon(self) -> None:
        self.abandoned = True
        self.closed = True
        self._arrived.set()


class FakePolling(FakeTransport):
    """Polling: read in a reader greenlet, no ``try_write`` (so every write goes through the writer greenlet)."""

    name = "polling"

    def __init__(self, session: FakeSession) -> None:
        super().__init__(session)
        self.paused = False
        self.begun: Optional[tuple[str, int]] = None

    def begin(self, sid: str, max_payload: int) -> None:
        """The client read the OPEN: later requests carry its sid."""
        self.begun = (sid, max_payload)

    def pause(self, timeout: Optional[float] = None) -> bool:
        """As the real one: no new GET; the server answers the pending one with a NOOP."""
        self.paused = True
        server = self.session.server
        server.pause_gate.wait()
        if not server.pause_ok:
            return False
        self.deliver(["6"])
        return True

    def resume(self) -> None:
        self.paused = False

    def close_gracefully(self) -> None:
        """POST a CLOSE packet (never blocks), then close."""
        if not self.closed and self.ended is None:
            self.graceful = True
            self._send(["1"])
        self.close()


class FakeWebSocket(FakeTransport):
    """A WebSocket read in a reader greenlet (as over TLS), with ``try_write`` for the hub."""

    name = "websocket"

    def __init__(self, session: FakeSession) -> None:
        super().__init__(session)
        self.accepting = session.server.ws_accepting
        """What ``try_write`` does: True, the socket takes everything at once; False, nothing."""
        self.try_writes = 0
        self._tail: list[Packet] = []  # what try_write could not hand over

    def try_write(self, packets: Sequence[Packet]) -> bool:
        self.try_writes += 1
        if self.closed or self.ended is not None or self.broken:
            raise TransportClosed("transport error", "write on a closed transport")
        if not self.accepting or self._lock.locked():
            self._tail.extend(packets)
            return False
        batch, self._tail = self._tail + list(packets), []
        self._send(batch)
        return True

    def write(self, packets: Sequence[Packet]) -> None:
        with self._lock:
            self.write_gate.wait()
            batch, self._tail = self._tail + list(packets), []
            self._send(batch)

    def close_gracefully(self) -> None:
        """Send a close frame, which waits for a write in progress (as the real one's write lock), then close."""
        if not self.closed and self.ended is None:
            with self._lock:
                self.graceful = True
                self.session.server.log.append(("close frame", self.name))
        self.close()


class WatchableFakeWebSocket(FakeWebSocket):
    """A WebSocket that can be read in hub callbacks (as over plain TCP)."""

    def __init__(self, session: FakeSession) -> None:
        super().__init__(session)
        self.reading_paused = False
        self.pauses = 0
        """How often ``pause_reading`` was called."""
        self._on_packets: Optional[Callable[[list[Packet]], None]] = None
        self._on_closed: Optional[Callable[[str, Optional[ProtocolError]], None]] = None
        self._scheduled = False

    @property
    def watched(self) -> bool:
        return self._on_packets is not None

    def watch(
        self, on_packets: Callable[[list[Packet]], None], on_closed: Callable[[str, Optional[ProtocolError]], None]
    ) -> bool:
        if self.closed:
            return False
        self._on_packets, self._on_closed = on_packets, on_closed
        self._schedule()
        return True

    def pause_reading(self) -> None:
        self.reading_paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.reading_paused = False
        self._schedule()

    def deliver(self, packets: Sequence[Packet]) -> None:
        super().deliver(packets)
        self._schedule()

    def end(self, reason: str = "transport close") -> None:
        super().end(reason)
        self._schedule()

    def corrupt(self, error: ProtocolError) -> None:
        """The server sends a frame the transport cannot parse."""
        gevent.get_hub().loop.run_callback(self._finish, "parse error", error)

    def close(self) -> None:
        super().close()
        self._finish("transport close", None)

    def abandon(self) -> None:
        super().abandon()
        self._on_packets = self._on_closed = None

    def _schedule(self) -> None:
        if self._on_packets is not None and not self._scheduled:
            self._scheduled = True
            gevent.get_hub().loop.run_callback(self._pump)

    def _pump(self) -> None:
        """Hub callback: what one read brings, as the real transport's io watcher."""
        self._scheduled = False
        on_packets = self._on_packets
        if on_packets is None or self.reading_paused:
            return
        if self._inbox:
            packets = self._inbox.popleft()
            self.bytes_in += _size(packets)
            on_packets(packets)
            if self._inbox:
                self._schedule()
        elif self.ended is not None:
            self._finish(self.ended, None)

    def _finish(self, reason: str, error: Optional[ProtocolError]) -> None:
        on_closed, self._on_closed = self._on_closed, None
        self._on_packets = None
        if on_closed is not None:
            on_closed(reason, error)


# -- the server -------------------------------------------------------------------------------


class FakeSession:
    """One Engine.IO session on the FakeServer."""

    def __init__(self, server: FakeServer, sid: str) -> None:
        self.server = server
        self.sid = sid
        self.transport: FakeTransport = FakePolling(self)
        """The transport the server sends on (the probe WebSocket once the client sent UPGRADE)."""
        self.probe: Optional[FakeWebSocket] = None
        self.upgraded = False
        self._decoder: Any = server.decoder_class()

    def send(self, packets: Sequence[Packet]) -> None:
        self.transport.deliver(packets)

    def received(self, transport: FakeTransport, packets: list[Packet]) -> None:
        """What the client wrote on one of this session's transports."""
        server = self.server
        for packet in packets:
            server.log.append(("recv", packet))
            if transport is self.probe and not self.upgraded:
                self._probe_packet(packet)
            elif isinstance(packet, bytes):
                self._sio(self._decoder.feed_binary(packet))
            elif packet[:1] == "4":
                if server.protocol == 3 and packet[1:2] in ("0", "1"):
                    self._sio(_v3_join_or_leave(packet[1:]))
                else:
                    self._sio(self._decoder.feed_text(packet[1:]))
            elif packet[:1] == "3":
                server.pongs += 1
            elif packet[:1] == "2" and server.protocol == 3:
                server.pings += 1
                if server.answer_pings:
                    transport.deliver(["3"])

    def _probe_packet(self, packet: Packet) -> None:
        probe = self.probe
        assert probe is not None
        if packet == "2probe":
            answer = self.server.probe_answer
            if answer == "answer":
                probe.deliver(["3probe"])
            elif answer == "wrong":
                probe.deliver(["3nope"])
            elif answer == "close":  # the server ends the session while the probe waits
                self.transport.deliver(["1"])
            elif answer == "drop":
                probe.end("transport error")
        elif packet == "5":
            self.upgraded = True
            self.transport = probe

    def _sio(self, packet: Optional[sio.Packet]) -> None:
        if packet is not None:
            self.server.packets.append(packet)
            self.server.react(self, packet)


def _v3_join_or_leave(text: str) -> sio.Packet:
    """A Socket.IO v4 CONNECT (``0/nsp?k=v,``, the query as its data) or DISCONNECT from the client."""
    kind = sio.CONNECT if text[0] == "0" else sio.DISCONNECT
    nsp, _, _ = text[1:].partition(",")
    nsp, _, query = (nsp or "/").partition("?")
    return sio.Packet(kind, nsp, dict(parse_qsl(query, keep_blank_values=True)) if query else None)


PY4_VERSION_REFUSAL = b'"The client is using an unsupported version of the Socket.IO or Engine.IO protocols"'
NODE_VERSION_REFUSAL = b'{"code":5,"message":"Unsupported protocol version"}'


class FakeServer:
    """A scripted Engine.IO v4 / Socket.IO v5 server, and the TransportFactory that reaches it.

    With ``protocol = 3``, a Socket.IO 2.x server: OPEN without maxPayload, "/" joined by the
    server (its ``40``, or ``44"reason"`` with ``refuse_root``), CONNECT replies without sid
    (``40/nsp,``) and refusals as ``44/nsp,"message"``, the client's PINGs answered with PONGs.
    Asked in the other protocol it answers as the real ones (tests/v3/test_v3_servers_raw.py):
    ``flavour = "node2"`` (socket.io 2.x) answers any EIO in v3; ``"py4"`` (python-socketio 4)
    refuses EIO=4 (HTTP 400 over polling, a WebSocket closed before OPEN) and refuses "/" in
    the handshake (HTTP 401 with the reason, or a closed WebSocket). A v4 server asked in v3
    refuses: HTTP 400 over polling, a broken WebSocket.
    """

    def __init__(self) -> None:
        # -- the script
        self.protocol = 4
        """4, or 3: a Socket.IO 2.x server of ``flavour``."""
        self.flavour = "node2"
        """With protocol 3: "node2" or "py4"."""
        self.root_in_open = True
        """v3: the server's ``40`` (or refusal) for "/" arrives with the OPEN; False: in a read of its own."""
        self.refuse_root: Optional[str] = None
        """v3: "/" is refused with this reason."""
        self.withhold_root = 0
        """v3: the next N sessions get no ``40`` for "/" from the server (it answers a client's ``40`` only)."""
        self.answer_pings = True
        """v3: answer the client's PING with a PONG."""
        self.ping_interval = 25000
        """ms, in the OPEN packet."""
        self.ping_timeout = 20000
        self.max_payload = 1_000_000
        self.upgrades: list[str] = ["websocket"]
        self.sid_prefix = "eio"
        self.handshake: Optional[Packet] = None
        """Sent instead of the OPEN packet (a server that is not Engine.IO v4)."""
        self.cookies: dict[str, str] = {}
        """Set by the polling handshake's response (as a Set-Cookie header would)."""
        self.watchable = True
        """WebSockets can be read in hub callbacks (plain TCP); False: a reader greenlet (TLS)."""
        self.ws_accepting = True
        """``try_write`` of new WebSockets takes everything (False: nothing, the writer greenlet writes)."""
        self.first_packets: list[Packet] = []
        """Sent with the OPEN, in the same read."""
        self.answer_connects = True
        self.refusals: dict[str, tuple[Any, Any]] = {}
        """Namespace -> (message, data) of the CONNECT_ERROR it answers."""
        self.silent: set[str] = set()
        """Namespaces whose CONNECT gets no reply."""
        self.before_connect_reply: list[list[Packet]] = []
        """Sent just before each CONNECT reply, in the same read (events a connect handler emits first)."""
        self.recovery = False
        """Connection state recovery: CONNECT replies carry a pid."""
        self.pid = "pid-1"
        self.ack_events = True
        """Ack each event that asks for one, with the event's arguments."""
        self.echo_events = False
        """Send each event that asks for no ack back to the client, as it came."""
        self.probe_answer = "answer"
        """The upgrade probe: "answer", "ignore" (or later: ``answer_probe()``), "wrong" (not 3probe), "close" (the
        session closes), "drop" (the probe WebSocket breaks)."""
        self.pause_ok = True
        """polling.pause() succeeds (the in-flight requests finish)."""
        self.pause_gate = Event()
        """Cleared: polling.pause() waits until it is set."""
        self.pause_gate.set()
        self.open_gate = Event()
        """Cleared: opening a transport waits until it is set (a server slow to answer)."""
        self.open_gate.set()
        self._refuse = 0
        self._refusal = ""
        # -- the records
        self.opens: list[tuple[str, ConnectParams]] = []
        """(transport name, params) of each open attempt, refused ones included."""
        self.sessions: list[FakeSession] = []
        self.transports: list[FakeTransport] = []
        """Every transport opened, probes included."""
        self.packets: list[sio.Packet] = []
        """Every Socket.IO packet the client sent, decoded, in order."""
        self.log: list[tuple[str, Any]] = []
        """("recv", packet), ("close", transport name), ("close frame", ...), in order."""
        self.pongs = 0
        self.pings = 0
        """v3: PINGs the client sent."""
        self._encoder: Any = sio.Encoder()
        self.decoder_class: Callable[[], Any] = sio.Decoder
        self._namespace_sids = itertools.count(1)

    # -- TransportFactory -------------------------------------------------------------------

    def use_msgpack(self) -> None:
        """Speak socket.io-msgpack-parser (the client needs ``parser="msgpack"``)."""
        from greensio._core.msgpack_codec import MsgpackDecoder, MsgpackEncoder

        self._encoder = MsgpackEncoder()
        self.decoder_class = MsgpackDecoder

    def open_polling(self, params: ConnectParams) -> tuple[FakePolling, list[Packet]]:
        self._opening("polling", params)
        asked = self._asked(params)
        if self.protocol == 4 and asked is V3:
            raise HTTPStatusError(400, "Bad Request", NODE_VERSION_REFUSAL)
        if self.protocol == 3 and self.flavour == "py4":
            if asked is V4:
                raise HTTPStatusError(400, "BAD REQUEST", PY4_VERSION_REFUSAL)
            if self.refuse_root is not None:
                raise HTTPStatusError(401, "UNAUTHORIZED", json.dumps(self.refuse_root).encode())
        session = self._new_session()
        transport = session.transport
        assert isinstance(transport, FakePolling)
        transport.protocol = V3 if self.protocol == 3 else V4
        if params.cookies is not None:  # as Set-Cookie lines in the handshake response
            for name, value in self.cookies.items():
                params.cookies.store(f"{name}={value}", params.host, "/socket.io/", False, time.time())
        root, later = self._root()
        if later:
            transport.deliver(later)
        return transport, [self._open_packet(session.sid, self.upgrades), *root, *self.first_packets]

    def open_websocket(self, params: ConnectParams) -> FakeWebSocket:
        self._opening("websocket", params)
        sid = parse_qs(urlsplit(params.url).query).get("sid")
        kind = WatchableFakeWebSocket if self.watchable else FakeWebSocket
        asked = self._asked(params)
        if sid:
            session = next(s for s in self.sessions if s.sid == sid[0])
            probe = kind(session)
            probe.protocol = asked
            session.probe = probe
            return probe
        refused = self.protocol == 4 and asked is V3
        if self.protocol == 3 and self.flavour == "py4":
            refused = asked is V4 or self.refuse_root is not None
        if refused:  # the WebSocket opens, then ends before any packet
            ws = kind(FakeSession(self, "refused"))
            ws.end("transport error" if self.protocol == 4 else "transport close")
            return ws
        session = self._new_session()
        ws = session.transport = kind(session)
        ws.protocol = asked
        root, later = self._root()
        ws.deliver([self._open_packet(session.sid, []), *root, *self.first_packets])
        if later:
            ws.deliver(later)
        return ws

    def _asked(self, params: ConnectParams) -> Protocol:
        eio = parse_qs(urlsplit(params.url).query).get("EIO")
        assert eio == [params.protocol.eio], f"EIO={eio} in the URL, the params ask {params.protocol}"
        return params.protocol

    def _root(self) -> tuple[list[Packet], list[Packet]]:
        """v3: the server joins (or refuses) "/" by itself: (with the OPEN, in a read of its own after it)."""
        if self.protocol != 3:
            return [], []
        if self.withhold_root:
            self.withhold_root -= 1
            return [], []
        root: list[Packet] = ["44" + json.dumps(self.refuse_root)] if self.refuse_root is not None else ["40"]
        return (root, []) if self.root_in_open else ([], root)

    def _opening(self, name: str, params: ConnectParams) -> None:
        jar = params.cookies
        cookie = jar.header(params.host, "/socket.io/", False, time.time()) if jar is not None else None
        if cookie is not None:  # what a real transport sends: the Manager's jar as a Cookie header
            params = dataclasses.replace(params, headers={**params.headers, "Cookie": cookie})
        self.opens.append((name, params))
        self.open_gate.wait()
        if self._refuse:
            self._refuse -= 1
            raise TransportClosed("transport error", self._refusal)

    def _new_session(self) -> FakeSession:
        session = FakeSession(self, f"{self.sid_prefix}{len(self.sessions) + 1}")
        self.sessions.append(session)
        return session

    def _open_packet(self, sid: str, upgrades: list[str]) -> Packet:
        if self.handshake is not None:
            return self.handshake
        handshake = {
            "sid": sid,
            "upgrades": upgrades,
            "pingInterval": self.ping_interval,
            "pingTimeout": self.ping_timeout,
            "maxPayload": self.max_payload,
        }
        if self.protocol == 3:
            del handshake["maxPayload"]
        return "0" + json.dumps(handshake)

    # -- scripting ------------------------------------------------------------------------------

    def refuse(self, times: int = 1, detail: str = "connection refused") -> None:
        """The next ``times`` open attempts fail (as a refused TCP connection)."""
        self._refuse = times
        self._refusal = detail

    def answer_probe(self) -> None:
        """Answer the latest session's upgrade probe now (with ``probe_answer = "ignore"``)."""
        probe = self.session.probe
        assert probe is not None, "no probe to answer"
        probe.deliver(["3probe"])

    @property
    def session(self) -> FakeSession:
        """The latest session."""
        return self.sessions[-1]

    @property
    def transport(self) -> FakeTransport:
        """The transport the latest session sends on."""
        return self.session.transport

    def send(self, *packets: Packet) -> None:
        """Raw Engine.IO packets, arriving together."""
        self.session.send(packets)

    def frames(self, type: int, nsp: str = "/", data: Any = None, id: Optional[int] = None) -> list[Packet]:
        """A Socket.IO packet as Engine.IO packets."""
        first, attachments = self._encoder.encode(type, nsp, data, id)
        return ["4" + first if isinstance(first, str) else first, *attachments]

    def emit(self, event: str, *args: Any, nsp: str = "/", ack_id: Optional[int] = None) -> None:
        self.session.send(self.frames(sio.EVENT, nsp, [event, *args], ack_id))

    def ack(self, ack_id: int, *args: Any, nsp: str = "/") -> None:
        self.session.send(self.frames(sio.ACK, nsp, list(args), ack_id))

    def ping(self) -> None:
        self.session.send(["2"])

    def close(self) -> None:
        """Engine.IO CLOSE."""
        self.session.send(["1"])

    def disconnect(self, nsp: str = "/") -> None:
        """Socket.IO DISCONNECT of a namespace."""
        self.session.send(self.frames(sio.DISCONNECT, nsp))

    def connect_reply(self, nsp: str = "/", sid: Optional[str] = None, pid: Optional[str] = None) -> None:
        if self.protocol == 3:
            self.session.send([_v3_reply("0", nsp)])
            return
        data: dict[str, Any] = {"sid": sid or f"sio{next(self._namespace_sids)}"}
        if pid is not None:
            data["pid"] = pid
        self.session.send(self.frames(sio.CONNECT, nsp, data))

    def connect_error(self, nsp: str = "/", message: str = "refused", data: Any = None) -> None:
        self.session.send([self._refusal_packet(nsp, message, data)])

    def _refusal_packet(self, nsp: str, message: str, data: Any) -> Packet:
        if self.protocol == 3:  # an ERROR with Node 2.x's `err.data || err.message`
            return _v3_reply("4", nsp, json.dumps(data if data is not None else message))
        return self.frames(sio.CONNECT_ERROR, nsp, {"message": message, "data": data})[0]

    def drop(self, reason: str = "transport error") -> None:
        """The connection breaks: the client's reads fail with ``reason``."""
        session = self.session
        session.transport.end(reason)
        if session.probe is not None:
            session.probe.end(reason)

    def react(self, session: FakeSession, packet: sio.Packet) -> None:
        """The server's scripted answer to a packet from the client."""
        if packet.type == sio.CONNECT:
            nsp = packet.nsp
            if nsp in self.refusals:
                message, extra = self.refusals[nsp]
                session.send([self._refusal_packet(nsp, message, extra)])
            elif self.answer_connects and nsp not in self.silent and self.protocol == 3:
                first = [p for packets in self.before_connect_reply for p in packets]
                session.send([*first, _v3_reply("0", nsp)])
            elif self.answer_connects and nsp not in self.silent:
                first = [p for packets in self.before_connect_reply for p in packets]
                data: dict[str, Any] = {"sid": f"sio{next(self._namespace_sids)}"}
                if self.recovery:
                    data["pid"] = self.pid
                session.send([*first, *self.frames(sio.CONNECT, nsp, data)])
        elif packet.type == sio.EVENT and packet.id is not None and self.ack_events:
            session.send(self.frames(sio.ACK, packet.nsp, packet.data[1:], packet.id))
        elif packet.type == sio.EVENT and packet.id is None and self.echo_events:
            session.send(self.frames(sio.EVENT, packet.nsp, packet.data))

    # -- records --------------------------------------------------------------------------------

    def received(self, type: int, nsp: Optional[str] = "/") -> list[sio.Packet]:
        """The client's packets of one type (on one namespace; None: any)."""
        return [p for p in self.packets if p.type == type and (nsp is None or p.nsp == nsp)]

    def events(self, nsp: str = "/") -> list[list[Any]]:
        """The data (name and arguments) of each event the client sent on ``nsp``."""
        return [p.data for p in self.received(sio.EVENT, nsp)]

    def connects(self, nsp: str = "/") -> list[Any]:
        """The data of each CONNECT the client sent on ``nsp``."""
        return [p.data for p in self.received(sio.CONNECT, nsp)]

    def ack_id(self, event: str, nsp: str = "/") -> int:
        """The ack id of the last ``event`` the client sent."""
        ids = [p.id for p in self.received(sio.EVENT, nsp) if p.data[0] == event]
        assert ids and ids[-1] is not None, f"no {event!r} with an ack id was sent"
        return ids[-1]

    def engine_packets(self) -> list[Packet]:
        """Every Engine.IO packet the client sent, in order."""
        return [value for kind, value in self.log if kind == "recv"]


def _v3_reply(kind: str, nsp: str, data: str = "") -> str:
    """A Socket.IO v4 packet from the server: ``4<kind>[/nsp,]<data>``."""
    return f"4{kind}{data}" if nsp == "/" else f"4{kind}{nsp},{data}"


# -- test helpers -----------------------------------------------------------------------------


class Recorder:
    """A handler that records its calls; ``calls`` holds each call's arguments."""

    def __init__(self, result: Any = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.result = result
        self.called = Event()

    def __call__(self, *args: Any) -> Any:
        self.calls.append(args)
        self.called.set()
        return self.result

    def __len__(self) -> int:
        return len(self.calls)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self.calls)


class Rig:
    """A FakeServer, a FakeClock, and the Managers a test makes on them (torn down at its end)."""

    URL = "http://server.test:3000"

    def __init__(self) -> None:
        self.server = FakeServer()
        self.clock = FakeClock()
        self.managers: list[greensio.Manager] = []

    def manager(self, url: str = URL, **options: Any) -> greensio.Manager:
        manager = greensio.Manager(url, _transports=self.server, _clock=self.clock, **options)
        self.managers.append(manager)
        return manager

    def socket(
        self, namespace: str = "/", *, socket: Optional[dict[str, Any]] = None, **options: Any
    ) -> greensio.Socket:
        """A socket on a new Manager (``options``: the Manager's; ``socket``: the socket's)."""
        return self.manager(**options).socket(namespace, **(socket or {}))

    def connected(
        self, namespace: str = "/", *, socket: Optional[dict[str, Any]] = None, **options: Any
    ) -> greensio.Socket:
        """A socket on a new Manager, connected to its namespace."""
        sio_ = self.socket(namespace, socket={**(socket or {}), "auto_connect": False}, **options)
        return sio_.connect(timeout=5)

    @staticmethod
    def settle() -> None:
        settle()

    def teardown(self) -> None:
        """Disconnect every socket, then check that every greenlet and hub watch of the Managers ended."""
        server = self.server
        for gate in (server.open_gate, server.pause_gate, *(t.write_gate for t in server.transports)):
            gate.set()
        for manager in self.managers:
            if manager.forked:
                continue
            for namespace in list(manager.sockets.values()):
                namespace.disconnect()
        settle()
        for manager in self.managers:
            if not manager.forked:
                # An idle handler greenlet may linger a moment (Dispatcher's LINGER) before it ends.
                gevent.joinall(list(manager.runner.greenlets), timeout=LINGER_BOUND)
                assert not manager.runner.greenlets, f"greenlets left running: {manager.runner.greenlets}"
        if not any(manager.forked for manager in self.managers):  # a forked Manager never ends its connection
            assert self.clock.watchers == 0, "a connection still watches the hub"


def in_os_thread(fn: Callable[[], Any], timeout: float = 5.0) -> Optional[BaseException]:
    """Run ``fn`` in a real OS thread (even when threading is monkey-patched); what it raised, if anything.

    The calling greenlet waits cooperatively, so the hub keeps running meanwhile.
    """
    from gevent.threadpool import ThreadPool

    pool = ThreadPool(1)
    try:
        result = pool.spawn(_capture, fn)
        raised: Optional[BaseException] = result.get(timeout=timeout)
        return raised
    finally:
        pool.kill()


def _capture(fn: Callable[[], Any]) -> Optional[BaseException]:
    try:
        fn()
    except BaseException as exc:
        return exc
    return None
