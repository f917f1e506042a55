"""Manager: one Engine.IO connection, its greenlets, and the namespace sockets on it."""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import urllib.request
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union, cast

import gevent

from ._core import sio
from ._core.backoff import Backoff
from ._core.cookies import cookie_header
from ._core.engine import EngineClosed, EngineState
from ._core.url import Proxy, Target, engine_url, parse_proxy, parse_url
from ._dispatch import Dispatcher
from ._emitter import Emitter
from ._exceptions import ConnectionError, Error, ProtocolError
from ._io.net import make_ssl_context
from ._io.polling import PollingTransport
from ._io.transport import Transport, TransportClosed
from ._io.websocket import WebSocketTransport
from ._options import ManagerOptions, resolve
from ._runtime import Runner, monotonic
from ._stats import Counters, Stats

if TYPE_CHECKING:
    from ._socket import Socket

__all__ = ["Manager"]

log = logging.getLogger("greensio")
YIELD_EVERY = 32  # packets the reader handles before letting other greenlets run
FLUSH_TIMEOUT = 5.0  # how long a closing connection waits for queued packets to go out

# (scheme, host, port, path) -> Manager, for multiplexing; cleared in a forked child.
_cache: weakref.WeakValueDictionary[tuple[str, str, int, str], Manager] = weakref.WeakValueDictionary()
_live: weakref.WeakSet[Manager] = weakref.WeakSet()
# Servers this process upgraded to WebSocket (remember_upgrade, as JS's priorWebsocketSuccess).
_upgraded: set[tuple[str, str, int, str]] = set()


