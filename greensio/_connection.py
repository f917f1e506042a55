"""One Engine.IO connection, from the server's OPEN to its end: reading, the core, the heartbeat.

Reading happens in hub callbacks when the transport offers ``watch`` (a plain-TCP
WebSocket: no greenlet while the connection waits), else in a reader greenlet
(polling, TLS). Either way the packets go through ``_feed``: Engine.IO control
packets to the engine state (a PING queues one PONG), Socket.IO packets to the
decoder and on to their namespace socket. At most ``YIELD_EVERY`` packets are fed
per turn of the hub, so a flood never starves other greenlets.

In Engine.IO v3 (``protocol.client_pings``) the heartbeat is the client's: the
deadline timer's ``check_heartbeat`` writes a PING when one is due, the server's
PONG gives the round trip (``pong_lag_*`` in Stats), and any packet read shows
the server alive.

The connection ends once, with the first reason: the server's CLOSE ("transport
close"), a transport failure, a malformed packet ("parse error"), a silent server
("ping timeout"), or ``abort(reason)`` from the Manager. Its end is reported to the
host with ``connection_closed``, which never blocks.
"""

from __future__ import annotations

import enum
import functools
import logging
from typing import Any, Optional, Union, cast

import gevent

from . import _packetlog as packetlog
from ._contracts import ConnectionHost
from ._core.engine import EngineClosed, EngineState
from ._core.engine3 import EngineState3
from ._core.protocol import V4, Protocol
from ._exceptions import ProtocolError
from ._io.transport import Packet, Transport, TransportClosed, Watchable

__all__ = ["Connection", "State", "YIELD_EVERY"]

log = logging.getLogger("greensio")
YIELD_EVERY = 32  # packets fed before letting other greenlets run


