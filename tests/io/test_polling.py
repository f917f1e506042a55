"""The polling transport, driven directly (no Manager), against the real servers
and against small local HTTP peers for what the real servers cannot be made to do."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator, Sequence
from typing import Any, Callable, Optional
from urllib.parse import parse_qsl, urlsplit

import gevent
import pytest
import socketio
from gevent.pywsgi import WSGIServer
from gevent.server import StreamServer

from greensio._core.eio import encode_payload
from greensio._core.url import engine_url, parse_url
from greensio._exceptions import ProtocolError
from greensio._io.polling import PollingTransport
from greensio._io.transport import ConnectParams, Packet, Transport, TransportClosed
from tests.servers.process import ServerProcess, free_port

pytestmark = pytest.mark.timeout(60)

WAIT = 10  # bound of every wait on a server, in seconds
MAX_MESSAGE = 10 * 2**20

Open = Callable[..., PollingTransport]


@pytest.fixture
def open_transport() -> Iterator[Open]:
    """open_transport(url, query=None, **options) -> an open PollingTransport, closed at test end."""
    opened: list[PollingTransport] = []

    def open_transport(url: str, query: Optional[dict[str, str]] = None, **options: Any) -> PollingTransport:
        target = parse_url(url)
        base = engine_url(target, "/socket.io", "polling", query)
        options = {"headers": {}, "timeout": WAIT, "ssl_context": None, "max_message": MAX_MESSAGE, **options}
        transport, packets = PollingTransport.open(ConnectParams(base, target.host, target.port, **options))
        as_protocol: Transport = transport  # mypy checks it is what the Manager needs
        opened.append(transport)
        assert as_protocol.name == "polling"
        assert isinstance(packets[0], str) and packets[0].startswith("0{")
        assert transport.sid == json.loads(packets[0][1:])["sid"]
        return transport

    yield open_transport
    for transport in opened:
        transport.close()


def read_until(transport: PollingTransport, done: Callable[[list[Packet]], bool]) -> list[Packet]:
    """Read, answering PINGs, until ``done(packets)``; the PINGs are not returned."""
    got: list[Packet] = []
    with gevent.Timeout(WAIT):
        while not done(got):
            for packet in transport.read():
                if packet == "2":
                    transport.write(["3"])
                else:
                    got.append(packet)
    return got


def read_count(transport: PollingTransport, n: int) -> list[Packet]:
    packets = read_until(transport, lambda got: len(got) >= n)
    assert len(packets) == n, packets
    return packets


def join(transport: PollingTransport) -> str:
    """CONNECT to "/"; the namespace sid."""
    transport.write(["40"])
    (reply,) = read_count(transport, 1)
    assert isinstance(reply, str) and reply.startswith("40{"), reply
    sid: str = json.loads(reply[2:])["sid"]
    return sid


def spy_posts(transport: PollingTransport) -> list[list[Packet]]:
    """The batches of every POST the transport makes from now on."""
    posts: list[list[Packet]] = []
    send = transport._send

    def spy(batch: Sequence[Packet], timeout: Optional[float]) -> None:
        posts.append(list(batch))
        send(batch, timeout)

    transport._send = spy  # type: ignore[method-assign]
    return posts


# -- against Node socket.io and python-socketio -------------------------------------


def test_handshake_connect_and_echo(server: ServerProcess, open_transport: Open) -> None:
    transport = open_transport(server.url)
    assert transport.name == "polling"
    assert transport.max_payload == 1_000_000
    join(transport)
    transport.write(['42["echo","x"]'])
    assert read_count(transport, 1) == ['42["echo","x"]']


def test_bytes_are_counted_as_on_the_wire(server: ServerProcess, open_transport: Open) -> None:
    transport = open_transport(server.url)
    assert transport.bytes_out > 0 and transport.bytes_in > 0  # the handshake
    join(transport)
    bytes_in, bytes_out = transport.bytes_in, transport.bytes_out
    transport.write(['42["echo","' + "x" * 1000 + '"]'])
    assert transport.bytes_out - bytes_out > 1000 + 50  # the body and the request headers
    read_count(transport, 1)
    assert transport.bytes_in - bytes_in > 1000 + 50


def test_binary_goes_as_base64_and_comes_back_as_bytes(server: ServerProcess, open_transport: Open) -> None:
    transport = open_transport(server.url)
    join(transport)
    data = bytes(range(256))
    transport.write(['451-["echo",{"_placeholder":true,"num":0}]', data])
    assert read_count(transport, 2) == ['451-["echo",{"_placeholder":true,"num":0}]', data]


def test_a_burst_of_100_packets_goes_as_posts_of_16(server: ServerProcess, open_transport: Open) -> None:
    transport = open_transport(server.url)
    join(transport)
    posts = spy_posts(transport)
    packets: list[Packet] = [f'42["echo",{i}]' for i in range(100)]
    transport.write(packets)
    assert [len(batch) for batch in posts] == [16] * 6 + [4]
    assert read_count(transport, 100) == packets


def test_a_batch_over_max_payload_goes_as_several_posts(server: ServerProcess, open_transport: Open) -> None:
    transport = open_transport(server.url)
    join(transport)
    posts = spy_posts(transport)
    packets: list[Packet] = [f'42["echo","{i:02}{"x" * 100_000}"]' for i in range(25)]
    transport.write(packets)
    assert [len(batch) for batch in posts] == [9, 9, 7]  # 100,015 bytes each, maxPayload 1,000,000
    assert all(len(encode_payload(batch)) <= 1_000_000 for batch in posts)
    assert read_count(transport, 25) == packets


def test_round_trips_do_not_wait_for_delayed_acks(server: ServerProcess, open_transport: Open) -> None:
    # gevent's pywsgi writes headers and body in two segments without TCP_NODELAY:
    # unless the client acknowledges the first at once, each response takes 40 ms more.
    transport = open_transport(server.url)
    join(transport)
    start = time.monotonic()
    for i in range(20):
        transport.write([f'42["echo",{i}]'])
        assert read_count(transport, 1) == [f'42["echo",{i}]']
    assert time.monotonic() - start < 0.5  # about 0.01 s; 0.9 s when every response waits


@pytest.mark.parametrize(
    "kind, options, pings",
    [
        ("node", {"ping_interval": 0.3, "ping_timeout": 0.3}, 5),
        ("python", {"ping_interval": 1, "ping_timeout": 1}, 3),
    ],
)
def test_pongs_keep_the_session_alive(
    start_server: Callable[..., ServerProcess], open_transport: Open, kind: str, options: dict[str, float], pings: int
) -> None:
    transport = open_transport(start_server(kind, **options).url)
    join(transport)
    seen = 0
    with gevent.Timeout(WAIT):
        while seen < pings:  # longer than one ping interval + timeout
            for packet in transport.read():
                assert packet == "2"
                seen += 1
                transport.write(["3"])
    transport.write(['42["echo","still here"]'])
    assert read_count(transport, 1) == ['42["echo","still here"]']


def test_without_pongs_the_node_server_closes(start_server: Callable[..., ServerProcess], open_transport: Open) -> None:
    transport = open_transport(start_server("node", ping_interval=0.3, ping_timeout=0.3).url)
    join(transport)
    with gevent.Timeout(WAIT), pytest.raises(TransportClosed) as info:
        while True:
            packets = transport.read()  # PINGs not answered
            assert set(packets) <= {"2", "1"}
    assert info.value.reason == "transport error"  # the GET after the CLOSE packet: unknown sid


@pytest.mark.parametrize("how", ["greenlet", "hub-callback", "abandon"])
def test_close_ends_a_blocked_read_at_once(server: ServerProcess, open_transport: Open, how: str) -> None:
    transport = open_transport(server.url)
    join(transport)
    reader = gevent.spawn(transport.read)
    gevent.sleep(0)  # the reader runs until it blocks in the long poll
    assert not reader.ready()
    start = time.monotonic()
    if how == "hub-callback":
        gevent.get_hub().loop.run_callback(transport.close)
    elif how == "abandon":  # what a forked child does with its copy
        transport.abandon()
    else:
        transport.close()
    reader.join(WAIT)
    assert time.monotonic() - start < 1.0
    assert isinstance(reader.exception, TransportClosed)
    assert reader.exception.reason == "transport close"
    transport.close()  # idempotent
    with pytest.raises(TransportClosed):
        transport.read()
    with pytest.raises(TransportClosed):
        transport.write(["42[]"])


def test_an_unknown_sid_is_a_transport_error(server: ServerProcess, open_transport: Open) -> None:
    with pytest.raises(TransportClosed) as info:
        open_transport(server.url, {"sid": "nope"})
    assert info.value.reason == "transport error"
    assert "HTTP 400" in str(info.value)


def test_a_restarted_server_does_not_know_the_session(
    start_server: Callable[..., ServerProcess], open_transport: Open, kind: str
) -> None:
    server = start_server(kind)
    transport = open_transport(server.url)
    join(transport)
    server.restart()
    with pytest.raises(TransportClosed) as info:
        transport.read()  # the kept-alive connection is dead: a new one, and HTTP 400
    assert info.value.reason == "transport error"
    assert "HTTP 400" in str(info.value)
    with pytest.raises(TransportClosed) as info:
        transport.write(['42["echo"]'])
    assert "HTTP 400" in str(info.value)


def test_a_stopped_server_ends_a_blocked_read(
    start_server: Callable[..., ServerProcess], open_transport: Open, kind: str
) -> None:
    server = start_server(kind)
    transport = open_transport(server.url)
    join(transport)

    def read_to_the_end() -> TransportClosed:
        while True:
            try:
                assert transport.read() == ["1"]  # the server's CLOSE as it shuts down, if any
            except TransportClosed as exc:
                return exc

    reader = gevent.spawn(read_to_the_end)
    gevent.sleep(0)
    server.stop()
    assert reader.get(timeout=WAIT).reason == "transport error"


@pytest.fixture(params=["node", "python"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_close_gracefully_tells_the_server(server: ServerProcess, open_transport: Open) -> None:
    observer = open_transport(server.url)
    join(observer)
    observer.write(['421["observe"]'])
    assert read_count(observer, 1) == ['431["ok"]']
    transport = open_transport(server.url)
    sid = join(transport)
    transport.close_gracefully()
    (event,) = read_count(observer, 1)
    reason = {"node": "transport close", "python": "client disconnect"}[server.kind]
    assert event == f'42["peer_disconnect","{sid}","{reason}"]'


def test_pause_waits_for_the_pending_get_then_reads_block(node_server: ServerProcess, open_transport: Open) -> None:
    transport = open_transport(node_server.url)
    join(transport)
    reader = gevent.spawn(transport.read)
    gevent.sleep(0)
    pauser = gevent.spawn(transport.pause, WAIT)
    gevent.sleep(0)
    assert not pauser.ready()  # the GET is still pending
    transport.write(['42["echo",1]'])  # the server answers the GET
    assert reader.get(timeout=WAIT) == ['42["echo",1]']
    assert pauser.get(timeout=WAIT) is True
    reader = gevent.spawn(transport.read)
    gevent.sleep(0)
    assert not reader.ready()  # no new GET: blocked until close()
    transport.close()
    with pytest.raises(TransportClosed):
        reader.get(timeout=WAIT)


def test_cookies_and_headers_go_with_every_request(open_transport: Open) -> None:
    seen: list[tuple[str, bool, Optional[str], Optional[str]]] = []
    app = socketio.WSGIApp(socketio.Server(async_mode="gevent"))

    def sticky(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method, has_sid = environ["REQUEST_METHOD"], "sid" in dict(parse_qsl(environ["QUERY_STRING"]))
        seen.append((method, has_sid, environ.get("HTTP_COOKIE"), environ.get("HTTP_X_TEST")))

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if not has_sid:
                headers = headers + [("Set-Cookie", "route=abc; Path=/; HttpOnly"), ("Set-Cookie", "gone=1")]
            elif method == "POST":
                headers = headers + [("Set-Cookie", "gone=; Max-Age=0")]
            return start_response(status, headers, exc_info)

        return app(environ, start)

    http = WSGIServer(("127.0.0.1", 0), sticky, log=None)
    http.start()
    try:
        cookies: dict[str, str] = {}
        transport = open_transport(f"http://127.0.0.1:{http.server_port}", headers={"X-Test": "yes"}, cookies=cookies)
        assert cookies == {"route": "abc", "gone": "1"}
        join(transport)
        assert cookies == {"route": "abc"}
        transport.write(['42["hello"]'])
    finally:
        http.stop()
    assert seen == [
        ("GET", False, None, "yes"),
        ("POST", True, "route=abc; gone=1", "yes"),
        ("GET", True, "route=abc", "yes"),
        ("POST", True, "route=abc", "yes"),
    ]


# -- against a scripted HTTP peer ---------------------------------------------------

Respond = Callable[[str, dict[str, str], str], tuple[bytes, bool]]


def handshake(max_payload: int = 1_000_000) -> str:
    return "0" + json.dumps(
        {"sid": "s1", "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000, "maxPayload": max_payload}
    )


def http_response(body: str, status: str = "200 OK", headers: str = "") -> bytes:
    data = body.encode()
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(data)}\r\n{headers}\r\n".encode() + data


def chunked_response(body: str, headers: str = "") -> bytes:
    data = body.encode()
    half = len(data) // 2
    chunks = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(part), part) for part in (data[:half], data[half:]) if part)
    head = f"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n{headers}\r\n".encode()
    return head + chunks + b"0\r\nX-Trailer: 1\r\n\r\n"


class ScriptedPeer:
    """An HTTP/1.1 server whose answers come from ``respond(method, query, body) -> (bytes, close_after)``."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.requests: list[tuple[int, str, str]] = []  # (connection number, method, body)
        self.connections = 0
        self.server = StreamServer(("127.0.0.1", 0), self._handle)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def _handle(self, sock: Any, _address: Any) -> None:
        self.connections += 1
        connection = self.connections
        rfile = sock.makefile("rb")
        try:
            while True:
                line = rfile.readline()
                if not line:
                    return
                method, target, _ = line.decode().split(" ")
                headers = {}
                while (header := rfile.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = rfile.read(int(headers.get("content-length", "0"))).decode()
                self.requests.append((connection, method, body))
                response, close = self.respond(method, dict(parse_qsl(urlsplit(target).query)), body)
                sock.sendall(response)
                if close:
                    return
        finally:
            rfile.close()
            sock.close()


@pytest.fixture
def peer() -> Iterator[Callable[[Respond], ScriptedPeer]]:
    peers: list[ScriptedPeer] = []

    def start(respond: Respond) -> ScriptedPeer:
        peers.append(ScriptedPeer(respond))
        return peers[-1]

    yield start
    for p in peers:
        p.server.stop()


def script(
    get: Callable[[], tuple[bytes, bool]],
    post: Optional[Callable[[], tuple[bytes, bool]]] = None,
    max_payload: int = 1_000_000,
) -> Respond:
    """Handshake first, then ``get()`` for GETs and ``post()`` (default: "ok") for POSTs."""

    def respond(method: str, query: dict[str, str], body: str) -> tuple[bytes, bool]:
        if "sid" not in query:
            return http_response(handshake(max_payload)), False
        if method == "POST":
            return post() if post else (http_response("ok"), False)
        return get()

    return respond


def test_a_post_on_a_connection_the_server_dropped_is_sent_again(
    peer: Callable[[Respond], ScriptedPeer], open_transport: Open
) -> None:
    # The server closes the POST connection after each answer, without saying so,
    # as Node does after 5 s of keep-alive idleness.
    server = peer(script(get=lambda: (http_response("6"), False), post=lambda: (http_response("ok"), True)))
    transport = open_transport(server.url)
    for packet in ("4a", "4b", "4c"):
        transport.write([packet])
    posts = [(connection, body) for connection, method, body in server.requests if method == "POST"]
    assert [body for _, body in posts] == ["4a", "4b", "4c"]  # each once, in order
    assert len({connection for connection, _ in posts}) == 3


def test_posts_hold_at_most_16_packets_and_max_payload_bytes(
    peer: Callable[[Respond], ScriptedPeer], open_transport: Open
) -> None:
    server = peer(script(get=lambda: (http_response("6"), False), max_payload=100))
    transport = open_transport(server.url)
    assert transport.max_payload == 100
    packets: list[Packet] = ["4" + "x" * 48, "4" + "y" * 49, "2", bytes(60), "4é" * 10]  # 49 + 1 + 50 = 100
    packets += [f"4{i}" for i in range(40)] + ["4" + "z" * 150]  # the last one alone, too large
    transport.write(packets)
    bodies = [body for _, method, body in server.requests if method == "POST"]
    assert "\x1e".join(bodies) == encode_payload(packets)
    assert len(bodies[0].encode()) == 100
    for body, following in zip(bodies, bodies[1:]):
        size, count = len(body.encode()), body.count("\x1e") + 1
        assert count == 16 or size + 1 + len(following.split("\x1e")[0].encode()) > 100
        assert count <= 16 and size <= 100
    assert bodies[-1] == "4" + "z" * 150


def test_chunked_responses_and_connection_close(peer: Callable[[Respond], ScriptedPeer], open_transport: Open) -> None:
    server = peer(script(get=lambda: (chunked_response("4hello\x1e4world", "Connection: close\r\n"), True)))
    transport = open_transport(server.url)
    assert transport.read() == ["4hello", "4world"]
    assert transport.read() == ["4hello", "4world"]
    # the handshake and the first poll share a kept-alive connection; "Connection: close" ends it
    assert [connection for connection, method, _ in server.requests if method == "GET"] == [1, 1, 2]


@pytest.mark.parametrize(
    "response",
    [
        http_response("4" + "x" * 2000),  # Content-Length over the limit
        chunked_response("4" + "x" * 2000),
        http_response("4" + "x" * 1200),  # within the body limit, but one message too large
    ],
)
def test_a_response_over_max_message_is_a_transport_error(
    peer: Callable[[Respond], ScriptedPeer], open_transport: Open, response: bytes
) -> None:
    server = peer(script(get=lambda: (response, False)))
    transport = open_transport(server.url, max_message=1000)
    with pytest.raises(TransportClosed) as info:
        transport.read()
    assert info.value.reason == "transport error"
    assert "max_message_size" in str(info.value)


@pytest.mark.parametrize("status", ["404 Not Found", "413 Payload Too Large", "500 Internal Server Error"])
def test_http_errors_are_transport_errors(
    peer: Callable[[Respond], ScriptedPeer], open_transport: Open, status: str
) -> None:
    error = http_response("nope", status)
    server = peer(script(get=lambda: (error, False), post=lambda: (error, False)))
    transport = open_transport(server.url)
    for call in (transport.read, lambda: transport.write(["4x"])):
        with pytest.raises(TransportClosed) as info:
            call()
        assert info.value.reason == "transport error"
        assert f"HTTP {status[:3]}: nope" in str(info.value)


def test_a_response_cut_short_is_a_transport_error(
    peer: Callable[[Respond], ScriptedPeer], open_transport: Open
) -> None:
    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n4partial"
    server = peer(script(get=lambda: (cut, True)))
    transport = open_transport(server.url)
    with pytest.raises(TransportClosed) as info:
        transport.read()
    assert info.value.reason == "transport error"
    assert len(server.requests) == 2  # not sent again: the response had begun


def test_garbage_is_a_protocol_error(peer: Callable[[Respond], ScriptedPeer], open_transport: Open) -> None:
    server = peer(script(get=lambda: (http_response("x\x1e4ok"), False)))
    transport = open_transport(server.url)
    with pytest.raises(ProtocolError):
        transport.read()


def test_open_wants_an_open_packet(peer: Callable[[Respond], ScriptedPeer]) -> None:
    server = peer(lambda method, query, body: (http_response("4hello"), False))
    target = parse_url(server.url)
    with pytest.raises(ProtocolError):
        PollingTransport.open(
            ConnectParams(engine_url(target, "/socket.io", "polling"), target.host, target.port, timeout=WAIT)
        )


def test_open_on_a_closed_port_is_a_transport_error() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/socket.io/?EIO=4&transport=polling"
    with pytest.raises(TransportClosed) as info:
        PollingTransport.open(ConnectParams(url, "127.0.0.1", port, timeout=WAIT))
    assert info.value.reason == "transport error"


def test_polling_over_tls(open_transport: Open) -> None:
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    http = WSGIServer(
        ("127.0.0.1", 0), socketio.WSGIApp(socketio.Server(async_mode="gevent")), log=None, ssl_context=server_context
    )
    http.start()
    try:
        transport = open_transport(f"https://127.0.0.1:{http.server_port}", ssl_context=client_context)
        join(transport)
        reader = gevent.spawn(transport.read)
        gevent.sleep(0)
        transport.close()
        with pytest.raises(TransportClosed):
            reader.get(timeout=WAIT)
    finally:
        http.stop()