def _after_fork_in_child() -> None:
    _cache.clear()
    for manager in list(_live):
        manager._abandon()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Manager:
    """One Engine.IO connection shared by namespace sockets, with reconnection.

    Events (``manager.on(...)``): ``open``, ``close(reason)``, ``error(err)``,
    ``ping``, ``reconnect_attempt(n)``, ``reconnect(n)``, ``reconnect_error(err)``,
    ``reconnect_failed()``.
    """

    __slots__ = (
        "__weakref__",
        "_backoff",
        "_close_reason",
        "_closing",
        "_cookies",
        "_counters",
        "_decoder_class",
        "_dispatch",
        "_encoder",
        "_engine",
        "_epoch",
        "_events",
        "_flush_scheduled",
        "_forked",
        "_hub_loop",
        "_key",
        "_loop",
        "_nsps",
        "_out",
        "_packet_size",
        "_params",
        "_ping_at",
        "_proxy",
        "_reconnecting",
        "_runner",
        "_skip_reconnect",
        "_ssl_context",
        "_target",
        "_transport",
        "_upgrader",
        "_upgrading",
        "_writer",
        "observer",
        "options",
    )

    def __init__(self, url: str = "http://localhost", **options: Any) -> None:
        self._target: Target = parse_url(url)
        self.options = ManagerOptions(**options)
        self._forked = False  # set in a forked child by the at-fork hook (no getpid() per emit)
        self._events = Emitter()
        self._runner = Runner(self._on_deadline)
        self._dispatch = Dispatcher(self._runner.spawn, self.options.handler_concurrency)
        self._encoder, self._decoder_class = _parser(self.options.parser, self.options.json)
        self._counters = Counters()
        self._ping_at = 0.0  # when the PING whose PONG is queued was read
        self._packet_size = 0  # of the Socket.IO packet being read, attachments included
        self.observer = self.options.observer
        self._backoff = Backoff(
            self.options.reconnection_delay, self.options.reconnection_delay_max, self.options.randomization_factor
        )
        self._nsps: dict[str, Socket] = {}
        self._loop: Optional[gevent.Greenlet] = None
        self._transport: Optional[Transport] = None
        self._engine: Optional[EngineState] = None
        self._out: list[Union[str, bytes]] = []
        self._writer: Optional[gevent.Greenlet] = None  # alive only while a write would block
        self._upgrader: Optional[gevent.Greenlet] = None
        self._upgrading = False  # writes are held while the transport is being switched
        self._cookies: dict[str, str] = {}  # kept per Manager, sent on every request (sticky sessions)
        self._params: tuple[dict[str, Any], dict[str, Any]] = ({}, {})  # query and headers of this connection
        self._proxy = _proxy_for(self._target, self.options.proxy, self.options.trust_env)
        self._key = (self._target.scheme, self._target.host, self._target.port, self.options.path)
        self._flush_scheduled = False
        self._hub_loop = gevent.get_hub().loop
        self._close_reason: Optional[str] = None
        self._closing = False
        self._epoch = 0
        self._reconnecting = False
        self._skip_reconnect = False
        _live.add(self)
        self._ssl_context = (
            make_ssl_context(self.options.ssl_verify, self.options.ssl_context) if self._target.secure else None
        )

    # -- public -----------------------------------------------------------------

    def socket(self, namespace: str = "/", **socket_options: Any) -> Socket:
        """The socket for ``namespace`` on this Manager (created on first use)."""
        from ._socket import Socket

        existing = self._nsps.get(namespace)
        if existing is not None:
            if not existing.active and socket_options.get("auto_connect", True):
                existing.connect(wait=False)
            return existing
        return Socket._on_manager(self, namespace, **socket_options)

    def on(self, event: str, handler: Optional[Callable[..., Any]] = None) -> Any:
        """Register a Manager event handler; usable as a decorator."""
        return self._events._add(event, handler, once=False)

    def once(self, event: str, handler: Optional[Callable[..., Any]] = None) -> Any:
        """Register a Manager event handler for one call."""
        return self._events._add(event, handler, once=True)

    def off(self, event: Optional[str] = None, handler: Optional[Callable[..., Any]] = None) -> None:
        """Remove Manager event handlers."""
        self._events.off(event, handler)

    @property
    def transport(self) -> Optional[str]:
        """The name of the open transport, or None."""
        return self._transport.name if self._transport is not None and self._engine is not None else None

    @property
    def stats(self) -> Stats:
        """A snapshot of this Manager's counters."""
        counters = self._counters
        transport = self._transport
        snapshot = counters.snapshot(sum(len(s._session.buffer) for s in self._nsps.values()))
        if transport is not None:  # the open connection's bytes are added when it closes
            snapshot = dataclasses.replace(
                snapshot,
                bytes_received=snapshot.bytes_received + transport.bytes_in,
                bytes_sent=snapshot.bytes_sent + transport.bytes_out,
            )
        return snapshot

    @property
    def reconnecting(self) -> bool:
        """True while waiting to reconnect or trying to."""
        return self._reconnecting

    # -- used by Socket ---------------------------------------------------------

    def _check_fork(self) -> None:
        if self._forked:
            raise Error(
                "this greensio client was created before os.fork(); create clients after fork "
                "(e.g. in gunicorn's post_fork hook or lazily on first use)"
            )

    @property
    def _is_open(self) -> bool:
        return self._engine is not None and not self._closing

    def _add(self, socket: Socket) -> None:
        self._nsps[socket.namespace] = socket
        if self._is_open:
            socket._on_open()
        else:
            self._ensure_running()

    def _ensure_running(self) -> None:
        """Start the connection loop if a socket wants a connection and none is running."""
        if self._loop is None and self._engine is None and not self._closing and self._has_active():
            self._skip_reconnect = False
            self._loop = self._runner.spawn(self._run)

    def _remove(self, socket: Socket) -> None:
        if not any(s.active for s in self._nsps.values()):
            if gevent.getcurrent() is self._runner.hub:  # a packet read in the hub: closing waits
                self._runner.spawn(self._close)
            else:
                self._close()

    def _write(self, frames: Sequence[Union[str, bytes]]) -> None:
        """Queue one packet's frames (never blocks); they go out in order, contiguously.

        What is queued in one hub iteration leaves in one write, from a hub
        callback when the socket takes it at once, else from a writer greenlet.
        """
        self._out.extend(frames)
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._writer is None and not self._flush_scheduled and not self._upgrading:
            self._flush_scheduled = True
            self._hub_loop.run_callback(self._flush)

    def _flush(self) -> None:
        """Hub callback: write what is queued without blocking, or hand it to a writer greenlet."""
        self._flush_scheduled = False
        transport = self._transport
        if transport is None or self._writer is not None or not self._out or self._upgrading:
            return
        try_write = getattr(transport, "try_write", None)
        if try_write is None:
            self._writer = self._runner.spawn(self._write_loop, transport)
            return
        batch, self._out = self._out, []
        ping_at, self._ping_at = self._ping_at, 0.0
        try:
            done = try_write(batch)
        except TransportClosed as exc:
            self._abort(exc.reason)
            return
        self._counters.packets_sent += len(batch)
        if ping_at:
            self._pong_written(monotonic() - ping_at)
        if not done:
            self._writer = self._runner.spawn(self._write_loop, transport)

    def _writable_now(self) -> bool:
        """Nothing waits to be written (what a volatile emit needs, as in JS)."""
        return not self._out and self._writer is None

    def _arm(self, deadline: float) -> None:
        self._runner.arm(deadline)

    def _fire(self, event: str, *args: Any) -> None:
        for handler in self._events.take(event):
            self._dispatch.submit(handler, *args)

    def _heartbeat_expired(self) -> bool:
        """True when the server went silent past its heartbeat deadline (hub was blocked)."""
        engine = self._engine
        if engine is not None and engine.expired(monotonic()):
            self._abort("ping timeout")
            return True
        return False

    # -- the connection loop -----------------------------------------------------

    def _run(self, closed: Optional[str] = None) -> None:
        """Connect, read until the connection ends, reconnect with backoff; repeat.

        While a connection is read in hub callbacks (``_watched``) no loop runs: its
        end starts a new one with ``closed``, the reason.
        """
        epoch = self._epoch  # _close() moves it on: this loop then ends without a word
        current = gevent.getcurrent()
        try:
            while not self._skip_reconnect:
                if closed is None:
                    try:
                        transport, engine, first = self._open()
                    except ConnectionError as err:
                        if epoch != self._epoch:
                            return
                        self._on_open_failed(err)
                    else:
                        if epoch != self._epoch:
                            transport.close()
                            return
                        self._on_open(transport, engine)
                        closed = self._read_loop(transport, engine, first)
                        if closed is None or epoch != self._epoch:
                            return
                if closed is not None:
                    self._on_close(closed)
                    closed = None
                if self._skip_reconnect or not self._has_active():
                    break
                if not self.options.reconnection:
                    self._give_up(ConnectionError("the connection was lost and reconnection is off"))
                    break
                if self._backoff.attempts >= self.options.reconnection_attempts:
                    self._backoff.reset()
                    self._reconnecting = False
                    self._fire("reconnect_failed")
                    self._give_up(ConnectionError("reconnection failed"))
                    break
                self._reconnecting = True
                gevent.sleep(self._backoff.duration())
                if self._skip_reconnect or epoch != self._epoch:
                    break
                self._fire("reconnect_attempt", self._backoff.attempts)
        except Exception as exc:  # a bug of ours: say so, and leave no connect() waiting for ever
            log.exception("the connection loop of %s failed", self._target.host)
            self._give_up(ConnectionError(f"internal error: {exc!r}"))
        finally:
            if self._loop is current:
                self._reconnecting = False
                self._loop = None

    def _has_active(self) -> bool:
        return any(s.active for s in self._nsps.values())

    def _open(self) -> tuple[Transport, EngineState, list[Union[str, bytes]]]:
        opts = self.options
        if opts.timeout is not None and opts.timeout <= 0:
            raise ConnectionError("timeout")  # as in JS: a zero deadline passes before any I/O completes
        deadline = gevent.Timeout(opts.timeout)
        try:
            with deadline:
                query = resolve(opts.query, "query")
                headers = resolve(opts.extra_headers, "header")
                self._params = (query, headers)
                transport: Transport
                if self._first_transport() == "polling":
                    transport, packets = PollingTransport.open(
                        engine_url(self._target, opts.path, "polling", query),
                        self._target.host,
                        self._target.port,
                        headers=headers,
                        timeout=None,
                        ssl_context=self._ssl_context,
                        max_message=opts.max_message_size,
                        cookies=self._cookies,
                        proxy=self._proxy,
                    )
                else:
                    transport = self._open_websocket(query, headers, sid=None)
                try:
                    if transport.name == "websocket":
                        packets = transport.read()
                    engine = EngineState(opts.json.loads)
                    first = packets[0]
                    if not isinstance(first, str):
                        raise ProtocolError("expected an OPEN packet, got binary data")
                    engine.open(first, monotonic())
                except BaseException:
                    transport.close()
                    raise
        except gevent.Timeout as exc:
            if exc is not deadline:
                raise
            raise ConnectionError("timeout") from None
        except (TransportClosed, ProtocolError) as exc:
            raise ConnectionError(str(exc)) from exc
        except (ValueError, TypeError) as exc:  # a query/headers callable gave bad values
            raise ConnectionError(f"cannot connect: {exc}") from exc
        return transport, engine, packets[1:]

    def _first_transport(self) -> str:
        transports = self.options.transports
        if transports[0] == "websocket":
            return "websocket"
        if "websocket" in transports and self.options.remember_upgrade and self._key in _upgraded:
            return "websocket"
        return "polling"

    def _open_websocket(self, query: dict[str, Any], headers: dict[str, Any], sid: Optional[str]) -> WebSocketTransport:
        if self._cookies:
            headers = {**headers, "Cookie": cookie_header(self._cookies)}
        return WebSocketTransport.open(
            engine_url(self._target, self.options.path, "websocket", query, sid=sid),
            self._target.host,
            self._target.port,
            headers=headers,
            timeout=None,
            ssl_context=self._ssl_context,
            max_message=self.options.max_message_size,
            cookies=self._cookies,
            proxy=self._proxy,
        )

    def _upgrade(self, polling: PollingTransport, engine: EngineState) -> None:
        """Probe a WebSocket beside the polling transport and switch to it without losing a packet.

        The probe runs while polling carries traffic. Then writes are held, the
        in-flight GET and POST finish (the server answers the GET with a NOOP),
        UPGRADE is sent, and the reader moves to the WebSocket once it has read
        what polling brought. A failed probe leaves the connection on polling.
        """
        current = gevent.getcurrent()
        ws: Optional[WebSocketTransport] = None
        limit = gevent.Timeout(self.options.timeout)
        try:
            with limit:
                assert engine.handshake is not None
                ws = self._open_websocket(*self._params, sid=engine.handshake.sid)
                ws.write(["2probe"])
                if ws.read()[:1] != ["3probe"]:
                    raise ProtocolError("the server did not answer the upgrade probe")
                if self._transport is not polling:
                    raise TransportClosed("transport close", "the connection ended during the probe")
                self._upgrading = True
                writer = self._writer
                if writer is not None and writer is not current:
                    writer.join()
                if not polling.pause():
                    raise TransportClosed("transport error", "polling requests did not finish")
                ws.write(["5"])
            self._transport = ws
            self._upgrading = False
            polling.close()  # the reader reads what polling brought, then moves to the WebSocket
            if self.options.remember_upgrade:
                _upgraded.add(self._key)
            self._schedule_flush()
        except (TransportClosed, ProtocolError, gevent.Timeout) as exc:
            if isinstance(exc, gevent.Timeout) and exc is not limit:
                raise
            log.debug("upgrade to websocket failed, staying on polling: %s", exc)
            if ws is not None:
                ws.close()
            if self._upgrading:
                self._upgrading = False
                polling.resume()
                self._schedule_flush()
        finally:
            if self._upgrader is current:
                self._upgrader = None

    def _on_open_failed(self, err: ConnectionError) -> None:
        log.debug("connection to %s failed: %s", self._target.host, err)
        self._fire("error", err)
        for socket in list(self._nsps.values()):
            socket._on_error(err)
        if self._reconnecting:
            self._fire("reconnect_error", err)
        elif not self.options.reconnection:
            self._give_up(err)

    def _on_open(self, transport: Transport, engine: EngineState) -> None:
        self._transport = transport
        self._engine = engine
        self._close_reason = None
        self._out = []
        self._upgrading = False
        self._runner.arm(engine.deadline)
        hs = engine.handshake
        if (
            isinstance(transport, PollingTransport)
            and self.options.upgrade
            and hs is not None
            and "websocket" in self.options.transports
            and "websocket" in hs.upgrades
        ):
            self._upgrader = self._runner.spawn(self._upgrade, transport, engine)
        self._counters.connects += 1
        self._fire("open")
        if self._reconnecting:
            attempt = self._backoff.attempts
            self._reconnecting = False
            self._backoff.reset()
            self._counters.reconnects += 1
            self._fire("reconnect", attempt)
        for socket in list(self._nsps.values()):
            if socket.active:
                socket._on_open()

    def _read_loop(self, transport: Transport, engine: EngineState, first: list[Union[str, bytes]]) -> Optional[str]:
        """Feed packets to the core until the connection ends; return the close reason.

        None: the transport reads in hub callbacks from now on (``_watched``).
        """
        decoder = self._decoder_class(self.options.json.loads, self.options.max_attachments)
        self._packet_size = 0
        packets = first
        watching = False
        try:
            while True:
                try:
                    watching = self._read_from(transport, engine, decoder, packets)
                    return None if watching else self._close_reason
                except TransportClosed as exc:
                    upgraded = self._transport
                    if upgraded is None or upgraded is transport or self._close_reason is not None:
                        return self._close_reason or exc.reason
                    self._count_bytes(transport)  # polling ended by the upgrade: go on with the WebSocket
                    transport, packets = upgraded, []
                except (EngineClosed, ProtocolError) as exc:
                    return self._read_failed(exc)
        finally:
            if not watching:
                self._close_reason = self._close_reason or "closed"
                transport.close()
                self._count_bytes(transport)

    def _read_failed(self, exc: Union[EngineClosed, ProtocolError]) -> str:
        """The close reason for what reading a packet raised."""
        if isinstance(exc, EngineClosed):
            return self._close_reason or "transport close"
        log.warning("closing the connection to %s: %s", self._target.host, exc)
        self._fire("error", exc)
        return "parse error"

    def _count_bytes(self, transport: Transport) -> None:
        self._counters.bytes_received += transport.bytes_in
        self._counters.bytes_sent += transport.bytes_out

    def _read_from(self, transport: Transport, engine: EngineState, decoder: Any, packets: list[Any]) -> bool:
        """Feed what one transport reads to the core until the connection ends (False), or
        until the transport reads in hub callbacks (True)."""
        watch = getattr(transport, "watch", None)
        budget = YIELD_EVERY
        while True:
            start, count = 0, len(packets)
            while start < count:
                stop = min(count, start + budget)
                self._feed(engine, decoder, packets, start, stop)
                budget -= stop - start
                start = stop
                if not budget:
                    budget = YIELD_EVERY
                    gevent.sleep(0)
            if self._close_reason is not None:
                return False
            if watch is not None:
                if watch(
                    functools.partial(self._watched, transport, engine, decoder),
                    functools.partial(self._watch_closed, self._epoch, transport),
                ):
                    return True
                watch = None
            packets = transport.read()

    def _watched(self, transport: Any, engine: EngineState, decoder: Any, packets: list[Any], start: int = 0) -> None:
        """Hub callback: feed what a read brought, YIELD_EVERY packets per turn of the hub."""
        stop = min(len(packets), start + YIELD_EVERY)
        try:
            self._feed(engine, decoder, packets, start, stop)
        except (EngineClosed, ProtocolError) as exc:
            self._abort(self._read_failed(exc))
            return
        if stop < len(packets) and self._close_reason is None:
            transport.pause_reading()
            self._hub_loop.run_callback(self._watched_rest, transport, engine, decoder, packets, stop)

    def _watched_rest(self, transport: Any, engine: EngineState, decoder: Any, packets: list[Any], start: int) -> None:
        if self._close_reason is None and self._transport is transport:
            cast(WebSocketTransport, transport).resume_reading()
            self._watched(transport, engine, decoder, packets, start)

    def _watch_closed(self, epoch: int, transport: Transport, reason: str, error: Optional[ProtocolError]) -> None:
        """The connection read in hub callbacks ended: a new loop handles the close and reconnects."""
        self._count_bytes(transport)
        if epoch != self._epoch or self._loop is not None:
            return  # _close() ended it
        if error is not None:
            reason = self._read_failed(error)
        self._close_reason = reason = self._close_reason or reason
        self._loop = self._runner.spawn(self._run, reason)

    def _feed(self, engine: EngineState, decoder: Any, packets: list[Any], start: int, stop: int) -> None:
        """Hand ``packets[start:stop]`` to the core (never blocks)."""
        nsps = self._nsps
        now = monotonic()
        size = self._packet_size
        self._counters.packets_received += stop - start
        for i in range(start, stop):
            packet = packets[i]
            if isinstance(packet, str):
                if packet[:1] == "4":
                    size += len(packet) - 1
                    pkt = decoder.feed_text(packet[1:])
                else:
                    engine.receive(packet, now)
                    if engine.outbox:
                        self._ping_at = now
                        self._write(engine.outbox)
                        engine.outbox.clear()
                        self._arm(engine.deadline)
                        self._fire("ping")
                    continue
            else:
                size += len(packet)
                if size > self.options.max_message_size:  # attachments are kept until the last one
                    raise ProtocolError(f"binary packet of more than {size} bytes exceeds max_message_size")
                pkt = decoder.feed_binary(packet)
            if pkt is not None:
                socket = nsps.get(pkt.nsp)
                if socket is not None and socket.active:
                    socket._on_packet(pkt, size)
                size = 0
        self._packet_size = size

    def _write_loop(self, transport: Transport) -> None:
        """Writer greenlet: blocking writes until the queue is empty, then it ends."""
        counters = self._counters
        try:
            while True:
                batch, self._out = self._out, []
                ping_at, self._ping_at = self._ping_at, 0.0
                lag = monotonic() - ping_at  # taken as the PONG is handed over: a slow link is no blocked hub
                transport.write(batch)
                counters.packets_sent += len(batch)
                if ping_at:
                    self._pong_written(lag)
                if not self._out or self._upgrading:
                    break
        except TransportClosed as exc:
            self._abort(exc.reason)
        finally:
            if self._writer is gevent.getcurrent():
                self._writer = None

    def _pong_written(self, lag: float) -> None:
        counters = self._counters
        counters.pong_lag_last = lag
        counters.pong_lag_max = max(counters.pong_lag_max, lag)
        engine = self._engine
        if engine is not None and engine.handshake is not None and lag > engine.handshake.ping_timeout / 2:
            log.warning(
                "a PONG left %.3f s after its PING (pingTimeout %.3f s): the gevent hub was blocked, "
                "likely by CPU-bound code in this process",
                lag,
                engine.handshake.ping_timeout,
            )

    def _abort(self, reason: str) -> None:
        """End the current connection with ``reason`` (the first reason wins)."""
        if self._close_reason is None:
            self._close_reason = reason
        if self._transport is not None:
            self._transport.close()

    def _on_close(self, reason: str) -> None:
        for greenlet in (self._writer, self._upgrader):
            if greenlet is not None and greenlet is not gevent.getcurrent():
                greenlet.kill(block=False)
        self._writer = self._upgrader = None
        self._transport = None
        self._engine = None
        self._backoff.reset()
        for socket in list(self._nsps.values()):
            socket._on_close(reason)
        self._fire("close", reason)

    def _on_deadline(self, now: float) -> None:
        """Hub timer callback: heartbeat loss and ack deadlines."""
        engine = self._engine
        earliest = engine.deadline if engine is not None else float("inf")
        if engine is not None and engine.expired(now):
            self._abort("ping timeout")
        for socket in list(self._nsps.values()):
            earliest = min(earliest, socket._expire(now))
        self._runner.arm(earliest)

    def _abandon(self) -> None:
        """In a forked child: stop for good without touching the parent's connection.

        The greenlets copied from the parent are told to end; this process's copy
        of the socket is closed without a shutdown, so the parent's connection lives on.
        """
        self._forked = True
        self._skip_reconnect = True
        self._closing = True
        if self._transport is not None:
            self._transport.abandon()
        self._runner.disarm()
        current = gevent.getcurrent()
        for greenlet in list(self._runner.greenlets):
            if greenlet is not current:
                greenlet.kill(block=False)

    def _give_up(self, err: ConnectionError) -> None:
        for socket in list(self._nsps.values()):
            socket._give_up(err)

    def _close(self) -> None:
        """No socket is active: flush what is queued, close the connection, end every greenlet."""
        self._epoch += 1
        self._skip_reconnect = True
        self._reconnecting = False
        self._closing = True
        current = gevent.getcurrent()
        writer, loop, transport = self._writer, self._loop, self._transport
        if writer is not None and writer is not current:
            writer.join(FLUSH_TIMEOUT)
        was_open = self._engine is not None
        if transport is not None:
            if self._out and self._writer is None:
                self._writer = current  # hub flushes must not interleave with this write
                with gevent.Timeout(FLUSH_TIMEOUT, False):
                    self._write_loop(transport)
            transport.close_gracefully()
        self._runner.disarm()
        # Ack deadlines run on without a connection: a buffered call() still times out.
        self._runner.arm(min((s._session.next_deadline() for s in self._nsps.values()), default=math.inf))
        for greenlet in (loop, writer, self._upgrader):
            if greenlet is not None and greenlet is not current:
                greenlet.kill()
        self._upgrader = None
        self._transport = None
        self._engine = None
        self._writer = None
        self._loop = None
        self._closing = False
        if was_open:
            self._fire("close", "forced close")
        # Handlers still run on the old dispatcher; one may reopen a socket (JS allows
        # connect() from a disconnect handler): the new connection gets a new dispatcher.
        dispatch, self._dispatch = self._dispatch, Dispatcher(self._runner.spawn, self.options.handler_concurrency)
        self._ensure_running()
        dispatch.close(FLUSH_TIMEOUT, stop_waiting=self._has_active)


