"""Locust integration: ``SocketIOUser``, a Locust ``User`` holding one connected greensio Socket.

Install with ``pip install greensio[locust]``. Importing this module imports Locust,
which monkey-patches the process (as every Locust process is).

Each simulated user gets its own connection (``force_new=True``), connected in
``on_start`` and disconnected in ``on_stop``. What it reports to
``environment.events.request`` comes from a greensio observer passed to the Socket
(see "Observing" in greensio's README), so the figures are greensio's own:

===============  =================  ==========================================  ===============
request_type     name               response_time (ms)                          response_length
===============  =================  ==========================================  ===============
``connect``      the namespace      Engine.IO open + namespace CONNECT          0
``connect``      namespace + phase  one phase of it (``"/ tcp"``, see below)    0
``reconnect``    the namespace      from the disconnect, backoff included       0
``call``         the event          ack round trip of ``self.call()``           0
``ack``          the event          ack round trip of an emit with a callback   0
``emit``         the event          0                                           bytes of the packet
``recv``         the event          0                                           bytes of the packet
``push``         the event          now - the server's send time (push_latency) 0
``hub``          ``hub lag``        the hub's largest lateness in the last 1 s  0
``disconnect``   the reason         0 (always a failure)                        0
===============  =================  ==========================================  ===============

Connect phases (greensio's ``connect_phase`` observer call, reconnects included):
``tcp`` (TCP connect, TLS and proxy), ``handshake`` (the Engine.IO open: HTTP or
WebSocket handshake and the OPEN packet), ``namespace`` (CONNECT to its reply),
``upgrade`` (polling to WebSocket: probe start to the switch).

Push latency: for each event listed in ``push_latency``, ``extractor(*args)`` gives
the server's send time and the user reports ``time.time()`` minus it when its
handler runs (so it includes the worker's own delay, which the ``hub lag`` row
shows) instead of a ``recv`` row. Seconds and milliseconds since the epoch are both
accepted: a value above 1e11 is taken as milliseconds (1e11 s is the year 5138,
1e11 ms is 1973). The server's clock and the worker's must agree; a negative
difference is reported as 0. An extractor that raises, or returns something that
is not a number, makes a failed ``push`` row.

Hub lag: one sampler per worker process (not per user) reports, about once a
second while users run, how late a 100 ms hub timer fired at worst in that second
(greensio's hub watch): the gevent hub was busy, without a break, at least that
long. A saturated worker shows it long before its CPU reaches 100%: greenlets
waiting on that hub (the users' calls and timers) were delayed that long.

Round trips are greensio's: from the emit (for a packet that waited in the offline
buffer, from its flush) to the ACK being read by the reader greenlet, not to the
moment the calling greenlet wakes up, so a busy hub does not inflate them. An ack
counts as ``call`` while a ``self.call()`` of that event waits, else as ``ack`` (the
observer is not told which packet an ack belongs to: a user that mixes both for one
event concurrently may see a few round trips swapped between the two rows).
``emit`` rows count every packet handed to greensio, those of ``call()`` and those
buffered while disconnected included; their size is the packet's text part in
characters plus its binary attachments, without Engine.IO framing (so is ``recv``'s).

Failures: a connect that fails or takes longer than ``connect_timeout`` (the user
then stops without running a task, and Locust does not replace it); ``self.call()``
ending in ``greensio.TimeoutError``, ``DisconnectedError`` or any other
``greensio.Error``; an emit through ``self.emit()`` that greensio refuses
(``BufferFullError``, ``PayloadTooLargeError``) or whose error-first callback gets
an error; every disconnect whose reason is not ``"io client disconnect"``; every
failed reconnect attempt (``reconnect_error``). None of these raise into Locust's
task runner. The ``DisconnectedError`` of acks still pending when ``on_stop``
disconnects is not a failure.

``self.call()``'s timeout (``call_timeout``) is a ``gevent.Timeout`` around an ack wait
with no deadline, unless ``socketio_options`` sets ``ack_timeout`` (then greensio's own
timeout applies): greensio keeps an acked packet with a deadline until that deadline,
which with thousands of users is most of the garbage collector's work.

Memory: once the users of a ramp-up are connected (Locust's ``spawning_complete`` and no
SocketIOUser still in ``on_start``'s connect), the process is ``gc.freeze()``-d: thousands
of connected users are hundreds of thousands of long-lived objects, and without this
every full collection walks them all (about a second of blocked hub at 10,000 users).
``gc.unfreeze()`` when the test stops. Cyclic garbage among frozen objects (what a
reconnecting user leaves behind) waits for that. ``gc_freeze = False`` opts out.

Cost: reporting a request takes Locust a few microseconds of CPU (about as much as
greensio's whole emit), so ``report_emits = False`` / ``report_received = False``
roughly double the rate one process can emit or receive. Locust's "Aggregated" row
mixes the 0 ms ``emit``/``recv`` rows with the round trips: read the per-row figures.
"""

