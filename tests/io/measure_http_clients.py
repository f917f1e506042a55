"""Client CPU per polling round trip, for the HTTP clients the polling transport could use.

    python tests/io/measure_http_clients.py [--n 3000] [--kind node|python]

Not a test. Each candidate opens an Engine.IO polling session on the same
server, joins "/", then does N sequential round trips: a POST of
``42["echo",i]`` and a long-polling GET that brings the echo back. Reported:
client process CPU (user + sys) per round trip, best of three runs, and wall
time. Runs without monkey patching, as greensio must.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from greensio._core.eio import decode_payload, parse_handshake  # noqa: E402
from greensio._core.url import engine_url, parse_url  # noqa: E402
from greensio._io.net import open_connection  # noqa: E402
from greensio._io.polling import PollingTransport  # noqa: E402
from greensio._io.transport import ConnectParams, Packet  # noqa: E402
from tests.servers.process import ServerProcess  # noqa: E402

Post = Callable[[str], object]
Get = Callable[[], list[Packet]]


def _polling_path(url: str) -> str:
    """Path and query of the handshake request."""
    parts = urlsplit(engine_url(parse_url(url), "/socket.io", "polling"))
    return f"{parts.path}?{parts.query}"


def greensio_client(url: str) -> tuple[Post, Get]:
    """The hand-written client of greensio._io.polling."""
    target = parse_url(url)
    base = engine_url(target, "/socket.io", "polling")
    transport, _ = PollingTransport.open(ConnectParams(base, target.host, target.port, timeout=5, max_message=2**20))
    transport.write(["40"])
    transport.read()

    return lambda packet: transport.write([packet]), transport.read


def h11_client(url: str) -> tuple[Post, Get]:
    """h11 over two gevent sockets (one for GETs, one for POSTs)."""
    import h11

    target = parse_url(url)
    host = f"{target.host}:{target.port}".encode()

    class Conn:
        def __init__(self) -> None:
            self.sock = open_connection(target.host, target.port, 5)
            self.sock.settimeout(None)
            self.h11 = h11.Connection(h11.CLIENT)

        def request(self, method: bytes, path: bytes, body: bytes = b"") -> bytes:
            headers = [(b"Host", host)]
            if method == b"POST":
                headers += [(b"Content-Type", b"text/plain;charset=UTF-8"), (b"Content-Length", b"%d" % len(body))]
            conn = self.h11
            data = conn.send(h11.Request(method=method, target=path, headers=headers))
            if body:
                data += conn.send(h11.Data(data=body))
            data += conn.send(h11.EndOfMessage())
            self.sock.sendall(data)
            parts = []
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(self.sock.recv(65536))
                elif type(event) is h11.Data:
                    parts.append(event.data)
                elif type(event) is h11.EndOfMessage:
                    break
            conn.start_next_cycle()
            return b"".join(parts)

    get, post = Conn(), Conn()
    handshake = _polling_path(url)
    sid = parse_handshake(get.request(b"GET", handshake.encode()).decode()[1:]).sid
    path = f"{handshake}&sid={sid}".encode()
    post.request(b"POST", path, b"40")
    get.request(b"GET", path)

    return (
        lambda packet: post.request(b"POST", path, packet.encode()),
        lambda: decode_payload(get.request(b"GET", path).decode()),
    )


def geventhttpclient_client(url: str) -> tuple[Post, Get]:
    """geventhttpclient, one HTTPClient (one connection) for GETs and one for POSTs."""
    from geventhttpclient import HTTPClient

    target = parse_url(url)
    # network_timeout=None: no timeout per socket operation, as in greensio's transport.
    get = HTTPClient(
        target.host,
        target.port,
        concurrency=1,
        network_timeout=None,  # type: ignore[arg-type]
        connection_timeout=5,
    )
    post = HTTPClient(
        target.host,
        target.port,
        concurrency=1,
        network_timeout=None,  # type: ignore[arg-type]
        connection_timeout=5,
    )
    handshake = _polling_path(url)
    sid = parse_handshake(get.get(handshake).read().decode()[1:]).sid
    path = f"{handshake}&sid={sid}"
    headers = {"Content-Type": "text/plain;charset=UTF-8"}
    post.post(path, b"40", headers=headers).read()
    get.get(path).read()

    return (
        lambda packet: post.post(path, packet.encode(), headers=headers).read(),
        lambda: decode_payload(get.get(path).read().decode()),
    )


CANDIDATES = {
    "hand-written (greensio)": greensio_client,
    "h11": h11_client,
    "geventhttpclient": geventhttpclient_client,
}


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def measure(make: Callable[[str], tuple[Post, Get]], url: str, n: int) -> tuple[float, float, float]:
    """Best of three runs: (user CPU, system CPU, wall) seconds per round trip."""
    post, get = make(url)

    def round_trip(packet: str) -> list[Packet]:
        post(packet)
        packets = get()
        while "2" in packets:  # a server PING: answer it, the echo may still be on its way
            post("3")
            packets.remove("2")
            packets = packets or get()
        return packets

    for i in range(200):  # warm up
        round_trip(f'42["echo",{i}]')
    runs = []
    for _ in range(3):
        (user, system), wall = _cpu(), time.perf_counter()
        for i in range(n):
            packets = round_trip(f'42["echo",{i}]')
            assert packets == [f'42["echo",{i}]'], packets
        (user2, system2), wall2 = _cpu(), time.perf_counter()
        runs.append(((user2 - user) / n, (system2 - system) / n, (wall2 - wall) / n))
    return min(runs, key=lambda run: run[0] + run[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--kind", default="node", choices=["node", "python"])
    args = parser.parse_args()
    server = ServerProcess(args.kind, Path(tempfile.mkdtemp()) / "server.log")
    try:
        print(f"{args.n} round trips against the {args.kind} server, best of 3")
        for name, make in CANDIDATES.items():
            user, system, wall = measure(make, server.url, args.n)
            print(
                f"{name:24} client CPU {(user + system) * 1e6:6.1f} µs/round trip"
                f" (user {user * 1e6:6.1f}, sys {system * 1e6:5.1f})   wall {wall * 1e6:6.1f} µs"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
