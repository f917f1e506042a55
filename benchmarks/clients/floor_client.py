"""Benchmark "client": the floor. Not a Socket.IO client: the least a client on gevent must do.

The same sockets doing the same system calls as greensio, with no protocol work
(stdlib + gevent only, no Socket.IO library, not monkey-patched):

- emit: a pre-built batch of masked WebSocket frames holding exactly the bytes
  the clients send (``42["m","xxx…"]``, one frame per event), written with one
  send per batch of CHUNK events, as greensio writes what was queued in one
  turn of the hub; then a pre-built ``sync`` frame and a wait for its ack frame
  (compared with the expected bytes, not decoded).
- recv / recv64k: the server's frames are read as greensio reads them (a
  256 KiB ``recv_into`` in a hub callback, one read per turn of the hub) and
  split by their headers; the payloads are skipped, not decoded, copied or
  dispatched. The section ends when M data frames (text ones for recv, binary
  ones for recv64k) have arrived whole. The socket is readable only once
  256 KiB are in (SO_RCVLOWAT, lowered for the last messages): a client that
  keeps pace with the server would otherwise read a few messages per recv and
  pay a wake-up, an epoll and a recv for each few, more than a slower client
  that reads big batches; with big reads the floor is a lower bound at any pace.
- call: per round trip one send of a pre-built ``echo`` frame (always ack id 0:
  the server does not care) and one ``recv_into`` of the ack, after the hub
  said the socket is readable, as greensio does (send, epoll, recv).
- idle (connect): per client, in its own greenlet: TCP connect, a pre-built
  upgrade request, reading until the 101 and the OPEN frame are in, a
  pre-built ``40`` frame, reading until the CONNECT reply is in; then a hub
  read watcher stays on the socket (as greensio's idle connection has one).
- mixed: as the other clients (see _common.run_mixed), with pre-built ``m``
  frames (one send each) and tick frames counted by their headers (no seq is
  read: the window is [first stats, second stats], so ±1 tick at its edges).

Not measured here (cells n/a): polling, and the compressed rows.
"""

import gc
import json
import time
from socket import SO_RCVLOWAT, SOL_SOCKET
from urllib.parse import urlsplit

import _common as C

CLIENT = "floor"
RECV_SIZE = 256 * 1024  # greensio's WebSocket read size
KEY = b"\x37\xfa\x21\x3d"  # one masking key for every pre-built frame
OP_TEXT, OP_BINARY = 1, 2
MAX_M = 500_000  # the floor's emit and recv: most messages in a section (see throughput())
LOWAT = RECV_SIZE  # receive: the floor's reads wait for a full buffer (SO_RCVLOWAT)


def frame(payload, opcode=OP_TEXT):
    """One final, masked client frame (built once, outside any measured section)."""
    data = payload.encode() if isinstance(payload, str) else payload
    n = len(data)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0xFE)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0xFF)) + n.to_bytes(8, "big")
    masked = bytes(b ^ KEY[i & 3] for i, b in enumerate(data))
    return head + KEY + masked


