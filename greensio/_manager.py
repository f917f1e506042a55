"""Manager: the options, the namespace sockets, and the glue between the runtime's units.

A Manager owns one Engine.IO connection at a time and the namespace sockets
multiplexed over it. The work is done by units it wires together:

- ``Dialer`` (_dial.py): one attempt to open the first transport and read the OPEN;
- ``Reconnector`` (_reconnector.py): the connect-and-reconnect loop with backoff;
- ``Connection`` (_connection.py): reading, the core, the heartbeat, the end;
- ``upgrade`` (_upgrader.py): the probe exchange from polling to WebSocket;
- ``Outbox`` (_outbox.py): the write path;
- ``Dispatcher`` (_dispatch.py): handler greenlets;
- ``Runner`` (_runner.py): the greenlets and the deadline timer.

Its state is one ``ManagerState``; see ``_set_state`` for the transitions.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import gevent
from gevent._hub_local import get_hub_if_exists

from . import _registry
from ._clock import GEVENT_CLOCK, Clock
from ._codecs import codecs_for
from ._connection import Connection, State
from ._core import sio
from ._core.backoff import Backoff
from ._core.protocol import V4
from ._core.sio3 import Link
from ._core.url import Target, parse_url
from ._dial import Dialed, Dialer, RootRefused
from ._dispatch import Dispatcher
from ._emitter import Emitter, take
from ._exceptions import ConnectionError, Error, ProtocolError
from ._io.factory import GeventTransports
from ._io.transport import Packet, TransportFactory
from ._options import ManagerOptions, signature_with_options, split_options
from ._outbox import Outbox
from ._reconnector import Reconnector
from ._runner import Runner
from ._stats import Counters, Stats
from ._upgrader import upgrade

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._contracts import NamespaceSocket
    from ._options import ManagerOptionsDict
    from ._socket import Socket

__all__ = ["Manager", "ManagerState", "manager_for"]

log = logging.getLogger("greensio")
_OPEN = State.OPEN
FLUSH_TIMEOUT = 5.0  # how long a closing connection waits for queued packets to go out
UNSENT_LIMIT = 4 * 2**20  # bytes that may wait behind a server that does not read (or max_message_size)
WARN_EVERY = 60.0  # seconds between warnings of one streak of failing connects
SETTLE_TIMEOUT = 0.5  # at most this long before a namespace DISCONNECT (part)
SETTLE_RECENT = 0.2  # writes older than this have reached the server's handlers long ago
SETTLE_READ = 0.01  # time for the server to read what its TCP acknowledged


class ManagerState(enum.Enum):
    """Where a Manager is: IDLE → CONNECTING → OPEN → (lost) CONNECTING … ; any → CLOSING → IDLE."""

    IDLE = "idle"
    """No connection, not connecting."""
    CONNECTING = "connecting"
    """The reconnector is opening a connection, or waiting to retry."""
    OPEN = "open"
    CLOSING = "closing"
    """No socket is active: what is queued is flushed, then the connection closes."""
    FORKED = "forked"
    """Inherited by a forked child: inert for good."""


class Manager:
    """One Engine.IO connection shared by namespace sockets, with reconnection.

    Events (``manager.on(...)``): ``open``, ``close(reason)``, ``error(err)``,
    ``ping``, ``reconnect_attempt(n)``, ``reconnect(n)``, ``reconnect_error(err)``,
    ``reconnect_failed()``.
    """

    __slots__ = (
        "__weakref__", "options", "observer", "encoder", "clock", "dispatch", "write", "runner", "outbox",
        "counters", "sockets", "home_hub", "limits", "link", "_target", "_url_text", "_events", "_decoder_class",
        "_dialer", "_reconnector", "_conn", "_state", "_failing_since", "_warned_at", "_reopen_now", "_parting",
        "_parter",
    )  # fmt: skip

    def __init__(
        self,
        url: str = "http://localhost",
        *,
        _transports: Optional[TransportFactory] = None,
        _clock: Optional[Clock] = None,
        **options: Unpack[ManagerOptionsDict],
    ) -> None:
        manager_options, _ = split_options(options, socket=False)
        self._target: Target = parse_url(url)
        self.options = ManagerOptions(**manager_options)
        opts = self.options
        self._url_text = f"{self._target.scheme}://{self._target.host}:{self._target.port}{opts.path}"
        self._state = ManagerState.IDLE
        self.clock: Clock = _clock or GEVENT_CLOCK
        self._events = Emitter()
        self.runner = Runner(self.clock, self._on_deadline)
        self.home_hub: Any = self.runner.hub  # None in a forked child: the sockets' cheap usability check
        self.limits: Optional[tuple[int, bool]] = None  # payload_limit() of the open connection
        self.counters = Counters()
        self.dispatch = Dispatcher(self.runner.spawn, opts.handler_concurrency)
        self.encoder, self._decoder_class = codecs_for(opts.parser, opts.json)
        self.observer = opts.observer
        self.outbox = Outbox(
            self.runner, self.counters, self._write_failed, self._pong_written, max(UNSENT_LIMIT, opts.max_message_size)
        )
        self.write: Callable[[Sequence[Packet]], None] = self.outbox.write
        self.sockets: dict[str, NamespaceSocket] = {}
        self.link: Optional[Link] = None
        """The Socket.IO v4 side of an Engine.IO v3 connection (joining namespaces), else None."""
        self._reopen_now = False  # the connection is dropped to be reopened in v3 at once
        self._dialer = Dialer(self._target, opts, _transports or GeventTransports(), self.clock)
        backoff = Backoff(opts.reconnection_delay, opts.reconnection_delay_max, opts.randomization_factor)
        self._reconnector = Reconnector(self, self.runner, backoff, opts.reconnection, opts.reconnection_attempts)
        self._conn: Optional[Connection] = None
        self._parting: list[Packet] = []  # DISCONNECTs waiting for what was emitted before them (part)
        self._parter: Optional[gevent.Greenlet] = None
        self._failing_since: Optional[float] = None
        self._warned_at = -math.inf
        _registry.track(self, self._abandon, self._flush_at_exit)

    def __repr__(self) -> str:
        return f"<greensio.Manager {self._url_text} {self._state.value}>"

    # -- public -----------------------------------------------------------------

    def socket(self, namespace: str = "/", **socket_options: Any) -> Socket:
        """The socket for ``namespace`` on this Manager (created on first use)."""
        from ._socket import Socket

        namespace = namespace if namespace.startswith("/") else "/" + namespace
        existing: Any = self.sockets.get(namespace)
        if existing is not None:
            socket: Socket = existing.socket
            if not socket.active and socket_options.get("auto_connect", True):
                socket.connect(wait=False)
            return socket
        return Socket._on_manager(self, namespace, socket_options)

    def on(self, event: str, handler: Any = None) -> Any:
        """Register a Manager event handler; usable as a decorator."""
        return self._events.on(event, handler)

    def once(self, event: str, handler: Any = None) -> Any:
        """Register a Manager event handler for one call."""
        return self._events.once(event, handler)

    def off(self, event: Optional[str] = None, handler: Optional[Callable[..., Any]] = None) -> None:
        """Remove Manager event handlers."""
        self._events.off(event, handler)

    @property
    def state(self) -> ManagerState:
        """Where the Manager is (see ManagerState)."""
        return self._state

    @property
    def sid(self) -> Optional[str]:
        """The Engine.IO session id while connected (not a namespace's ``Socket.id``), else None."""
        conn = self._conn
        return conn.sid if conn is not None and conn.open else None

    @property
    def transport(self) -> Optional[str]:
        """The name of the open transport, or None."""
        conn = self._conn
        return conn.transport.name if conn is not None and conn.open else None

    @property
    def stats(self) -> Stats:
        """A snapshot of this Manager's counters."""
        snapshot = self.counters.snapshot(sum(s.buffered for s in self.sockets.values()))
        conn = self._conn
        if conn is not None and conn.open:  # the open connection's bytes are added when it closes
            transport = conn.transport
            snapshot = dataclasses.replace(
                snapshot,
                bytes_received=snapshot.bytes_received + transport.bytes_in,
                bytes_sent=snapshot.bytes_sent + transport.bytes_out,
            )
        return snapshot

    @property
    def reconnecting(self) -> bool:
        """True while waiting to reconnect or trying to."""
        return self._reconnector.reconnecting

    # -- SocketHost: what sockets use ---------------------------------------------

    @property
    def forked(self) -> bool:
        return self._state is ManagerState.FORKED

    def check_usable(self) -> None:
        """Raise ``greensio.Error`` in a forked child, or from a thread that is not the hub's."""
        if self._state is ManagerState.FORKED:
            raise Error(
                "this greensio client was created before os.fork(); create clients after fork "
                "(e.g. in gunicorn's post_fork hook or lazily on first use)"
            )
        if get_hub_if_exists() is not self.runner.hub:
            raise Error(
                "greensio sockets belong to the thread (and gevent hub) that created them; "
                "from another thread use emit_threadsafe()"
            )

    def register(self, socket: NamespaceSocket) -> None:
        """A new socket for its namespace (replacing an inactive one)."""
        self.sockets[socket.namespace] = socket

    def attach(self, socket: NamespaceSocket) -> None:
        """The socket became active: join at once if the connection is open, else open it."""
        self.sockets[socket.namespace] = socket
        if self._state is ManagerState.OPEN:
            socket.on_open()
        elif self._state is ManagerState.IDLE:
            self._set_state(ManagerState.CONNECTING)
            self._reconnector.start(after_loss=False)

    def detach(self, socket: NamespaceSocket) -> None:
        """The socket became inactive: close the connection when no socket is active."""
        if self.wanted() or self._state in (ManagerState.CLOSING, ManagerState.FORKED):
            return
        if gevent.getcurrent() is self.runner.hub:  # a packet read in the hub: closing waits
            self.runner.spawn(self._close)
        else:
            self._close()

    def sendable(self) -> bool:
        """The connection is open and its heartbeat alive: a packet written now goes out."""
        conn = self._conn
        if conn is None or conn.state is not _OPEN:
            return False
        now = self.clock.now()
        if now < conn.engine.deadline:
            return True
        conn.check_heartbeat(now)  # the timer has not fired yet (a throttled hub): close it now
        return conn.open

    def writable_now(self) -> bool:
        return self.outbox.writable_now()

    def part(self, frames: Sequence[Packet]) -> None:
        """A namespace's DISCONNECT: written once what was emitted before it reached the server.

        socket.io servers run an event's handler on the next tick and drop it when the
        socket left meanwhile: events read together with the DISCONNECT are lost (the JS
        client loses them too). So, when anything was written lately over a WebSocket,
        the DISCONNECT waits (in a greenlet, at most SETTLE_TIMEOUT) until the server's TCP
        acknowledged what came before and a moment more; over polling, until what came
        before was POSTed (each POST is answered once the server read it). The socket itself
        is inactive at once.
        """
        conn = self._conn
        if conn is None or not conn.open or self.outbox.blocked:
            self.write(frames)
            return
        unsent = getattr(conn.transport, "unsent", None)
        if self.outbox.writable_now() and (unsent is None or self.clock.now() - self.outbox.last_write > SETTLE_RECENT):
            self.write(frames)
            return
        self._parting.extend(frames)
        if self._parter is None:
            self._parter = self.runner.spawn(self._part, conn)

    def _part(self, conn: Connection) -> None:
        """Parter greenlet: settle, then write the DISCONNECTs that waited."""
        try:
            with gevent.Timeout(SETTLE_TIMEOUT, False):
                self.outbox.flush(SETTLE_TIMEOUT)  # over polling: each POST was answered, so read
                unsent = getattr(conn.transport, "unsent", None)
                if unsent is not None:
                    while conn.open and unsent() > 0:
                        self.clock.sleep(0.001)
                    self.clock.sleep(SETTLE_READ)
        finally:
            self._parter = None
            frames, self._parting = self._parting, []
            if conn.open and conn is self._conn:
                self.write(frames)

    def payload_limit(self) -> Optional[tuple[int, bool]]:
        conn = self._conn
        if conn is None or not conn.open or conn.engine.handshake is None:
            return None
        # v3 POSTs binary as it is (binary framing); v4 polling carries it as base64
        return conn.engine.handshake.max_payload, conn.transport.name == "polling" and conn.protocol is V4

    def arm(self, deadline: float) -> None:
        self.runner.arm(deadline)

    def connect_timed_out(self) -> None:
        """A namespace CONNECT got no reply in time: with no namespace connected, the connection is
        treated as failed (dropped with "transport error", then reopened by the reconnection policy)."""
        conn = self._conn
        if conn is not None and not any(s.connected for s in self.sockets.values()):
            conn.abort("transport error")

    def run_threadsafe(self, fn: Callable[..., Any], *args: Any) -> None:
        self.runner.run_threadsafe(fn, *args)

    def others_active(self, socket: NamespaceSocket) -> bool:
        """Another socket than ``socket`` is active."""
        return any(s.active for s in self.sockets.values() if s is not socket)

    def connect_reply_failed(self, data: Any, error: ProtocolError) -> Optional[ConnectionError]:
        """A CONNECT reply the socket could not take; None when it means the server speaks v3 (a CONNECT
        without payload, after an undecided WebSocket OPEN) and the connection is being reopened in v3."""
        conn = self._conn
        if data is not None or not self._dialer.guessed or (conn is not None and conn.protocol is not V4):
            return ConnectionError(str(error))
        if self._dialer.forced:
            return ConnectionError(self._dialer.mismatch_message(V4, "websocket"))
        if conn is not None and conn.open:
            log.info("%s speaks Engine.IO v3 (Socket.IO 2.x): reconnecting in v3", self._url_text)
            self._dialer.learned_v3()
            self._reopen_now = True
            conn.abort("transport error")
        return None

    # -- ReconnectorHost ------------------------------------------------------------

    def wanted(self) -> bool:
        """Some socket is active: it wants a connection."""
        return any(s.active for s in self.sockets.values())

    def attempt(self) -> Dialed:
        return self._dialer.dial(self._auth_values)

    def _auth_values(self) -> dict[str, Any]:
        """The auth of the active sockets, merged in registration order (the first one wins a clash)."""
        merged: dict[str, Any] = {}
        for socket in list(self.sockets.values()):
            if socket.active:
                try:
                    auth = socket.resolved_auth()
                except Exception:  # the socket reports it when it joins
                    continue
                for key, value in (auth or {}).items():
                    merged.setdefault(key, value)
        return merged

    def opened(self, dialed: Dialed, reconnect_attempts: Optional[int]) -> None:
        loads = self.options.json.loads
        protocol = dialed.protocol
        decoder = self._decoder_class(loads, self.options.max_attachments)
        if protocol.implicit_root:
            handshake = dialed.engine.handshake
            link = self.link = protocol.new_link(decoder, handshake.sid if handshake is not None else "", loads)
            link.on_root_refused = self._root_refused
            decoder = link
        conn = Connection(self, dialed.transport, dialed.engine, decoder, self.options.max_message_size, protocol)
        self._conn = conn
        self._set_state(ManagerState.OPEN)
        self._failing_since = None
        self.outbox.attach(conn.transport)
        self.limits = self.payload_limit()
        self.runner.arm(conn.engine.next_timer)
        self.counters.connects += 1
        log.info("connected to %s over %s (sid %s)", self._url_text, conn.transport.name, conn.sid)
        self.fire("open")
        if reconnect_attempts is not None:
            self.counters.reconnects += 1
            log.info("reconnected to %s after %d attempts", self._url_text, reconnect_attempts)
            self.fire("reconnect", reconnect_attempts)
        for socket in list(self.sockets.values()):
            if socket.active and conn.open:
                socket.on_open()
        if self._can_upgrade(conn):
            conn.upgrader = self.runner.spawn(
                upgrade, conn, self.outbox, self._dialer.open_websocket, self.options.timeout
            )
        conn.start(dialed.first)

    def _can_upgrade(self, conn: Connection) -> bool:
        handshake = conn.engine.handshake
        return (
            conn.open
            and conn.transport.name == "polling"
            and self.options.upgrade
            and "websocket" in self.options.transports
            and handshake is not None
            and "websocket" in handshake.upgrades
        )

    def failed(self, err: ConnectionError, reconnecting: bool) -> None:
        if isinstance(err, RootRefused):  # python-socketio 4 refused "/" (v3): every socket is refused
            log.debug("%s refused the connection: %s", self._url_text, err)
            self._refuse_waiting(err.refusal, but="")
            return
        self.fire("error", err)
        told = [socket.on_open_failed(err) for socket in list(self.sockets.values())]
        now = self.clock.now()
        if any(told):  # greensio.connect() raises it
            log.debug("cannot connect to %s: %s", self._url_text, err)
        elif self._failing_since is None or now - self._warned_at >= WARN_EVERY:
            self._failing_since = self._failing_since if self._failing_since is not None else now
            self._warned_at = now
            retry = " (reconnecting with backoff)" if self.options.reconnection else ""
            log.warning("cannot connect to %s: %s%s", self._url_text, err, retry)
        if reconnecting:
            self.fire("reconnect_error", err)

    def give_up(self, err: ConnectionError) -> None:
        if self._state is ManagerState.CONNECTING:
            self._set_state(ManagerState.IDLE)
        for socket in list(self.sockets.values()):
            socket.give_up(err)

    def fire(self, event: str, *args: Any) -> None:
        """Fire a Manager event: its handlers run in handler greenlets."""
        for handler in take(self._events, event):
            self.dispatch.submit(handler, *args)

    def _root_refused(self, refusal: Any) -> None:
        """v3: the server refused "/"; it answers no other namespace then (the "/" socket gets the packet)."""
        self._refuse_waiting(refusal, but="/")

    def _refuse_waiting(self, refusal: Any, but: str) -> None:
        """Refuse every active socket not connected (but the one of namespace ``but``), as a CONNECT_ERROR."""
        for socket in list(self.sockets.values()):
            if socket.active and not socket.connected and socket.namespace != but:
                socket.on_packet(sio.Packet(sio.CONNECT_ERROR, socket.namespace, refusal), 0)

    # -- ConnectionHost -------------------------------------------------------------

    def connection_closed(self, connection: Connection, reason: str) -> None:
        if connection is not self._conn:
            return
        self._conn = None
        self.limits = None
        self.link = None
        self.outbox.detach()
        self._rearm()
        reopen_now, self._reopen_now = self._reopen_now, False
        if self._state is not ManagerState.OPEN:  # closing on purpose, or forked
            return
        log.info("disconnected from %s: %s", self._url_text, reason)
        for socket in list(self.sockets.values()):
            socket.on_close(reason)
        self.fire("close", reason)
        if self.wanted():
            self._set_state(ManagerState.CONNECTING)
            self._reconnector.start(after_loss=not reopen_now)
        else:
            self._set_state(ManagerState.IDLE)

    def connection_upgraded(self, connection: Connection) -> None:
        self.limits = self.payload_limit()
        log.info("upgraded to websocket: %s", self._url_text)
        if self.options.remember_upgrade:
            _registry.remember_upgrade(self._dialer.key)

    def _write_failed(self, reason: str) -> None:
        conn = self._conn
        if conn is not None:
            conn.abort(reason)

    def _pong_written(self, hub_lag: float, socket_wait: float) -> None:
        counters = self.counters
        counters.pong_lag_last = hub_lag
        counters.pong_lag_max = max(counters.pong_lag_max, hub_lag)
        conn = self._conn
        handshake = conn.engine.handshake if conn is not None else None
        if handshake is None:
            return
        if hub_lag > handshake.ping_timeout / 2:
            log.warning(
                "a PONG left %.3f s after its PING was due (pingTimeout %.3f s): the gevent hub was blocked, "
                "likely by CPU-bound code in this process",
                hub_lag,
                handshake.ping_timeout,
            )
        if socket_wait > handshake.ping_timeout / 2:
            log.warning(
                "a PONG waited %.3f s for the socket to take it (pingTimeout %.3f s): the network or the "
                "server is slow to read",
                socket_wait,
                handshake.ping_timeout,
            )

    # -- deadlines, closing -----------------------------------------------------------

    def _on_deadline(self, now: float) -> None:
        """Hub timer callback: heartbeat loss and ack deadlines."""
        earliest = math.inf
        conn = self._conn
        if conn is not None and conn.open:
            earliest = conn.check_heartbeat(now)
        for socket in list(self.sockets.values()):
            earliest = min(earliest, socket.expire(now))
        self.runner.arm(earliest)

    def _rearm(self) -> None:
        """Arm the timer for what still has a deadline: a buffered call() times out without a connection."""
        self.runner.disarm()
        self.runner.arm(min((s.next_deadline() for s in self.sockets.values()), default=math.inf))

    def _set_state(self, state: ManagerState) -> None:
        if self._state is not ManagerState.FORKED:
            self._state = state

    def _close(self) -> None:
        """No socket is active: flush what is queued, close the connection, end every greenlet."""
        if self._state in (ManagerState.CLOSING, ManagerState.FORKED):
            return
        self._set_state(ManagerState.CLOSING)
        conn = self._conn
        try:
            self._reconnector.stop()
            parter = self._parter
            if parter is not None and parter is not gevent.getcurrent():
                parter.join(SETTLE_TIMEOUT + 0.1)  # the DISCONNECTs go out before the close
            if conn is not None and conn.open:
                with gevent.Timeout(FLUSH_TIMEOUT, False):
                    self.outbox.flush(FLUSH_TIMEOUT)
                    conn.transport.close_gracefully()
                self.fire("close", "forced close")
        finally:  # even when the caller's own Timeout interrupts the flush: never stuck in CLOSING
            self.outbox.detach(wait=True)
            if conn is not None:
                conn.stop()
            self._conn = None
            self.limits = None
            self._rearm()
            self._set_state(ManagerState.IDLE)
        # Handlers still run on the old dispatcher; one may reopen a socket (JS allows connect()
        # from a disconnect handler): the new connection gets a new dispatcher.
        dispatch, self.dispatch = self.dispatch, Dispatcher(self.runner.spawn, self.options.handler_concurrency)
        if self.wanted():
            self._set_state(ManagerState.CONNECTING)
            self._reconnector.start(after_loss=False)
        dispatch.close(FLUSH_TIMEOUT, stop_waiting=self.wanted)

    def _abandon(self) -> None:
        """In a forked child: stop for good without touching the parent's connection.

        The greenlets copied from the parent are told to end; this process's copy
        of the socket is closed without a shutdown, so the parent's connection lives on.
        """
        self._state = ManagerState.FORKED
        self.home_hub = None
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.transport.abandon()
        self.runner.disarm()
        self.runner.kill_all(but=gevent.getcurrent())

    def _flush_at_exit(self) -> bool:
        """At interpreter exit: disconnect the connected sockets, flushing what they queued."""
        if self._state is not ManagerState.OPEN or get_hub_if_exists() is not self.runner.hub:
            return False
        for socket in list(self.sockets.values()):
            if socket.active:
                socket.disconnect()
        return True


Manager.__init__.__signature__ = signature_with_options(Manager.__init__, socket=False)  # type: ignore[attr-defined]


def manager_for(url: str, target: Target, namespace: str, options: dict[str, Any]) -> Manager:
    """The Manager a new Socket should use: a shared one with equal options unless told otherwise."""
    fresh = options.get("force_new", False) or not options.get("multiplex", True)
    key = (target.scheme, target.host, target.port, options.get("path", "/socket.io"))
    if not fresh:
        wanted = ManagerOptions(**options)

        def fits(manager: Manager) -> bool:
            taken: Any = manager.sockets.get(namespace)
            return manager.options == wanted and not manager.forked and (taken is None or not taken.active)

        shared = _registry.shared_manager(key, fits)
        if shared is not None:
            return shared  # type: ignore[no-any-return]
    manager = Manager(url, **options)
    if not fresh:
        _registry.share(key, manager)
    return manager