from __future__ import annotations

import gc
import time
import weakref
from typing import Any, Callable, Mapping, Optional, Sequence
from urllib.parse import urlsplit, urlunsplit

import gevent
from locust import User
from locust.exception import LocustError

import greensio
from greensio._hubwatch import hub_watch

__all__ = ["SocketIOUser"]

CLIENT_DISCONNECT = "io client disconnect"
HUB_LAG_EVERY = 1.0  # seconds between two "hub lag" rows
MS_THRESHOLD = 1e11  # a send time above this is in milliseconds since the epoch, else in seconds


class SocketIOUser(User):
    """A Locust user with a connected ``self.sio`` (a ``greensio.Socket``).

    Options are class attributes of the subclass. Register handlers on ``self.sio``
    in ``on_start`` before calling ``super().on_start()`` to see events the server
    sends right on connection::

        class ChatUser(SocketIOUser):
            namespace = "/chat"
            wait_time = between(0.1, 0.5)

            def on_start(self):
                self.sio.on("news", self.on_news)
                super().on_start()

            @task
            def hello(self):
                self.call("echo", "hello")
    """

    abstract = True

    url: Optional[str] = None
    """Server URL; None: Locust's ``host`` (``--host``)."""
    namespace: Optional[str] = None
    """Replaces the URL's path when set; None: the URL's path, ``/`` if it has none."""
    transports: Sequence[str] = ("websocket",)
    auth: Any = None
    """A dict, or a callable returning one (a method works), sent with every CONNECT."""
    socketio_options: dict[str, Any] = {}
    """Any other greensio option (``reconnection_delay``, ``ack_timeout``, ``observer``...)."""
    connect_timeout: float = 20.0
    """Seconds ``on_start`` waits for the connection before reporting a failure."""
    call_timeout: Optional[float] = 30.0
    """Timeout of ``self.call()`` when it is given none; None: greensio's ``ack_timeout``."""
    report_emits: bool = True
    """Report every packet sent as an ``emit`` request (read at each emit)."""
    report_received: bool = True
    """Report every event received as a ``recv`` request (read at each event)."""
    push_latency: Mapping[str, Callable[..., float]] = {}
    """``{event: extractor}``: ``extractor(*args)`` is the server's send time (epoch s or ms), see ``push``."""
    gc_freeze: bool = True
    """Once a ramp-up's users are connected, ``gc.freeze()`` the process until the test stops (see Memory)."""

    sio: greensio.Socket

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        base = self.url or self.host
        if not base:
            raise LocustError("SocketIOUser needs a server URL: set `url` or `host` on the class, or pass --host")
        self._url = _with_namespace(base, self.namespace)
        self._fire = environment.events.request.fire
        self._own_context = type(self).context is not User.context  # else {} without a call per request
        self._pending_calls: dict[str, int] = {}
        self._connected_once = False
        self._last_connect_error: Optional[BaseException] = None
        self._stopping = False
        self._connect_counted = False
        options: dict[str, Any] = {"force_new": True, "transports": tuple(self.transports), **self.socketio_options}
        if self.auth is not None:
            options["auth"] = self.auth
        options.setdefault("timeout", self.connect_timeout)
        options["observer"] = _Observer(self, options.get("observer"))
        options["auto_connect"] = False
        self.sio = greensio.Socket(self._url, **options)
        self._name = self.sio.namespace
        self._ack_timeout: Optional[float] = self.socketio_options.get("ack_timeout")
        self._push_events = frozenset(self.push_latency)
        for event, extractor in self.push_latency.items():
            self.sio.on(event, self._push_handler(event, extractor))

    def start(self, group: Any) -> Any:
        """Locust's ``User.start``; the hub lag sampler runs while any user's greenlet does."""
        started = super().start(group)
        _HUB_LAG.join(self.environment)
        if self.gc_freeze:
            _GC_FREEZE.hook(self.environment)
        _GC_FREEZE.connecting += 1  # from now until on_start's connect ends (or the user does)
        self._connect_counted = True
        started.link(self._ended)
        return started

    def _ended(self, greenlet: Any) -> None:
        _HUB_LAG.leave(self.environment)
        self._connect_ended()

    def _connect_ended(self) -> None:
        if self._connect_counted:
            self._connect_counted = False
            _GC_FREEZE.connect_ended()

    # -- lifecycle --------------------------------------------------------------------

    def on_start(self) -> None:
        """Connect, reporting a ``connect`` request; on failure report it and stop this user."""
        sio = self.sio
        sio.on("connect_error", self._on_connect_error)
        start = time.perf_counter()
        try:
            sio.connect(wait=True, timeout=self.connect_timeout)
        except greensio.Error as exc:
            sio.disconnect()
            error: BaseException = exc
            last = self._last_connect_error
            if isinstance(exc, greensio.TimeoutError) and last is not None:
                error = greensio.TimeoutError(f"{exc} (last error: {last})")
            self._report("connect", self._name, (time.perf_counter() - start) * 1000.0, 0, error)
            try:
                self.stop()  # no task runs; on_stop runs; Locust does not replace the user
            except Exception:  # Locust is already stopping this user, which comes to the same
                pass
            return
        finally:
            sio.off("connect_error", self._on_connect_error)
            self._connect_ended()
        sio.manager.on("reconnect_error", self._on_reconnect_error)

    def on_stop(self) -> None:
        """Disconnect (not reported, nor are the acks this disconnect fails)."""
        self._stopping = True
        self.sio.disconnect()

    # -- conveniences -----------------------------------------------------------------

    def call(self, event: str, *args: Any, timeout: Optional[float] = None) -> Any:
        """``self.sio.call()``, reported as a ``call`` request; never raises greensio errors.

        ``timeout`` defaults to ``call_timeout``. On ``greensio.TimeoutError``,
        ``DisconnectedError`` or any other ``greensio.Error`` the failure is reported
        (response_time: the time waited) and None is returned, so the task goes on:
        check the result when None is also a valid answer. Programming errors
        (a reserved event name, an unencodable argument) still raise.
        """
        if timeout is None:
            timeout = self.call_timeout
        pending = self._pending_calls
        pending[event] = pending.get(event, 0) + 1
        start = time.perf_counter()
        # Without an ack_timeout option the timeout is a gevent.Timeout around an ack wait with
        # no deadline, rather than greensio's own: that one keeps each settled ack (and its
        # waiter) until its deadline, and with thousands of users those are most of the
        # garbage collector's work.
        timer = None
        if timeout is not None and self._ack_timeout is None:
            timer, timeout_arg = gevent.Timeout.start_new(timeout), None
        else:
            timeout_arg = timeout
        try:
            return self.sio.call(event, *args, timeout=timeout_arg)
        except BaseException as exc:
            left = pending.get(event, 0)
            if left > 0:  # not acked, so the observer did not count it down
                pending[event] = left - 1
            if exc is timer:
                exc = greensio.TimeoutError(f"no ack for {event!r} within {timeout} s")
            elif not isinstance(exc, greensio.Error):
                raise
            self._report_failure("call", event, (time.perf_counter() - start) * 1000.0, exc)
            return None
        finally:
            if timer is not None:
                timer.close()

    def emit(
        self,
        event: str,
        *args: Any,
        callback: Optional[Callable[..., Any]] = None,
        timeout: Optional[float] = None,
        volatile: bool = False,
    ) -> None:
        """``self.sio.emit()`` that reports instead of raising greensio errors.

        A ``greensio.Error`` raised by the emit (``BufferFullError``,
        ``PayloadTooLargeError``) is reported as a failed ``emit``. With a callback
        and a timeout (``timeout=`` or the ``ack_timeout`` option) the callback is
        error-first, and an error it gets is reported as a failed ``ack`` before
        the callback runs. Plain ``self.sio.emit()`` is reported too (``emit``,
        ``ack`` rows) but its errors are not.
        """
        if callback is not None and (timeout is not None or self._ack_timeout is not None):
            callback = self._reporting_callback(event, callback)
        try:
            self.sio.emit(event, *args, callback=callback, timeout=timeout, volatile=volatile)
        except greensio.Error as exc:
            self._report_failure("emit", event, 0, exc)

    def _reporting_callback(self, event: str, callback: Callable[..., Any]) -> Callable[..., Any]:
        start = time.perf_counter()

        def reporting(err: Optional[BaseException], *args: Any) -> Any:
            if err is not None:
                self._report_failure("ack", event, (time.perf_counter() - start) * 1000.0, err)
            return callback(err, *args)

        return reporting

    def _push_handler(self, event: str, extractor: Callable[..., Any]) -> Callable[..., None]:
        def on_push(*args: Any) -> None:
            now = time.time()
            try:
                sent = float(extractor(*args))
            except Exception as exc:
                self._report("push", event, 0, 0, exc)
                return
            if sent > MS_THRESHOLD:
                sent /= 1000.0
            self._report("push", event, max(0.0, now - sent) * 1000.0, 0, None)

        on_push.direct = True  # type: ignore[attr-defined]  # never blocks: greensio may run it in the reader
        return on_push

    # -- reporting --------------------------------------------------------------------

    def _report(
        self, request_type: str, name: str, response_time: float, length: int, exception: Optional[BaseException]
    ) -> None:
        self._fire(
            request_type=request_type,
            name=name,
            response_time=response_time,
            response_length=length,
            response=None,
            context=self.context() if self._own_context else {},
            exception=exception,
            start_time=time.time() - response_time / 1000.0,
            url=self._url,
        )

    def _report_failure(self, request_type: str, name: str, response_time: float, exc: BaseException) -> None:
        """Report ``exc``, except the DisconnectedError of what on_stop's own disconnect cut short."""
        if not (self._stopping and isinstance(exc, greensio.DisconnectedError)):
            self._report(request_type, name, response_time, 0, exc)

    def _on_connect_error(self, err: BaseException) -> None:
        self._last_connect_error = err

    def _on_reconnect_error(self, err: BaseException) -> None:
        self._report("reconnect", self._name, 0, 0, err)