class State(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class Connection:
    """An open Engine.IO session over one transport (two during the upgrade)."""

    __slots__ = (
        "transport", "engine", "protocol", "state", "close_reason", "upgrader", "_host", "_clock", "_loop",
        "_decoder", "_max_message", "_packet_size", "_reader", "_watching", "_last_ping", "_sockets",
        "_client_pings", "__weakref__",
    )  # fmt: skip

    def __init__(
        self,
        host: ConnectionHost,
        transport: Transport,
        engine: Union[EngineState, EngineState3],
        decoder: Any,
        max_message: int,
        protocol: Protocol = V4,
    ) -> None:
        self.transport = transport
        self.engine = engine
        self.protocol = protocol
        self._client_pings = protocol.client_pings
        self.state = State.OPEN
        self.close_reason: Optional[str] = None
        self.upgrader: Optional[gevent.Greenlet] = None
        self._host = host
        self._clock = host.runner.clock
        self._loop = host.runner.hub.loop
        self._sockets = host.sockets
        self._decoder = decoder
        self._max_message = max_message
        self._packet_size = 0  # of the Socket.IO packet being read, attachments included
        self._reader: Optional[gevent.Greenlet] = None
        self._watching = False
        self._last_ping = self._clock.now()  # the OPEN counts as the first beat
        self._clock.watch_hub()

    @property
    def sid(self) -> str:
        """The Engine.IO session id."""
        handshake = self.engine.handshake
        return handshake.sid if handshake is not None else ""

    @property
    def open(self) -> bool:
        return self.state is State.OPEN

    # -- reading --------------------------------------------------------------------

    def start(self, first: list[Packet]) -> None:
        """Feed what came with the handshake, then read: in hub callbacks if the transport can."""
        if getattr(self.transport, "watch", None) is None:
            self._reader = self._host.runner.spawn(self._read_loop, self.transport, first)
            return
        try:
            self._feed_budgeted(first)
        except (EngineClosed, ProtocolError) as exc:
            self._end(self._reason_for(exc))
            return
        if self.state is State.OPEN and not self._watch(self.transport):
            self._reader = self._host.runner.spawn(self._read_loop, self.transport, [])

    def _read_loop(self, transport: Transport, packets: list[Packet]) -> None:
        """Reader greenlet: read and feed until the connection ends, or until a transport watches."""
        try:
            while True:
                self._feed_budgeted(packets)
                if self.state is not State.OPEN:
                    return
                if self._watch(transport):
                    return
                try:
                    packets = transport.read()
                except TransportClosed as exc:
                    upgraded = self.transport
                    if upgraded is transport or self.state is not State.OPEN:
                        self._end(exc.reason)
                        return
                    self._count_bytes(transport)  # polling ended by the upgrade: go on with the WebSocket
                    transport, packets = upgraded, []
        except (EngineClosed, ProtocolError) as exc:
            self._end(self._reason_for(exc))
        except Exception:  # a bug of ours: say so, and let the reconnection policy take over
            log.exception("the connection loop failed while reading")
            self._end("transport error")
        finally:
            if self._reader is gevent.getcurrent():
                self._reader = None

    def _feed_budgeted(self, packets: list[Packet]) -> None:
        start, count = 0, len(packets)
        while start < count and self.state is State.OPEN:
            stop = min(count, start + YIELD_EVERY)
            self._feed(packets, start, stop)
            start = stop
            if start < count:
                gevent.sleep(0)

    def _watch(self, transport: Transport) -> bool:
        watch = getattr(transport, "watch", None)
        if watch is None or transport is not self.transport:
            return False
        self._watching = watch(functools.partial(self._watched, cast(Watchable, transport)), self._watch_closed)
        return self._watching

    def _watched(self, transport: Watchable, packets: list[Packet], start: int = 0) -> None:
        """Hub callback: feed what a read brought, YIELD_EVERY packets per turn of the hub."""
        stop = min(len(packets), start + YIELD_EVERY)
        try:
            self._feed(packets, start, stop)
        except (EngineClosed, ProtocolError) as exc:
            self._end(self._reason_for(exc))
            return
        except Exception:  # a bug of ours: say so, and let the reconnection policy take over
            log.exception("the connection loop failed while reading")
            self._end("transport error")
            return
        if stop < len(packets) and self.state is State.OPEN:
            transport.pause_reading()
            self._loop.run_callback(self._watched_rest, transport, packets, stop)

    def _watched_rest(self, transport: Watchable, packets: list[Packet], start: int) -> None:
        if self.state is State.OPEN and cast(Any, self.transport) is transport:
            transport.resume_reading()
            self._watched(transport, packets, start)

    def _watch_closed(self, reason: str, error: Optional[ProtocolError]) -> None:
        """The transport read in hub callbacks ended."""
        self._end(self._reason_for(error) if error is not None else reason)

    def _feed(self, packets: list[Packet], start: int, stop: int) -> None:
        """Hand ``packets[start:stop]`` to the core (never blocks)."""
        sockets = self._sockets
        engine = self.engine
        decoder = self._decoder
        size = self._packet_size
        debug = packetlog.enabled()
        self._host.counters.packets_received += stop - start
        for i in range(start, stop):
            packet = packets[i]
            if isinstance(packet, str):
                if packet.startswith("4"):
                    size += len(packet) - 1
                    pkt = decoder.feed_text(packet, 1)
                else:
                    if debug:
                        packetlog.log_received(packet, len(packet))
                    self._control(engine, packet)
                    continue
            else:
                size += len(packet)
                if size > self._max_message:  # attachments are kept until the last one
                    raise ProtocolError(f"binary packet of more than {size} bytes exceeds max_message_size")
                pkt = decoder.feed_binary(packet)
            if pkt is not None:
                if debug:
                    packetlog.log_received(pkt, size)
                socket = sockets.get(pkt.nsp)
                if socket is not None and socket.active:
                    socket.on_packet(pkt, size)
                size = 0
        self._packet_size = size
        if self._client_pings:  # v3: anything from the server shows it alive
            engine.alive(self._clock.now())

    def _control(self, engine: Union[EngineState, EngineState3], packet: str) -> None:
        now = self._clock.now()
        engine.receive(packet, now)
        if self._client_pings:
            if packet[:1] == "3":  # the next PING is due pingInterval from now
                self._pong_received(cast(EngineState3, engine))
            return
        if engine.outbox:
            handshake = engine.handshake
            expected = self._last_ping + (handshake.ping_interval if handshake is not None else 0.0)
            self._last_ping = now
            # Late against the schedule: count the lateness only as far as the hub was blocked,
            # so that a PING slowed down by the network is not blamed on the hub.
            due = now - min(now - expected, self._clock.hub_blocked_since(expected)) if now > expected else now
            for reply in engine.outbox:
                self._host.outbox.write_pong(reply, due)
            engine.outbox.clear()
            self._host.runner.arm(engine.deadline)
            self._host.fire("ping")

    def _reason_for(self, exc: Union[EngineClosed, ProtocolError]) -> str:
        if isinstance(exc, EngineClosed):
            return "transport close"
        if self.state is State.OPEN:
            log.warning("closing the connection: %s", exc)
            self._host.fire("error", exc)
        return "parse error"

    # -- ending ---------------------------------------------------------------------

    def _pong_received(self, engine: EngineState3) -> None:
        """v3: the server answered our PING: arm the timer for the next one; ``pong_lag_*`` hold the round trip."""
        self._host.runner.arm(engine.next_timer)
        rtt = engine.rtt
        if rtt is not None:
            counters = self._host.counters
            counters.pong_lag_last = rtt
            counters.pong_lag_max = max(counters.pong_lag_max, rtt)

    def check_heartbeat(self, now: float) -> float:
        """End the connection if the server went silent (v3: send the PING that is due first);
        return when to check again."""
        engine = self.engine
        if self._client_pings:
            return self._client_heartbeat(cast(EngineState3, engine), now)
        if self.state is State.OPEN and engine.expired(now):
            self.abort("ping timeout")
        return engine.deadline

    def _client_heartbeat(self, engine: EngineState3, now: float) -> float:
        if self.state is not State.OPEN:
            return engine.next_timer
        if engine.expired(now):
            self.abort("ping timeout")
            return engine.next_timer
        engine.tick(now)
        if engine.outbox:
            self._host.outbox.write(engine.outbox)
            engine.outbox.clear()
            self._host.fire("ping")
        return engine.next_timer

    def abort(self, reason: str) -> None:
        """End the connection with ``reason`` (the first reason wins)."""
        self._end(reason)

    def stop(self) -> None:
        """End the connection (if open) and wait until its reader and upgrader greenlets are gone."""
        self._end("forced close")
        current = gevent.getcurrent()
        greenlets = [g for g in (self._reader, self.upgrader) if g is not None and g is not current]
        gevent.killall(greenlets)

    def _end(self, reason: str) -> None:
        if self.state is not State.OPEN:
            return
        self.state = State.CLOSED
        self.close_reason = reason
        self._clock.unwatch_hub()
        upgrader = self.upgrader
        if upgrader is not None and upgrader is not gevent.getcurrent():
            upgrader.kill(block=False)
        self.transport.close()
        self._count_bytes(self.transport)
        self._host.connection_closed(self, reason)

    def _count_bytes(self, transport: Transport) -> None:
        counters = self._host.counters
        counters.bytes_received += transport.bytes_in
        counters.bytes_sent += transport.bytes_out

    def switch_to(self, transport: Transport) -> None:
        """The upgrade succeeded: read and write on ``transport`` (the old one is read to its end first)."""
        if self.state is not State.OPEN:
            raise TransportClosed("transport close", "the connection ended during the upgrade")
        old = self.transport
        self.transport = transport
        old.close()  # the reader reads what polling brought, then moves on
        self._host.connection_upgraded(self)