def _proxy_for(target: Target, proxy: Optional[str], trust_env: bool) -> Optional[Proxy]:
    """The proxy option, else (with trust_env) HTTP(S)_PROXY unless NO_PROXY or loopback says direct."""
    if proxy is not None:
        return parse_proxy(proxy)
    if not trust_env or target.host in ("localhost", "127.0.0.1", "::1") or target.host.startswith("127."):
        return None
    url = urllib.request.getproxies_environment().get("https" if target.secure else "http")
    if url is None or urllib.request.proxy_bypass_environment(target.host):  # type: ignore[attr-defined]
        return None
    return parse_proxy(url)


# Encoders keep state during a call, so they are shared per hub (per thread), not per process:
# hub -> {(parser, id(json module)): (json module, encoder)}
_encoders: weakref.WeakKeyDictionary[Any, dict[tuple[str, int], tuple[Any, Any]]] = weakref.WeakKeyDictionary()


def _parser(name: str, json_module: Any) -> tuple[Any, Any]:
    """The encoder (shared by the Managers of this thread) and the decoder class of ``parser``."""
    shared = _encoders.setdefault(gevent.get_hub(), {})
    key = (name, id(json_module))
    entry = shared.get(key)
    if entry is None or entry[0] is not json_module:
        entry = shared[key] = (json_module, _new_encoder(name, json_module))
    if name == "msgpack":
        from ._core.msgpack_codec import MsgpackDecoder

        return entry[1], MsgpackDecoder
    return entry[1], sio.Decoder


def _new_encoder(name: str, json_module: Any) -> Any:
    if name == "msgpack":
        from ._core import msgpack_codec

        try:
            return msgpack_codec.MsgpackEncoder()
        except ImportError as exc:
            raise ImportError("parser='msgpack' needs the msgpack package: pip install greensio[msgpack]") from exc
    return sio.Encoder(json_module.dumps)


def manager_for(url: str, target_key: tuple[str, str, int, str], namespace: str, options: dict[str, Any]) -> Manager:
    """The Manager a new Socket should use: cached unless told otherwise or the namespace is taken."""
    fresh = options.get("force_new", False) or not options.get("multiplex", True)
    if not fresh:
        cached = _cache.get(target_key)
        if cached is not None and not cached._forked:
            taken = cached._nsps.get(namespace)
            if taken is None or not taken.active:
                return cached
    manager = Manager(url, **options)
    if not fresh:
        _cache[target_key] = manager
    return manager