class _Observer:
    """The greensio observer of one SocketIOUser: turns greensio's calls into Locust requests."""

    __slots__ = ("_user", "_inner")

    def __init__(self, user: SocketIOUser, inner: Any) -> None:
        self._user = user
        self._inner = inner  # an observer given in socketio_options, called after reporting

    def connected(self, seconds: float, transport: str) -> None:
        user = self._user
        kind = "reconnect" if user._connected_once else "connect"
        user._connected_once = True
        user._report(kind, user._name, seconds * 1000.0, 0, None)
        self._forward("connected", seconds, transport)

    def acked(self, event: str, seconds: float) -> None:
        user = self._user
        pending = user._pending_calls
        left = pending.get(event, 0)
        if left > 0:  # a self.call() of this event is waiting: count it as that call
            pending[event] = left - 1
            user._report("call", event, seconds * 1000.0, 0, None)
        else:
            user._report("ack", event, seconds * 1000.0, 0, None)
        self._forward("acked", event, seconds)

    def sent(self, event: str, nbytes: int) -> None:
        user = self._user
        if user.report_emits:
            user._report("emit", event, 0, nbytes, None)
        self._forward("sent", event, nbytes)

    def connect_phase(self, phase: str, seconds: float) -> None:
        user = self._user
        user._report("connect", f"{user._name} {phase}", seconds * 1000.0, 0, None)
        self._forward("connect_phase", phase, seconds)

    def received(self, event: Any, nbytes: int) -> None:
        user = self._user
        if user.report_received and event not in user._push_events:
            user._report("recv", str(event), 0, nbytes, None)
        self._forward("received", event, nbytes)

    def disconnected(self, reason: str) -> None:
        if reason != CLIENT_DISCONNECT:
            self._user._report("disconnect", reason, 0, 0, greensio.DisconnectedError(f"disconnected: {reason}"))
        self._forward("disconnected", reason)

    def _forward(self, method: str, *args: Any) -> None:
        if self._inner is not None:
            fn = getattr(self._inner, method, None)
            if fn is not None:
                fn(*args)