def upgrade_request(url):
    parts = urlsplit(url)
    host = f"{parts.hostname}:{parts.port}"
    return (
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
        f"Host: {host}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def whole_frame_end(buf, pos):
    """Where the frame starting at ``buf[pos]`` ends, or -1 if it is not all in ``buf``."""
    end = len(buf)
    if end - pos < 2:
        return -1
    n = buf[pos + 1] & 0x7F
    start = pos + 2
    if n == 126:
        if end - pos < 4:
            return -1
        n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
        start += 2
    elif n == 127:
        if end - pos < 10:
            return -1
        n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
        start += 8
    stop = start + n
    return stop if stop <= end else -1


class FrameCounter:
    """Splits a stream of server frames by their headers and counts the data frames of one opcode.

    ``feed(view, n)`` takes the first n bytes of a read; payloads are skipped,
    never copied (only a header cut by a read boundary is kept, with what
    follows it, which is rare).
    """

    __slots__ = ("want", "count", "_skip", "_skip_counts", "_head")

    def __init__(self, want):
        self.want = want
        self.count = 0
        self._skip = 0  # payload bytes of the current frame still to come
        self._skip_counts = False  # whether that frame counts once complete
        self._head = b""  # the start of a frame whose header a read boundary cut

    def feed(self, view, n):
        pos = 0
        if self._skip:
            if self._skip > n:
                self._skip -= n
                return
            pos = self._skip
            self._skip = 0
            if self._skip_counts:
                self.count += 1
        if self._head:
            data = self._head + bytes(view[pos:n])
            self._head = b""
            self._split(data, 0, len(data))
        else:
            self._split(view, pos, n)

    def _split(self, buf, pos, end):
        want = self.want
        count = 0
        while True:
            if end - pos < 2:
                break
            b0 = buf[pos]
            n = buf[pos + 1] & 0x7F
            start = pos + 2
            if n >= 126:
                if n == 126:
                    if end - pos < 4:
                        break
                    n = (buf[pos + 2] << 8) | buf[pos + 3]
                    start += 2
                else:
                    if end - pos < 10:
                        break
                    n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                    start += 8
            stop = start + n
            if stop > end:
                self._skip = stop - end
                self._skip_counts = b0 & 0x0F == want
                self.count += count
                return
            if b0 & 0x0F == want:
                count += 1
            pos = stop
        self.count += count
        if pos < end:
            self._head = bytes(buf[pos:end])


class FloorConnection:
    """One connected WebSocket, read either blocking (``read_frame``) or from the hub (``watch``)."""

    def __init__(self, sock, early, hub, buffers):
        self.sock = sock
        self.raw = sock._sock  # gevent's socket wraps the real (non-blocking) one
        self.hub = hub
        self.buf, self.view = buffers
        self.pending = early  # bytes read but not consumed (blocking mode)
        self.read_watcher = hub.loop.io(self.raw.fileno(), 1)
        self.counter = None
        self.reads = 0  # reads in hub callbacks

    def send(self, data):
        self.sock.sendall(data)

    def read_frame(self):
        """Block until one whole frame is in; its bytes (frame header included)."""
        while True:
            pending = self.pending
            end = whole_frame_end(pending, 0)
            if end >= 0:
                self.pending = pending[end:]
                return pending[:end]
            self.hub.wait(self.read_watcher)
            n = self.raw.recv_into(self.buf)
            if not n:
                raise ConnectionError("the server closed the connection")
            self.pending = pending + bytes(self.view[:n])

    def watch(self, counter, on_read=None):
        """Read in hub callbacks from now on, counting frames with ``counter``."""
        self.counter = counter
        if self.pending:
            counter.feed(memoryview(self.pending), len(self.pending))
            self.pending = b""
        raw = self.raw
        buf = self.buf
        view = self.view
        feed = counter.feed

        def readable():
            try:
                n = raw.recv_into(buf)
            except BlockingIOError:
                return
            except OSError:
                self.read_watcher.stop()
                return
            if not n:
                self.read_watcher.stop()
                return
            self.reads += 1
            feed(view, n)
            if on_read is not None:
                on_read()

        self.read_watcher.start(readable)


def open_floor(url, gsocket, hub, buffers, connect_frame, timeout):
    """TCP connect, upgrade, OPEN, CONNECT: one client's way in, with pre-built requests."""
    parts = urlsplit(url)
    sock = gsocket.socket(gsocket.AF_INET, gsocket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect((parts.hostname, parts.port))
    sock.sendall(upgrade_request(url))
    buf, view = buffers
    data = b""
    while True:  # the 101 head and the OPEN frame after it
        n = sock.recv_into(buf)
        if not n:
            raise ConnectionError("closed during the WebSocket handshake")
        data += bytes(view[:n])
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0 and whole_frame_end(data, head_end + 4) >= 0:
            break
    if not data.startswith(b"HTTP/1.1 101"):
        raise ConnectionError("no 101: " + data[:80].decode("latin-1"))
    rest = data[whole_frame_end(data, head_end + 4) :]
    sock.sendall(connect_frame)
    while whole_frame_end(rest, 0) < 0:  # the CONNECT reply
        n = sock.recv_into(buf)
        if not n:
            raise ConnectionError("closed before the CONNECT reply")
        rest += bytes(view[:n])
    end = whole_frame_end(rest, 0)
    return FloorConnection(sock, rest[end:], hub, buffers)


# ---------------------------------------------------------------- throughput


def throughput(args, gevent):
    from gevent import socket as gsocket

    hub = gevent.get_hub()
    buffers = _buffers()
    conn = open_floor(args.url, gsocket, hub, buffers, frame("40"), 10)
    conn.sock.settimeout(None)
    scenario = args.scenario
    sleep0 = gevent.sleep

    if scenario == "emit":
        one = frame('42["m","' + C.EMIT_PAYLOAD + '"]')
        batch = one * C.CHUNK

        def section(m):
            full, rest = divmod(m, C.CHUNK)
            send = conn.send
            for _ in range(full):
                send(batch)
                sleep0()
            if rest:
                send(batch[: rest * len(one)])
            send(frame(f'421["sync",{m}]'))
            reply = conn.read_frame()
            expected = f"431[{m}]".encode()
            if reply[2:] != expected:
                raise RuntimeError(f"sync answered {reply[2:]!r}, expected {expected!r}")

    elif scenario == "call":
        request = frame('420["echo",0]')
        raw = conn.raw
        wait = hub.wait
        watcher = conn.read_watcher
        buf = conn.buf

        def section(m):
            send = raw.send
            recv_into = raw.recv_into
            for _ in range(m):
                send(request)
                wait(watcher)
                n = recv_into(buf)
                if n < 2 or (buf[1] & 0x7F) + 2 != n:
                    raise RuntimeError(f"expected one whole ack frame, read {n} bytes")
            if bytes(buf[2:n]) != b"430[0]":
                raise RuntimeError(f"echo answered {bytes(buf[2:n])!r}")

    elif scenario in ("recv", "recv64k"):
        _, kind, size, binary = C.RECV_KINDS[scenario]
        counter = FrameCounter(OP_BINARY if binary else OP_TEXT)
        state = {"target": 0, "done": None, "lowat": 1}
        raw = conn.raw

        def wake_at(n):
            """Readable only once n bytes are in (SO_RCVLOWAT): few, big reads."""
            if n != state["lowat"]:
                raw.setsockopt(SOL_SOCKET, SO_RCVLOWAT, n)
                state["lowat"] = n

        def on_read():
            left = state["target"] - counter.count
            if left <= 0:
                if not state["done"].is_set():
                    state["done"].set()
            else:  # the messages still to come hold at least (left - 1) * size bytes
                wake_at(max(1, min(LOWAT, (left - 1) * size)))

        import gevent.event

        state["done"] = gevent.event.Event()
        state["done"].set()
        conn.watch(counter, on_read)

        def section(m):
            counter.count = 0
            state["target"] = m
            done = state["done"] = gevent.event.Event()
            wake_at(max(1, min(LOWAT, (m - 1) * size)))
            conn.send(frame(f'42["flood",{{"n":{m},"kind":"{kind}"}}]'))
            if not done.wait(timeout=C.WAIT_TIMEOUT):
                raise RuntimeError(f"timed out: received {counter.count} of {m} frames")
            wake_at(1)
            if counter.count != m:
                raise RuntimeError(f"received {counter.count} frames, expected {m}")

    else:
        raise C.NotApplicable(f"{scenario}: the floor is measured for emit, recv, call, recv64k, idle, mixed")

    cap = args.max_m
    warm_target = args.target_cpu
    if scenario in ("emit", "recv"):
        # pre-built emits cost ~0.02 µs a message and big reads ~0.3 µs: sections sized by CPU
        # would make the server count or send millions of events (many seconds of wall time
        # each) for no better figure
        cap = cap or MAX_M
        warm_target = min(warm_target, 0.05)
    est, warm_msgs = C.calibrate(section, scenario, warm_target, cap)
    m = C.plan_m(scenario, est, args.target_cpu, args.m, cap)
    reads0 = conn.reads
    _, cpu, wall = C.measured(lambda: section(m))
    extra = {"warmup_msgs": warm_msgs, "transport": "websocket"}
    if conn.reads > reads0:
        extra["msgs_per_read"] = m / (conn.reads - reads0)
    C.finish(CLIENT, scenario, m, cpu, wall, est=est, extra=extra)


def _buffers():
    buf = bytearray(RECV_SIZE)
    return buf, memoryview(buf)


# ---------------------------------------------------------------- many clients


def connect_many(args, gevent, n, connect_frame, want=OP_TEXT):
    """n clients at once, one greenlet each; then a hub read watcher on each (counting frames)."""
    from gevent import socket as gsocket

    hub = gevent.get_hub()
    buffers = _buffers()  # one receive buffer for the hub, as greensio has
    conns = []
    errors = []
    t_last = [None]

    def one():
        try:
            conn = open_floor(args.url, gsocket, hub, buffers, connect_frame, args.connect_deadline)
        except Exception as e:  # noqa: BLE001
            if len(errors) < 3:
                errors.append(f"{type(e).__name__}: {e}")
            return
        conn.sock.settimeout(None)
        conn.watch(FrameCounter(want))
        conns.append(conn)
        if len(conns) == n:
            t_last[0] = time.perf_counter()

    c0 = C.cpu_seconds()
    t0 = time.perf_counter()
    greenlets = [gevent.spawn(one) for _ in range(n)]
    gevent.joinall(greenlets, timeout=args.connect_deadline)
    t1 = t_last[0] or time.perf_counter()
    c1 = C.cpu_seconds()
    fields = dict(n=n, connected=len(conns), connect_wall_s=t1 - t0, connect_cpu_s=c1 - c0)
    if len(conns) < n:
        fields["partial"] = f"only {len(conns)} of {n} connected within {args.connect_deadline:.0f} s"
        if errors:
            fields["first_errors"] = errors
    return conns, fields


def idle(args, gevent):
    held = []

    def warm():
        return connect_many(args, gevent, 1, frame("40"))[0]  # every code path once

    def many():
        conns, fields = connect_many(args, gevent, args.n, frame("40"))
        held.extend(conns)
        return fields

    C.run_idle(CLIENT, warm, many, gevent.sleep)


def stats_call(conn):
    """The server's mixed-load counters (decoded: outside the measured work)."""
    conn.send(frame('421["mixedstats"]'))
    reply = conn.read_frame()
    return json.loads(reply[2:].decode()[3:])[0]


def mixed(args, gevent):
    from gevent import socket as gsocket

    C.raise_nofile()
    hub = gevent.get_hub()
    warm = open_floor(args.url, gsocket, hub, _buffers(), frame("40"), 10)
    warm.sock.settimeout(None)
    conns, fields = connect_many(args, gevent, args.n, frame('40{"mixed":1}'))
    if len(conns) < args.n:
        C.emit_result(CLIENT, "mixed", ok=False, error=fields["partial"], **fields)
        return
    m_frame = frame('42["m","' + C.MIXED_PAYLOAD + '"]')

    def emitter(conn):
        send = conn.raw.send

        def emit(_event, _payload):
            send(m_frame)

        return emit

    emitters = [emitter(c) for c in conns]
    gevent.sleep(C.SETTLE_S)
    gc.collect()
    s0 = stats_call(warm)
    counts0 = [c.counter.count for c in conns]
    c0 = C.cpu_seconds()
    t0 = time.perf_counter()
    sent, late = C.drive_emits(emitters, args.duration, gevent.sleep)
    t1 = time.perf_counter()
    c1 = C.cpu_seconds()
    s1 = stats_call(warm)
    got = [c.counter.count - k for c, k in zip(conns, counts0)]
    gevent.sleep(C.SETTLE_S)
    s2 = stats_call(warm)
    C.emit_result(CLIENT, "mixed", **C.mixed_fields(args.n, c1 - c0, t1 - t0, sent, late, s0, s1, s2, got, fields))


def main():
    args = C.parse_args()
    import gevent

    def body():
        if args.transport != "websocket":
            raise C.NotApplicable("the floor is measured over WebSocket only")
        if args.expect_deflate:
            raise C.NotApplicable("the floor does no compression")
        if args.scenario == "idle":
            idle(args, gevent)
        elif args.scenario == "mixed":
            mixed(args, gevent)
        else:
            throughput(args, gevent)

    C.run_client(CLIENT, args, body)


if __name__ == "__main__":
    main()