class _HubLagRows:
    """One sampler per process: every HUB_LAG_EVERY seconds the hub's largest lateness
    becomes a "hub lag" row of each Environment that has SocketIOUsers running."""

    def __init__(self) -> None:
        self._users: dict[Any, int] = {}  # Environment -> running users
        self._sampler: Optional[gevent.Greenlet] = None

    def join(self, environment: Any) -> None:
        self._users[environment] = self._users.get(environment, 0) + 1
        if self._sampler is None:
            hub_watch().watch()
            hub_watch().take_max_lag()  # what came before is not this run's
            self._sampler = gevent.spawn(self._sample)

    def leave(self, environment: Any) -> None:
        left = self._users.get(environment, 0) - 1
        if left > 0:
            self._users[environment] = left
            return
        self._users.pop(environment, None)
        if not self._users and self._sampler is not None:
            sampler, self._sampler = self._sampler, None
            sampler.kill(block=False)
            hub_watch().unwatch()

    def _sample(self) -> None:
        watch = hub_watch()
        while True:
            gevent.sleep(HUB_LAG_EVERY)
            lag_ms = watch.take_max_lag() * 1000.0
            for environment in list(self._users):
                environment.events.request.fire(
                    request_type="hub",
                    name="hub lag",
                    response_time=lag_ms,
                    response_length=0,
                    response=None,
                    context={},
                    exception=None,
                    start_time=time.time(),
                    url="",
                )


_HUB_LAG = _HubLagRows()


class _GcFreeze:
    """Freezes the process's objects (``gc.freeze()``) once the users of a ramp-up are connected.

    Thousands of connected users are hundreds of thousands of long-lived objects; without
    this, each full collection walks them all, blocking the hub for a second or more at
    10,000 users. Frozen objects are never walked (nor collected: cyclic garbage among
    them waits for ``gc.unfreeze()`` at the test's stop).
    """

    def __init__(self) -> None:
        self.connecting = 0  # SocketIOUsers in on_start's connect
        self.ramp_done = False  # a spawning_complete came, not yet followed by a freeze
        self.freezes = 0
        self._hooked: weakref.WeakSet[Any] = weakref.WeakSet()

    def hook(self, environment: Any) -> None:
        if environment not in self._hooked:
            self._hooked.add(environment)
            environment.events.spawning_complete.add_listener(self._spawning_complete)
            environment.events.test_stop.add_listener(self._test_stop)

    def connect_ended(self) -> None:
        self.connecting -= 1
        self._maybe_freeze()

    def _spawning_complete(self, **kwargs: Any) -> None:
        self.ramp_done = True
        self._maybe_freeze()

    def _maybe_freeze(self) -> None:
        if self.ramp_done and self.connecting <= 0:
            self.ramp_done = False
            gc.freeze()  # O(1): the generations' lists are moved, nothing is walked
            self.freezes += 1

    def _test_stop(self, **kwargs: Any) -> None:
        self.ramp_done = False
        gc.unfreeze()


_GC_FREEZE = _GcFreeze()


def _with_namespace(url: str, namespace: Optional[str]) -> str:
    """``url`` with its path replaced by ``namespace`` (when given)."""
    if namespace is None:
        return url
    if not namespace.startswith("/"):
        namespace = "/" + namespace
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, namespace, parts.query, parts.fragment))
